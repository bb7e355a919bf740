//! `GET /v1/Events`: the event stream over WebSocket.
//!
//! An end user (access token in a header or `?token=`) receives the events
//! of the conversations it is a participant in and those about its own
//! user; account credentials receive every event of the account, or of one
//! service with `?service=IS…`. `?since=<position>` first replays, in
//! order, every event after that position that the caller may see, then
//! goes on live with no gap and no repeat; a position older than the log
//! keeps gets `{"type":"resync"}` first. Close codes: [`TOKEN_EXPIRED`],
//! [`TOO_SLOW`]; a peer silent for two heartbeats is dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, Session};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::Caller;
use crate::domain::EventKind;
use crate::error::{ApiError, ApiResult};
use crate::live::{Delivery, Subscription, render};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store;
use crate::views::conversations::Conversation;

/// Close code: the access token expired; reconnect with a fresh one.
pub const TOKEN_EXPIRED: u16 = 4001;
/// Close code: frames piled up faster than the client read them (more
/// than `live::QUEUE` frames or `live::QUEUE_BYTES` bytes); reconnect with
/// `since` to read them from the log.
pub const TOO_SLOW: u16 = 4008;
/// A ping goes out this often; a peer silent for two is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(25);

#[derive(Deserialize)]
pub struct StreamQuery {
    since: Option<i64>,
    service: Option<String>,
    token: Option<String>,
}

/// Which events a stream passes on.
enum Audience {
    /// Account credentials: the account's events, of one service if named.
    Account { service: Option<String> },
    /// An end user: its conversations (kept current as it joins and
    /// leaves) and its own user.
    User { service_sid: String, identity: String, conversations: HashSet<String> },
}

pub async fn stream(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let caller = match query.token {
        Some(token) => Caller::with_token(state.auth.clone(), token).await?,
        None => Caller::extract(&req).await?,
    };
    let audience = audience(&caller, query.service).await?;
    let subscription = state.hub.subscribe(caller.account_sid()).await?;
    let (response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|_| ApiError::invalid_param("Upgrade", "a WebSocket upgrade is required"))?;
    let stream = Stream {
        state: state.clone(),
        session,
        audience,
        last: subscription.from,
        expires: caller.token_expires(),
    };
    actix_web::rt::spawn(stream.run(subscription, messages, query.since));
    Ok(response)
}

/// Who the caller is, checked with its credential, and what it may see.
async fn audience(caller: &Caller, service: Option<String>) -> Result<Audience, ApiError> {
    if let Some(identity) = caller.identity().map(str::to_owned) {
        let (scope, conversations) = caller
            .read(move |conn, scope| {
                Ok(store::participants::conversations_of(conn, &scope.service_sid, &identity)?)
            })
            .await?;
        let user = scope.end_user().ok_or_else(|| ApiError::internal("a token without its user"))?;
        return Ok(Audience::User {
            service_sid: user.service_sid.clone(),
            identity: user.identity.clone(),
            conversations: conversations.into_iter().collect(),
        });
    }
    if let Some(sid) = &service
        && !SidKind::Service.matches(sid)
    {
        return Err(ApiError::invalid_param("service", "not a service SID"));
    }
    let wanted = service.clone();
    let account = caller.account_sid().to_owned();
    caller
        .read_account(move |conn, _| match &wanted {
            Some(sid) if !store::services::exists(conn, &account, sid)? => Err(ApiError::NotFound),
            _ => Ok(()),
        })
        .await?;
    Ok(Audience::Account { service })
}

struct Stream {
    state: web::Data<AppState>,
    session: Session,
    audience: Audience,
    /// The last position sent.
    last: i64,
    expires: Option<i64>,
}

impl Stream {
    async fn run(mut self, mut sub: Subscription, mut messages: actix_ws::MessageStream, since: Option<i64>) {
        if let Some(since) = since
            && let Err(why) = self.replay(since).await
        {
            return self.close(why).await;
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let mut heard = Instant::now();
        let expiry = self.expires.map(|exp| {
            let left = (exp - crate::time::now()).max(0) as u64;
            tokio::time::Instant::now() + Duration::from_secs(left)
        });
        let expired = async move {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let why = loop {
            tokio::select! {
                delivery = sub.rx.recv() => match delivery {
                    Some(d) => {
                        let sent = self.deliver(&d).await;
                        sub.sent(&d);
                        if let Err(why) = sent { break why }
                    }
                    None if sub.too_slow.load(Ordering::SeqCst) => {
                        break Some(CloseReason { code: CloseCode::Other(TOO_SLOW), description: Some("too slow: reconnect with since".into()) });
                    }
                    None => break Some(CloseCode::Restart.into()),
                },
                message = messages.next() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        heard = Instant::now();
                        if self.session.pong(&bytes).await.is_err() { return; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => heard = Instant::now(),
                },
                _ = heartbeat.tick() => {
                    if heard.elapsed() > 2 * HEARTBEAT {
                        break Some(CloseCode::Away.into());
                    }
                    if self.session.ping(b"").await.is_err() { return; }
                }
                () = &mut expired => {
                    break Some(CloseReason { code: CloseCode::Other(TOKEN_EXPIRED), description: Some("token expired".into()) });
                }
            }
        };
        self.close(why).await;
    }

    async fn close(self, why: Option<CloseReason>) {
        let _ = self.session.close(why).await;
    }

    /// Sends what the caller missed after `since`, from the log; live
    /// frames at or below what it sent are skipped after.
    async fn replay(&mut self, since: i64) -> Result<(), Option<CloseReason>> {
        let db = self.state.db.clone();
        let pruned = db.read(|conn| Ok::<_, ApiError>(store::events::pruned_through(conn)?)).await;
        let pruned = pruned.map_err(|_| Some(CloseCode::Error.into()))?;
        if since < pruned {
            // History is gone: reload through REST, then live from here.
            self.send(r#"{"type":"resync"}"#).await?;
            return Ok(());
        }
        self.last = since;
        let mut position = since;
        loop {
            let rows = db
                .read(move |conn| Ok::<_, ApiError>(store::events::after(conn, position, 500)?))
                .await
                .map_err(|_| Some(CloseCode::Error.into()))?;
            let Some(last) = rows.last() else {
                break;
            };
            position = last.position;
            for row in &rows {
                let delivery = render(row, self.state.hub.v1()).map_err(|_| Some(CloseCode::Error.into()))?;
                self.deliver(&Arc::new(delivery)).await?;
            }
        }
        Ok(())
    }

    /// Sends a delivery if this stream's caller may see it, with the
    /// frames that membership changes bring.
    async fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), Option<CloseReason>> {
        if d.position <= self.last {
            return Ok(());
        }
        self.last = d.position;
        let conversation = d.conversation_sid.as_deref();
        let (service_sid, identity, conversations) = match &mut self.audience {
            Audience::Account { service } => {
                if service.as_ref().is_none_or(|s| *s == d.service_sid) {
                    self.send(&d.text).await?;
                }
                return Ok(());
            }
            Audience::User { service_sid, identity, conversations } => (service_sid, identity, conversations),
        };
        if d.service_sid != *service_sid {
            return Ok(());
        }
        let me = d.identity.as_deref() == Some(identity.as_str());
        match (d.kind, conversation) {
            (EventKind::UserUpdated, _) if me => self.send(&d.text).await,
            (EventKind::ParticipantJoined, Some(ch)) if me => {
                conversations.insert(ch.to_owned());
                let ch = ch.to_owned();
                self.send_conversation("conversationAdded", d.position, &ch).await?;
                self.send(&d.text).await
            }
            (EventKind::ParticipantLeft, Some(ch)) if me => {
                let ch = ch.to_owned();
                if conversations.remove(&ch) {
                    self.send(&d.text).await?;
                    self.send_conversation("conversationRemoved", d.position, &ch).await?;
                }
                Ok(())
            }
            (EventKind::ConversationRemoved, Some(ch)) => {
                if conversations.remove(ch) {
                    self.send(&d.text).await?;
                }
                Ok(())
            }
            (_, Some(ch)) if conversations.contains(ch) => self.send(&d.text).await,
            _ => Ok(()),
        }
    }

    /// A frame about the conversation `sid` as it is now (for a user who
    /// joined or left it), at the position of the event that caused it.
    async fn send_conversation(
        &mut self,
        kind: &str,
        position: i64,
        sid: &str,
    ) -> Result<(), Option<CloseReason>> {
        let key = sid.to_owned();
        let row = self
            .state
            .db
            .read(move |conn| Ok::<_, ApiError>(store::conversations::find_by_sid(conn, &key).ok()))
            .await
            .map_err(|_| Some(CloseCode::Error.into()))?;
        let data = match row {
            Some(row) => {
                let prefix = format!("{}/Services/{}", self.state.hub.v1(), row.service_sid);
                serde_json::to_value(Conversation::new(row, &prefix)).unwrap_or_default()
            }
            None => serde_json::json!({"sid": sid}),
        };
        let frame = serde_json::json!({
            "position": position, "type": kind, "conversation_sid": sid, "data": data, "update_reasons": [],
        });
        self.send(&frame.to_string()).await
    }

    async fn send(&mut self, text: &str) -> Result<(), Option<CloseReason>> {
        self.session.text(text.to_owned()).await.map_err(|_| None)
    }
}
