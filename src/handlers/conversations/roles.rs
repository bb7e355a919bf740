//! Roles (`RL…`) and their permissions, on both path families. Account
//! credentials only.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::domain::permission::UnknownPermission;
use crate::domain::{Permissions, RoleType};
use crate::error::{ApiError, ApiResult};
use crate::store::roles::NewRole;
use crate::store::{self};
use crate::time;
use crate::views::roles::Role;

#[derive(Deserialize)]
pub struct RolePath {
    role: String,
}

/// `Permission` values for a role of `role_type`: at least one, each known
/// to that type (400 naming the first that is not).
fn permissions_param(role_type: RoleType, names: Vec<&str>) -> Result<Permissions, ApiError> {
    if names.is_empty() {
        return Err(ApiError::missing_param("Permission"));
    }
    Permissions::from_names(role_type, names)
        .map_err(|e: UnknownPermission| ApiError::invalid_param("Permission", e))
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = p
        .text("FriendlyName", limits::NAME_CHARS)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_param("FriendlyName"))?;
    let role_type = p
        .choice("Type", &[RoleType::Conversation.as_str(), RoleType::Service.as_str()])?
        .and_then(RoleType::parse)
        .ok_or_else(|| ApiError::missing_param("Type"))?;
    let permissions = permissions_param(role_type, p.all("Permission"))?;
    let (scope, row) = caller
        .write(move |tx, scope| {
            scope.require_account_credentials()?;
            let role = NewRole {
                account_sid: scope.account_sid(),
                service_sid: &scope.service_sid,
                friendly_name: &name,
                role_type,
                permissions: &permissions,
                now: time::now(),
            };
            Ok(store::roles::insert(tx.conn()?, &role)?)
        })
        .await?;
    Ok(api::created(Role::new(row, &scope.urls)))
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "roles")?;
    let seek = page.seek(false);
    let (scope, rows) = caller
        .read(move |conn, scope| {
            scope.require_account_credentials()?;
            Ok(store::roles::list(conn, &scope.service_sid, &seek.query)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| Role::new(r, &scope.urls));
    Ok(ListPage::new("roles", &format!("{}/Roles", scope.urls.prefix), &[], &page, window).respond())
}

pub async fn fetch(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    let (scope, row) = caller
        .read(move |conn, scope| {
            scope.require_account_credentials()?;
            Ok(store::roles::find(conn, &scope.service_sid, &sid)?)
        })
        .await?;
    Ok(api::ok(Role::new(row, &scope.urls)))
}

/// Replaces the whole permission set.
pub async fn update(caller: Caller, path: web::Path<RolePath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let requested: Vec<String> = p.all("Permission").into_iter().map(str::to_owned).collect();
    let sid = path.into_inner().role;
    let (scope, row) = caller
        .write(move |tx, scope| {
            scope.require_account_credentials()?;
            let conn = tx.conn()?;
            let role = store::roles::find(conn, &scope.service_sid, &sid)?;
            let permissions =
                permissions_param(role.role_type, requested.iter().map(String::as_str).collect())?;
            store::roles::set_permissions(conn, &role.sid, &permissions, time::now())?;
            Ok(store::roles::find(conn, &scope.service_sid, &role.sid)?)
        })
        .await?;
    Ok(api::ok(Role::new(row, &scope.urls)))
}

/// A role still held by a user or participant, or named as a service
/// default, cannot be deleted.
pub async fn delete(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    caller
        .write(move |tx, scope| {
            scope.require_account_credentials()?;
            let conn = tx.conn()?;
            let role = store::roles::find(conn, &scope.service_sid, &sid)?;
            Ok(store::roles::delete_unused(conn, &scope.service_sid, &role.sid)?)
        })
        .await?;
    Ok(api::no_content())
}
