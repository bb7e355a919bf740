//! `/v1/Configuration` (the account's defaults) and
//! `/v1/Services/{IS}/Configuration` (a service's default roles).

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::{self, Form, limits, time};
use crate::auth::{AccountRow, Caller, accounts as account_queries};
use crate::db::schema::{accounts, services};
use crate::error::{ApiError, ApiResult};
use crate::roles::{self, RoleType};
use crate::sid::SidKind;

use super::services::{self as service_queries, ServiceRow};

/// Timer minimums, as Twilio enforces them.
pub const MIN_INACTIVE_SECS: i64 = 60;
pub const MIN_CLOSED_SECS: i64 = 600;

#[derive(Serialize)]
struct ConfigurationLinks {
    service: Option<String>,
    webhooks: String,
}

#[derive(Serialize)]
struct ConfigurationView {
    account_sid: String,
    default_chat_service_sid: Option<String>,
    default_messaging_service_sid: Option<String>,
    default_inactive_timer: Option<String>,
    default_closed_timer: Option<String>,
    url: String,
    links: ConfigurationLinks,
}

impl ConfigurationView {
    fn new(row: AccountRow, v1: &str) -> Self {
        ConfigurationView {
            links: ConfigurationLinks {
                service: row.default_service_sid.as_ref().map(|s| format!("{v1}/Services/{s}/Configuration")),
                webhooks: format!("{v1}/Configuration/Webhooks"),
            },
            url: format!("{v1}/Configuration"),
            account_sid: row.sid,
            default_chat_service_sid: row.default_service_sid,
            default_messaging_service_sid: row.default_messaging_service_sid,
            default_inactive_timer: row.default_inactive_timer,
            default_closed_timer: row.default_closed_timer,
        }
    }
}

pub async fn fetch(caller: Caller) -> ApiResult<HttpResponse> {
    let account = caller
        .read_account(|_, principal| {
            principal
                .account()
                .cloned()
                .ok_or_else(|| ApiError::internal("account credentials without an account"))
        })
        .await?;
    Ok(api::ok(ConfigurationView::new(account, &caller.v1())))
}

/// An optional duration parameter stored as given; an empty value clears it.
fn timer_setting(p: &api::Params, name: &str, min: i64) -> Result<Option<Option<String>>, ApiError> {
    match p.str(name) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) => {
            p.duration(name, min)?;
            Ok(Some(Some(v.to_owned())))
        }
    }
}

pub async fn update(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let default_service = p.sid("DefaultChatServiceSid", SidKind::Service)?;
    let messaging_service = match p.str("DefaultMessagingServiceSid") {
        Some("") => Some(None),
        Some(_) => Some(p.sid("DefaultMessagingServiceSid", SidKind::MessagingService)?),
        None => None,
    };
    let inactive = timer_setting(&p, "DefaultInactiveTimer", MIN_INACTIVE_SECS)?;
    let closed = timer_setting(&p, "DefaultClosedTimer", MIN_CLOSED_SECS)?;
    let row = caller
        .write_account(move |conn, principal| {
            let account = principal.account_sid();
            account_queries::lock_default_service(conn, account)?;
            if let Some(service) = &default_service {
                if !service_queries::exists(conn, account, service)? {
                    return Err(ApiError::invalid_param(
                        "DefaultChatServiceSid",
                        format!("no service {service} in this account"),
                    ));
                }
                account_queries::set_default_service(conn, account, service)?;
            }
            let target = accounts::table.filter(accounts::sid.eq(account));
            if let Some(v) = messaging_service {
                diesel::update(target).set(accounts::default_messaging_service_sid.eq(v)).execute(conn)?;
            }
            if let Some(v) = inactive {
                diesel::update(target).set(accounts::default_inactive_timer.eq(v)).execute(conn)?;
            }
            if let Some(v) = closed {
                diesel::update(target).set(accounts::default_closed_timer.eq(v)).execute(conn)?;
            }
            diesel::update(target).set(accounts::date_updated.eq(time::now())).execute(conn)?;
            account_queries::find(conn, account)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(api::ok(ConfigurationView::new(row, &caller.v1())))
}

#[derive(Serialize)]
struct ServiceConfigurationLinks {
    notifications: String,
    webhooks: String,
}

#[derive(Serialize)]
struct ServiceConfigurationView {
    chat_service_sid: String,
    default_conversation_creator_role_sid: Option<String>,
    default_conversation_role_sid: Option<String>,
    default_chat_service_role_sid: Option<String>,
    reachability_enabled: bool,
    /// Confab extension: the body of a message sent with media and no Body.
    media_compatibility_message: Option<String>,
    url: String,
    links: ServiceConfigurationLinks,
}

impl ServiceConfigurationView {
    fn new((row, media_compatibility_message): (ServiceRow, Option<String>), v1: &str) -> Self {
        let url = format!("{v1}/Services/{}/Configuration", row.sid);
        ServiceConfigurationView {
            links: ServiceConfigurationLinks {
                notifications: format!("{url}/Notifications"),
                webhooks: format!("{url}/Webhooks"),
            },
            url,
            chat_service_sid: row.sid,
            default_conversation_creator_role_sid: row.default_conversation_creator_role_sid,
            default_conversation_role_sid: row.default_conversation_role_sid,
            default_chat_service_role_sid: row.default_chat_service_role_sid,
            reachability_enabled: row.reachability_enabled,
            media_compatibility_message,
        }
    }
}

#[derive(Deserialize)]
pub struct ServicePath {
    service: String,
}

pub async fn fetch_service(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller
        .read_account(move |conn, principal| {
            let row = service_queries::find(conn, principal.account_sid(), &sid)?;
            let message = service_queries::media_compatibility_message(conn, &row.sid)?;
            Ok((row, message))
        })
        .await?;
    Ok(api::ok(ServiceConfigurationView::new(row, &caller.v1())))
}

pub async fn update_service(
    caller: Caller,
    path: web::Path<ServicePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let creator = p.sid("DefaultConversationCreatorRoleSid", SidKind::Role)?;
    let conversation = p.sid("DefaultConversationRoleSid", SidKind::Role)?;
    let chat_service = p.sid("DefaultChatServiceRoleSid", SidKind::Role)?;
    let reachability = p.bool("ReachabilityEnabled")?;
    let compatibility = p.text("MediaCompatibilityMessage", limits::MESSAGE_BODY_CHARS)?;
    let sid = path.into_inner().service;
    let row = caller
        .write_account(move |conn, principal| {
            let account = principal.account_sid();
            let service = service_queries::find(conn, account, &sid)?;
            let target = services::table.filter(services::sid.eq(&service.sid));
            if let Some(role) = &creator {
                roles::find_for_param(
                    conn,
                    &service.sid,
                    "DefaultConversationCreatorRoleSid",
                    role,
                    RoleType::Conversation,
                )?;
                diesel::update(target)
                    .set(services::default_conversation_creator_role_sid.eq(role))
                    .execute(conn)?;
            }
            if let Some(role) = &conversation {
                roles::find_for_param(
                    conn,
                    &service.sid,
                    "DefaultConversationRoleSid",
                    role,
                    RoleType::Conversation,
                )?;
                diesel::update(target).set(services::default_conversation_role_sid.eq(role)).execute(conn)?;
            }
            if let Some(role) = &chat_service {
                roles::find_for_param(
                    conn,
                    &service.sid,
                    "DefaultChatServiceRoleSid",
                    role,
                    RoleType::Service,
                )?;
                diesel::update(target).set(services::default_chat_service_role_sid.eq(role)).execute(conn)?;
            }
            if let Some(enabled) = reachability {
                diesel::update(target).set(services::reachability_enabled.eq(enabled)).execute(conn)?;
            }
            if let Some(text) = compatibility {
                let value = Some(text).filter(|t| !t.is_empty());
                diesel::update(target).set(services::media_compatibility_message.eq(value)).execute(conn)?;
            }
            diesel::update(target).set(services::date_updated.eq(time::now())).execute(conn)?;
            let row = service_queries::find(conn, account, &service.sid)?;
            let message = service_queries::media_compatibility_message(conn, &row.sid)?;
            Ok((row, message))
        })
        .await?;
    Ok(api::ok(ServiceConfigurationView::new(row, &caller.v1())))
}
