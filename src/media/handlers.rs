//! MCS endpoints: upload (`POST …/Media`), metadata (`GET …/Media/{ME}`) and
//! batch metadata (`POST …/MediaSet`). Downloads live in `download.rs`.

use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use crate::api::{self, Params, limits, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::config::MediaConfig;
use crate::db::schema::media;
use crate::error::{ApiError, ApiResult, codes};
use crate::sid::SidKind;

use super::store::Storage;
use super::upload::{Ingest, IngestError};
use super::{MediaRow, MediaView, NewMedia, STATE_READY, STATE_UPLOADING, find, find_visible, new_data_key};

/// Room for multipart boundaries and part headers around the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// `Retry-After` when every upload slot stayed busy: about as long as a
/// typical upload takes to free one.
const UPLOAD_RETRY_AFTER_SECS: u32 = 5;

#[derive(Deserialize)]
pub struct MediaPath {
    media: String,
}

fn too_large(max: u64) -> ApiError {
    ApiError::Client {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: codes::PAYLOAD_TOO_LARGE,
        message: format!("Media is limited to {max} bytes"),
    }
}

/// What the upload says about itself before its bytes arrive.
struct Describe {
    content_type: String,
    filename: Option<String>,
    category: String,
}

fn category_param(q: &Params) -> Result<String, ApiError> {
    Ok(q.choice("Category", &["media", "body", "history"])?.unwrap_or("media").to_owned())
}

/// Filenames are shown back and used in downloads: cap them, and drop
/// control characters and path separators.
fn clean_filename(raw: &str) -> Option<String> {
    let name: String = raw.chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').collect();
    let name = name.trim().chars().take(limits::NAME_CHARS).collect::<String>();
    (!name.is_empty()).then_some(name)
}

/// `POST /v1/Services/{IS}/Media`: the body is the file (raw, with its
/// `Content-Type`, `?Filename=`), or `multipart/form-data` with one file part.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let max = state.media.config.max_bytes;
    let multipart = req.content_type().eq_ignore_ascii_case("multipart/form-data");
    // A declared length over the limit is refused before the body is read.
    let declared: Option<u64> =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if declared.is_some_and(|len| len > max + if multipart { MULTIPART_OVERHEAD } else { 0 }) {
        return Err(too_large(max));
    }
    let query = Params::from_query(&req).reject_nul()?;
    // Upload slots are few (they bound memory); a flood of slow uploads makes
    // new ones wait a little, then turns them away rather than hang.
    let waited = tokio::time::timeout(state.media.config.upload_queue_timeout, state.media.uploads.acquire());
    let _permit = match waited.await {
        Ok(permit) => permit.map_err(ApiError::internal)?,
        Err(_) => {
            return Err(ApiError::Busy {
                message: "Too many uploads are in progress; retry shortly".into(),
                retry_after_secs: UPLOAD_RETRY_AFTER_SECS,
            });
        }
    };
    let mut pace = Pace::new(&state.media.config);

    if multipart {
        let mut form = Multipart::new(req.headers(), payload);
        let mut filename_field: Option<String> = None;
        while let Some(field) = pace.next(&mut form).await? {
            let field = field.map_err(|e| ApiError::invalid_param("body", e))?;
            let disposition = field.content_disposition().cloned();
            let part_filename = disposition.as_ref().and_then(|d| d.get_filename()).map(str::to_owned);
            let Some(part_filename) = part_filename else {
                // Form fields before the file may name it (mailroom sends `FileName`).
                let name = field.name().unwrap_or_default().to_owned();
                let value = read_small_field(field, &mut pace).await?;
                if name.eq_ignore_ascii_case("filename") {
                    filename_field = Some(value);
                }
                continue;
            };
            let content_type =
                field.content_type().map_or_else(|| "application/octet-stream".to_owned(), |m| m.to_string());
            let describe = Describe {
                content_type,
                filename: clean_filename(&part_filename)
                    .or_else(|| filename_field.as_deref().and_then(clean_filename)),
                category: category_param(&query)?,
            };
            let file = field.map(|c| c.map_err(|e| e.to_string()));
            return ingest(&caller, &state, describe, file, None, &mut pace).await;
        }
        return Err(ApiError::invalid_param("body", "the multipart form has no file part"));
    }

    let content_type = match req.mime_type() {
        Ok(Some(mime)) => mime.to_string(),
        Ok(None) => "application/octet-stream".to_owned(),
        Err(_) => return Err(ApiError::invalid_param("Content-Type", "not a valid media type")),
    };
    let describe = Describe {
        content_type,
        filename: query.str("Filename").and_then(clean_filename),
        category: category_param(&query)?,
    };
    ingest(&caller, &state, describe, payload.map(|c| c.map_err(|e| e.to_string())), declared, &mut pace)
        .await
}

/// How slowly an upload may arrive: never silent for the idle timeout and,
/// once the grace period is over, on average at least the minimum rate. A
/// client trickling bytes just often enough to dodge the idle timeout
/// cannot hold one of the few upload slots for hours.
struct Pace {
    started: Instant,
    received: u64,
    idle: Duration,
    min_rate: u64,
    grace: Duration,
}

impl Pace {
    fn new(config: &MediaConfig) -> Pace {
        Pace {
            started: Instant::now(),
            received: 0,
            idle: config.upload_idle_timeout,
            min_rate: config.upload_min_rate,
            grace: config.upload_rate_grace,
        }
    }

    /// When the average rate drops below the minimum unless more arrives.
    fn deadline(&self) -> Option<Instant> {
        if self.min_rate == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        self.started.checked_add(self.grace)?.checked_add(earned)
    }

    /// The stream's next item, or 408 if it comes too late.
    async fn next<S: Stream + Unpin>(&mut self, stream: &mut S) -> Result<Option<S::Item>, ApiError> {
        let idle_at = Instant::now() + self.idle;
        let (until, slow) = match self.deadline() {
            Some(deadline) if deadline < idle_at => (deadline, true),
            _ => (idle_at, false),
        };
        tokio::time::timeout_at(until, stream.next()).await.map_err(|_| ApiError::Client {
            status: StatusCode::REQUEST_TIMEOUT,
            code: codes::REQUEST_TIMEOUT,
            message: if slow {
                format!("The upload arrived slower than {} bytes per second", self.min_rate)
            } else {
                format!("No upload data for {} seconds", self.idle.as_secs())
            },
        })
    }

    fn count(&mut self, bytes: usize) {
        self.received += bytes as u64;
    }
}

async fn read_small_field(mut field: actix_multipart::Field, pace: &mut Pace) -> Result<String, ApiError> {
    let mut value = Vec::new();
    while let Some(chunk) = pace.next(&mut field).await? {
        let chunk = chunk.map_err(|e| ApiError::invalid_param("body", e))?;
        pace.count(chunk.len());
        if value.len() + chunk.len() > 4096 {
            return Err(ApiError::invalid_param("body", "form field too large"));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| ApiError::invalid_param("body", "form field is not UTF-8"))
}

/// Deletes the half-made media row if the upload does not complete,
/// including when the client goes away and the request future is dropped.
/// (The [`Ingest`] aborts its own multipart upload or temporary file.)
struct UploadGuard {
    state: web::Data<AppState>,
    sid: String,
    armed: bool,
}

impl UploadGuard {
    /// Undo now: delete the row (its trigger queues the object key, which
    /// the collector is woken to remove).
    async fn fail(mut self) {
        self.armed = false;
        discard(&self.state, self.sid.clone()).await;
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let state = self.state.clone();
        let sid = std::mem::take(&mut self.sid);
        actix_web::rt::spawn(async move { discard(&state, sid).await });
    }
}

async fn discard(state: &web::Data<AppState>, sid: String) {
    let result = state
        .db
        .write(move |conn| Ok(diesel::delete(media::table.filter(media::sid.eq(&sid))).execute(conn)?))
        .await;
    if let Err(e) = result {
        // The collector removes stale uploads (and their objects) anyway.
        tracing::warn!(error = %e, "removing an unfinished upload failed");
    }
    state.media.collector.notify_one();
}

/// Queues an object for the collector to delete.
async fn requeue_deletion(state: &web::Data<AppState>, key: String) {
    let queued = state
        .db
        .run_writer(move |conn| {
            diesel::sql_query(
                "INSERT INTO storage_deletions (object_key, date_created) VALUES ($1, $2) \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind::<diesel::sql_types::Text, _>(&key)
            .bind::<diesel::sql_types::BigInt, _>(time::now())
            .execute(conn)?;
            Ok(())
        })
        .await;
    match queued {
        Ok(()) => state.media.collector.notify_one(),
        Err(e) => tracing::error!(error = %e, "queueing an orphaned object for deletion failed"),
    }
}

async fn ingest<S>(
    caller: &Caller,
    state: &web::Data<AppState>,
    describe: Describe,
    mut body: S,
    declared: Option<u64>,
    pace: &mut Pace,
) -> ApiResult<HttpResponse>
where
    S: Stream<Item = Result<bytes::Bytes, String>> + Unpin,
{
    let media_config = &state.media.config;
    // A master key rotated since the last look is used from now on.
    state.media.refresh_keys().await;
    let keyring = state.media.keyring();
    let sid = SidKind::Media.generate();
    let (data_key, wrapped, prefix) = new_data_key(&keyring, &sid);
    let cipher = super::crypto::ContentCipher::new(&data_key, &prefix, &sid).map_err(ApiError::internal)?;
    let object_key = Storage::media_key(&sid);

    // The row comes first (state `uploading`): whatever happens next, the
    // collector can find and remove what this upload leaves.
    let row_sid = sid.clone();
    let (scope, ()) = caller
        .write(move |conn, scope| {
            let now = time::now();
            diesel::insert_into(media::table)
                .values(NewMedia {
                    sid: &row_sid,
                    account_sid: scope.account_sid(),
                    service_sid: &scope.service_sid,
                    state: STATE_UPLOADING,
                    content_type: &describe.content_type,
                    filename: describe.filename.as_deref(),
                    category: &describe.category,
                    author: scope.end_user().map_or("system", |u| u.identity.as_str()),
                    size: 0,
                    object_key: &object_key,
                    key_id: &wrapped.key_id,
                    wrapped_key: &wrapped.bytes,
                    nonce_prefix: &prefix,
                    date_created: now,
                    date_upload_updated: now,
                    date_updated: now,
                })
                .execute(conn)?;
            Ok(())
        })
        .await?;
    let mut guard = UploadGuard { state: state.clone(), sid: sid.clone(), armed: true };
    // Declared after the guard, so dropped before it: a cancelled upload
    // aborts its object, then its row goes.
    let mut ingest =
        Ingest::new(state.media.storage.clone(), &Storage::media_key(&sid), cipher, media_config.max_bytes);

    let received: Result<(), ApiError> = async {
        let mut heartbeat = tokio::time::Instant::now();
        while let Some(chunk) = pace.next(&mut body).await? {
            let chunk =
                chunk.map_err(|e| ApiError::invalid_param("body", format!("upload interrupted: {e}")))?;
            pace.count(chunk.len());
            ingest.push(chunk).await.map_err(|e| match e {
                IngestError::TooLarge(max) => too_large(max),
                other => ApiError::internal(other),
            })?;
            // Long uploads tell the collector they are alive. A write: on
            // SQLite it queues on the one writer connection. A missed beat
            // is not worth failing the upload for (the stale window allows
            // for more than one).
            if heartbeat.elapsed() >= media_config.upload_heartbeat {
                heartbeat = tokio::time::Instant::now();
                let sid = sid.clone();
                let beat = state
                    .db
                    .run_writer(move |conn| {
                        diesel::update(media::table.filter(media::sid.eq(&sid)))
                            .set(media::date_updated.eq(time::now()))
                            .execute(conn)?;
                        Ok(())
                    })
                    .await;
                if let Err(e) = beat {
                    tracing::warn!(error = %e, "an upload's heartbeat failed");
                }
            }
        }
        if let Some(declared) = declared
            && declared != ingest.size()
        {
            return Err(ApiError::invalid_param(
                "Content-Length",
                format!("declared {declared} bytes, received {}", ingest.size()),
            ));
        }
        Ok(())
    }
    .await;
    // Every failure aborts what the ingest stored (`finish` does so itself)
    // before the row goes.
    let stored = match received {
        Ok(()) => ingest.finish().await.map_err(ApiError::internal),
        Err(e) => {
            ingest.abort().await;
            Err(e)
        }
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => {
            guard.fail().await;
            return Err(e);
        }
    };

    let ready_sid = sid.clone();
    let marked = state
        .db
        .write(move |conn| {
            let now = time::now();
            let n = diesel::update(
                media::table.filter(media::sid.eq(&ready_sid)).filter(media::state.eq(STATE_UPLOADING)),
            )
            .set((
                media::state.eq(STATE_READY),
                media::size.eq(stored.size as i64),
                media::digest.eq(&stored.digest),
                media::date_upload_updated.eq(now),
                media::date_updated.eq(now),
            ))
            .execute(conn)?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(find(conn, &scope.service_sid, &ready_sid)?))
        })
        .await;
    guard.armed = false;
    match marked {
        Ok(Some(row)) => Ok(api::created(MediaView::new(row, caller.public_url(), &state.media.signer()))),
        Ok(None) => {
            // The row went while the bytes were streaming: its service was
            // deleted, or the collector judged the upload abandoned. The
            // object completed after the row's deletion queued its key, so
            // it is ours to remove (or to queue again, if that fails).
            let key = Storage::media_key(&sid);
            if let Err(e) = state.media.storage.delete(&key).await {
                tracing::warn!(error = %e, object = %key, "deleting an orphaned upload failed; queued");
                requeue_deletion(state, key).await;
            }
            // Not a server fault and not the client's timing alone: a
            // conflict with a concurrent delete, answered like other lost
            // races with a delete (409 20409, see `From<diesel::Error>`).
            Err(ApiError::conflict(
                codes::CONFLICT,
                "The media was deleted while it was uploading (its service was deleted, or the upload \
                 stalled); upload it again",
            ))
        }
        Err(e) => {
            discard(state, sid).await;
            Err(e)
        }
    }
}

/// `GET /v1/Services/{IS}/Media/{ME}`: metadata with a freshly signed URL.
pub async fn fetch(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MediaPath>,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().media;
    let (_, row) = caller.read(move |conn, scope| find_visible(conn, scope, &sid)).await?;
    Ok(api::ok(MediaView::new(row, caller.public_url(), &state.media.signer())))
}

#[derive(Deserialize)]
pub struct MediaSetRequest {
    command: String,
    list: Vec<MediaSetItem>,
}

#[derive(Deserialize)]
pub struct MediaSetItem {
    media_sid: String,
}

/// Most media one MediaSet request may ask for.
const MEDIA_SET_MAX: usize = 100;

/// `POST /v1/Services/{IS}/MediaSet` with `{"command":"get","list":[{"media_sid":…}]}`:
/// one `{"code", "media_record"}` per requested SID, in order.
pub async fn media_set(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let request: MediaSetRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_param("body", format!("expected JSON ({e})")))?;
    if request.command != "get" {
        return Err(ApiError::invalid_param("command", "only \"get\" is supported"));
    }
    if request.list.len() > MEDIA_SET_MAX {
        return Err(ApiError::invalid_param("list", format!("at most {MEDIA_SET_MAX} media per request")));
    }
    let sids: Vec<String> = request.list.into_iter().map(|i| i.media_sid).collect();
    let (_, rows) = caller
        .read(move |conn, scope| {
            let mut rows: Vec<Option<MediaRow>> = Vec::with_capacity(sids.len());
            for sid in &sids {
                rows.push(match find_visible(conn, scope, sid) {
                    Ok(row) => Some(row),
                    Err(ApiError::NotFound) => None,
                    Err(e) => return Err(e),
                });
            }
            Ok(rows)
        })
        .await?;
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| match row {
            Some(row) => serde_json::json!({
                "code": 200,
                "media_record": MediaView::new(row, caller.public_url(), &state.media.signer()),
            }),
            None => serde_json::json!({"code": 404, "message": "Media not found", "media_record": null}),
        })
        .collect();
    Ok(HttpResponse::Ok().insert_header((CONTENT_TYPE, "application/json")).json(items))
}
