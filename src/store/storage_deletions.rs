//! The queue of objects to delete from storage: filled by the trigger on
//! every deleted media row (and by uploads that outlived their row), worked
//! off by the collector. A deletion that fails stays queued and is retried.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::db::DbConnection;
use crate::db::schema::storage_deletions;

use super::StoreResult;

/// A queued deletion: the object, and the multipart upload a crash left
/// open for it, if any (aborted first).
#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub object_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub multipart_id: Option<String>,
    /// Claims so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

/// Claims up to `batch` queued deletions until `claim_until`. On PostgreSQL
/// with `SKIP LOCKED`: collectors on several instances take different rows.
pub fn claim(conn: &mut DbConnection, now: i64, claim_until: i64, batch: i64) -> StoreResult<Vec<Claimed>> {
    let lock = if conn.is_sqlite() { "" } else { " FOR UPDATE SKIP LOCKED" };
    let sql = format!(
        "UPDATE storage_deletions SET claimed_until = $1, attempts = attempts + 1 \
         WHERE object_key IN (SELECT object_key FROM storage_deletions WHERE claimed_until <= $2 \
         ORDER BY date_created LIMIT {batch}{lock}) RETURNING object_key, multipart_id, attempts"
    );
    let rows: Vec<Claimed> =
        diesel::sql_query(sql).bind::<BigInt, _>(claim_until).bind::<BigInt, _>(now).load(conn)?;
    Ok(rows)
}

/// The objects are gone from storage.
pub fn done(conn: &mut DbConnection, keys: &[String]) -> StoreResult<()> {
    diesel::delete(storage_deletions::table.filter(storage_deletions::object_key.eq_any(keys)))
        .execute(conn)?;
    Ok(())
}

/// Queues an object (again).
pub fn queue(conn: &mut DbConnection, key: &str, now: i64) -> StoreResult<()> {
    diesel::sql_query(
        "INSERT INTO storage_deletions (object_key, date_created) VALUES ($1, $2) \
         ON CONFLICT (object_key) DO NOTHING",
    )
    .bind::<Text, _>(key)
    .bind::<BigInt, _>(now)
    .execute(conn)?;
    Ok(())
}
