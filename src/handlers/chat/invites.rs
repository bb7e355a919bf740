//! Chat Invites (`IN…`): an existing user asked to join a channel, with the
//! role it will join with (its invite is taken when it joins, by any path).
//! A user invites holding `inviteMember`, in a channel it is a member of.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::{self, Form, ListPage, PageRequest, Query, limits};
use crate::auth::Caller;
use crate::domain::{Permission, RoleType};
use crate::error::{ApiError, ApiResult, Code};
use crate::handlers::{conversation_in_scope, ensure_open, role_param};
use crate::sid::SidKind;
use crate::store::invites::NewInvite;
use crate::store::{self, OptionalRow};
use crate::time;
use crate::views::chat::invites::Invite;

use super::channels::ChannelPath;
use super::{Named, channel_rows, chat, urls};

#[derive(Deserialize)]
pub struct InvitePath {
    channel: String,
    invite: String,
}

impl InvitePath {
    fn named(&self) -> Named {
        Named { invite: Some(self.invite.clone()), ..Named::channel(&self.channel) }
    }
}

pub async fn create(caller: Caller, path: web::Path<ChannelPath>, Form(p): Form) -> ApiResult<HttpResponse> {
    let identity = p
        .text("Identity", limits::IDENTITY_CHARS)?
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::missing_param("Identity"))?;
    let role = p.sid("RoleSid", SidKind::Role)?;
    let key = path.into_inner().channel;
    let (scope, row) = chat!(
        caller,
        Named::channel(&key),
        caller.write(move |tx, scope| {
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &key)?;
            ensure_open(&conversation)?;
            standing.require(Permission::InviteMember)?;
            if role.is_some() {
                standing.require_admin_for("RoleSid")?;
            }
            // Only a user can be invited: Twilio answered an unknown identity
            // with its plain 404 naming the Invites path.
            if store::users::find_by_identity(conn, &scope.service_sid, &identity)?.is_none() {
                return Err(ApiError::NotFound);
            }
            if store::participants::find(conn, &conversation.sid, &identity).found()?.is_some() {
                return Err(ApiError::client(
                    Code::MemberExists,
                    format!("{identity:?} is already a member of this channel"),
                ));
            }
            let role_sid = match &role {
                Some(r) => role_param(conn, &scope.service_sid, "RoleSid", r, RoleType::Conversation)?.sid,
                None => store::services::find(conn, scope.account_sid(), &scope.service_sid)?
                    .default_conversation_role_sid
                    .ok_or_else(|| ApiError::internal("service has no default channel role"))?,
            };
            let now = time::now();
            let invite = NewInvite {
                sid: &SidKind::Invite.generate(),
                account_sid: scope.account_sid(),
                service_sid: &scope.service_sid,
                conversation_sid: &conversation.sid,
                identity: &identity,
                role_sid: &role_sid,
                created_by: standing.identity().unwrap_or("system"),
                date_created: now,
                date_updated: now,
            };
            Ok(store::invites::insert(conn, &invite)?)
        })
    );
    Ok(api::created(Invite::new(row, &urls(&caller, &scope))))
}

pub async fn fetch(caller: Caller, path: web::Path<InvitePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    let (scope, row) = chat!(
        caller,
        path.named(),
        caller.read(move |conn, scope| {
            let (conversation, _) = conversation_in_scope(conn, scope, &path.channel)?;
            Ok(store::invites::find(conn, &conversation.sid, &path.invite)?)
        })
    );
    Ok(api::ok(Invite::new(row, &urls(&caller, &scope))))
}

/// Withdraws the invite (a user: holding `inviteMember`).
pub async fn delete(caller: Caller, path: web::Path<InvitePath>) -> ApiResult<HttpResponse> {
    let path = path.into_inner();
    chat!(
        caller,
        path.named(),
        caller.write(move |tx, scope| {
            let conn = tx.conn()?;
            let (conversation, standing) = conversation_in_scope(conn, scope, &path.channel)?;
            let invite = store::invites::find(conn, &conversation.sid, &path.invite)?;
            standing.require(Permission::InviteMember)?;
            Ok(store::invites::delete(conn, &invite.sid)?)
        })
    );
    Ok(api::no_content())
}

/// A channel's invites; `Identity` (repeatable) keeps those identities.
pub async fn list(caller: Caller, path: web::Path<ChannelPath>, Query(q): Query) -> ApiResult<HttpResponse> {
    let identities: Vec<String> = q.all("Identity").into_iter().map(str::to_owned).collect();
    let page = PageRequest::from_params(&q, 100, "invites")?;
    let seek = page.seek(false);
    let wanted = identities.clone();
    let (urls, channel_sid, rows) = channel_rows(&caller, path.into_inner().channel, move |conn, channel| {
        store::invites::list(conn, channel, &wanted, &seek.query)
    })
    .await?;
    let window = seek.finish(rows, |r| r.id).map(|r| Invite::new(r, &urls));
    let filters: Vec<(&str, &str)> = identities.iter().map(|i| ("Identity", i.as_str())).collect();
    let url = format!("{}/Invites", urls.channel(&channel_sid));
    Ok(ListPage::new("invites", &url, &filters, &page, window).respond())
}
