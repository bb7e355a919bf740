//! Programmable Chat v2 (and Chat v3's one operation) over the rows
//! Conversations keeps: a channel is a conversation, a member a participant.
//! Each handler parses Chat's parameters into the Conversations action's
//! (the shared functions of `handlers::conversations`, which make every
//! check, fire pre-event webhooks and record events), then renders Chat's
//! objects. Errors say what Chat says: [`fail`].

pub mod bindings;
pub mod channels;
pub mod invites;
pub mod members;
pub mod messages;
pub mod roles;
pub mod services;
pub mod users;
pub mod webhooks;

use crate::auth::{Caller, ServiceScope};
use crate::db::DbConnection;
use crate::domain::Permission;
use crate::error::{ApiError, Code};
use crate::handlers::conversation_in_scope;
use crate::store::{self, OptionalRow, StoreError};
use crate::views::chat::ChatUrls;

/// Runs a Chat handler's work and turns its error into Chat's ([`fail`]).
macro_rules! chat {
    ($caller:expr, $named:expr, $work:expr) => {{
        let named = $named;
        match $work.await {
            Ok(v) => v,
            Err(e) => return Err($crate::handlers::chat::fail(&$caller, named, e).await),
        }
    }};
}
pub(crate) use chat;

fn urls(caller: &Caller, scope: &ServiceScope) -> ChatUrls {
    ChatUrls::new(caller.public_url(), &scope.service_sid)
}

/// A page of rows under the channel `key` (members, messages, invites),
/// as the caller may see the channel: the URLs to render them with, the
/// channel's SID and the rows `load` reads for it.
async fn channel_rows<T, F>(
    caller: &Caller,
    key: String,
    load: F,
) -> Result<(ChatUrls, String, Vec<T>), ApiError>
where
    F: FnOnce(&mut DbConnection, &str) -> Result<Vec<T>, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let (scope, (channel_sid, rows)) = chat!(
        caller,
        Named::channel(&key),
        caller.read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &key)?;
            let rows = load(conn, &conversation.sid)?;
            Ok((conversation.sid, rows))
        })
    );
    Ok((urls(caller, &scope), channel_sid, rows))
}

/// The objects a Chat path names (as given: SIDs, unique names or
/// identities), for what its 404 says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Named {
    pub role: Option<String>,
    pub user: Option<String>,
    pub channel: Option<String>,
    pub member: Option<String>,
    pub message: Option<String>,
    pub invite: Option<String>,
    pub webhook: Option<String>,
}

impl Named {
    pub fn channel(channel: &str) -> Named {
        Named { channel: Some(channel.to_owned()), ..Default::default() }
    }
}

/// A Chat request's error. A 404 names the first object of the path that
/// the caller cannot see (a channel a user is not in is not found, whatever
/// follows it in the path); that costs a read, on this path only. Conflicts
/// and limits Chat numbers differently get Chat's codes.
pub(crate) async fn fail(caller: &Caller, named: Named, e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound => match caller.read(move |conn, scope| missing(conn, scope, &named)).await {
            Ok((_, code)) => ApiError::NotFoundAs(code),
            Err(e) => e,
        },
        ApiError::Client { code: Code::ConversationUniqueNameExists, message } => {
            ApiError::client(Code::ChannelUniqueNameExists, message.replace("A Conversation", "A Channel"))
        }
        ApiError::Client { code: Code::ParticipantExists, message } => {
            ApiError::client(Code::MemberExists, message.replace("participant", "member"))
        }
        ApiError::Client { code: Code::ParticipantLimit, message } => {
            ApiError::client(Code::MemberLimit, message.replace("conversation", "channel"))
        }
        // The permission a user lacks, in Chat's words.
        ApiError::Client { code: Code::PermissionDenied, message } => {
            let chat = message
                .rsplit(' ')
                .next()
                .and_then(Permission::parse)
                .map(|p| message.replace(p.name(), p.chat_name()));
            ApiError::client(Code::PermissionDenied, chat.unwrap_or(message))
        }
        other => other,
    }
}

/// Which of `named` is missing, outermost first.
fn missing(
    conn: &mut crate::db::DbConnection,
    scope: &ServiceScope,
    named: &Named,
) -> Result<Code, ApiError> {
    if let Some(role) = &named.role
        && store::roles::get(conn, &scope.service_sid, role)?.is_none()
    {
        return Ok(Code::RoleNotFound);
    }
    if let Some(user) = &named.user
        && store::users::find(conn, &scope.service_sid, user).found()?.is_none()
    {
        return Ok(Code::UserNotFound);
    }
    let Some(channel) = &named.channel else {
        return Ok(Code::NotFound);
    };
    let conversation = match conversation_in_scope(conn, scope, channel) {
        Ok((conversation, _)) => conversation,
        Err(ApiError::NotFound) => return Ok(Code::ChannelNotFound),
        Err(e) => return Err(e),
    };
    if let Some(member) = &named.member
        && store::participants::find(conn, &conversation.sid, member).found()?.is_none()
    {
        return Ok(Code::MemberNotFound);
    }
    if let Some(message) = &named.message
        && store::messages::find(conn, &conversation.sid, message).found()?.is_none()
    {
        return Ok(Code::MessageNotFound);
    }
    if let Some(invite) = &named.invite
        && store::invites::find(conn, &conversation.sid, invite).found()?.is_none()
    {
        return Ok(Code::InviteNotFound);
    }
    if let Some(webhook) = &named.webhook
        && store::webhooks::find(conn, &conversation.sid, webhook).found()?.is_none()
    {
        return Ok(Code::ChannelWebhookNotFound);
    }
    Ok(Code::NotFound)
}
