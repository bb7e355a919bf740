//! The Media Content Service: upload, metadata, downloads (authenticated or
//! through short-lived signed URLs), attachment to messages, and collection
//! of what nobody attached. Bytes are only ever stored encrypted.

pub mod crypto;
pub mod download;
pub mod gc;
pub mod handlers;
pub mod keys;
pub mod rotate;
pub mod signed_url;
pub mod store;
pub mod upload;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix_web::web;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::api::{ServiceScope, time};
use crate::config::{Config, MediaConfig};
use crate::db::DbConnection;
use crate::db::schema::{media, messages};
use crate::error::{ApiError, codes};
use crate::sid::SidKind;

use crypto::{ContentCipher, CryptoError, Keyring, SecretKey};
use keys::KeySource;
use signed_url::UrlSigner;
use store::Storage;

/// Uploads that may stream at once; more wait their turn, which bounds the
/// memory uploads can hold (each buffers at most a few object-store parts).
const CONCURRENT_UPLOADS: usize = 16;

/// How often, at most, a running server looks at its key file for a
/// rotation (a `stat` on the blocking pool).
const KEY_FILE_CHECK: Duration = Duration::from_secs(1);

pub struct MediaState {
    pub storage: Storage,
    keys: RwLock<Keys>,
    key_source: KeySource,
    /// The key file as last seen, and when it was last looked at.
    key_file: Mutex<(Instant, Option<keys::FileStamp>)>,
    pub config: MediaConfig,
    /// Wakes the collector to delete objects right after a commit.
    pub collector: Notify,
    pub uploads: Semaphore,
}

/// The master keys in use and the URL signer derived from them, replaced
/// together when the key file changes.
struct Keys {
    keyring: Keyring,
    signer: Arc<UrlSigner>,
}

impl MediaState {
    pub fn new(config: &Config) -> Result<MediaState, String> {
        let storage = Storage::open(&config.media.storage).map_err(|e| format!("CONFAB_STORAGE_URL: {e}"))?;
        let (keyring, key_source) = keys::load(config).map_err(|e| format!("CONFAB_MASTER_KEY: {e}"))?;
        let stamp = match &key_source {
            KeySource::File(path) => keys::stamp(path).ok(),
            KeySource::Environment => None,
        };
        let ttl_secs = config.media.url_ttl.as_secs() as i64;
        let signer = Arc::new(UrlSigner::for_keyring(&keyring, ttl_secs));
        Ok(MediaState {
            storage,
            keys: RwLock::new(Keys { keyring, signer }),
            key_source,
            key_file: Mutex::new((Instant::now(), stamp)),
            config: config.media.clone(),
            collector: Notify::new(),
            uploads: Semaphore::new(CONCURRENT_UPLOADS),
        })
    }

    pub fn keyring(&self) -> Keyring {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).keyring.clone()
    }

    /// Signs temporary URLs with the current master key; verifies them with
    /// any known one.
    pub fn signer(&self) -> Arc<UrlSigner> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).signer.clone()
    }

    fn install(&self, keyring: Keyring, stamp: Option<keys::FileStamp>) {
        let signer = Arc::new(UrlSigner::for_keyring(&keyring, self.config.url_ttl.as_secs() as i64));
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Keys { keyring, signer };
        self.key_file.lock().unwrap_or_else(PoisonError::into_inner).1 = stamp;
    }

    /// Follows `confab admin rotate-master-key` under a running server: with
    /// a key file, looks at it (at most once per [`KEY_FILE_CHECK`]) and
    /// reloads the keys if it changed. Uploads call this before wrapping
    /// their data key, so new media use the new key within about a second.
    /// URLs signed before a reload still verify: the old key stays known.
    pub async fn refresh_keys(&self) {
        let KeySource::File(path) = &self.key_source else {
            return;
        };
        let seen = {
            let mut key_file = self.key_file.lock().unwrap_or_else(PoisonError::into_inner);
            if key_file.0.elapsed() < KEY_FILE_CHECK {
                return;
            }
            key_file.0 = Instant::now();
            key_file.1.clone()
        };
        let path = path.clone();
        let read = web::block(move || {
            let stamp = keys::stamp(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if seen.as_ref() == Some(&stamp) {
                return Ok(None);
            }
            Ok::<_, String>(Some((keys::read_key_files(keys::key_dir(&path))?, stamp)))
        })
        .await;
        match read {
            Ok(Ok(None)) => {}
            Ok(Ok(Some((keyring, stamp)))) => {
                tracing::info!(key_id = %keyring.current_id(), "the master key file changed; new media use its key");
                self.install(keyring, Some(stamp));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "checking the master key file failed; keeping the keys in use")
            }
            Err(e) => {
                tracing::warn!(error = %e, "checking the master key file failed; keeping the keys in use")
            }
        }
    }

    /// Re-reads the key files now; `false` if the keys come from the
    /// environment or the files cannot be read.
    async fn reload_keys(&self) -> bool {
        let KeySource::File(path) = &self.key_source else {
            return false;
        };
        let path = path.clone();
        let read = web::block(move || {
            let stamp = keys::stamp(&path).ok();
            keys::read_key_files(keys::key_dir(&path)).map(|keyring| (keyring, stamp))
        })
        .await;
        match read {
            Ok(Ok((keyring, stamp))) => {
                self.install(keyring, stamp);
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "re-reading the master key files failed");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-reading the master key files failed");
                false
            }
        }
    }

    /// The keyring, for opening something sealed under `key_id`. A key id
    /// this process does not know may come from a `rotate-master-key` run
    /// since the last look at the key file (it re-seals media data keys and
    /// API key secrets alike): re-read the file once before giving up.
    pub async fn keyring_for(&self, key_id: &str) -> Keyring {
        let keyring = self.keyring();
        if keyring.knows(key_id) || !self.reload_keys().await {
            return keyring;
        }
        self.keyring()
    }

    /// Opens a media's data key.
    pub async fn content_cipher(&self, row: &MediaRow) -> Result<ContentCipher, CryptoError> {
        let data_key = self.keyring_for(&row.key_id).await.unwrap(&row.sid, &row.key_id, &row.wrapped_key)?;
        ContentCipher::new(&data_key, &row.nonce_prefix, &row.sid)
    }
}

pub const STATE_UPLOADING: &str = "uploading";
pub const STATE_READY: &str = "ready";
pub const STATE_ATTACHED: &str = "attached";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = media)]
pub struct MediaRow {
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub state: String,
    pub content_type: String,
    pub filename: Option<String>,
    pub category: String,
    pub author: String,
    pub size: i64,
    /// What the ETag derives from, set when the upload completes (see
    /// [`upload::DIGEST_PREFIX`]).
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
    /// Content can be read once the upload completed.
    pub fn is_stored(&self) -> bool {
        self.state == STATE_READY || self.state == STATE_ATTACHED
    }

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

/// A media of the service by SID (404 for malformed SIDs and for media of
/// other services or accounts).
pub fn find(conn: &mut DbConnection, service_sid: &str, sid: &str) -> Result<MediaRow, ApiError> {
    if !SidKind::Media.matches(sid) {
        return Err(ApiError::NotFound);
    }
    media::table
        .filter(media::sid.eq(sid))
        .filter(media::service_sid.eq(service_sid))
        .select(MediaRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// A media as the caller may see it: account credentials see all of the
/// service's; a user sees what it uploaded while unattached, and afterwards
/// what is attached in conversations it participates in. Anything else is
/// 404, as if it did not exist.
pub fn find_visible(conn: &mut DbConnection, scope: &ServiceScope, sid: &str) -> Result<MediaRow, ApiError> {
    let row = find(conn, &scope.service_sid, sid)?;
    let Some(user) = scope.end_user() else {
        return Ok(row);
    };
    match &row.conversation_sid {
        Some(conversation) => {
            crate::roles::access::in_conversation(conn, scope, conversation)?;
        }
        None if row.author == user.identity => {}
        None => return Err(ApiError::NotFound),
    }
    Ok(row)
}

#[derive(Serialize)]
pub struct MediaLinks {
    content: String,
    content_direct_temporary: Option<String>,
}

/// The MCS Media object. As in Twilio's MCS, `url` and `links.content` are
/// relative; `links.content_direct_temporary` is absolute and freshly signed.
#[derive(Serialize)]
pub struct MediaView {
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

impl MediaView {
    pub fn new(row: MediaRow, public_url: &str, signer: &UrlSigner) -> MediaView {
        let url = format!("/v1/Services/{}/Media/{}", row.service_sid, row.sid);
        let content = format!("{url}/Content");
        let temporary = row.is_stored().then(|| {
            let (expires, signature) = signer.sign(&row.service_sid, &row.sid, time::now());
            format!("{public_url}{content}?Expires={expires}&Signature={signature}")
        });
        MediaView {
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

fn invalid_media(sid: &str, why: &str) -> ApiError {
    ApiError::bad_request(codes::MEDIA_SID_INVALID, format!("Media {sid} cannot be attached: {why}"))
}

/// Checks the `MediaSid` values of a new message: present, well-formed,
/// distinct and not too many. Attaching happens in [`attach`].
pub fn media_sids_param(values: Vec<&str>, max: usize) -> Result<Vec<String>, ApiError> {
    let mut sids: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if v.is_empty() {
            return Err(ApiError::bad_request(codes::MEDIA_SID_MISSING, "MediaSid is empty"));
        }
        if !SidKind::Media.matches(v) {
            return Err(ApiError::bad_request(
                codes::MEDIA_SID_INVALID,
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

/// Attaches `sids` (in order) to a just-created message, in the caller's
/// transaction. Each media must be this account's and service's, `ready`
/// (uploaded, not attached elsewhere); the combined size must fit. The
/// conditional UPDATE takes the row, so of two messages racing for one
/// media exactly one wins.
pub fn attach(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    message_sid: &str,
    conversation_sid: &str,
    sids: &[String],
    max_total: u64,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let now = time::now();
    for (position, sid) in sids.iter().enumerate() {
        // A user attaches only what it uploaded; another's media does not
        // exist for it.
        if let Some(user) = scope.end_user() {
            let author: Option<String> = media::table
                .filter(media::sid.eq(sid))
                .filter(media::service_sid.eq(&scope.service_sid))
                .select(media::author)
                .get_result(conn)
                .optional()?;
            if author.as_deref() != Some(user.identity.as_str()) {
                return Err(invalid_media(sid, "no media with that SID exists in this service"));
            }
        }
        let taken = diesel::update(
            media::table
                .filter(media::sid.eq(sid))
                .filter(media::account_sid.eq(scope.account_sid()))
                .filter(media::service_sid.eq(&scope.service_sid))
                .filter(media::state.eq(STATE_READY)),
        )
        .set((
            media::state.eq(STATE_ATTACHED),
            media::message_sid.eq(message_sid),
            media::conversation_sid.eq(conversation_sid),
            media::position.eq(position as i64),
            media::date_updated.eq(now),
        ))
        .execute(conn)?;
        if taken == 0 {
            let state: Option<String> = media::table
                .filter(media::sid.eq(sid))
                .filter(media::account_sid.eq(scope.account_sid()))
                .filter(media::service_sid.eq(&scope.service_sid))
                .select(media::state)
                .get_result(conn)
                .optional()?;
            return Err(match state.as_deref() {
                Some(STATE_UPLOADING) => invalid_media(sid, "its upload has not completed"),
                Some(STATE_ATTACHED) => invalid_media(sid, "it is already attached to a message"),
                _ => invalid_media(sid, "no media with that SID exists in this service"),
            });
        }
    }
    let attached: Vec<(String, i64, String, Option<String>, String)> = media::table
        .filter(media::message_sid.eq(message_sid))
        .order(media::position.asc())
        .select((media::sid, media::size, media::content_type, media::filename, media::category))
        .load(conn)?;
    let total: u64 = attached.iter().map(|m| m.1.max(0) as u64).sum();
    if total > max_total {
        return Err(ApiError::bad_request(
            codes::MEDIA_TOO_LARGE,
            format!("The media of a message may total at most {max_total} bytes; these total {total}"),
        ));
    }
    let summary: Vec<serde_json::Value> = attached
        .into_iter()
        .map(|(sid, size, content_type, filename, category)| {
            json!({"sid": sid, "size": size, "content_type": content_type, "filename": filename, "category": category})
        })
        .collect();
    let text = serde_json::to_string(&summary).map_err(ApiError::internal)?;
    diesel::update(messages::table.filter(messages::sid.eq(message_sid)))
        .set(messages::media.eq(text))
        .execute(conn)?;
    Ok(summary)
}

/// Media routes, under `/v1/Services/{service}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/Media").post(handlers::create))
        .service(web::resource("/MediaSet").post(handlers::media_set))
        .service(web::resource("/Media/{media}").get(handlers::fetch))
        .service(web::resource("/Media/{media}/Content").get(download::content));
}

/// Sealed bytes and plaintext size of a media, as the content cipher sees it.
pub fn stored_len(size: i64) -> u64 {
    crypto::sealed_size(size.max(0) as u64)
}

/// A fresh data key wrapped for `sid`, and its nonce prefix.
pub fn new_data_key(
    keyring: &Keyring,
    sid: &str,
) -> (SecretKey, crypto::WrappedKey, [u8; crypto::NONCE_PREFIX]) {
    let data_key = SecretKey::random();
    let wrapped = keyring.wrap(sid, &data_key);
    (data_key, wrapped, ContentCipher::random_prefix())
}
