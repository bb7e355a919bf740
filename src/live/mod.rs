//! Live delivery: one tailer per instance reads the event log in commit
//! order (`store::events::after`) and hands each new event, rendered once,
//! to the streams of its account. The log is the truth: a stream that
//! falls behind or reconnects reads what it missed from the log, not from
//! here.
//!
//! The tailer wakes when a write of this instance commits
//! (`Db::committed`) and polls every [`POLL`] for the other instances'
//! writes. It runs while anyone listens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::db::Db;
use crate::domain::EventKind;
use crate::error::ApiError;
use crate::store::events::{self, EventRow};
use crate::views::events::frame;

/// How often the tailer reads the log without being woken.
pub const POLL: Duration = Duration::from_secs(1);
/// Frames a stream may have waiting; past that it is too slow, and closed.
pub const QUEUE: usize = 1024;
/// Bytes of frames a stream may have waiting, likewise.
pub const QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Events read per query.
const BATCH: i64 = 500;

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

/// The streams of this instance and the tailer that feeds them.
pub struct Hub {
    db: Db,
    v1: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    /// The last position handed out (or the log's end when the tailer
    /// started).
    head: i64,
    running: bool,
}

struct Subscriber {
    account_sid: String,
    tx: mpsc::Sender<Arc<Delivery>>,
    too_slow: Arc<AtomicBool>,
    queued_bytes: Arc<AtomicUsize>,
}

/// A stream's place in the hub: its frames arrive on `rx`; dropped, it
/// leaves.
pub struct Subscription {
    hub: Weak<Hub>,
    id: u64,
    pub rx: mpsc::Receiver<Arc<Delivery>>,
    /// Set when the queue filled and the hub let go of this stream.
    pub too_slow: Arc<AtomicBool>,
    /// Bytes of the frames queued on `rx`: the stream takes off what it
    /// sends ([`Subscription::sent`]).
    queued_bytes: Arc<AtomicUsize>,
    /// Frames after this position arrive on `rx`.
    pub from: i64,
}

impl Subscription {
    /// The stream has sent (or skipped) `delivery`, taken from `rx`.
    pub fn sent(&self, delivery: &Delivery) {
        self.queued_bytes.fetch_sub(delivery.text.len(), Ordering::SeqCst);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.inner.lock().expect("hub lock").subscribers.remove(&self.id);
        }
    }
}

impl Hub {
    pub fn new(db: Db, v1: String) -> Arc<Hub> {
        Arc::new(Hub { db, v1, inner: Mutex::new(Inner::default()) })
    }

    pub fn v1(&self) -> &str {
        &self.v1
    }

    /// Joins the hub for the events of `account_sid`, starting the tailer
    /// if it is not running.
    pub async fn subscribe(self: &Arc<Self>, account_sid: &str) -> Result<Subscription, ApiError> {
        let mut latest = None;
        loop {
            if let Some(subscription) = self.join(account_sid, latest) {
                return Ok(subscription);
            }
            // No tailer: where one starting now begins, read unlocked (and
            // checked again, as another may have started meanwhile).
            latest = Some(self.db.read(|conn| Ok::<_, ApiError>(events::latest(conn)?)).await?);
        }
    }

    /// Registers a subscriber if the tailer runs, or starts it after
    /// `latest` when given; `None` when it needs `latest` first.
    fn join(self: &Arc<Self>, account_sid: &str, latest: Option<i64>) -> Option<Subscription> {
        let mut inner = self.inner.lock().expect("hub lock");
        if !inner.running {
            inner.head = latest?;
            inner.running = true;
            actix_web::rt::spawn(tail(Arc::downgrade(self)));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let too_slow = Arc::new(AtomicBool::new(false));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        inner.next_id += 1;
        let id = inner.next_id;
        let subscriber = Subscriber {
            account_sid: account_sid.to_owned(),
            tx,
            too_slow: too_slow.clone(),
            queued_bytes: queued_bytes.clone(),
        };
        inner.subscribers.insert(id, subscriber);
        Some(Subscription { hub: Arc::downgrade(self), id, rx, too_slow, queued_bytes, from: inner.head })
    }

    /// Hands a typing indicator to the streams of `account_sid` of this
    /// instance. Ephemeral: never logged or replayed; a stream too full to
    /// take one simply misses it.
    pub fn typing(&self, typing: Delivery) {
        let typing = Arc::new(typing);
        let inner = self.inner.lock().expect("hub lock");
        for s in inner.subscribers.values().filter(|s| s.account_sid == typing.account_sid) {
            if s.tx.try_send(typing.clone()).is_ok() {
                s.queued_bytes.fetch_add(typing.text.len(), Ordering::SeqCst);
            }
        }
    }

    /// Hands a batch to the subscribers of each event's account. A stream
    /// whose queue is full is let go (it will read the log when it
    /// reconnects).
    fn dispatch(&self, batch: Vec<Arc<Delivery>>) {
        let mut inner = self.inner.lock().expect("hub lock");
        for delivery in &batch {
            inner.subscribers.retain(|_, s| {
                if s.account_sid != delivery.account_sid {
                    return true;
                }
                let bytes = delivery.text.len();
                if s.queued_bytes.load(Ordering::SeqCst) + bytes > QUEUE_BYTES {
                    s.too_slow.store(true, Ordering::SeqCst);
                    return false;
                }
                match s.tx.try_send(delivery.clone()) {
                    Ok(()) => {
                        s.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
                        true
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        s.too_slow.store(true, Ordering::SeqCst);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            inner.head = delivery.position;
        }
    }
}

/// The tailer: reads the log after the hub's head whenever woken or every
/// [`POLL`], until the hub is gone or nobody listens.
async fn tail(hub: Weak<Hub>) {
    let Some(committed) = hub.upgrade().map(|h| h.db.committed()) else {
        return;
    };
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
        let _ = tokio::time::timeout(POLL, committed.notified()).await;
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

    async fn hub() -> (Arc<Hub>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.path().join("t.db")), 2).unwrap();
        crate::db::migrations::run_pending(&mut db.get().unwrap()).unwrap();
        (Hub::new(db, "http://localhost/v1".into()), dir)
    }

    #[actix_web::test]
    async fn a_stream_that_does_not_keep_up_is_let_go_and_others_are_not() {
        let (hub, _dir) = hub().await;
        let mut slow = hub.subscribe("AC1").await.unwrap();
        let mut brisk = hub.subscribe("AC1").await.unwrap();
        let other_account = hub.subscribe("AC2").await.unwrap();
        for position in 1..=(QUEUE as i64 + 1) {
            hub.dispatch(vec![delivery(position, 10)]);
            let d = brisk.rx.try_recv().expect("the brisk stream gets each frame");
            brisk.sent(&d);
        }
        assert!(slow.too_slow.load(Ordering::SeqCst), "its queue filled");
        assert!(!brisk.too_slow.load(Ordering::SeqCst));
        let mut queued = 0;
        while slow.rx.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, QUEUE, "what was queued is still read, then the channel ends");
        assert!(matches!(slow.rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
        assert!(!other_account.too_slow.load(Ordering::SeqCst), "other accounts' streams get nothing");
    }

    #[actix_web::test]
    async fn a_stream_is_let_go_when_its_queued_bytes_pass_the_bound() {
        let (hub, _dir) = hub().await;
        let sub = hub.subscribe("AC1").await.unwrap();
        let big = QUEUE_BYTES / 4 + 1;
        for position in 1..=4 {
            hub.dispatch(vec![delivery(position, big)]);
        }
        assert!(sub.too_slow.load(Ordering::SeqCst), "four frames of a quarter of the bound and more");
    }
}
