//! SQL that is code rather than schema (PostgreSQL functions), kept in
//! `src/db/sql/` and applied at start instead of being frozen in migration
//! history.
//!
//! Everything it defines lives in the schema `confab_fn`, whose comment
//! records what the database holds: `v<version> sha256:<digest of the
//! text>`. At start, under the lock migrations hold, the file is applied
//! (in one transaction) when the database holds no version of it, an older
//! one, or the same version with other text; an instance whose file is
//! older than what the database holds leaves it alone. Keeping the marker on
//! the schema itself means nothing can drop the functions (a schema dropped
//! by hand, say) without the next start noticing.

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

/// The version a text declares on its first line (`-- confab_fn version N`).
fn version_of(sql: &str) -> Option<u32> {
    sql.lines().next()?.strip_prefix("-- confab_fn version ")?.trim().parse().ok()
}

fn marker(sql: &str) -> String {
    let digest: String = Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("v{} sha256:{digest}", version_of(sql).unwrap_or(0))
}

/// The version a stored marker names (`None`: no marker, or not one of ours).
fn stored_version(marker: &str) -> Option<u32> {
    marker.strip_prefix('v')?.split_once(' ')?.0.parse().ok()
}

/// Whether to apply text whose marker is `want` over what the database
/// holds (`held`: the schema's comment, `None` if there is no schema).
fn should_apply(want: &str, held: Option<&str>) -> bool {
    let Some(held) = held else {
        return true;
    };
    match (stored_version(want), stored_version(held)) {
        (Some(mine), Some(theirs)) if mine < theirs => false,
        _ => want != held,
    }
}

/// Applies the replaceable SQL if the database does not hold this version
/// of it (or a newer one). Returns whether it did. Call under the start-up
/// lock. SQLite has no stored functions: its halves are Rust.
pub fn apply(conn: &mut DbConnection) -> Result<bool, DbError> {
    if conn.is_sqlite() {
        return Ok(false);
    }
    let want = marker(POSTGRES_SQL);
    let held: Option<Marker> = diesel::sql_query(
        "SELECT d.description FROM pg_namespace n \
         LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass \
         WHERE n.nspname = $1",
    )
    .bind::<Text, _>(SCHEMA)
    .get_result(conn)
    .map(Some)
    .or_else(|e| if e == diesel::result::Error::NotFound { Ok(None) } else { Err(e) })?;
    let held = held.map(|m| m.description.unwrap_or_default());
    if !should_apply(&want, held.as_deref()) {
        if held.as_deref() != Some(want.as_str()) {
            tracing::info!(held = ?held, this = %want, "the database holds newer replaceable SQL; left alone");
        }
        return Ok(false);
    }
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        conn.batch_execute(POSTGRES_SQL)?;
        // The marker is hex and digits: safe to splice (COMMENT takes no
        // bind parameters).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_declares_its_version() {
        assert!(version_of(POSTGRES_SQL).is_some(), "first line: -- confab_fn version N");
    }

    #[test]
    fn older_text_never_replaces_newer() {
        let v1 = marker("-- confab_fn version 1\nSELECT 1;");
        let v1_edited = marker("-- confab_fn version 1\nSELECT 2;");
        let v2 = marker("-- confab_fn version 2\nSELECT 3;");
        assert!(should_apply(&v1, None), "nothing there yet");
        assert!(!should_apply(&v1, Some(&v1)), "the same text");
        assert!(should_apply(&v2, Some(&v1)), "a newer version");
        assert!(!should_apply(&v1, Some(&v2)), "an older instance leaves the newer text alone");
        assert!(should_apply(&v1_edited, Some(&v1)), "an edit without a bump still applies");
        assert!(should_apply(&v1, Some("")), "a schema without our marker");
        assert!(should_apply(&v1, Some("text of another tool")));
    }
}
