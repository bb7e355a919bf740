//! `GET /metrics`: the instance's metrics in Prometheus' text format, on
//! the public port behind `CONFAB_METRICS_TOKEN` (a bearer token), or on a
//! listener of its own (`CONFAB_METRICS_BIND`, see `app::serve`).
//!
//! Counters and histograms are recorded where things happen (requests in
//! `telemetry`, pool waits in `db`, uploads, downloads, the collector,
//! webhook attempts); gauges of the moment are read here, at scrape time.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// On the public port: only with the configured bearer token; without one
/// configured, there is no such resource.
pub async fn public(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(token) = state.config.metrics.token.as_deref() else {
        return Err(ApiError::NotFound);
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::Unauthenticated);
    }
    Ok(render(&state))
}

/// On the metrics listener, which only the operator's network reaches.
pub async fn private(state: web::Data<AppState>) -> HttpResponse {
    render(&state)
}

fn render(state: &AppState) -> HttpResponse {
    for (pool, open, idle) in state.db.pool_states() {
        metrics::gauge!("confab_db_pool_connections", "pool" => pool).set(open);
        metrics::gauge!("confab_db_pool_idle_connections", "pool" => pool).set(idle);
    }
    metrics::gauge!("confab_upload_slots").set(state.upload_slots as f64);
    metrics::gauge!("confab_upload_slots_in_use")
        .set(state.upload_slots.saturating_sub(state.uploads.available_permits()) as f64);
    metrics::gauge!("confab_end_user_uploads_in_progress").set(state.user_uploads.in_progress() as f64);
    metrics::gauge!("confab_event_streams_open").set(state.hub.open_streams() as f64);
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .body(telemetry::render_metrics().unwrap_or_default())
}
