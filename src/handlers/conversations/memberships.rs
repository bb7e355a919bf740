//! A user's conversations (`/Users/{US}/Conversations`), conversations by
//! participant identity or address (`/ParticipantConversations`), and
//! `ConversationWithParticipants`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::{Caller, ServiceScope, standing};
use crate::db::DbConnection;
use crate::domain::Permission;
use crate::error::{ApiError, ApiResult};
use crate::store::conversations::ConversationRow;
use crate::store::participants::{ParticipantChanges, ParticipantRow};
use crate::store::users::UserRow;
use crate::store::{self};
use crate::time;
use crate::views::conversations::Conversation;
use crate::views::memberships::{ParticipantConversation, UserConversation};

use super::conversations::{create_as, spec_from_params};
use super::participants::{ParticipantParams, add};
use super::users::UserPath;

#[derive(Deserialize)]
pub struct UserConversationPath {
    user: String,
    conversation: String,
}

/// Messages after the participant's read horizon; unknown (null) until a
/// horizon is set, as Twilio reports it.
pub(crate) fn unread_count(conn: &mut DbConnection, p: &ParticipantRow) -> Result<Option<i64>, ApiError> {
    match p.last_read_message_index {
        None => Ok(None),
        Some(read) => Ok(Some(store::messages::count_after(conn, &p.conversation_sid, read)?)),
    }
}

/// A user by SID or identity; an access token's user sees only its own
/// memberships here (another user's answer 404).
pub(crate) fn find_own_user(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<UserRow, ApiError> {
    let user = store::users::find(conn, &scope.service_sid, key)?;
    match scope.end_user() {
        Some(me) if me.user_sid != user.sid => Err(ApiError::NotFound),
        _ => Ok(user),
    }
}

/// The user's participation in one conversation (by SID or unique name).
pub(crate) fn find_membership(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    user_key: &str,
    conversation_key: &str,
) -> Result<(ParticipantRow, ConversationRow), ApiError> {
    let user = find_own_user(conn, scope, user_key)?;
    let conversation = store::conversations::find(conn, &scope.service_sid, conversation_key)?;
    let participant = store::participants::find_of_user(conn, &conversation.sid, &user.sid)?;
    Ok((participant, conversation))
}

pub async fn list_user_conversations(
    caller: Caller,
    path: web::Path<UserPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "user conversations")?;
    let seek = page.seek(false);
    let key = path.into_inner().user;
    let (scope, (user, rows)) = caller
        .read(move |conn, scope| {
            let user = find_own_user(conn, scope, &key)?;
            let rows = store::participants::list_of_user(conn, &user.sid, &seek.query)?;
            let mut out = Vec::with_capacity(rows.len());
            for (p, c) in rows {
                let unread = unread_count(conn, &p)?;
                out.push((p, c, unread));
            }
            Ok((user, out))
        })
        .await?;
    let window = seek
        .finish(rows, |(p, _, _)| p.id)
        .map(|(p, c, unread)| UserConversation::new(p, c, unread, &scope.urls));
    let url = format!("{}/Users/{}/Conversations", scope.urls.prefix, user.sid);
    Ok(ListPage::new("conversations", &url, &[], &page, window).respond())
}

pub async fn fetch_user_conversation(
    caller: Caller,
    path: web::Path<UserConversationPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, (p, c, unread)) = caller
        .read(move |conn, scope| {
            let (p, c) = find_membership(conn, scope, &path.user, &path.conversation)?;
            let unread = unread_count(conn, &p)?;
            Ok((p, c, unread))
        })
        .await?;
    Ok(api::ok(UserConversation::new(p, c, unread, &scope.urls)))
}

pub async fn update_user_conversation(
    caller: Caller,
    path: web::Path<UserConversationPath>,
    Form(f): Form,
) -> ApiResult<HttpResponse> {
    let changes = own_settings(&f, "LastReadMessageIndex", "LastReadTimestamp")?;
    let path = path.into_inner();
    let (scope, (p, c, unread)) = update_membership(&caller, path.user, path.conversation, changes).await?;
    Ok(api::ok(UserConversation::new(p, c, unread, &scope.urls)))
}

/// What a user may change of its own participation: its notification
/// level and read horizon (`index`, `timestamp`: the parameters' names in
/// the request's API).
pub(crate) fn own_settings(f: &Params, index: &str, timestamp: &str) -> Result<ParticipantChanges, ApiError> {
    Ok(ParticipantChanges {
        notification_level: f.choice("NotificationLevel", &["default", "muted"])?.map(str::to_owned),
        last_read_message_index: f.int(index, 0, i64::MAX)?.map(Some),
        last_read_timestamp: f.date(timestamp)?.map(Some),
        date_updated: Some(time::now()),
        ..Default::default()
    })
}

/// A participation and its conversation, with its unread count.
pub(crate) type Membership = (ParticipantRow, ConversationRow, Option<i64>);

/// Changes the user's own settings in a conversation (notification level,
/// read horizon); shared with Chat's UserChannel update.
pub(crate) async fn update_membership(
    caller: &Caller,
    user: String,
    conversation: String,
    changes: ParticipantChanges,
) -> Result<(ServiceScope, Membership), ApiError> {
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (p, c) = find_membership(conn, scope, &user, &conversation)?;
            let p = store::participants::update(conn, &p.sid, &changes)?;
            let unread = unread_count(conn, &p)?;
            Ok((p, c, unread))
        })
        .await
}

/// The user leaves the conversation.
pub async fn delete_user_conversation(
    caller: Caller,
    path: web::Path<UserConversationPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    leave(&caller, path.user, path.conversation).await?;
    Ok(api::no_content())
}

/// The user leaves the conversation (a user needs `leaveConversation`);
/// shared with Chat's UserChannel delete.
pub(crate) async fn leave(caller: &Caller, user: String, conversation: String) -> Result<(), ApiError> {
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let (p, _) = find_membership(conn, scope, &user, &conversation)?;
            standing::in_conversation(conn, scope, &p.conversation_sid)?
                .require(Permission::LeaveConversation)?;
            Ok(store::participants::delete(conn, &p.sid)?)
        })
        .await?;
    Ok(())
}

pub async fn list_participant_conversations(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "participant conversations")?;
    let identity = q.string("Identity").filter(|s| !s.is_empty());
    let address = q.string("Address").filter(|s| !s.is_empty());
    if identity.is_none() && address.is_none() {
        return Err(ApiError::invalid_param("Identity", "either Identity or Address is required"));
    }
    let seek = page.seek(false);
    let (by_identity, by_address) = (identity.clone(), address.clone());
    let (scope, rows) = caller
        .read(move |conn, scope| {
            // A user may look up its own conversations only.
            if let Some(me) = scope.end_user()
                && (by_address.is_some() || by_identity.as_deref() != Some(me.identity.as_str()))
            {
                return Err(ApiError::forbidden(
                    "An access token can list only its own identity's conversations",
                ));
            }
            Ok(store::participants::list_by_address(
                conn,
                &scope.service_sid,
                by_identity.as_deref(),
                by_address.as_deref(),
                &seek.query,
            )?)
        })
        .await?;
    let window =
        seek.finish(rows, |(p, _)| p.id).map(|(p, c)| ParticipantConversation::new(p, c, &scope.urls));
    let mut filters = Vec::new();
    if let Some(id) = &identity {
        filters.push(("Identity", id.as_str()));
    }
    if let Some(a) = &address {
        filters.push(("Address", a.as_str()));
    }
    let url = format!("{}/ParticipantConversations", scope.urls.prefix);
    Ok(ListPage::new("conversations", &url, &filters, &page, window).respond())
}

/// Most participants one ConversationWithParticipants request may add.
const MAX_INITIAL_PARTICIPANTS: usize = 10;

/// Creates a conversation and its participants in one transaction: all of
/// it, or (on any bad participant) none of it.
pub async fn create_with_participants(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let spec = spec_from_params(&p)?;
    let entries = p.all("Participant");
    if entries.len() > MAX_INITIAL_PARTICIPANTS {
        return Err(ApiError::invalid_param(
            "Participant",
            format!("at most {MAX_INITIAL_PARTICIPANTS} participants per request"),
        ));
    }
    let mut people = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.len() > limits::PARTICIPANT_ATTRIBUTES * 2 {
            return Err(ApiError::invalid_param("Participant", "entry is too large"));
        }
        let person: ParticipantParams = serde_json::from_str(entry).map_err(|e| {
            ApiError::invalid_param("Participant", format!("each value must be a JSON object ({e})"))
        })?;
        person.validate("Participant")?;
        people.push(person.into_spec());
    }
    let (scope, row) = caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let standing = standing::in_service(scope);
            if let Some(identity) = standing.identity() {
                // A user creates as itself, joins with the creator role, and
                // adds the others as that role allows.
                standing.require(Permission::CreateConversation)?;
                super::conversations::refuse_admin_only(&standing, &spec)?;
                if people.iter().any(|p| p.role_sid.is_some()) {
                    standing.require_admin_for("RoleSid")?;
                }
                let identity = identity.to_owned();
                people.retain(|p| p.identity.as_deref() != Some(identity.as_str()));
            }
            let conversation = create_as(conn, scope, &standing, spec)?;
            if !people.is_empty() && !standing.is_admin() {
                standing::in_conversation(conn, scope, &conversation.sid)?
                    .require(Permission::AddParticipant)?;
            }
            for person in &people {
                add(conn, &conversation, person)?;
            }
            Ok(conversation)
        })
        .await?;
    Ok(api::created(Conversation::new(row, &scope.urls.prefix)))
}
