//! The permission checks every end-user action goes through.
//!
//! Account credentials pass every check. An access token's user holds the
//! permissions of its service role everywhere in the service and, inside a
//! conversation it participates in, those of its participant role as well
//! (Programmable Chat's model). A conversation the user is not in does not
//! exist for it: reads and writes answer 404, never 403.
//!
//! Roles are read in the request's own database work, never cached, so an
//! admin's change applies to the next request.

use diesel::prelude::*;

use crate::api::ServiceScope;
use crate::db::DbConnection;
use crate::db::schema::{conversations, participants, roles};
use crate::error::ApiError;
use crate::sid::SidKind;

/// How the caller stands towards a service or one of its conversations.
#[derive(Debug, Clone)]
pub struct Standing {
    /// `None` for account credentials.
    member: Option<Member>,
}

#[derive(Debug, Clone)]
struct Member {
    identity: String,
    /// The user's participant in the conversation, if it is one.
    participant_sid: Option<String>,
    permissions: Vec<String>,
}

impl Member {
    /// Adds a conversation role's permissions (its stored JSON list).
    fn add(&mut self, role_permissions: &str) {
        let extra: Vec<String> = serde_json::from_str(role_permissions).unwrap_or_default();
        for p in extra {
            if !self.permissions.contains(&p) {
                self.permissions.push(p);
            }
        }
    }
}

impl Standing {
    pub fn is_admin(&self) -> bool {
        self.member.is_none()
    }

    /// The acting user's identity (`None` for account credentials).
    pub fn identity(&self) -> Option<&str> {
        self.member.as_ref().map(|m| m.identity.as_str())
    }

    pub fn participant_sid(&self) -> Option<&str> {
        self.member.as_ref().and_then(|m| m.participant_sid.as_deref())
    }

    pub fn is_participant(&self) -> bool {
        self.participant_sid().is_some()
    }

    pub fn may(&self, permission: &str) -> bool {
        self.member.as_ref().is_none_or(|m| m.permissions.iter().any(|p| p == permission))
    }

    /// 403 code 50107 naming `permission` unless the caller holds it.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.may(permission) { Ok(()) } else { Err(ApiError::permission_denied(permission)) }
    }

    /// Acting on something `owner` made: `own` suffices for the user's own,
    /// anything else takes `any` (which also covers the user's own).
    pub fn require_own_or_any(&self, owner: Option<&str>, own: &str, any: &str) -> Result<(), ApiError> {
        let mine = owner.is_some() && owner == self.identity();
        if self.may(any) || (mine && self.may(own)) {
            Ok(())
        } else {
            Err(ApiError::permission_denied(if mine { own } else { any }))
        }
    }

    /// Parameters only account credentials may set (roles, timestamps,
    /// authorship): 403 naming the parameter for an access token.
    pub fn require_admin_for(&self, parameter: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("{parameter} can only be set with account credentials")))
        }
    }
}

/// Standing in the service, outside any conversation.
pub fn in_service(scope: &ServiceScope) -> Standing {
    Standing {
        member: scope.end_user().map(|u| Member {
            identity: u.identity.clone(),
            participant_sid: None,
            permissions: u.service_permissions.clone(),
        }),
    }
}

/// Standing towards a conversation, whether or not the user is in it (for
/// joining). Most callers want [`in_conversation`].
pub fn towards_conversation(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    conversation_sid: &str,
) -> Result<Standing, ApiError> {
    let mut standing = in_service(scope);
    if let Some(member) = &mut standing.member {
        let found: Option<(String, String)> = participants::table
            .inner_join(roles::table.on(roles::sid.eq(participants::role_sid)))
            .filter(participants::conversation_sid.eq(conversation_sid))
            .filter(participants::identity.eq(&member.identity))
            .select((participants::sid, roles::permissions))
            .get_result(conn)
            .optional()?;
        if let Some((sid, perms)) = found {
            member.participant_sid = Some(sid);
            member.add(&perms);
        }
    }
    Ok(standing)
}

/// Standing inside a conversation: a user who is not a participant gets
/// 404, as if the conversation did not exist.
pub fn in_conversation(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    conversation_sid: &str,
) -> Result<Standing, ApiError> {
    let standing = towards_conversation(conn, scope, conversation_sid)?;
    if standing.is_admin() || standing.is_participant() { Ok(standing) } else { Err(ApiError::NotFound) }
}

/// The conversation `key` (SID or unique name) of the service and the
/// user's standing in it, in one query: for a user's hot path (sending),
/// where [`in_conversation`] after a conversation lookup would cost two.
/// 404 when the conversation is missing or the user is not in it.
pub fn member_of(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<(String, Standing), ApiError> {
    let Some(user) = scope.end_user() else {
        return Err(ApiError::internal("member_of without a user"));
    };
    let memberships = conversations::table
        .inner_join(participants::table.on(participants::conversation_sid.eq(conversations::sid)))
        .inner_join(roles::table.on(roles::sid.eq(participants::role_sid)))
        .filter(conversations::service_sid.eq(&scope.service_sid))
        .filter(participants::identity.eq(&user.identity))
        .select((conversations::sid, participants::sid, roles::permissions));
    // Two fixed statements (by SID, by unique name), each prepared once.
    let found: Option<(String, String, String)> = if SidKind::Conversation.matches(key) {
        memberships.filter(conversations::sid.eq(key)).get_result(conn).optional()?
    } else {
        memberships.filter(conversations::unique_name.eq(key)).get_result(conn).optional()?
    };
    let (conversation_sid, participant_sid, perms) = found.ok_or(ApiError::NotFound)?;
    let mut standing = in_service(scope);
    if let Some(member) = &mut standing.member {
        member.participant_sid = Some(participant_sid);
        member.add(&perms);
    }
    Ok((conversation_sid, standing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(perms: &[&str]) -> Standing {
        Standing {
            member: Some(Member {
                identity: "alice".into(),
                participant_sid: None,
                permissions: perms.iter().map(|p| p.to_string()).collect(),
            }),
        }
    }

    #[test]
    fn admins_pass_every_check() {
        let admin = Standing { member: None };
        assert!(admin.require("sendMessage").is_ok());
        assert!(admin.require_own_or_any(Some("bob"), "editOwnMessage", "editAnyMessage").is_ok());
        assert!(admin.require_admin_for("RoleSid").is_ok());
    }

    #[test]
    fn own_and_any_permissions() {
        let own = user(&["editOwnMessage"]);
        assert!(own.require_own_or_any(Some("alice"), "editOwnMessage", "editAnyMessage").is_ok());
        let e = own.require_own_or_any(Some("bob"), "editOwnMessage", "editAnyMessage").unwrap_err();
        assert!(e.to_string().contains("editAnyMessage"), "{e}");
        let none = user(&[]);
        let e = none.require_own_or_any(Some("alice"), "editOwnMessage", "editAnyMessage").unwrap_err();
        assert!(e.to_string().contains("editOwnMessage"), "{e}");
        let any = user(&["editAnyMessage"]);
        assert!(any.require_own_or_any(Some("alice"), "editOwnMessage", "editAnyMessage").is_ok());
        assert!(any.require_own_or_any(None, "editOwnMessage", "editAnyMessage").is_ok());
        assert!(user(&["sendMessage"]).require_admin_for("RoleSid").is_err());
    }
}
