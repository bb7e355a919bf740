//! Programmable Chat's face on the webhooks: a service's configuration or
//! a channel-scoped webhook that speaks Chat (`api`, written through
//! `/v2`) is called with Chat's event names (`domain::event_names`) and
//! the parameters made here from Conversations' (`InstanceSid`,
//! `ChannelSid`, `From`, `MemberSid`, `MediaSid`, …).

use serde_json::Value;

use crate::domain::EventKind;
use crate::store::conversations::ConversationRow;
use crate::store::events::EventRow;
use crate::store::participants::ParticipantRow;

use super::params::Params;

/// Does a proposed action's Conversations `Media` parameter list anything?
pub fn proposed_has_media(params: &Params) -> bool {
    params.iter().any(|(k, v)| k == "Media" && v.starts_with("[{"))
}

/// The parameters of Chat's `chat_name` (Conversations' `event_type`) for
/// `event`: Conversations' renamed ([`params`]), with what only Chat
/// sends: a channel's `ChannelType` and `CreatedBy`, and why a member came
/// or went (`Reason`: `JOINED`/`LEFT` when the end user acted
/// on themselves, else `ADDED`/`REMOVED`).
pub fn post_event(event: &EventRow, event_type: &str, chat_name: &str) -> serde_json::Result<Params> {
    let mut out = params(chat_name, super::params::post_event(event, event_type)?);
    let mut put = |name: &str, value: &str| out.push((name.to_owned(), value.to_owned()));
    match event.kind {
        EventKind::ConversationAdded | EventKind::ConversationUpdated | EventKind::ConversationRemoved => {
            let c: ConversationRow = serde_json::from_str(&event.data)?;
            put("ChannelType", &c.channel_type);
            put("CreatedBy", &c.created_by);
        }
        EventKind::ParticipantJoined | EventKind::ParticipantLeft => {
            let p: ParticipantRow = serde_json::from_str(&event.data)?;
            let own = p.identity.is_some() && p.identity == event.client_identity;
            let reason = match (event.kind, own) {
                (EventKind::ParticipantJoined, true) => "JOINED",
                (EventKind::ParticipantJoined, false) => "ADDED",
                (_, true) => "LEFT",
                (_, false) => "REMOVED",
            };
            put("Reason", reason);
        }
        _ => {}
    }
    Ok(out)
}

/// Does the message `event` is about have media? (Chat names its events
/// by it.)
pub fn event_has_media(event: &EventRow) -> bool {
    #[derive(serde::Deserialize)]
    struct Media {
        media: Option<String>,
    }
    matches!(event.kind, EventKind::MessageAdded | EventKind::MessageUpdated | EventKind::MessageRemoved)
        && serde_json::from_str::<Media>(&event.data)
            .ok()
            .and_then(|m| m.media)
            .is_some_and(|m| m.starts_with("[{"))
}

/// Conversations' parameters of an event (or a proposed action) as Chat
/// sends them: `event_type` is Chat's name. Conversations-only fields are
/// left out; a message's first attachment becomes `MediaSid`,
/// `MediaFilename`, `MediaContentType`, `MediaSize`.
pub fn params(event_type: &str, conversations: Params) -> Params {
    let member_event = event_type.starts_with("onMember");
    let mut out = Params::with_capacity(conversations.len() + 4);
    for (name, value) in conversations {
        let renamed = match name.as_str() {
            "ChatServiceSid" => "InstanceSid",
            "ConversationSid" => "ChannelSid",
            "Author" => "From",
            "LastReadMessageIndex" => "LastConsumedMessageIndex",
            "ParticipantSid" if member_event => "MemberSid",
            "EventType" => {
                out.push((name, event_type.to_owned()));
                continue;
            }
            "Media" => {
                out.extend(first_media(&value));
                continue;
            }
            "ParticipantSid" | "State" | "MessagingServiceSid" => continue,
            other if other.starts_with("MessagingBinding.") => continue,
            _ => {
                out.push((name, value));
                continue;
            }
        };
        out.push((renamed.to_owned(), value));
    }
    out
}

/// `MediaSid` and, when known, the file's name, type and size, of the
/// first item of a Conversations `Media` JSON list.
fn first_media(json: &str) -> Params {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let Some(first) = items.first() else {
        return Vec::new();
    };
    [
        ("Sid", "MediaSid"),
        ("Filename", "MediaFilename"),
        ("ContentType", "MediaContentType"),
        ("Size", "MediaSize"),
    ]
    .iter()
    .filter_map(|(from, to)| {
        let value = match first.get(*from)? {
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        };
        Some(((*to).to_owned(), value))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renamed_and_media_flattened() {
        let p: Params = [
            ("AccountSid", "AC1"),
            ("ChatServiceSid", "IS1"),
            ("EventType", "onMessageAdded"),
            ("ConversationSid", "CH1"),
            ("Author", "alice"),
            ("ParticipantSid", "MB1"),
            ("Media", r#"[{"Sid":"ME1","Filename":"a.png","ContentType":"image/png","Size":5}]"#),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let chat = params("onMediaMessageSent", p);
        let get = |n: &str| chat.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("InstanceSid"), Some("IS1"));
        assert_eq!(get("EventType"), Some("onMediaMessageSent"));
        assert_eq!(get("ChannelSid"), Some("CH1"));
        assert_eq!(get("From"), Some("alice"));
        assert_eq!(get("MediaSid"), Some("ME1"));
        assert_eq!(get("MediaSize"), Some("5"));
        assert_eq!(get("ParticipantSid"), None);
        assert_eq!(get("MemberSid"), None);
        assert_eq!(get("ChatServiceSid"), None);
        assert_eq!(get("Media"), None);
    }
}
