//! Chat's Binding objects (`BS…`): the service's (with `links.user`, the
//! user addressed by identity, as Twilio's did) and a user's (with
//! `user_sid`).

use serde::Serialize;

use crate::store::bindings::BindingRow;
use crate::time;

use super::{ChatUrls, path_segment};

#[derive(Serialize)]
struct BindingLinks {
    user: String,
}

#[derive(Serialize)]
pub struct Binding {
    sid: String,
    account_sid: String,
    service_sid: String,
    date_created: String,
    date_updated: String,
    endpoint: String,
    identity: String,
    credential_sid: String,
    binding_type: String,
    message_types: Vec<String>,
    url: String,
    links: BindingLinks,
}

impl Binding {
    pub fn new(row: BindingRow, urls: &ChatUrls) -> Self {
        Binding {
            url: format!("{}/Bindings/{}", urls.service, row.sid),
            links: BindingLinks { user: format!("{}/Users/{}", urls.service, path_segment(&row.identity)) },
            message_types: row.message_type_names(),
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            endpoint: row.endpoint,
            identity: row.identity,
            credential_sid: row.credential_sid,
            binding_type: row.binding_type,
        }
    }
}

#[derive(Serialize)]
pub struct UserBinding {
    sid: String,
    account_sid: String,
    service_sid: String,
    date_created: String,
    date_updated: String,
    endpoint: String,
    identity: String,
    user_sid: String,
    credential_sid: String,
    binding_type: String,
    message_types: Vec<String>,
    url: String,
}

impl UserBinding {
    pub fn new(row: BindingRow, urls: &ChatUrls) -> Self {
        UserBinding {
            url: format!("{}/Users/{}/Bindings/{}", urls.service, row.user_sid, row.sid),
            message_types: row.message_type_names(),
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            endpoint: row.endpoint,
            identity: row.identity,
            user_sid: row.user_sid,
            credential_sid: row.credential_sid,
            binding_type: row.binding_type,
        }
    }
}
