//! Chat Messages (`IM…`): `From` is the author, one `MediaSid` attaches a
//! media uploaded to the Media Content Service; the send is Conversations'.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::handlers::conversation_in_scope;
use crate::handlers::conversations::messages::{Draft, Edit, delete_message, edit_message, send_message};
use crate::handlers::media::media_sids_param;
use crate::state::AppState;
use crate::store::{self};
use crate::views::chat::messages::ChatMessage;

use super::channels::ChannelPath;
use super::{Named, channel_rows, chat, urls};

#[derive(Deserialize)]
pub struct MessagePath {
    channel: String,
    message: String,
}

impl MessagePath {
    fn named(&self) -> Named {
        Named { message: Some(self.message.clone()), ..Named::channel(&self.channel) }
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    // Chat's message carries one media.
    let media_sids = media_sids_param(p.all("MediaSid"), 1)?;
    let body = p.text("Body", limits::MESSAGE_BODY_CHARS)?.filter(|b| !b.is_empty());
    let draft = Draft {
        author: p.text("From", limits::IDENTITY_CHARS)?,
        // "An empty string or null sets the value as an empty string"; a
        // media message without text gets the service's compatibility
        // message instead.
        body: if body.is_none() && media_sids.is_empty() { Some(String::new()) } else { body },
        attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
        last_updated_by: p.text("LastUpdatedBy", limits::IDENTITY_CHARS)?.filter(|l| !l.is_empty()),
        ..Default::default()
    };
    let key = path.into_inner().channel;
    let (scope, row) =
        chat!(caller, Named::channel(&key), send_message(&caller, &state, key, draft, media_sids));
    Ok(api::created(ChatMessage::new(row, &urls(&caller, &scope))))
}

pub async fn fetch(caller: Caller, path: web::Path<MessagePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    let (scope, row) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &path.channel)?;
            Ok(store::messages::find(conn, &conversation.sid, &path.message)?)
        })
    );
    Ok(api::ok(ChatMessage::new(row, &urls(&caller, &scope))))
}

/// Body, attributes, author, dates and `LastUpdatedBy` can change; media cannot.
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MessagePath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let edit = Edit {
        author: p.text("From", limits::IDENTITY_CHARS)?,
        body: p.text("Body", limits::MESSAGE_BODY_CHARS)?,
        attributes: p.json_text("Attributes", limits::MESSAGE_ATTRIBUTES)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
        last_updated_by: p.text("LastUpdatedBy", limits::IDENTITY_CHARS)?.filter(|l| !l.is_empty()),
        ..Default::default()
    };
    let path = path.into_inner();
    let named = path.named();
    let (scope, row) = chat!(caller, named, edit_message(&caller, &state, path.channel, path.message, edit));
    Ok(api::ok(ChatMessage::new(row, &urls(&caller, &scope))))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MessagePath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    chat!(caller, named, delete_message(&caller, &state, path.channel, path.message));
    Ok(api::no_content())
}

pub async fn list(caller: Caller, path: web::Path<ChannelPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let order = q.choice("Order", &["asc", "desc"])?.unwrap_or("asc").to_owned();
    let page = PageRequest::from_params(&q, 100, &format!("messages {order}"))?;
    let seek = page.seek(order == "desc");
    let (urls, channel_sid, rows) = channel_rows(&caller, path.into_inner().channel, move |conn, channel| {
        store::messages::list(conn, channel, &seek.query)
    })
    .await?;
    let window = seek.finish(rows, |r| r.msg_index).map(|r| ChatMessage::new(r, &urls));
    let url = format!("{}/Messages", urls.channel(&channel_sid));
    let filters: Vec<(&str, &str)> = q.str("Order").map(|o| ("Order", o)).into_iter().collect();
    Ok(ListPage::new("messages", &url, &filters, &page, window).respond())
}
