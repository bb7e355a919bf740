//! The Chat User object, and a user's channel (UserChannel).

use serde::Serialize;

use crate::store::conversations::ConversationRow;
use crate::store::participants::ParticipantRow;
use crate::store::users::UserRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
struct UserLinks {
    user_channels: String,
    user_bindings: String,
}

#[derive(Serialize)]
pub struct ChatUser {
    sid: String,
    account_sid: String,
    service_sid: String,
    role_sid: String,
    identity: String,
    attributes: String,
    /// Presence is not tracked: unknown.
    is_online: Option<bool>,
    is_notifiable: Option<bool>,
    friendly_name: Option<String>,
    joined_channels_count: i64,
    date_created: String,
    date_updated: String,
    links: UserLinks,
    url: String,
}

impl ChatUser {
    pub fn new(row: UserRow, joined_channels: i64, urls: &ChatUrls) -> Self {
        let url = format!("{}/Users/{}", urls.service, row.sid);
        ChatUser {
            links: UserLinks {
                user_channels: format!("{url}/Channels"),
                user_bindings: format!("{url}/Bindings"),
            },
            url,
            joined_channels_count: joined_channels,
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            role_sid: row.role_sid,
            identity: row.identity,
            attributes: row.attributes,
            is_online: None,
            is_notifiable: None,
            friendly_name: row.friendly_name,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}

#[derive(Serialize)]
struct UserChannelLinks {
    channel: String,
    member: Option<String>,
}

#[derive(Serialize)]
pub struct UserChannel {
    account_sid: String,
    service_sid: String,
    channel_sid: String,
    user_sid: String,
    member_sid: Option<String>,
    /// `joined` (a member) or `invited` (an invite waits).
    status: &'static str,
    last_consumed_message_index: Option<i64>,
    unread_messages_count: Option<i64>,
    notification_level: Option<String>,
    url: String,
    links: UserChannelLinks,
}

impl UserChannel {
    pub fn new(p: ParticipantRow, c: ConversationRow, unread: Option<i64>, urls: &ChatUrls) -> Self {
        let user_sid = p.user_sid.clone().unwrap_or_default();
        let channel_url = urls.channel(&c.sid);
        UserChannel {
            url: format!("{}/Users/{}/Channels/{}", urls.service, user_sid, c.sid),
            links: UserChannelLinks {
                member: Some(format!("{channel_url}/Members/{}", p.sid)),
                channel: channel_url,
            },
            account_sid: c.account_sid,
            service_sid: c.service_sid,
            channel_sid: c.sid,
            user_sid,
            member_sid: Some(p.sid),
            status: "joined",
            last_consumed_message_index: p.last_read_message_index,
            unread_messages_count: unread,
            notification_level: Some(p.notification_level),
        }
    }

    /// A channel the user is invited to: no member yet.
    pub fn invited(user_sid: &str, c: ConversationRow, urls: &ChatUrls) -> Self {
        UserChannel {
            url: format!("{}/Users/{}/Channels/{}", urls.service, user_sid, c.sid),
            links: UserChannelLinks { member: None, channel: urls.channel(&c.sid) },
            account_sid: c.account_sid,
            service_sid: c.service_sid,
            channel_sid: c.sid,
            user_sid: user_sid.to_owned(),
            member_sid: None,
            status: "invited",
            last_consumed_message_index: None,
            unread_messages_count: None,
            notification_level: None,
        }
    }
}
