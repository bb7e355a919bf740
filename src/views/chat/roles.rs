//! The Chat Role object: `deployment`/`channel` types and Chat's
//! permission names for the same roles.

use serde::Serialize;

use crate::domain::Vocabulary;
use crate::store::roles::RoleRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
pub struct ChatRole {
    sid: String,
    account_sid: String,
    service_sid: String,
    friendly_name: String,
    #[serde(rename = "type")]
    role_type: &'static str,
    permissions: Vec<&'static str>,
    date_created: String,
    date_updated: String,
    url: String,
}

impl ChatRole {
    pub fn new(row: RoleRow, urls: &ChatUrls) -> Self {
        ChatRole {
            url: format!("{}/Roles/{}", urls.service, row.sid),
            role_type: row.role_type.name_in(Vocabulary::Chat),
            permissions: row.permissions.names_in(Vocabulary::Chat),
            sid: row.sid,
            account_sid: row.account_sid,
            service_sid: row.service_sid,
            friendly_name: row.friendly_name,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}
