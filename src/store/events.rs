//! The event log: every change to a conversation, participant, message or
//! user, recorded by the store function that makes the change, on the same
//! connection and so in the same transaction. A change that rolls back
//! leaves no event.
//!
//! An event holds the row as it was committed (`data`, the row as JSON);
//! the views render it exactly as the REST API renders the row. Updates
//! name the fields that changed (`update_reasons`, in the SDK's camelCase).
//!
//! **Positions are read in commit order.** On SQLite one writer commits at
//! a time, so the position handed out at insert is commit order. On
//! PostgreSQL a sequence value would not be (two transactions can commit in
//! the opposite order of their inserts, and a reader past the later one
//! would skip the earlier for good), so a position is
//! `transaction id * 4096 + ordinal in the transaction`
//! (`confab_fn.next_event_position`), and [`after`] reads only below
//! `confab_fn.event_horizon() * 4096`: the oldest transaction id a session
//! of this database holds (or the next to be handed out). Every
//! transaction still running, or yet to start, has an id at or above that
//! horizon, so nothing can commit below a position already read. A long
//! transaction holds delivery back, never loses an event.

use std::cell::RefCell;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::db::schema::{event_log, events};
use crate::domain::{EventKind, Origin};
use crate::time;

use super::{StoreError, StoreResult};

/// How many events one PostgreSQL transaction can record (the ordinal's
/// share of a position).
pub const PER_TRANSACTION: i64 = 4096;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub position: i64,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: Option<String>,
    #[diesel(deserialize_as = String)]
    pub kind: EventKind,
    pub resource_sid: String,
    /// The row as committed, as JSON.
    pub data: String,
    /// For updates, a JSON list of the fields that changed.
    pub update_reasons: Option<String>,
    pub date_created: i64,
    /// Who caused it: `SDK`, `API`, or none (Confab itself).
    pub source: Option<String>,
    /// The end user who caused it (`source` is `SDK`).
    pub client_identity: Option<String>,
    /// Whether it fires post-event webhooks.
    pub webhooks: bool,
}

thread_local! {
    /// The origin of the write running on this thread ([`as_origin`]).
    static ORIGIN: RefCell<Option<Origin>> = const { RefCell::new(None) };
}

/// Runs `work` (a write's work, on the thread that runs its transaction)
/// with every event it records attributed to `origin`. Who caused a write
/// is a property of the whole write, as its transaction is: the caller
/// that knows it (`crate::auth::Caller`) sets it once here, instead of
/// every store function that records an event taking a parameter it only
/// passes on. Outside such a scope, events are Confab's own
/// ([`Origin::SYSTEM`]: the timers).
pub fn as_origin<T>(origin: &Origin, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Origin>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ORIGIN.with(|o| *o.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(ORIGIN.with(|o| o.replace(Some(origin.clone()))));
    work()
}

/// The origin events recorded now are attributed to.
pub(crate) fn current_origin() -> Origin {
    ORIGIN.with(|o| o.borrow().clone()).unwrap_or(Origin::SYSTEM)
}

/// A row the log records: whose it is and what it is.
pub(crate) trait Logged: Serialize {
    fn account_sid(&self) -> &str;
    fn service_sid(&self) -> &str;
    /// The conversation it belongs to (a user belongs to none).
    fn conversation_sid(&self) -> Option<&str>;
    fn sid(&self) -> &str;
}

// The SQL functions' signatures are what they are; each is called in one place.
#[allow(clippy::too_many_arguments)]
mod sql_fn {
    use diesel::sql_types::*;

    diesel::define_sql_function! {
        /// src/db/sql/postgresql.sql: an insert into `events` at the
        /// transaction's next position.
        #[sql_name = "confab_fn.record_event_as"]
        fn record_event_as(
            account_sid: Text,
            service_sid: Text,
            conversation_sid: Nullable<Text>,
            kind: Text,
            resource_sid: Text,
            data: Text,
            update_reasons: Nullable<Text>,
            now: BigInt,
            source: Nullable<Text>,
            client_identity: Nullable<Text>,
            webhooks: Bool,
        ) -> BigInt;
    }

    diesel::define_sql_function! {
        /// src/db/sql/postgresql.sql: the transaction id below which every
        /// transaction of this database has finished.
        #[sql_name = "confab_fn.event_horizon"]
        fn event_horizon() -> BigInt;
    }
}

/// Records that `kind` happened to `row` (as committed); for updates,
/// `reasons` names what changed.
pub(crate) fn record<R: Logged>(
    conn: &mut DbConnection,
    kind: EventKind,
    row: &R,
    reasons: &[&'static str],
) -> StoreResult<()> {
    let data =
        serde_json::to_string(row).map_err(|_| StoreError::Corrupt("a row that does not serialize"))?;
    let reasons = match reasons {
        [] => None,
        names => Some(serde_json::to_string(names).expect("a list of names serializes")),
    };
    let now = time::now();
    let origin = current_origin();
    match conn {
        DbConnection::Sqlite(sqlite) => {
            // Built, not `sql_query`: diesel never caches a `sql_query`
            // statement, so fixed text would be parsed and planned again on
            // every event; this one is prepared once per connection.
            diesel::insert_into(events::table)
                .values((
                    events::account_sid.eq(row.account_sid()),
                    events::service_sid.eq(row.service_sid()),
                    events::conversation_sid.eq(row.conversation_sid()),
                    events::kind.eq(kind.as_str()),
                    events::resource_sid.eq(row.sid()),
                    events::data.eq(&data),
                    events::update_reasons.eq(reasons.as_deref()),
                    events::date_created.eq(now),
                    events::source.eq(origin.source()),
                    events::client_identity.eq(origin.client_identity()),
                    events::webhooks.eq(origin.webhooks),
                ))
                .execute(sqlite)?;
        }
        DbConnection::Postgresql(pg) => {
            diesel::select(sql_fn::record_event_as(
                row.account_sid(),
                row.service_sid(),
                row.conversation_sid(),
                kind.as_str(),
                row.sid(),
                &data,
                reasons.as_deref(),
                now,
                origin.source(),
                origin.client_identity(),
                origin.webhooks,
            ))
            .get_result::<i64>(pg)?;
        }
    }
    Ok(())
}

/// The position below which every event that will ever commit has
/// committed (see the module doc): on PostgreSQL the horizon, read in a
/// statement of its own before the events are; on SQLite everything.
fn readable_below(conn: &mut DbConnection) -> StoreResult<i64> {
    match conn {
        DbConnection::Sqlite(_) => Ok(i64::MAX),
        DbConnection::Postgresql(pg) => {
            Ok(diesel::select(sql_fn::event_horizon()).get_result::<i64>(pg)? * PER_TRANSACTION)
        }
    }
}

/// Up to `limit` events after `position`, in commit order: on PostgreSQL
/// only those below the horizon (see the module doc). Run it in autocommit:
/// the horizon must be read in a statement before the events'.
pub fn after(conn: &mut DbConnection, position: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
    let below = readable_below(conn)?;
    Ok(events::table
        .filter(events::position.gt(position))
        .filter(events::position.lt(below))
        .order(events::position)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

/// Up to `limit` joins and leaves (`participantJoined`, `participantLeft`)
/// in `service_sid` after `position`, read as [`after`] reads: what a
/// replaying stream needs to know which conversations its user was in back
/// then.
pub fn memberships_after(
    conn: &mut DbConnection,
    service_sid: &str,
    position: i64,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let kinds = [EventKind::ParticipantJoined.as_str(), EventKind::ParticipantLeft.as_str()];
    let below = readable_below(conn)?;
    Ok(events::table
        .filter(events::position.gt(position))
        .filter(events::position.lt(below))
        .filter(events::service_sid.eq(service_sid))
        .filter(events::kind.eq_any(kinds))
        .order(events::position)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The position a reader starting now begins after: the last event below
/// the horizon (0 for an empty log).
pub fn latest(conn: &mut DbConnection) -> StoreResult<i64> {
    let below = readable_below(conn)?;
    let latest: Option<i64> = events::table
        .filter(events::position.lt(below))
        .select(diesel::dsl::max(events::position))
        .get_result(conn)?;
    Ok(latest.unwrap_or(0))
}

/// The highest position pruned: a reader whose last position is below it
/// has missed events that are gone.
pub fn pruned_through(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(event_log::table.select(event_log::pruned_through).get_result(conn)?)
}

/// Deletes up to `batch` of the oldest events created before `cutoff` and
/// moves the pruned-through mark past them. Returns how many went. Call
/// inside a transaction; instances may run it side by side.
///
/// The newest event always stays: SQLite hands out one past the largest
/// position left, so an empty log would start again from the beginning.
pub fn prune(conn: &mut DbConnection, cutoff: i64, batch: i64) -> StoreResult<usize> {
    let newest: Option<i64> = events::table.select(diesel::dsl::max(events::position)).get_result(conn)?;
    let oldest: Vec<(i64, i64)> = events::table
        .select((events::position, events::date_created))
        .order(events::position)
        .limit(batch)
        .load(conn)?;
    let expired: Vec<i64> = oldest
        .into_iter()
        .filter(|&(position, created)| created < cutoff && Some(position) != newest)
        .map(|(p, _)| p)
        .collect();
    let Some(&last) = expired.iter().max() else {
        return Ok(0);
    };
    let deleted = diesel::delete(events::table.filter(events::position.eq_any(&expired))).execute(conn)?;
    diesel::update(event_log::table.filter(event_log::pruned_through.lt(last)))
        .set(event_log::pruned_through.eq(last))
        .execute(conn)?;
    Ok(deleted)
}

/// The names of the fields that differ between two versions of a row:
/// `changed!(old, new; field => "name", a | b => "both", …)`.
macro_rules! changed {
    ($old:expr, $new:expr; $($($field:ident)|+ => $name:literal),+ $(,)?) => {{
        let (old, new) = ($old, $new);
        let mut names: Vec<&'static str> = Vec::new();
        $(
            if false $(|| old.$field != new.$field)+ {
                names.push($name);
            }
        )+
        names
    }};
}

pub(crate) use changed;

/// Implements [`Logged`] for a row with `account_sid`, `service_sid` and
/// `sid` fields: `logged!(Row)` for a row of no conversation,
/// `logged!(Row, conversation: field)` for one whose conversation's SID is
/// in `field`.
macro_rules! logged {
    ($row:ty) => {
        $crate::store::events::logged!($row, |_row| None);
    };
    ($row:ty, conversation: $field:ident) => {
        $crate::store::events::logged!($row, |row| Some(row.$field.as_str()));
    };
    ($row:ty, |$this:ident| $conversation:expr) => {
        impl $crate::store::events::Logged for $row {
            fn account_sid(&self) -> &str {
                &self.account_sid
            }
            fn service_sid(&self) -> &str {
                &self.service_sid
            }
            fn conversation_sid(&self) -> Option<&str> {
                let $this = self;
                $conversation
            }
            fn sid(&self) -> &str {
                &self.sid
            }
        }
    };
}
pub(crate) use logged;
