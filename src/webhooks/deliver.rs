//! Sending post-event deliveries: claim due rows (each the oldest of its
//! queue) under a lease, send them side by side, then remove each that its
//! receiver answered, or schedule its next attempt with an exponential
//! backoff: on connection errors, timeouts, 429 and 5xx, until the
//! delivery's retry horizon. Any other answer ends the delivery. Every
//! attempt and its outcome is logged; nothing here ever reaches an API
//! caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::store::{self, deliveries::DeliveryRow};

use super::Webhooks;
use super::fanout::now_ms;
use super::outbound::Request;

/// Deliveries claimed (and in flight) at once per instance.
const BATCH: i64 = 64;
/// How long a claim holds: longer than an attempt can take, so a lease
/// runs out only when its instance died mid-attempt.
const LEASE_MS: i64 = 60_000;
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
    /// Delivers until stopped, at most [`BATCH`] attempts in flight: a
    /// slow receiver holds its own queue, never the others.
    pub async fn run(self) {
        let me = Arc::new(self);
        let in_flight = Arc::new(Semaphore::new(BATCH as usize));
        loop {
            let free = in_flight.available_permits() as i64;
            if free == 0 {
                drop(in_flight.acquire().await);
                continue;
            }
            let claimed = match me.claim(free).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                me.idle().await;
                continue;
            }
            for row in claimed {
                let permit = in_flight.clone().acquire_owned().await.expect("the semaphore is never closed");
                let me = me.clone();
                actix_web::rt::spawn(async move {
                    let hooks = &me.hooks;
                    let token = hooks.tokens.get(&hooks.db, &hooks.keys, &row.account_sid).await;
                    me.attempt(row, token).await;
                    drop(permit);
                    // The next delivery of its queue may be due now.
                    hooks.wake.notify_one();
                });
            }
        }
    }

    async fn claim(&self, limit: i64) -> Result<Vec<DeliveryRow>, ApiError> {
        let now = now_ms();
        self.hooks
            .db
            .write_unlogged(move |tx| Ok(store::deliveries::claim(tx.conn()?, now, LEASE_MS, limit)?))
            .await
    }

    /// Waits for the fan-out, the next due delivery, or [`IDLE`].
    async fn idle(&self) {
        let next = self.hooks.db.read(|conn| Ok::<_, ApiError>(store::deliveries::next_due(conn)?)).await;
        let wait = match next {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, IDLE.as_millis() as i64) as u64),
            _ => IDLE,
        };
        if wait.is_zero() {
            // Due, but its queue's head is leased: look again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
        tokio::select! {
            () = self.hooks.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }

    async fn attempt(&self, row: DeliveryRow, auth_token: Option<String>) {
        let retry_count = row.attempts;
        let Some(auth_token) = auth_token else {
            // Nothing can be signed without the token (an account created
            // before tokens were sealed, until its token is next used).
            tracing::warn!(
                delivery = row.id, account_sid = %row.account_sid, event_type = %row.event_type,
                "webhook not sent: the account's Auth Token is not known yet (authenticate once with it, or rotate it)"
            );
            return self.reschedule(&row, "auth token unknown").await;
        };
        let mut params: Vec<(String, String)> = form_urlencoded::parse(row.params.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.push(("RetryCount".to_owned(), retry_count.to_string()));
        let request = Request {
            url: &row.url,
            method: &row.method,
            params: &params,
            auth_token: &auth_token,
            idempotency_token: &row.token,
        };
        let started = Instant::now();
        let outcome = self.hooks.outbound.send(&request).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if outcome.is_success() {
            tracing::info!(
                delivery = row.id, position = row.position, webhook = %row.webhook,
                event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
                outcome = %outcome, "webhook delivered"
            );
            self.finish(&row).await;
        } else if outcome.is_retryable() {
            tracing::warn!(
                delivery = row.id, event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
                outcome = %outcome, "webhook attempt failed"
            );
            self.reschedule(&row, &outcome.to_string()).await;
        } else {
            tracing::warn!(
                delivery = row.id, event_type = %row.event_type, url = %row.url, retry_count, elapsed_ms,
                outcome = %outcome, "webhook refused; not retried"
            );
            self.finish(&row).await;
        }
    }

    async fn finish(&self, row: &DeliveryRow) {
        let id = row.id;
        let done = self
            .hooks
            .db
            .write_unlogged(move |tx| Ok::<_, ApiError>(store::deliveries::finish(tx.conn()?, id)?))
            .await;
        if let Err(e) = done {
            // The lease runs out and it is sent again, with the same token.
            tracing::warn!(delivery = id, error = %e, "could not record a finished webhook delivery");
        }
    }

    async fn reschedule(&self, row: &DeliveryRow, why: &str) {
        let attempts = row.attempts + 1;
        let due = now_ms() + backoff(self.hooks.config.retry_base, attempts);
        if due > row.expires {
            tracing::error!(
                delivery = row.id, event_type = %row.event_type, url = %row.url, attempts, last = why,
                "webhook given up: retry horizon reached"
            );
            return self.finish(row).await;
        }
        let id = row.id;
        let saved = self
            .hooks
            .db
            .write_unlogged(move |tx| {
                Ok::<_, ApiError>(store::deliveries::retry_at(tx.conn()?, id, attempts, due)?)
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(delivery = id, error = %e, "could not reschedule a webhook delivery");
        }
    }
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
