//! The collector: removes media nobody attached in time, uploads abandoned
//! mid-way, and the objects of every deleted media row.
//!
//! It runs every `CONFAB_GC_INTERVAL_SECS` and whenever a request has just
//! deleted media. On PostgreSQL rows are claimed with `FOR UPDATE SKIP
//! LOCKED`, so several instances collect side by side without stepping on
//! each other; an object deletion that fails stays queued and is retried.

use actix_web::web;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use futures_util::StreamExt;

use crate::api::time;
use crate::app::AppState;
use crate::db::DbConnection;
use crate::db::schema::storage_deletions;
use crate::error::ApiError;

/// Rows handled per statement (and per write transaction).
pub const BATCH: i64 = 200;
/// Batches of each kind one pass handles at most: a pass never holds the
/// collector (or, on SQLite, the write lock) for long. When there is more,
/// the collector runs again right away.
const MAX_BATCHES_PER_PASS: usize = 50;
/// How long a claimed deletion is left to its collector before another may retry it.
const CLAIM_SECS: i64 = 60;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub expired: usize,
    pub objects_deleted: usize,
    pub objects_failed: usize,
}

pub async fn run(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(state.media.config.gc_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.media.collector.notified() => {}
        }
        match pass(&state, time::now()).await {
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
    let gc_after = state.media.config.gc_after.as_secs() as i64;
    // Uploads in progress touch their row every heartbeat and may idle up
    // to the configured timeout: only rows untouched for longer are abandoned.
    let stale_after = state.media.config.stale_upload_after();
    let stale_upload = now - gc_after.max(stale_after.as_secs() as i64);
    let mut result = Pass::default();
    let mut more = true;
    for _ in 0..MAX_BATCHES_PER_PASS {
        let expired = state.db.write(move |conn| expire(conn, now - gc_after, stale_upload)).await?;
        result.expired += expired;
        if (expired as i64) < BATCH {
            more = false;
            break;
        }
    }
    // A crash mid-upload can leave a temporary file in a local folder.
    if let Err(e) = state.media.storage.remove_stale_partials(stale_after).await {
        tracing::warn!(error = %e, "removing stale partial uploads failed");
    }
    let mut more_deletions = true;
    for _ in 0..MAX_BATCHES_PER_PASS {
        let keys = state.db.write(move |conn| claim(conn, now)).await?;
        let claimed = keys.len();
        let outcomes: Vec<(String, bool)> = futures_util::stream::iter(keys)
            .map(|key| async move {
                let ok = match state.media.storage.delete(&key).await {
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
        let done: Vec<String> = outcomes.iter().filter(|(_, ok)| *ok).map(|(k, _)| k.clone()).collect();
        result.objects_deleted += done.len();
        result.objects_failed += claimed - done.len();
        if !done.is_empty() {
            state
                .db
                .write(move |conn| {
                    for key in &done {
                        diesel::delete(
                            storage_deletions::table.filter(storage_deletions::object_key.eq(key)),
                        )
                        .execute(conn)?;
                    }
                    Ok(())
                })
                .await?;
        }
        if (claimed as i64) < BATCH {
            more_deletions = false;
            break;
        }
    }
    if more || more_deletions {
        state.media.collector.notify_one();
    }
    Ok(result)
}

/// Deletes a batch of expired media rows: `ready` ones uploaded before
/// `ready_before`, `uploading` ones last touched before `stale_before`. The
/// delete trigger queues their objects.
fn expire(conn: &mut DbConnection, ready_before: i64, stale_before: i64) -> Result<usize, ApiError> {
    let lock = skip_locked(conn);
    let sql = format!(
        "DELETE FROM media WHERE sid IN (SELECT sid FROM media \
         WHERE (state = 'ready' AND date_upload_updated < $1) OR (state = 'uploading' AND date_updated < $2) \
         LIMIT {BATCH}{lock})"
    );
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(ready_before)
        .bind::<BigInt, _>(stale_before)
        .execute(conn)?)
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    object_key: String,
}

/// Claims up to a batch of queued object deletions for this collector.
fn claim(conn: &mut DbConnection, now: i64) -> Result<Vec<String>, ApiError> {
    let lock = skip_locked(conn);
    let sql = format!(
        "UPDATE storage_deletions SET claimed_until = $1, attempts = attempts + 1 \
         WHERE object_key IN (SELECT object_key FROM storage_deletions WHERE claimed_until <= $2 \
         ORDER BY date_created LIMIT {BATCH}{lock}) RETURNING object_key"
    );
    let rows: Vec<Claimed> =
        diesel::sql_query(sql).bind::<BigInt, _>(now + CLAIM_SECS).bind::<BigInt, _>(now).load(conn)?;
    Ok(rows.into_iter().map(|r| r.object_key).collect())
}

/// PostgreSQL lets concurrent collectors skip each other's rows; SQLite has
/// one writer at a time anyway.
fn skip_locked(conn: &DbConnection) -> &'static str {
    if conn.is_sqlite() { "" } else { " FOR UPDATE SKIP LOCKED" }
}
