//! The database: one connection type over SQLite or PostgreSQL, chosen by the
//! `DATABASE_URL` scheme, an r2d2 pool, and the only place that knows which
//! dialect it is talking to.
//!
//! diesel is synchronous: every query runs inside [`Db::run`], which moves the
//! work to actix's blocking thread pool so async workers never wait on I/O.
//!
//! Lookups by a unique key use `get_result`, never `first` (clippy.toml
//! forbids it): `first` adds `LIMIT ?`, and SQLite re-prepares a statement
//! whose LIMIT is a bound parameter each time it is rebound, a full parse
//! and plan on every request that was a third of a SQLite send's CPU.

pub mod migrations;
pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::config::DatabaseUrl;
use crate::error::ApiError;

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

/// How long `/healthz` waits for a database connection.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-connection SQLite settings. WAL lets readers run beside the writer;
/// `busy_timeout` makes writers queue instead of failing; foreign keys are
/// off by default in SQLite and the cascades rely on them.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA busy_timeout = 10000;";

/// Opens connections of the dialect the URL names. (diesel's own
/// `MultiConnection::establish` tries each backend in turn, and SQLite
/// accepts any string as a file name, so the choice is made here.)
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Manager { url }
    }
}

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

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        establish(&self.url).map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The shared handle to the database.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Where write transactions run. SQLite allows one writer at a time: a
    /// pool of one connection makes writers queue in FIFO order on the pool
    /// instead of sleeping in SQLite's busy handler (1 ms, 2 ms, 5 ms, …).
    /// On PostgreSQL this is the same pool.
    write_pool: Pool,
    postgres: bool,
}

impl Db {
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Db, r2d2::PoolError> {
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(10))
                .test_on_check_out(false)
                .build(Manager::new(url.clone()))
        };
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    // The embedded default must work on a fresh machine.
                    let _ = std::fs::create_dir_all(dir);
                }
                Ok(Db { pool: build(max_size)?, write_pool: build(1)?, postgres: false })
            }
            DatabaseUrl::Postgres(_) => {
                let pool = build(max_size)?;
                Ok(Db { write_pool: pool.clone(), pool, postgres: true })
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<F, T>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        Self::block(self.pool.clone(), f).await
    }

    /// Runs `f` in a write transaction on the blocking thread pool.
    pub async fn write<F, T>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        Self::block(self.write_pool.clone(), |conn| write_tx(conn, f)).await
    }

    /// Like [`Db::run`] on the connection writers use: for work that is one
    /// statement on PostgreSQL but a write transaction on SQLite.
    pub async fn run_writer<F, T>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        Self::block(self.write_pool.clone(), f).await
    }

    /// Runs `read` on a reader connection, then `write` with its result on
    /// the writers' connection, in one hop to the blocking pool. For SQLite,
    /// where the checks before a write need not queue for the one writer.
    pub async fn read_then_write<R, W, A, T>(&self, read: R, write: W) -> Result<T, ApiError>
    where
        R: FnOnce(&mut DbConnection) -> Result<A, ApiError> + Send + 'static,
        W: FnOnce(&mut DbConnection, A) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, write_pool) = (self.pool.clone(), self.write_pool.clone());
        actix_web::web::block(move || {
            let checked = read(&mut *pool.get()?)?;
            write(&mut *write_pool.get()?, checked)
        })
        .await?
    }

    async fn block<F, T>(pool: Pool, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// A connection for synchronous callers (CLI, migrations).
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, r2d2::PoolError> {
        self.write_pool.get()
    }

    /// Is the database answering? (`/healthz`) Any failure is 503, and it
    /// is known within [`HEALTH_TIMEOUT`]: a load balancer's probe must not
    /// hang for the pool's full connection timeout while the database is down.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(HEALTH_TIMEOUT)?;
            conn.ping().map_err(|e| ApiError::Unavailable(format!("database ping: {e}")))
        })
        .await?
    }
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`, taking the write lock up front: a plain `BEGIN` that
/// later upgrades to a write fails with "database is locked" under
/// concurrent writers instead of waiting for `busy_timeout`.
pub fn write_tx<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Multi = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            Multi::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match Multi::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}
