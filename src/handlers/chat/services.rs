//! Chat Services (`IS…`): the same services as Conversations', as one flat
//! object that also carries their configuration; account credentials only.
//! Unlike Conversations' Service, Chat's can be updated.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::{Caller, Principal};
use crate::db::DbConnection;
use crate::domain::event_names::{CHAT_POST_EVENTS, CHAT_PRE_EVENTS};
use crate::domain::{RoleType, Vocabulary};
use crate::error::{ApiError, ApiResult};
use crate::handlers::conversations::services::delete_service;
use crate::handlers::conversations::webhooks::{MAX_RETRY_COUNT, filters_param, method_param, url_param};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::services::{ChatChanges, ConfigurationChanges};
use crate::store::webhooks::ServiceWebhooksRow;
use crate::store::{self};
use crate::time;
use crate::views::chat::services::ChatService;

use super::{Named, chat};

#[derive(Deserialize)]
pub struct ServicePath {
    service: String,
}

/// A service and its webhook configuration, as the view needs them.
fn render(conn: &mut DbConnection, principal: &Principal, sid: &str) -> Result<ServiceParts, ApiError> {
    let row = store::services::find(conn, principal.account_sid(), sid)?;
    let hooks = store::webhooks::service(conn, &row.account_sid, &row.sid)?;
    Ok((row, hooks))
}

type ServiceParts = (store::services::ServiceRow, store::webhooks::ServiceWebhooksRow);

fn view(state: &AppState, caller: &Caller, (row, hooks): ServiceParts) -> ChatService {
    ChatService::new(row, hooks, state.config.media.max_bytes, caller.public_url())
}

pub async fn create(caller: Caller, state: web::Data<AppState>, Form(p): Form) -> ApiResult<HttpResponse> {
    let name = p
        .text("FriendlyName", limits::NAME_CHARS)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing_param("FriendlyName"))?;
    let parts = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let row =
                store::services::create_with_defaults(conn, principal.account_sid(), &name, time::now())?;
            render(conn, principal, &row.sid)
        })
        .await?;
    Ok(api::created(view(&state, &caller, parts)))
}

pub async fn list(caller: Caller, state: web::Data<AppState>, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "services")?;
    let seek = page.seek(false);
    let rows = caller
        .read_account(move |conn, principal| {
            let rows = store::services::list(conn, principal.account_sid(), &seek.query)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let hooks = store::webhooks::service(conn, &row.account_sid, &row.sid)?;
                out.push((row, hooks));
            }
            Ok(out)
        })
        .await?;
    let window = seek.finish(rows, |(r, _)| r.id).map(|parts| view(&state, &caller, parts));
    let url = format!("{}/v2/Services", caller.public_url());
    Ok(ListPage::new("services", &url, &[], &page, window).respond())
}

pub async fn fetch(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ServicePath>,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let parts = caller.read_account(move |conn, principal| render(conn, principal, &sid)).await?;
    Ok(api::ok(view(&state, &caller, parts)))
}

/// The service's webhook configuration as Chat's parameters change it:
/// written through `/v2`, it speaks Chat from now on (names and parameters).
fn apply_webhook_params(hooks: &mut ServiceWebhooksRow, p: &Params) -> Result<bool, ApiError> {
    const PARAMS: &[&str] = &[
        "PreWebhookUrl",
        "PostWebhookUrl",
        "WebhookMethod",
        "WebhookFilters",
        "PreWebhookRetryCount",
        "PostWebhookRetryCount",
    ];
    if !PARAMS.iter().any(|name| p.has(name)) {
        return Ok(false);
    }
    // What to call and when, set through `/v2`, is Chat's; a change of
    // method or retry counts alone keeps the API the configuration speaks.
    if ["PreWebhookUrl", "PostWebhookUrl", "WebhookFilters"].iter().any(|name| p.has(name)) {
        hooks.speak(Vocabulary::Chat);
    }
    if let Some(url) = url_param(p, "PreWebhookUrl")? {
        hooks.pre_webhook_url = url;
    }
    if let Some(url) = url_param(p, "PostWebhookUrl")? {
        hooks.post_webhook_url = url;
    }
    if let Some(method) = method_param(p, "WebhookMethod")? {
        hooks.method = method;
    }
    if let Some(filters) = filters_param(p, "WebhookFilters", &[CHAT_PRE_EVENTS, CHAT_POST_EVENTS])? {
        hooks.filters = filters;
    }
    if let Some(n) = p.int("PreWebhookRetryCount", 0, MAX_RETRY_COUNT)? {
        hooks.pre_retry_count = n as i32;
    }
    if let Some(n) = p.int("PostWebhookRetryCount", 0, MAX_RETRY_COUNT)? {
        hooks.post_retry_count = n as i32;
    }
    hooks.date_updated = time::now();
    Ok(true)
}

/// The keys of Chat's `notifications` object, by parameter prefix.
const NOTIFICATIONS: &[(&str, &str)] = &[
    ("Notifications.NewMessage.", "new_message"),
    ("Notifications.AddedToChannel.", "added_to_channel"),
    ("Notifications.RemovedFromChannel.", "removed_from_channel"),
    ("Notifications.InvitedToChannel.", "invited_to_channel"),
];

/// The `notifications` object with the request's changes merged in (keys
/// appear once set, as Twilio's did).
fn notifications(p: &Params, current: &str) -> Result<Option<String>, ApiError> {
    let mut root: Map<String, Value> = serde_json::from_str(current).unwrap_or_default();
    let mut changed = false;
    for (prefix, key) in NOTIFICATIONS {
        let mut fields: Vec<(&str, Value)> = Vec::new();
        if let Some(v) = p.bool(&format!("{prefix}Enabled"))? {
            fields.push(("enabled", v.into()));
        }
        for (param, field) in [("Template", "template"), ("Sound", "sound")] {
            if let Some(v) = p.text(&format!("{prefix}{param}"), limits::NAME_CHARS)? {
                fields.push((field, v.into()));
            }
        }
        if *key == "new_message"
            && let Some(v) = p.bool(&format!("{prefix}BadgeCountEnabled"))?
        {
            fields.push(("badge_count_enabled", v.into()));
        }
        if fields.is_empty() {
            continue;
        }
        changed = true;
        let entry = root.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(object) = entry {
            for (field, value) in fields {
                object.insert(field.to_owned(), value);
            }
        }
    }
    if let Some(v) = p.bool("Notifications.LogEnabled")? {
        changed = true;
        root.insert("log_enabled".to_owned(), v.into());
    }
    Ok(changed.then(|| Value::Object(root).to_string()))
}

/// A default role parameter: a role of the service of the expected type.
fn default_role(
    conn: &mut DbConnection,
    service_sid: &str,
    param: &str,
    sid: Option<&str>,
    expected: RoleType,
) -> Result<Option<String>, ApiError> {
    let Some(sid) = sid else {
        return Ok(None);
    };
    let role = store::roles::get(conn, service_sid, sid)?
        .ok_or_else(|| ApiError::invalid_param(param, format!("no role {sid} in this service")))?;
    if role.role_type != expected {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "role {sid} is a {} role; a {} role is required",
                role.role_type.name_in(Vocabulary::Chat),
                expected.name_in(Vocabulary::Chat)
            ),
        ));
    }
    Ok(Some(role.sid))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ServicePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let chat = ChatChanges {
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?.filter(|n| !n.is_empty()),
        read_status_enabled: p.bool("ReadStatusEnabled")?,
        typing_indicator_timeout: p.int("TypingIndicatorTimeout", 1, 3600)?,
        consumption_report_interval: p.int("ConsumptionReportInterval", 1, 3600)?,
        limit_channel_members: p.int("Limits.ChannelMembers", 1, 1000)?,
        limit_user_channels: p.int("Limits.UserChannels", 1, 1000)?,
        notifications: None,
    };
    let roles = [
        ("DefaultServiceRoleSid", p.sid("DefaultServiceRoleSid", SidKind::Role)?, RoleType::Service),
        ("DefaultChannelRoleSid", p.sid("DefaultChannelRoleSid", SidKind::Role)?, RoleType::Conversation),
        (
            "DefaultChannelCreatorRoleSid",
            p.sid("DefaultChannelCreatorRoleSid", SidKind::Role)?,
            RoleType::Conversation,
        ),
    ];
    let reachability = p.bool("ReachabilityEnabled")?;
    let compatibility = p
        .text("Media.CompatibilityMessage", limits::MESSAGE_BODY_CHARS)?
        .map(|m| Some(m).filter(|m| !m.is_empty()));
    // Validated before any database work; merged with the stored ones in the write.
    notifications(&p, "{}")?;
    apply_webhook_params(&mut ServiceWebhooksRow::unset("", ""), &p)?;
    let sid = path.into_inner().service;
    let parts = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let current = store::services::find(conn, principal.account_sid(), &sid)?;
            let mut chosen = Vec::with_capacity(roles.len());
            for (param, role, expected) in &roles {
                chosen.push(default_role(conn, &current.sid, param, role.as_deref(), *expected)?);
            }
            let [service_role, channel_role, creator_role]: [Option<String>; 3] =
                chosen.try_into().expect("three default roles");
            let shared = ConfigurationChanges {
                default_chat_service_role_sid: service_role,
                default_conversation_role_sid: channel_role,
                default_conversation_creator_role_sid: creator_role,
                reachability_enabled: reachability,
                media_compatibility_message: compatibility,
                date_updated: Some(time::now()),
            };
            let chat = ChatChanges { notifications: notifications(&p, &current.notifications)?, ..chat };
            store::services::update_chat(conn, &current.sid, &chat, &shared)?;
            let mut hooks = store::webhooks::service_for_update(conn, &current.account_sid, &current.sid)?;
            let hooks_changed = apply_webhook_params(&mut hooks, &p)?;
            if hooks_changed {
                store::webhooks::save_service(conn, &hooks)?;
            }
            Ok((render(conn, principal, &current.sid)?, hooks_changed))
        })
        .await?;
    let (parts, hooks_changed) = parts;
    if hooks_changed {
        state.webhooks.pre.forget(&parts.0.sid);
        state.webhooks.reconfigured.notify_one();
    }
    Ok(api::ok(view(&state, &caller, parts)))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ServicePath>,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    chat!(caller, Named::default(), delete_service(&caller, &state, sid));
    Ok(api::no_content())
}
