//! Conversations (`CH…`): create, fetch, update, list, delete; state timers.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::paging::Key;
use crate::api::{self, Form, ListPage, PageRequest, Params, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::auth::accounts as account_queries;
use crate::db::DbConnection;
use crate::db::schema::{conversations, participants};
use crate::error::{ApiError, ApiResult, codes, is_unique_violation};
use crate::roles::access;
use crate::sid::SidKind;
use crate::{keyset, keyset2};

use super::configuration::{MIN_CLOSED_SECS, MIN_INACTIVE_SECS};

pub const STATES: &[&str] = &["initializing", "inactive", "active", "closed"];

#[derive(Debug, Clone, Queryable, Selectable)]
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
    pub state: String,
    pub created_by: String,
    pub timer_inactive_secs: Option<i64>,
    pub timer_closed_secs: Option<i64>,
    pub date_inactive: Option<i64>,
    pub date_closed: Option<i64>,
    pub email_address: Option<String>,
    pub email_name: Option<String>,
    pub last_message_index: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ConversationRow {
    /// `{}` or `{"date_inactive": …, "date_closed": …}` (pending timers only).
    pub fn timers(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.date_inactive {
            m.insert("date_inactive".into(), time::format(t).into());
        }
        if let Some(t) = self.date_closed {
            m.insert("date_closed".into(), time::format(t).into());
        }
        Value::Object(m)
    }

    pub fn bindings(&self) -> Value {
        match (&self.email_address, &self.email_name) {
            (None, None) => json!({}),
            (address, name) => json!({"email": {"projected_address": address, "name": name}}),
        }
    }
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
}

/// An update: `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = conversations)]
struct ConversationChanges {
    unique_name: Option<Option<String>>,
    friendly_name: Option<Option<String>>,
    attributes: Option<String>,
    messaging_service_sid: Option<Option<String>>,
    state: Option<String>,
    timer_inactive_secs: Option<Option<i64>>,
    timer_closed_secs: Option<Option<i64>>,
    date_inactive: Option<Option<i64>>,
    date_closed: Option<Option<i64>>,
    email_address: Option<Option<String>>,
    email_name: Option<Option<String>>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
}

/// A conversation of the service by SID or by `unique_name`.
/// (Two fixed queries rather than one boxed query: fixed SQL is prepared
/// once per connection and reused.)
pub fn find(conn: &mut DbConnection, service_sid: &str, key: &str) -> Result<ConversationRow, ApiError> {
    let in_service = conversations::table.filter(conversations::service_sid.eq(service_sid));
    let row = if SidKind::Conversation.matches(key) {
        in_service
            .filter(conversations::sid.eq(key))
            .select(ConversationRow::as_select())
            .get_result(conn)
            .optional()?
    } else {
        in_service
            .filter(conversations::unique_name.eq(key))
            .select(ConversationRow::as_select())
            .get_result(conn)
            .optional()?
    };
    row.ok_or(ApiError::NotFound)
}

pub fn find_by_sid(conn: &mut DbConnection, sid: &str) -> Result<ConversationRow, ApiError> {
    conversations::table
        .filter(conversations::sid.eq(sid))
        .select(ConversationRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// When the timers fire, counted from `from` (the last activity). Only an
/// active conversation can go inactive; only a closed one has no close timer.
fn due_dates(
    state: &str,
    inactive: Option<i64>,
    closed: Option<i64>,
    from: i64,
) -> (Option<i64>, Option<i64>) {
    match state {
        "active" => (inactive.map(|s| from + s), closed.map(|s| from + s)),
        "closed" => (None, None),
        _ => (None, closed.map(|s| from + s)),
    }
}

fn unique_name_param(p: &Params) -> Result<Option<Option<String>>, ApiError> {
    match p.text("UniqueName", limits::NAME_CHARS)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(Some(None)),
        Some(v) if SidKind::Conversation.matches(&v) => Err(ApiError::bad_request(
            codes::UNIQUE_NAME_LOOKS_LIKE_SID,
            "UniqueName cannot have the format of a Conversation SID",
        )),
        Some(v) => Ok(Some(Some(v))),
    }
}

/// Closed is final: the conversation can be read and deleted, nothing else.
pub fn closed_error() -> ApiError {
    ApiError::bad_request(
        codes::CONVERSATION_CLOSED,
        "Can't update conversation as it's in final closed state",
    )
}

fn duplicate_unique_name(name: &str) -> ApiError {
    ApiError::conflict(
        codes::CONVERSATION_UNIQUE_NAME_EXISTS,
        format!("A Conversation with the UniqueName {name:?} already exists"),
    )
}

/// What a create request asks for; shared with ConversationWithParticipants.
pub struct ConversationSpec {
    unique_name: Option<String>,
    friendly_name: Option<String>,
    attributes: Option<String>,
    messaging_service_sid: Option<String>,
    state: Option<String>,
    timer_inactive: Option<i64>,
    timer_closed: Option<i64>,
    email_address: Option<String>,
    email_name: Option<String>,
    date_created: Option<i64>,
    date_updated: Option<i64>,
}

impl ConversationSpec {
    pub fn from_params(p: &Params) -> Result<Self, ApiError> {
        if p.str("State") == Some("closed") {
            return Err(ApiError::bad_request(
                codes::INITIAL_STATE_CLOSED,
                "Initial state can't be 'closed'",
            ));
        }
        Ok(ConversationSpec {
            unique_name: unique_name_param(p)?.flatten(),
            friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
            attributes: p.json_text("Attributes", limits::CONVERSATION_ATTRIBUTES)?,
            messaging_service_sid: p.sid("MessagingServiceSid", SidKind::MessagingService)?,
            state: p.choice("State", STATES)?.map(str::to_owned),
            timer_inactive: p.duration("Timers.Inactive", MIN_INACTIVE_SECS)?,
            timer_closed: p.duration("Timers.Closed", MIN_CLOSED_SECS)?,
            email_address: p.text("Bindings.Email.Address", limits::NAME_CHARS)?,
            email_name: p.text("Bindings.Email.Name", limits::NAME_CHARS)?,
            date_created: p.date("DateCreated")?,
            date_updated: p.date("DateUpdated")?,
        })
    }

    /// The parameters given here that only account credentials may set
    /// (an end user names, describes and joins; delivery, lifecycle and
    /// history belong to the backend).
    pub fn admin_only_params(&self) -> impl Iterator<Item = &'static str> {
        [
            ("MessagingServiceSid", self.messaging_service_sid.is_some()),
            ("State", self.state.is_some()),
            ("Timers", self.timer_inactive.is_some() || self.timer_closed.is_some()),
            ("Bindings", self.email_address.is_some() || self.email_name.is_some()),
            ("DateCreated", self.date_created.is_some()),
            ("DateUpdated", self.date_updated.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }
}

/// 403 for the first admin-only parameter a user's request sets.
pub fn refuse_admin_only(standing: &access::Standing, spec: &ConversationSpec) -> Result<(), ApiError> {
    match spec.admin_only_params().next() {
        Some(name) => standing.require_admin_for(name),
        None => Ok(()),
    }
}

/// Inserts a conversation; account defaults fill in messaging service and
/// timers the request leaves out. Call inside a transaction.
pub fn insert(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
    spec: ConversationSpec,
    created_by: &str,
) -> Result<ConversationRow, ApiError> {
    let account = account_queries::find(conn, account_sid)?.ok_or(ApiError::NotFound)?;
    let default_timer = |t: &Option<String>| t.as_deref().and_then(time::parse_duration);
    let timer_inactive = spec.timer_inactive.or_else(|| default_timer(&account.default_inactive_timer));
    let timer_closed = spec.timer_closed.or_else(|| default_timer(&account.default_closed_timer));
    let messaging_service_sid = spec.messaging_service_sid.or(account.default_messaging_service_sid);
    let state = spec.state.as_deref().unwrap_or("active");
    let date_created = spec.date_created.unwrap_or_else(time::now);
    let date_updated = spec.date_updated.unwrap_or(date_created);
    let (date_inactive, date_closed) = due_dates(state, timer_inactive, timer_closed, date_updated);
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
            state,
            created_by,
            timer_inactive_secs: timer_inactive,
            timer_closed_secs: timer_closed,
            date_inactive,
            date_closed,
            email_address: spec.email_address.as_deref(),
            email_name: spec.email_name.as_deref(),
            date_created,
            date_updated,
        })
        .execute(conn)
        .map_err(|e| match (&spec.unique_name, is_unique_violation(&e)) {
            (Some(name), true) => duplicate_unique_name(name),
            _ => e.into(),
        })?;
    find_by_sid(conn, &sid)
}

#[derive(Serialize)]
pub struct ConversationLinks {
    participants: String,
    messages: String,
    webhooks: String,
}

#[derive(Serialize)]
pub struct ConversationView {
    account_sid: String,
    chat_service_sid: String,
    messaging_service_sid: Option<String>,
    sid: String,
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: String,
    state: String,
    date_created: String,
    date_updated: String,
    timers: Value,
    url: String,
    links: ConversationLinks,
    bindings: Value,
}

impl ConversationView {
    pub fn new(row: ConversationRow, prefix: &str) -> Self {
        let url = format!("{prefix}/Conversations/{}", row.sid);
        ConversationView {
            links: ConversationLinks {
                participants: format!("{url}/Participants"),
                messages: format!("{url}/Messages"),
                webhooks: format!("{url}/Webhooks"),
            },
            url,
            timers: row.timers(),
            bindings: row.bindings(),
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            messaging_service_sid: row.messaging_service_sid,
            sid: row.sid,
            friendly_name: row.friendly_name,
            unique_name: row.unique_name,
            attributes: row.attributes,
            state: row.state,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}

#[derive(Deserialize)]
pub struct ConversationPath {
    pub conversation: String,
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let spec = ConversationSpec::from_params(&p)?;
    let (scope, row) = caller
        .write(move |conn, scope| {
            let standing = access::in_service(scope);
            let Some(identity) = standing.identity().map(str::to_owned) else {
                return insert(conn, scope.account_sid(), &scope.service_sid, spec, "system");
            };
            // A user creates as itself and joins with the creator role.
            standing.require("createConversation")?;
            refuse_admin_only(&standing, &spec)?;
            let row = insert(conn, scope.account_sid(), &scope.service_sid, spec, &identity)?;
            join_as_creator(conn, &row, &identity)?;
            Ok(row)
        })
        .await?;
    Ok(api::created(ConversationView::new(row, &scope.prefix)))
}

/// Adds a conversation's creating user as a participant with the service's
/// conversation-creator role.
pub fn join_as_creator(
    conn: &mut DbConnection,
    row: &ConversationRow,
    identity: &str,
) -> Result<(), ApiError> {
    let service = super::services::find(conn, &row.account_sid, &row.service_sid)?;
    let spec = super::participants::ParticipantSpec {
        identity: Some(identity.to_owned()),
        role_sid: service.default_conversation_creator_role_sid.clone(),
        ..Default::default()
    };
    super::participants::insert(conn, row, &spec)?;
    Ok(())
}

/// The conversation if the caller may see it (a user: one it is in).
pub fn find_visible(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<ConversationRow, ApiError> {
    let row = find(conn, &scope.service_sid, key)?;
    access::in_conversation(conn, scope, &row.sid)?;
    Ok(row)
}

pub async fn fetch(caller: Caller, path: web::Path<ConversationPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().conversation;
    let (scope, row) = caller.read(move |conn, scope| find_visible(conn, scope, &key)).await?;
    Ok(api::ok(ConversationView::new(row, &scope.prefix)))
}

pub async fn update(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let unique_name = unique_name_param(&p)?;
    let friendly_name = p.text("FriendlyName", limits::NAME_CHARS)?;
    let attributes = p.json_text("Attributes", limits::CONVERSATION_ATTRIBUTES)?;
    let messaging_service = p.sid("MessagingServiceSid", SidKind::MessagingService)?;
    let new_state = p.choice("State", STATES)?.map(str::to_owned);
    let timer_inactive = p.duration("Timers.Inactive", MIN_INACTIVE_SECS)?;
    let timer_closed = p.duration("Timers.Closed", MIN_CLOSED_SECS)?;
    let email_address = p.text("Bindings.Email.Address", limits::NAME_CHARS)?;
    let email_name = p.text("Bindings.Email.Name", limits::NAME_CHARS)?;
    let date_created = p.date("DateCreated")?;
    let date_updated = p.date("DateUpdated")?;
    let key = path.into_inner().conversation;
    let (scope, row) = caller
        .write(move |conn, scope| {
            let current = find(conn, &scope.service_sid, &key)?;
            let standing = access::in_conversation(conn, scope, &current.sid)?;
            if !standing.is_admin() {
                if unique_name.is_some() || friendly_name.is_some() {
                    standing.require("editConversationName")?;
                }
                if attributes.is_some() {
                    standing.require("editConversationAttributes")?;
                }
                for (name, set) in [
                    ("MessagingServiceSid", messaging_service.is_some()),
                    ("State", new_state.is_some()),
                    ("Timers", timer_inactive.is_some() || timer_closed.is_some()),
                    ("Bindings", email_address.is_some() || email_name.is_some()),
                    ("DateCreated", date_created.is_some()),
                    ("DateUpdated", date_updated.is_some()),
                ] {
                    if set {
                        standing.require_admin_for(name)?;
                    }
                }
            }
            if current.state == "closed" {
                return Err(closed_error());
            }
            // A user's request that changes nothing writes nothing (not
            // even date_updated, which no permission would cover).
            if !standing.is_admin()
                && unique_name.is_none()
                && friendly_name.is_none()
                && attributes.is_none()
            {
                return Ok(current);
            }
            let now = time::now();
            let mut changes = ConversationChanges {
                unique_name: unique_name.clone(),
                friendly_name: friendly_name.map(Some),
                attributes,
                messaging_service_sid: messaging_service.map(Some),
                email_address: email_address.map(Some),
                email_name: email_name.map(Some),
                date_created,
                date_updated: Some(date_updated.unwrap_or(now)),
                ..Default::default()
            };
            // Timers restart from this update when they or the state change.
            if timer_inactive.is_some() || timer_closed.is_some() || new_state.is_some() {
                let state = new_state.clone().unwrap_or_else(|| current.state.clone());
                let inactive = timer_inactive.or(current.timer_inactive_secs);
                let closed = timer_closed.or(current.timer_closed_secs);
                let (date_inactive, date_closed) = due_dates(&state, inactive, closed, now);
                changes.state = Some(state);
                changes.timer_inactive_secs = Some(inactive);
                changes.timer_closed_secs = Some(closed);
                changes.date_inactive = Some(date_inactive);
                changes.date_closed = Some(date_closed);
            }
            diesel::update(conversations::table.filter(conversations::sid.eq(&current.sid)))
                .set(&changes)
                .execute(conn)
                .map_err(|e| match (&unique_name, is_unique_violation(&e)) {
                    (Some(Some(name)), true) => duplicate_unique_name(name),
                    _ => e.into(),
                })?;
            find_by_sid(conn, &current.sid)
        })
        .await?;
    Ok(api::ok(ConversationView::new(row, &scope.prefix)))
}

/// Deletes the conversation; its participants and messages go with it (FK cascade).
pub async fn delete(caller: Caller, path: web::Path<ConversationPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().conversation;
    caller
        .write(move |conn, scope| {
            let row = find(conn, &scope.service_sid, &key)?;
            access::in_conversation(conn, scope, &row.sid)?.require("deleteConversation")?;
            diesel::delete(conversations::table.filter(conversations::sid.eq(&row.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    caller.app().media.collector.notify_one();
    Ok(api::no_content())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let start = q.date("StartDate")?;
    // A bare date as EndDate includes that whole day.
    let end = match q.str("EndDate") {
        Some(v) if v.len() == 10 => q.date("EndDate")?.map(|t| t + 86_399),
        _ => q.date("EndDate")?,
    };
    let state_filter = q.choice("State", STATES)?.map(str::to_owned);
    // With a date filter Twilio lists newest first; otherwise in creation order.
    let by_date = start.is_some() || end.is_some();
    let page = PageRequest::from_params(
        &q,
        100,
        if by_date { "conversations by date desc" } else { "conversations" },
    )?;
    let seek = page.seek(by_date);
    let filter_state = state_filter.clone();
    let (scope, rows) = caller
        .read(move |conn, scope| {
            let mut query = conversations::table
                .filter(conversations::service_sid.eq(&scope.service_sid))
                .select(ConversationRow::as_select())
                .into_boxed();
            if let Some(s) = &filter_state {
                query = query.filter(conversations::state.eq(s.clone()));
            }
            // A user lists the conversations it is in.
            if let Some(user) = scope.end_user() {
                query = query.filter(
                    conversations::sid.eq_any(
                        participants::table
                            .filter(participants::service_sid.eq(scope.service_sid.clone()))
                            .filter(participants::identity.eq(user.identity.clone()))
                            .select(participants::conversation_sid),
                    ),
                );
            }
            if let Some(t) = start {
                query = query.filter(conversations::date_created.ge(t));
            }
            if let Some(t) = end {
                query = query.filter(conversations::date_created.le(t));
            }
            Ok(if by_date {
                keyset2!(query, conversations::date_created, conversations::id, seek).load(conn)?
            } else {
                keyset!(query, conversations::id, seek).load(conn)?
            })
        })
        .await?;
    let mut filters: Vec<(&str, &str)> = Vec::new();
    for name in ["StartDate", "EndDate", "State"] {
        if let Some(v) = q.str(name) {
            filters.push((name, v));
        }
    }
    let window = seek
        .finish(rows, |r| if by_date { Key(r.date_created, r.id) } else { Key::from(r.id) })
        .map(|r| ConversationView::new(r, &scope.prefix));
    Ok(ListPage::new("conversations", &format!("{}/Conversations", scope.prefix), &filters, &page, window)
        .respond())
}

/// Applies due state timers: active → inactive, then → closed. Fired timers
/// are cleared so the partial indexes only ever hold pending ones.
pub fn apply_due_timers(conn: &mut DbConnection, now: i64) -> QueryResult<(usize, usize)> {
    let closed = diesel::update(
        conversations::table
            .filter(conversations::date_closed.le(now))
            .filter(conversations::state.ne("closed")),
    )
    .set((
        conversations::state.eq("closed"),
        conversations::date_inactive.eq(None::<i64>),
        conversations::date_closed.eq(None::<i64>),
        conversations::date_updated.eq(now),
    ))
    .execute(conn)?;
    let inactive = diesel::update(
        conversations::table
            .filter(conversations::date_inactive.le(now))
            .filter(conversations::state.eq("active")),
    )
    .set((
        conversations::state.eq("inactive"),
        conversations::date_inactive.eq(None::<i64>),
        conversations::date_updated.eq(now),
    ))
    .execute(conn)?;
    Ok((inactive, closed))
}
