//! Conversation Services (`IS…`): create, list, fetch, delete.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::store;
use crate::time;
use crate::views::services::Service;

#[derive(Deserialize)]
pub struct ServicePath {
    service: String,
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = p
        .text("FriendlyName", limits::NAME_CHARS)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_param("FriendlyName"))?;
    let row = caller
        .write_account(move |tx, principal| {
            Ok(store::services::create_with_defaults(
                tx.conn()?,
                principal.account_sid(),
                &name,
                time::now(),
            )?)
        })
        .await?;
    Ok(api::created(Service::new(row, &caller.v1())))
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "services")?;
    let seek = page.seek(false);
    let rows = caller
        .read_account(move |conn, principal| {
            Ok(store::services::list(conn, principal.account_sid(), &seek.query)?)
        })
        .await?;
    let v1 = caller.v1();
    let window = seek.finish(rows, |r| r.id).map(|r| Service::new(r, &v1));
    Ok(ListPage::new("services", &format!("{v1}/Services"), &[], &page, window).respond())
}

pub async fn fetch(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller
        .read_account(move |conn, principal| Ok(store::services::find(conn, principal.account_sid(), &sid)?))
        .await?;
    Ok(api::ok(Service::new(row, &caller.v1())))
}

/// Deletes the service and everything in it. The account's default service
/// cannot go: the `/v1/…` family would be left pointing at nothing.
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ServicePath>,
) -> ApiResult<HttpResponse> {
    delete_service(&caller, &state, path.into_inner().service).await?;
    Ok(api::no_content())
}

/// Deletes the service and everything in it; shared with Chat.
pub(crate) async fn delete_service(caller: &Caller, state: &AppState, sid: String) -> Result<(), ApiError> {
    caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let row = store::services::find(conn, principal.account_sid(), &sid)?;
            let default = store::accounts::lock_default_service(conn, principal.account_sid())?;
            if default.as_deref() == Some(row.sid.as_str()) {
                return Err(ApiError::client(
                    Code::InvalidParameter,
                    "The default Conversation Service cannot be deleted; make another service the default first (POST /v1/Configuration DefaultChatServiceSid)",
                ));
            }
            Ok(store::services::delete(conn, &row.sid)?)
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    state.collector.notify_one();
    Ok(())
}
