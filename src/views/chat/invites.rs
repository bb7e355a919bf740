//! The Chat Invite object.

use serde::Serialize;

use crate::store::invites::InviteRow;
use crate::time;

use super::ChatUrls;

#[derive(Serialize)]
pub struct Invite {
    sid: String,
    account_sid: String,
    channel_sid: String,
    service_sid: String,
    identity: String,
    date_created: String,
    date_updated: String,
    role_sid: String,
    created_by: String,
    url: String,
}

impl Invite {
    pub fn new(row: InviteRow, urls: &ChatUrls) -> Self {
        Invite {
            url: format!("{}/Invites/{}", urls.channel(&row.conversation_sid), row.sid),
            sid: row.sid,
            account_sid: row.account_sid,
            channel_sid: row.conversation_sid,
            service_sid: row.service_sid,
            identity: row.identity,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
            role_sid: row.role_sid,
            created_by: row.created_by,
        }
    }
}
