//! `/healthz` for load balancers, and the page at `/`.

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
