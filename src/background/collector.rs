//! The collector: removes media nobody attached in time, uploads abandoned
//! mid-way, and the objects of every deleted media row.
//!
//! It runs every `CONFAB_GC_INTERVAL_SECS` and whenever a request has just
//! deleted media. On PostgreSQL rows are claimed with `FOR UPDATE SKIP
//! LOCKED`, so several instances collect side by side without stepping on
//! each other; an object deletion that fails stays queued and is retried.

use actix_web::web;
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::time;

/// Rows handled per statement (and per write transaction).
pub const BATCH: i64 = 200;
/// Batches of each kind one pass handles at most: a pass never holds the
/// collector (or, on SQLite, the write lock) for long. When there is more,
/// the collector runs again right away.
const MAX_BATCHES_PER_PASS: usize = 50;
/// Tries at aborting a dead upload's multipart upload before the object is
/// deleted without it.
const ABORT_ATTEMPTS: i64 = 5;
/// How long a claimed deletion is left to its collector before another may retry it.
const CLAIM_SECS: i64 = 60;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub expired: usize,
    pub objects_deleted: usize,
    pub objects_failed: usize,
}

pub async fn run(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(state.config.media.gc_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.collector.notified() => {}
        }
        let outcome = pass(&state, time::now()).await;
        metrics::counter!("confab_collector_runs_total").increment(1);
        if let Ok(p) = &outcome {
            metrics::counter!("confab_collector_media_expired_total").increment(p.expired as u64);
            metrics::counter!("confab_collector_objects_deleted_total").increment(p.objects_deleted as u64);
            metrics::counter!("confab_collector_objects_failed_total").increment(p.objects_failed as u64);
        }
        match outcome {
            Ok(p) if p == Pass::default() => {}
            Ok(p) => tracing::info!(
                expired = p.expired,
                deleted = p.objects_deleted,
                failed = p.objects_failed,
                "media collected"
            ),
            Err(e) => tracing::warn!(error = %e, "media collection failed"),
        }
    }
}

/// One collection pass as of `now`.
pub async fn pass(state: &AppState, now: i64) -> Result<Pass, ApiError> {
    let media = &state.config.media;
    let gc_after = media.gc_after.as_secs() as i64;
    // Uploads in progress touch their row every heartbeat and may idle up
    // to the configured timeout: only rows untouched for longer are abandoned.
    let stale_after = media.stale_upload_after();
    let stale_upload = now - gc_after.max(stale_after.as_secs() as i64);
    let mut result = Pass::default();
    let mut more = true;
    for _ in 0..MAX_BATCHES_PER_PASS {
        let expired = state
            .db
            .write(
                |_| Ok(()),
                move |tx, ()| {
                    Ok::<_, ApiError>(store::media::expire(tx.conn()?, now - gc_after, stale_upload, BATCH)?)
                },
            )
            .await?;
        result.expired += expired;
        if (expired as i64) < BATCH {
            more = false;
            break;
        }
    }
    // A crash mid-upload can leave a temporary file in a local folder.
    if let Err(e) = state.storage.remove_stale_partials(stale_after).await {
        tracing::warn!(error = %e, "removing stale partial uploads failed");
    }
    let mut more_deletions = true;
    for _ in 0..MAX_BATCHES_PER_PASS {
        let keys = state
            .db
            .write(
                |_| Ok(()),
                move |tx, ()| {
                    Ok::<_, ApiError>(store::storage_deletions::claim(
                        tx.conn()?,
                        now,
                        now + CLAIM_SECS,
                        BATCH,
                    )?)
                },
            )
            .await?;
        let claimed = keys.len();
        let outcomes: Vec<(String, bool)> = futures_util::stream::iter(keys)
            .map(|claimed| async move {
                let key = claimed.object_key;
                // An upload cut off by a crash: its parts go first. A store
                // that keeps refusing (the upload is gone already, say) is
                // believed after a few tries.
                if let Some(id) = &claimed.multipart_id
                    && let Err(e) = state.storage.abort_upload(&key, id).await
                {
                    if claimed.attempts < ABORT_ATTEMPTS {
                        tracing::warn!(error = %e, object = %key, "aborting a multipart upload failed; will retry");
                        return (key, false);
                    }
                    tracing::error!(error = %e, object = %key, multipart_id = %id, "aborting a multipart upload failed again; giving up on it");
                }
                let ok = match state.storage.delete(&key).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, object = %key, "deleting a media object failed; will retry");
                        false
                    }
                };
                (key, ok)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let done: Vec<String> = outcomes.into_iter().filter(|(_, ok)| *ok).map(|(k, _)| k).collect();
        result.objects_deleted += done.len();
        result.objects_failed += claimed - done.len();
        if !done.is_empty() {
            state
                .db
                .write(
                    |_| Ok(()),
                    move |tx, ()| Ok::<_, ApiError>(store::storage_deletions::done(tx.conn()?, &done)?),
                )
                .await?;
        }
        if (claimed as i64) < BATCH {
            more_deletions = false;
            break;
        }
    }
    if more || more_deletions {
        state.collector.notify_one();
    }
    Ok(result)
}
