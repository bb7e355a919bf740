//! Sending post-event deliveries. The fan-out makes each delivery's first
//! attempt ([`super::direct`]); what it could not settle then is written as
//! a row, and this loop claims due rows (each the oldest of its queue)
//! under a lease, sends them side by side, then removes each that its
//! receiver answered, or schedule its next attempt with an exponential
//! backoff: on connection errors, timeouts, 429 and 5xx, until the
//! delivery's retry horizon. Any other answer ends the delivery. Every
//! attempt and its outcome is logged; nothing here ever reaches an API
//! caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::store::{self, deliveries::DeliveryRow, deliveries::NewDelivery};
use crate::time::now_ms;

use super::Webhooks;
use super::outbound::Request;

/// Queues of rows worked on at once per instance.
pub const QUEUES: usize = 64;
/// Deliveries of one queue claimed together: sent one after the other, and
/// recorded in one transaction (a crash before it sends them again, with
/// their idempotency tokens).
const RUN: i64 = 32;
/// How long a claim holds: longer than an attempt can take, so a lease
/// runs out only when its instance died mid-attempt.
pub const LEASE_MS: i64 = 60_000;
/// The longest wait between looks at the table (other instances' fan-outs
/// and lapsed leases).
const IDLE: Duration = Duration::from_secs(1);
/// The longest pause between attempts.
const MAX_BACKOFF_MS: i64 = 5 * 60_000;

pub struct Deliverer {
    pub hooks: Arc<Webhooks>,
}

/// The pause after `attempts` failed attempts: base × 4^(attempts − 1),
/// at most five minutes.
pub fn backoff(base: Duration, attempts: i32) -> i64 {
    let factor = 4i64.saturating_pow(attempts.saturating_sub(1).clamp(0, 16) as u32);
    (base.as_millis() as i64).saturating_mul(factor).min(MAX_BACKOFF_MS)
}

impl Deliverer {
    /// Delivers until stopped, at most [`QUEUES`] queues at once: a slow
    /// receiver holds its own queue, never the others.
    pub async fn run(self) {
        let me = Arc::new(self);
        let in_flight = me.hooks.draining.clone();
        loop {
            let free = in_flight.available_permits() as i64;
            if free == 0 {
                drop(in_flight.acquire().await);
                continue;
            }
            let claimed = match me.claim(free).await {
                Ok(runs) => runs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
            };
            if claimed.iter().all(Vec::is_empty) {
                me.idle().await;
                continue;
            }
            for run in claimed.into_iter().filter(|r| !r.is_empty()) {
                let permit = in_flight.clone().acquire_owned().await.expect("the semaphore is never closed");
                let me = me.clone();
                actix_web::rt::spawn(async move {
                    drain(&me.hooks, run).await;
                    drop(permit);
                });
            }
        }
    }

    async fn claim(&self, limit: i64) -> Result<Vec<Vec<DeliveryRow>>, ApiError> {
        let now = now_ms();
        self.hooks
            .db
            .write_unlogged(move |tx| Ok(store::deliveries::claim(tx.conn()?, now, LEASE_MS, limit, RUN)?))
            .await
    }

    /// Waits for the fan-out, the next retry, or [`IDLE`] (which also
    /// finds the leases of instances that died mid-attempt run out).
    async fn idle(&self) {
        let now = now_ms();
        let next = self
            .hooks
            .db
            .read(move |conn| Ok::<_, ApiError>(store::deliveries::next_due_after(conn, now)?))
            .await;
        let wait = match next {
            Ok(Some(at)) => Duration::from_millis((at - now).clamp(1, IDLE.as_millis() as i64) as u64),
            _ => IDLE,
        };
        tokio::select! {
            () = self.hooks.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sends runs of one queue, one after the other, while its deliveries
/// succeed: until it is empty or waits for a retry.
pub async fn drain(hooks: &Webhooks, run: Vec<DeliveryRow>) {
    let mut next = run;
    while !next.is_empty() {
        next = deliver_run(hooks, next).await;
    }
}

/// Sends a run of one queue in order, stopping at the first attempt
/// worth retrying; records it all in one transaction; returns the
/// queue's next run (none when it is empty or waits for a retry).
async fn deliver_run(hooks: &Webhooks, run: Vec<DeliveryRow>) -> Vec<DeliveryRow> {
    let queue = run[0].queue.clone();
    let mut done = Vec::with_capacity(run.len());
    let mut retry = None;
    let mut rows = run.into_iter();
    for row in rows.by_ref() {
        let delivery = Delivery::from(&row);
        let verdict = attempt(hooks, &delivery).await;
        match next(hooks, &delivery, &verdict) {
            Next::Over => done.push(row.id),
            Next::Again { attempts, due } => {
                retry = Some((row.id, attempts, due));
                break;
            }
        }
    }
    let untried: Vec<i64> = rows.map(|r| r.id).collect();
    let settled = store::deliveries::Settled { done: &done, retry, untried: &untried };
    record(hooks, &queue, &settled).await
}

/// Records how a run of `queue` ended; returns the queue's next run.
async fn record(hooks: &Webhooks, queue: &str, settled: &store::deliveries::Settled<'_>) -> Vec<DeliveryRow> {
    let now = now_ms();
    let (queue, done, retry, untried) =
        (queue.to_owned(), settled.done.to_vec(), settled.retry, settled.untried.to_vec());
    let saved = hooks
        .db
        .write_unlogged(move |tx| {
            let settled = store::deliveries::Settled { done: &done, retry, untried: &untried };
            Ok::<_, ApiError>(store::deliveries::settle(tx.conn()?, &queue, &settled, now, LEASE_MS, RUN)?)
        })
        .await;
    saved.unwrap_or_else(|e| {
        // The leases run out and the run is sent again, with the same tokens.
        tracing::warn!(error = %e, "could not record webhook deliveries");
        Vec::new()
    })
}

/// Settles the written delivery `id` of `queue`, whose attempt ended in
/// `next` (the fan-out wrote it, leased to this instance, while the
/// attempt was under way), then delivers what follows it in its queue.
pub async fn settle_written(hooks: &Webhooks, queue: &str, id: i64, next: Next) {
    // What follows is drained as the deliverer drains a queue, within its bound.
    let _permit = hooks.draining.clone().acquire_owned().await;
    let (done, retry) = match next {
        Next::Over => (vec![id], None),
        Next::Again { attempts, due } => (Vec::new(), Some((id, attempts, due))),
    };
    let settled = store::deliveries::Settled { done: &done, retry, untried: &[] };
    let run = record(hooks, queue, &settled).await;
    if retry.is_some() {
        // The deliverer may be idle until its next look: this retry is due sooner.
        hooks.wake.notify_one();
    }
    drain(hooks, run).await;
}

/// What an attempt reads of a delivery: a written row, or a planned one
/// that its first attempt borrows instead of copying.
pub struct Delivery<'a> {
    /// 0 for a delivery not written.
    pub id: i64,
    pub account_sid: &'a str,
    pub position: i64,
    pub event_type: &'a str,
    pub webhook: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    /// Form-encoded, without `RetryCount`.
    pub params: &'a str,
    pub token: &'a str,
    pub attempts: i32,
    pub due: i64,
    pub expires: i64,
    pub max_attempts: Option<i32>,
}

impl<'a> From<&'a DeliveryRow> for Delivery<'a> {
    fn from(row: &'a DeliveryRow) -> Self {
        Delivery {
            id: row.id,
            account_sid: &row.account_sid,
            position: row.position,
            event_type: &row.event_type,
            webhook: &row.webhook,
            url: &row.url,
            method: &row.method,
            params: &row.params,
            token: &row.token,
            attempts: row.attempts,
            due: row.due,
            expires: row.expires,
            max_attempts: row.max_attempts,
        }
    }
}

impl<'a> From<&'a NewDelivery> for Delivery<'a> {
    fn from(new: &'a NewDelivery) -> Self {
        Delivery {
            id: 0,
            account_sid: &new.account_sid,
            position: new.position,
            event_type: &new.event_type,
            webhook: &new.webhook,
            url: &new.url,
            method: &new.method,
            params: &new.params,
            token: &new.token,
            attempts: new.attempts,
            due: new.due,
            expires: new.expires,
            max_attempts: new.max_attempts,
        }
    }
}

/// One attempt, counted and logged.
pub async fn attempt(hooks: &Webhooks, row: &Delivery<'_>) -> Verdict {
    let token = hooks.tokens.get(&hooks.db, &hooks.keys, row.account_sid).await;
    let verdict = send(hooks, row, token).await;
    let outcome = match &verdict {
        Verdict::Done => "done",
        Verdict::Retry(_) => "retry",
        Verdict::Unsent(_) => "unsent",
    };
    metrics::counter!("confab_webhook_attempts_total", "outcome" => outcome).increment(1);
    verdict
}

async fn send(hooks: &Webhooks, row: &Delivery<'_>, auth_token: Option<String>) -> Verdict {
    let retry_count = row.attempts;
    let Some(auth_token) = auth_token else {
        // Nothing can be signed without the token (an account created
        // before tokens were sealed, until its token is next used).
        tracing::warn!(
            delivery = row.id, account_sid = %row.account_sid, event_type = %row.event_type,
            "webhook not sent: the account's Auth Token is not known yet (authenticate once with it, or rotate it)"
        );
        return Verdict::Unsent("auth token unknown".to_owned());
    };
    // `RetryCount=N` needs no escaping: appended to the planned form as is.
    let form = match row.params {
        "" => format!("RetryCount={retry_count}"),
        planned => format!("{planned}&RetryCount={retry_count}"),
    };
    let request = Request {
        url: row.url,
        method: row.method,
        form: &form,
        auth_token: &auth_token,
        idempotency_token: row.token,
    };
    // How long after it was due this attempt goes out: the deliverer's lag.
    metrics::histogram!("confab_webhook_delivery_lag_seconds")
        .record(now_ms().saturating_sub(row.due).max(0) as f64 / 1000.0);
    let started = Instant::now();
    let outcome = hooks.outbound.send(&request).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if outcome.is_success() {
        tracing::info!(
            delivery = row.id, position = row.position, webhook = %row.webhook,
            event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
            outcome = %outcome, "webhook delivered"
        );
        Verdict::Done
    } else if outcome.is_retryable() {
        tracing::warn!(
            delivery = row.id, event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
            outcome = %outcome, "webhook attempt failed"
        );
        Verdict::Retry(outcome.to_string())
    } else {
        tracing::warn!(
            delivery = row.id, event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
            outcome = %outcome, "webhook refused; not retried"
        );
        Verdict::Done
    }
}

/// What becomes of a delivery after an attempt.
pub enum Next {
    /// Answered, refused for good, or given up.
    Over,
    /// Tried again at `due`, after `attempts` so far.
    Again { attempts: i32, due: i64 },
}

/// What follows `verdict`: a failed delivery is tried again with a
/// backoff, unless its retry horizon has passed or its attempts (a Chat
/// webhook's retry count + 1) are spent: then it is given up. A request
/// that was not sent does not count as an attempt.
pub fn next(hooks: &Webhooks, row: &Delivery<'_>, verdict: &Verdict) -> Next {
    let (why, sent) = match verdict {
        Verdict::Done => return Next::Over,
        Verdict::Retry(why) => (why, true),
        Verdict::Unsent(why) => (why, false),
    };
    let attempts = row.attempts + i32::from(sent);
    if sent && row.max_attempts.is_some_and(|max| attempts >= max) {
        tracing::error!(
            delivery = row.id, event_type = %row.event_type, url = %row.url, attempts, last = why,
            "webhook given up: its retry count is spent"
        );
        return Next::Over;
    }
    let due = now_ms() + backoff(hooks.config.retry_base, attempts.max(1));
    if due > row.expires {
        tracing::error!(
            delivery = row.id, event_type = %row.event_type, url = %row.url, attempts, last = why,
            "webhook given up: retry horizon reached"
        );
        return Next::Over;
    }
    Next::Again { attempts, due }
}

pub enum Verdict {
    /// Answered, or refused for good: the delivery is over.
    Done,
    /// Worth another attempt (why this one failed).
    Retry(String),
    /// Not sent at all (why): tried again later, not counted as an attempt
    /// (a Chat webhook's retry count is for the receiver's failures).
    Unsent(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_fourfold_to_five_minutes() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), 1_000);
        assert_eq!(backoff(base, 2), 4_000);
        assert_eq!(backoff(base, 3), 16_000);
        assert_eq!(backoff(base, 6), MAX_BACKOFF_MS);
        assert_eq!(backoff(base, i32::MAX), MAX_BACKOFF_MS);
    }
}
