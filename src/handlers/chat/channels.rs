//! Chat Channels (`CH…`): conversations with a type (`public`, `private`),
//! counts and a link to their newest message; addressed by SID or unique
//! name. Chat v3's one operation changes a channel's type.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Params, Query, limits};
use crate::auth::{Caller, standing};
use crate::error::{ApiError, ApiResult, Code};
use crate::handlers::conversation_in_scope;
use crate::handlers::conversations::conversations::{
    create_conversation, delete_conversation, update_conversation,
};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::conversations::{ConversationSpec, ConversationUpdate, ListFilter, PRIVATE, PUBLIC};
use crate::store::{self};
use crate::views::chat::channels::{Channel, ChannelV3};

use super::{Named, chat, urls};

#[derive(Deserialize)]
pub struct ChannelPath {
    pub(crate) channel: String,
}

const TYPES: [&str; 2] = [PUBLIC, PRIVATE];

fn channel_type(p: &Params) -> Result<Option<&'static str>, ApiError> {
    Ok(p.choice("Type", &TYPES)?.map(|t| if t == PUBLIC { PUBLIC } else { PRIVATE }))
}

/// `UniqueName`: empty clears it; a name that could be a SID is refused,
/// since `Channels/{x}` takes either.
fn unique_name(p: &Params) -> Result<Option<Option<String>>, ApiError> {
    match p.text("UniqueName", limits::NAME_CHARS)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(Some(None)),
        Some(v) if SidKind::Conversation.matches(&v) => Err(ApiError::client(
            Code::UniqueNameLooksLikeSid,
            "UniqueName cannot have the format of a Channel SID",
        )),
        Some(v) => Ok(Some(Some(v))),
    }
}

/// The parameters create and update share.
fn update_from(p: &Params) -> Result<ConversationUpdate, ApiError> {
    Ok(ConversationUpdate {
        unique_name: unique_name(p)?,
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
        attributes: p.json_text("Attributes", limits::CONVERSATION_ATTRIBUTES)?,
        date_created: p.date("DateCreated")?,
        date_updated: p.date("DateUpdated")?,
        created_by: p.text("CreatedBy", limits::IDENTITY_CHARS)?.filter(|c| !c.is_empty()),
        ..Default::default()
    })
}

/// The channel `sid` with its figures, as the caller may see it: a member,
/// or anyone in the service for a public channel (Chat lists those to every
/// user, who reads one before joining it).
async fn render(caller: &Caller, named: Named, sid: String) -> Result<Channel, ApiError> {
    let (scope, (row, stats)) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let row = store::conversations::find(conn, &scope.service_sid, &sid)?;
            let standing = standing::towards_conversation(conn, scope, &row.sid)?;
            if !(standing.is_admin() || standing.is_participant() || row.channel_type == PUBLIC) {
                return Err(ApiError::NotFound);
            }
            let stats = store::channels::stats_of(conn, &row.sid)?;
            Ok((row, stats))
        })
    );
    Ok(Channel::new(row, stats, &urls(caller, &scope)))
}

pub async fn create(caller: Caller, state: web::Data<AppState>, Form(p): Form) -> ApiResult<HttpResponse> {
    let u = update_from(&p)?;
    let kind = channel_type(&p)?.unwrap_or(PUBLIC);
    let spec = ConversationSpec {
        unique_name: u.unique_name.flatten(),
        friendly_name: u.friendly_name,
        attributes: u.attributes,
        date_created: u.date_created,
        date_updated: u.date_updated,
        created_by: u.created_by,
        // Chat's channels are public unless asked otherwise; its private
        // ones take users by invitation.
        channel_type: Some(kind),
        invite_only: kind == PRIVATE,
        ..Default::default()
    };
    let (_, row) = chat!(caller, Named::default(), create_conversation(&caller, &state, spec));
    Ok(api::created(render(&caller, Named::channel(&row.sid), row.sid).await?))
}

pub async fn fetch(caller: Caller, path: web::Path<ChannelPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().channel;
    Ok(api::ok(render(&caller, Named::channel(&key), key).await?))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let update = update_from(&p)?;
    let key = path.into_inner().channel;
    let named = Named::channel(&key);
    let (_, row) = chat!(caller, named.clone(), update_conversation(&caller, &state, key, update));
    Ok(api::ok(render(&caller, named, row.sid).await?))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
) -> ApiResult<HttpResponse> {
    let key = path.into_inner().channel;
    chat!(caller, Named::channel(&key), delete_conversation(&caller, &state, key));
    Ok(api::no_content())
}

/// Public channels unless `Type` says otherwise (as Twilio's list did); a
/// user sees the channels it is a member of.
pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let mut types: Vec<&'static str> = Vec::new();
    for t in q.all("Type") {
        match TYPES.iter().find(|known| **known == t) {
            Some(known) => types.push(known),
            None => {
                return Err(ApiError::invalid_param(
                    "Type",
                    format!("expected public or private, got {t:?}"),
                ));
            }
        }
    }
    let filters: Vec<(&str, &str)> = types.iter().map(|t| ("Type", *t)).collect();
    if types.is_empty() {
        types.push(PUBLIC);
    }
    let page = PageRequest::from_params(&q, 100, "channels")?;
    let seek = page.seek(false);
    let (scope, rows) = chat!(
        caller,
        Named::default(),
        caller.read(move |conn, scope| {
            // A user sees public channels and the private ones it is in:
            // each type asked for narrows that (so private channels are
            // read from the user's memberships, not scanned).
            let me = scope.end_user().map(|u| u.identity.clone());
            let filter = match (types.contains(&PUBLIC), types.contains(&PRIVATE)) {
                (true, true) => ListFilter { visible_to: me, channel_types: types, ..Default::default() },
                (false, _) => ListFilter { member: me, channel_types: types, ..Default::default() },
                (true, false) => ListFilter { channel_types: types, ..Default::default() },
            };
            let rows = store::conversations::list(conn, &scope.service_sid, &filter, &seek.query)?;
            let sids: Vec<String> = rows.iter().map(|r| r.sid.clone()).collect();
            let mut stats = store::channels::stats(conn, &sids)?;
            Ok(rows.into_iter().map(|r| (stats.remove(&r.sid).unwrap_or_default(), r)).collect::<Vec<_>>())
        })
    );
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |(_, r)| r.id).map(|(stats, r)| Channel::new(r, stats, &urls));
    let url = format!("{}/Channels", urls.service);
    Ok(ListPage::new("channels", &url, &filters, &page, window).respond())
}

/// `POST /v3/Services/{IS}/Channels/{CH}`: Chat's "channel migration",
/// which makes a channel private (or public) and sets its messaging service.
pub async fn update_v3(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ChannelPath>,
    Form(p): Form,
) -> ApiResult<HttpResponse> {
    let kind = channel_type(&p)?;
    let update = ConversationUpdate {
        channel_type: kind,
        invite_only: kind.map(|k| k == PRIVATE),
        messaging_service_sid: p.sid("MessagingServiceSid", SidKind::MessagingService)?,
        ..Default::default()
    };
    let key = path.into_inner().channel;
    let named = Named::channel(&key);
    let (_, row) = chat!(caller, named.clone(), update_conversation(&caller, &state, key, update));
    let sid = row.sid;
    let (_, (row, stats)) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let (row, _) = conversation_in_scope(conn, scope, &sid)?;
            let stats = store::channels::stats_of(conn, &row.sid)?;
            Ok((row, stats))
        })
    );
    Ok(api::ok(ChannelV3::new(row, stats, caller.public_url())))
}
