//! Users (`US…`): a chat identity within a service, with its service role.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::{Caller, ServiceScope, standing};
use crate::db::DbConnection;
use crate::domain::{Permission, RoleType};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{pre_event, role_param};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::users::{NewUser, UserChanges, UserRow};
use crate::store::{self};
use crate::time;
use crate::views::users::User;
use crate::webhooks::params::{self as webhook_params, set};

#[derive(Deserialize)]
pub struct UserPath {
    pub user: String,
}

/// Actions on users that only account credentials take.
fn admin_only(scope: &ServiceScope, what: &str) -> Result<(), ApiError> {
    match scope.end_user() {
        None => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!("{what} requires account credentials"))),
    }
}

/// A new user's parameters.
pub(crate) struct NewUserParams {
    pub identity: String,
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub role: Option<String>,
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let identity = p.text("Identity", limits::IDENTITY_CHARS)?.filter(|s| !s.is_empty());
    let identity = identity.ok_or_else(|| ApiError::missing_param("Identity"))?;
    let params = NewUserParams {
        identity,
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
        attributes: p.json_text("Attributes", limits::USER_ATTRIBUTES)?,
        role: p.sid("RoleSid", SidKind::Role)?,
    };
    let (scope, row) = create_user(&caller, params).await?;
    Ok(api::created(User::new(row, &scope.urls)))
}

/// Creates a user (account credentials only); shared with Chat.
pub(crate) async fn create_user(
    caller: &Caller,
    params: NewUserParams,
) -> Result<(ServiceScope, UserRow), ApiError> {
    let NewUserParams { identity, friendly_name, attributes, role } = params;
    caller
        .write(move |tx, scope| {
            admin_only(scope, "Creating users")?;
            let conn = tx.conn()?;
            let service = store::services::find(conn, scope.account_sid(), &scope.service_sid)?;
            let role_sid = match &role {
                Some(r) => role_param(conn, &service.sid, "RoleSid", r, RoleType::Service)?.sid,
                None => service
                    .default_chat_service_role_sid
                    .clone()
                    .ok_or_else(|| ApiError::internal("service has no default service role"))?,
            };
            let now = time::now();
            let user = NewUser {
                sid: &SidKind::User.generate(),
                account_sid: scope.account_sid(),
                service_sid: &service.sid,
                identity: &identity,
                friendly_name: friendly_name.as_deref(),
                attributes: attributes.as_deref().unwrap_or("{}"),
                role_sid: &role_sid,
                date_created: now,
                date_updated: now,
            };
            Ok(store::users::insert(conn, &user)?)
        })
        .await
}

pub async fn fetch(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().user;
    let (scope, row) =
        caller.read(move |conn, scope| Ok(store::users::find(conn, &scope.service_sid, &key)?)).await?;
    Ok(api::ok(User::new(row, &scope.urls)))
}

/// A user may make this change to `user`?
fn authorize_update(scope: &ServiceScope, user: &UserRow, role: Option<&str>) -> Result<(), ApiError> {
    let standing = standing::in_service(scope);
    standing.require_own_or_any(
        Some(&user.identity),
        Permission::EditOwnUserInfo,
        Permission::EditAnyUserInfo,
    )?;
    if role.is_some() {
        standing.require_admin_for("RoleSid")?;
    }
    Ok(())
}

/// What a user update asks for.
#[derive(Clone, Default)]
pub(crate) struct UserEdit {
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub role: Option<String>,
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<UserPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let edit = UserEdit {
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
        attributes: p.json_text("Attributes", limits::USER_ATTRIBUTES)?,
        role: p.sid("RoleSid", SidKind::Role)?,
    };
    let (scope, row) = update_user(&caller, &state, path.into_inner().user, edit).await?;
    Ok(api::ok(User::new(row, &scope.urls)))
}

/// Updates the user `key` (SID or identity) as the caller, after the
/// pre-event webhook of an end user's edit; shared with Chat.
pub(crate) async fn update_user(
    caller: &Caller,
    state: &AppState,
    key: String,
    edit: UserEdit,
) -> Result<(ServiceScope, UserRow), ApiError> {
    let UserEdit { friendly_name, attributes, role } = edit;
    // An end user's edit of a user calls the pre-event webhook, which may reject it.
    let proposed = {
        let (key, friendly_name, attributes, role) =
            (key.clone(), friendly_name.clone(), attributes.clone(), role.clone());
        move |conn: &mut DbConnection, scope: &ServiceScope| {
            let user = store::users::find(conn, &scope.service_sid, &key)?;
            authorize_update(scope, &user, role.as_deref())?;
            let mut params = webhook_params::user(&user);
            if friendly_name.is_some() {
                set(&mut params, "FriendlyName", friendly_name.as_deref());
            }
            if attributes.is_some() {
                set(&mut params, "Attributes", attributes.as_deref());
            }
            Ok(params)
        }
    };
    pre_event(&state.webhooks, caller, "onUserUpdate", proposed).await?;
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let user = store::users::find(conn, &scope.service_sid, &key)?;
            authorize_update(scope, &user, role.as_deref())?;
            let role_sid = match &role {
                Some(r) => Some(role_param(conn, &scope.service_sid, "RoleSid", r, RoleType::Service)?.sid),
                None => None,
            };
            let changes = UserChanges {
                friendly_name: friendly_name.map(Some),
                attributes,
                role_sid,
                date_updated: Some(time::now()),
            };
            Ok(store::users::update(conn, &user.sid, &changes)?)
        })
        .await
}

/// Deletes the user; they leave every conversation.
pub async fn delete(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    delete_user(&caller, path.into_inner().user).await?;
    Ok(api::no_content())
}

/// Deletes the user `key` (account credentials only); shared with Chat.
pub(crate) async fn delete_user(caller: &Caller, key: String) -> Result<(), ApiError> {
    caller
        .write(move |tx, scope| {
            admin_only(scope, "Deleting users")?;
            let conn = tx.conn()?;
            let user = store::users::find(conn, &scope.service_sid, &key)?;
            store::participants::remove_all_of_user(conn, &user.sid)?;
            Ok(store::users::delete(conn, &user.sid)?)
        })
        .await?;
    Ok(())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "users")?;
    let seek = page.seek(false);
    let (scope, rows) = caller
        .read(move |conn, scope| {
            // Who else uses the service is the backend's to know; an end user
            // fetches a user it knows by identity.
            standing::in_service(scope).require_admin_to("Listing a service's users")?;
            Ok(store::users::list(conn, &scope.service_sid, &seek.query)?)
        })
        .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| User::new(r, &scope.urls));
    Ok(ListPage::new("users", &format!("{}/Users", scope.urls.prefix), &[], &page, window).respond())
}
