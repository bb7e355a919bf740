//! The permission catalogue: which names exist for each role type, and the
//! four roles every new service starts with.

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleType {
    /// Applies service-wide to a User.
    Service,
    /// Applies inside one conversation to a Participant.
    Conversation,
}

impl RoleType {
    pub fn as_str(self) -> &'static str {
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

    pub fn catalogue(self) -> &'static [&'static str] {
        match self {
            RoleType::Service => SERVICE_PERMISSIONS,
            RoleType::Conversation => CONVERSATION_PERMISSIONS,
        }
    }
}

pub const SERVICE_PERMISSIONS: &[&str] = &[
    "addParticipant",
    "createConversation",
    "deleteAnyMessage",
    "deleteConversation",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "joinConversation",
    "removeParticipant",
];

pub const CONVERSATION_PERMISSIONS: &[&str] = &[
    "addParticipant",
    "deleteAnyMessage",
    "deleteOwnMessage",
    "deleteConversation",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "leaveConversation",
    "removeParticipant",
    "sendMediaMessage",
    "sendMessage",
];

/// Checks every name against the role type's catalogue (400 naming the first
/// unknown one) and drops repeats, keeping the caller's order.
pub fn validate(role_type: RoleType, names: &[&str]) -> Result<Vec<String>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::missing_param("Permission"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !role_type.catalogue().contains(name) {
            return Err(ApiError::invalid_param(
                "Permission",
                format!("unknown permission {name:?} for a {} role", role_type.as_str()),
            ));
        }
        if !out.iter().any(|p| p == name) {
            out.push((*name).to_string());
        }
    }
    Ok(out)
}

pub struct DefaultRole {
    pub friendly_name: &'static str,
    pub role_type: RoleType,
    pub permissions: &'static [&'static str],
}

/// The roles every new service gets, under Programmable Chat's names.
pub const SERVICE_ADMIN: DefaultRole = DefaultRole {
    friendly_name: "service admin",
    role_type: RoleType::Service,
    permissions: &[
        "createConversation",
        "joinConversation",
        "deleteConversation",
        "editConversationAttributes",
        "editConversationName",
        "addParticipant",
        "removeParticipant",
        "editAnyMessage",
        "deleteAnyMessage",
        "editAnyMessageAttributes",
        "editAnyUserInfo",
        "editOwnUserInfo",
    ],
};

pub const SERVICE_USER: DefaultRole = DefaultRole {
    friendly_name: "service user",
    role_type: RoleType::Service,
    permissions: &["createConversation", "joinConversation", "editOwnUserInfo"],
};

pub const CHANNEL_ADMIN: DefaultRole = DefaultRole {
    friendly_name: "channel admin",
    role_type: RoleType::Conversation,
    permissions: &[
        "addParticipant",
        "removeParticipant",
        "deleteConversation",
        "editConversationAttributes",
        "editConversationName",
        "editAnyMessage",
        "editAnyMessageAttributes",
        "deleteAnyMessage",
        "sendMessage",
        "sendMediaMessage",
        "leaveConversation",
        "editOwnMessage",
        "editOwnMessageAttributes",
        "deleteOwnMessage",
    ],
};

pub const CHANNEL_USER: DefaultRole = DefaultRole {
    friendly_name: "channel user",
    role_type: RoleType::Conversation,
    permissions: &[
        "sendMessage",
        "sendMediaMessage",
        "leaveConversation",
        "editOwnMessage",
        "editOwnMessageAttributes",
        "deleteOwnMessage",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roles_only_use_known_permissions() {
        for role in [SERVICE_ADMIN, SERVICE_USER, CHANNEL_ADMIN, CHANNEL_USER] {
            let validated = validate(role.role_type, role.permissions).unwrap();
            assert_eq!(validated.len(), role.permissions.len(), "{}", role.friendly_name);
        }
        assert!(CHANNEL_USER.permissions.contains(&"sendMediaMessage"));
    }

    #[test]
    fn unknown_or_wrong_scope_permission_is_named() {
        let e = validate(RoleType::Service, &["sendMessage"]).unwrap_err();
        assert!(e.to_string().contains("sendMessage"));
        let e = validate(RoleType::Conversation, &["sendMessage", "flyToMoon"]).unwrap_err();
        assert!(e.to_string().contains("flyToMoon"));
        assert_eq!(
            validate(RoleType::Conversation, &["sendMessage", "sendMessage"]).unwrap(),
            vec!["sendMessage"]
        );
    }
}
