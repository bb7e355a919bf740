//! Embedded migrations, one set per dialect, run at start.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgresql");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Key of Confab's migration lock (`pg_advisory_lock`): "confab" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x636f_6e66_6162;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies pending migrations. On PostgreSQL several instances may start at
/// once: an advisory lock makes them take turns, and the later ones find
/// nothing left to do.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(pg)?;
            let result =
                pg.run_pending_migrations(POSTGRES).map(|v| v.iter().map(ToString::to_string).collect());
            // Release even when a migration failed, so the next instance can try.
            let unlock =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(pg);
            let applied: Vec<String> = result?;
            unlock?;
            applied
        }
        DbConnection::Sqlite(sqlite) => {
            sqlite.run_pending_migrations(SQLITE)?.iter().map(ToString::to_string).collect()
        }
    };
    Ok(applied)
}

/// Reverts every migration (used by the up → down → up test).
pub fn revert_all(conn: &mut DbConnection) -> Result<(), BoxError> {
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
