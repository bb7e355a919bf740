//! Media (`ME…`) rows. A row is written before its bytes (`uploading`),
//! becomes `ready` once the encrypted object is stored, and `attached` when
//! a message takes it. Deleting a row (directly, or by the cascade from its
//! message, conversation or service) queues its object in
//! `storage_deletions` by trigger, so no path can forget an object.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::json;

use crate::db::DbConnection;
use crate::db::schema::media;
use crate::domain::MediaState;
use crate::sid::SidKind;

use super::{OptionalRow, StoreError, StoreResult, Unattachable};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = media)]
pub struct MediaRow {
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    #[diesel(deserialize_as = String)]
    pub state: MediaState,
    pub content_type: String,
    pub filename: Option<String>,
    pub category: String,
    pub author: String,
    pub size: i64,
    /// What the ETag derives from, set when the upload completes (see
    /// `storage::ingest::DIGEST_PREFIX`).
    pub digest: Option<String>,
    pub object_key: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub nonce_prefix: Vec<u8>,
    pub message_sid: Option<String>,
    pub conversation_sid: Option<String>,
    pub position: Option<i64>,
    pub date_created: i64,
    pub date_upload_updated: i64,
    pub date_updated: i64,
}

impl MediaRow {
    /// A strong validator: the stored object's digest. Rows stored before
    /// digests covered the tags have none; their SID serves, as content
    /// never changes under a SID.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.digest.as_deref().unwrap_or(&self.sid))
    }
}

#[derive(Insertable)]
#[diesel(table_name = media, treat_none_as_default_value = false)]
pub struct NewMedia<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub state: &'a str,
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub category: &'a str,
    pub author: &'a str,
    pub size: i64,
    pub object_key: &'a str,
    pub key_id: &'a str,
    pub wrapped_key: &'a [u8],
    pub nonce_prefix: &'a [u8],
    pub date_created: i64,
    pub date_upload_updated: i64,
    pub date_updated: i64,
}

pub fn insert(conn: &mut DbConnection, row: &NewMedia<'_>) -> StoreResult<()> {
    diesel::insert_into(media::table).values(row).execute(conn)?;
    Ok(())
}

/// A media of the service by SID (a malformed SID, or another service's
/// media, is not found).
pub fn find(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<MediaRow> {
    if !SidKind::Media.matches(sid) {
        return Err(StoreError::NotFound);
    }
    Ok(media::table
        .filter(media::sid.eq(sid))
        .filter(media::service_sid.eq(service_sid))
        .select(MediaRow::as_select())
        .get_result(conn)?)
}

/// How many media `author` uploaded in the service that no message holds
/// (uploading or stored), and their bytes (`media_unattached_author`).
pub fn unattached_of(conn: &mut DbConnection, service_sid: &str, author: &str) -> StoreResult<(i64, i64)> {
    Ok(media::table
        .filter(media::service_sid.eq(service_sid))
        .filter(media::author.eq(author))
        .filter(media::state.ne(MediaState::Attached.as_str()))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::sql::<BigInt>("CAST(COALESCE(SUM(size), 0) AS BIGINT)"),
        ))
        .get_result(conn)?)
}

/// An upload is alive: the collector leaves rows touched recently alone.
pub fn touch(conn: &mut DbConnection, sid: &str, now: i64) -> StoreResult<()> {
    diesel::update(media::table.filter(media::sid.eq(sid))).set(media::date_updated.eq(now)).execute(conn)?;
    Ok(())
}

/// Records the multipart upload an upload's bytes are going into, so the
/// collector can abort it if this process dies before it completes.
pub fn record_multipart(conn: &mut DbConnection, sid: &str, multipart_id: &str) -> StoreResult<()> {
    diesel::update(
        media::table.filter(media::sid.eq(sid)).filter(media::state.eq(MediaState::Uploading.as_str())),
    )
    .set(media::multipart_id.eq(multipart_id))
    .execute(conn)?;
    Ok(())
}

/// Marks an upload's bytes stored. `None` if the row is gone or no longer
/// uploading (its service was deleted, or the collector took it).
pub fn mark_ready(
    conn: &mut DbConnection,
    service_sid: &str,
    sid: &str,
    size: i64,
    digest: &str,
    now: i64,
) -> StoreResult<Option<MediaRow>> {
    let n = diesel::update(
        media::table.filter(media::sid.eq(sid)).filter(media::state.eq(MediaState::Uploading.as_str())),
    )
    .set((
        media::state.eq(MediaState::Ready.as_str()),
        // The multipart upload completed: nothing left to abort.
        media::multipart_id.eq(None::<String>),
        media::size.eq(size),
        media::digest.eq(digest),
        media::date_upload_updated.eq(now),
        media::date_updated.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    find(conn, service_sid, sid).map(Some)
}

pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(media::table.filter(media::sid.eq(sid))).execute(conn)?;
    Ok(())
}

/// Removes an upload that failed or was given up. Its multipart upload
/// goes to the deletion queue with it (for the collector to abort) unless
/// the upload aborted it itself.
pub fn delete_upload(conn: &mut DbConnection, sid: &str, multipart_aborted: bool) -> StoreResult<()> {
    if multipart_aborted {
        diesel::update(media::table.filter(media::sid.eq(sid)))
            .set(media::multipart_id.eq(None::<String>))
            .execute(conn)?;
    }
    delete(conn, sid)
}

/// Who uploaded a media of the service, if it exists.
pub fn author(conn: &mut DbConnection, service_sid: &str, sid: &str) -> StoreResult<Option<String>> {
    media::table
        .filter(media::sid.eq(sid))
        .filter(media::service_sid.eq(service_sid))
        .select(media::author)
        .get_result(conn)
        .found()
}

/// The message media is attached to.
pub struct Owner<'a> {
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub conversation_sid: &'a str,
    pub message_sid: &'a str,
}

/// Attaches `sids` (in order) to a just-created message, in the caller's
/// transaction. Each media must be the account's and service's and `ready`
/// (uploaded, not attached elsewhere); together they may total at most
/// `max_total` bytes. The conditional UPDATE takes the row, so of two
/// messages racing for one media exactly one wins. With `uploaded_by` (a
/// user's message), only media that identity uploaded exist. Returns the
/// message's media summary: a JSON array of (sid, size, content_type,
/// filename, category) per media.
pub fn attach(
    conn: &mut DbConnection,
    message: &Owner<'_>,
    sids: &[String],
    uploaded_by: Option<&str>,
    max_total: u64,
    now: i64,
) -> StoreResult<String> {
    for (position, sid) in sids.iter().enumerate() {
        if let Some(identity) = uploaded_by
            && author(conn, message.service_sid, sid)?.as_deref() != Some(identity)
        {
            return Err(StoreError::MediaUnattachable { sid: sid.clone(), why: Unattachable::Missing });
        }
        let in_scope = media::table
            .filter(media::sid.eq(sid))
            .filter(media::account_sid.eq(message.account_sid))
            .filter(media::service_sid.eq(message.service_sid));
        let taken = diesel::update(in_scope.filter(media::state.eq(MediaState::Ready.as_str())))
            .set((
                media::state.eq(MediaState::Attached.as_str()),
                media::message_sid.eq(message.message_sid),
                media::conversation_sid.eq(message.conversation_sid),
                media::position.eq(position as i64),
                media::date_updated.eq(now),
            ))
            .execute(conn)?;
        if taken == 0 {
            let state: Option<String> = in_scope.select(media::state).get_result(conn).found()?;
            let why = match state.as_deref().and_then(MediaState::parse) {
                Some(MediaState::Uploading) => Unattachable::StillUploading,
                Some(MediaState::Attached) => Unattachable::AlreadyAttached,
                _ => Unattachable::Missing,
            };
            return Err(StoreError::MediaUnattachable { sid: sid.clone(), why });
        }
    }
    let attached: Vec<(String, i64, String, Option<String>, String)> = media::table
        .filter(media::message_sid.eq(message.message_sid))
        .order(media::position.asc())
        .select((media::sid, media::size, media::content_type, media::filename, media::category))
        .load(conn)?;
    let total: u64 = attached.iter().map(|m| m.1.max(0) as u64).sum();
    if total > max_total {
        return Err(StoreError::MediaTooLarge { max: max_total, total });
    }
    let summary: Vec<serde_json::Value> = attached
        .into_iter()
        .map(|(sid, size, content_type, filename, category)| {
            json!({"sid": sid, "size": size, "content_type": content_type, "filename": filename, "category": category})
        })
        .collect();
    Ok(serde_json::Value::Array(summary).to_string())
}

/// Deletes up to `batch` expired media rows: `ready` ones uploaded before
/// `ready_before`, `uploading` ones last touched before `stale_before`. The
/// delete trigger queues their objects. On PostgreSQL rows are claimed with
/// `SKIP LOCKED`, so collectors on several instances do not collide.
pub fn expire(
    conn: &mut DbConnection,
    ready_before: i64,
    stale_before: i64,
    batch: i64,
) -> StoreResult<usize> {
    let lock = if conn.is_sqlite() { "" } else { " FOR UPDATE SKIP LOCKED" };
    let sql = format!(
        "DELETE FROM media WHERE sid IN (SELECT sid FROM media \
         WHERE (state = 'ready' AND date_upload_updated < $1) OR (state = 'uploading' AND date_updated < $2) \
         LIMIT {batch}{lock})"
    );
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(ready_before)
        .bind::<BigInt, _>(stale_before)
        .execute(conn)?)
}

/// Media whose data key is wrapped under another master key than `key_id`,
/// at most `batch`: (sid, key id, wrapped key).
pub fn wrapped_elsewhere(
    conn: &mut DbConnection,
    key_id: &str,
    batch: i64,
) -> StoreResult<Vec<(String, String, Vec<u8>)>> {
    Ok(media::table
        .filter(media::key_id.ne(key_id))
        .select((media::sid, media::key_id, media::wrapped_key))
        .limit(batch)
        .load(conn)?)
}

/// Stores a re-wrapped data key, if nobody changed the row meanwhile.
pub fn rewrap(
    conn: &mut DbConnection,
    sid: &str,
    old_key_id: &str,
    key_id: &str,
    wrapped: &[u8],
) -> StoreResult<()> {
    diesel::update(media::table.filter(media::sid.eq(sid)).filter(media::key_id.eq(old_key_id)))
        .set((media::key_id.eq(key_id), media::wrapped_key.eq(wrapped)))
        .execute(conn)?;
    Ok(())
}
