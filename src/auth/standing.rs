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

use crate::db::DbConnection;
use crate::domain::{Permission, Permissions};
use crate::error::ApiError;
use crate::store::participants::{self, Membership};

use super::scope::ServiceScope;

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
    permissions: Permissions,
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

    pub fn may(&self, permission: Permission) -> bool {
        self.member.as_ref().is_none_or(|m| m.permissions.contains(permission))
    }

    /// 403 code 50107 naming `permission` unless the caller holds it.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) { Ok(()) } else { Err(ApiError::permission_denied(permission)) }
    }

    /// Acting on something `owner` made: `own` suffices for the user's own,
    /// anything else takes `any` (which also covers the user's own).
    pub fn require_own_or_any(
        &self,
        owner: Option<&str>,
        own: Permission,
        any: Permission,
    ) -> Result<(), ApiError> {
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

    /// 403 unless the caller is an admin: `action` is what it may not do
    /// ("Listing a service's users").
    pub fn require_admin_to(&self, action: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("{action} needs account credentials")))
        }
    }

    /// 403 for the first of `(parameter, given)` that is given, unless the
    /// caller is an admin.
    pub fn refuse_admin_only<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Result<(), ApiError> {
        match params.into_iter().find(|(_, given)| *given) {
            Some((name, _)) => self.require_admin_for(name),
            None => Ok(()),
        }
    }

    fn join(&mut self, membership: Membership) {
        if let Some(member) = &mut self.member {
            member.participant_sid = Some(membership.participant_sid);
            member.permissions.extend(&membership.permissions);
        }
    }
}

/// Standing in the service, outside any conversation.
pub fn in_service(scope: &ServiceScope) -> Standing {
    Standing {
        member: scope.end_user().map(|u| Member {
            identity: u.identity.clone(),
            participant_sid: None,
            permissions: u.permissions.clone(),
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
    if let Some(identity) = standing.identity().map(str::to_owned)
        && let Some(membership) = participants::membership(conn, conversation_sid, &identity)?
    {
        standing.join(membership);
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

/// The user's standing in the conversation `key` (SID or unique name) of
/// the service, with the conversation's SID, in one query: a user's hot
/// path (sending). 404 when the conversation is missing or the user is not
/// in it.
pub fn member_of(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<(String, Standing), ApiError> {
    let Some(user) = scope.end_user() else {
        return Err(ApiError::internal("member_of without a user"));
    };
    let membership = match &user.prefetched {
        // Read with the credential, in the same query.
        Some((sid, membership)) if sid == key => membership.clone(),
        _ => participants::membership_by_key(conn, &scope.service_sid, key, &user.identity)?,
    };
    let membership = membership.ok_or(ApiError::NotFound)?;
    let conversation_sid = membership.conversation_sid.clone();
    let mut standing = in_service(scope);
    standing.join(membership);
    Ok((conversation_sid, standing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn user(perms: &[Permission]) -> Standing {
        Standing {
            member: Some(Member {
                identity: "alice".into(),
                participant_sid: None,
                permissions: perms.iter().copied().collect(),
            }),
        }
    }

    #[test]
    fn admins_pass_every_check() {
        let admin = Standing { member: None };
        assert!(admin.require(SendMessage).is_ok());
        assert!(admin.require_own_or_any(Some("bob"), EditOwnMessage, EditAnyMessage).is_ok());
        assert!(admin.require_admin_for("RoleSid").is_ok());
    }

    #[test]
    fn own_and_any_permissions() {
        let own = user(&[EditOwnMessage]);
        assert!(own.require_own_or_any(Some("alice"), EditOwnMessage, EditAnyMessage).is_ok());
        let e = own.require_own_or_any(Some("bob"), EditOwnMessage, EditAnyMessage).unwrap_err();
        assert!(e.to_string().contains("editAnyMessage"), "{e}");
        let none = user(&[]);
        let e = none.require_own_or_any(Some("alice"), EditOwnMessage, EditAnyMessage).unwrap_err();
        assert!(e.to_string().contains("editOwnMessage"), "{e}");
        let any = user(&[EditAnyMessage]);
        assert!(any.require_own_or_any(Some("alice"), EditOwnMessage, EditAnyMessage).is_ok());
        assert!(any.require_own_or_any(None, EditOwnMessage, EditAnyMessage).is_ok());
        assert!(user(&[SendMessage]).require_admin_for("RoleSid").is_err());
    }
}
