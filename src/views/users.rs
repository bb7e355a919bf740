//! The User object.

use serde::Serialize;

use crate::api::Urls;
use crate::store::users::UserRow;
use crate::time;

#[derive(Serialize)]
pub struct UserLinks {
    user_conversations: String,
}

#[derive(Serialize)]
pub struct User {
    sid: String,
    account_sid: String,
    chat_service_sid: String,
    role_sid: String,
    identity: String,
    friendly_name: Option<String>,
    attributes: String,
    /// Presence is not tracked (no realtime connection yet): unknown.
    is_online: Option<bool>,
    is_notifiable: Option<bool>,
    date_created: String,
    date_updated: String,
    url: String,
    links: UserLinks,
}

impl User {
    pub fn new(row: UserRow, urls: &Urls) -> Self {
        let url = format!("{}/Users/{}", urls.prefix, row.sid);
        User {
            links: UserLinks { user_conversations: format!("{url}/Conversations") },
            url,
            sid: row.sid,
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            role_sid: row.role_sid,
            identity: row.identity,
            friendly_name: row.friendly_name,
            attributes: row.attributes,
            is_online: None,
            is_notifiable: None,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
