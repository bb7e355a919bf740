//! The event log: what each change records (kind, resource, row, the fields
//! an update changed), that a change that fails records nothing, pruning,
//! and that a reader of the log never skips an event however writers
//! commit.

mod frames;
mod log;
mod notify;
mod ordering;
mod stream;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::TestApp;
use confab::testing::{EventKind, EventRow, StoreError, event_store};

/// Every event in the log, once every event committed so far can be read.
pub async fn events(app: &TestApp) -> Vec<EventRow> {
    events_after(app, 0).await
}

/// The events after `position`, once every event committed before this call
/// can be read. On PostgreSQL the log is read below a horizon, and any
/// transaction of the database that holds an id (the announcer's `NOTIFY`
/// takes one as it commits, and may be descheduled there) holds back what
/// committed after it began, for as long as it runs. A test that checks
/// what its own writes recorded waits that out instead of reading a moment
/// too early.
pub async fn events_after(app: &TestApp, position: i64) -> Vec<EventRow> {
    let newest = app
        .state
        .db
        .read(|conn| {
            use confab::testing::schema::events as table;
            use diesel::prelude::*;
            table::table
                .select(diesel::dsl::max(table::position))
                .get_result::<Option<i64>>(conn)
                .map_err(StoreError::from)
        })
        .await
        .expect("read the newest position")
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = readable_after(app, position).await;
        if read.last().map_or(position, |e| e.position) >= newest {
            return read;
        }
        assert!(Instant::now() < deadline, "events up to {newest} never became readable: {read:?}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The events after `position` that a reader of the log can read now.
pub async fn readable_after(app: &TestApp, position: i64) -> Vec<EventRow> {
    app.state.db.read(move |conn| event_store::after(conn, position, 100_000)).await.expect("read the log")
}

pub fn kinds(events: &[EventRow]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

pub fn data(event: &EventRow) -> Value {
    serde_json::from_str(&event.data).expect("event data is JSON")
}

pub fn reasons(event: &EventRow) -> Vec<String> {
    event
        .update_reasons
        .as_deref()
        .map(|r| serde_json::from_str(r).expect("reasons are JSON"))
        .unwrap_or_default()
}

#[track_caller]
pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}
