//! Media metadata: `GET …/Media/{ME}` and the batch `POST …/MediaSet`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::media::MediaRow;
use crate::views::media::Media;

use super::find_visible;

#[derive(Deserialize)]
pub struct MediaPath {
    pub media: String,
}

/// `GET /v1/Services/{IS}/Media/{ME}`: metadata with a freshly signed URL.
pub async fn fetch(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MediaPath>,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().media;
    let (_, row) = caller.read(move |conn, scope| find_visible(conn, scope, &sid)).await?;
    Ok(api::ok(Media::new(row, caller.public_url(), &state.keys.signer())))
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
    let signer = state.keys.signer();
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| match row {
            Some(row) => serde_json::json!({
                "code": 200,
                "media_record": Media::new(row, caller.public_url(), &signer),
            }),
            None => serde_json::json!({"code": 404, "message": "Media not found", "media_record": null}),
        })
        .collect();
    Ok(HttpResponse::Ok().insert_header((CONTENT_TYPE, "application/json")).json(items))
}
