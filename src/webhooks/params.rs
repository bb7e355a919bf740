//! The form parameters of a post-event webhook request, as Twilio sends
//! them for each event (`../shared/reference/webhooks-and-events.md` §1.2):
//! every value a string, JSON-valued fields as JSON text, dates in ISO 8601
//! with milliseconds. A message's `Body` is always sent, empty when the
//! message has none, and its media as `Media`, Twilio's JSON string.
//! `RetryCount` is added per attempt, by the deliverer.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::domain::EventKind;
use crate::store::conversations::ConversationRow;
use crate::store::events::EventRow;
use crate::store::messages::MessageRow;
use crate::store::participants::ParticipantRow;
use crate::store::users::UserRow;

pub type Params = Vec<(String, String)>;

/// `2025-01-01T00:00:00.000Z`, as Twilio's webhooks spell dates.
pub fn date(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Builder(Params);

impl Builder {
    fn put(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((name.to_owned(), value.into()));
        self
    }

    fn opt(&mut self, name: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.put(name, v);
        }
        self
    }
}

/// The parameters of `event_type` for `event`. An event whose stored row
/// does not parse is an error: the log is written by this code only.
pub fn post_event(event: &EventRow, event_type: &str) -> serde_json::Result<Params> {
    let mut b = Builder(Vec::with_capacity(20));
    b.put("AccountSid", &event.account_sid)
        .put("ChatServiceSid", &event.service_sid)
        .put("EventType", event_type)
        .put("Source", event.source.as_deref().unwrap_or("API"))
        .opt("ClientIdentity", event.client_identity.as_deref());
    let removed = matches!(
        event.kind,
        EventKind::ConversationRemoved | EventKind::ParticipantLeft | EventKind::MessageRemoved
    );
    match event.kind {
        EventKind::ConversationAdded | EventKind::ConversationUpdated | EventKind::ConversationRemoved => {
            let c: ConversationRow = serde_json::from_str(&event.data)?;
            if event_type == "onConversationStateUpdated" {
                b.put("ConversationSid", &c.sid)
                    .put("StateTo", c.state.as_str())
                    .put("StateUpdated", date(c.date_updated))
                    .put("Reason", if event.source.is_none() { "TIMER" } else { "API" })
                    .opt("MessagingServiceSid", c.messaging_service_sid.as_deref());
            } else {
                b.0.extend(conversation(&c));
            }
        }
        EventKind::ParticipantJoined | EventKind::ParticipantUpdated | EventKind::ParticipantLeft => {
            let p: ParticipantRow = serde_json::from_str(&event.data)?;
            b.0.extend(participant(&p));
            if event.kind != EventKind::ParticipantJoined {
                b.put("DateUpdated", date(p.date_updated));
            }
            if event.kind == EventKind::ParticipantUpdated {
                b.opt("LastReadMessageIndex", p.last_read_message_index.map(|i| i.to_string()));
            }
        }
        EventKind::MessageAdded | EventKind::MessageUpdated | EventKind::MessageRemoved => {
            let m: MessageRow = serde_json::from_str(&event.data)?;
            b.put("ConversationSid", &m.conversation_sid)
                .put("MessageSid", &m.sid)
                .put("Index", m.msg_index.to_string())
                .put("DateCreated", date(m.date_created))
                .put("Body", m.body.as_deref().unwrap_or(""))
                .put("Author", &m.author)
                .opt("ParticipantSid", m.participant_sid.as_deref())
                .put("Attributes", &m.attributes)
                .opt("Media", media(m.media.as_deref()));
            if event.kind != EventKind::MessageAdded {
                b.put("DateUpdated", date(m.date_updated));
            }
        }
        EventKind::UserAdded | EventKind::UserUpdated => {
            let u: UserRow = serde_json::from_str(&event.data)?;
            b.0.extend(user(&u));
            if event.kind == EventKind::UserUpdated {
                b.put("DateUpdated", date(u.date_updated));
            }
        }
    }
    if removed {
        b.put("DateRemoved", date(event.date_created));
    }
    Ok(b.0)
}

/// A conversation's fields, as its events (and pre-event webhooks) carry them.
pub fn conversation(c: &ConversationRow) -> Params {
    let mut b = Builder(Vec::with_capacity(9));
    b.put("ConversationSid", &c.sid)
        .put("DateCreated", date(c.date_created))
        .put("DateUpdated", date(c.date_updated))
        .opt("FriendlyName", c.friendly_name.as_deref())
        .opt("UniqueName", c.unique_name.as_deref())
        .put("Attributes", &c.attributes)
        .opt("MessagingServiceSid", c.messaging_service_sid.as_deref())
        .put("State", c.state.as_str());
    b.0
}

/// A participant's fields, likewise.
pub fn participant(p: &ParticipantRow) -> Params {
    let mut b = Builder(Vec::with_capacity(10));
    b.put("ConversationSid", &p.conversation_sid)
        .put("ParticipantSid", &p.sid)
        .put("DateCreated", date(p.date_created))
        .opt("Identity", p.identity.as_deref())
        .put("RoleSid", &p.role_sid)
        .put("Attributes", &p.attributes)
        .opt("MessagingBinding.Address", p.binding_address.as_deref())
        .opt("MessagingBinding.ProxyAddress", p.binding_proxy_address.as_deref())
        .opt("MessagingBinding.ProjectedAddress", p.binding_projected_address.as_deref())
        .opt("MessagingBinding.Type", p.binding_type.as_deref());
    b.0
}

/// A user's fields, likewise.
pub fn user(u: &UserRow) -> Params {
    let mut b = Builder(Vec::with_capacity(6));
    b.put("UserSid", &u.sid)
        .put("DateCreated", date(u.date_created))
        .put("Identity", &u.identity)
        .put("RoleSid", &u.role_sid)
        .put("Attributes", &u.attributes)
        .opt("FriendlyName", u.friendly_name.as_deref());
    b.0
}

/// Sets `name` to `value` in `params` (replacing it, or adding it).
pub fn set(params: &mut Params, name: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != name);
    if let Some(value) = value {
        params.push((name.to_owned(), value.to_owned()));
    }
}

/// A message's media as webhooks carry it: a JSON array of
/// `{Sid, Filename, ContentType, Size, Category}`.
fn media(stored: Option<&str>) -> Option<String> {
    let items: Vec<Value> = serde_json::from_str(stored?).ok()?;
    let items: Vec<Value> = items
        .iter()
        .map(|m| {
            json!({
                "Sid": m.get("sid"),
                "Filename": m.get("filename"),
                "ContentType": m.get("content_type"),
                "Size": m.get("size"),
                "Category": m.get("category"),
            })
        })
        .collect();
    Some(Value::Array(items).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, data: Value) -> EventRow {
        EventRow {
            position: 1,
            account_sid: "AC1".into(),
            service_sid: "IS1".into(),
            conversation_sid: Some("CH1".into()),
            kind,
            resource_sid: "IM1".into(),
            data: data.to_string(),
            update_reasons: None,
            date_created: 1_700_000_000,
            source: Some("SDK".into()),
            client_identity: Some("alice".into()),
            webhooks: true,
        }
    }

    fn get<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
        p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_media_message_without_text_still_has_a_body_and_twilios_media_json() {
        let e = event(
            EventKind::MessageAdded,
            json!({"sid": "IM1", "account_sid": "AC1", "service_sid": "IS1", "conversation_sid": "CH1",
                   "msg_index": 3, "author": "alice", "body": null, "attributes": "{}",
                   "participant_sid": "MB1", "content_sid": null, "date_created": 1_700_000_000,
                   "date_updated": 1_700_000_000,
                   "media": r#"[{"sid":"ME1","size":5,"content_type":"image/png","filename":"a.png","category":"media"}]"#}),
        );
        let p = post_event(&e, "onMessageAdded").unwrap();
        assert_eq!(get(&p, "Body"), Some(""));
        assert_eq!(get(&p, "Index"), Some("3"));
        assert_eq!(get(&p, "Source"), Some("SDK"));
        assert_eq!(get(&p, "ClientIdentity"), Some("alice"));
        assert_eq!(get(&p, "DateCreated"), Some("2023-11-14T22:13:20.000Z"));
        let media: Value = serde_json::from_str(get(&p, "Media").unwrap()).unwrap();
        assert_eq!(
            media,
            json!([{"Sid": "ME1", "Filename": "a.png", "ContentType": "image/png", "Size": 5, "Category": "media"}])
        );
        assert_eq!(get(&p, "DateUpdated"), None);
    }
}
