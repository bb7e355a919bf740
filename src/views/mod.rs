//! Wire types: the JSON objects the API answers with, built from rows and
//! the [`Urls`](crate::api::Urls) of the request's path family. No I/O here.

pub mod api_keys;
pub mod bindings;
pub mod chat;
pub mod configuration;
pub mod conversations;
pub mod events;
pub mod media;
pub mod memberships;
pub mod messages;
pub mod participants;
pub mod push_credentials;
pub mod roles;
pub mod services;
pub mod users;
pub mod webhooks;

use serde_json::{Map, Value, json};

use crate::store::conversations::ConversationRow;
use crate::store::participants::ParticipantRow;
use crate::time;

/// `{}` or `{"date_inactive": …, "date_closed": …}` (pending timers only).
fn timers(row: &ConversationRow) -> Value {
    let mut m = Map::new();
    if let Some(t) = row.date_inactive {
        m.insert("date_inactive".into(), time::format(t).into());
    }
    if let Some(t) = row.date_closed {
        m.insert("date_closed".into(), time::format(t).into());
    }
    Value::Object(m)
}

/// A conversation's `bindings`: its email projection, if any.
fn bindings(row: &ConversationRow) -> Value {
    match (&row.email_address, &row.email_name) {
        (None, None) => json!({}),
        (address, name) => json!({"email": {"projected_address": address, "name": name}}),
    }
}

/// `null` for chat participants, else the binding's non-empty fields.
fn messaging_binding(row: &ParticipantRow) -> Value {
    let Some(kind) = &row.binding_type else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    for (key, value) in [
        ("address", &row.binding_address),
        ("proxy_address", &row.binding_proxy_address),
        ("projected_address", &row.binding_projected_address),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    Value::Object(m)
}
