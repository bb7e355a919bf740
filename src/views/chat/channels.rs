//! The Chat Channel object (a conversation), and its Chat v3 form.

use serde::Serialize;

use crate::store::channels::ChannelStats;
use crate::store::conversations::ConversationRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
struct ChannelLinks {
    members: String,
    messages: String,
    invites: String,
    webhooks: String,
    last_message: Option<String>,
}

#[derive(Serialize)]
pub struct Channel {
    sid: String,
    account_sid: String,
    service_sid: String,
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: String,
    #[serde(rename = "type")]
    channel_type: String,
    date_created: String,
    date_updated: String,
    created_by: String,
    members_count: i64,
    messages_count: i64,
    url: String,
    links: ChannelLinks,
}

impl Channel {
    pub fn new(row: ConversationRow, stats: ChannelStats, urls: &ChatUrls) -> Self {
        let url = urls.channel(&row.sid);
        Channel {
            links: ChannelLinks {
                members: format!("{url}/Members"),
                messages: format!("{url}/Messages"),
                invites: format!("{url}/Invites"),
                webhooks: format!("{url}/Webhooks"),
                last_message: stats.last_message.map(|m| format!("{url}/Messages/{m}")),
            },
            url,
            members_count: stats.members,
            messages_count: stats.messages,
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            friendly_name: row.friendly_name,
            unique_name: row.unique_name,
            attributes: row.attributes,
            channel_type: row.channel_type,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            created_by: row.created_by,
        }
    }
}

/// The channel as Chat v3's one operation answers: no `links`, and the
/// messaging service.
#[derive(Serialize)]
pub struct ChannelV3 {
    sid: String,
    account_sid: String,
    service_sid: String,
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: String,
    #[serde(rename = "type")]
    channel_type: String,
    date_created: String,
    date_updated: String,
    created_by: String,
    members_count: i64,
    messages_count: i64,
    messaging_service_sid: Option<String>,
    url: String,
}

impl ChannelV3 {
    pub fn new(row: ConversationRow, stats: ChannelStats, public_url: &str) -> Self {
        ChannelV3 {
            url: format!("{public_url}/v3/Services/{}/Channels/{}", row.service_sid, row.sid),
            members_count: stats.members,
            messages_count: stats.messages,
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            friendly_name: row.friendly_name,
            unique_name: row.unique_name,
            attributes: row.attributes,
            channel_type: row.channel_type,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            created_by: row.created_by,
            messaging_service_sid: row.messaging_service_sid,
        }
    }
}
