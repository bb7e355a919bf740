//! `/v1/Configuration` (the account's defaults) and
//! `/v1/Services/{IS}/Configuration` (a service's defaults).

use serde::Serialize;

use crate::store::accounts::AccountRow;
use crate::store::services::ServiceRow;

#[derive(Serialize)]
struct ConfigurationLinks {
    service: Option<String>,
    webhooks: String,
}

#[derive(Serialize)]
pub struct Configuration {
    account_sid: String,
    default_chat_service_sid: Option<String>,
    default_messaging_service_sid: Option<String>,
    default_inactive_timer: Option<String>,
    default_closed_timer: Option<String>,
    url: String,
    links: ConfigurationLinks,
}

impl Configuration {
    pub fn new(row: AccountRow, v1: &str) -> Self {
        Configuration {
            links: ConfigurationLinks {
                service: row.default_service_sid.as_ref().map(|s| format!("{v1}/Services/{s}/Configuration")),
                webhooks: format!("{v1}/Configuration/Webhooks"),
            },
            url: format!("{v1}/Configuration"),
            account_sid: row.sid,
            default_chat_service_sid: row.default_service_sid,
            default_messaging_service_sid: row.default_messaging_service_sid,
            default_inactive_timer: row.default_inactive_timer,
            default_closed_timer: row.default_closed_timer,
        }
    }
}

#[derive(Serialize)]
struct ServiceConfigurationLinks {
    notifications: String,
    webhooks: String,
}

#[derive(Serialize)]
pub struct ServiceConfiguration {
    chat_service_sid: String,
    default_conversation_creator_role_sid: Option<String>,
    default_conversation_role_sid: Option<String>,
    default_chat_service_role_sid: Option<String>,
    reachability_enabled: bool,
    /// Confab extension: the body of a message sent with media and no Body.
    media_compatibility_message: Option<String>,
    url: String,
    links: ServiceConfigurationLinks,
}

impl ServiceConfiguration {
    pub fn new(row: ServiceRow, v1: &str) -> Self {
        let url = format!("{v1}/Services/{}/Configuration", row.sid);
        ServiceConfiguration {
            links: ServiceConfigurationLinks {
                notifications: format!("{url}/Notifications"),
                webhooks: format!("{url}/Webhooks"),
            },
            url,
            chat_service_sid: row.sid,
            default_conversation_creator_role_sid: row.default_conversation_creator_role_sid,
            default_conversation_role_sid: row.default_conversation_role_sid,
            default_chat_service_role_sid: row.default_chat_service_role_sid,
            reachability_enabled: row.reachability_enabled,
            media_compatibility_message: row.media_compatibility_message,
        }
    }
}
