//! Pruning the event log: events older than `CONFAB_EVENT_RETENTION_SECS`
//! go, oldest first, in batches, and the pruned-through mark moves past
//! them (a reader resuming below it is told to resync).

use std::time::Duration;

use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::time;

/// Events deleted per transaction.
const BATCH: i64 = 5_000;

/// How often the log is pruned: often enough that it never holds much more
/// than its retention.
fn interval(retention: Duration) -> Duration {
    (retention / 20).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

pub async fn run(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(interval(state.config.event_retention));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cutoff = time::now() - state.config.event_retention.as_secs() as i64;
        match prune(&state, cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "event log pruned"),
            Err(e) => tracing::warn!(error = %e, "event log pruning failed"),
        }
    }
}

/// Deletes every event created before `cutoff`: how many went.
pub async fn prune(state: &AppState, cutoff: i64) -> Result<usize, ApiError> {
    let mut pruned = 0;
    loop {
        let n = state
            .db
            .write(
                |_| Ok::<_, ApiError>(()),
                move |tx, ()| Ok(store::events::prune(tx.conn()?, cutoff, BATCH)?),
            )
            .await?;
        pruned += n;
        if n < BATCH as usize {
            return Ok(pruned);
        }
    }
}
