//! The Conversation Service object.

use serde::Serialize;

use crate::store::services::ServiceRow;
use crate::time;

#[derive(Serialize)]
pub struct ServiceLinks {
    conversations: String,
    users: String,
    roles: String,
    bindings: String,
    configuration: String,
    participant_conversations: String,
    conversation_with_participants: String,
}

#[derive(Serialize)]
pub struct Service {
    account_sid: String,
    sid: String,
    friendly_name: String,
    date_created: String,
    date_updated: String,
    url: String,
    links: ServiceLinks,
}

impl Service {
    pub fn new(row: ServiceRow, v1: &str) -> Self {
        let url = format!("{v1}/Services/{}", row.sid);
        Service {
            links: ServiceLinks {
                conversations: format!("{url}/Conversations"),
                users: format!("{url}/Users"),
                roles: format!("{url}/Roles"),
                bindings: format!("{url}/Bindings"),
                configuration: format!("{url}/Configuration"),
                participant_conversations: format!("{url}/ParticipantConversations"),
                conversation_with_participants: format!("{url}/ConversationWithParticipants"),
            },
            url,
            account_sid: row.account_sid,
            sid: row.sid,
            friendly_name: row.friendly_name,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
