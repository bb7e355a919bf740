//! Conversation Services (`IS…`): create, list, fetch, delete.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::{self, Form, ListPage, PageRequest, Query, limits, time};
use crate::auth::{Caller, accounts as account_queries};
use crate::db::DbConnection;
use crate::db::schema::{conversations, services};
use crate::error::{ApiError, ApiResult};
use crate::keyset;
use crate::roles::{self, permissions};
use crate::sid::SidKind;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct ServiceRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub default_conversation_creator_role_sid: Option<String>,
    pub default_conversation_role_sid: Option<String>,
    pub default_chat_service_role_sid: Option<String>,
    pub reachability_enabled: bool,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = services, treat_none_as_default_value = false)]
struct NewService<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    reachability_enabled: bool,
    date_created: i64,
    date_updated: i64,
}

pub fn exists(conn: &mut DbConnection, account_sid: &str, sid: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        services::table.filter(services::sid.eq(sid)).filter(services::account_sid.eq(account_sid)),
    ))
    .get_result(conn)
}

/// The body given to a message with media and no `Body`, if configured.
pub fn media_compatibility_message(
    conn: &mut DbConnection,
    service_sid: &str,
) -> QueryResult<Option<String>> {
    services::table
        .filter(services::sid.eq(service_sid))
        .select(services::media_compatibility_message)
        .get_result(conn)
}

/// The service by SID within an account; 404 when it is another account's.
pub fn find(conn: &mut DbConnection, account_sid: &str, sid: &str) -> Result<ServiceRow, ApiError> {
    services::table
        .filter(services::sid.eq(sid))
        .filter(services::account_sid.eq(account_sid))
        .select(ServiceRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// Creates a service with its four default roles and points its
/// configuration at them. Call inside a transaction.
pub fn create_with_defaults(
    conn: &mut DbConnection,
    account_sid: &str,
    friendly_name: &str,
    now: i64,
) -> Result<ServiceRow, ApiError> {
    let sid = SidKind::Service.generate();
    diesel::insert_into(services::table)
        .values(NewService {
            sid: &sid,
            account_sid,
            friendly_name,
            reachability_enabled: false,
            date_created: now,
            date_updated: now,
        })
        .execute(conn)?;
    let mut create = |role: &permissions::DefaultRole| {
        let perms: Vec<String> = role.permissions.iter().map(|p| p.to_string()).collect();
        roles::insert(conn, account_sid, &sid, role.friendly_name, role.role_type, &perms, now)
    };
    let _service_admin = create(&permissions::SERVICE_ADMIN)?;
    let service_user = create(&permissions::SERVICE_USER)?;
    let channel_admin = create(&permissions::CHANNEL_ADMIN)?;
    let channel_user = create(&permissions::CHANNEL_USER)?;
    diesel::update(services::table.filter(services::sid.eq(&sid)))
        .set((
            services::default_chat_service_role_sid.eq(&service_user.sid),
            services::default_conversation_role_sid.eq(&channel_user.sid),
            services::default_conversation_creator_role_sid.eq(&channel_admin.sid),
        ))
        .execute(conn)?;
    find(conn, account_sid, &sid)
}

#[derive(Serialize)]
pub struct ServiceLinks {
    conversations: String,
    users: String,
    roles: String,
    bindings: String,
    configuration: String,
    participant_conversations: String,
    conversation_with_participants: String,
}

#[derive(Serialize)]
pub struct ServiceView {
    account_sid: String,
    sid: String,
    friendly_name: String,
    date_created: String,
    date_updated: String,
    url: String,
    links: ServiceLinks,
}

impl ServiceView {
    pub fn new(row: ServiceRow, v1: &str) -> Self {
        let url = format!("{v1}/Services/{}", row.sid);
        ServiceView {
            links: ServiceLinks {
                conversations: format!("{url}/Conversations"),
                users: format!("{url}/Users"),
                roles: format!("{url}/Roles"),
                bindings: format!("{url}/Bindings"),
                configuration: format!("{url}/Configuration"),
                participant_conversations: format!("{url}/ParticipantConversations"),
                conversation_with_participants: format!("{url}/ConversationWithParticipants"),
            },
            url,
            account_sid: row.account_sid,
            sid: row.sid,
            friendly_name: row.friendly_name,
            date_created: time::format(row.date_created),
            date_updated: time::format(row.date_updated),
        }
    }
}

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
        .write_account(move |conn, principal| {
            create_with_defaults(conn, principal.account_sid(), &name, time::now())
        })
        .await?;
    Ok(api::created(ServiceView::new(row, &caller.v1())))
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "services")?;
    let seek = page.seek(false);
    let rows = caller
        .read_account(move |conn, principal| {
            let query = services::table
                .filter(services::account_sid.eq(principal.account_sid()))
                .select(ServiceRow::as_select())
                .into_boxed();
            Ok(keyset!(query, services::id, seek).load(conn)?)
        })
        .await?;
    let v1 = caller.v1();
    let window = seek.finish(rows, |r| r.id).map(|r| ServiceView::new(r, &v1));
    Ok(ListPage::new("services", &format!("{v1}/Services"), &[], &page, window).respond())
}

pub async fn fetch(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller.read_account(move |conn, principal| find(conn, principal.account_sid(), &sid)).await?;
    Ok(api::ok(ServiceView::new(row, &caller.v1())))
}

/// Deletes the service and everything in it: conversations (with their
/// participants and messages), users and roles. The account's default
/// service cannot go: the `/v1/…` family would be left pointing at nothing.
pub async fn delete(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    caller
        .write_account(move |conn, principal| {
            let row = find(conn, principal.account_sid(), &sid)?;
            let default = account_queries::lock_default_service(conn, principal.account_sid())?;
            if default.as_deref() == Some(row.sid.as_str()) {
                return Err(ApiError::bad_request(
                    crate::error::codes::INVALID_PARAMETER,
                    "The default Conversation Service cannot be deleted; make another service the default first (POST /v1/Configuration DefaultChatServiceSid)",
                ));
            }
            // Conversations first (their participants and messages cascade),
            // then the service with its users and roles.
            diesel::delete(conversations::table.filter(conversations::service_sid.eq(&row.sid))).execute(conn)?;
            diesel::delete(services::table.filter(services::sid.eq(&row.sid))).execute(conn)?;
            Ok(())
        })
        .await?;
    // Objects of media deleted with it go now, not at the next collector pass.
    caller.app().media.collector.notify_one();
    Ok(api::no_content())
}
