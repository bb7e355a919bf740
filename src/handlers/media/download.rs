//! `GET /v1/Services/{IS}/Media/{ME}/Content`: with Basic auth, or with a
//! temporary URL's `Expires` and `Signature` and no credentials.
//!
//! Content is decrypted chunk by chunk as it streams out; a byte range
//! fetches and opens only the chunks it covers. A chunk that fails its
//! integrity check is never released: if it is the first, the request fails
//! with a 500; later, the connection is cut short.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use bytes::Bytes;
use futures_util::stream::StreamExt;
use serde::Deserialize;

use crate::api::Params;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code, ErrorBody};
use crate::keys::signed_url::Refusal;
use crate::state::AppState;
use crate::storage::chunks::ChunkReader;
use crate::storage::sealed::ContentCipher;
use crate::store::{self, media::MediaRow};
use crate::time;

use super::find_visible;

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
        let signer = state.keys.signer();
        let verdict = signer.verify(
            &path.service,
            &path.media,
            query.str("Expires").unwrap_or_default(),
            query.str("Signature").unwrap_or_default(),
            now,
        );
        let expires = verdict.map_err(|refusal| {
            ApiError::forbidden(match refusal {
                Refusal::Expired => "This temporary URL has expired; fetch the media again for a new one",
                Refusal::BadSignature => "This temporary URL is not valid",
            })
        })?;
        // Never cached beyond the URL's own expiry (nor the TTL).
        cache_control = format!("private, max-age={}", (expires - now).clamp(0, signer.ttl_secs()));
        // The signature vouches for the SID; the row must still exist (a
        // deleted or collected media answers 404 even to a valid URL).
        let (service, sid) = (path.service.clone(), path.media.clone());
        state.db.read(move |conn| Ok::<_, ApiError>(store::media::find(conn, &service, &sid)?)).await?
    } else {
        let caller = Caller::from_request(&req, &mut Payload::None).await?;
        let sid = path.media.clone();
        caller.read(move |conn, scope| find_visible(conn, scope, &sid)).await?.1
    };
    if !row.state.is_stored() {
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

    // `If-Range`: a range only of the version the client holds; another
    // validator (or a date: no Last-Modified is given) gets the whole content.
    let same_version =
        req.headers().get(header::IF_RANGE).is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range_header =
        req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| same_version);
    let range = match parse_range(range_header, size) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            let mut res = ErrorBody::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::RangeNotSatisfiable,
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

    if req.method() == Method::HEAD {
        // The headers a GET would answer (its length included), no body.
        if let Some((s, e)) = range {
            response
                .status(StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}")));
        }
        let nothing = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        return Ok(response.no_chunking(length).streaming(nothing));
    }
    let data_key =
        state.keys.data_key(&row.sid, &row.key_id, &row.wrapped_key).await.map_err(ApiError::internal)?;
    let cipher = ContentCipher::new(&data_key, &row.nonce_prefix, &row.sid).map_err(ApiError::internal)?;
    let mut reader = ChunkReader::open(&state.storage, &row.object_key, size, cipher, start, length)
        .await
        .map_err(ApiError::internal)?;
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
    let counted = head.chain(rest).inspect(|piece| {
        if let Ok(piece) = piece {
            metrics::counter!("confab_media_downloaded_bytes_total").increment(piece.len() as u64);
        }
    });
    Ok(response.no_chunking(length).streaming(counted))
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
