//! Conversation state timers: active → inactive → closed when due.

use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::time;

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

/// One pass as of `now`: (went inactive, closed).
pub async fn apply(state: &AppState, now: i64) -> Result<(usize, usize), ApiError> {
    state
        .db
        .write(|_| Ok(()), move |tx, ()| Ok(store::conversations::apply_due_timers(tx.conn()?, now)?))
        .await
}
