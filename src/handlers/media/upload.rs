//! `POST /v1/Services/{IS}/Media`: the body is the file (raw, with its
//! `Content-Type`, `?Filename=`), or `multipart/form-data` with one file
//! part. The bytes stream through [`UploadSession`] into storage, sealed as
//! they arrive; nothing is held whole in memory.

use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::{Stream, StreamExt};
use tokio::sync::SemaphorePermit;
use tokio::time::Instant;

use crate::api::{self, Params, limits};
use crate::auth::{Caller, ServiceScope};
use crate::config::MediaConfig;
use crate::domain::MediaState;
use crate::error::{ApiError, ApiResult, Code};
use crate::keys::keyring::SecretKey;
use crate::sid::SidKind;
use crate::state::{AppState, UserUpload};
use crate::storage::Storage;
use crate::storage::ingest::{Ingest, IngestError};
use crate::storage::sealed::ContentCipher;
use crate::store::{self, media::MediaRow, media::NewMedia};
use crate::time;
use crate::views::media::Media;

/// Room for multipart boundaries and part headers around the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// `Retry-After` when every upload slot stayed busy: about as long as a
/// typical upload takes to free one.
const UPLOAD_RETRY_AFTER_SECS: u32 = 5;

fn too_large(max: u64) -> ApiError {
    ApiError::client(Code::PayloadTooLarge, format!("Media is limited to {max} bytes"))
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

pub async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let config = &state.config.media;
    let multipart = req.content_type().eq_ignore_ascii_case("multipart/form-data");
    // A declared length over the limit is refused before the body is read.
    let declared: Option<u64> =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if declared.is_some_and(|len| len > config.max_bytes + if multipart { MULTIPART_OVERHEAD } else { 0 }) {
        return Err(too_large(config.max_bytes));
    }
    let query = Params::from_query(&req).reject_nul()?;
    // A user's share first, so one user waiting for a slot holds nothing.
    let _share = user_share(&caller, &state)?;
    let _slot = upload_slot(&state).await?;
    let mut pace = Pace::new(config);
    let row = if multipart {
        let mut form = Multipart::new(req.headers(), payload);
        let (describe, file) = file_part(&mut form, &query, &mut pace).await?;
        receive(&caller, &state, describe, file.map(|c| c.map_err(|e| e.to_string())), None, &mut pace)
            .await?
    } else {
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
        let body = payload.map(|c| c.map_err(|e| e.to_string()));
        receive(&caller, &state, describe, body, declared, &mut pace).await?
    };
    Ok(api::created(Media::new(row, caller.public_url(), &state.keys.signer())))
}

/// An end user's share of the upload slots: a few uploads at once, so one
/// token cannot hold them all (account credentials have no share).
fn user_share<'a>(caller: &Caller, state: &'a AppState) -> ApiResult<Option<UserUpload<'a>>> {
    let max = state.config.media.user_uploads;
    let Some(user) = caller.end_user() else {
        return Ok(None);
    };
    if max == 0 {
        return Ok(None);
    }
    let key = format!("{} {} {}", user.account_sid, user.service_sid, user.identity);
    state.user_uploads.take(key, max).map(Some).ok_or_else(|| ApiError::TooMany {
        message: format!(
            "You have {max} uploads in progress, the most one user may have; retry when one ends"
        ),
        retry_after_secs: UPLOAD_RETRY_AFTER_SECS,
    })
}

/// Media a user may keep unattached to any message (count, bytes): past
/// either, its next upload is refused until it attaches or deletes some, or
/// the collector takes them.
fn unattached_quota(
    conn: &mut crate::db::DbConnection,
    scope: &crate::auth::ServiceScope,
    config: &MediaConfig,
) -> ApiResult<()> {
    let Some(user) = scope.end_user() else {
        return Ok(());
    };
    let (max_count, max_bytes) = (config.user_unattached_media, config.user_unattached_bytes);
    if max_count == 0 && max_bytes == 0 {
        return Ok(());
    }
    let (count, bytes) = store::media::unattached_of(conn, &scope.service_sid, &user.identity)?;
    let over = (max_count > 0 && count >= max_count) || (max_bytes > 0 && bytes >= max_bytes);
    if over {
        return Err(ApiError::TooMany {
            message: format!(
                "You have {count} media ({bytes} bytes) not attached to any message, the most one user may keep \
                 ({max_count} media, {max_bytes} bytes); attach or delete some, or wait for unattached media to be collected"
            ),
            retry_after_secs: config.gc_after.as_secs().clamp(1, u64::from(u32::MAX)) as u32,
        });
    }
    Ok(())
}

/// Upload slots are few (they bound memory); a flood of slow uploads makes
/// new ones wait a little, then turns them away rather than hang.
async fn upload_slot(state: &AppState) -> ApiResult<SemaphorePermit<'_>> {
    let _waiting = Queued::join();
    match tokio::time::timeout(state.config.media.upload_queue_timeout, state.uploads.acquire()).await {
        Ok(permit) => permit.map_err(ApiError::internal),
        Err(_) => Err(ApiError::Busy {
            message: "Too many uploads are in progress; retry shortly".into(),
            retry_after_secs: UPLOAD_RETRY_AFTER_SECS,
        }),
    }
}

/// An upload waiting for a slot, counted in `confab_uploads_queued` until
/// it has one or gives up (or its client goes away).
struct Queued;

impl Queued {
    fn join() -> Queued {
        metrics::gauge!("confab_uploads_queued").increment(1.0);
        Queued
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        metrics::gauge!("confab_uploads_queued").decrement(1.0);
    }
}

/// The file part of a multipart upload, and what the form says about it.
async fn file_part(
    form: &mut Multipart,
    query: &Params,
    pace: &mut Pace,
) -> ApiResult<(Describe, actix_multipart::Field)> {
    let mut filename_field: Option<String> = None;
    // What the fields before the file may hold in all: they are read into
    // memory, and a form of fields only is no upload.
    let mut fields_left = MULTIPART_OVERHEAD as usize;
    while let Some(field) = pace.next(form).await? {
        let field = field.map_err(|e| ApiError::invalid_param("body", e))?;
        let disposition = field.content_disposition().cloned();
        let part_filename = disposition.as_ref().and_then(|d| d.get_filename()).map(str::to_owned);
        let Some(part_filename) = part_filename else {
            // Form fields before the file may name it (mailroom sends `FileName`).
            let name = field.name().unwrap_or_default().to_owned();
            let value = read_small_field(field, pace).await?;
            fields_left = fields_left.checked_sub(name.len() + value.len() + 64).ok_or_else(|| {
                ApiError::client(
                    Code::PayloadTooLarge,
                    format!("The form's fields before its file exceed {MULTIPART_OVERHEAD} bytes"),
                )
            })?;
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
            category: category_param(query)?,
        };
        return Ok((describe, field));
    }
    Err(ApiError::invalid_param("body", "the multipart form has no file part"))
}

/// Streams `body` into a new media and returns its row once stored.
async fn receive<S>(
    caller: &Caller,
    state: &web::Data<AppState>,
    describe: Describe,
    mut body: S,
    declared: Option<u64>,
    pace: &mut Pace,
) -> ApiResult<MediaRow>
where
    S: Stream<Item = Result<bytes::Bytes, String>> + Unpin,
{
    let mut session = UploadSession::start(caller, state, describe).await?;
    let received: ApiResult<()> = async {
        while let Some(chunk) = pace.next(&mut body).await? {
            let chunk =
                chunk.map_err(|e| ApiError::invalid_param("body", format!("upload interrupted: {e}")))?;
            pace.count(chunk.len());
            session.push(chunk).await?;
        }
        Ok(())
    }
    .await;
    match received {
        Ok(()) => session.finish(declared).await,
        Err(e) => Err(session.fail(e).await),
    }
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
        tokio::time::timeout_at(until, stream.next()).await.map_err(|_| {
            ApiError::client(
                Code::RequestTimeout,
                if slow {
                    format!("The upload arrived slower than {} bytes per second", self.min_rate)
                } else {
                    format!("No upload data for {} seconds", self.idle.as_secs())
                },
            )
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

/// An upload in progress. It owns the media row (written first, as
/// `uploading`, so the collector can find whatever a crash leaves), the
/// ingest of the bytes, the heartbeat that tells the collector the upload is
/// alive, and the cleanup: if the upload fails, or the request is dropped
/// (the client went away), the stored bytes are aborted and the row is
/// deleted, unless [`UploadSession::finish`] completed it.
struct UploadSession {
    state: web::Data<AppState>,
    scope: ServiceScope,
    sid: String,
    /// `None` once finished or failed.
    ingest: Option<Ingest>,
    heartbeat: Instant,
    /// Whether the object's multipart upload id is on the row yet.
    multipart_recorded: bool,
    /// Whether dropping the session must still clean up.
    armed: bool,
}

impl UploadSession {
    async fn start(
        caller: &Caller,
        state: &web::Data<AppState>,
        describe: Describe,
    ) -> ApiResult<UploadSession> {
        // A master key rotated since the last look is used from now on.
        state.keys.refresh().await;
        let keyring = state.keys.keyring();
        let sid = SidKind::Media.generate();
        let data_key = SecretKey::random();
        let wrapped = keyring.wrap(&sid, &data_key);
        let prefix = ContentCipher::random_prefix();
        let cipher = ContentCipher::new(&data_key, &prefix, &sid).map_err(ApiError::internal)?;
        let object_key = Storage::media_key(&sid);
        let row_sid = sid.clone();
        let config = state.config.clone();
        let (scope, ()) = caller
            .write(move |tx, scope| {
                unattached_quota(tx.conn()?, scope, &config.media)?;
                let now = time::now();
                let row = NewMedia {
                    sid: &row_sid,
                    account_sid: scope.account_sid(),
                    service_sid: &scope.service_sid,
                    state: MediaState::Uploading.as_str(),
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
                };
                Ok(store::media::insert(tx.conn()?, &row)?)
            })
            .await?;
        let ingest =
            Ingest::new(&state.storage, &Storage::media_key(&sid), cipher, state.config.media.max_bytes);
        Ok(UploadSession {
            state: state.clone(),
            scope,
            sid,
            ingest: Some(ingest),
            heartbeat: Instant::now(),
            multipart_recorded: false,
            armed: true,
        })
    }

    /// Once the object's multipart upload is open, puts its id on the row
    /// (one write per upload): if this process dies now, nothing in memory
    /// aborts the upload, and the collector finds it there.
    async fn record_multipart(&mut self) -> ApiResult<()> {
        if self.multipart_recorded {
            return Ok(());
        }
        let Some(id) = self.ingest()?.multipart_id().map(str::to_owned) else {
            return Ok(());
        };
        self.multipart_recorded = true;
        let sid = self.sid.clone();
        self.state
            .db
            .write(
                |_| Ok(()),
                move |tx, ()| Ok::<_, ApiError>(store::media::record_multipart(tx.conn()?, &sid, &id)?),
            )
            .await
    }

    fn ingest(&mut self) -> ApiResult<&mut Ingest> {
        self.ingest.as_mut().ok_or_else(|| ApiError::internal("upload session already closed"))
    }

    async fn push(&mut self, chunk: bytes::Bytes) -> ApiResult<()> {
        metrics::counter!("confab_media_uploaded_bytes_total").increment(chunk.len() as u64);
        self.ingest()?.push(chunk).await.map_err(stored_error)?;
        self.record_multipart().await?;
        // Long uploads tell the collector they are alive. A write: on SQLite
        // it queues on the one writer connection. A missed beat is not worth
        // failing the upload for (the stale window allows for more than one).
        if self.heartbeat.elapsed() >= self.state.config.media.upload_heartbeat {
            self.heartbeat = Instant::now();
            let sid = self.sid.clone();
            let beat = self
                .state
                .db
                .write(
                    |_| Ok(()),
                    move |tx, ()| Ok::<_, ApiError>(store::media::touch(tx.conn()?, &sid, time::now())?),
                )
                .await;
            if let Err(e) = beat {
                tracing::warn!(error = %e, "an upload's heartbeat failed");
            }
        }
        Ok(())
    }

    /// Completes the object and marks the media `ready`.
    async fn finish(mut self, declared: Option<u64>) -> ApiResult<MediaRow> {
        let Some(ingest) = self.ingest.take() else {
            return Err(ApiError::internal("upload session already closed"));
        };
        if let Some(declared) = declared
            && declared != ingest.size()
        {
            let e = ApiError::invalid_param(
                "Content-Length",
                format!("declared {declared} bytes, received {}", ingest.size()),
            );
            self.ingest = Some(ingest);
            return Err(self.fail(e).await);
        }
        // `finish` aborts what it stored if it fails.
        let stored = match ingest.finish().await {
            Ok(stored) => stored,
            Err(e) => return Err(self.fail(stored_error(e)).await),
        };
        let (service, sid) = (self.scope.service_sid.clone(), self.sid.clone());
        let marked = self
            .state
            .db
            .write(
                |_| Ok(()),
                move |tx, ()| {
                    let ready = store::media::mark_ready(
                        tx.conn()?,
                        &service,
                        &sid,
                        stored.size as i64,
                        &stored.digest,
                        time::now(),
                    )?;
                    Ok::<_, ApiError>(ready)
                },
            )
            .await;
        match marked {
            Ok(Some(row)) => {
                self.disarm();
                Ok(row)
            }
            Ok(None) => {
                self.disarm();
                Err(self.orphaned().await)
            }
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// The row went while the bytes were streaming: its service was
    /// deleted, or the collector judged the upload abandoned. The object
    /// completed after the row's deletion queued its key, so it is ours to
    /// remove (or to queue again, if that fails).
    async fn orphaned(&self) -> ApiError {
        let key = Storage::media_key(&self.sid);
        if let Err(e) = self.state.storage.delete(&key).await {
            tracing::warn!(error = %e, object = %key, "deleting an orphaned upload failed; queued");
            let queued_key = key.clone();
            let queued = self
                .state
                .db
                .write(
                    |_| Ok(()),
                    move |tx, ()| {
                        Ok::<_, ApiError>(store::storage_deletions::queue(
                            tx.conn()?,
                            &queued_key,
                            time::now(),
                        )?)
                    },
                )
                .await;
            match queued {
                Ok(()) => self.state.collector.notify_one(),
                Err(e) => {
                    tracing::error!(error = %e, object = %key, "queueing an orphaned object for deletion failed")
                }
            }
        }
        // Not a server fault and not the client's timing alone: a conflict
        // with a concurrent delete, answered like other lost races.
        ApiError::client(
            Code::Conflict,
            "The media was deleted while it was uploading (its service was deleted, or the upload \
             stalled); upload it again",
        )
    }

    /// Undoes the upload now and hands back `e`: the stored bytes are
    /// aborted, then the row goes (its trigger queues the object key, which
    /// the collector is woken to remove).
    async fn fail(mut self, e: ApiError) -> ApiError {
        // A failed `Ingest::finish` has aborted (or is aborting) its object.
        let aborted = match self.ingest.take() {
            Some(ingest) => ingest.abort().await,
            None => true,
        };
        self.disarm();
        discard(&self.state, self.sid.clone(), aborted).await;
        e
    }

    /// Nothing is left to clean up when the session goes.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for UploadSession {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // The object is aborted, then the row goes (in the background: the
        // request is gone).
        let ingest = self.ingest.take();
        let state = self.state.clone();
        let sid = std::mem::take(&mut self.sid);
        actix_web::rt::spawn(async move {
            let aborted = match ingest {
                Some(ingest) => ingest.abort().await,
                None => true,
            };
            discard(&state, sid, aborted).await
        });
    }
}

/// What the uploader is told when its bytes could not be stored.
fn stored_error(e: IngestError) -> ApiError {
    match e {
        IngestError::TooLarge(max) => too_large(max),
        full if full.is_storage_full() => {
            tracing::error!(error = %full, "the media store is full: uploads fail until space is freed");
            ApiError::client(
                Code::InsufficientStorage,
                "The media store has no space left; the upload was not stored. Try again later",
            )
        }
        other => ApiError::internal(other),
    }
}

/// Removes an upload's row; unless its multipart upload was `aborted`
/// here, the collector aborts it.
async fn discard(state: &web::Data<AppState>, sid: String, aborted: bool) {
    let result = state
        .db
        .write(
            |_| Ok(()),
            move |tx, ()| Ok::<_, ApiError>(store::media::delete_upload(tx.conn()?, &sid, aborted)?),
        )
        .await;
    if let Err(e) = result {
        // The collector removes stale uploads (and their objects) anyway.
        tracing::warn!(error = %e, "removing an unfinished upload failed");
    }
    state.collector.notify_one();
}
