//! Embedded migrations, one set per dialect with identical names, run at
//! start under a lock, followed by the replaceable SQL ([`super::replaceable`]).

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConnection, replaceable};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgresql");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Key of Confab's start-up lock (`pg_advisory_lock`): "confab" in ASCII.
const STARTUP_LOCK_KEY: i64 = 0x636f_6e66_6162;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `f` while holding Confab's start-up lock on PostgreSQL, so that
/// several instances starting together take turns (migrations, replaceable
/// SQL, bootstrap account). SQLite needs none: one process owns the file.
pub fn exclusive<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    if conn.is_sqlite() {
        return f(conn);
    }
    diesel::sql_query(format!("SELECT pg_advisory_lock({STARTUP_LOCK_KEY})")).execute(conn)?;
    let result = f(conn);
    // Release even when `f` failed, so the next instance can try.
    let unlock = diesel::sql_query(format!("SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})")).execute(conn);
    let value = result?;
    unlock?;
    Ok(value)
}

/// Applies pending migrations, then the replaceable SQL if it changed, under
/// the start-up lock. Returns what it applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    exclusive(conn, |conn| {
        let mut applied: Vec<String> = match conn {
            DbConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES)?,
            DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE)?,
        }
        .iter()
        .map(ToString::to_string)
        .collect();
        if replaceable::apply(conn)? {
            applied.push("replaceable SQL (src/db/sql)".to_owned());
        }
        Ok(applied)
    })
}

/// Reverts every migration and drops the replaceable SQL (used by the
/// up → down → up test).
pub fn revert_all(conn: &mut DbConnection) -> Result<(), BoxError> {
    replaceable::drop_all(conn)?;
    match conn {
        DbConnection::Postgresql(pg) => {
            pg.revert_all_migrations(POSTGRES)?;
        }
        DbConnection::Sqlite(sqlite) => {
            sqlite.revert_all_migrations(SQLITE)?;
        }
    }
    Ok(())
}
