//! The Chat Member object (a participant). No `links`.

use serde::Serialize;

use crate::store::participants::ParticipantRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
pub struct Member {
    sid: String,
    account_sid: String,
    channel_sid: String,
    service_sid: String,
    identity: Option<String>,
    role_sid: String,
    last_consumed_message_index: Option<i64>,
    last_consumption_timestamp: Option<String>,
    date_created: String,
    date_updated: String,
    attributes: String,
    url: String,
}

impl Member {
    pub fn new(row: ParticipantRow, urls: &ChatUrls) -> Self {
        Member {
            url: format!("{}/Members/{}", urls.channel(&row.conversation_sid), row.sid),
            sid: row.sid,
            account_sid: row.account_sid,
            channel_sid: row.conversation_sid,
            service_sid: row.service_sid,
            identity: row.identity,
            role_sid: row.role_sid,
            last_consumed_message_index: row.last_read_message_index,
            last_consumption_timestamp: time::format_opt(row.last_read_timestamp),
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            attributes: row.attributes,
        }
    }
}
