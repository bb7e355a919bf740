//! `GET /v1/Events`: the event stream over WebSocket.
//!
//! An end user (access token in a header or `?token=`) receives the events
//! of the conversations it is a participant in and those about its own
//! user; account credentials receive every event of the account, or of one
//! service with `?service=IS…`. `?since=<position>` first replays, in
//! order, every event after that position that the caller may see, then
//! goes on live with no gap and no repeat; a position older than the log
//! keeps gets `{"type":"resync"}` first. Close codes: [`TOKEN_EXPIRED`],
//! [`CREDENTIAL_REVOKED`], [`TOO_SLOW`]; a peer silent for two heartbeats
//! is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, Session};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::{Caller, standing};
use crate::db::DbConnection;
use crate::domain::Permission;
use crate::error::{ApiError, ApiResult};
use crate::live::{Audience, Delivery, Subscription, Verdict, render};
use crate::sid::SidKind;
use crate::state::AppState;
use crate::store::events::EventRow;
use crate::store::{self, StoreError};
use crate::views::conversations::Conversation;

/// Close code: the access token expired; reconnect with a fresh one.
pub const TOKEN_EXPIRED: u16 = 4001;
/// Close code: the credential no longer holds (key revoked, Auth Token
/// rotated); checked every `CONFAB_STREAM_RECHECK_SECS`.
pub const CREDENTIAL_REVOKED: u16 = 4003;
/// Close code: frames piled up faster than the client read them (more
/// than `CONFAB_STREAM_QUEUE_FRAMES` frames or `CONFAB_STREAM_QUEUE_BYTES`
/// bytes); reconnect with `since` to read them from the log.
pub const TOO_SLOW: u16 = 4008;
/// A ping goes out this often; a peer silent for two is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(25);
/// A participant who typed is typing until this long passes without
/// another `typing` (Twilio's default typing timeout).
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(5);
/// Events read from the log per query when replaying.
const PAGE: i64 = 500;
/// How often one stream's `typing` for one conversation is passed on.
const TYPING_EVERY: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
pub struct StreamQuery {
    since: Option<i64>,
    service: Option<String>,
    token: Option<String>,
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
    let subscription = state.hub.subscribe(audience.clone()).await?;
    let (response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|_| ApiError::invalid_param("Upgrade", "a WebSocket upgrade is required"))?;
    let stream = Stream {
        state: state.clone(),
        session,
        audience,
        last: subscription.from,
        expires: caller.token_expires(),
        caller,
        typed: HashMap::new(),
        typing: HashMap::new(),
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
    Ok(Audience::Account { account_sid: caller.account_sid().to_owned(), service })
}

struct Stream {
    state: web::Data<AppState>,
    session: Session,
    audience: Audience,
    /// The last position sent.
    last: i64,
    expires: Option<i64>,
    caller: Caller,
    /// When this stream's user last typed in each conversation (passed on
    /// at most every [`TYPING_EVERY`]).
    typed: HashMap<String, Instant>,
    /// Others typing in this user's conversations: (conversation,
    /// identity) → last heard.
    typing: HashMap<(String, String), Instant>,
}

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    conversation_sid: Option<String>,
}

impl Stream {
    // Not an `async fn`: one copies its arguments into locals and keeps both
    // in the future, which lives as long as the socket.
    #[expect(clippy::manual_async_fn, reason = "an async fn's future holds its arguments twice")]
    fn run(
        mut self,
        mut sub: Subscription,
        mut messages: actix_ws::MessageStream,
        since: Option<i64>,
    ) -> impl Future<Output = ()> {
        async move {
            // Every call awaited below, but the timers and the select, is
            // boxed: this future lives as long as the socket and is as large
            // as the largest future it awaits inline (an idle stream would pay
            // for its replay's and recheck's state all its life).
            if let Some(since) = since
                && let Err(why) = Box::pin(self.replay(since)).await
            {
                return Box::pin(self.close(why)).await;
            }
            let mut heartbeat = tokio::time::interval(HEARTBEAT);
            heartbeat.tick().await;
            let mut heard = Instant::now();
            let mut typing_tick = tokio::time::interval(Duration::from_millis(500));
            let mut recheck = tokio::time::interval(self.state.config.stream_recheck);
            recheck.tick().await;
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
                            if let Err(why) = Box::pin(self.deliver(&d)).await { break why }
                        }
                        None if sub.rx.too_slow() => {
                            break Some(CloseReason { code: CloseCode::Other(TOO_SLOW), description: Some("too slow: reconnect with since".into()) });
                        }
                    None => break Some(CloseCode::Restart.into()),
                    },
                    message = messages.next() => match message {
                        Some(Ok(Message::Ping(bytes))) => {
                            heard = Instant::now();
                            if Box::pin(self.session.pong(&bytes)).await.is_err() { return; }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(Message::Text(text))) => {
                            heard = Instant::now();
                            if let Err(why) = Box::pin(self.received(&text)).await { break why }
                        }
                        Some(Ok(_)) => heard = Instant::now(),
                    },
                    // Only while someone types: an idle stream has no timer to wake it.
                    _ = typing_tick.tick(), if !self.typing.is_empty() => {
                        if let Err(why) = Box::pin(self.typing_ended()).await { break why }
                    }
                    _ = recheck.tick() => {
                        if let Err(why) = Box::pin(self.recheck()).await { break why }
                    }
                    _ = heartbeat.tick() => {
                        if heard.elapsed() > 2 * HEARTBEAT {
                            break Some(CloseCode::Away.into());
                        }
                        if Box::pin(self.session.ping(b"")).await.is_err() { return; }
                    }
                    () = &mut expired => {
                        break Some(CloseReason { code: CloseCode::Other(TOKEN_EXPIRED), description: Some("token expired".into()) });
                    }
                }
            };
            Box::pin(self.close(why)).await;
        }
    }

    async fn close(self, why: Option<CloseReason>) {
        let _ = self.session.close(why).await;
    }

    /// Sends what the caller missed after `since`, from the log; live
    /// frames at or below what it sent are skipped after.
    async fn replay(&mut self, since: i64) -> Result<(), Option<CloseReason>> {
        let pruned = self.state.db.read(|conn| Ok::<_, ApiError>(store::events::pruned_through(conn)?)).await;
        let pruned = pruned.map_err(|_| Some(CloseCode::Error.into()))?;
        if since < pruned {
            // History is gone: reload through REST, then live from here.
            self.send(r#"{"type":"resync"}"#).await?;
            return Ok(());
        }
        self.last = since;
        self.rewind_to(since).await?;
        let mut position = since;
        loop {
            let page = self.page(move |conn| store::events::after(conn, position, PAGE)).await?;
            let Some(last) = page.last() else {
                break;
            };
            position = last.position;
            for delivery in page {
                self.deliver(&Arc::new(delivery)).await?;
            }
        }
        Ok(())
    }

    /// Turns an end user's conversations (read at connect) into those it
    /// had at `since`, undoing its joins and leaves since, so the replay
    /// brings what happened in a conversation it has left meanwhile, and
    /// the removal itself.
    async fn rewind_to(&mut self, since: i64) -> Result<(), Option<CloseReason>> {
        let Audience::User { service_sid, .. } = &self.audience else {
            return Ok(());
        };
        let service = Arc::<str>::from(service_sid.as_str());
        let mut changes = Vec::new();
        let mut position = since;
        loop {
            let service = service.clone();
            let page = self
                .page(move |conn| store::events::memberships_after(conn, &service, position, PAGE))
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            position = last.position;
            changes.extend(page);
        }
        for change in changes.iter().rev() {
            self.audience.rewind(change);
        }
        Ok(())
    }

    /// One page of the log, read by `read` and rendered.
    async fn page<F>(&self, read: F) -> Result<Vec<Delivery>, Option<CloseReason>>
    where
        F: FnOnce(&mut DbConnection) -> Result<Vec<EventRow>, StoreError> + Send + 'static,
    {
        let rows = self.state.db.read(move |conn| Ok::<_, ApiError>(read(conn)?)).await;
        let rows = rows.map_err(|_| Some(CloseCode::Error.into()))?;
        let v1 = self.state.hub.v1();
        rows.iter().map(|row| render(row, v1).map_err(|_| Some(CloseCode::Error.into()))).collect()
    }

    /// Re-reads the credential as a request would: a key revoked or an Auth
    /// Token rotated since the stream opened closes it. (A failure to reach
    /// the database keeps the stream: the next check decides.)
    async fn recheck(&mut self) -> Result<(), Option<CloseReason>> {
        let checked = match self.audience {
            Audience::User { .. } => self.caller.read(|_, _| Ok(())).await.map(drop),
            Audience::Account { .. } => self.caller.read_account(|_, _| Ok(())).await,
        };
        match checked {
            Err(ApiError::Unauthenticated | ApiError::InvalidToken | ApiError::NotFound) => {
                Err(Some(CloseReason {
                    code: CloseCode::Other(CREDENTIAL_REVOKED),
                    description: Some("credentials revoked".into()),
                }))
            }
            _ => Ok(()),
        }
    }

    /// A frame from the client: `{"type": "typing", "conversation_sid":
    /// "CH…"}` from an end user who may send to that conversation.
    async fn received(&mut self, text: &str) -> Result<(), Option<CloseReason>> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(f) if f.kind == "typing" => f,
            _ => {
                let why = ApiError::invalid_param("type", "the stream takes typing frames only");
                return self.refuse(why).await;
            }
        };
        let Audience::User { conversations, .. } = &self.audience else {
            return self.refuse(ApiError::forbidden("typing indicators are sent by end users")).await;
        };
        let Some(ch) = frame.conversation_sid.filter(|ch| conversations.contains(ch)) else {
            return self.refuse(ApiError::NotFound).await;
        };
        if self.typed.get(&ch).is_some_and(|at| at.elapsed() < TYPING_EVERY) {
            return Ok(());
        }
        self.typed.insert(ch.clone(), Instant::now());
        let key = ch.clone();
        let checked = self
            .caller
            .read(move |conn, scope| {
                let (_, standing) = standing::member_of(conn, scope, &key)?;
                standing.require(Permission::SendMessage)?;
                Ok(standing.participant_sid().map(str::to_owned))
            })
            .await;
        let (scope, participant) = match checked {
            Ok(found) => found,
            Err(e) => return self.refuse(e).await,
        };
        let Some(user) = scope.end_user() else {
            return Ok(());
        };
        let frame = serde_json::json!({
            "type": "typingStarted",
            "conversation_sid": ch,
            "data": {"identity": user.identity, "participant_sid": participant},
        });
        let typing = Delivery {
            position: 0,
            account_sid: user.account_sid.clone(),
            service_sid: user.service_sid.clone(),
            conversation_sid: Some(ch),
            kind: None,
            identity: Some(user.identity.clone()),
            text: frame.to_string().into(),
        };
        self.state.hub.typing(typing);
        Ok(())
    }

    /// Tells the client why its frame was not taken: `{"type": "error"}`
    /// with Twilio's error fields.
    async fn refuse(&mut self, error: ApiError) -> Result<(), Option<CloseReason>> {
        let mut frame = serde_json::to_value(error.body()).unwrap_or_default();
        frame["type"] = "error".into();
        self.send(&frame.to_string()).await
    }

    /// `typingEnded` for whoever has not typed for [`TYPING_TIMEOUT`].
    async fn typing_ended(&mut self) -> Result<(), Option<CloseReason>> {
        let quiet: Vec<(String, String)> = self
            .typing
            .iter()
            .filter(|(_, at)| at.elapsed() >= TYPING_TIMEOUT)
            .map(|(k, _)| k.clone())
            .collect();
        for (ch, identity) in quiet {
            self.typing.remove(&(ch.clone(), identity.clone()));
            let frame = serde_json::json!({
                "type": "typingEnded", "conversation_sid": ch, "data": {"identity": identity},
            });
            self.send(&frame.to_string()).await?;
        }
        Ok(())
    }

    /// Sends a delivery if this stream's caller may see it, with the
    /// frames that membership changes bring.
    async fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), Option<CloseReason>> {
        if d.kind.is_none() {
            return self.deliver_typing(d).await;
        }
        if d.position <= self.last {
            return Ok(());
        }
        self.last = d.position;
        match (self.audience.admit(d), d.conversation_sid.as_deref()) {
            (Verdict::Skip, _) => Ok(()),
            (Verdict::Joined, Some(ch)) => {
                Box::pin(self.send_conversation("conversationAdded", d.position, ch)).await?;
                self.send(&d.text).await
            }
            (Verdict::Left, Some(ch)) => {
                self.send(&d.text).await?;
                Box::pin(self.send_conversation("conversationRemoved", d.position, ch)).await
            }
            _ => self.send(&d.text).await,
        }
    }

    /// Someone else's typing in one of this user's conversations:
    /// `typingStarted` unless they were already typing.
    async fn deliver_typing(&mut self, d: &Delivery) -> Result<(), Option<CloseReason>> {
        let (Some(ch), Some(who)) = (&d.conversation_sid, &d.identity) else {
            return Ok(());
        };
        if !self.audience.hears_typing(d) {
            return Ok(());
        }
        if self.typing.insert((ch.clone(), who.clone()), Instant::now()).is_none() {
            self.send(&d.text).await?;
        }
        Ok(())
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
