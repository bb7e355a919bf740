//! A delivery's first attempt, made by the fan-out before it moves its
//! cursor past the event, so that a receiver answering at once costs no
//! row in `webhook_deliveries`: until the cursor moves, the log holds the
//! delivery (an instance that dies here leaves the round to be done again,
//! with the same idempotency tokens).
//!
//! Each queue (one URL, one conversation) is a lane: its deliveries go in
//! log order, lanes side by side, for at most [`WAIT`]. What is not over
//! by then is handed back, to be written in the transaction that moves
//! the cursor: a failed delivery with its next attempt; an attempt still
//! under way as a row leased to this instance (its lane settles the row,
//! by the id it is sent, when the attempt ends); and every delivery behind
//! those, or not tried. A queue that has rows already is not attempted:
//! its new deliveries are written behind them. A URL that was still
//! answering when a round stopped waiting is slow: for [`SLOW_FOR`] its
//! deliveries go straight to the deliverer as rows, so that one slow
//! receiver does not make every round wait.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store::deliveries::NewDelivery;
use crate::time::now_ms;

use super::Webhooks;
use super::deliver::{self, LEASE_MS, Next};

/// How long a round waits for its first attempts: a receiver slower than
/// this gets its delivery written (leased while the attempt goes on), and
/// holds up the other queues' next round at most this long.
pub const WAIT: Duration = Duration::from_millis(200);
/// Lanes attempted at once.
const LANES: usize = 64;
/// How long a URL that outlasted [`WAIT`] is left to the deliverer.
pub const SLOW_FOR: Duration = Duration::from_secs(30);

/// URLs whose receivers outlasted a round's wait, until when they are
/// left to the deliverer.
#[derive(Default)]
pub struct SlowUrls(Mutex<HashMap<String, Instant>>);

impl SlowUrls {
    fn mark(&self, url: &str) {
        let mut slow = self.0.lock().expect("slow URLs lock");
        let now = Instant::now();
        slow.retain(|_, until| *until > now);
        slow.insert(url.to_owned(), now + SLOW_FOR);
    }

    fn is_slow(&self, url: &str) -> bool {
        self.0.lock().expect("slow URLs lock").get(url).is_some_and(|until| *until > Instant::now())
    }
}

/// What a round's first attempts left to write.
#[derive(Default)]
pub struct Leftovers {
    /// Attempts under way: each is written leased to this instance, and
    /// its id sent to the lane that is attempting it.
    pub under_way: Vec<(NewDelivery, oneshot::Sender<i64>)>,
    /// Written as they are (due now), or with their next attempt: in log
    /// order within each queue, after the queue's attempt under way.
    pub rows: Vec<NewDelivery>,
}

/// A lane's deliveries, and how far it got.
type Started = (Arc<Vec<NewDelivery>>, Arc<Mutex<Progress>>);

/// How far a lane got.
#[derive(Default)]
struct Progress {
    /// Deliveries from the front that are over (answered, refused, given up).
    over: usize,
    /// The delivery at `over` is being attempted.
    attempting: bool,
    /// The delivery at `over` failed: its next attempt (attempts, due).
    again: Option<(i32, i64)>,
    /// The round stopped waiting and took what was left: the lane stops.
    taken: bool,
    /// The id of the delivery under way when the round took the lane,
    /// once it is written.
    written: Option<oneshot::Receiver<i64>>,
}

/// Attempts `rows` (one round's deliveries, in log order) except those of
/// `blocked` queues, waiting at most [`WAIT`]; returns what must be written.
pub async fn attempt_first(hooks: &Arc<Webhooks>, rows: Vec<NewDelivery>, blocked: &[String]) -> Leftovers {
    let blocked: HashSet<&str> = blocked.iter().map(String::as_str).collect();
    let mut leftovers = Leftovers::default();
    let mut lanes: Vec<Vec<NewDelivery>> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for row in rows {
        if blocked.contains(row.queue.as_str()) || hooks.slow.is_slow(&row.url) {
            leftovers.rows.push(row);
            continue;
        }
        let lane = *lane_of.entry(row.queue.clone()).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(row);
    }
    let permits = Arc::new(Semaphore::new(LANES));
    let (finished, mut finishing) = mpsc::unbounded_channel();
    let started: Vec<Started> = lanes
        .into_iter()
        .map(|rows| {
            let (rows, progress) = (Arc::new(rows), Arc::new(Mutex::new(Progress::default())));
            let lane = lane(hooks.clone(), rows.clone(), progress.clone(), permits.clone(), finished.clone());
            actix_web::rt::spawn(lane);
            (rows, progress)
        })
        .collect();
    // Dropped with this future (the fan-out stopped mid-round): no lane
    // goes on past the attempt it is making; the round is done again.
    let _stop = TakeAll(started.iter().map(|(_, progress)| progress.clone()).collect());
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut done = 0;
    while done < started.len() {
        match tokio::time::timeout_at(deadline, finishing.recv()).await {
            Ok(Some(())) => done += 1,
            _ => break,
        }
    }
    for (rows, progress) in started {
        let mut progress = progress.lock().expect("lane lock");
        progress.taken = true;
        let mut rest = rows.iter().skip(progress.over).cloned();
        if let Some((attempts, due)) = progress.again {
            if let Some(mut failed) = rest.next() {
                failed.attempts = attempts;
                failed.due = due;
                leftovers.rows.push(failed);
            }
        } else if progress.attempting
            && let Some(mut under_way) = rest.next()
        {
            under_way.leased_until = now_ms() + LEASE_MS;
            hooks.slow.mark(&under_way.url);
            let (id, written) = oneshot::channel();
            progress.written = Some(written);
            leftovers.under_way.push((under_way, id));
        }
        leftovers.rows.extend(rest);
    }
    leftovers
}

/// Takes every lane when dropped.
struct TakeAll(Vec<Arc<Mutex<Progress>>>);

impl Drop for TakeAll {
    fn drop(&mut self) {
        for progress in &self.0 {
            // A lane that panicked poisoned nothing worth keeping.
            let mut progress = progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            progress.taken = true;
        }
    }
}

/// Attempts one queue's deliveries in order until one fails, or the round
/// takes the lane.
async fn lane(
    hooks: Arc<Webhooks>,
    rows: Arc<Vec<NewDelivery>>,
    progress: Arc<Mutex<Progress>>,
    permits: Arc<Semaphore>,
    finished: mpsc::UnboundedSender<()>,
) {
    let _permit = permits.acquire_owned().await;
    for (i, new) in rows.iter().enumerate() {
        {
            let mut progress = progress.lock().expect("lane lock");
            if progress.taken {
                break;
            }
            progress.attempting = true;
        }
        let row = deliver::Delivery::from(new);
        let verdict = deliver::attempt(&hooks, &row).await;
        let next = deliver::next(&hooks, &row, &verdict);
        let written = {
            let mut progress = progress.lock().expect("lane lock");
            progress.attempting = false;
            if !progress.taken {
                match next {
                    Next::Over => {
                        progress.over = i + 1;
                        continue;
                    }
                    Next::Again { attempts, due } => {
                        progress.again = Some((attempts, due));
                        break;
                    }
                }
            }
            progress.written.take()
        };
        let _ = finished.send(());
        // The round wrote this delivery, leased to us, while it was under
        // way; no id: the round failed and will be done again.
        if let Some(written) = written
            && let Ok(id) = written.await
        {
            deliver::settle_written(&hooks, &new.queue, id, next).await;
        }
        return;
    }
    let _ = finished.send(());
}
