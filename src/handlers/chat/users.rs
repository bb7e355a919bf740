//! Chat Users (`US…`, by SID or identity) and a user's channels
//! (`/Users/{US}/Channels`: its memberships, listed under `channels`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::handlers::conversations::memberships::{
    find_membership, find_own_user, leave, own_settings, unread_count, update_membership,
};
use crate::handlers::conversations::users::{NewUserParams, UserEdit, create_user, delete_user, update_user};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::{self};
use crate::views::chat::users::{ChatUser, UserChannel};

use super::{Named, chat, urls};

#[derive(Deserialize)]
pub struct UserPath {
    user: String,
}

#[derive(Deserialize)]
pub struct UserChannelPath {
    user: String,
    channel: String,
}

fn named_user(user: &str) -> Named {
    Named { user: Some(user.to_owned()), ..Default::default() }
}

impl UserChannelPath {
    fn named(&self) -> Named {
        Named { user: Some(self.user.clone()), ..Named::channel(&self.channel) }
    }
}

/// The user `key` with how many channels it is in.
async fn render(caller: &Caller, key: String) -> Result<ChatUser, ApiError> {
    let (scope, (row, joined)) = chat!(
        caller,
        named_user(&key),
        caller.read(move |conn, scope| {
            let row = store::users::find(conn, &scope.service_sid, &key)?;
            let joined = store::participants::count_of_user(conn, &row.sid)?;
            Ok((row, joined))
        })
    );
    Ok(ChatUser::new(row, joined, &urls(caller, &scope)))
}

pub async fn create(caller: Caller, Form(p): Form) -> ApiResult<HttpResponse> {
    let identity = p
        .text("Identity", limits::IDENTITY_CHARS)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing_param("Identity"))?;
    let params = NewUserParams {
        identity,
        friendly_name: p.text("FriendlyName", limits::NAME_CHARS)?,
        attributes: p.json_text("Attributes", limits::USER_ATTRIBUTES)?,
        role: p.sid("RoleSid", SidKind::Role)?,
    };
    let (scope, row) = chat!(caller, Named::default(), create_user(&caller, params));
    Ok(api::created(ChatUser::new(row, 0, &urls(&caller, &scope))))
}

pub async fn fetch(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    Ok(api::ok(render(&caller, path.into_inner().user).await?))
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
    let key = path.into_inner().user;
    let (_, row) = chat!(caller, named_user(&key), update_user(&caller, &state, key, edit));
    Ok(api::ok(render(&caller, row.sid).await?))
}

pub async fn delete(caller: Caller, path: web::Path<UserPath>) -> ApiResult<HttpResponse> {
    let key = path.into_inner().user;
    chat!(caller, named_user(&key), delete_user(&caller, key));
    Ok(api::no_content())
}

pub async fn list(caller: Caller, Query(q): Query) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 100, "users")?;
    let seek = page.seek(false);
    let (scope, rows) = chat!(
        caller,
        Named::default(),
        caller.read(move |conn, scope| {
            let rows = store::users::list(conn, &scope.service_sid, &seek.query)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let joined = store::participants::count_of_user(conn, &row.sid)?;
                out.push((row, joined));
            }
            Ok(out)
        })
    );
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |(r, _)| r.id).map(|(r, joined)| ChatUser::new(r, joined, &urls));
    Ok(ListPage::new("users", &format!("{}/Users", urls.service), &[], &page, window).respond())
}

/// The user's channels (an access token's user sees only its own).
pub async fn list_channels(
    caller: Caller,
    path: web::Path<UserPath>,
    Query(q): Query,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&q, 50, "user channels")?;
    let seek = page.seek(false);
    let key = path.into_inner().user;
    let (scope, (user_sid, rows)) = chat!(
        caller,
        named_user(&key),
        caller.read(move |conn, scope| {
            let user = find_own_user(conn, scope, &key)?;
            let rows = store::participants::list_of_user(conn, &user.sid, &seek.query)?;
            let mut out = Vec::with_capacity(rows.len());
            for (p, c) in rows {
                let unread = unread_count(conn, &p)?;
                out.push((p, c, unread));
            }
            Ok((user.sid, out))
        })
    );
    let urls = urls(&caller, &scope);
    let window =
        seek.finish(rows, |(p, _, _)| p.id).map(|(p, c, unread)| UserChannel::new(p, c, unread, &urls));
    let url = format!("{}/Users/{user_sid}/Channels", urls.service);
    Ok(ListPage::new("channels", &url, &[], &page, window).respond())
}

pub async fn fetch_channel(caller: Caller, path: web::Path<UserChannelPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    let (scope, (p, c, unread)) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let (p, c) = find_membership(conn, scope, &path.user, &path.channel)?;
            let unread = unread_count(conn, &p)?;
            Ok((p, c, unread))
        })
    );
    Ok(api::ok(UserChannel::new(p, c, unread, &urls(&caller, &scope))))
}

/// The user's notification level and read horizon in the channel.
pub async fn update_channel(
    caller: Caller,
    path: web::Path<UserChannelPath>,
    Form(f): Form,
) -> ApiResult<HttpResponse> {
    let changes = own_settings(&f, "LastConsumedMessageIndex", "LastConsumptionTimestamp")?;
    let path = path.into_inner();
    let named = path.named();
    let (scope, (p, c, unread)) =
        chat!(caller, named, update_membership(&caller, path.user, path.channel, changes));
    Ok(api::ok(UserChannel::new(p, c, unread, &urls(&caller, &scope))))
}

/// The user leaves the channel.
pub async fn delete_channel(caller: Caller, path: web::Path<UserChannelPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    chat!(caller, named, leave(&caller, path.user, path.channel));
    Ok(api::no_content())
}
