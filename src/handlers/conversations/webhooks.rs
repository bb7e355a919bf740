//! Webhook configuration: a service's pre- and post-event webhooks
//! (`/v1/Services/{IS}/Configuration/Webhooks`), the account's
//! (`/v1/Configuration/Webhooks`: its default service's), and
//! conversation-scoped webhooks (`/v1/…/Conversations/{CH}/Webhooks`).
//! Account credentials only: an end user's token answers 403.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query};
use crate::auth::standing;
use crate::auth::{Caller, ServiceScope};
use crate::db::DbConnection;
use crate::domain::Vocabulary;
use crate::domain::event_names::{CHAT_POST_EVENTS, POST_EVENTS, PRE_EVENTS};
use crate::error::{ApiError, ApiResult};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::conversations::ConversationRow;
use crate::store::page::PageQuery;
use crate::store::webhooks::{
    self as hooks, ConversationWebhookChanges, ConversationWebhookRow, NewConversationWebhook,
    ServiceWebhooksRow,
};
use crate::store::{self};
use crate::time;
use crate::views::webhooks::{AccountWebhooks, ConversationWebhook, ServiceWebhooks};
use crate::webhooks::webhook_url;

use super::conversations::ConversationPath;

/// The longest webhook URL accepted.
const URL_CHARS: usize = 2048;
/// Trigger keywords on one webhook, and the length of each.
const MAX_TRIGGERS: usize = 50;
const TRIGGER_CHARS: usize = 256;

#[derive(Deserialize)]
pub struct ServicePath {
    service: String,
}

#[derive(Deserialize)]
pub struct WebhookPath {
    conversation: String,
    webhook: String,
}

/// A URL parameter: empty clears it, anything else must be an absolute
/// http(s) URL.
pub(crate) fn url_param(p: &Params, name: &str) -> Result<Option<Option<String>>, ApiError> {
    match p.str(name) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) if v.chars().count() > URL_CHARS => {
            Err(ApiError::invalid_param(name, format!("must be at most {URL_CHARS} characters")))
        }
        Some(v) => {
            webhook_url(v).map(|_| Some(Some(v.to_owned()))).map_err(|why| ApiError::invalid_param(name, why))
        }
    }
}

/// `Filters`: each value an event name of `allowed`; `None` when absent.
pub(crate) fn filters_param(p: &Params, name: &str, allowed: &[&[&str]]) -> Result<Option<String>, ApiError> {
    if !p.has(name) {
        return Ok(None);
    }
    let mut names: Vec<&str> = Vec::new();
    for value in p.all(name) {
        // Some clients send one comma-separated value.
        for filter in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if !allowed.iter().any(|set| set.contains(&filter)) {
                return Err(ApiError::invalid_param(name, format!("{filter:?} is not a webhook event name")));
            }
            if !names.contains(&filter) {
                names.push(filter);
            }
        }
    }
    Ok(Some(serde_json::to_string(&names).expect("a list of names serializes")))
}

/// `Method`: `GET` or `POST`, any case.
pub(crate) fn method_param(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.str(name) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("get") || v.eq_ignore_ascii_case("post") => {
            Ok(Some(v.to_ascii_uppercase()))
        }
        Some(v) => Err(ApiError::invalid_param(name, format!("expected GET or POST, got {v:?}"))),
    }
}

/// A service's configuration as the parameters change it: written through
/// `/v1`, it speaks Conversations from now on.
fn apply_service_params(row: &mut ServiceWebhooksRow, p: &Params) -> Result<(), ApiError> {
    // What to call and when, set through `/v1`, is Conversations'; a change
    // of method alone keeps the API the configuration speaks.
    if ["PreWebhookUrl", "PostWebhookUrl", "Filters"].iter().any(|name| p.has(name)) {
        row.speak(Vocabulary::Conversations);
    }
    if let Some(url) = url_param(p, "PreWebhookUrl")? {
        row.pre_webhook_url = url;
    }
    if let Some(url) = url_param(p, "PostWebhookUrl")? {
        row.post_webhook_url = url;
    }
    if let Some(filters) = filters_param(p, "Filters", &[PRE_EVENTS, POST_EVENTS])? {
        row.filters = filters;
    }
    if let Some(method) = method_param(p, "Method")? {
        row.method = method;
    }
    row.date_updated = time::now();
    Ok(())
}

pub async fn fetch_service(caller: Caller, path: web::Path<ServicePath>) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller
        .read_account(move |conn, principal| {
            let service = store::services::find(conn, principal.account_sid(), &sid)?;
            Ok(hooks::service(conn, &service.account_sid, &service.sid)?)
        })
        .await?;
    Ok(api::ok(ServiceWebhooks::new(row, &caller.v1())))
}

pub async fn update_service(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ServicePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let sid = path.into_inner().service;
    let row = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            let service = store::services::find(conn, principal.account_sid(), &sid)?;
            let mut row = hooks::service_for_update(conn, &service.account_sid, &service.sid)?;
            apply_service_params(&mut row, &p)?;
            hooks::save_service(conn, &row)?;
            Ok(row)
        })
        .await?;
    state.webhooks.pre.forget(&row.service_sid);
    state.webhooks.reconfigured.notify_one();
    Ok(api::ok(ServiceWebhooks::new(row, &caller.v1())))
}

/// The account's default service, which `/v1/Configuration/Webhooks` configures.
fn default_service(conn: &mut DbConnection, account_sid: &str) -> Result<String, ApiError> {
    store::accounts::find(conn, account_sid)?
        .and_then(|a| a.default_service_sid)
        .ok_or_else(|| ApiError::internal("an account without a default service"))
}

pub async fn fetch_account(caller: Caller) -> ApiResult<HttpResponse> {
    let row = caller
        .read_account(move |conn, principal| {
            let service = default_service(conn, principal.account_sid())?;
            Ok(hooks::service(conn, principal.account_sid(), &service)?)
        })
        .await?;
    Ok(api::ok(AccountWebhooks::new(row, &caller.v1())))
}

pub async fn update_account(
    caller: Caller,
    state: web::Data<AppState>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let target = p.choice("Target", &["webhook", "flex"])?.map(str::to_owned);
    let row = caller
        .write_account(move |tx, principal| {
            let conn = tx.conn()?;
            store::accounts::lock_default_service(conn, principal.account_sid())?;
            let service = default_service(conn, principal.account_sid())?;
            let mut row = hooks::service_for_update(conn, principal.account_sid(), &service)?;
            apply_service_params(&mut row, &p)?;
            if let Some(target) = target {
                row.target = target;
            }
            hooks::save_service(conn, &row)?;
            Ok(row)
        })
        .await?;
    state.webhooks.pre.forget(&row.service_sid);
    state.webhooks.reconfigured.notify_one();
    Ok(api::ok(AccountWebhooks::new(row, &caller.v1())))
}

/// The conversation, for account credentials only.
fn admin_conversation(
    conn: &mut DbConnection,
    scope: &ServiceScope,
    key: &str,
) -> Result<ConversationRow, ApiError> {
    if !standing::in_service(scope).is_admin() {
        return Err(ApiError::forbidden("Webhooks are configured with account credentials"));
    }
    Ok(store::conversations::find(conn, &scope.service_sid, key)?)
}

/// What a scoped webhook's create or update asks for, in the names of the
/// API it came through.
pub(crate) struct ScopedParams {
    url: Option<Option<String>>,
    method: Option<String>,
    filters: Option<String>,
    triggers: Option<String>,
    flow_sid: Option<String>,
    /// Chat's `Configuration.RetryCount`.
    retry_count: Option<i32>,
}

impl ScopedParams {
    pub(crate) fn from_params(p: &Params, api: Vocabulary) -> Result<Self, ApiError> {
        let triggers = match p.has("Configuration.Triggers") {
            false => None,
            true => {
                let words: Vec<&str> =
                    p.all("Configuration.Triggers").into_iter().filter(|w| !w.is_empty()).collect();
                if words.len() > MAX_TRIGGERS || words.iter().any(|w| w.chars().count() > TRIGGER_CHARS) {
                    return Err(ApiError::invalid_param(
                        "Configuration.Triggers",
                        format!("at most {MAX_TRIGGERS} keywords of at most {TRIGGER_CHARS} characters"),
                    ));
                }
                Some(serde_json::to_string(&words).expect("a list of words serializes"))
            }
        };
        let (events, retry_count) = match api {
            Vocabulary::Conversations => (POST_EVENTS, None),
            Vocabulary::Chat => {
                (CHAT_POST_EVENTS, p.int("Configuration.RetryCount", 0, MAX_RETRY_COUNT)?.map(|n| n as i32))
            }
        };
        Ok(ScopedParams {
            url: url_param(p, "Configuration.Url")?,
            method: method_param(p, "Configuration.Method")?,
            filters: filters_param(p, "Configuration.Filters", &[events])?,
            triggers,
            flow_sid: p.str("Configuration.FlowSid").map(str::to_owned),
            retry_count,
        })
    }
}

/// Chat's largest retry count (`Configuration.RetryCount`, `Pre/PostWebhookRetryCount`).
pub(crate) const MAX_RETRY_COUNT: i64 = 3;

/// A scoped webhook's `Target` (Chat: `Type`): `webhook` or `trigger`.
pub(crate) fn target_param(p: &Params, name: &str) -> Result<String, ApiError> {
    let target =
        p.choice(name, &["webhook", "trigger", "studio"])?.ok_or_else(|| ApiError::missing_param(name))?;
    if target == "studio" {
        return Err(ApiError::invalid_param(
            name,
            "studio is not supported by Confab (there is no Studio): use webhook or trigger",
        ));
    }
    Ok(target.to_owned())
}

/// A new conversation-scoped webhook.
pub(crate) struct NewScoped {
    pub target: String,
    pub params: ScopedParams,
    /// `Configuration.ReplayAfter` (Conversations only).
    pub replay_after: Option<i64>,
    pub api: Vocabulary,
}

/// Creates a webhook on the conversation `key`; shared with Chat's channel webhooks.
pub(crate) async fn create_webhook(
    caller: &Caller,
    state: &AppState,
    key: String,
    new: NewScoped,
) -> Result<(ServiceScope, ConversationWebhookRow), ApiError> {
    let horizon = state.config.webhooks.retry_horizon;
    let NewScoped { target, params, replay_after, api } = new;
    let Some(Some(url)) = params.url.clone() else {
        return Err(ApiError::missing_param("Configuration.Url"));
    };
    if target == "trigger" && params.triggers.as_deref().is_none_or(|t| t == "[]") {
        return Err(ApiError::missing_param("Configuration.Triggers"));
    }
    let created = caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let conversation = admin_conversation(conn, scope, &key)?;
            // Serialises creators on the conversation, so the limit holds.
            store::conversations::lock(conn, &conversation.sid)?;
            if hooks::count(conn, &conversation.sid)? >= hooks::MAX_PER_CONVERSATION {
                return Err(ApiError::invalid_param(
                    if api == Vocabulary::Chat { "Type" } else { "Target" },
                    format!("a conversation has at most {} webhooks", hooks::MAX_PER_CONVERSATION),
                ));
            }
            let now = time::now();
            let sid = SidKind::Webhook.generate();
            let row = hooks::insert(
                conn,
                &NewConversationWebhook {
                    sid: &sid,
                    account_sid: &conversation.account_sid,
                    service_sid: &conversation.service_sid,
                    conversation_sid: &conversation.sid,
                    target: &target,
                    url: Some(&url),
                    method: params.method.as_deref().unwrap_or("POST"),
                    filters: params.filters.as_deref().unwrap_or("[]"),
                    triggers: params.triggers.as_deref().unwrap_or("[]"),
                    flow_sid: params.flow_sid.as_deref(),
                    replay_after,
                    date_created: now,
                    date_updated: now,
                    api: api.as_str(),
                    retry_count: params.retry_count.unwrap_or(0),
                },
            )?;
            if let Some(after) = replay_after {
                crate::webhooks::fanout::replay(conn, &conversation, &row, after, horizon)?;
            }
            Ok(row)
        })
        .await?;
    state.webhooks.reconfigured.notify_one();
    state.webhooks.wake.notify_one();
    Ok(created)
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ConversationPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let new = NewScoped {
        target: target_param(&p, "Target")?,
        params: ScopedParams::from_params(&p, Vocabulary::Conversations)?,
        replay_after: p.int("Configuration.ReplayAfter", 0, i64::MAX)?,
        api: Vocabulary::Conversations,
    };
    let (scope, row) = create_webhook(&caller, &state, path.into_inner().conversation, new).await?;
    Ok(api::created(ConversationWebhook::new(row, &scope.urls)))
}

/// The webhook `sid` of the conversation `key`; shared with Chat.
pub(crate) async fn fetch_webhook(
    caller: &Caller,
    key: String,
    sid: String,
) -> Result<(ServiceScope, ConversationWebhookRow), ApiError> {
    caller
        .read(move |conn, scope| {
            let conversation = admin_conversation(conn, scope, &key)?;
            Ok(hooks::find(conn, &conversation.sid, &sid)?)
        })
        .await
}

pub async fn fetch(caller: Caller, path: web::Path<WebhookPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = fetch_webhook(&caller, path.conversation, path.webhook).await?;
    Ok(api::ok(ConversationWebhook::new(row, &scope.urls)))
}

/// Changes the webhook `sid` of the conversation `key` as `params` (in
/// `api`'s names) ask; it speaks `api` from now on. Shared with Chat.
pub(crate) async fn update_webhook(
    caller: &Caller,
    state: &AppState,
    key: String,
    sid: String,
    params: ScopedParams,
    api: Vocabulary,
) -> Result<(ServiceScope, ConversationWebhookRow), ApiError> {
    let updated = caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let conversation = admin_conversation(conn, scope, &key)?;
            let current = hooks::find(conn, &conversation.sid, &sid)?;
            if params.url == Some(None) {
                return Err(ApiError::invalid_param("Configuration.Url", "a webhook keeps a URL"));
            }
            if current.target == "trigger" && params.triggers.as_deref() == Some("[]") {
                return Err(ApiError::invalid_param(
                    "Configuration.Triggers",
                    "a trigger keeps at least one keyword",
                ));
            }
            // Kept filters are renamed into the API it now speaks.
            let filters = params.filters.or_else(|| {
                (current.api() != api).then(|| {
                    serde_json::to_string(&current.filters_in(api)).expect("a list of names serializes")
                })
            });
            let changes = ConversationWebhookChanges {
                url: params.url,
                method: params.method,
                filters,
                triggers: params.triggers,
                flow_sid: params.flow_sid.map(Some),
                retry_count: params.retry_count,
                api: Some(api.as_str().to_owned()),
                date_updated: Some(time::now()),
            };
            Ok(hooks::update(conn, &conversation.sid, &current.sid, &changes)?)
        })
        .await?;
    state.webhooks.reconfigured.notify_one();
    Ok(updated)
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<WebhookPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let params = ScopedParams::from_params(&p, Vocabulary::Conversations)?;
    let path = path.into_inner();
    let (scope, row) =
        update_webhook(&caller, &state, path.conversation, path.webhook, params, Vocabulary::Conversations)
            .await?;
    Ok(api::ok(ConversationWebhook::new(row, &scope.urls)))
}

/// Deletes the webhook `sid` of the conversation `key`; shared with Chat.
pub(crate) async fn delete_webhook(caller: &Caller, key: String, sid: String) -> Result<(), ApiError> {
    caller
        .write(move |tx, scope| {
            let conn = tx.conn()?;
            let conversation = admin_conversation(conn, scope, &key)?;
            Ok(hooks::delete(conn, &conversation.sid, &sid)?)
        })
        .await?;
    Ok(())
}

pub async fn delete(caller: Caller, path: web::Path<WebhookPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    delete_webhook(&caller, path.conversation, path.webhook).await?;
    Ok(api::no_content())
}

/// A page of the webhooks of the conversation `key` (its SID, the rows);
/// shared with Chat.
pub(crate) async fn list_webhooks(
    caller: &Caller,
    key: String,
    page: PageQuery,
) -> Result<(ServiceScope, (String, Vec<ConversationWebhookRow>)), ApiError> {
    caller
        .read(move |conn, scope| {
            let conversation = admin_conversation(conn, scope, &key)?;
            let rows = hooks::list(conn, &conversation.sid, &page)?;
            Ok((conversation.sid, rows))
        })
        .await
}

pub async fn list(
    caller: Caller,
    path: web::Path<ConversationPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, hooks::MAX_PER_CONVERSATION, "webhooks")?;
    let seek = page.seek(false);
    let (scope, (conversation_sid, rows)) =
        list_webhooks(&caller, path.into_inner().conversation, seek.query).await?;
    let window = seek.finish(rows, |r| r.id).map(|r| ConversationWebhook::new(r, &scope.urls));
    let url = format!("{}/Conversations/{}/Webhooks", scope.urls.prefix, conversation_sid);
    Ok(ListPage::new("webhooks", &url, &[], &page, window).respond())
}
