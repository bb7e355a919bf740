//! Messages (`IM…`): ordered by a per-conversation `index` that only grows.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{self, Form, ListPage, PageRequest, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::db::schema::messages;
use crate::error::{ApiError, ApiResult};
use crate::keyset;
use crate::media;
use crate::roles::access;
use crate::sid::SidKind;

use super::conversations::{self as conversation_queries, ConversationPath};
use super::participants;
use super::services;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: String,
    pub msg_index: i64,
    pub author: String,
    pub body: Option<String>,
    pub attributes: String,
    pub participant_sid: Option<String>,
    pub content_sid: Option<String>,
    pub subject: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    /// JSON array of the attached media (sid, size, content_type, filename, category).
    pub media: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
struct NewMessage<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    conversation_sid: &'a str,
    msg_index: i64,
    author: &'a str,
    body: Option<&'a str>,
    attributes: &'a str,
    participant_sid: Option<&'a str>,
    content_sid: Option<&'a str>,
    subject: Option<&'a str>,
    date_created: i64,
    date_updated: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = messages)]
struct MessageChanges {
    author: Option<String>,
    participant_sid: Option<Option<String>>,
    body: Option<Option<String>>,
    attributes: Option<String>,
    subject: Option<Option<String>>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
}

pub struct MessageSpec {
    pub author: Option<String>,
    pub body: Option<String>,
    pub attributes: Option<String>,
    pub content_sid: Option<String>,
    pub subject: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
}

// The SQL function's signature is what it is; it is called in one place.
#[allow(clippy::too_many_arguments)]
mod sql {
    use diesel::sql_types::*;

    diesel::define_sql_function! {
        /// migrations/postgresql/…_append_message: the SQLite steps of [`append`] as one function.
        fn confab_append_message(
            account_sid: Text,
            service_sid: Text,
            key: Text,
            by_sid: Bool,
            message_sid: Text,
            author: Text,
            body: Nullable<Text>,
            attributes: Text,
            content_sid: Nullable<Text>,
            subject: Nullable<Text>,
            now: BigInt,
            date_created: BigInt,
            date_updated: BigInt,
        ) -> Record<(Nullable<Text>, Nullable<BigInt>, Nullable<Text>)>;
    }

    diesel::define_sql_function! {
        /// migrations/postgresql/…_user_messages: [`super::append_as_user`] as one function.
        fn confab_append_user_message(
            account_sid: Text,
            service_sid: Text,
            key: Text,
            by_sid: Bool,
            message_sid: Text,
            identity: Text,
            body: Nullable<Text>,
            attributes: Text,
            content_sid: Nullable<Text>,
            subject: Nullable<Text>,
            now: BigInt,
            service_may_send: Bool,
        ) -> Record<(Nullable<Text>, Nullable<BigInt>, Nullable<Text>, Nullable<Text>)>;
    }
}
use sql::{confab_append_message, confab_append_user_message};

/// The SQLite step of [`append`] that takes the next index: finds the
/// conversation, refuses it if closed, bumps `last_message_index`, revives
/// it if inactive and restarts its timers, in one UPDATE (SET expressions
/// read the row as it was).
///
/// Written out rather than built with `diesel::update`: diesel marks every
/// UPDATE unsafe to cache, so the built one was parsed and planned by
/// SQLite on every send; this one is prepared once per connection (its
/// cache key is the SQL text, one per lookup kind).
struct Bump<'a> {
    service_sid: &'a str,
    key: &'a str,
    by_sid: bool,
    now: i64,
}

impl diesel::query_builder::QueryId for Bump<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for Bump<'_> {
    type SqlType = (Text, BigInt);
}

impl<DB> diesel::query_builder::QueryFragment<DB> for Bump<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>,
    str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE conversations SET last_message_index = last_message_index + 1, \
             state = CASE WHEN state = 'inactive' THEN 'active' ELSE state END, \
             date_inactive = CASE WHEN state = 'active' OR state = 'inactive' THEN timer_inactive_secs + ",
        );
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" END, date_closed = timer_closed_secs + ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" WHERE service_sid = ");
        out.push_bind_param::<Text, str>(self.service_sid)?;
        out.push_sql(if self.by_sid { " AND sid = " } else { " AND unique_name = " });
        out.push_bind_param::<Text, str>(self.key)?;
        out.push_sql(" AND state <> 'closed' RETURNING sid, last_message_index");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for Bump<'_> {}

/// Appends a message to the conversation `key` (SID or unique name) of the
/// service and returns it.
///
/// The conversation is found, refused if closed, its `last_message_index`
/// bumped, revived if inactive and its timers restarted, all by one UPDATE
/// that holds the row's lock (PostgreSQL) or the write lock (SQLite) until
/// commit, so concurrent senders get distinct indexes in commit order.
///
/// On PostgreSQL this is one call of `confab_append_message` (one round
/// trip, no explicit transaction: the hot path of the API). On SQLite the
/// same steps run as statements here; call it inside a write transaction.
pub fn append(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
    spec: MessageSpec,
) -> Result<MessageRow, ApiError> {
    let service_sid = scope.service_sid.as_str();
    let now = time::now();
    let mut row = new_row(scope, spec, now);
    let by_sid = SidKind::Conversation.matches(key);
    let appended = match conn {
        DbConnection::Postgresql(pg) => {
            let (conversation, index, participant) = diesel::select(confab_append_message(
                &row.account_sid,
                service_sid,
                key,
                by_sid,
                &row.sid,
                &row.author,
                row.body.as_deref(),
                &row.attributes,
                row.content_sid.as_deref(),
                row.subject.as_deref(),
                now,
                row.date_created,
                row.date_updated,
            ))
            .get_result::<(Option<String>, Option<i64>, Option<String>)>(pg)?;
            conversation.zip(index).map(|(c, i)| (c, i, participant))
        }
        DbConnection::Sqlite(_) => append_steps(conn, service_sid, key, by_sid, &row, Author::Resolve, now)?,
    };
    let Some((conversation_sid, index, participant_sid)) = appended else {
        // Missing (404) or closed.
        conversation_queries::find(conn, service_sid, key)?;
        return Err(conversation_queries::closed_error());
    };
    row.conversation_sid = conversation_sid;
    row.msg_index = index;
    row.participant_sid = participant_sid;
    Ok(row)
}

/// The message a send will insert, before it has a conversation and index.
fn new_row(scope: &ServiceScope, spec: MessageSpec, now: i64) -> MessageRow {
    let author = spec.author.filter(|a| !a.is_empty()).unwrap_or_else(|| "system".to_owned());
    let date_created = spec.date_created.unwrap_or(now);
    MessageRow {
        sid: SidKind::Message.generate(),
        account_sid: scope.account_sid().to_owned(),
        service_sid: scope.service_sid.clone(),
        conversation_sid: String::new(),
        msg_index: 0,
        author,
        body: spec.body,
        attributes: spec.attributes.unwrap_or_else(|| "{}".to_owned()),
        participant_sid: None,
        content_sid: spec.content_sid,
        subject: spec.subject,
        date_created,
        date_updated: spec.date_updated.unwrap_or(date_created),
        media: None,
    }
}

/// Where a user may send, as [`check_user_send`] found it on SQLite: the
/// conversation and the user's participant in it.
pub struct SendCheck {
    conversation_sid: String,
    participant_sid: Option<String>,
}

/// The reads before a user's send: it must be a participant of the
/// conversation `key` (else 404) holding `sendMessage`. On SQLite they run
/// here, before the write lock is taken; on PostgreSQL
/// `confab_append_user_message` makes the same checks in its one statement,
/// so this returns `None` without a query.
pub fn check_user_send(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<Option<SendCheck>, ApiError> {
    if !conn.is_sqlite() {
        return Ok(None);
    }
    let (conversation_sid, standing) = access::member_of(conn, scope, key)?;
    standing.require("sendMessage")?;
    Ok(Some(SendCheck { conversation_sid, participant_sid: standing.participant_sid().map(str::to_owned) }))
}

/// A text message from an access token's user, as that user (`spec.author`
/// is its identity), after [`check_user_send`]. On PostgreSQL the checks
/// and the append are one call of `confab_append_user_message`; on SQLite
/// the append runs here, inside the caller's write transaction.
pub fn append_as_user(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
    spec: MessageSpec,
    checked: Option<SendCheck>,
) -> Result<MessageRow, ApiError> {
    let user = scope.end_user().ok_or_else(|| ApiError::internal("append_as_user without a user"))?;
    if let Some(SendCheck { conversation_sid, participant_sid }) = checked {
        let now = time::now();
        let mut row = new_row(scope, spec, now);
        let author = Author::Participant(participant_sid);
        let Some((conversation_sid, index, participant_sid)) =
            append_steps(conn, &scope.service_sid, &conversation_sid, true, &row, author, now)?
        else {
            // Deleted since the check (404), or closed.
            conversation_queries::find(conn, &scope.service_sid, &conversation_sid)?;
            return Err(conversation_queries::closed_error());
        };
        row.conversation_sid = conversation_sid;
        row.msg_index = index;
        row.participant_sid = participant_sid;
        return Ok(row);
    }
    let DbConnection::Postgresql(pg) = conn else {
        return Err(ApiError::internal("unknown database dialect"));
    };
    let service_may_send = user.service_permissions.iter().any(|p| p == "sendMessage");
    let now = time::now();
    let mut row = new_row(scope, spec, now);
    let (conversation, index, participant, refusal) = diesel::select(confab_append_user_message(
        &row.account_sid,
        &row.service_sid,
        key,
        SidKind::Conversation.matches(key),
        &row.sid,
        &row.author,
        row.body.as_deref(),
        &row.attributes,
        row.content_sid.as_deref(),
        row.subject.as_deref(),
        now,
        service_may_send,
    ))
    .get_result::<(Option<String>, Option<i64>, Option<String>, Option<String>)>(pg)?;
    match (refusal.as_deref(), conversation, index) {
        (None, Some(conversation), Some(index)) => {
            row.conversation_sid = conversation;
            row.msg_index = index;
            row.participant_sid = participant;
            Ok(row)
        }
        (Some("not_found"), ..) => Err(ApiError::NotFound),
        (Some("closed"), ..) => Err(conversation_queries::closed_error()),
        (Some(permission), ..) => Err(ApiError::permission_denied(permission)),
        _ => Err(ApiError::internal("confab_append_user_message returned no outcome")),
    }
}

/// Whose participant a message is from.
enum Author {
    /// Look up the participant whose identity is the author (if any).
    Resolve,
    /// Already known (a user's send, checked before).
    Participant(Option<String>),
}

/// [`append`] on SQLite: bump, resolve the author, insert. `None` when the
/// conversation is missing or closed.
fn append_steps(
    conn: &mut DbConnection,
    service_sid: &str,
    key: &str,
    by_sid: bool,
    row: &MessageRow,
    author: Author,
    now: i64,
) -> Result<Option<(String, i64, Option<String>)>, ApiError> {
    let bumped = Bump { service_sid, key, by_sid, now }.get_result::<(String, i64)>(conn).optional()?;
    let Some((conversation_sid, index)) = bumped else {
        return Ok(None);
    };
    let participant_sid = match author {
        Author::Resolve => participants::sid_for_identity(conn, &conversation_sid, &row.author)?,
        Author::Participant(sid) => sid,
    };
    diesel::insert_into(messages::table)
        .values(NewMessage {
            sid: &row.sid,
            account_sid: &row.account_sid,
            service_sid: &row.service_sid,
            conversation_sid: &conversation_sid,
            msg_index: index,
            author: &row.author,
            body: row.body.as_deref(),
            attributes: &row.attributes,
            participant_sid: participant_sid.as_deref(),
            content_sid: row.content_sid.as_deref(),
            subject: row.subject.as_deref(),
            date_created: row.date_created,
            date_updated: row.date_updated,
        })
        .execute(conn)?;
    Ok(Some((conversation_sid, index, participant_sid)))
}

pub fn find(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> Result<MessageRow, ApiError> {
    if !SidKind::Message.matches(sid) {
        return Err(ApiError::NotFound);
    }
    messages::table
        .filter(messages::sid.eq(sid))
        .filter(messages::conversation_sid.eq(conversation_sid))
        .select(MessageRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

#[derive(Serialize)]
pub struct MessageLinks {
    delivery_receipts: String,
    channel_metadata: String,
}

#[derive(Serialize)]
pub struct MessageView {
    account_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<String>,
    conversation_sid: String,
    sid: String,
    index: i64,
    author: String,
    body: Option<String>,
    media: Option<Vec<Value>>,
    attributes: String,
    participant_sid: Option<String>,
    date_created: String,
    date_updated: String,
    /// Delivery receipts exist only for non-chat channels, which Confab does not send to.
    delivery: Option<Value>,
    url: String,
    links: MessageLinks,
    content_sid: Option<String>,
}

impl MessageView {
    pub fn new(row: MessageRow, scope: &ServiceScope) -> Self {
        let url = format!("{}/Conversations/{}/Messages/{}", scope.prefix, row.conversation_sid, row.sid);
        MessageView {
            links: MessageLinks {
                delivery_receipts: format!("{url}/Receipts"),
                channel_metadata: format!("{url}/ChannelMetadata"),
            },
            url,
            account_sid: row.account_sid,
            chat_service_sid: scope.chat_service_sid().map(str::to_owned),
            conversation_sid: row.conversation_sid,
            sid: row.sid,
            index: row.msg_index,
            author: row.author,
            body: row.body,
            media: row.media.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            attributes: row.attributes,
            participant_sid: row.participant_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            delivery: None,
            content_sid: row.content_sid,
        }
    }
}

#[derive(Deserialize)]
pub struct MessagePath {
    conversation: String,
    message: String,
}

pub async fn create(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let media_config = &caller.app().media.config;
    let media_sids = media::media_sids_param(p.all("MediaSid"), media_config.max_per_message)?;
    let max_total = media_config.max_bytes;
    let spec = MessageSpec {
        author: p.text("Author", limits::IDENTITY_CHARS)?,
        body: p.text("Body", limits::MESSAGE_BODY_CHARS)?,
        attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
        content_sid: p.sid("ContentSid", SidKind::Content)?,
        subject: p.text("Subject", limits::NAME_CHARS)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
    };
    if spec.body.is_none() && spec.content_sid.is_none() && media_sids.is_empty() {
        return Err(ApiError::missing_param("Body (or MediaSid, or ContentSid)"));
    }
    let key = path.into_inner().conversation;
    let (scope, row) = if let Some(identity) = caller.identity() {
        // An access token's user sends as itself, within its roles.
        if spec.date_created.is_some() || spec.date_updated.is_some() {
            return Err(ApiError::forbidden(
                "DateCreated and DateUpdated can only be set with account credentials",
            ));
        }
        let spec = MessageSpec { author: Some(identity.to_owned()), ..spec };
        if media_sids.is_empty() {
            let check_key = key.clone();
            caller
                .write_atomic_checked(
                    move |conn, scope| check_user_send(conn, scope, &check_key),
                    move |conn, scope, checked| append_as_user(conn, scope, &key, spec, checked),
                )
                .await?
        } else {
            caller
                .write(move |conn, scope| {
                    let conversation = conversation_queries::find(conn, &scope.service_sid, &key)?;
                    let standing = access::in_conversation(conn, scope, &conversation.sid)?;
                    standing.require("sendMessage")?;
                    if !media_sids.is_empty() {
                        standing.require("sendMediaMessage")?;
                    }
                    append_with_media(conn, scope, &conversation.sid, spec, &media_sids, max_total)
                })
                .await?
        }
    } else if media_sids.is_empty() {
        caller.write_atomic(move |conn, scope| append(conn, scope, &key, spec)).await?
    } else {
        // The message and its media become visible together, or not at all.
        caller
            .write(move |conn, scope| append_with_media(conn, scope, &key, spec, &media_sids, max_total))
            .await?
    };
    Ok(api::created(MessageView::new(row, &scope)))
}

/// [`append`], then the media attached (in the caller's transaction), with
/// the service's placeholder body when the message has none.
fn append_with_media(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
    mut spec: MessageSpec,
    media_sids: &[String],
    max_total: u64,
) -> Result<MessageRow, ApiError> {
    if media_sids.is_empty() {
        return append(conn, scope, key, spec);
    }
    if spec.body.is_none() {
        spec.body = services::media_compatibility_message(conn, &scope.service_sid)?;
    }
    let mut row = append(conn, scope, key, spec)?;
    let summary = media::attach(conn, scope, &row.sid, &row.conversation_sid, media_sids, max_total)?;
    row.media = Some(serde_json::to_string(&summary).map_err(ApiError::internal)?);
    Ok(row)
}

pub async fn fetch(caller: Caller, path: web::Path<MessagePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = caller
        .read(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            access::in_conversation(conn, scope, &conversation.sid)?;
            find(conn, &conversation.sid, &path.message)
        })
        .await?;
    Ok(api::ok(MessageView::new(row, &scope)))
}

/// Body, author, attributes, subject and dates can change; media cannot.
pub async fn update(caller: Caller, path: web::Path<MessagePath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let author_param = p.text("Author", limits::IDENTITY_CHARS)?;
    let body = p.text("Body", limits::MESSAGE_BODY_CHARS)?;
    let attributes = p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?;
    let subject = p.text("Subject", limits::NAME_CHARS)?;
    let date_created = p.date("DateCreated")?;
    let date_updated = p.date("DateUpdated")?;
    let path = path.into_inner();
    let (scope, row) = caller
        .write(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            let standing = access::in_conversation(conn, scope, &conversation.sid)?;
            if conversation.state == "closed" {
                return Err(conversation_queries::closed_error());
            }
            let current = find(conn, &conversation.sid, &path.message)?;
            let author = Some(current.author.as_str());
            if body.is_some() || subject.is_some() {
                standing.require_own_or_any(author, "editOwnMessage", "editAnyMessage")?;
            }
            if attributes.is_some() {
                standing.require_own_or_any(
                    author,
                    "editOwnMessageAttributes",
                    "editAnyMessageAttributes",
                )?;
            }
            for (name, set) in [
                ("Author", author_param.is_some()),
                ("DateCreated", date_created.is_some()),
                ("DateUpdated", date_updated.is_some()),
            ] {
                if set {
                    standing.require_admin_for(name)?;
                }
            }
            // A user's request that changes nothing writes nothing (not
            // even date_updated, which no permission would cover).
            if !standing.is_admin() && body.is_none() && subject.is_none() && attributes.is_none() {
                return Ok(current);
            }
            let author = author_param;
            let mut changes = MessageChanges {
                body: body.map(Some),
                attributes,
                subject: subject.map(Some),
                date_created,
                date_updated: Some(date_updated.unwrap_or_else(time::now)),
                ..Default::default()
            };
            if let Some(author) = author.filter(|a| !a.is_empty()) {
                changes.participant_sid =
                    Some(participants::sid_for_identity(conn, &conversation.sid, &author)?);
                changes.author = Some(author);
            }
            diesel::update(messages::table.filter(messages::sid.eq(&current.sid)))
                .set(&changes)
                .execute(conn)?;
            find(conn, &conversation.sid, &current.sid)
        })
        .await?;
    Ok(api::ok(MessageView::new(row, &scope)))
}

pub async fn delete(caller: Caller, path: web::Path<MessagePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    caller
        .write(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &path.conversation)?;
            let standing = access::in_conversation(conn, scope, &conversation.sid)?;
            let row = find(conn, &conversation.sid, &path.message)?;
            standing.require_own_or_any(Some(&row.author), "deleteOwnMessage", "deleteAnyMessage")?;
            diesel::delete(messages::table.filter(messages::sid.eq(&row.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    caller.app().media.collector.notify_one();
    Ok(api::no_content())
}

pub async fn list(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let order = q.choice("Order", &["asc", "desc"])?.unwrap_or("asc").to_owned();
    let page = PageRequest::from_params(&q, 100, &format!("messages {order}"))?;
    let seek = page.seek(order == "desc");
    let key = path.into_inner().conversation;
    let (scope, (conversation, rows)) = caller
        .read(move |conn, scope| {
            let conversation = conversation_queries::find(conn, &scope.service_sid, &key)?;
            access::in_conversation(conn, scope, &conversation.sid)?;
            let query = messages::table
                .filter(messages::conversation_sid.eq(&conversation.sid))
                .select(MessageRow::as_select())
                .into_boxed();
            let rows = keyset!(query, messages::msg_index, seek).load(conn)?;
            Ok((conversation, rows))
        })
        .await?;
    let window = seek.finish(rows, |r| r.msg_index).map(|r| MessageView::new(r, &scope));
    let url = format!("{}/Conversations/{}/Messages", scope.prefix, conversation.sid);
    let filters: Vec<(&str, &str)> = q.str("Order").map(|o| ("Order", o)).into_iter().collect();
    Ok(ListPage::new("messages", &url, &filters, &page, window).respond())
}
