//! Messages (`IM…`): ordered by a per-conversation `index` that only grows.

use actix_web::{HttpResponse, web};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{self, Form, ListPage, PageRequest, Query, ServiceScope, limits, time};
use crate::app::AppState;
use crate::db::schema::{conversations, messages};
use crate::db::{DbConnection, write_tx};
use crate::error::{ApiError, ApiResult};
use crate::keyset;
use crate::sid::SidKind;

use super::conversations::{self as conversation_queries, ConversationPath, ConversationRow};
use super::participants;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub id: i64,
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
}

#[derive(Insertable)]
#[diesel(table_name = messages)]
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

/// Appends a message to the conversation `key` (SID or unique name).
///
/// One UPDATE finds the conversation, refuses it if closed, bumps its
/// `last_message_index`, revives it if inactive and restarts its timers. The
/// UPDATE holds the row lock (PostgreSQL) or the write lock (SQLite, `BEGIN
/// IMMEDIATE`) until commit, so concurrent senders get distinct, increasing
/// indexes. Call inside [`write_tx`].
pub fn insert(
    conn: &mut DbConnection,
    service_sid: &str,
    key: &str,
    spec: MessageSpec,
) -> Result<(ConversationRow, MessageRow), ApiError> {
    use conversations::dsl as c;
    let now = time::now();
    // Fixed SQL per lookup kind, so the statement is prepared once per connection.
    macro_rules! bump {
        ($lookup:expr) => {
            diesel::update(
                c::conversations
                    .filter(c::service_sid.eq(service_sid))
                    .filter($lookup)
                    .filter(c::state.ne("closed")),
            )
            .set((
                c::last_message_index.eq(c::last_message_index + 1),
                c::state.eq(case_when::<_, _, Text>(c::state.eq("inactive"), "active").otherwise(c::state)),
                c::date_inactive.eq(case_when::<_, _, Nullable<BigInt>>(
                    c::state.eq("active").or(c::state.eq("inactive")),
                    c::timer_inactive_secs + now,
                )),
                c::date_closed.eq(c::timer_closed_secs + now),
            ))
            // Column order matches ConversationRow's fields.
            .returning(c::conversations::all_columns())
            .get_result::<ConversationRow>(conn)
            .optional()?
        };
    }
    let bumped = if SidKind::Conversation.matches(key) {
        bump!(c::sid.eq(key))
    } else {
        bump!(c::unique_name.eq(key))
    };
    let conversation = match bumped {
        Some(row) => row,
        // Missing (404) or closed.
        None => {
            conversation_queries::find(conn, service_sid, key)?;
            return Err(conversation_queries::closed_error());
        }
    };
    let author = spec.author.filter(|a| !a.is_empty()).unwrap_or_else(|| "system".to_owned());
    let participant_sid = participants::sid_for_identity(conn, &conversation.sid, &author)?;
    let date_created = spec.date_created.unwrap_or(now);
    let row = MessageRow {
        id: 0,
        sid: SidKind::Message.generate(),
        account_sid: conversation.account_sid.clone(),
        service_sid: conversation.service_sid.clone(),
        conversation_sid: conversation.sid.clone(),
        msg_index: conversation.last_message_index,
        author,
        body: spec.body,
        attributes: spec.attributes.unwrap_or_else(|| "{}".to_owned()),
        participant_sid,
        content_sid: spec.content_sid,
        subject: spec.subject,
        date_created,
        date_updated: spec.date_updated.unwrap_or(date_created),
    };
    diesel::insert_into(messages::table)
        .values(NewMessage {
            sid: &row.sid,
            account_sid: &row.account_sid,
            service_sid: &row.service_sid,
            conversation_sid: &row.conversation_sid,
            msg_index: row.msg_index,
            author: &row.author,
            body: row.body.as_deref(),
            attributes: &row.attributes,
            participant_sid: row.participant_sid.as_deref(),
            content_sid: row.content_sid.as_deref(),
            subject: row.subject.as_deref(),
            date_created: row.date_created,
            date_updated: row.date_updated,
        })
        .execute(conn)?;
    Ok((conversation, row))
}

pub fn find(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> Result<MessageRow, ApiError> {
    if !SidKind::Message.matches(sid) {
        return Err(ApiError::NotFound);
    }
    messages::table
        .filter(messages::sid.eq(sid))
        .filter(messages::conversation_sid.eq(conversation_sid))
        .select(MessageRow::as_select())
        .first(conn)
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
            media: None,
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
    state: web::Data<AppState>,
    scope: ServiceScope,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let spec = MessageSpec {
        author: p.text("Author", limits::IDENTITY_CHARS)?,
        body: p.text("Body", limits::MESSAGE_BODY_CHARS)?,
        attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
        content_sid: p.sid("ContentSid", SidKind::Content)?,
        subject: p.text("Subject", limits::NAME_CHARS)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
    };
    let (service, key) = (scope.service_sid.clone(), path.into_inner().conversation);
    let (_, row) =
        state.db.run(move |conn| write_tx(conn, |conn| insert(conn, &service, &key, spec))).await?;
    Ok(api::created(MessageView::new(row, &scope)))
}

pub async fn fetch(
    state: web::Data<AppState>,
    scope: ServiceScope,
    path: web::Path<MessagePath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let service = scope.service_sid.clone();
    let row = state
        .db
        .run(move |conn| {
            let conversation = conversation_queries::find(conn, &service, &path.conversation)?;
            find(conn, &conversation.sid, &path.message)
        })
        .await?;
    Ok(api::ok(MessageView::new(row, &scope)))
}

/// Body, author, attributes, subject and dates can change; media cannot.
pub async fn update(
    state: web::Data<AppState>,
    scope: ServiceScope,
    path: web::Path<MessagePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let author = p.text("Author", limits::IDENTITY_CHARS)?;
    let body = p.text("Body", limits::MESSAGE_BODY_CHARS)?;
    let attributes = p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?;
    let subject = p.text("Subject", limits::NAME_CHARS)?;
    let date_created = p.date("DateCreated")?;
    let date_updated = p.date("DateUpdated")?;
    let path = path.into_inner();
    let service = scope.service_sid.clone();
    let row = state
        .db
        .run(move |conn| {
            write_tx(conn, |conn| {
                let conversation = conversation_queries::find(conn, &service, &path.conversation)?;
                let current = find(conn, &conversation.sid, &path.message)?;
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
        })
        .await?;
    Ok(api::ok(MessageView::new(row, &scope)))
}

pub async fn delete(
    state: web::Data<AppState>,
    scope: ServiceScope,
    path: web::Path<MessagePath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let service = scope.service_sid.clone();
    state
        .db
        .run(move |conn| {
            write_tx(conn, |conn| {
                let conversation = conversation_queries::find(conn, &service, &path.conversation)?;
                let row = find(conn, &conversation.sid, &path.message)?;
                diesel::delete(messages::table.filter(messages::sid.eq(&row.sid))).execute(conn)?;
                Ok(())
            })
        })
        .await?;
    Ok(api::no_content())
}

pub async fn list(
    state: web::Data<AppState>,
    scope: ServiceScope,
    path: web::Path<ConversationPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100)?;
    let order = q.choice("Order", &["asc", "desc"])?.unwrap_or("asc").to_owned();
    let seek = page.seek(order == "desc");
    let (service, key) = (scope.service_sid.clone(), path.into_inner().conversation);
    let (conversation, rows) = state
        .db
        .run(move |conn| {
            let conversation = conversation_queries::find(conn, &service, &key)?;
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
