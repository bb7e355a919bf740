//! The Chat Service object: one flat object with the settings Conversations
//! keeps in its service configuration, webhooks and limits.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::domain::Vocabulary;
use crate::store::services::ServiceRow;
use crate::store::webhooks::ServiceWebhooksRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
struct ServiceLinks {
    channels: String,
    users: String,
    roles: String,
    bindings: String,
}

#[derive(Serialize)]
pub struct ChatService {
    sid: String,
    account_sid: String,
    friendly_name: String,
    date_created: String,
    date_updated: String,
    default_service_role_sid: Option<String>,
    default_channel_role_sid: Option<String>,
    default_channel_creator_role_sid: Option<String>,
    read_status_enabled: bool,
    reachability_enabled: bool,
    typing_indicator_timeout: i64,
    consumption_report_interval: i64,
    limits: Value,
    pre_webhook_url: Option<String>,
    post_webhook_url: Option<String>,
    webhook_method: Option<String>,
    webhook_filters: Option<Vec<String>>,
    pre_webhook_retry_count: i64,
    post_webhook_retry_count: i64,
    notifications: Value,
    media: Value,
    url: String,
    links: ServiceLinks,
}

impl ChatService {
    /// `max_media_bytes`: the largest upload Confab takes (`media.size_limit_mb`).
    pub fn new(row: ServiceRow, hooks: ServiceWebhooksRow, max_media_bytes: u64, public_url: &str) -> Self {
        let urls = ChatUrls::new(public_url, &row.sid);
        let configured = hooks.pre_webhook_url.is_some() || hooks.post_webhook_url.is_some();
        let filters = hooks.filters_in(Vocabulary::Chat);
        ChatService {
            links: ServiceLinks {
                channels: format!("{}/Channels", urls.service),
                users: format!("{}/Users", urls.service),
                roles: format!("{}/Roles", urls.service),
                bindings: format!("{}/Bindings", urls.service),
            },
            url: urls.service,
            limits: json!({
                "channel_members": row.limit_channel_members,
                "user_channels": row.limit_user_channels,
            }),
            media: json!({
                "size_limit_mb": max_media_bytes / (1024 * 1024),
                "compatibility_message": row.media_compatibility_message,
            }),
            notifications: serde_json::from_str(&row.notifications)
                .unwrap_or_else(|_| Value::Object(Map::new())),
            pre_webhook_url: hooks.pre_webhook_url,
            post_webhook_url: hooks.post_webhook_url,
            webhook_method: configured.then_some(hooks.method),
            webhook_filters: configured.then_some(filters),
            pre_webhook_retry_count: hooks.pre_retry_count.into(),
            post_webhook_retry_count: hooks.post_retry_count.into(),
            sid: row.sid,
            account_sid: row.account_sid,
            friendly_name: row.friendly_name,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            default_service_role_sid: row.default_chat_service_role_sid,
            default_channel_role_sid: row.default_conversation_role_sid,
            default_channel_creator_role_sid: row.default_conversation_creator_role_sid,
            read_status_enabled: row.read_status_enabled,
            reachability_enabled: row.reachability_enabled,
            typing_indicator_timeout: row.typing_indicator_timeout,
            consumption_report_interval: row.consumption_report_interval,
        }
    }
}
