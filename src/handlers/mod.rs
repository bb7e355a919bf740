//! HTTP handlers, one module per API family. A handler parses its
//! parameters, authorises, runs its store calls in one transaction through
//! the [`Caller`](crate::auth::Caller), and renders a view. The route table
//! is src/routes.rs.

pub mod api_keys;
pub mod assets;
pub mod bindings;
pub mod chat;
pub mod console;
pub mod conversations;
pub mod events;
pub mod health;
pub mod media;
pub mod metrics;
pub mod push_credentials;

use crate::auth::standing::{self, Standing};
use crate::auth::{Caller, ServiceScope};
use crate::db::DbConnection;
use crate::domain::RoleType;
use crate::error::ApiError;
use crate::store::conversations::ConversationRow;
use crate::store::roles::RoleRow;
use crate::store::{self, StoreError};
use crate::webhooks::Webhooks;
use crate::webhooks::params::Params;
use crate::webhooks::pre::Changes;

/// An end user's action first calls the service's pre-event webhook
/// `event`, if one is configured for it: `proposed` (on a reader, making
/// the same checks as the action, so a refused action calls nothing) gives
/// the event's parameters; the answer may change the action (the
/// [`Changes`]) or reject it. Without a webhook this costs no I/O.
async fn pre_event<F>(
    hooks: &Webhooks,
    caller: &Caller,
    event: &'static str,
    proposed: F,
) -> Result<Changes, ApiError>
where
    F: FnOnce(&mut DbConnection, &ServiceScope) -> Result<Params, ApiError> + Send + 'static,
{
    let Some(actor) = caller.end_user() else {
        return Ok(Changes::default());
    };
    let Some(hook) = hooks.pre_hook(&actor, event).await? else {
        return Ok(Changes::default());
    };
    let (_, params) = caller.read(proposed).await?;
    hooks.call_pre(&hook, &actor, event, params).await
}

/// A text a pre-event webhook's answer set, if it fits `max` characters
/// (one that does not is ignored, and logged).
pub(crate) fn hooked(changes: &Changes, names: &[&str], max: usize) -> Option<String> {
    let text = changes.text(names)?;
    if text.chars().count() > max {
        tracing::warn!(field = names[0], "a pre-event webhook's value is too long; ignored");
        return None;
    }
    Some(text)
}

/// `Attributes` a pre-event webhook's answer set, if valid JSON within `max` bytes.
pub(crate) fn hooked_json(changes: &Changes, max: usize) -> Option<String> {
    let text = changes.text(&["Attributes", "attributes"])?;
    if text.len() > max || serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
        tracing::warn!("a pre-event webhook's Attributes are not JSON within the limit; ignored");
        return None;
    }
    Some(text)
}

/// A role named by a request parameter (`RoleSid`, …): it must exist in the
/// service and be of the expected type, else 400 naming the parameter.
fn role_param(
    conn: &mut DbConnection,
    service_sid: &str,
    param: &str,
    sid: &str,
    expected: RoleType,
) -> Result<RoleRow, ApiError> {
    let role = store::roles::get(conn, service_sid, sid)?
        .ok_or_else(|| ApiError::invalid_param(param, format!("no role {sid} in this service")))?;
    if role.role_type != expected {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "role {sid} is a {} role; a {} role is required",
                role.role_type.as_str(),
                expected.as_str()
            ),
        ));
    }
    Ok(role)
}

/// The conversation `key` (SID or unique name) of the scope's service with
/// the caller's standing in it: a user who is not in it gets 404.
fn conversation_in_scope(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<(ConversationRow, Standing), ApiError> {
    let conversation = store::conversations::find(conn, &scope.service_sid, key)?;
    let standing = standing::in_conversation(conn, scope, &conversation.sid)?;
    Ok((conversation, standing))
}

/// A closed conversation takes no change.
fn ensure_open(conversation: &ConversationRow) -> Result<(), ApiError> {
    if conversation.is_closed() { Err(StoreError::ConversationClosed.into()) } else { Ok(()) }
}
