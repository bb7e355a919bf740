//! Messages (`IM…`): ordered by a per-conversation `index` that only grows.
//!
//! [`append`] is the one way a message comes into being. Its PostgreSQL
//! half is one call of `confab_fn.send_message` (src/db/sql/postgresql.sql);
//! its SQLite half is [`sqlite_append`], right below it. They take the same
//! steps, events included, and run under the same tests.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};

use crate::db::schema::{conversations, messages};
use crate::db::{DbConnection, Tx};
use crate::domain::{ConversationState, EventKind};
use crate::keyset;
use crate::sid::SidKind;

use super::page::PageQuery;
use super::{OptionalRow, StoreError, StoreResult, events, participants};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
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
    pub date_created: i64,
    pub date_updated: i64,
    /// JSON array of the attached media (sid, size, content_type, filename,
    /// category), written once when media is attached.
    pub media: Option<String>,
    /// Who last changed it (Chat's `last_updated_by`); `None` until a change.
    #[serde(default)]
    pub last_updated_by: Option<String>,
    /// Whether its body was ever edited (Chat's `was_edited`).
    #[serde(default)]
    pub was_edited: bool,
}

events::logged!(MessageRow, conversation: conversation_sid);

/// What changed between two versions of a message (`update_reasons`).
pub(crate) fn changed_fields(old: &MessageRow, new: &MessageRow) -> Vec<&'static str> {
    events::changed!(old, new;
        author => "author",
        body => "body",
        attributes => "attributes",
        participant_sid => "participantSid",
        date_created => "dateCreated",
        date_updated => "dateUpdated",
    )
}

/// A message about to be appended: everything but its conversation's
/// index and the author's participant, which [`append`] finds.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub author: String,
    pub body: Option<String>,
    pub attributes: String,
    pub content_sid: Option<String>,
    pub subject: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl NewMessage {
    fn into_row(
        self,
        conversation_sid: String,
        msg_index: i64,
        participant_sid: Option<String>,
    ) -> MessageRow {
        MessageRow {
            sid: self.sid,
            account_sid: self.account_sid,
            service_sid: self.service_sid,
            conversation_sid,
            msg_index,
            author: self.author,
            body: self.body,
            attributes: self.attributes,
            participant_sid,
            content_sid: self.content_sid,
            date_created: self.date_created,
            date_updated: self.date_updated,
            media: None,
            last_updated_by: None,
            was_edited: false,
        }
    }
}

/// Who wrote a message, as far as the caller knows.
#[derive(Debug, Clone)]
pub enum Author {
    /// Look up the chat participant whose identity is the author, if any.
    Resolve,
    /// Already known: a user's send, checked before the write. If the
    /// participant has left since, the send is refused as not found.
    Participant(String),
}

impl Author {
    fn participant(&self) -> Option<&str> {
        match self {
            Author::Resolve => None,
            Author::Participant(sid) => Some(sid),
        }
    }
}

/// Appends `message` to the conversation `conversation_sid` of its service.
///
/// The conversation's `last_message_index` is bumped, the conversation
/// revived if inactive and its timers restarted, all by one UPDATE that
/// holds the row's lock (PostgreSQL) or the write lock (SQLite) until
/// commit, so concurrent senders get distinct indexes in commit order; then
/// the message is inserted, and the events recorded: `conversationUpdated`
/// for a revival, then `messageAdded`. A missing conversation (or an
/// [`Author::Participant`] no longer in it) is [`StoreError::NotFound`], a
/// closed one [`StoreError::ConversationClosed`], and neither changes
/// anything.
///
/// On PostgreSQL this is one statement: alone in its write it runs without
/// BEGIN/COMMIT ([`Tx::statement`]).
pub fn append(
    tx: &mut Tx<'_>,
    conversation_sid: &str,
    message: NewMessage,
    author: Author,
    now: i64,
) -> StoreResult<MessageRow> {
    append_message(tx, conversation_sid, message, author, now, Added::Record)
}

/// Whether [`append_message`] records `messageAdded` itself (or leaves it
/// to a caller that adds media first).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Added {
    Record,
    Later,
}

fn append_message(
    tx: &mut Tx<'_>,
    conversation_sid: &str,
    message: NewMessage,
    author: Author,
    now: i64,
    added: Added,
) -> StoreResult<MessageRow> {
    match tx.is_sqlite() {
        true => sqlite_append(tx.conn()?, conversation_sid, message, author, now, added),
        false => {
            postgres_append(tx.statement()?, conversation_sid, message, author.participant(), now, added)
        }
    }
}

/// The media a new message takes (see [`super::media::attach`]).
pub struct Attachments<'a> {
    pub sids: &'a [String],
    /// A user's message: only media this identity uploaded exist.
    pub uploaded_by: Option<&'a str>,
    pub max_total: u64,
}

/// [`append`] with media: the message and its media become visible
/// together, or not at all. A message with no body gets the service's
/// media compatibility message (its placeholder for clients that cannot
/// show media), if one is set.
pub fn append_with_media(
    tx: &mut Tx<'_>,
    conversation_sid: &str,
    mut message: NewMessage,
    author: Author,
    media: Attachments<'_>,
    now: i64,
) -> StoreResult<MessageRow> {
    // Several statements: the transaction begins here, before the append.
    let conn = tx.conn()?;
    if message.body.is_none() {
        message.body = super::services::media_compatibility_message(conn, &message.service_sid)?;
    }
    let mut row = append_message(tx, conversation_sid, message, author, now, Added::Later)?;
    let conn = tx.conn()?;
    let owner = super::media::Owner {
        account_sid: &row.account_sid,
        service_sid: &row.service_sid,
        conversation_sid: &row.conversation_sid,
        message_sid: &row.sid,
    };
    let summary = super::media::attach(conn, &owner, media.sids, media.uploaded_by, media.max_total, now)?;
    set_media(conn, &row.sid, &summary)?;
    row.media = Some(summary);
    events::record(conn, EventKind::MessageAdded, &row, &[])?;
    Ok(row)
}

// The SQL function's signature is what it is; it is called in one place.
#[allow(clippy::too_many_arguments)]
mod sql {
    use diesel::sql_types::*;

    diesel::define_sql_function! {
        /// src/db/sql/postgresql.sql: [`super::append`] on PostgreSQL.
        #[sql_name = "confab_fn.send_message_as"]
        fn send_message_as(
            account_sid: Text,
            service_sid: Text,
            conversation_sid: Text,
            message_sid: Text,
            author: Text,
            participant_sid: Nullable<Text>,
            body: Nullable<Text>,
            attributes: Text,
            content_sid: Nullable<Text>,
            subject: Nullable<Text>,
            now: BigInt,
            date_created: BigInt,
            date_updated: BigInt,
            record_added: Bool,
            source: Nullable<Text>,
            client_identity: Nullable<Text>,
            webhooks: Bool,
        ) -> Record<(Nullable<BigInt>, Nullable<Text>, Nullable<Text>)>;
    }
}

/// [`append`] on PostgreSQL: one call of the function.
fn postgres_append(
    conn: &mut DbConnection,
    conversation_sid: &str,
    m: NewMessage,
    participant_sid: Option<&str>,
    now: i64,
    added: Added,
) -> StoreResult<MessageRow> {
    let DbConnection::Postgresql(pg) = conn else {
        unreachable!("postgres_append on another dialect");
    };
    let origin = events::current_origin();
    let (index, participant, refusal) = diesel::select(sql::send_message_as(
        &m.account_sid,
        &m.service_sid,
        conversation_sid,
        &m.sid,
        &m.author,
        participant_sid,
        m.body.as_deref(),
        &m.attributes,
        m.content_sid.as_deref(),
        m.subject.as_deref(),
        now,
        m.date_created,
        m.date_updated,
        added == Added::Record,
        origin.source(),
        origin.client_identity(),
        origin.webhooks,
    ))
    .get_result::<(Option<i64>, Option<String>, Option<String>)>(pg)?;
    match (refusal.as_deref(), index) {
        (None, Some(index)) => Ok(m.into_row(conversation_sid.to_owned(), index, participant)),
        (Some("closed"), _) => Err(StoreError::ConversationClosed),
        _ => Err(StoreError::NotFound),
    }
}

/// [`append`] on SQLite: the same steps as the PostgreSQL function, as
/// statements inside the write transaction.
fn sqlite_append(
    conn: &mut DbConnection,
    conversation_sid: &str,
    m: NewMessage,
    author: Author,
    now: i64,
    added: Added,
) -> StoreResult<MessageRow> {
    let mut bump = Bump {
        service_sid: &m.service_sid,
        conversation_sid,
        participant: author.participant(),
        now,
        active: true,
    };
    let mut revived = false;
    let index = match bump.get_result::<i64>(conn).found()? {
        Some(index) => index,
        None => {
            // Not active (the rare path: more statements are fine). Under
            // the write lock, the state the next bump sees.
            let before = conversations::table
                .filter(conversations::sid.eq(conversation_sid))
                .select(conversations::state)
                .get_result::<String>(conn)
                .found()?;
            bump.active = false;
            let Some(index) = bump.get_result::<i64>(conn).found()? else {
                return Err(sqlite_refusal(conn, conversation_sid, &m.service_sid, author.participant())?);
            };
            revived = before.as_deref() == Some(ConversationState::Inactive.as_str());
            index
        }
    };
    let participant_sid = match author {
        Author::Resolve => participants::sid_for_identity(conn, conversation_sid, &m.author)?,
        Author::Participant(sid) => Some(sid),
    };
    diesel::insert_into(messages::table)
        .values((
            messages::sid.eq(&m.sid),
            messages::account_sid.eq(&m.account_sid),
            messages::service_sid.eq(&m.service_sid),
            messages::conversation_sid.eq(conversation_sid),
            messages::msg_index.eq(index),
            messages::author.eq(&m.author),
            messages::body.eq(m.body.as_deref()),
            messages::attributes.eq(&m.attributes),
            messages::participant_sid.eq(participant_sid.as_deref()),
            messages::content_sid.eq(m.content_sid.as_deref()),
            messages::subject.eq(m.subject.as_deref()),
            messages::date_created.eq(m.date_created),
            messages::date_updated.eq(m.date_updated),
        ))
        .execute(conn)?;
    if revived {
        let conversation = super::conversations::find_by_sid(conn, conversation_sid)?;
        events::record(conn, EventKind::ConversationUpdated, &conversation, REVIVED)?;
    }
    let row = m.into_row(conversation_sid.to_owned(), index, participant_sid);
    if added == Added::Record {
        events::record(conn, EventKind::MessageAdded, &row, &[])?;
    }
    Ok(row)
}

/// Why [`sqlite_append`] bumped nothing.
fn sqlite_refusal(
    conn: &mut DbConnection,
    conversation_sid: &str,
    service_sid: &str,
    participant: Option<&str>,
) -> StoreResult<StoreError> {
    if let Some(sid) = participant
        && !participants::is_in(conn, conversation_sid, sid)?
    {
        return Ok(StoreError::NotFound);
    }
    match super::conversations::find_by_sid(conn, conversation_sid) {
        Ok(c) if c.service_sid == service_sid => Ok(StoreError::ConversationClosed),
        Ok(_) | Err(StoreError::NotFound) => Ok(StoreError::NotFound),
        Err(e) => Err(e),
    }
}

/// What changes when a message revives an inactive conversation (the
/// `update_reasons` of confab_fn.send_message too).
const REVIVED: &[&str] = &["state", "timers"];

/// The SQLite bump of [`sqlite_append`]: the UPDATE of
/// `confab_fn.send_message`, statement for statement, which also
/// requires a checked participant to be still in the conversation.
///
/// Written out rather than built with `diesel::update`: diesel marks every
/// UPDATE unsafe to cache, so the built one was parsed and planned by
/// SQLite on every send; this one is prepared once per connection (its
/// cache key is its SQL text).
#[derive(Clone, Copy)]
struct Bump<'a> {
    service_sid: &'a str,
    conversation_sid: &'a str,
    participant: Option<&'a str>,
    now: i64,
    /// Only an active conversation (the function's first UPDATE); else any
    /// but a closed one.
    active: bool,
}

impl diesel::query_builder::QueryId for Bump<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for Bump<'_> {
    type SqlType = BigInt;
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
        out.push_sql(" AND sid = ");
        out.push_bind_param::<Text, str>(self.conversation_sid)?;
        out.push_sql(if self.active { " AND state = 'active'" } else { " AND state <> 'closed'" });
        if let Some(participant) = self.participant {
            out.push_sql(" AND EXISTS (SELECT 1 FROM participants WHERE sid = ");
            out.push_bind_param::<Text, str>(participant)?;
            out.push_sql(" AND conversation_sid = conversations.sid)");
        }
        out.push_sql(" RETURNING last_message_index");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for Bump<'_> {}

/// A message of the conversation by SID.
pub fn find(conn: &mut DbConnection, conversation_sid: &str, sid: &str) -> StoreResult<MessageRow> {
    if !SidKind::Message.matches(sid) {
        return Err(StoreError::NotFound);
    }
    Ok(messages::table
        .filter(messages::sid.eq(sid))
        .filter(messages::conversation_sid.eq(conversation_sid))
        .select(MessageRow::as_select())
        .get_result(conn)?)
}

/// An edit: `None` leaves a field alone, `Some(None)` clears it. Media
/// never changes.
#[derive(AsChangeset, Default)]
#[diesel(table_name = messages)]
pub struct MessageChanges {
    pub author: Option<String>,
    pub participant_sid: Option<Option<String>>,
    pub body: Option<Option<String>>,
    pub attributes: Option<String>,
    pub subject: Option<Option<String>>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
    pub last_updated_by: Option<Option<String>>,
}

/// Applies `changes`; a body that changes marks the message edited.
pub fn update(
    conn: &mut DbConnection,
    conversation_sid: &str,
    sid: &str,
    changes: &MessageChanges,
) -> StoreResult<MessageRow> {
    let old = find(conn, conversation_sid, sid)?;
    let edited = changes.body.as_ref().is_some_and(|body| *body != old.body);
    diesel::update(messages::table.filter(messages::sid.eq(sid)))
        .set((changes, edited.then_some(messages::was_edited.eq(true))))
        .execute(conn)?;
    let row = find(conn, conversation_sid, sid)?;
    let reasons = changed_fields(&old, &row);
    if !reasons.is_empty() {
        events::record(conn, EventKind::MessageUpdated, &row, &reasons)?;
    }
    Ok(row)
}

/// Records who set a just-created message (Chat's `LastUpdatedBy` on create).
pub fn set_last_updated_by(conn: &mut DbConnection, sid: &str, who: &str) -> StoreResult<()> {
    diesel::update(messages::table.filter(messages::sid.eq(sid)))
        .set(messages::last_updated_by.eq(who))
        .execute(conn)?;
    Ok(())
}

/// Records the media summary of a just-created message.
pub fn set_media(conn: &mut DbConnection, sid: &str, media: &str) -> StoreResult<()> {
    diesel::update(messages::table.filter(messages::sid.eq(sid)))
        .set(messages::media.eq(media))
        .execute(conn)?;
    Ok(())
}

/// Deletes the message, with its `messageRemoved` event; its media rows go
/// with it (the delete trigger queues their objects for the collector).
pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    let Some(row) = messages::table
        .filter(messages::sid.eq(sid))
        .select(MessageRow::as_select())
        .get_result(conn)
        .found()?
    else {
        return Ok(());
    };
    diesel::delete(messages::table.filter(messages::sid.eq(sid))).execute(conn)?;
    events::record(conn, EventKind::MessageRemoved, &row, &[])
}

pub fn list(
    conn: &mut DbConnection,
    conversation_sid: &str,
    page: &PageQuery,
) -> StoreResult<Vec<MessageRow>> {
    let query = messages::table
        .filter(messages::conversation_sid.eq(conversation_sid))
        .select(MessageRow::as_select())
        .into_boxed();
    Ok(keyset!(query, messages::msg_index, page).load(conn)?)
}

/// Up to `limit` messages from index `from` on, oldest first.
pub fn from_index(
    conn: &mut DbConnection,
    conversation_sid: &str,
    from: i64,
    limit: i64,
) -> StoreResult<Vec<MessageRow>> {
    Ok(messages::table
        .filter(messages::conversation_sid.eq(conversation_sid))
        .filter(messages::msg_index.ge(from))
        .order(messages::msg_index)
        .limit(limit)
        .select(MessageRow::as_select())
        .load(conn)?)
}

/// How many messages follow index `after` (a read horizon's unread count).
pub fn count_after(conn: &mut DbConnection, conversation_sid: &str, after: i64) -> StoreResult<i64> {
    Ok(messages::table
        .filter(messages::conversation_sid.eq(conversation_sid))
        .filter(messages::msg_index.gt(after))
        .count()
        .get_result(conn)?)
}
