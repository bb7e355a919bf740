//! A participation seen from its user (`/Users/{US}/Conversations`) or from
//! an identity or address (`/ParticipantConversations`).

use serde::Serialize;
use serde_json::Value;

use crate::api::Urls;
use crate::store::conversations::ConversationRow;
use crate::store::participants::ParticipantRow;
use crate::time;

#[derive(Serialize)]
struct UserConversationLinks {
    participant: String,
    conversation: String,
}

#[derive(Serialize)]
pub struct UserConversation {
    account_sid: String,
    chat_service_sid: String,
    conversation_sid: String,
    unread_messages_count: Option<i64>,
    last_read_message_index: Option<i64>,
    participant_sid: String,
    user_sid: Option<String>,
    friendly_name: Option<String>,
    conversation_state: &'static str,
    timers: Value,
    attributes: String,
    date_created: String,
    date_updated: String,
    created_by: String,
    notification_level: String,
    unique_name: Option<String>,
    url: String,
    links: UserConversationLinks,
}

impl UserConversation {
    pub fn new(p: ParticipantRow, c: ConversationRow, unread: Option<i64>, urls: &Urls) -> Self {
        let user_sid = p.user_sid.clone().unwrap_or_default();
        let conversation_url = format!("{}/Conversations/{}", urls.prefix, c.sid);
        UserConversation {
            url: format!("{}/Users/{}/Conversations/{}", urls.prefix, user_sid, c.sid),
            links: UserConversationLinks {
                participant: format!("{conversation_url}/Participants/{}", p.sid),
                conversation: conversation_url,
            },
            timers: super::timers(&c),
            account_sid: c.account_sid,
            chat_service_sid: c.service_sid,
            conversation_sid: c.sid,
            unread_messages_count: unread,
            last_read_message_index: p.last_read_message_index,
            participant_sid: p.sid,
            user_sid: p.user_sid,
            friendly_name: c.friendly_name,
            conversation_state: c.state.as_str(),
            attributes: c.attributes,
            date_created: time::format(c.date_created),
            date_updated: time::format(c.date_updated),
            created_by: c.created_by,
            notification_level: p.notification_level,
            unique_name: c.unique_name,
        }
    }
}

#[derive(Serialize)]
struct ParticipantConversationLinks {
    participant: String,
    conversation: String,
}

#[derive(Serialize)]
pub struct ParticipantConversation {
    account_sid: String,
    chat_service_sid: String,
    participant_sid: String,
    participant_user_sid: Option<String>,
    participant_identity: Option<String>,
    participant_messaging_binding: Value,
    conversation_sid: String,
    conversation_unique_name: Option<String>,
    conversation_friendly_name: Option<String>,
    conversation_attributes: String,
    conversation_date_created: String,
    conversation_date_updated: String,
    conversation_created_by: String,
    conversation_state: &'static str,
    conversation_timers: Value,
    links: ParticipantConversationLinks,
}

impl ParticipantConversation {
    pub fn new(p: ParticipantRow, c: ConversationRow, urls: &Urls) -> Self {
        let conversation_url = format!("{}/Conversations/{}", urls.prefix, c.sid);
        ParticipantConversation {
            links: ParticipantConversationLinks {
                participant: format!("{conversation_url}/Participants/{}", p.sid),
                conversation: conversation_url,
            },
            participant_messaging_binding: super::messaging_binding(&p),
            conversation_timers: super::timers(&c),
            account_sid: c.account_sid,
            chat_service_sid: c.service_sid,
            participant_sid: p.sid,
            participant_user_sid: p.user_sid,
            participant_identity: p.identity,
            conversation_sid: c.sid,
            conversation_unique_name: c.unique_name,
            conversation_friendly_name: c.friendly_name,
            conversation_attributes: c.attributes,
            conversation_date_created: time::format(c.date_created),
            conversation_date_updated: time::format(c.date_updated),
            conversation_created_by: c.created_by,
            conversation_state: c.state.as_str(),
        }
    }
}
