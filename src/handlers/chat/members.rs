//! Chat Members (`MB…`): a channel's participants, addressed by SID or
//! identity; `LastConsumedMessageIndex` is Conversations' read horizon.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::handlers::conversation_in_scope;
use crate::handlers::conversations::participants::{
    ParticipantUpdate, add_participant, remove_participant, update_participant,
};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::participants::ParticipantSpec;
use crate::store::{self};
use crate::views::chat::members::Member;

use super::channels::ChannelPath;
use super::{Named, channel_rows, chat, urls};

#[derive(Deserialize)]
pub struct MemberPath {
    channel: String,
    member: String,
}

impl MemberPath {
    fn named(&self) -> Named {
        Named { member: Some(self.member.clone()), ..Named::channel(&self.channel) }
    }
}

/// The parameters create and update share.
fn update_from(p: &Params) -> Result<ParticipantUpdate, ApiError> {
    Ok(ParticipantUpdate {
        attributes: p.json_text("Attributes", limits::PARTICIPANT_ATTRIBUTES)?,
        role: p.sid("RoleSid", SidKind::Role)?,
        last_read_index: p.int("LastConsumedMessageIndex", 0, i64::MAX)?,
        last_read_at: p.date("LastConsumptionTimestamp")?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
        ..Default::default()
    })
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let identity = p
        .text("Identity", limits::IDENTITY_CHARS)?
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::missing_param("Identity"))?;
    let u = update_from(&p)?;
    let spec = ParticipantSpec {
        identity: Some(identity),
        attributes: u.attributes,
        role_sid: u.role,
        last_read_message_index: u.last_read_index,
        last_read_timestamp: u.last_read_at,
        date_created: u.date_created,
        date_updated: u.date_updated,
        ..Default::default()
    };
    let key = path.into_inner().channel;
    let (scope, row) = chat!(caller, Named::channel(&key), add_participant(&caller, &state, key, spec));
    Ok(api::created(Member::new(row, &urls(&caller, &scope))))
}

pub async fn fetch(caller: Caller, path: web::Path<MemberPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    let (scope, row) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &path.channel)?;
            Ok(store::participants::find(conn, &conversation.sid, &path.member)?)
        })
    );
    Ok(api::ok(Member::new(row, &urls(&caller, &scope))))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let update = update_from(&p)?;
    let path = path.into_inner();
    let named = path.named();
    let (scope, row) =
        chat!(caller, named, update_participant(&caller, &state, path.channel, path.member, update));
    Ok(api::ok(Member::new(row, &urls(&caller, &scope))))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    chat!(caller, named, remove_participant(&caller, &state, path.channel, path.member));
    Ok(api::no_content())
}

/// A channel's members; `Identity` (repeatable) keeps those identities.
pub async fn list(caller: Caller, path: web::Path<ChannelPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let identities: Vec<String> = q.all("Identity").into_iter().map(str::to_owned).collect();
    let page = PageRequest::from_params(&q, 100, "members")?;
    let seek = page.seek(false);
    let wanted = identities.clone();
    let (urls, channel_sid, rows) = channel_rows(&caller, path.into_inner().channel, move |conn, channel| {
        store::participants::list(conn, channel, &wanted, &seek.query)
    })
    .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| Member::new(r, &urls));
    let filters: Vec<(&str, &str)> = identities.iter().map(|i| ("Identity", i.as_str())).collect();
    let url = format!("{}/Members", urls.channel(&channel_sid));
    Ok(ListPage::new("members", &url, &filters, &page, window).respond())
}
