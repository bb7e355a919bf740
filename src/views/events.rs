//! A frame of the event stream: an event of the log, its row rendered
//! exactly as the REST API renders it (the service-path family,
//! `{public}/v1/Services/{IS}/…`, since an event belongs to a service).
//! Rendered once per event, whoever receives it.

use serde::Serialize;
use serde_json::Value;

use crate::api::Urls;
use crate::domain::EventKind;
use crate::store::conversations::ConversationRow;
use crate::store::events::EventRow;
use crate::store::messages::MessageRow;
use crate::store::participants::ParticipantRow;
use crate::store::users::UserRow;

use super::conversations::Conversation;
use super::messages::Message;
use super::participants::Participant;
use super::users::User;

#[derive(Serialize)]
pub struct Frame<'a> {
    pub position: i64,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub conversation_sid: Option<&'a str>,
    pub data: Value,
    pub update_reasons: Vec<String>,
}

/// The frame of `event`, with URLs under `v1` (`{public}/v1`). An event
/// whose stored row no longer parses is an error: the log is written by
/// this code only.
pub fn frame<'a>(event: &'a EventRow, v1: &str) -> serde_json::Result<Frame<'a>> {
    let urls = Urls::new(v1.to_owned(), Some(&event.service_sid));
    let data = match event.kind {
        EventKind::ConversationAdded | EventKind::ConversationUpdated | EventKind::ConversationRemoved => {
            let row: ConversationRow = serde_json::from_str(&event.data)?;
            serde_json::to_value(Conversation::new(row, &urls.prefix))?
        }
        EventKind::ParticipantJoined | EventKind::ParticipantUpdated | EventKind::ParticipantLeft => {
            let row: ParticipantRow = serde_json::from_str(&event.data)?;
            serde_json::to_value(Participant::new(row, &urls))?
        }
        EventKind::MessageAdded | EventKind::MessageUpdated | EventKind::MessageRemoved => {
            let row: MessageRow = serde_json::from_str(&event.data)?;
            serde_json::to_value(Message::new(row, &urls))?
        }
        EventKind::UserAdded | EventKind::UserUpdated => {
            let row: UserRow = serde_json::from_str(&event.data)?;
            serde_json::to_value(User::new(row, &urls))?
        }
    };
    let update_reasons = match &event.update_reasons {
        Some(text) => serde_json::from_str(text)?,
        None => Vec::new(),
    };
    Ok(Frame {
        position: event.position,
        kind: event.kind.as_str(),
        conversation_sid: event.conversation_sid.as_deref(),
        data,
        update_reasons,
    })
}
