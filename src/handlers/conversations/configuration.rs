//! `/v1/Configuration` (the account's defaults) and
//! `/v1/Services/{IS}/Configuration` (a service's default roles).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, Params, limits};
use crate::auth::Caller;
use crate::domain::RoleType;
use crate::error::{ApiError, ApiResult};
use crate::sid::SidKind;
use crate::store::{self, accounts::DefaultsChanges, services::ConfigurationChanges};
use crate::time;
use crate::views::configuration::{Configuration, ServiceConfiguration};

/// Timer minimums, as Twilio enforces them.
pub const MIN_INACTIVE_SECS: i64 = 60;
pub const MIN_CLOSED_SECS: i64 = 600;

pub async fn fetch(caller: Caller) -> ApiResult<HttpResponse> {
    let account = caller
        .read_account(|_, principal| {
            principal
                .account()
                .cloned()
                .ok_or_else(|| ApiError::internal("account credentials without an account"))
        })
        .await?;
    Ok(api::ok(Configuration::new(account, &caller.v1())))
}

/// An optional duration parameter stored as given; an empty value clears it.
fn timer_setting(p: &Params, name: &str, min: i64) -> Result<Option<Option<String>>, ApiError> {
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
    let changes = DefaultsChanges {
        default_messaging_service_sid: messaging_service,
        default_inactive_timer: timer_setting(&p, "DefaultInactiveTimer", MIN_INACTIVE_SECS)?,
        default_closed_timer: timer_setting(&p, "DefaultClosedTimer", MIN_CLOSED_SECS)?,
        date_updated: Some(time::now()),
    };
    let row = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let account = principal.account_sid();
            store::accounts::lock_default_service(conn, account)?;
            if let Some(service) = &default_service {
                if !store::services::exists(conn, account, service)? {
                    return Err(ApiError::invalid_param(
                        "DefaultChatServiceSid",
                        format!("no service {service} in this account"),
                    ));
                }
                store::accounts::set_default_service(conn, account, service, time::now())?;
            }
            store::accounts::update_defaults(conn, account, &changes)?;
            store::accounts::find(conn, account)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(api::ok(Configuration::new(row, &caller.v1())))
}

#[derive(Deserialize)]
pub struct ServicePath {
    service: String,
}

pub async fn fetch_service(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller
        .read_account(move |conn, principal| Ok(store::services::find(conn, principal.account_sid(), &sid)?))
        .await?;
    Ok(api::ok(ServiceConfiguration::new(row, &caller.v1())))
}

pub async fn update_service(
    caller: Caller,
    path: web::Path<ServicePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let roles = [
        (
            "DefaultConversationCreatorRoleSid",
            p.sid("DefaultConversationCreatorRoleSid", SidKind::Role)?,
            RoleType::Conversation,
        ),
        (
            "DefaultConversationRoleSid",
            p.sid("DefaultConversationRoleSid", SidKind::Role)?,
            RoleType::Conversation,
        ),
        ("DefaultChatServiceRoleSid", p.sid("DefaultChatServiceRoleSid", SidKind::Role)?, RoleType::Service),
    ];
    let reachability = p.bool("ReachabilityEnabled")?;
    let compatibility = p.text("MediaCompatibilityMessage", limits::MESSAGE_BODY_CHARS)?;
    let sid = path.into_inner().service;
    let row = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let service = store::services::find(conn, principal.account_sid(), &sid)?;
            for (param, role, expected) in &roles {
                if let Some(role) = role {
                    crate::handlers::role_param(conn, &service.sid, param, role, *expected)?;
                }
            }
            let [(_, creator, _), (_, conversation, _), (_, chat_service, _)] = roles;
            let changes = ConfigurationChanges {
                default_conversation_creator_role_sid: creator,
                default_conversation_role_sid: conversation,
                default_chat_service_role_sid: chat_service,
                reachability_enabled: reachability,
                media_compatibility_message: compatibility.map(|text| Some(text).filter(|t| !t.is_empty())),
                date_updated: Some(time::now()),
            };
            store::services::update_configuration(conn, &service.sid, &changes)?;
            Ok(store::services::find(conn, principal.account_sid(), &service.sid)?)
        })
        .await?;
    Ok(api::ok(ServiceConfiguration::new(row, &caller.v1())))
}
