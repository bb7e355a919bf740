//! Chat Roles (`RL…`): the service's roles in Chat's vocabulary
//! (`deployment`/`channel`, `createChannel`, `addMember`, …); account
//! credentials only. `Permission` on update replaces the whole set.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::domain::{Permissions, RoleType, Vocabulary};
use crate::error::{ApiError, ApiResult, Code};
use crate::store::roles::NewRole;
use crate::store::{self};
use crate::time;
use crate::views::chat::roles::ChatRole;

use super::{Named, chat, urls};

#[derive(Deserialize)]
pub struct RolePath {
    role: String,
}

fn named(role: &str) -> Named {
    Named { role: Some(role.to_owned()), ..Default::default() }
}

/// `Permission` values in Chat's names for a role of `role_type`: at least
/// one, each known to that type (50104 naming the first that is not).
fn permissions(role_type: RoleType, names: Vec<&str>) -> Result<Permissions, ApiError> {
    if names.is_empty() {
        return Err(ApiError::missing_param("Permission"));
    }
    Permissions::from_names_in(Vocabulary::Chat, role_type, names).map_err(|e| {
        ApiError::client(
            Code::PermissionNotFound,
            format!(
                "Permission {:?} is not a permission of a {} role",
                e.name,
                role_type.name_in(Vocabulary::Chat)
            ),
        )
    })
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = p
        .text("FriendlyName", limits::NAME_CHARS)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_param("FriendlyName"))?;
    let role_type = match p.str("Type") {
        None | Some("") => return Err(ApiError::missing_param("Type")),
        Some(t) => RoleType::parse_in(Vocabulary::Chat, t).ok_or_else(|| {
            ApiError::client(Code::InvalidRoleType, format!("Type must be channel or deployment, not {t:?}"))
        })?,
    };
    let permissions = permissions(role_type, p.all("Permission"))?;
    let (scope, row) = chat!(
        caller,
        Named::default(),
        caller.write(move |tx, scope| {
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
    );
    Ok(api::created(ChatRole::new(row, &urls(&caller, &scope))))
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "roles")?;
    let seek = page.seek(false);
    let (scope, rows) = chat!(
        caller,
        Named::default(),
        caller.read(move |conn, scope| {
            scope.require_account_credentials()?;
            Ok(store::roles::list(conn, &scope.service_sid, &seek.query)?)
        })
    );
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |r| r.id).map(|r| ChatRole::new(r, &urls));
    Ok(ListPage::new("roles", &format!("{}/Roles", urls.service), &[], &page, window).respond())
}

pub async fn fetch(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    let (scope, row) = chat!(
        caller,
        named(&sid),
        caller.read(move |conn, scope| {
            scope.require_account_credentials()?;
            Ok(store::roles::find(conn, &scope.service_sid, &sid)?)
        })
    );
    Ok(api::ok(ChatRole::new(row, &urls(&caller, &scope))))
}

pub async fn update(caller: Caller, path: web::Path<RolePath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let requested: Vec<String> = p.all("Permission").into_iter().map(str::to_owned).collect();
    if requested.is_empty() {
        return Err(ApiError::missing_param("Permission"));
    }
    let sid = path.into_inner().role;
    let (scope, row) = chat!(
        caller,
        named(&sid),
        caller.write(move |tx, scope| {
            scope.require_account_credentials()?;
            let conn = tx.conn()?;
            let role = store::roles::find(conn, &scope.service_sid, &sid)?;
            let set = permissions(role.role_type, requested.iter().map(String::as_str).collect())?;
            store::roles::set_permissions(conn, &role.sid, &set, time::now())?;
            Ok(store::roles::find(conn, &scope.service_sid, &role.sid)?)
        })
    );
    Ok(api::ok(ChatRole::new(row, &urls(&caller, &scope))))
}

/// A role still held, or named as a service default, cannot be deleted.
pub async fn delete(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    chat!(
        caller,
        named(&sid),
        caller.write(move |tx, scope| {
            scope.require_account_credentials()?;
            let conn = tx.conn()?;
            let role = store::roles::find(conn, &scope.service_sid, &sid)?;
            Ok(store::roles::delete_unused(conn, &scope.service_sid, &role.sid)?)
        })
    );
    Ok(api::no_content())
}
