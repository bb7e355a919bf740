//! The Chat Channel Webhook object (`WH…`): a conversation-scoped webhook
//! as Chat shows it, its filters in Chat's names.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::Vocabulary;
use crate::store::webhooks::ConversationWebhookRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
pub struct ChannelWebhook {
    account_sid: String,
    service_sid: String,
    channel_sid: String,
    sid: String,
    #[serde(rename = "type")]
    kind: String,
    configuration: Value,
    date_created: String,
    date_updated: String,
    url: String,
}

impl ChannelWebhook {
    pub fn new(row: ConversationWebhookRow, urls: &ChatUrls) -> Self {
        let mut configuration = Map::new();
        if let Some(url) = &row.url {
            configuration.insert("url".into(), url.clone().into());
        }
        configuration.insert("method".into(), row.method.clone().into());
        match row.target.as_str() {
            "webhook" => {
                configuration.insert("filters".into(), row.filters_in(Vocabulary::Chat).into());
            }
            "trigger" => {
                configuration.insert("triggers".into(), row.trigger_words().into());
            }
            _ => {}
        }
        if let Some(flow) = &row.flow_sid {
            configuration.insert("flow_sid".into(), flow.clone().into());
        }
        configuration.insert("retry_count".into(), row.retry_count.into());
        ChannelWebhook {
            url: format!("{}/Webhooks/{}", urls.channel(&row.conversation_sid), row.sid),
            configuration: Value::Object(configuration),
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            channel_sid: row.conversation_sid,
            sid: row.sid,
            kind: row.target,
        }
    }
}
