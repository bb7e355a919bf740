//! Post-event webhook deliveries still owed (`webhook_deliveries`), and the
//! cursor of the fan-out that writes them from the event log
//! (`webhook_cursor`). Nothing about a delivery lives only in memory: an
//! instance that dies mid-attempt leaves a lease that runs out, and another
//! (or the same, restarted) attempts it again with the same idempotency
//! token.
//!
//! A queue (one URL, one conversation) is delivered in order: only its
//! oldest row is ever claimed, and a row stays until its receiver answered
//! or its retry horizon passed. Times here are milliseconds.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use crate::db::DbConnection;
use crate::db::schema::{webhook_cursor, webhook_deliveries};

use super::StoreResult;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub account_sid: String,
    pub position: i64,
    pub event_type: String,
    /// The service SID (its post-event URL) or the `WH…` that asked for it.
    pub webhook: String,
    pub url: String,
    pub method: String,
    pub queue: String,
    /// Form-encoded parameters, without `RetryCount` (added per attempt).
    pub params: String,
    pub token: String,
    pub attempts: i32,
    pub due: i64,
    pub expires: i64,
    pub leased_until: i64,
    pub date_created: i64,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub account_sid: String,
    pub position: i64,
    pub event_type: String,
    pub webhook: String,
    pub url: String,
    pub method: String,
    pub params: String,
    pub token: String,
    pub attempts: i32,
    pub expires: i64,
}

/// The fan-out's position, locked for this transaction; `None` when
/// another instance holds it (PostgreSQL: that one is fanning out now).
pub fn lock_cursor(conn: &mut DbConnection) -> StoreResult<Option<i64>> {
    let query = webhook_cursor::table.filter(webhook_cursor::id.eq(1)).select(webhook_cursor::position);
    Ok(match conn {
        DbConnection::Postgresql(pg) => query.for_update().skip_locked().get_result(pg).optional()?,
        // One writer at a time: the write transaction is the lock.
        DbConnection::Sqlite(sqlite) => Some(query.get_result(sqlite)?),
    })
}

pub fn move_cursor(conn: &mut DbConnection, position: i64) -> StoreResult<()> {
    diesel::update(webhook_cursor::table.filter(webhook_cursor::id.eq(1)))
        .set(webhook_cursor::position.eq(position))
        .execute(conn)?;
    Ok(())
}

pub fn insert(conn: &mut DbConnection, rows: &[NewDelivery]) -> StoreResult<()> {
    match conn {
        DbConnection::Postgresql(pg) => {
            // At most 65,535 bound values per statement: 14 a row.
            for chunk in rows.chunks(1000) {
                diesel::insert_into(webhook_deliveries::table).values(chunk).execute(pg)?;
            }
        }
        // In-process: a statement per row costs no round trip.
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(webhook_deliveries::table).values(row).execute(sqlite)?;
            }
        }
    }
    Ok(())
}

const CLAIMABLE: &str = "SELECT d.id, d.account_sid, d.position, d.event_type, d.webhook, d.url, d.method, \
     d.params, d.token, d.attempts, d.expires \
     FROM webhook_deliveries d \
     WHERE d.due <= $1 AND d.leased_until <= $1 \
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.queue = d.queue AND e.id < d.id) \
     ORDER BY d.due, d.id LIMIT $2";

/// Claims up to `limit` due deliveries, each the oldest of its queue, for
/// `lease` ms: nobody else attempts them until the lease runs out. Call
/// in a write transaction; instances claim side by side without waiting
/// on each other (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
pub fn claim(conn: &mut DbConnection, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<DeliveryRow>> {
    let rows: Vec<DeliveryRow> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(format!("{CLAIMABLE} FOR UPDATE SKIP LOCKED"))
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(CLAIMABLE.replace("$1", "?1").replace("$2", "?2"))
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    if !ids.is_empty() {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set(webhook_deliveries::leased_until.eq(now + lease))
            .execute(conn)?;
    }
    Ok(rows)
}

/// The receiver answered, or the delivery gave up: it is gone.
pub fn finish(conn: &mut DbConnection, id: i64) -> StoreResult<()> {
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Another attempt at `due`, after `attempts` so far.
pub fn retry_at(conn: &mut DbConnection, id: i64, attempts: i32, due: i64) -> StoreResult<()> {
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq(id)))
        .set((
            webhook_deliveries::attempts.eq(attempts),
            webhook_deliveries::due.eq(due),
            webhook_deliveries::leased_until.eq(0),
        ))
        .execute(conn)?;
    Ok(())
}

/// When the next delivery falls due (unleased, or its lease runs out).
pub fn next_due(conn: &mut DbConnection) -> StoreResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = Nullable<BigInt>)]
        at: Option<i64>,
    }
    let text = "SELECT MIN(CASE WHEN leased_until > due THEN leased_until ELSE due END) AS at \
                FROM webhook_deliveries";
    let due = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(text).get_result::<Due>(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(text).get_result::<Due>(sqlite)?,
    };
    Ok(due.at)
}

/// How many deliveries are owed (tests, metrics).
pub fn pending(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(webhook_deliveries::table.count().get_result(conn)?)
}
