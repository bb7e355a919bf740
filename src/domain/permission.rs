//! Permissions: the names a role can hold, which names each role type
//! allows, and the four roles every new service starts with.
//!
//! Roles store their permissions as a JSON array of these names (in the
//! order they were given). They are parsed once, where a role row is read
//! ([`Permissions`]); a stored name Confab does not know is a damaged row
//! and fails the request loudly instead of silently granting nothing.

use std::fmt;

/// Declares [`Permission`] from one list of variants and wire names.
macro_rules! permissions {
    ($($variant:ident => $name:literal,)+) => {
        /// One thing a role may allow. The wire spelling is Twilio's
        /// (`sendMessage`, …), by [`Permission::name`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Permission {
            $($variant,)+
        }

        impl Permission {
            pub const ALL: &[Permission] = &[$(Permission::$variant,)+];

            /// The name on the wire and in the database.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)+
                }
            }
        }
    };
}

permissions! {
    AddParticipant => "addParticipant",
    CreateConversation => "createConversation",
    DeleteAnyMessage => "deleteAnyMessage",
    DeleteConversation => "deleteConversation",
    DeleteOwnMessage => "deleteOwnMessage",
    EditAnyMessage => "editAnyMessage",
    EditAnyMessageAttributes => "editAnyMessageAttributes",
    EditAnyUserInfo => "editAnyUserInfo",
    EditConversationAttributes => "editConversationAttributes",
    EditConversationName => "editConversationName",
    EditOwnMessage => "editOwnMessage",
    EditOwnMessageAttributes => "editOwnMessageAttributes",
    EditOwnUserInfo => "editOwnUserInfo",
    JoinConversation => "joinConversation",
    LeaveConversation => "leaveConversation",
    RemoveParticipant => "removeParticipant",
    SendMediaMessage => "sendMediaMessage",
    SendMessage => "sendMessage",
}

use Permission::*;

impl Permission {
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a role applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    /// Service-wide, to a User.
    Service,
    /// Inside one conversation, to a Participant.
    Conversation,
}

impl RoleType {
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleType::Service => "service",
            RoleType::Conversation => "conversation",
        }
    }

    pub fn parse(s: &str) -> Option<RoleType> {
        match s {
            "service" => Some(RoleType::Service),
            "conversation" => Some(RoleType::Conversation),
            _ => None,
        }
    }

    /// The permissions a role of this type may hold.
    pub fn catalogue(self) -> &'static [Permission] {
        match self {
            RoleType::Service => SERVICE_PERMISSIONS,
            RoleType::Conversation => CONVERSATION_PERMISSIONS,
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        self.catalogue().contains(&permission)
    }
}

impl TryFrom<String> for RoleType {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        RoleType::parse(&s).ok_or_else(|| format!("unknown role type {s:?}"))
    }
}

const SERVICE_PERMISSIONS: &[Permission] = &[
    AddParticipant,
    CreateConversation,
    DeleteAnyMessage,
    DeleteConversation,
    EditAnyMessage,
    EditAnyMessageAttributes,
    EditAnyUserInfo,
    EditConversationAttributes,
    EditConversationName,
    EditOwnMessage,
    EditOwnMessageAttributes,
    EditOwnUserInfo,
    JoinConversation,
    RemoveParticipant,
];

const CONVERSATION_PERMISSIONS: &[Permission] = &[
    AddParticipant,
    DeleteAnyMessage,
    DeleteOwnMessage,
    DeleteConversation,
    EditAnyMessage,
    EditAnyMessageAttributes,
    EditAnyUserInfo,
    EditConversationAttributes,
    EditConversationName,
    EditOwnMessage,
    EditOwnMessageAttributes,
    EditOwnUserInfo,
    LeaveConversation,
    RemoveParticipant,
    SendMediaMessage,
    SendMessage,
];

/// A role's permissions, in the order they were given, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(Vec<Permission>);

/// A name a role type does not allow, or a name that is no permission at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {name:?} for a {} role", role_type.as_str())]
pub struct UnknownPermission {
    pub name: String,
    pub role_type: RoleType,
}

impl Permissions {
    /// Checks every name against the role type's catalogue and drops
    /// repeats, keeping the caller's order.
    pub fn from_names<'a>(
        role_type: RoleType,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Permissions, UnknownPermission> {
        let mut set = Permissions::default();
        for name in names {
            match Permission::parse(name).filter(|p| role_type.allows(*p)) {
                Some(p) => set.insert(p),
                None => return Err(UnknownPermission { name: name.to_owned(), role_type }),
            }
        }
        Ok(set)
    }

    pub fn contains(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }

    pub fn insert(&mut self, permission: Permission) {
        if !self.contains(permission) {
            self.0.push(permission);
        }
    }

    /// Adds every permission of `other` (a participant's conversation role
    /// on top of the user's service role).
    pub fn extend(&mut self, other: &Permissions) {
        for p in &other.0 {
            self.insert(*p);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Permission::name).collect()
    }

    /// The stored form: a JSON array of names.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.names()).expect("a list of names serializes")
    }

    /// Parses the stored form. Any name Confab does not know fails: roles
    /// are only ever written from validated names.
    pub fn from_json(text: &str) -> Result<Permissions, String> {
        let names: Vec<String> =
            serde_json::from_str(text).map_err(|e| format!("stored permissions are not a JSON list: {e}"))?;
        let mut set = Permissions::default();
        for name in &names {
            set.insert(Permission::parse(name).ok_or_else(|| format!("unknown stored permission {name:?}"))?);
        }
        Ok(set)
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Permissions::default();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// Rows hold the JSON text; diesel turns it into the set as the row is read.
impl TryFrom<String> for Permissions {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Permissions::from_json(&text)
    }
}

/// A role every new service gets, under Programmable Chat's names.
pub struct DefaultRole {
    pub friendly_name: &'static str,
    pub role_type: RoleType,
    pub permissions: &'static [Permission],
}

pub const SERVICE_ADMIN: DefaultRole = DefaultRole {
    friendly_name: "service admin",
    role_type: RoleType::Service,
    permissions: &[
        CreateConversation,
        JoinConversation,
        DeleteConversation,
        EditConversationAttributes,
        EditConversationName,
        AddParticipant,
        RemoveParticipant,
        EditAnyMessage,
        DeleteAnyMessage,
        EditAnyMessageAttributes,
        EditAnyUserInfo,
        EditOwnUserInfo,
    ],
};

pub const SERVICE_USER: DefaultRole = DefaultRole {
    friendly_name: "service user",
    role_type: RoleType::Service,
    permissions: &[CreateConversation, JoinConversation, EditOwnUserInfo],
};

pub const CHANNEL_ADMIN: DefaultRole = DefaultRole {
    friendly_name: "channel admin",
    role_type: RoleType::Conversation,
    permissions: &[
        AddParticipant,
        RemoveParticipant,
        DeleteConversation,
        EditConversationAttributes,
        EditConversationName,
        EditAnyMessage,
        EditAnyMessageAttributes,
        DeleteAnyMessage,
        SendMessage,
        SendMediaMessage,
        LeaveConversation,
        EditOwnMessage,
        EditOwnMessageAttributes,
        DeleteOwnMessage,
    ],
};

pub const CHANNEL_USER: DefaultRole = DefaultRole {
    friendly_name: "channel user",
    role_type: RoleType::Conversation,
    permissions: &[
        SendMessage,
        SendMediaMessage,
        LeaveConversation,
        EditOwnMessage,
        EditOwnMessageAttributes,
        DeleteOwnMessage,
    ],
};

/// The four default roles, in the order a service creates them.
pub const DEFAULT_ROLES: [&DefaultRole; 4] = [&SERVICE_ADMIN, &SERVICE_USER, &CHANNEL_ADMIN, &CHANNEL_USER];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &p in Permission::ALL {
            assert_eq!(Permission::parse(p.name()), Some(p));
        }
        assert_eq!(Permission::parse("flyToMoon"), None);
    }

    #[test]
    fn default_roles_only_use_their_types_permissions() {
        for role in DEFAULT_ROLES {
            assert!(role.permissions.iter().all(|p| role.role_type.allows(*p)), "{}", role.friendly_name);
        }
        assert!(CHANNEL_USER.permissions.contains(&SendMediaMessage));
    }

    #[test]
    fn unknown_or_wrong_type_permission_is_named() {
        let e = Permissions::from_names(RoleType::Service, ["sendMessage"]).unwrap_err();
        assert_eq!(e.name, "sendMessage");
        let e = Permissions::from_names(RoleType::Conversation, ["sendMessage", "flyToMoon"]).unwrap_err();
        assert_eq!(e.name, "flyToMoon");
        let set = Permissions::from_names(RoleType::Conversation, ["sendMessage", "sendMessage"]).unwrap();
        assert_eq!(set.names(), vec!["sendMessage"]);
    }

    #[test]
    fn stored_form_round_trips_in_order_and_refuses_unknown_names() {
        let set = Permissions::from_names(RoleType::Conversation, ["sendMessage", "addParticipant"]).unwrap();
        assert_eq!(set.to_json(), r#"["sendMessage","addParticipant"]"#);
        assert_eq!(Permissions::from_json(&set.to_json()).unwrap(), set);
        assert!(Permissions::from_json(r#"["sendMessage","flyToMoon"]"#).is_err());
        assert!(Permissions::from_json("not json").is_err());
    }
}
