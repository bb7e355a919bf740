//! The 2010 API's Key object and list envelope.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::ListPage;
use crate::store::api_keys::ApiKeyRow;

/// Twilio's 2010 API dates: RFC 2822 (`Mon, 16 Aug 2010 03:45:01 +0000`).
fn rfc2822(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

#[derive(Serialize)]
pub struct Key {
    sid: String,
    friendly_name: Option<String>,
    date_created: String,
    date_updated: String,
    /// Only in the response that creates the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl Key {
    pub fn new(row: ApiKeyRow, secret: Option<String>) -> Self {
        Key {
            sid: row.sid,
            friendly_name: row.friendly_name,
            date_created: rfc2822(row.date_created),
            date_updated: rfc2822(row.date_updated),
            secret,
        }
    }
}

/// The 2010 API's list envelope: items under `keys`, paging fields beside
/// them, URIs relative to the API's host.
#[derive(Serialize)]
pub struct KeyList {
    keys: Vec<Key>,
    first_page_uri: String,
    next_page_uri: Option<String>,
    previous_page_uri: Option<String>,
    uri: String,
    page: i64,
    page_size: i64,
    start: i64,
    end: i64,
}

impl KeyList {
    /// The v1 page, rendered into the 2010 shape.
    pub fn new(page: ListPage<Key>) -> Self {
        let count = page.items.len() as i64;
        let start = page.meta.page * page.meta.page_size;
        KeyList {
            first_page_uri: page.meta.first_page_url,
            next_page_uri: page.meta.next_page_url,
            previous_page_uri: page.meta.previous_page_url,
            uri: page.meta.url,
            page: page.meta.page,
            page_size: page.meta.page_size,
            start,
            end: start + count.max(1) - 1,
            keys: page.items,
        }
    }
}
