//! `GET /v1/Services/{IS}/Media/{ME}/Content`: with Basic auth, or with a
//! temporary URL's `Expires` and `Signature` and no credentials.
//!
//! Content is decrypted chunk by chunk as it streams out; a byte range
//! fetches and opens only the chunks it covers. A chunk that fails its
//! integrity check is never released: if it is the first, the request fails
//! with a 500; later, the connection is cut short.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use diesel::prelude::*;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::{GetOptions, GetRange, GetResultPayload};
use serde::Deserialize;

use crate::api::{Params, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::db::schema::media;
use crate::error::{ApiError, ApiResult, ErrorBody, codes};

use super::crypto::{CHUNK, ContentCipher, SEALED_CHUNK, TAG, chunk_count, sealed_size};
use super::signed_url::Refusal;
use super::store::Storage;
use super::{MediaRow, find_visible};

#[derive(Deserialize)]
pub struct ContentPath {
    service: String,
    media: String,
}

/// Types a browser may render in place. Everything else (SVG and HTML
/// above all: they run script) is served as an attachment.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
    "audio/flac",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
];

fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// `attachment; filename="…"` (or `inline` for safe media), with an ASCII
/// fallback name and the full name in RFC 5987 form.
pub fn content_disposition(content_type: &str, filename: Option<&str>) -> String {
    let kind = if INLINE_TYPES.contains(&essence(content_type).as_str()) { "inline" } else { "attachment" };
    let name = filename.unwrap_or("media");
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._- ()[]+".contains(c) { c } else { '_' })
        .collect();
    let ascii = if ascii.trim_matches(['_', '.', ' ']).is_empty() { "media".to_owned() } else { ascii };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A `Range` header no byte of the content satisfies (answered with 416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single `bytes=` range, resolved against `size`: `Ok(None)` for the
/// whole content (no header, or several ranges), `Err` if unsatisfiable.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let n: u64 = end.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 || size == 0 {
            return Err(Unsatisfiable);
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = start.parse().map_err(|_| Unsatisfiable)?;
        let end: u64 =
            if end.is_empty() { size.saturating_sub(1) } else { end.parse().map_err(|_| Unsatisfiable)? };
        if start >= size || end < start {
            return Err(Unsatisfiable);
        }
        (start, end.min(size - 1))
    };
    Ok(Some(range))
}

pub async fn content(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<ContentPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let query = Params::from_query(&req).reject_nul()?;
    let signed = query.has("Signature") || query.has("Expires");
    // Authenticated downloads are revalidated every time (access can be
    // revoked); a temporary URL's bytes may be cached while it is valid.
    let mut cache_control = "private, no-cache".to_owned();
    let row = if signed {
        let now = time::now();
        let signer = state.media.signer();
        let verdict = signer.verify(
            &path.service,
            &path.media,
            query.str("Expires").unwrap_or_default(),
            query.str("Signature").unwrap_or_default(),
            now,
        );
        let expires = verdict.map_err(|refusal| ApiError::Client {
            status: StatusCode::FORBIDDEN,
            code: codes::FORBIDDEN,
            message: match refusal {
                Refusal::Expired => {
                    "This temporary URL has expired; fetch the media again for a new one".into()
                }
                Refusal::BadSignature => "This temporary URL is not valid".into(),
            },
        })?;
        // Never cached beyond the URL's own expiry (nor the TTL).
        cache_control = format!("private, max-age={}", (expires - now).clamp(0, signer.ttl_secs()));
        // The signature vouches for the SID; the row must still exist (a
        // deleted or collected media answers 404 even to a valid URL).
        let (service, sid) = (path.service.clone(), path.media.clone());
        state
            .db
            .run(move |conn| {
                let row = media::table
                    .filter(media::sid.eq(&sid))
                    .filter(media::service_sid.eq(&service))
                    .select(MediaRow::as_select())
                    .get_result(conn)
                    .optional()?;
                row.ok_or(ApiError::NotFound)
            })
            .await?
    } else {
        let caller = Caller::from_request(&req, &mut Payload::None).await?;
        let sid = path.media.clone();
        caller.read(move |conn, scope| find_visible(conn, scope, &sid)).await?.1
    };
    if !row.is_stored() {
        return Err(ApiError::NotFound);
    }
    serve(&req, &state, row, cache_control).await
}

async fn serve(
    req: &HttpRequest,
    state: &AppState,
    row: MediaRow,
    cache_control: String,
) -> ApiResult<HttpResponse> {
    let size = row.size.max(0) as u64;
    let etag = row.etag();
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-site"))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&content_disposition(&row.content_type, row.filename.as_deref()))
                .map_err(ApiError::internal)?,
        ))
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_str(&row.content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        ));

    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        return Ok(response.status(StatusCode::NOT_MODIFIED).finish());
    }

    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, size) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            let mut res = ErrorBody::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                codes::RANGE_NOT_SATISFIABLE,
                format!("Range not satisfiable; the content is {size} bytes"),
            )
            .into_response();
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).map_err(ApiError::internal)?,
            );
            return Ok(res);
        }
    };
    let (start, end_inclusive) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end_inclusive - start + 1 };

    let cipher = state.media.content_cipher(&row).await.map_err(ApiError::internal)?;
    let mut reader = ChunkReader::open(state, &row, cipher, start, length).await?;
    // Open the first chunk before answering, so a damaged object is a clean
    // error rather than a cut-off 200.
    let first = reader.next_piece().await.map_err(ApiError::internal)?;

    if let Some((s, e)) = range {
        response
            .status(StatusCode::PARTIAL_CONTENT)
            .insert_header((header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}")));
    }
    response.insert_header((header::CONTENT_LENGTH, length));
    let head = futures_util::stream::iter(first.map(Ok::<Bytes, std::io::Error>));
    let rest = futures_util::stream::try_unfold(reader, |mut reader| async move {
        match reader.next_piece().await {
            Ok(Some(piece)) => Ok(Some((piece, reader))),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::error!(error = %e, "media download stopped: stored content failed its integrity check");
                Err(std::io::Error::other(e))
            }
        }
    });
    Ok(response.no_chunking(length).streaming(head.chain(rest)))
}

/// Bytes read from a local file per blocking call.
const FILE_WINDOW: usize = 16 * SEALED_CHUNK;

/// `range` of a local file, read in [`FILE_WINDOW`] pieces on the blocking pool.
fn read_file(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, object_store::Error>> {
    futures_util::stream::try_unfold((file, range.start, range.end), |(mut file, at, end)| async move {
        if at >= end {
            return Ok(None);
        }
        let len = ((end - at) as usize).min(FILE_WINDOW);
        let read = actix_web::web::block(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut buf = vec![0u8; len];
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(|e| object_store::Error::Generic { store: "LocalFileSystem", source: e.into() })?;
        let (file, buf) =
            read.map_err(|e| object_store::Error::Generic { store: "LocalFileSystem", source: e.into() })?;
        Ok(Some((Bytes::from(buf), (file, at + len as u64, end))))
    })
    .boxed()
}

/// Chunks opened per blocking task.
const WINDOW_CHUNKS: u64 = 16;
/// Windows being opened at once: the next is read while earlier ones decrypt.
const WINDOWS_IN_FLIGHT: usize = 2;

type Opening = actix_web::rt::task::JoinHandle<Result<Bytes, ReadError>>;

/// Reads sealed chunks of one object and yields the plaintext of a range.
///
/// Chunks are opened in windows of [`WINDOW_CHUNKS`] on the blocking pool,
/// so decryption neither runs on an async worker nor limits a download to
/// one core.
struct ChunkReader {
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    cipher: Arc<ContentCipher>,
    /// Sealed bytes received and not yet handed to a window; chunks are
    /// split off the front without copying the rest.
    buffer: BytesMut,
    /// Next chunk to schedule; the range's last chunk; the media's last chunk.
    next: u64,
    end_chunk: u64,
    last: u64,
    size: u64,
    /// Plaintext range to yield: `[start, end)`.
    start: u64,
    end: u64,
    opening: VecDeque<Opening>,
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("stored object is damaged: {0}")]
    Damaged(String),
    #[error("worker: {0}")]
    Worker(String),
}

impl ChunkReader {
    async fn open(
        state: &AppState,
        row: &MediaRow,
        cipher: ContentCipher,
        start: u64,
        length: u64,
    ) -> ApiResult<ChunkReader> {
        let size = row.size.max(0) as u64;
        let first = start / CHUNK as u64;
        let last_needed = if length == 0 { first } else { (start + length - 1) / CHUNK as u64 };
        let sealed_start = first * SEALED_CHUNK as u64;
        let sealed_end = ((last_needed + 1) * SEALED_CHUNK as u64).min(sealed_size(size));
        let options =
            GetOptions { range: Some(GetRange::Bounded(sealed_start..sealed_end)), ..Default::default() };
        let result =
            state.media.storage.store().get_opts(&Storage::path(&row.object_key), options).await.map_err(
                |e| match e {
                    object_store::Error::NotFound { .. } => {
                        ApiError::internal(format!("object of {} is missing", row.sid))
                    }
                    other => ApiError::internal(other),
                },
            )?;
        // Truncated or extended objects are refused before anything is sent.
        if result.meta.size != sealed_size(size) {
            return Err(ApiError::internal(format!(
                "object of {} is {} bytes, expected {}",
                row.sid,
                result.meta.size,
                sealed_size(size)
            )));
        }
        let range = result.range.clone();
        let stream = match result.payload {
            // Local files: read big windows on the blocking pool (the store's
            // own stream reads 8 KiB per hop, which caps downloads).
            GetResultPayload::File(file, _) => read_file(file, range),
            GetResultPayload::Stream(stream) => stream,
        };
        Ok(ChunkReader {
            stream,
            cipher: Arc::new(cipher),
            buffer: BytesMut::new(),
            next: first,
            end_chunk: last_needed,
            last: chunk_count(size) - 1,
            size,
            start,
            end: start + length,
            opening: VecDeque::new(),
        })
    }

    fn sealed_len(&self, index: u64) -> usize {
        if index < self.last { SEALED_CHUNK } else { (self.size - self.last * CHUNK as u64) as usize + TAG }
    }

    /// Reads the next window's sealed bytes and starts opening them.
    async fn schedule(&mut self) -> Result<(), ReadError> {
        let first = self.next;
        let last = (first + WINDOW_CHUNKS - 1).min(self.end_chunk);
        let lens: Vec<usize> = (first..=last).map(|i| self.sealed_len(i)).collect();
        let want: usize = lens.iter().sum();
        while self.buffer.len() < want {
            match self.stream.next().await {
                Some(bytes) => self.buffer.extend_from_slice(&bytes?),
                None => return Err(ReadError::Damaged("object ended early".into())),
            }
        }
        let mut window = self.buffer.split_to(want);
        self.next = last + 1;
        let (cipher, media_last) = (self.cipher.clone(), self.last);
        // The part of the requested range this window holds.
        let from = self.start.saturating_sub(first * CHUNK as u64) as usize;
        let upto = (self.end - first * CHUNK as u64) as usize;
        self.opening.push_back(actix_web::rt::task::spawn_blocking(move || {
            // Open each chunk in place, then close the gaps the tags leave.
            let mut plain_len = 0;
            let mut at = 0;
            for (i, len) in (first..=last).zip(lens) {
                let n = cipher
                    .open_in_place(i, i == media_last, &mut window[at..at + len])
                    .map_err(|e| ReadError::Damaged(e.to_string()))?;
                window.copy_within(at..at + n, plain_len);
                plain_len += n;
                at += len;
            }
            window.truncate(plain_len);
            let upto = upto.min(plain_len);
            Ok(window.freeze().slice(from.min(upto)..upto))
        }));
        Ok(())
    }

    /// The next piece of plaintext, `None` at the end of the range. (An
    /// empty media still has its one empty chunk: it is opened too, since its
    /// tag is all that proves the object intact.)
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ReadError> {
        while self.opening.len() < WINDOWS_IN_FLIGHT && self.next <= self.end_chunk {
            self.schedule().await?;
        }
        match self.opening.pop_front() {
            Some(opening) => Ok(Some(opening.await.map_err(|e| ReadError::Worker(e.to_string()))??)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("image/png", Some("cat.png")),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert!(content_disposition("image/svg+xml", Some("x.svg")).starts_with("attachment;"));
        assert!(content_disposition("text/html; charset=utf-8", Some("x.html")).starts_with("attachment;"));
        let d = content_disposition("application/pdf", Some("ré\"sumé\r\n.pdf"));
        assert!(d.starts_with("attachment; filename=\"r__sum__"), "{d}");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.contains("filename*=UTF-8''r%C3%A9%22sum%C3%A9%0D%0A.pdf"), "{d}");
        assert_eq!(
            content_disposition("application/pdf", None),
            "attachment; filename=\"media\"; filename*=UTF-8''media"
        );
    }
}
