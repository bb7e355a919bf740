//! Roles (`RL…`) and their permissions, on both path families.

pub mod access;
pub mod permissions;

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::{self, Form, ListPage, PageRequest, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::db::schema::{participants, roles, services, users};
use crate::error::{ApiError, ApiResult, codes};
use crate::keyset;
use crate::sid::SidKind;

pub use permissions::RoleType;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub friendly_name: String,
    pub role_type: String,
    pub permissions: String,
    pub date_created: i64,
    pub date_updated: i64,
}

impl RoleRow {
    pub fn permission_list(&self) -> Vec<String> {
        serde_json::from_str(&self.permissions).unwrap_or_default()
    }

    pub fn kind(&self) -> Option<RoleType> {
        RoleType::parse(&self.role_type)
    }
}

#[derive(Insertable)]
#[diesel(table_name = roles, treat_none_as_default_value = false)]
struct NewRole<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    friendly_name: &'a str,
    role_type: &'a str,
    permissions: &'a str,
    date_created: i64,
    date_updated: i64,
}

pub fn insert(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
    friendly_name: &str,
    role_type: RoleType,
    permissions: &[String],
    now: i64,
) -> Result<RoleRow, ApiError> {
    let sid = SidKind::Role.generate();
    let perms = serde_json::to_string(permissions).map_err(ApiError::internal)?;
    diesel::insert_into(roles::table)
        .values(NewRole {
            sid: &sid,
            account_sid,
            service_sid,
            friendly_name,
            role_type: role_type.as_str(),
            permissions: &perms,
            date_created: now,
            date_updated: now,
        })
        .execute(conn)?;
    find(conn, service_sid, &sid)
}

pub fn find(conn: &mut DbConnection, service_sid: &str, sid: &str) -> Result<RoleRow, ApiError> {
    if !SidKind::Role.matches(sid) {
        return Err(ApiError::NotFound);
    }
    roles::table
        .filter(roles::sid.eq(sid))
        .filter(roles::service_sid.eq(service_sid))
        .select(RoleRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// A role named by a request parameter (`RoleSid`): it must exist in the
/// service and be of the expected type, else 400 naming the parameter.
pub fn find_for_param(
    conn: &mut DbConnection,
    service_sid: &str,
    param: &str,
    sid: &str,
    expected: RoleType,
) -> Result<RoleRow, ApiError> {
    let role = find(conn, service_sid, sid).map_err(|e| match e {
        ApiError::NotFound => ApiError::invalid_param(param, format!("no role {sid} in this service")),
        other => other,
    })?;
    if role.kind() != Some(expected) {
        return Err(ApiError::invalid_param(
            param,
            format!("role {sid} is a {} role; a {} role is required", role.role_type, expected.as_str()),
        ));
    }
    Ok(role)
}

#[derive(Serialize)]
pub struct RoleView {
    sid: String,
    account_sid: String,
    chat_service_sid: String,
    friendly_name: String,
    #[serde(rename = "type")]
    role_type: String,
    permissions: Vec<String>,
    date_created: String,
    date_updated: String,
    url: String,
}

impl RoleView {
    pub fn new(row: RoleRow, scope: &ServiceScope) -> Self {
        RoleView {
            url: format!("{}/Roles/{}", scope.prefix, row.sid),
            permissions: row.permission_list(),
            sid: row.sid,
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            friendly_name: row.friendly_name,
            role_type: row.role_type,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}

#[derive(Deserialize)]
pub struct RolePath {
    role: String,
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = p
        .text("FriendlyName", limits::NAME_CHARS)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_param("FriendlyName"))?;
    let role_type = p
        .choice("Type", &["conversation", "service"])?
        .and_then(RoleType::parse)
        .ok_or_else(|| ApiError::missing_param("Type"))?;
    let perms = permissions::validate(role_type, &p.all("Permission"))?;
    let (scope, row) = caller
        .write_admin(move |conn, scope| {
            insert(conn, scope.account_sid(), &scope.service_sid, &name, role_type, &perms, time::now())
        })
        .await?;
    Ok(api::created(RoleView::new(row, &scope)))
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "roles")?;
    let seek = page.seek(false);
    let (scope, rows) = caller
        .read_admin(move |conn, scope| {
            let query = roles::table
                .filter(roles::service_sid.eq(&scope.service_sid))
                .select(RoleRow::as_select())
                .into_boxed();
            Ok(keyset!(query, roles::id, seek).load(conn)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| RoleView::new(r, &scope));
    Ok(ListPage::new("roles", &format!("{}/Roles", scope.prefix), &[], &page, window).respond())
}

pub async fn fetch(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    let (scope, row) = caller.read_admin(move |conn, scope| find(conn, &scope.service_sid, &sid)).await?;
    Ok(api::ok(RoleView::new(row, &scope)))
}

/// Replaces the whole permission set.
pub async fn update(caller: Caller, path: web::Path<RolePath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let requested: Vec<String> = p.all("Permission").into_iter().map(str::to_owned).collect();
    let sid = path.into_inner().role;
    let (scope, row) = caller
        .write_admin(move |conn, scope| {
            let role = find(conn, &scope.service_sid, &sid)?;
            let kind = role.kind().ok_or_else(|| ApiError::internal("role with unknown type"))?;
            let names: Vec<&str> = requested.iter().map(String::as_str).collect();
            let perms = permissions::validate(kind, &names)?;
            let json = serde_json::to_string(&perms).map_err(ApiError::internal)?;
            diesel::update(roles::table.filter(roles::sid.eq(&role.sid)))
                .set((roles::permissions.eq(json), roles::date_updated.eq(time::now())))
                .execute(conn)?;
            find(conn, &scope.service_sid, &role.sid)
        })
        .await?;
    Ok(api::ok(RoleView::new(row, &scope)))
}

/// A role still held by a user or participant, or named as a service
/// default, cannot be deleted.
pub async fn delete(caller: Caller, path: web::Path<RolePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().role;
    caller
        .write_admin(move |conn, scope| {
            let service = &scope.service_sid;
            let role = find(conn, service, &sid)?;
            let held_by_user: bool =
                diesel::select(diesel::dsl::exists(users::table.filter(users::role_sid.eq(&role.sid))))
                    .get_result(conn)?;
            let held_by_participant: bool = diesel::select(diesel::dsl::exists(
                participants::table.filter(participants::role_sid.eq(&role.sid)),
            ))
            .get_result(conn)?;
            let is_default: bool = diesel::select(diesel::dsl::exists(
                services::table.filter(services::sid.eq(service)).filter(
                    services::default_chat_service_role_sid
                        .eq(&role.sid)
                        .or(services::default_conversation_role_sid.eq(&role.sid))
                        .or(services::default_conversation_creator_role_sid.eq(&role.sid)),
                ),
            ))
            .get_result(conn)?;
            if held_by_user || held_by_participant || is_default {
                return Err(ApiError::bad_request(
                    codes::INVALID_PARAMETER,
                    format!(
                        "Role {} is in use ({}) and cannot be deleted",
                        role.sid,
                        if is_default {
                            "it is a default role of the service"
                        } else {
                            "users or participants hold it"
                        }
                    ),
                ));
            }
            diesel::delete(roles::table.filter(roles::sid.eq(&role.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(api::no_content())
}
