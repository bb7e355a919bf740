//! The Media Content Service: upload, metadata, downloads (authenticated or
//! through short-lived signed URLs). Bytes are only ever stored sealed
//! (`crate::storage`); attaching to messages is part of a send.

pub mod download;
pub mod metadata;
pub mod upload;

use crate::auth::{ServiceScope, standing};
use crate::db::DbConnection;
use crate::error::{ApiError, Code};
use crate::sid::SidKind;
use crate::store::{self, media::MediaRow};

/// A media as the caller may see it: account credentials see all of the
/// service's; a user sees what it uploaded while unattached, and afterwards
/// what is attached in conversations it participates in. Anything else is
/// 404, as if it did not exist.
pub fn find_visible(conn: &mut DbConnection, scope: &ServiceScope, sid: &str) -> Result<MediaRow, ApiError> {
    let row = store::media::find(conn, &scope.service_sid, sid)?;
    let Some(user) = scope.end_user() else {
        return Ok(row);
    };
    match &row.conversation_sid {
        Some(conversation) => {
            standing::in_conversation(conn, scope, conversation)?;
        }
        None if row.author == user.identity => {}
        None => return Err(ApiError::NotFound),
    }
    Ok(row)
}

/// Checks the `MediaSid` values of a new message: present, well-formed,
/// distinct and not too many. Attaching happens in the send.
pub fn media_sids_param(values: Vec<&str>, max: usize) -> Result<Vec<String>, ApiError> {
    let mut sids: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if v.is_empty() {
            return Err(ApiError::client(Code::MediaSidMissing, "MediaSid is empty"));
        }
        if !SidKind::Media.matches(v) {
            return Err(ApiError::client(
                Code::MediaSidInvalid,
                format!("MediaSid {v:?} is not a Media SID (ME followed by 32 hex digits)"),
            ));
        }
        if sids.iter().any(|s| s == v) {
            return Err(ApiError::invalid_param("MediaSid", format!("{v} is given twice")));
        }
        sids.push(v.to_owned());
    }
    if sids.len() > max {
        return Err(ApiError::invalid_param("MediaSid", format!("at most {max} media per message")));
    }
    Ok(sids)
}
