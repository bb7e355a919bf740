//! Permissions: the names a role can hold, which names each role type
//! allows, and the four roles every new service starts with.
//!
//! Roles store their permissions as a JSON array of these names (in the
//! order they were given). They are parsed once, where a role row is read
//! ([`Permissions`]); a stored name Confab does not know is a damaged row
//! and fails the request loudly instead of silently granting nothing.

use std::fmt;

/// Declares [`Permission`] from one list of variants and wire names: the
/// Conversations name (also the stored one) and Programmable Chat's.
macro_rules! permissions {
    ($($variant:ident => $name:literal, $chat:literal;)+) => {
        /// One thing a role may allow. The wire spelling is Twilio's
        /// (`sendMessage`, …), by [`Permission::name`] (Conversations, and
        /// the database) or [`Permission::chat_name`] (Programmable Chat).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Permission {
            $($variant,)+
        }

        impl Permission {
            pub const ALL: &[Permission] = &[$(Permission::$variant,)+];

            /// The name on the Conversations wire and in the database.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)+
                }
            }

            /// The name on the Programmable Chat wire.
            pub const fn chat_name(self) -> &'static str {
                match self {
                    $(Permission::$variant => $chat,)+
                }
            }
        }
    };
}

// Chat's names differ where Conversations renamed the object (a channel is
// a conversation, a member a participant); the last four exist only in
// Chat's vocabulary but are one catalogue with the rest, so a role edited
// through either API reads back the same in the other.
permissions! {
    AddParticipant => "addParticipant", "addMember";
    CreateConversation => "createConversation", "createChannel";
    DeleteAnyMessage => "deleteAnyMessage", "deleteAnyMessage";
    DeleteConversation => "deleteConversation", "destroyChannel";
    DeleteOwnMessage => "deleteOwnMessage", "deleteOwnMessage";
    EditAnyMessage => "editAnyMessage", "editAnyMessage";
    EditAnyMessageAttributes => "editAnyMessageAttributes", "editAnyMessageAttributes";
    EditAnyUserInfo => "editAnyUserInfo", "editAnyUserInfo";
    EditConversationAttributes => "editConversationAttributes", "editChannelAttributes";
    EditConversationName => "editConversationName", "editChannelName";
    EditOwnMessage => "editOwnMessage", "editOwnMessage";
    EditOwnMessageAttributes => "editOwnMessageAttributes", "editOwnMessageAttributes";
    EditOwnUserInfo => "editOwnUserInfo", "editOwnUserInfo";
    JoinConversation => "joinConversation", "joinChannel";
    LeaveConversation => "leaveConversation", "leaveChannel";
    RemoveParticipant => "removeParticipant", "removeMember";
    SendMediaMessage => "sendMediaMessage", "sendMediaMessage";
    SendMessage => "sendMessage", "sendMessage";
    InviteMember => "inviteMember", "inviteMember";
    EditAnyMemberAttributes => "editAnyMemberAttributes", "editAnyMemberAttributes";
    EditOwnMemberAttributes => "editOwnMemberAttributes", "editOwnMemberAttributes";
    EditNotificationLevel => "editNotificationLevel", "editNotificationLevel";
}

/// The API a name or role type is spelled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    Conversations,
    Chat,
}

impl Vocabulary {
    /// As stored (a webhook configuration's `api`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Vocabulary::Conversations => "conversations",
            Vocabulary::Chat => "chat",
        }
    }

    /// A stored name; anything but `chat` is Conversations, the default.
    pub fn parse(stored: &str) -> Vocabulary {
        if stored == "chat" { Vocabulary::Chat } else { Vocabulary::Conversations }
    }
}

use Permission::*;

impl Permission {
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.name() == name)
    }

    pub fn parse_in(vocabulary: Vocabulary, name: &str) -> Option<Permission> {
        match vocabulary {
            Vocabulary::Conversations => Permission::parse(name),
            Vocabulary::Chat => Permission::ALL.iter().copied().find(|p| p.chat_name() == name),
        }
    }

    pub const fn name_in(self, vocabulary: Vocabulary) -> &'static str {
        match vocabulary {
            Vocabulary::Conversations => self.name(),
            Vocabulary::Chat => self.chat_name(),
        }
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

    /// Chat calls a service role `deployment` and a conversation role `channel`.
    pub const fn name_in(self, vocabulary: Vocabulary) -> &'static str {
        match (vocabulary, self) {
            (Vocabulary::Conversations, _) => self.as_str(),
            (Vocabulary::Chat, RoleType::Service) => "deployment",
            (Vocabulary::Chat, RoleType::Conversation) => "channel",
        }
    }

    pub fn parse_in(vocabulary: Vocabulary, s: &str) -> Option<RoleType> {
        [RoleType::Service, RoleType::Conversation].into_iter().find(|t| t.name_in(vocabulary) == s)
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
    InviteMember,
    EditAnyMemberAttributes,
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
    InviteMember,
    EditAnyMemberAttributes,
    EditOwnMemberAttributes,
    EditNotificationLevel,
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
        Permissions::from_names_in(Vocabulary::Conversations, role_type, names)
    }

    /// [`Permissions::from_names`] for names spelled in `vocabulary`.
    pub fn from_names_in<'a>(
        vocabulary: Vocabulary,
        role_type: RoleType,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Permissions, UnknownPermission> {
        let mut set = Permissions::default();
        for name in names {
            match Permission::parse_in(vocabulary, name).filter(|p| role_type.allows(*p)) {
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

    pub fn names_in(&self, vocabulary: Vocabulary) -> Vec<&'static str> {
        self.iter().map(|p| p.name_in(vocabulary)).collect()
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
    fn chat_names_round_trip_and_map_onto_the_same_permissions() {
        for &p in Permission::ALL {
            assert_eq!(Permission::parse_in(Vocabulary::Chat, p.chat_name()), Some(p));
        }
        assert_eq!(Permission::parse_in(Vocabulary::Chat, "leaveChannel"), Some(LeaveConversation));
        assert_eq!(Permission::parse_in(Vocabulary::Chat, "leaveConversation"), None);
        assert_eq!(Permission::parse_in(Vocabulary::Conversations, "destroyChannel"), None);
        let set = Permissions::from_names_in(
            Vocabulary::Chat,
            RoleType::Conversation,
            ["sendMessage", "removeMember"],
        )
        .unwrap();
        assert_eq!(set.names(), vec!["sendMessage", "removeParticipant"]);
        assert_eq!(set.names_in(Vocabulary::Chat), vec!["sendMessage", "removeMember"]);
        assert_eq!(RoleType::parse_in(Vocabulary::Chat, "deployment"), Some(RoleType::Service));
        assert_eq!(RoleType::parse_in(Vocabulary::Chat, "service"), None);
        assert_eq!(RoleType::Conversation.name_in(Vocabulary::Chat), "channel");
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
