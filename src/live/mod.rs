//! Live delivery: one tailer per instance reads the event log in commit
//! order (`store::events::after`) and hands each new event, rendered once,
//! to the streams of its account. The log is the truth: a stream that
//! falls behind or reconnects reads what it missed from the log, not from
//! here.
//!
//! The tailer wakes when a write of this instance commits
//! (`Db::commits`), when another instance's does (its announcement by
//! PostgreSQL `NOTIFY`, src/live/listen.rs), and every
//! `CONFAB_STREAM_POLL_MS` in case an announcement was lost. It runs while
//! anyone listens.
//!
//! The hub routes each event to the streams that may see it, through
//! indexes by account (firehoses), conversation and identity (end users),
//! so a send wakes its conversation's streams and no others.

mod audience;
#[cfg(unix)]
mod listen;
mod queue;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use audience::{Audience, Verdict};

use crate::config::StreamConfig;
use crate::db::Db;
use crate::domain::EventKind;
use crate::error::ApiError;
use crate::store::events::{self, EventRow};
use crate::views::events::frame;

/// Events read per query.
const BATCH: i64 = 500;
/// The channel typing indicators cross instances on (PostgreSQL).
const TYPING_CHANNEL: &str = "confab_typing";

/// An event ready to send: what a stream filters on, and its frame.
#[derive(Debug)]
pub struct Delivery {
    /// 0 for a typing indicator: ephemeral, not in the log.
    pub position: i64,
    pub account_sid: String,
    pub service_sid: String,
    pub conversation_sid: Option<String>,
    /// `None` for a typing indicator.
    pub kind: Option<EventKind>,
    /// The identity of the participant or user the event is about.
    pub identity: Option<String>,
    pub text: Arc<str>,
}

/// Renders an event of the log for the streams.
pub fn render(event: &EventRow, v1: &str) -> Result<Delivery, ApiError> {
    let frame = frame(event, v1).map_err(|e| ApiError::internal(format!("event {}: {e}", event.position)))?;
    let identity = frame.data.get("identity").and_then(|v| v.as_str()).map(str::to_owned);
    let text = serde_json::to_string(&frame).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Delivery {
        position: event.position,
        account_sid: event.account_sid.clone(),
        service_sid: event.service_sid.clone(),
        conversation_sid: event.conversation_sid.clone(),
        kind: Some(event.kind),
        identity,
        text: text.into(),
    })
}

/// A typing indicator on its way to the other instances.
#[derive(Serialize, Deserialize)]
struct RelayedTyping {
    /// The instance it started on, which has delivered it already.
    origin: u64,
    account_sid: String,
    service_sid: String,
    conversation_sid: String,
    identity: String,
    text: String,
}

/// The streams of this instance and the tailer that feeds them.
pub struct Hub {
    db: Db,
    v1: String,
    config: StreamConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    /// Account → its firehose streams.
    firehoses: HashMap<String, HashSet<u64>>,
    /// Conversation → the end users' streams following it.
    members: HashMap<String, HashSet<u64>>,
    /// (service, identity) → that end user's streams: events about the
    /// user itself, and its joins, reach it before it follows the
    /// conversation.
    identities: HashMap<(String, String), HashSet<u64>>,
    /// The last position handed out (or the log's end when the tailer
    /// started).
    head: i64,
    running: bool,
}

struct Subscriber {
    audience: Audience,
    tx: queue::Sender,
}

/// A stream's place in the hub: its frames arrive on `rx` (which ends,
/// after what is queued, when the hub lets the stream go: see
/// [`queue::Receiver::too_slow`]); dropped, it leaves.
pub struct Subscription {
    hub: Weak<Hub>,
    id: u64,
    pub rx: queue::Receiver,
    /// Frames after this position arrive on `rx`.
    pub from: i64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.inner.lock().expect("hub lock").remove(self.id);
        }
    }
}

impl Inner {
    fn add(&mut self, id: u64, subscriber: Subscriber) {
        match &subscriber.audience {
            Audience::Account { account_sid, .. } => {
                self.firehoses.entry(account_sid.clone()).or_default().insert(id);
            }
            Audience::User { service_sid, identity, conversations } => {
                self.identities.entry((service_sid.clone(), identity.clone())).or_default().insert(id);
                for ch in conversations {
                    self.members.entry(ch.clone()).or_default().insert(id);
                }
            }
        }
        self.subscribers.insert(id, subscriber);
    }

    fn remove(&mut self, id: u64) -> Option<Subscriber> {
        let subscriber = self.subscribers.remove(&id)?;
        match &subscriber.audience {
            Audience::Account { account_sid, .. } => unindex(&mut self.firehoses, account_sid, id),
            Audience::User { service_sid, identity, conversations } => {
                unindex(&mut self.identities, &(service_sid.clone(), identity.clone()), id);
                for ch in conversations {
                    unindex(&mut self.members, ch, id);
                }
            }
        }
        Some(subscriber)
    }

    /// The streams that may want `d`, each once, in no particular order.
    fn candidates(&self, d: &Delivery) -> Vec<u64> {
        let mut ids: Vec<u64> = Vec::new();
        if d.kind.is_some()
            && let Some(set) = self.firehoses.get(&d.account_sid)
        {
            ids.extend(set);
        }
        if let Some(set) = d.conversation_sid.as_ref().and_then(|ch| self.members.get(ch)) {
            ids.extend(set);
        }
        if d.kind.is_some()
            && let Some(identity) = &d.identity
            && let Some(set) = self.identities.get(&(d.service_sid.clone(), identity.clone()))
        {
            ids.extend(set);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn unindex<K: std::hash::Hash + Eq>(index: &mut HashMap<K, HashSet<u64>>, key: &K, id: u64) {
    if let Some(set) = index.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

impl Hub {
    pub fn new(db: Db, v1: String, config: StreamConfig) -> Arc<Hub> {
        Arc::new(Hub { db, v1, config, inner: Mutex::new(Inner::default()) })
    }

    pub fn v1(&self) -> &str {
        &self.v1
    }

    /// Streams open on this instance.
    pub fn open_streams(&self) -> usize {
        self.inner.lock().expect("hub lock").subscribers.len()
    }

    /// Joins the hub for the events `audience` may see, starting the
    /// tailer if it is not running.
    pub async fn subscribe(self: &Arc<Self>, audience: Audience) -> Result<Subscription, ApiError> {
        let mut latest = None;
        loop {
            if let Some(subscription) = self.join(&audience, latest) {
                return Ok(subscription);
            }
            // No tailer: where one starting now begins, read unlocked (and
            // checked again, as another may have started meanwhile).
            latest = Some(self.db.read(|conn| Ok::<_, ApiError>(events::latest(conn)?)).await?);
        }
    }

    /// Registers a subscriber if the tailer runs, or starts it after
    /// `latest` when given; `None` when it needs `latest` first.
    fn join(self: &Arc<Self>, audience: &Audience, latest: Option<i64>) -> Option<Subscription> {
        let mut inner = self.inner.lock().expect("hub lock");
        if !inner.running {
            inner.head = latest?;
            inner.running = true;
            actix_web::rt::spawn(tail(Arc::downgrade(self)));
        }
        let (tx, rx) = queue::queue();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.add(id, Subscriber { audience: audience.clone(), tx });
        Some(Subscription { hub: Arc::downgrade(self), id, rx, from: inner.head })
    }

    /// Hands a typing indicator to the streams that hear it, here and (on
    /// PostgreSQL) on the other instances. Ephemeral: never logged or
    /// replayed; a stream too full to take one simply misses it.
    pub fn typing(&self, typing: Delivery) {
        if self.db.is_postgres()
            && let (Some(conversation_sid), Some(identity)) = (&typing.conversation_sid, &typing.identity)
        {
            let relayed = RelayedTyping {
                origin: self.db.instance(),
                account_sid: typing.account_sid.clone(),
                service_sid: typing.service_sid.clone(),
                conversation_sid: conversation_sid.clone(),
                identity: identity.clone(),
                text: typing.text.to_string(),
            };
            let payload = serde_json::to_string(&relayed).expect("plain strings");
            let db = self.db.clone();
            actix_web::rt::spawn(async move {
                let sent = db.read(move |conn| crate::db::notify(conn, TYPING_CHANNEL, &payload)).await;
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "typing indicator not relayed to the other instances");
                }
            });
        }
        self.typing_here(typing);
    }

    /// Delivers a typing indicator to this instance's streams.
    fn typing_here(&self, typing: Delivery) {
        let typing = Arc::new(typing);
        let inner = self.inner.lock().expect("hub lock");
        for id in inner.candidates(&typing) {
            let s = &inner.subscribers[&id];
            if s.audience.hears_typing(&typing) {
                let _ = s.tx.push(&typing, self.config.queue_frames, self.config.queue_bytes);
            }
        }
    }

    /// A typing indicator relayed by another instance (src/live/listen.rs).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn relayed_typing(&self, payload: &str) {
        let Ok(t) = serde_json::from_str::<RelayedTyping>(payload) else {
            tracing::warn!(payload, "an unreadable typing relay; ignored");
            return;
        };
        if t.origin == self.db.instance() {
            return;
        }
        self.typing_here(Delivery {
            position: 0,
            account_sid: t.account_sid,
            service_sid: t.service_sid,
            conversation_sid: Some(t.conversation_sid),
            kind: None,
            identity: Some(t.identity),
            text: t.text.into(),
        });
    }

    /// Hands a batch to the streams that may see each event, following the
    /// end users' joins and leaves. A stream whose queue is full is let go
    /// (it will read the log when it reconnects).
    fn dispatch(&self, batch: Vec<Arc<Delivery>>) {
        let mut guard = self.inner.lock().expect("hub lock");
        let inner = &mut *guard;
        let mut gone = Vec::new();
        for delivery in &batch {
            for id in inner.candidates(delivery) {
                let s = inner.subscribers.get_mut(&id).expect("indexed subscribers exist");
                let verdict = s.audience.admit(delivery);
                let membership = matches!(
                    delivery.kind,
                    Some(
                        EventKind::ParticipantJoined
                            | EventKind::ParticipantLeft
                            | EventKind::ConversationRemoved
                    )
                );
                if membership && let Some(ch) = &delivery.conversation_sid {
                    // Keep the conversation index as the audience now is.
                    if s.audience.follows(ch) {
                        inner.members.entry(ch.clone()).or_default().insert(id);
                    } else {
                        unindex(&mut inner.members, ch, id);
                    }
                }
                if verdict != Verdict::Skip
                    && s.tx.push(delivery, self.config.queue_frames, self.config.queue_bytes).is_err()
                {
                    gone.push(id);
                }
            }
            for id in gone.drain(..) {
                if let Some(s) = inner.remove(id) {
                    s.tx.too_slow();
                }
            }
            inner.head = delivery.position;
        }
    }
}

/// The tailer: reads the log after the hub's head whenever woken or every
/// poll interval, until the hub is gone or nobody listens.
async fn tail(hub: Weak<Hub>) {
    let Some((mut commits, poll)) = hub.upgrade().map(|h| (h.db.commits(), h.config.poll)) else {
        return;
    };
    // Other instances' commits wake it too, while it runs.
    let others = Arc::new(Notify::new());
    #[cfg(unix)]
    let _listening = hub.upgrade().and_then(|h| listen::start(&h, others.clone()));
    loop {
        let Some(strong) = hub.upgrade() else {
            return;
        };
        {
            let mut inner = strong.inner.lock().expect("hub lock");
            if inner.subscribers.is_empty() {
                inner.running = false;
                return;
            }
        }
        if let Err(e) = read_new(&strong).await {
            tracing::warn!(error = %e, "event log tailer failed to read; retrying");
        }
        drop(strong);
        tokio::select! {
            _ = commits.changed() => {}
            () = others.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Reads and dispatches everything after the head.
async fn read_new(hub: &Arc<Hub>) -> Result<(), ApiError> {
    loop {
        let head = hub.inner.lock().expect("hub lock").head;
        let rows = hub.db.read(move |conn| Ok::<_, ApiError>(events::after(conn, head, BATCH)?)).await?;
        let full = rows.len() as i64 == BATCH;
        let batch = rows.iter().map(|row| render(row, &hub.v1).map(Arc::new)).collect::<Result<_, _>>()?;
        hub.dispatch(batch);
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

    fn delivery(position: i64, bytes: usize) -> Arc<Delivery> {
        Arc::new(Delivery {
            position,
            account_sid: "AC1".into(),
            service_sid: "IS1".into(),
            conversation_sid: Some("CH1".into()),
            kind: Some(EventKind::MessageAdded),
            identity: None,
            text: "x".repeat(bytes).into(),
        })
    }

    fn firehose(account: &str) -> Audience {
        Audience::Account { account_sid: account.into(), service: None }
    }

    async fn hub() -> (Arc<Hub>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.path().join("t.db")), 2, Default::default()).unwrap();
        crate::db::migrations::run_pending(&mut db.get().unwrap()).unwrap();
        (Hub::new(db, "http://localhost/v1".into(), StreamConfig::default()), dir)
    }

    #[actix_web::test]
    async fn a_stream_that_does_not_keep_up_is_let_go_and_others_are_not() {
        let (hub, _dir) = hub().await;
        let mut slow = hub.subscribe(firehose("AC1")).await.unwrap();
        let mut brisk = hub.subscribe(firehose("AC1")).await.unwrap();
        let other_account = hub.subscribe(firehose("AC2")).await.unwrap();
        let queue = StreamConfig::default().queue_frames;
        for position in 1..=(queue as i64 + 1) {
            hub.dispatch(vec![delivery(position, 10)]);
            brisk.rx.try_recv().expect("the brisk stream gets each frame");
        }
        assert!(slow.rx.too_slow(), "its queue filled");
        assert!(!brisk.rx.too_slow());
        let mut queued = 0;
        while slow.rx.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, queue, "what was queued is still read, then the channel ends");
        assert_eq!(slow.rx.try_recv().unwrap_err(), queue::Empty::Closed);
        let mut other_account = other_account;
        assert_eq!(
            other_account.rx.try_recv().unwrap_err(),
            queue::Empty::Waiting,
            "other accounts' streams get nothing"
        );
    }

    #[actix_web::test]
    async fn a_stream_is_let_go_when_its_queued_bytes_pass_the_bound() {
        let (hub, _dir) = hub().await;
        let sub = hub.subscribe(firehose("AC1")).await.unwrap();
        let big = StreamConfig::default().queue_bytes / 4 + 1;
        for position in 1..=4 {
            hub.dispatch(vec![delivery(position, big)]);
        }
        assert!(sub.rx.too_slow(), "four frames of a quarter of the bound and more");
        assert_eq!(hub.open_streams(), 0, "let go");
    }

    #[actix_web::test]
    async fn an_event_wakes_only_the_streams_that_follow_its_conversation() {
        let (hub, _dir) = hub().await;
        let user = |identity: &str, conversations: &[&str]| Audience::User {
            service_sid: "IS1".into(),
            identity: identity.into(),
            conversations: conversations.iter().map(|c| c.to_string()).collect(),
        };
        let mut alice = hub.subscribe(user("alice", &["CH1"])).await.unwrap();
        let mut bob = hub.subscribe(user("bob", &[])).await.unwrap();
        let mut account = hub.subscribe(firehose("AC1")).await.unwrap();
        let event = |position, kind, identity: Option<&str>| {
            Arc::new(Delivery {
                kind: Some(kind),
                identity: identity.map(str::to_owned),
                ..Arc::into_inner(delivery(position, 1)).unwrap()
            })
        };
        hub.dispatch(vec![event(1, EventKind::MessageAdded, None)]);
        assert_eq!(alice.rx.try_recv().unwrap().position, 1);
        assert!(bob.rx.try_recv().is_err(), "not bob's conversation");
        // Bob joins: the join reaches him through his identity, and the
        // conversation's next event through the index.
        hub.dispatch(vec![
            event(2, EventKind::ParticipantJoined, Some("bob")),
            event(3, EventKind::MessageAdded, None),
        ]);
        assert_eq!(bob.rx.try_recv().unwrap().position, 2);
        assert_eq!(bob.rx.try_recv().unwrap().position, 3);
        hub.dispatch(vec![
            event(4, EventKind::ParticipantLeft, Some("alice")),
            event(5, EventKind::MessageAdded, None),
        ]);
        assert_eq!(alice.rx.try_recv().unwrap().position, 2, "others' joins in her conversation");
        assert_eq!(alice.rx.try_recv().unwrap().position, 3);
        assert_eq!(alice.rx.try_recv().unwrap().position, 4, "her own leave");
        assert!(alice.rx.try_recv().is_err(), "nothing after she left");
        assert_eq!(hub.inner.lock().unwrap().members["CH1"].len(), 1, "only bob follows CH1 now");
        let firehose: Vec<i64> =
            std::iter::from_fn(|| account.rx.try_recv().ok()).map(|d| d.position).collect();
        assert_eq!(firehose, [1, 2, 3, 4, 5]);
        drop(bob);
        assert!(hub.inner.lock().unwrap().members.is_empty(), "a stream that goes leaves the index");
    }
}
