//! The Role object.

use serde::Serialize;

use crate::api::Urls;
use crate::store::roles::RoleRow;
use crate::time;

#[derive(Serialize)]
pub struct Role {
    sid: String,
    account_sid: String,
    chat_service_sid: String,
    friendly_name: String,
    #[serde(rename = "type")]
    role_type: &'static str,
    permissions: Vec<&'static str>,
    date_created: String,
    date_updated: String,
    url: String,
}

impl Role {
    pub fn new(row: RoleRow, urls: &Urls) -> Self {
        Role {
            url: format!("{}/Roles/{}", urls.prefix, row.sid),
            permissions: row.permissions.names(),
            sid: row.sid,
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            friendly_name: row.friendly_name,
            role_type: row.role_type.as_str(),
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
