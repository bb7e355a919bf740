//! The Credential object (push credentials), the same in Conversations
//! (`/v1/Credentials`) and Chat (`/v2/Credentials`). Secrets are never shown.

use serde::Serialize;

use crate::store::push_credentials::PushCredentialRow;
use crate::time;

#[derive(Serialize)]
pub struct PushCredential {
    sid: String,
    account_sid: String,
    friendly_name: Option<String>,
    #[serde(rename = "type")]
    credential_type: String,
    /// A string, as Twilio's is (`"True"`/`"False"`).
    sandbox: Option<&'static str>,
    date_created: String,
    date_updated: String,
    url: String,
}

impl PushCredential {
    /// `base`: `{public}/v1` or `{public}/v2`, as the request came in.
    pub fn new(row: PushCredentialRow, base: &str) -> Self {
        PushCredential {
            url: format!("{base}/Credentials/{}", row.sid),
            sandbox: row.sandbox.map(|s| if s { "True" } else { "False" }),
            sid: row.sid,
            account_sid: row.account_sid,
            friendly_name: row.friendly_name,
            credential_type: row.credential_type,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
