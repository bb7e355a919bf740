//! Webhook configuration objects: a service's
//! (`/v1/Services/{IS}/Configuration/Webhooks`), the account's
//! (`/v1/Configuration/Webhooks`, the default service's), and the
//! conversation-scoped webhook (`WH…`).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::Urls;
use crate::domain::Vocabulary;
use crate::store::webhooks::{ConversationWebhookRow, ServiceWebhooksRow};
use crate::time;

#[derive(Serialize)]
pub struct ServiceWebhooks {
    account_sid: String,
    chat_service_sid: String,
    pre_webhook_url: Option<String>,
    post_webhook_url: Option<String>,
    filters: Vec<String>,
    method: String,
    url: String,
}

impl ServiceWebhooks {
    pub fn new(row: ServiceWebhooksRow, v1: &str) -> Self {
        ServiceWebhooks {
            url: format!("{v1}/Services/{}/Configuration/Webhooks", row.service_sid),
            filters: row.filters_in(Vocabulary::Conversations),
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            pre_webhook_url: row.pre_webhook_url,
            post_webhook_url: row.post_webhook_url,
            method: row.method,
        }
    }
}

#[derive(Serialize)]
pub struct AccountWebhooks {
    account_sid: String,
    method: String,
    filters: Vec<String>,
    pre_webhook_url: Option<String>,
    post_webhook_url: Option<String>,
    target: String,
    url: String,
}

impl AccountWebhooks {
    pub fn new(row: ServiceWebhooksRow, v1: &str) -> Self {
        AccountWebhooks {
            url: format!("{v1}/Configuration/Webhooks"),
            filters: row.filters_in(Vocabulary::Conversations),
            account_sid: row.account_sid,
            method: row.method,
            pre_webhook_url: row.pre_webhook_url,
            post_webhook_url: row.post_webhook_url,
            target: row.target,
        }
    }
}

#[derive(Serialize)]
pub struct ConversationWebhook {
    sid: String,
    account_sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_service_sid: Option<String>,
    conversation_sid: String,
    target: String,
    url: String,
    configuration: Value,
    date_created: String,
    date_updated: String,
}

impl ConversationWebhook {
    pub fn new(row: ConversationWebhookRow, urls: &Urls) -> Self {
        // Only what the target uses, as Twilio shows it; the method in the
        // spelling the parameter takes.
        let mut configuration = Map::new();
        if let Some(url) = &row.url {
            configuration.insert("url".into(), url.clone().into());
        }
        if row.target != "studio" {
            configuration.insert("method".into(), row.method.to_ascii_lowercase().into());
        }
        match row.target.as_str() {
            "webhook" => {
                configuration.insert("filters".into(), row.filters_in(Vocabulary::Conversations).into());
            }
            "trigger" => {
                configuration.insert("triggers".into(), row.trigger_words().into());
            }
            _ => {}
        }
        if let Some(flow) = &row.flow_sid {
            configuration.insert("flow_sid".into(), flow.clone().into());
        }
        if let Some(after) = row.replay_after {
            configuration.insert("replay_after".into(), after.into());
        }
        ConversationWebhook {
            url: format!("{}/Conversations/{}/Webhooks/{}", urls.prefix, row.conversation_sid, row.sid),
            chat_service_sid: urls.chat_service_sid().map(str::to_owned),
            configuration: Value::Object(configuration),
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            sid: row.sid,
            account_sid: row.account_sid,
            conversation_sid: row.conversation_sid,
            target: row.target,
        }
    }
}
