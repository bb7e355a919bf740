//! Views of one person's conversations: `Users/{US}/Conversations`
//! (UserConversations) and `ParticipantConversations?Identity=|Address=`,
//! plus `ConversationWithParticipants`, which creates both sides at once.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{self, Form, ListPage, PageRequest, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::db::schema::{conversations, messages, participants};
use crate::error::{ApiError, ApiResult};
use crate::keyset;
use crate::roles::access;

use super::conversations::{
    self as conversation_queries, ConversationRow, ConversationSpec, ConversationView,
};
use super::participants::{self as participant_queries, ParticipantRow, ParticipantSpec};
use super::users;

#[derive(Deserialize)]
pub struct UserConversationPath {
    user: String,
    conversation: String,
}

#[derive(Serialize)]
struct UserConversationLinks {
    participant: String,
    conversation: String,
}

#[derive(Serialize)]
struct UserConversationView {
    account_sid: String,
    chat_service_sid: String,
    conversation_sid: String,
    unread_messages_count: Option<i64>,
    last_read_message_index: Option<i64>,
    participant_sid: String,
    user_sid: Option<String>,
    friendly_name: Option<String>,
    conversation_state: String,
    timers: Value,
    attributes: String,
    date_created: String,
    date_updated: String,
    created_by: String,
    notification_level: String,
    unique_name: Option<String>,
    url: String,
    links: UserConversationLinks,
}

impl UserConversationView {
    fn new(p: ParticipantRow, c: ConversationRow, unread: Option<i64>, scope: &ServiceScope) -> Self {
        let user_sid = p.user_sid.clone().unwrap_or_default();
        let conversation_url = format!("{}/Conversations/{}", scope.prefix, c.sid);
        UserConversationView {
            url: format!("{}/Users/{}/Conversations/{}", scope.prefix, user_sid, c.sid),
            links: UserConversationLinks {
                participant: format!("{conversation_url}/Participants/{}", p.sid),
                conversation: conversation_url,
            },
            timers: c.timers(),
            account_sid: c.account_sid,
            chat_service_sid: c.service_sid,
            conversation_sid: c.sid,
            unread_messages_count: unread,
            last_read_message_index: p.last_read_message_index,
            participant_sid: p.sid,
            user_sid: p.user_sid,
            friendly_name: c.friendly_name,
            conversation_state: c.state,
            attributes: c.attributes,
            date_created: time::format(c.date_created),
            date_updated: time::format(c.date_updated),
            created_by: c.created_by,
            notification_level: p.notification_level,
            unique_name: c.unique_name,
        }
    }
}

/// Messages after the participant's read horizon; unknown (null) until a
/// horizon is set, as Twilio reports it.
fn unread_count(conn: &mut DbConnection, p: &ParticipantRow) -> QueryResult<Option<i64>> {
    match p.last_read_message_index {
        None => Ok(None),
        Some(read) => messages::table
            .filter(messages::conversation_sid.eq(&p.conversation_sid))
            .filter(messages::msg_index.gt(read))
            .count()
            .get_result(conn)
            .map(Some),
    }
}

/// The user's participation in one conversation (by SID or unique name).
fn find_membership(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    user_key: &str,
    conversation_key: &str,
) -> Result<(ParticipantRow, ConversationRow), ApiError> {
    let service_sid = &scope.service_sid;
    let user = find_own_user(conn, scope, user_key)?;
    let conversation = conversation_queries::find(conn, service_sid, conversation_key)?;
    let participant = participants::table
        .filter(participants::conversation_sid.eq(&conversation.sid))
        .filter(participants::user_sid.eq(&user.sid))
        .select(ParticipantRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)?;
    Ok((participant, conversation))
}

/// A user by SID or identity; an access token's user sees only its own
/// memberships here (another user's answer 404).
fn find_own_user(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<users::UserRow, ApiError> {
    let user = users::find(conn, &scope.service_sid, key)?;
    match scope.end_user() {
        Some(me) if me.user_sid != user.sid => Err(ApiError::NotFound),
        _ => Ok(user),
    }
}

pub async fn list_user_conversations(
    caller: Caller,
    path: web::Path<users::UserPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "user conversations")?;
    let seek = page.seek(false);
    let key = path.into_inner().user;
    let (scope, (user, rows)) = caller
        .read(move |conn, scope| {
            let user = find_own_user(conn, scope, &key)?;
            let query = participants::table
                .inner_join(conversations::table.on(conversations::sid.eq(participants::conversation_sid)))
                .filter(participants::user_sid.eq(&user.sid))
                .select((ParticipantRow::as_select(), ConversationRow::as_select()))
                .into_boxed();
            let rows: Vec<(ParticipantRow, ConversationRow)> =
                keyset!(query, participants::id, seek).load(conn)?;
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
        .map(|(p, c, unread)| UserConversationView::new(p, c, unread, &scope));
    let url = format!("{}/Users/{}/Conversations", scope.prefix, user.sid);
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
    Ok(api::ok(UserConversationView::new(p, c, unread, &scope)))
}

#[derive(AsChangeset)]
#[diesel(table_name = participants)]
struct MembershipChanges {
    notification_level: Option<String>,
    last_read_message_index: Option<Option<i64>>,
    last_read_timestamp: Option<Option<i64>>,
    date_updated: i64,
}

pub async fn update_user_conversation(
    caller: Caller,
    path: web::Path<UserConversationPath>,
    Form(f): Form,
) -> ApiResult<HttpResponse> {
    let changes = MembershipChanges {
        notification_level: f.choice("NotificationLevel", &["default", "muted"])?.map(str::to_owned),
        last_read_message_index: f.int("LastReadMessageIndex", 0, i64::MAX)?.map(Some),
        last_read_timestamp: f.date("LastReadTimestamp")?.map(Some),
        date_updated: time::now(),
    };
    let path = path.into_inner();
    let (scope, (p, c, unread)) = caller
        .write(move |conn, scope| {
            let (p, c) = find_membership(conn, scope, &path.user, &path.conversation)?;
            diesel::update(participants::table.filter(participants::sid.eq(&p.sid)))
                .set(&changes)
                .execute(conn)?;
            let p = participant_queries::find_by_sid(conn, &p.sid)?;
            let unread = unread_count(conn, &p)?;
            Ok((p, c, unread))
        })
        .await?;
    Ok(api::ok(UserConversationView::new(p, c, unread, &scope)))
}

/// The user leaves the conversation.
pub async fn delete_user_conversation(
    caller: Caller,
    path: web::Path<UserConversationPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    caller
        .write(move |conn, scope| {
            let (p, _) = find_membership(conn, scope, &path.user, &path.conversation)?;
            access::in_conversation(conn, scope, &p.conversation_sid)?.require("leaveConversation")?;
            diesel::delete(participants::table.filter(participants::sid.eq(&p.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(api::no_content())
}

#[derive(Serialize)]
struct ParticipantConversationLinks {
    participant: String,
    conversation: String,
}

#[derive(Serialize)]
struct ParticipantConversationView {
    account_sid: String,
    chat_service_sid: String,
    participant_sid: String,
    participant_user_sid: Option<String>,
    participant_identity: Option<String>,
    participant_messaging_binding: Value,
    conversation_sid: String,
    conversation_unique_name: Option<String>,
    conversation_friendly_name: Option<String>,
    conversation_attributes: String,
    conversation_date_created: String,
    conversation_date_updated: String,
    conversation_created_by: String,
    conversation_state: String,
    conversation_timers: Value,
    links: ParticipantConversationLinks,
}

impl ParticipantConversationView {
    fn new(p: ParticipantRow, c: ConversationRow, scope: &ServiceScope) -> Self {
        let conversation_url = format!("{}/Conversations/{}", scope.prefix, c.sid);
        ParticipantConversationView {
            links: ParticipantConversationLinks {
                participant: format!("{conversation_url}/Participants/{}", p.sid),
                conversation: conversation_url,
            },
            participant_messaging_binding: p.messaging_binding(),
            conversation_timers: c.timers(),
            account_sid: c.account_sid,
            chat_service_sid: c.service_sid,
            participant_sid: p.sid,
            participant_user_sid: p.user_sid,
            participant_identity: p.identity,
            conversation_sid: c.sid,
            conversation_unique_name: c.unique_name,
            conversation_friendly_name: c.friendly_name,
            conversation_attributes: c.attributes,
            conversation_date_created: time::format(c.date_created),
            conversation_date_updated: time::format(c.date_updated),
            conversation_created_by: c.created_by,
            conversation_state: c.state,
        }
    }
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
            let mut query = participants::table
                .inner_join(conversations::table.on(conversations::sid.eq(participants::conversation_sid)))
                .filter(participants::service_sid.eq(&scope.service_sid))
                .select((ParticipantRow::as_select(), ConversationRow::as_select()))
                .into_boxed();
            if let Some(id) = by_identity {
                query = query.filter(participants::identity.eq(id));
            }
            if let Some(a) = by_address {
                query = query.filter(participants::binding_address.eq(a));
            }
            let rows: Vec<(ParticipantRow, ConversationRow)> =
                keyset!(query, participants::id, seek).load(conn)?;
            Ok(rows)
        })
        .await?;
    let window =
        seek.finish(rows, |(p, _)| p.id).map(|(p, c)| ParticipantConversationView::new(p, c, &scope));
    let mut filters = Vec::new();
    if let Some(id) = &identity {
        filters.push(("Identity", id.as_str()));
    }
    if let Some(a) = &address {
        filters.push(("Address", a.as_str()));
    }
    let url = format!("{}/ParticipantConversations", scope.prefix);
    Ok(ListPage::new("conversations", &url, &filters, &page, window).respond())
}

/// Most participants one ConversationWithParticipants request may add.
const MAX_INITIAL_PARTICIPANTS: usize = 10;

/// Creates a conversation and its participants in one transaction: all of
/// it, or (on any bad participant) none of it.
pub async fn create_with_participants(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let spec = ConversationSpec::from_params(&p)?;
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
        let person: ParticipantSpec = serde_json::from_str(entry).map_err(|e| {
            ApiError::invalid_param("Participant", format!("each value must be a JSON object ({e})"))
        })?;
        person.validate("Participant")?;
        people.push(person);
    }
    let (scope, row) = caller
        .write(move |conn, scope| {
            let standing = access::in_service(scope);
            let Some(identity) = standing.identity().map(str::to_owned) else {
                let conversation = conversation_queries::insert(
                    conn,
                    scope.account_sid(),
                    &scope.service_sid,
                    spec,
                    "system",
                )?;
                for person in &people {
                    participant_queries::insert(conn, &conversation, person)?;
                }
                return Ok(conversation);
            };
            // A user creates as itself, joins with the creator role, and
            // adds the others as that role allows.
            standing.require("createConversation")?;
            conversation_queries::refuse_admin_only(&standing, &spec)?;
            if people.iter().any(|p| p.role_sid.is_some()) {
                standing.require_admin_for("RoleSid")?;
            }
            let conversation =
                conversation_queries::insert(conn, scope.account_sid(), &scope.service_sid, spec, &identity)?;
            conversation_queries::join_as_creator(conn, &conversation, &identity)?;
            let others: Vec<&ParticipantSpec> =
                people.iter().filter(|p| p.identity.as_deref() != Some(identity.as_str())).collect();
            if !others.is_empty() {
                access::in_conversation(conn, scope, &conversation.sid)?.require("addParticipant")?;
            }
            for person in others {
                participant_queries::insert(conn, &conversation, person)?;
            }
            Ok(conversation)
        })
        .await?;
    Ok(api::created(ConversationView::new(row, &scope.prefix)))
}
