//! The Chat Message object: `from` for the author, `to` for the channel,
//! and at most one media object (a message sent through Conversations with
//! several shows its first).

use serde::Serialize;
use serde_json::{Value, json};

use crate::store::messages::MessageRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
pub struct ChatMessage {
    sid: String,
    account_sid: String,
    service_sid: String,
    to: String,
    channel_sid: String,
    date_created: String,
    date_updated: String,
    last_updated_by: Option<String>,
    was_edited: bool,
    from: String,
    attributes: String,
    body: Option<String>,
    index: i64,
    #[serde(rename = "type")]
    message_type: &'static str,
    media: Option<Value>,
    url: String,
}

/// The first attachment in Chat's shape: `sid, size, content_type, filename`.
fn first_media(summary: Option<&str>) -> Option<Value> {
    let all: Vec<Value> = serde_json::from_str(summary?).ok()?;
    let first = all.into_iter().next()?;
    Some(json!({
        "sid": first.get("sid"),
        "size": first.get("size"),
        "content_type": first.get("content_type"),
        "filename": first.get("filename"),
    }))
}

impl ChatMessage {
    pub fn new(row: MessageRow, urls: &ChatUrls) -> Self {
        let media = first_media(row.media.as_deref());
        ChatMessage {
            url: format!("{}/Messages/{}", urls.channel(&row.conversation_sid), row.sid),
            message_type: if media.is_some() { "media" } else { "text" },
            media,
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            to: row.conversation_sid.clone(),
            channel_sid: row.conversation_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            last_updated_by: row.last_updated_by,
            was_edited: row.was_edited,
            from: row.author,
            attributes: row.attributes,
            body: row.body,
            index: row.msg_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_attachment_is_shown_without_its_category() {
        let summary = r#"[{"sid":"ME1","size":3,"content_type":"image/png","filename":"a.png","category":"media"},
                          {"sid":"ME2","size":4,"content_type":"text/plain","filename":null,"category":"media"}]"#;
        let media = first_media(Some(summary)).unwrap();
        assert_eq!(media, json!({"sid":"ME1","size":3,"content_type":"image/png","filename":"a.png"}));
        assert_eq!(first_media(None), None);
        assert_eq!(first_media(Some("[]")), None);
    }
}
