//! `/healthz` for load balancers, the page at `/`, and the browser client
//! `/confab.js` (static/confab.js, compiled in: `cargo run` needs no files beside the binary).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

/// 200 while the database answers, 503 (within two seconds) when it does not.
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")))
        .body(include_str!("../../static/index.html"))
}

/// The browser client library (an ES module).
pub async fn client_library() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")))
        // Revalidated on each load: a new release's client takes effect at once.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(include_str!("../../static/confab.js"))
}
