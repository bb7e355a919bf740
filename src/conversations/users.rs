//! Users (`US…`): a chat identity within a service, with its service role.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::{self, Form, ListPage, PageRequest, Query, ServiceScope, limits, time};
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::db::schema::users;
use crate::error::{ApiError, ApiResult, codes, is_unique_violation};
use crate::keyset;
use crate::roles::{self, RoleType, access};
use crate::sid::SidKind;

use super::services::{self as service_queries, ServiceRow};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub role_sid: String,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct NewUser<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    identity: &'a str,
    friendly_name: Option<&'a str>,
    attributes: &'a str,
    role_sid: &'a str,
    date_created: i64,
    date_updated: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
struct UserChanges {
    friendly_name: Option<Option<String>>,
    attributes: Option<String>,
    role_sid: Option<String>,
    date_updated: Option<i64>,
}

fn insert(conn: &mut DbConnection, user: NewUser<'_>) -> Result<UserRow, diesel::result::Error> {
    diesel::insert_into(users::table).values(&user).execute(conn)?;
    users::table.filter(users::sid.eq(user.sid)).select(UserRow::as_select()).get_result(conn)
}

pub fn find_by_identity(
    conn: &mut DbConnection,
    service_sid: &str,
    identity: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::service_sid.eq(service_sid))
        .filter(users::identity.eq(identity))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

/// A user of the service by SID or identity.
pub fn find(conn: &mut DbConnection, service_sid: &str, key: &str) -> Result<UserRow, ApiError> {
    let query =
        users::table.filter(users::service_sid.eq(service_sid)).select(UserRow::as_select()).into_boxed();
    let query = if SidKind::User.matches(key) {
        query.filter(users::sid.eq(key))
    } else {
        query.filter(users::identity.eq(key))
    };
    query.get_result(conn).optional()?.ok_or(ApiError::NotFound)
}

/// The user with this identity, created with the service's default role if
/// new. Runs the insert in a savepoint so that losing a race to a concurrent
/// insert of the same identity does not abort the caller's transaction.
pub fn ensure(conn: &mut DbConnection, service: &ServiceRow, identity: &str) -> Result<UserRow, ApiError> {
    if let Some(user) = find_by_identity(conn, &service.sid, identity)? {
        return Ok(user);
    }
    let role_sid = service
        .default_chat_service_role_sid
        .as_deref()
        .ok_or_else(|| ApiError::internal("service has no default service role"))?;
    let now = time::now();
    let sid = SidKind::User.generate();
    let created = conn.transaction(|conn| {
        insert(
            conn,
            NewUser {
                sid: &sid,
                account_sid: &service.account_sid,
                service_sid: &service.sid,
                identity,
                friendly_name: None,
                attributes: "{}",
                role_sid,
                date_created: now,
                date_updated: now,
            },
        )
    });
    match created {
        Ok(user) => Ok(user),
        Err(e) if is_unique_violation(&e) => {
            find_by_identity(conn, &service.sid, identity)?.ok_or(ApiError::NotFound)
        }
        Err(e) => Err(e.into()),
    }
}

/// Actions on users that only account credentials take.
fn admin_only(scope: &ServiceScope, what: &str) -> Result<(), ApiError> {
    match scope.end_user() {
        None => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!("{what} requires account credentials"))),
    }
}

#[derive(Serialize)]
pub struct UserLinks {
    user_conversations: String,
}

#[derive(Serialize)]
pub struct UserView {
    sid: String,
    account_sid: String,
    chat_service_sid: String,
    role_sid: String,
    identity: String,
    friendly_name: Option<String>,
    attributes: String,
    /// Presence is not tracked (no realtime connection yet): unknown.
    is_online: Option<bool>,
    is_notifiable: Option<bool>,
    date_created: String,
    date_updated: String,
    url: String,
    links: UserLinks,
}

impl UserView {
    pub fn new(row: UserRow, scope: &ServiceScope) -> Self {
        let url = format!("{}/Users/{}", scope.prefix, row.sid);
        UserView {
            links: UserLinks { user_conversations: format!("{url}/Conversations") },
            url,
            sid: row.sid,
            account_sid: row.account_sid,
            chat_service_sid: row.service_sid,
            role_sid: row.role_sid,
            identity: row.identity,
            friendly_name: row.friendly_name,
            attributes: row.attributes,
            is_online: None,
            is_notifiable: None,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}

#[derive(Deserialize)]
pub struct UserPath {
    pub user: String,
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let identity = p.text("Identity", limits::IDENTITY_CHARS)?.filter(|s| !s.is_empty());
    let identity = identity.ok_or_else(|| ApiError::missing_param("Identity"))?;
    let friendly_name = p.text("FriendlyName", limits::NAME_CHARS)?;
    let attributes = p.json_text("Attributes", limits::USER_ATTRIBUTES)?;
    let role = p.sid("RoleSid", SidKind::Role)?;
    let (scope, row) = caller
        .write(move |conn, scope| {
            admin_only(scope, "Creating users")?;
            let service = service_queries::find(conn, scope.account_sid(), &scope.service_sid)?;
            let role_sid = match &role {
                Some(r) => roles::find_for_param(conn, &service.sid, "RoleSid", r, RoleType::Service)?.sid,
                None => service
                    .default_chat_service_role_sid
                    .clone()
                    .ok_or_else(|| ApiError::internal("service has no default service role"))?,
            };
            let now = time::now();
            insert(
                conn,
                NewUser {
                    sid: &SidKind::User.generate(),
                    account_sid: scope.account_sid(),
                    service_sid: &service.sid,
                    identity: &identity,
                    friendly_name: friendly_name.as_deref(),
                    attributes: attributes.as_deref().unwrap_or("{}"),
                    role_sid: &role_sid,
                    date_created: now,
                    date_updated: now,
                },
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    ApiError::conflict(
                        codes::USER_EXISTS,
                        format!("A User with identity {identity:?} already exists"),
                    )
                } else {
                    e.into()
                }
            })
        })
        .await?;
    Ok(api::created(UserView::new(row, &scope)))
}

pub async fn fetch(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().user;
    let (scope, row) = caller.read(move |conn, scope| find(conn, &scope.service_sid, &key)).await?;
    Ok(api::ok(UserView::new(row, &scope)))
}

pub async fn update(caller: Caller, path: web::Path<UserPath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let friendly_name = p.text("FriendlyName", limits::NAME_CHARS)?;
    let attributes = p.json_text("Attributes", limits::USER_ATTRIBUTES)?;
    let role = p.sid("RoleSid", SidKind::Role)?;
    let key = path.into_inner().user;
    let (scope, row) = caller
        .write(move |conn, scope| {
            let user = find(conn, &scope.service_sid, &key)?;
            let standing = access::in_service(scope);
            standing.require_own_or_any(Some(&user.identity), "editOwnUserInfo", "editAnyUserInfo")?;
            if role.is_some() {
                standing.require_admin_for("RoleSid")?;
            }
            let role_sid = match &role {
                Some(r) => Some(
                    roles::find_for_param(conn, &scope.service_sid, "RoleSid", r, RoleType::Service)?.sid,
                ),
                None => None,
            };
            let changes = UserChanges {
                friendly_name: friendly_name.map(Some),
                attributes,
                role_sid,
                date_updated: Some(time::now()),
            };
            diesel::update(users::table.filter(users::sid.eq(&user.sid))).set(&changes).execute(conn)?;
            find(conn, &scope.service_sid, &user.sid)
        })
        .await?;
    Ok(api::ok(UserView::new(row, &scope)))
}

/// Deletes the user; they leave every conversation (participant rows cascade).
pub async fn delete(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().user;
    caller
        .write(move |conn, scope| {
            admin_only(scope, "Deleting users")?;
            let user = find(conn, &scope.service_sid, &key)?;
            diesel::delete(users::table.filter(users::sid.eq(&user.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(api::no_content())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "users")?;
    let seek = page.seek(false);
    let (scope, rows) = caller
        .read(move |conn, scope| {
            let query = users::table
                .filter(users::service_sid.eq(&scope.service_sid))
                .select(UserRow::as_select())
                .into_boxed();
            Ok(keyset!(query, users::id, seek).load(conn)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| UserView::new(r, &scope));
    Ok(ListPage::new("users", &format!("{}/Users", scope.prefix), &[], &page, window).respond())
}
