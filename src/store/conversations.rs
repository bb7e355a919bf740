//! Conversations (`CH…`), their state and state timers.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::db::schema::{conversations, participants};
use crate::domain::{ConversationState, EventKind};
use crate::sid::SidKind;
use crate::time;
use crate::{keyset, keyset2};

use super::page::PageQuery;
use super::{OptionalRow, StoreError, StoreResult, accounts, events, is_unique_violation};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = conversations)]
pub struct ConversationRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub messaging_service_sid: Option<String>,
    #[diesel(deserialize_as = String)]
    pub state: ConversationState,
    pub created_by: String,
    pub timer_inactive_secs: Option<i64>,
    pub timer_closed_secs: Option<i64>,
    pub date_inactive: Option<i64>,
    pub date_closed: Option<i64>,
    pub email_address: Option<String>,
    pub email_name: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    /// `public` or `private` (Chat's channel type; Conversations creates
    /// `private` ones).
    #[serde(default = "private")]
    pub channel_type: String,
    /// Only an invite (or a member allowed to add) brings a user in: Chat's
    /// private channels.
    #[serde(default)]
    pub invite_only: bool,
}

fn private() -> String {
    PRIVATE.to_owned()
}

/// The channel types, as stored and as Chat spells them.
pub const PUBLIC: &str = "public";
pub const PRIVATE: &str = "private";

impl ConversationRow {
    pub fn is_closed(&self) -> bool {
        self.state == ConversationState::Closed
    }
}

events::logged!(ConversationRow, conversation: sid);

/// What changed between two versions of a conversation (`update_reasons`: the SDK's reasons, plus `timers` and `messagingServiceSid`).
pub(crate) fn changed_fields(old: &ConversationRow, new: &ConversationRow) -> Vec<&'static str> {
    events::changed!(old, new;
        friendly_name => "friendlyName",
        unique_name => "uniqueName",
        attributes => "attributes",
        state => "state",
        messaging_service_sid => "messagingServiceSid",
        timer_inactive_secs | timer_closed_secs | date_inactive | date_closed => "timers",
        email_address | email_name => "bindings",
        date_created => "dateCreated",
        date_updated => "dateUpdated",
        channel_type => "type",
        created_by => "createdBy",
    )
}

#[derive(Insertable)]
#[diesel(table_name = conversations, treat_none_as_default_value = false)]
struct NewConversation<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    unique_name: Option<&'a str>,
    friendly_name: Option<&'a str>,
    attributes: &'a str,
    messaging_service_sid: Option<&'a str>,
    state: &'a str,
    created_by: &'a str,
    timer_inactive_secs: Option<i64>,
    timer_closed_secs: Option<i64>,
    date_inactive: Option<i64>,
    date_closed: Option<i64>,
    email_address: Option<&'a str>,
    email_name: Option<&'a str>,
    date_created: i64,
    date_updated: i64,
    channel_type: &'a str,
    invite_only: bool,
}

/// What a new conversation is given; the account's defaults fill in the
/// messaging service and timers left out.
#[derive(Debug, Default, Clone)]
pub struct ConversationSpec {
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<ConversationState>,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub email_address: Option<String>,
    pub email_name: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
    /// [`PUBLIC`] or [`PRIVATE`] (the default).
    pub channel_type: Option<&'static str>,
    /// Who created it, if not the caller (Chat's `CreatedBy`).
    pub created_by: Option<String>,
    pub invite_only: bool,
}

/// An update: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct ConversationUpdate {
    pub unique_name: Option<Option<String>>,
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<ConversationState>,
    pub timer_inactive: Option<i64>,
    pub timer_closed: Option<i64>,
    pub email_address: Option<String>,
    pub email_name: Option<String>,
    pub date_created: Option<i64>,
    pub date_updated: Option<i64>,
    pub channel_type: Option<&'static str>,
    pub created_by: Option<String>,
    pub invite_only: Option<bool>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = conversations)]
struct ConversationChanges {
    unique_name: Option<Option<String>>,
    friendly_name: Option<Option<String>>,
    attributes: Option<String>,
    messaging_service_sid: Option<Option<String>>,
    state: Option<&'static str>,
    timer_inactive_secs: Option<Option<i64>>,
    timer_closed_secs: Option<Option<i64>>,
    date_inactive: Option<Option<i64>>,
    date_closed: Option<Option<i64>>,
    email_address: Option<Option<String>>,
    email_name: Option<Option<String>>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
    channel_type: Option<&'static str>,
    created_by: Option<String>,
    invite_only: Option<bool>,
}

/// A conversation of the service by SID or `unique_name`. (Two fixed
/// queries rather than one boxed query: fixed SQL is prepared once per
/// connection and reused.)
pub fn find(conn: &mut DbConnection, service_sid: &str, key: &str) -> StoreResult<ConversationRow> {
    let in_service = conversations::table.filter(conversations::service_sid.eq(service_sid));
    let row = if SidKind::Conversation.matches(key) {
        in_service.filter(conversations::sid.eq(key)).select(ConversationRow::as_select()).get_result(conn)
    } else {
        in_service
            .filter(conversations::unique_name.eq(key))
            .select(ConversationRow::as_select())
            .get_result(conn)
    };
    Ok(row?)
}

/// Takes the conversation row's lock for the rest of the transaction (on
/// SQLite the write transaction already excludes every other writer). `FOR
/// NO KEY UPDATE`, as a send's UPDATE takes: it serialises with sends and
/// other holders, not with inserts that merely refer to the row.
pub fn lock(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    if let DbConnection::Postgresql(pg) = conn {
        conversations::table
            .filter(conversations::sid.eq(sid))
            .select(conversations::id)
            .for_no_key_update()
            .get_result::<i64>(pg)
            .found()?
            .ok_or(StoreError::NotFound)?;
    }
    Ok(())
}

pub fn find_by_sid(conn: &mut DbConnection, sid: &str) -> StoreResult<ConversationRow> {
    Ok(conversations::table
        .filter(conversations::sid.eq(sid))
        .select(ConversationRow::as_select())
        .get_result(conn)?)
}

/// The SID a key names: a SID as it is (no query), a unique name looked up.
pub fn sid_for_key(conn: &mut DbConnection, service_sid: &str, key: &str) -> StoreResult<String> {
    if SidKind::Conversation.matches(key) {
        return Ok(key.to_owned());
    }
    Ok(conversations::table
        .filter(conversations::service_sid.eq(service_sid))
        .filter(conversations::unique_name.eq(key))
        .select(conversations::sid)
        .get_result(conn)?)
}

fn unique_name_taken(name: Option<&str>, e: diesel::result::Error) -> StoreError {
    match name {
        Some(name) if is_unique_violation(&e) => StoreError::UniqueNameTaken(name.to_owned()),
        _ => e.into(),
    }
}

/// Inserts a conversation. Call inside a transaction.
pub fn insert(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
    spec: ConversationSpec,
    created_by: &str,
    now: i64,
) -> StoreResult<ConversationRow> {
    let account = accounts::find(conn, account_sid)?.ok_or(StoreError::NotFound)?;
    let default_timer = |t: &Option<String>| t.as_deref().and_then(time::parse_duration);
    let timer_inactive = spec.timer_inactive.or_else(|| default_timer(&account.default_inactive_timer));
    let timer_closed = spec.timer_closed.or_else(|| default_timer(&account.default_closed_timer));
    let messaging_service_sid = spec.messaging_service_sid.or(account.default_messaging_service_sid);
    let state = spec.state.unwrap_or(ConversationState::Active);
    let date_created = spec.date_created.unwrap_or(now);
    let date_updated = spec.date_updated.unwrap_or(date_created);
    let (date_inactive, date_closed) = state.due_dates(timer_inactive, timer_closed, date_updated);
    let sid = SidKind::Conversation.generate();
    diesel::insert_into(conversations::table)
        .values(NewConversation {
            sid: &sid,
            account_sid,
            service_sid,
            unique_name: spec.unique_name.as_deref(),
            friendly_name: spec.friendly_name.as_deref(),
            attributes: spec.attributes.as_deref().unwrap_or("{}"),
            messaging_service_sid: messaging_service_sid.as_deref(),
            state: state.as_str(),
            created_by: spec.created_by.as_deref().unwrap_or(created_by),
            timer_inactive_secs: timer_inactive,
            timer_closed_secs: timer_closed,
            date_inactive,
            date_closed,
            email_address: spec.email_address.as_deref(),
            email_name: spec.email_name.as_deref(),
            date_created,
            date_updated,
            channel_type: spec.channel_type.unwrap_or(PRIVATE),
            invite_only: spec.invite_only,
        })
        .execute(conn)
        .map_err(|e| unique_name_taken(spec.unique_name.as_deref(), e))?;
    let row = find_by_sid(conn, &sid)?;
    events::record(conn, EventKind::ConversationAdded, &row, &[])?;
    Ok(row)
}

/// Applies an update to `current` (the conversation as the caller found
/// it, against which the event names what changed). Timers restart from
/// now when they or the state change. A closed conversation takes no
/// update.
pub fn update(
    conn: &mut DbConnection,
    current: &ConversationRow,
    update: ConversationUpdate,
    now: i64,
) -> StoreResult<ConversationRow> {
    if current.is_closed() {
        return Err(StoreError::ConversationClosed);
    }
    let mut changes = ConversationChanges {
        unique_name: update.unique_name.clone(),
        friendly_name: update.friendly_name.map(Some),
        attributes: update.attributes,
        messaging_service_sid: update.messaging_service_sid.map(Some),
        email_address: update.email_address.map(Some),
        email_name: update.email_name.map(Some),
        date_created: update.date_created,
        date_updated: Some(update.date_updated.unwrap_or(now)),
        channel_type: update.channel_type,
        created_by: update.created_by,
        invite_only: update.invite_only,
        ..Default::default()
    };
    if update.timer_inactive.is_some() || update.timer_closed.is_some() || update.state.is_some() {
        let state = update.state.unwrap_or(current.state);
        let inactive = update.timer_inactive.or(current.timer_inactive_secs);
        let closed = update.timer_closed.or(current.timer_closed_secs);
        let (date_inactive, date_closed) = state.due_dates(inactive, closed, now);
        changes.state = Some(state.as_str());
        changes.timer_inactive_secs = Some(inactive);
        changes.timer_closed_secs = Some(closed);
        changes.date_inactive = Some(date_inactive);
        changes.date_closed = Some(date_closed);
    }
    diesel::update(conversations::table.filter(conversations::sid.eq(&current.sid)))
        .set(&changes)
        .execute(conn)
        .map_err(|e| unique_name_taken(update.unique_name.flatten().as_deref(), e))?;
    let row = find_by_sid(conn, &current.sid)?;
    let reasons = changed_fields(current, &row);
    if !reasons.is_empty() {
        events::record(conn, EventKind::ConversationUpdated, &row, &reasons)?;
    }
    Ok(row)
}

/// Deletes the conversation; its participants, messages and their media go
/// with it (foreign key cascades), and one `conversationRemoved` event
/// says so.
pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    // (diesel's multi-dialect connection has no RETURNING: read, then delete.)
    let Some(row) = find_by_sid(conn, sid).found()? else {
        return Ok(());
    };
    diesel::delete(conversations::table.filter(conversations::sid.eq(sid))).execute(conn)?;
    events::record(conn, EventKind::ConversationRemoved, &row, &[])
}

/// Which conversations a list shows.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub state: Option<ConversationState>,
    /// `date_created` from, to (inclusive).
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Only those this identity is a participant of (a user's list).
    pub member: Option<String>,
    /// Those this identity is a participant of, and every public channel
    /// (a user's list in Chat, whose public channels anyone may find).
    pub visible_to: Option<String>,
    /// Newest first by `date_created` (Twilio's order with a date filter),
    /// else in creation order.
    pub by_date: bool,
    /// Only channels of these types (Chat's list); empty: any.
    pub channel_types: Vec<&'static str>,
}

pub fn list(
    conn: &mut DbConnection,
    service_sid: &str,
    filter: &ListFilter,
    page: &PageQuery,
) -> StoreResult<Vec<ConversationRow>> {
    let mut query = conversations::table
        .filter(conversations::service_sid.eq(service_sid))
        .select(ConversationRow::as_select())
        .into_boxed();
    if let Some(state) = filter.state {
        query = query.filter(conversations::state.eq(state.as_str()));
    }
    if let Some(identity) = &filter.member {
        query = query.filter(
            conversations::sid.eq_any(
                participants::table
                    .filter(participants::service_sid.eq(service_sid.to_owned()))
                    .filter(participants::identity.eq(identity.clone()))
                    .select(participants::conversation_sid),
            ),
        );
    }
    if let Some(identity) = &filter.visible_to {
        query = query.filter(
            conversations::channel_type.eq(PUBLIC).or(conversations::sid.eq_any(
                participants::table
                    .filter(participants::service_sid.eq(service_sid.to_owned()))
                    .filter(participants::identity.eq(identity.clone()))
                    .select(participants::conversation_sid),
            )),
        );
    }
    if !filter.channel_types.is_empty() {
        query = query.filter(conversations::channel_type.eq_any(filter.channel_types.clone()));
    }
    if let Some(t) = filter.created_from {
        query = query.filter(conversations::date_created.ge(t));
    }
    if let Some(t) = filter.created_to {
        query = query.filter(conversations::date_created.le(t));
    }
    Ok(if filter.by_date {
        keyset2!(query, conversations::date_created, conversations::id, page).load(conn)?
    } else {
        keyset!(query, conversations::id, page).load(conn)?
    })
}

/// Applies due state timers, at most `batch` of each kind: active →
/// inactive, then → closed, each with its `conversationUpdated` event.
/// Fired timers are cleared so the partial indexes only ever hold pending
/// ones. Returns (went inactive, closed); a count of `batch` means more
/// may be due. Idempotent: instances may run it side by side.
pub fn apply_due_timers(conn: &mut DbConnection, now: i64, batch: i64) -> StoreResult<(usize, usize)> {
    const REASONS: &[&str] = &["state", "timers", "dateUpdated"];
    let due: Vec<i64> = conversations::table
        .filter(conversations::date_closed.le(now))
        .filter(conversations::state.ne(ConversationState::Closed.as_str()))
        .select(conversations::id)
        .limit(batch)
        .load(conn)?;
    diesel::update(conversations::table.filter(conversations::id.eq_any(&due)))
        .set((
            conversations::state.eq(ConversationState::Closed.as_str()),
            conversations::date_inactive.eq(None::<i64>),
            conversations::date_closed.eq(None::<i64>),
            conversations::date_updated.eq(now),
        ))
        .execute(conn)?;
    let closed = by_ids(conn, &due)?;
    let due: Vec<i64> = conversations::table
        .filter(conversations::date_inactive.le(now))
        .filter(conversations::state.eq(ConversationState::Active.as_str()))
        .select(conversations::id)
        .limit(batch)
        .load(conn)?;
    diesel::update(conversations::table.filter(conversations::id.eq_any(&due)))
        .set((
            conversations::state.eq(ConversationState::Inactive.as_str()),
            conversations::date_inactive.eq(None::<i64>),
            conversations::date_updated.eq(now),
        ))
        .execute(conn)?;
    let inactive = by_ids(conn, &due)?;
    for row in closed.iter().chain(&inactive) {
        events::record(conn, EventKind::ConversationUpdated, row, REASONS)?;
    }
    Ok((inactive.len(), closed.len()))
}

fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> StoreResult<Vec<ConversationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(conversations::table
        .filter(conversations::id.eq_any(ids))
        .order(conversations::id)
        .select(ConversationRow::as_select())
        .load(conn)?)
}
