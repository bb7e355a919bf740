//! SQL that is code rather than schema (PostgreSQL functions), kept in
//! `src/db/sql/` and applied at start instead of being frozen in migration
//! history.
//!
//! Everything it defines lives in one schema, `confab_fn`. When the file's
//! text differs from what the database last ran (its SHA-256 is kept as the
//! schema's comment), the schema is dropped and created again from the
//! file, in one transaction, under the start-up lock that migrations hold.
//! Keeping the marker on the schema itself means nothing can drop the
//! functions (a migration reverted by hand, say) without the next start
//! noticing.

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use sha2::{Digest, Sha256};

use super::{DbConnection, DbError, transaction};

/// The PostgreSQL functions (`confab_fn.*`).
pub const POSTGRES_SQL: &str = include_str!("sql/postgresql.sql");

const SCHEMA: &str = "confab_fn";

#[derive(diesel::QueryableByName)]
struct Marker {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    description: Option<String>,
}

fn digest(sql: &str) -> String {
    Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Applies the replaceable SQL if the database does not hold this version
/// of it. Returns whether it did. Call under the start-up lock. SQLite has
/// no stored functions: its halves are Rust.
pub fn apply(conn: &mut DbConnection) -> Result<bool, DbError> {
    if conn.is_sqlite() {
        return Ok(false);
    }
    let want = digest(POSTGRES_SQL);
    let current: Option<Marker> = diesel::sql_query(
        "SELECT d.description FROM pg_namespace n \
         LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass \
         WHERE n.nspname = $1",
    )
    .bind::<Text, _>(SCHEMA)
    .get_result(conn)
    .map(Some)
    .or_else(|e| if e == diesel::result::Error::NotFound { Ok(None) } else { Err(e) })?;
    if current.and_then(|m| m.description).as_deref() == Some(want.as_str()) {
        return Ok(false);
    }
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))?;
        conn.batch_execute(POSTGRES_SQL)?;
        // A digest is hex: safe to splice (COMMENT takes no bind parameters).
        conn.batch_execute(&format!("COMMENT ON SCHEMA {SCHEMA} IS '{want}'"))?;
        Ok::<_, DbError>(())
    })?;
    Ok(true)
}

/// Drops what [`apply`] created (reverting every migration leaves nothing
/// of Confab behind).
pub fn drop_all(conn: &mut DbConnection) -> Result<(), DbError> {
    if !conn.is_sqlite() {
        conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))?;
    }
    Ok(())
}
