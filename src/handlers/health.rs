//! `/healthz` for load balancers.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

/// 200 while the database answers, 503 (within two seconds) when it does not.
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}
