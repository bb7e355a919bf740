//! Post-event webhook deliveries still owed (`webhook_deliveries`), and the
//! cursor of the fan-out that reads them from the event log
//! (`webhook_cursor`, leased by one instance at a time). The fan-out
//! attempts a delivery once before it moves the cursor past its event; only
//! a delivery that was not answered then (a failure, an attempt still
//! under way, or a queue that already has rows) is written here. Nothing
//! about a delivery lives only in memory: until the cursor moves, the log
//! holds it; after, this table does. An instance that dies mid-attempt
//! leaves a lease that runs out, and another (or the same, restarted)
//! attempts it again with the same idempotency token.
//!
//! A queue (one URL, one conversation) is delivered in order: only its
//! oldest row is ever claimed, and a row stays until its receiver answered
//! or its retry horizon passed. Times here are milliseconds.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::DbConnection;
use crate::db::schema::webhook_deliveries;

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
    /// Attempts at most (Chat's retry counts + 1); `None`: until `expires`.
    pub max_attempts: Option<i32>,
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
    pub queue: String,
    pub params: String,
    pub token: String,
    pub attempts: i32,
    pub due: i64,
    pub expires: i64,
    pub leased_until: i64,
    pub max_attempts: Option<i32>,
}

/// The fan-out's cursor: its position, which instance leases it until
/// when, and the database's clock as it was read.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Cursor {
    #[diesel(sql_type = BigInt)]
    pub position: i64,
    #[diesel(sql_type = BigInt)]
    pub owner: i64,
    #[diesel(sql_type = BigInt)]
    pub leased_until: i64,
    #[diesel(sql_type = BigInt)]
    pub now: i64,
}

/// The database's clock in ms since the epoch, as SQL: the cursor's lease
/// is timed by the one clock every instance shares, so an instance whose
/// own clock is off can neither take a lease that runs nor hold one longer.
fn clock(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Postgresql(_) => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        DbConnection::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// Runs `sql` (written with `$n` placeholders and `{now}` for the clock)
/// with the two dialects' placeholders.
fn cursor_sql(conn: &DbConnection, sql: &str) -> String {
    let sql = sql.replace("{now}", clock(conn));
    match conn {
        DbConnection::Postgresql(_) => sql,
        DbConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// Reads the cursor (a round's leaseholder needs no write to go on).
pub fn cursor(conn: &mut DbConnection) -> StoreResult<Cursor> {
    let sql = cursor_sql(
        conn,
        "SELECT position, owner, leased_until, {now} AS now FROM webhook_cursor WHERE id = 1",
    );
    Ok(diesel::sql_query(sql).get_result(conn)?)
}

/// Takes the fan-out's cursor for `owner` (an instance) for `lease` ms, or
/// keeps it when `owner` holds it already: its position, or `None` while
/// another instance's lease runs (that one is fanning out).
pub fn lease_cursor(conn: &mut DbConnection, owner: i64, lease: i64) -> StoreResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = BigInt)]
        position: i64,
    }
    let sql = cursor_sql(
        conn,
        "UPDATE webhook_cursor SET owner = $1, leased_until = {now} + $2 \
         WHERE id = 1 AND (owner = $1 OR leased_until < {now}) RETURNING position",
    );
    let taken: Option<Position> = diesel::sql_query(sql)
        .bind::<BigInt, _>(owner)
        .bind::<BigInt, _>(lease)
        .get_result(conn)
        .optional()?;
    Ok(taken.map(|p| p.position))
}

/// Moves the cursor from `from` to `to` and extends the lease to `lease`
/// ms from now, if `owner` still holds it at `from`; `false` when another
/// instance took it over (whatever this one read since is that instance's
/// to fan out).
pub fn move_cursor(conn: &mut DbConnection, owner: i64, from: i64, to: i64, lease: i64) -> StoreResult<bool> {
    let sql = cursor_sql(
        conn,
        "UPDATE webhook_cursor SET position = $3, leased_until = {now} + $4 \
         WHERE id = 1 AND owner = $1 AND position = $2",
    );
    let moved = diesel::sql_query(sql)
        .bind::<BigInt, _>(owner)
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .bind::<BigInt, _>(lease)
        .execute(conn)?;
    Ok(moved == 1)
}

/// Which of `queues` have deliveries owed: a new delivery to one of them
/// waits behind those (written as a row), the others may be sent at once.
pub fn blocked(conn: &mut DbConnection, queues: &[&str]) -> StoreResult<Vec<String>> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::queue.eq_any(queues))
        .select(webhook_deliveries::queue)
        .distinct()
        .load(conn)?)
}

/// Is any post-event webhook configured (a service's URL, or a
/// conversation's)? Without one the fan-out only keeps its cursor up.
pub fn any_configured(conn: &mut DbConnection) -> StoreResult<bool> {
    use crate::db::schema::{conversation_webhooks, service_webhooks};
    let service: bool = diesel::select(diesel::dsl::exists(
        service_webhooks::table.filter(service_webhooks::post_webhook_url.is_not_null()),
    ))
    .get_result(conn)?;
    Ok(service
        || diesel::select(diesel::dsl::exists(
            conversation_webhooks::table.select(conversation_webhooks::id),
        ))
        .get_result(conn)?)
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
     d.queue, d.params, d.token, d.attempts, d.due, d.expires, d.leased_until, d.max_attempts \
     FROM webhook_deliveries d \
     WHERE d.due <= $1 AND d.leased_until <= $1 \
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.queue = d.queue AND e.id < d.id) \
     ORDER BY d.due, d.id LIMIT $2";

/// Writes `row` leased to this instance until `leased_until` (its attempt
/// is under way) and returns its id, to settle it by.
pub fn insert_leased(conn: &mut DbConnection, row: &NewDelivery) -> StoreResult<i64> {
    Ok(diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .returning(webhook_deliveries::id)
        .get_result(conn)?)
}

/// Claims the heads of up to `limit` queues that are due, each with the
/// deliveries queued behind it (up to `run` in all), for `lease` ms:
/// nobody else attempts them until the lease runs out. Each inner list is
/// one queue, oldest first. Call in a write transaction; instances claim
/// side by side without waiting on each other (PostgreSQL: `FOR UPDATE
/// SKIP LOCKED`).
pub fn claim(
    conn: &mut DbConnection,
    now: i64,
    lease: i64,
    limit: i64,
    run: i64,
) -> StoreResult<Vec<Vec<DeliveryRow>>> {
    let heads: Vec<DeliveryRow> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(format!("{CLAIMABLE} FOR UPDATE SKIP LOCKED"))
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(CLAIMABLE.replace("$1", "?1").replace("$2", "?2"))
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
    };
    let mut runs = Vec::with_capacity(heads.len());
    for head in heads {
        runs.push(lease_run(conn, &head.queue, now, lease, run)?);
    }
    Ok(runs)
}

/// Leases the first `run` deliveries of `queue` (its head and what follows
/// it), stopping at one that is not due or is leased already.
fn lease_run(
    conn: &mut DbConnection,
    queue: &str,
    now: i64,
    lease: i64,
    run: i64,
) -> StoreResult<Vec<DeliveryRow>> {
    let first = || {
        webhook_deliveries::table
            .filter(webhook_deliveries::queue.eq(queue))
            .order(webhook_deliveries::id)
            .limit(run)
    };
    let rows: Vec<DeliveryRow> = match conn {
        DbConnection::Postgresql(pg) => {
            // Not SKIP LOCKED: a skipped row would break the queue's order (only
            // the instance holding the head works on a queue, so this never waits long).
            first().select(DeliveryRow::as_select()).for_update().load(pg)?
        }
        DbConnection::Sqlite(sqlite) => first().select(DeliveryRow::as_select()).load(sqlite)?,
    };
    let mut leased: Vec<DeliveryRow> =
        rows.into_iter().take_while(|row| row.due <= now && row.leased_until <= now).collect();
    let ids: Vec<i64> = leased.iter().map(|r| r.id).collect();
    if !ids.is_empty() {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set(webhook_deliveries::leased_until.eq(now + lease))
            .execute(conn)?;
    }
    for row in &mut leased {
        row.leased_until = now + lease;
    }
    Ok(leased)
}

/// How a run ended: the deliveries done with (answered, or refused for
/// good), the one to try again (id, attempts so far, when) if one failed,
/// and the leased rest not attempted.
pub struct Settled<'a> {
    pub done: &'a [i64],
    pub retry: Option<(i64, i32, i64)>,
    pub untried: &'a [i64],
}

/// Records a run in one transaction: the done rows go, a failed one gets
/// its next attempt, the untried rest is released; then, when nothing
/// failed, the next run of the same queue is leased (a queue drains
/// without going back through [`claim`]).
pub fn settle(
    conn: &mut DbConnection,
    queue: &str,
    settled: &Settled<'_>,
    now: i64,
    lease: i64,
    run: i64,
) -> StoreResult<Vec<DeliveryRow>> {
    if !settled.done.is_empty() {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(settled.done)))
            .execute(conn)?;
    }
    if !settled.untried.is_empty() {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(settled.untried)))
            .set(webhook_deliveries::leased_until.eq(0))
            .execute(conn)?;
    }
    match settled.retry {
        Some((id, attempts, due)) => {
            retry_at(conn, id, attempts, due)?;
            Ok(Vec::new())
        }
        None => lease_run(conn, queue, now, lease, run),
    }
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

/// When the next delivery scheduled after `now` falls due (a retry).
pub fn next_due_after(conn: &mut DbConnection, now: i64) -> StoreResult<Option<i64>> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::due.gt(now))
        .select(diesel::dsl::min(webhook_deliveries::due))
        .get_result(conn)?)
}

/// How many deliveries are owed (tests, metrics).
pub fn pending(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(webhook_deliveries::table.count().get_result(conn)?)
}
