//! The Message object.

use serde::Serialize;
use serde_json::Value;

use crate::api::Urls;
use crate::store::messages::MessageRow;
use crate::time;

#[derive(Serialize)]
pub struct MessageLinks {
    delivery_receipts: String,
    channel_metadata: String,
}

#[derive(Serialize)]
pub struct Message {
    account_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<String>,
    conversation_sid: String,
    sid: String,
    index: i64,
    author: String,
    body: Option<String>,
    media: Option<Vec<Value>>,
    attributes: String,
    participant_sid: Option<String>,
    date_created: String,
    date_updated: String,
    /// Delivery receipts exist only for non-chat channels, which Confab does not send to.
    delivery: Option<Value>,
    url: String,
    links: MessageLinks,
    content_sid: Option<String>,
}

impl Message {
    pub fn new(row: MessageRow, urls: &Urls) -> Self {
        let url = format!("{}/Conversations/{}/Messages/{}", urls.prefix, row.conversation_sid, row.sid);
        Message {
            links: MessageLinks {
                delivery_receipts: format!("{url}/Receipts"),
                channel_metadata: format!("{url}/ChannelMetadata"),
            },
            url,
            account_sid: row.account_sid,
            chat_service_sid: urls.chat_service_sid().map(str::to_owned),
            conversation_sid: row.conversation_sid,
            sid: row.sid,
            index: row.msg_index,
            author: row.author,
            body: row.body,
            media: row.media.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            attributes: row.attributes,
            participant_sid: row.participant_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            delivery: None,
            content_sid: row.content_sid,
        }
    }
}
