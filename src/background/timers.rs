//! Conversation state timers: active → inactive → closed when due.

use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::time;

/// Conversations changed per transaction: each records an event, and one
/// PostgreSQL transaction holds at most `store::events::PER_TRANSACTION`.
const BATCH: i64 = 500;

/// Applies due timers every `CONFAB_TIMERS_INTERVAL_SECS`. Idempotent
/// UPDATEs, so several instances may run it side by side.
pub async fn run(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(state.config.timers_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match apply(&state, time::now()).await {
            Ok((0, 0)) => {}
            Ok((inactive, closed)) => tracing::info!(inactive, closed, "conversation timers applied"),
            Err(e) => tracing::warn!(error = %e, "conversation timers failed"),
        }
    }
}

/// Every timer due as of `now`, in batches: (went inactive, closed).
pub async fn apply(state: &AppState, now: i64) -> Result<(usize, usize), ApiError> {
    let (mut inactive, mut closed) = (0, 0);
    loop {
        let (i, c) = state
            .db
            .write(
                |_| Ok::<_, ApiError>(()),
                move |tx, ()| Ok(store::conversations::apply_due_timers(tx.conn()?, now, BATCH)?),
            )
            .await?;
        inactive += i;
        closed += c;
        if i < BATCH as usize && c < BATCH as usize {
            return Ok((inactive, closed));
        }
    }
}
