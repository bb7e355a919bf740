//! Conversations' Service Binding object (`BS…`, a push registration).

use serde::Serialize;

use crate::api::Urls;
use crate::store::bindings::BindingRow;
use crate::time;

#[derive(Serialize)]
pub struct ServiceBinding {
    sid: String,
    account_sid: String,
    chat_service_sid: String,
    credential_sid: String,
    date_created: String,
    date_updated: String,
    endpoint: String,
    identity: String,
    binding_type: String,
    message_types: Vec<String>,
    url: String,
}

impl ServiceBinding {
    /// `urls`: the request's, under `/v1/Services/{IS}`.
    pub fn new(row: BindingRow, urls: &Urls) -> Self {
        ServiceBinding {
            url: format!("{}/Bindings/{}", urls.prefix, row.sid),
            message_types: row.message_type_names(),
            sid: row.sid,
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            credential_sid: row.credential_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            endpoint: row.endpoint,
            identity: row.identity,
            binding_type: row.binding_type,
        }
    }
}
