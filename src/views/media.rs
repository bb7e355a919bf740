//! The MCS Media object. As in Twilio's MCS, `url` and `links.content` are
//! relative; `links.content_direct_temporary` is absolute and freshly signed.

use serde::Serialize;

use crate::keys::signed_url::UrlSigner;
use crate::store::media::MediaRow;
use crate::time;

#[derive(Serialize)]
pub struct MediaLinks {
    content: String,
    content_direct_temporary: Option<String>,
}

#[derive(Serialize)]
pub struct Media {
    sid: String,
    account_sid: String,
    service_sid: String,
    date_created: String,
    date_upload_updated: String,
    date_updated: String,
    links: MediaLinks,
    size: i64,
    content_type: String,
    filename: Option<String>,
    author: String,
    category: String,
    message_sid: Option<String>,
    channel_sid: Option<String>,
    url: String,
    is_multipart_upstream: bool,
}

impl Media {
    pub fn new(row: MediaRow, public_url: &str, signer: &UrlSigner) -> Media {
        let url = format!("/v1/Services/{}/Media/{}", row.service_sid, row.sid);
        let content = format!("{url}/Content");
        let temporary = row.state.is_stored().then(|| {
            let (expires, signature) = signer.sign(&row.service_sid, &row.sid, time::now());
            format!("{public_url}{content}?Expires={expires}&Signature={signature}")
        });
        Media {
            links: MediaLinks { content, content_direct_temporary: temporary },
            url,
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            date_created: time::format(row.date_created),
            date_upload_updated: time::format(row.date_upload_updated),
            date_updated: time::format(row.date_updated),
            size: row.size,
            content_type: row.content_type,
            filename: row.filename,
            author: row.author,
            category: row.category,
            message_sid: row.message_sid,
            channel_sid: row.conversation_sid,
            is_multipart_upstream: false,
        }
    }
}
