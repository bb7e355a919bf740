//! The Conversation object.

use serde::Serialize;
use serde_json::Value;

use crate::store::conversations::ConversationRow;
use crate::time;

#[derive(Serialize)]
pub struct ConversationLinks {
    participants: String,
    messages: String,
    webhooks: String,
}

#[derive(Serialize)]
pub struct Conversation {
    account_sid: String,
    chat_service_sid: String,
    messaging_service_sid: Option<String>,
    sid: String,
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: String,
    state: &'static str,
    date_created: String,
    date_updated: String,
    timers: Value,
    url: String,
    links: ConversationLinks,
    bindings: Value,
}

impl Conversation {
    pub fn new(row: ConversationRow, prefix: &str) -> Self {
        let url = format!("{prefix}/Conversations/{}", row.sid);
        Conversation {
            links: ConversationLinks {
                participants: format!("{url}/Participants"),
                messages: format!("{url}/Messages"),
                webhooks: format!("{url}/Webhooks"),
            },
            url,
            timers: super::timers(&row),
            bindings: super::bindings(&row),
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            messaging_service_sid: row.messaging_service_sid,
            sid: row.sid,
            friendly_name: row.friendly_name,
            unique_name: row.unique_name,
            attributes: row.attributes,
            state: row.state.as_str(),
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
