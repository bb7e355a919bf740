//! The Participant object.

use serde::Serialize;
use serde_json::Value;

use crate::api::Urls;
use crate::store::participants::ParticipantRow;
use crate::time;

#[derive(Serialize)]
pub struct Participant {
    account_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<String>,
    conversation_sid: String,
    sid: String,
    identity: Option<String>,
    attributes: String,
    messaging_binding: Value,
    role_sid: String,
    date_created: String,
    date_updated: String,
    url: String,
    last_read_message_index: Option<i64>,
    last_read_timestamp: Option<String>,
}

impl Participant {
    pub fn new(row: ParticipantRow, urls: &Urls) -> Self {
        Participant {
            url: format!("{}/Conversations/{}/Participants/{}", urls.prefix, row.conversation_sid, row.sid),
            messaging_binding: super::messaging_binding(&row),
            account_sid: row.account_sid,
            chat_service_sid: urls.chat_service_sid().map(str::to_owned),
            conversation_sid: row.conversation_sid,
            sid: row.sid,
            identity: row.identity,
            attributes: row.attributes,
            role_sid: row.role_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            last_read_message_index: row.last_read_message_index,
            last_read_timestamp: time::format_opt(row.last_read_timestamp),
        }
    }
}
