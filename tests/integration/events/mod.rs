//! The event log: what each change records (kind, resource, row, the fields
//! an update changed), that a change that fails records nothing, pruning,
//! and that a reader of the log never skips an event however writers
//! commit.

mod frames;
mod log;
mod notify;
mod ordering;
mod stream;

use serde_json::Value;

use crate::util::TestApp;
use confab::testing::{EventKind, EventRow, event_store};

/// Every event in the log a reader can read now, in order.
pub async fn events(app: &TestApp) -> Vec<EventRow> {
    app.state.db.read(|conn| event_store::after(conn, 0, 100_000)).await.expect("read the log")
}

/// The events after `position`.
pub async fn events_after(app: &TestApp, position: i64) -> Vec<EventRow> {
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
