//! Chat's channel webhooks (`/v2/Services/{IS}/Channels/{CH}/Webhooks`,
//! `WH…`): Conversations' conversation-scoped webhooks (the same rows and
//! actions), with `Type` for `Target`, `Configuration.RetryCount`, and
//! filters in Chat's names; they are called with Chat's names and
//! parameters. Account credentials only.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query};
use crate::auth::Caller;
use crate::domain::Vocabulary;
use crate::error::ApiResult;
use crate::handlers::conversations::webhooks::{
    NewScoped, ScopedParams, create_webhook, delete_webhook, fetch_webhook, list_webhooks, target_param,
    update_webhook,
};
use crate::state::AppState;
use crate::store::webhooks::MAX_PER_CONVERSATION;
use crate::views::chat::webhooks::ChannelWebhook;

use super::channels::ChannelPath;
use super::{Named, chat, urls};

#[derive(Deserialize)]
pub struct WebhookPath {
    channel: String,
    webhook: String,
}

impl WebhookPath {
    fn named(&self) -> Named {
        Named { webhook: Some(self.webhook.clone()), ..Named::channel(&self.channel) }
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let new = NewScoped {
        target: target_param(&p, "Type")?,
        params: ScopedParams::from_params(&p, Vocabulary::Chat)?,
        replay_after: None,
        api: Vocabulary::Chat,
    };
    let key = path.into_inner().channel;
    let (scope, row) = chat!(caller, Named::channel(&key), create_webhook(&caller, &state, key, new));
    Ok(api::created(ChannelWebhook::new(row, &urls(&caller, &scope))))
}

pub async fn fetch(caller: Caller, path: web::Path<WebhookPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = chat!(caller, path.named(), fetch_webhook(&caller, path.channel, path.webhook));
    Ok(api::ok(ChannelWebhook::new(row, &urls(&caller, &scope))))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<WebhookPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let params = ScopedParams::from_params(&p, Vocabulary::Chat)?;
    let path = path.into_inner();
    let (scope, row) = chat!(
        caller,
        path.named(),
        update_webhook(&caller, &state, path.channel, path.webhook, params, Vocabulary::Chat)
    );
    Ok(api::ok(ChannelWebhook::new(row, &urls(&caller, &scope))))
}

pub async fn delete(caller: Caller, path: web::Path<WebhookPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    chat!(caller, path.named(), delete_webhook(&caller, path.channel, path.webhook));
    Ok(api::no_content())
}

pub async fn list(caller: Caller, path: web::Path<ChannelPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, MAX_PER_CONVERSATION, "webhooks")?;
    let seek = page.seek(false);
    let key = path.into_inner().channel;
    let (scope, (channel_sid, rows)) =
        chat!(caller, Named::channel(&key), list_webhooks(&caller, key, seek.query));
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |r| r.id).map(|r| ChannelWebhook::new(r, &urls));
    let url = format!("{}/Webhooks", urls.channel(&channel_sid));
    Ok(ListPage::new("webhooks", &url, &[], &page, window).respond())
}
