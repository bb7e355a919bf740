//! Chat Users (`US…`, by SID or identity) and a user's channels
//! (`/Users/{US}/Channels`: its memberships, listed under `channels`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::{Caller, standing};
use crate::error::{ApiError, ApiResult};
use crate::handlers::conversations::memberships::{
    find_own_user, leave, own_settings, unread_count, update_membership,
};
use crate::handlers::conversations::users::{NewUserParams, UserEdit, create_user, delete_user, update_user};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::conversations::ConversationRow;
use crate::store::page::{PageQuery, Segment, segments};
use crate::store::participants::ParticipantRow;
use crate::store::{self, StoreError};
use crate::views::chat::ChatUrls;
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
            // Who else uses the service is the backend's to know; an end user
            // fetches a user it knows by identity.
            standing::in_service(scope).require_admin_to("Listing a service's users")?;
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
            // The channels the user is in, then those it is invited to: one
            // list, invites keyed above every membership.
            let mut out: Vec<(i64, Listed)> = Vec::new();
            for (segment, query) in segments(&seek.query, INVITED_KEYS) {
                let query = PageQuery { limit: query.limit - out.len() as i64, ..query };
                if query.limit <= 0 {
                    break;
                }
                match segment {
                    Segment::First => {
                        for (p, c) in store::participants::list_of_user(conn, &user.sid, &query)? {
                            let unread = unread_count(conn, &p)?;
                            out.push((p.id, Listed { channel: c, joined: Some((p, unread)) }));
                        }
                    }
                    Segment::Second => {
                        for (i, c) in
                            store::invites::of_identity(conn, &scope.service_sid, &user.identity, &query)?
                        {
                            out.push((INVITED_KEYS + i.id, Listed { channel: c, joined: None }));
                        }
                    }
                }
            }
            Ok((user.sid, out))
        })
    );
    let urls = urls(&caller, &scope);
    let window = seek.finish(rows, |(key, _)| *key).map(|(_, listed)| listed.render(&user_sid, &urls));
    let url = format!("{}/Users/{user_sid}/Channels", urls.service);
    Ok(ListPage::new("channels", &url, &[], &page, window).respond())
}

/// Where a user's invites start in its channel list's keys (above any row id).
const INVITED_KEYS: i64 = 1 << 52;

/// One entry of a user's channel list: a channel, and the user's
/// membership with its unread count (`None`: invited).
struct Listed {
    channel: ConversationRow,
    joined: Option<(ParticipantRow, Option<i64>)>,
}

impl Listed {
    fn render(self, user_sid: &str, urls: &ChatUrls) -> UserChannel {
        match self.joined {
            Some((p, unread)) => UserChannel::new(p, self.channel, unread, urls),
            None => UserChannel::invited(user_sid, self.channel, urls),
        }
    }
}

pub async fn fetch_channel(caller: Caller, path: web::Path<UserChannelPath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let named = path.named();
    let (scope, (user_sid, listed)) = chat!(
        caller,
        named,
        caller.read(move |conn, scope| {
            let user = find_own_user(conn, scope, &path.user)?;
            let channel = store::conversations::find(conn, &scope.service_sid, &path.channel)?;
            match store::participants::find_of_user(conn, &channel.sid, &user.sid) {
                Ok(p) => {
                    let unread = unread_count(conn, &p)?;
                    Ok((user.sid, Listed { channel, joined: Some((p, unread)) }))
                }
                // Not a member: invited, or not there at all.
                Err(StoreError::NotFound) if store::invites::exists(conn, &channel.sid, &user.identity)? => {
                    Ok((user.sid, Listed { channel, joined: None }))
                }
                Err(e) => Err(e.into()),
            }
        })
    );
    let urls = urls(&caller, &scope);
    Ok(api::ok(listed.render(&user_sid, &urls)))
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
