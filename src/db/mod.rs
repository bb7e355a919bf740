//! The database: one connection type over SQLite or PostgreSQL, chosen by the
//! `DATABASE_URL` scheme, the pools, and how a request's work runs on them.
//!
//! It offers two things: [`Db::read`] and [`Db::write`]. diesel is
//! synchronous, so both move their work to actix's blocking thread pool,
//! in one hop, and async workers never wait on I/O. A write is two phases,
//! `check` (the reads that decide whether the caller may act) and `work`
//! (in a transaction, [`Tx`]). How the two run is this module's business:
//!
//! - SQLite allows one writer at a time. Writers queue in FIFO order on a
//!   pool of one connection (instead of sleeping in SQLite's busy handler);
//!   `check` runs on a reader connection first, so the write lock is held
//!   for the writes alone. A change committing in between orders after the
//!   request.
//! - PostgreSQL runs both on one pooled connection: `check` in autocommit
//!   (under READ COMMITTED each statement reads the latest commits either
//!   way), then `work`.
//!
//! The transaction begins at the work's first statement; an operation that
//! is one statement on its dialect may run alone without BEGIN/COMMIT
//! ([`Tx::statement`]): that keeps a PostgreSQL send at one round trip.
//!
//! Lookups by a unique key use `get_result`, never `first` (clippy.toml
//! forbids it): `first` adds `LIMIT ?`, and SQLite re-prepares a statement
//! whose LIMIT is a bound parameter each time it is rebound, a full parse
//! and plan on every request that was a third of a SQLite send's CPU.

pub mod migrations;
#[cfg(unix)]
pub mod notify;
#[cfg(unix)]
pub mod openssl;
pub mod replaceable;
pub mod schema;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError, RunQueryDsl};

use crate::config::{DatabaseUrl, DbTimeouts};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbConnection::Sqlite(_))
    }
}

/// Why the database could not do what was asked, before any store logic.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection (pool exhausted, database down, connection closed):
    /// the client may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(diesel::result::Error),
    /// A bug in how work was composed (see [`Tx::statement`]).
    #[error("transaction misuse: {0}")]
    Misuse(&'static str),
    #[error("blocking task failed: {0}")]
    Worker(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            // The database went away under a pooled connection (restart,
            // failover): the connection is dropped; the client may retry.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                connection_lost();
                DbError::Unavailable(format!("connection closed: {}", info.message()))
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if ends_the_session(info.message()) => {
                connection_lost();
                DbError::Unavailable(info.message().to_owned())
            }
            // A statement or lock wait cut off by the session's timeouts
            // (`DbTimeouts`): the database is busy, not the request wrong.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if timed_out(info.message()) => {
                DbError::Unavailable(info.message().to_owned())
            }
            Error::BrokenTransactionManager => {
                connection_lost();
                DbError::Unavailable("the connection's transaction state is unknown".to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

/// Messages of PostgreSQL errors that end the session (SQLSTATE classes 08
/// and 57P; diesel names only some of them), so the connection is dead.
fn ends_the_session(message: &str) -> bool {
    const ENDING: [&str; 8] = [
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "server closed the connection",
        "could not receive data from server",
        "no connection to the server",
        "could not send data to server",
    ];
    ENDING.iter().any(|m| message.contains(m))
}

/// `statement_timeout` and `lock_timeout` (SQLSTATE 57014, 55P03).
fn timed_out(message: &str) -> bool {
    message.starts_with("canceling statement due to statement timeout")
        || message.starts_with("canceling statement due to lock timeout")
}

thread_local! {
    /// A query on this thread found its connection dead since the last
    /// connection went back to the pool. Connections are returned on the
    /// thread that used them, so the pool's `has_broken` reads this and
    /// drops the connection instead of handing it to the next request.
    static LOST: Cell<bool> = const { Cell::new(false) };
}

/// Until when (unix ms) checkouts are tested first: after one connection
/// was found dead, the others idle in the pool likely are too (the
/// database restarted). Process-wide; outside that window a checkout costs
/// no round trip.
static SUSPECT_UNTIL: AtomicU64 = AtomicU64::new(0);

/// How long checkouts stay tested after a connection was lost.
const SUSPECT_FOR: Duration = Duration::from_secs(30);

/// Until when (unix ms) the database counts as unreachable: a ping or a new
/// connection failed. A checkout then waits at most [`DOWN_WAIT`], so a
/// request during an outage answers 503 soon. (A lost session alone, say
/// one ended by the idle-in-transaction timeout, does not shorten waits: a
/// busy pool, or SQLite's one writer, still queues.)
static DOWN_UNTIL: AtomicU64 = AtomicU64::new(0);

/// How long checkouts wait while the database counts as unreachable.
const DOWN_WAIT: Duration = Duration::from_secs(2);

fn now_ms() -> u64 {
    crate::time::now_ms().max(0) as u64
}

fn connection_lost() {
    metrics::counter!("confab_db_connections_lost_total").increment(1);
    LOST.set(true);
    suspect_from_now();
}

fn suspect_from_now() {
    SUSPECT_UNTIL.fetch_max(now_ms() + SUSPECT_FOR.as_millis() as u64, Ordering::Relaxed);
}

/// A pool timeout that carries a connection error (the pool could not
/// connect, rather than every connection being busy) means the database is
/// away.
fn pool_error(e: r2d2::PoolError) -> DbError {
    if e.to_string() != "timed out waiting for connection" {
        suspect_from_now();
        DOWN_UNTIL.fetch_max(now_ms() + SUSPECT_FOR.as_millis() as u64, Ordering::Relaxed);
    }
    DbError::from(e)
}

fn suspect() -> bool {
    SUSPECT_UNTIL.load(Ordering::Relaxed) > now_ms()
}

/// The database did not answer: a ping or a connection attempt failed.
fn database_unreachable() {
    connection_lost();
    DOWN_UNTIL.fetch_max(now_ms() + SUSPECT_FOR.as_millis() as u64, Ordering::Relaxed);
}

fn down() -> bool {
    DOWN_UNTIL.load(Ordering::Relaxed) > now_ms()
}

/// A connection from `pool`; while connections are being lost, each is
/// pinged first and a dead one dropped, so recovery after the database
/// returns takes one round trip per dead connection, not one failed request.
fn checkout(pool: &Pool) -> Result<PooledConnection, DbError> {
    let started = std::time::Instant::now();
    let conn = checkout_tested(pool);
    metrics::histogram!("confab_db_pool_wait_seconds").record(started.elapsed().as_secs_f64());
    conn
}

fn checkout_tested(pool: &Pool) -> Result<PooledConnection, DbError> {
    if !suspect() {
        return pool.get().map_err(pool_error);
    }
    for _ in 0..=pool.max_size() {
        let mut conn = if down() { pool.get_timeout(DOWN_WAIT) } else { pool.get() }.map_err(pool_error)?;
        if conn.ping().is_ok() {
            return Ok(conn);
        }
        database_unreachable();
    }
    Err(DbError::Unavailable("every pooled connection was dead".to_owned()))
}

impl From<r2d2::PoolError> for DbError {
    fn from(e: r2d2::PoolError) -> Self {
        DbError::Unavailable(format!("pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for DbError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        DbError::Worker(e.to_string())
    }
}

/// How long `/healthz` waits for a database connection.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-connection SQLite settings. WAL lets readers run beside the writer;
/// `busy_timeout` makes writers queue instead of failing; foreign keys are
/// off by default in SQLite and the cascades rely on them.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA busy_timeout = 10000;";

/// Opens a connection of the dialect the URL names. (diesel's own
/// `MultiConnection::establish` tries each backend in turn, and SQLite
/// accepts any string as a file name, so the choice is made here.)
pub fn establish(url: &DatabaseUrl) -> Result<DbConnection, ConnectionError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.to_str().ok_or_else(|| {
                ConnectionError::InvalidConnectionUrl("SQLite path is not valid UTF-8".into())
            })?;
            let mut conn = SqliteConnection::establish(path)?;
            conn.batch_execute(SQLITE_PRAGMAS).map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => Ok(DbConnection::Postgresql(PgConnection::establish(url)?)),
    }
}

#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    timeouts: DbTimeouts,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let mut conn = establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        if let DbConnection::Postgresql(pg) = &mut conn {
            let DbTimeouts { statement, lock, idle_in_transaction } = self.timeouts;
            pg.batch_execute(&format!(
                "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}",
                statement.as_millis(),
                lock.as_millis(),
                idle_in_transaction.as_millis()
            ))
            .map_err(r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        LOST.replace(false) || conn.is_broken()
    }
}

type Pool = r2d2::Pool<Manager>;

/// A pooled connection, for synchronous callers (the CLI, start-up).
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// The shared handle to the database.
#[derive(Clone)]
pub struct Db {
    /// Counts the writes of this instance that committed: the event log's
    /// tailer reads when it moves (src/live), and so does the announcer.
    commits: Arc<watch::Sender<u64>>,
    /// PostgreSQL: tells the other instances that this one committed.
    announcer: Arc<OnceLock<Announcer>>,
    /// This instance, as its announcements name it.
    instance: u64,
    pool: Pool,
    /// Where write work runs: on SQLite a pool of one connection (see the
    /// module doc), on PostgreSQL the same pool.
    write_pool: Pool,
    /// The PostgreSQL URL (`None` on SQLite), for sessions of its own
    /// outside the pool (src/db/notify.rs).
    postgres_url: Option<Arc<str>>,
}

/// The channel on which instances announce their commits; the payload is
/// the announcing instance.
pub const COMMITS_CHANNEL: &str = "confab_events";

/// An instance announces its commits at most this often.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(5);

/// Whether this instance announces its commits (`CONFAB_STREAM_NOTIFY`), and
/// the task that does.
enum Announcer {
    Off,
    Running,
}

impl Db {
    pub fn connect(url: &DatabaseUrl, max_size: u32, timeouts: DbTimeouts) -> Result<Db, r2d2::PoolError> {
        #[cfg(unix)]
        if matches!(url, DatabaseUrl::Postgres(_)) {
            openssl::skip_cleanup_at_exit();
        }
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(10))
                .test_on_check_out(false)
                .build(Manager { url: url.clone(), timeouts })
        };
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    // The embedded default must work on a fresh machine.
                    let _ = std::fs::create_dir_all(dir);
                }
                Ok(Db::new(build(max_size)?, build(1)?, None))
            }
            DatabaseUrl::Postgres(raw) => {
                let pool = build(max_size)?;
                Ok(Db::new(pool.clone(), pool, Some(raw.as_str().into())))
            }
        }
    }

    fn new(pool: Pool, write_pool: Pool, postgres_url: Option<Arc<str>>) -> Db {
        let mut instance = [0u8; 8];
        getrandom::fill(&mut instance).expect("the OS random source");
        Db {
            commits: Arc::new(watch::channel(0).0),
            announcer: Default::default(),
            instance: u64::from_le_bytes(instance),
            pool,
            write_pool,
            postgres_url,
        }
    }

    /// Turns off announcing this instance's commits to the others
    /// (`CONFAB_STREAM_NOTIFY=off`): their streams then hear of them within
    /// their poll. Call before the first write.
    pub fn without_announcements(self) -> Db {
        let _ = self.announcer.set(Announcer::Off);
        self
    }

    /// This instance, as its announcements (and typing relays) name it.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres_url.is_some()
    }

    /// The PostgreSQL URL, on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres_url.as_deref()
    }

    /// Runs `f` on a reader connection.
    pub async fn read<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || f(&mut *checkout(&pool)?)).await.map_err(|e| E::from(e.into()))?
    }

    /// Runs `check`, then `work` with what it found in a transaction (see
    /// the module doc for how each dialect does it). Either failing rolls
    /// everything back.
    pub async fn write<K, W, C, T, E>(&self, check: K, work: W) -> Result<T, E>
    where
        K: FnOnce(&mut DbConnection) -> Result<C, E> + Send + 'static,
        W: FnOnce(&mut Tx<'_>, C) -> Result<T, E> + Send + 'static,
        C: Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (pool, write_pool, postgres) = (self.pool.clone(), self.write_pool.clone(), self.is_postgres());
        let outcome = actix_web::web::block(move || {
            if postgres {
                let mut conn = checkout(&write_pool)?;
                let checked = check(&mut conn)?;
                transaction(&mut conn, |tx| work(tx, checked))
            } else {
                let checked = check(&mut *checkout(&pool)?)?;
                transaction(&mut *checkout(&write_pool)?, |tx| work(tx, checked))
            }
        })
        .await
        .map_err(|e| E::from(e.into()))?;
        if outcome.is_ok() {
            if self.is_postgres() {
                // Listening before the count moves, so it hears this one.
                self.announcer.get_or_init(|| self.start_announcing());
            }
            self.commits.send_modify(|n| *n = n.wrapping_add(1));
        }
        outcome
    }

    /// Runs `work` in a write transaction, as [`Db::write`] does, for
    /// bookkeeping that records no event (webhook deliveries): it does not
    /// count as a commit, so it wakes no event log reader here or on other
    /// instances.
    pub async fn write_unlogged<W, T, E>(&self, work: W) -> Result<T, E>
    where
        W: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let write_pool = self.write_pool.clone();
        actix_web::web::block(move || transaction(&mut *checkout(&write_pool)?, work))
            .await
            .map_err(|e| E::from(e.into()))?
    }

    /// Moves with every write of this instance that commits (a receiver
    /// that was away sees one change, never none).
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// The announcer: after commits, one `NOTIFY confab_events` (payload:
    /// this instance), which wakes the other instances' event log readers
    /// (src/live/listen.rs). It runs after the commit, outside the write's
    /// transaction: a transaction that notifies takes a lock at commit that
    /// serialises every notifying commit of the cluster, which cost sends a
    /// fifth to a third of their rate when each send notified. A commit
    /// after a quiet spell is announced at once; under load the commits of
    /// each [`ANNOUNCE_EVERY`] share one notification (one a send cost 13%
    /// of the rate at 8 clients). It stops when the last `Db` clone goes.
    fn start_announcing(&self) -> Announcer {
        let mut commits = self.commits.subscribe();
        let pool = self.pool.clone();
        let payload = self.instance.to_string();
        actix_web::rt::spawn(async move {
            while commits.changed().await.is_ok() {
                let started = tokio::time::Instant::now();
                let (pool, payload) = (pool.clone(), payload.clone());
                let sent = actix_web::web::block(move || -> Result<(), DbError> {
                    notify(&mut *pool.get()?, COMMITS_CHANNEL, &payload)
                })
                .await;
                if let Ok(Err(e)) | Err(e) = sent.map_err(DbError::from) {
                    // The others' poll covers it.
                    tracing::debug!(error = %e, "commit not announced");
                }
                tokio::time::sleep_until(started + ANNOUNCE_EVERY).await;
            }
        });
        Announcer::Running
    }

    /// A connection for synchronous callers (CLI, start-up): the writers'.
    pub fn get(&self) -> Result<PooledConnection, DbError> {
        checkout(&self.write_pool)
    }

    /// Each pool's (name, open connections, idle ones), for `/metrics`.
    pub fn pool_states(&self) -> Vec<(&'static str, u32, u32)> {
        let state = |pool: &Pool| {
            let s = pool.state();
            (s.connections, s.idle_connections)
        };
        if self.is_postgres() {
            let (open, idle) = state(&self.pool);
            return vec![("main", open, idle)];
        }
        let ((open, idle), (w_open, w_idle)) = (state(&self.pool), state(&self.write_pool));
        vec![("read", open, idle), ("write", w_open, w_idle)]
    }

    /// Is the database answering? (`/healthz`) Known within
    /// [`HEALTH_TIMEOUT`]: a load balancer's probe must not hang for the
    /// pool's full connection timeout while the database is down.
    pub async fn ping(&self) -> Result<(), DbError> {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(HEALTH_TIMEOUT)?;
            // A dead connection must not go back for the next probe to find.
            conn.ping()
                .inspect_err(|_| database_unreachable())
                .map_err(|e| DbError::Unavailable(format!("ping: {e}")))
        })
        .await?
    }
}

/// Write work in progress on one connection: the transaction begins at the
/// first statement that asks for it.
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    state: TxState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// Nothing has run yet.
    Idle,
    Open,
    /// One self-contained statement ran in autocommit: nothing may follow.
    Single,
}

impl<'c> Tx<'c> {
    pub fn is_sqlite(&self) -> bool {
        self.conn.is_sqlite()
    }

    /// The connection, inside the transaction (begun now if need be). On
    /// SQLite it begins with `BEGIN IMMEDIATE`, taking the write lock up
    /// front: a plain `BEGIN` that later upgrades to a write fails with
    /// "database is locked" under concurrent writers instead of waiting.
    pub fn conn(&mut self) -> Result<&mut DbConnection, DbError> {
        match self.state {
            TxState::Open => {}
            TxState::Idle => {
                match &mut *self.conn {
                    DbConnection::Sqlite(c) => {
                        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
                    }
                    DbConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
                }
                self.state = TxState::Open;
            }
            TxState::Single => {
                return Err(DbError::Misuse("work continued after a self-contained statement"));
            }
        }
        Ok(self.conn)
    }

    /// The connection for one statement that is atomic on its own (a
    /// PostgreSQL function call, say): inside the transaction if one is
    /// open, else in autocommit, after which nothing else may run here.
    /// This is how a PostgreSQL send stays one round trip without a
    /// handler knowing it.
    pub fn statement(&mut self) -> Result<&mut DbConnection, DbError> {
        match self.state {
            TxState::Open => {}
            TxState::Idle => self.state = TxState::Single,
            TxState::Single => return Err(DbError::Misuse("two self-contained statements in one write")),
        }
        Ok(self.conn)
    }
}

/// Sends `payload` to the sessions that `LISTEN` on `channel`, when the
/// current transaction commits (at once in autocommit). PostgreSQL only:
/// on SQLite there are no other instances to tell.
pub fn notify(conn: &mut DbConnection, channel: &str, payload: &str) -> Result<(), DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(channel)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(pg)?;
    }
    Ok(())
}

/// Runs `work` as one transaction on `conn` (committed if it began and
/// `work` succeeded, else rolled back). For synchronous callers; requests
/// go through [`Db::write`].
pub fn transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<DbError>,
{
    type Multi = <DbConnection as Connection>::TransactionManager;
    let mut tx = Tx { conn, state: TxState::Idle };
    let result = work(&mut tx);
    if tx.state != TxState::Open {
        return result;
    }
    let conn = tx.conn;
    match result {
        Ok(value) => {
            Multi::commit_transaction(conn).map_err(DbError::from)?;
            Ok(value)
        }
        Err(e) => match Multi::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(DbError::from(rollback).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> DbConnection {
        establish(&DatabaseUrl::Sqlite(":memory:".into())).unwrap()
    }

    #[test]
    fn nothing_asked_begins_nothing_and_work_commits_or_rolls_back() {
        let mut conn = memory();
        diesel::sql_query("CREATE TABLE t (x INTEGER)").execute(&mut conn).unwrap();
        let count = |conn: &mut DbConnection| {
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query("SELECT COUNT(*) AS n FROM t").get_result::<N>(conn).unwrap().n
        };
        transaction(&mut conn, |_| Ok::<_, DbError>(())).unwrap();
        transaction(&mut conn, |tx| {
            diesel::sql_query("INSERT INTO t VALUES (1)").execute(tx.conn()?)?;
            Ok::<_, DbError>(())
        })
        .unwrap();
        assert_eq!(count(&mut conn), 1);
        let failed = transaction(&mut conn, |tx| {
            diesel::sql_query("INSERT INTO t VALUES (2)").execute(tx.conn()?)?;
            Err::<(), _>(DbError::Misuse("test"))
        });
        assert!(failed.is_err());
        assert_eq!(count(&mut conn), 1, "rolled back");
    }

    #[test]
    fn nothing_runs_after_a_self_contained_statement() {
        let mut conn = memory();
        let outcome = transaction(&mut conn, |tx| {
            tx.statement()?;
            tx.conn().map(drop)
        });
        assert!(matches!(outcome, Err(DbError::Misuse(_))));
        // Inside an open transaction a statement is just one more.
        transaction(&mut conn, |tx| {
            tx.conn()?;
            tx.statement().map(drop)
        })
        .unwrap();
    }
}
