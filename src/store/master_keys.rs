//! The cluster's master keys, by fingerprint: which one is current (seals
//! everything new), which others instances hold, which are retired. The
//! keys themselves never reach the database (src/keys/cluster.rs).

use std::collections::BTreeSet;

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{accounts, api_keys, master_keys, media, push_credentials};

use super::{OptionalRow, StoreResult};

pub const CURRENT: &str = "current";
pub const ACCEPTED: &str = "accepted";
pub const RETIRED: &str = "retired";

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = master_keys)]
pub struct MasterKeyRow {
    pub key_id: String,
    pub state: String,
    pub date_created: i64,
    pub date_updated: i64,
}

pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<MasterKeyRow>> {
    Ok(master_keys::table.order(master_keys::date_created).select(MasterKeyRow::as_select()).load(conn)?)
}

/// The fingerprint of the key that seals everything new, once one is recorded.
pub fn current(conn: &mut DbConnection) -> StoreResult<Option<String>> {
    master_keys::table
        .filter(master_keys::state.eq(CURRENT))
        .select(master_keys::key_id)
        .get_result(conn)
        .found()
}

/// Records `key_id` in `state` (a key already recorded changes state).
fn put(conn: &mut DbConnection, key_id: &str, state: &str) -> StoreResult<()> {
    let now = crate::time::now();
    let updated = diesel::update(master_keys::table.find(key_id))
        .set((master_keys::state.eq(state), master_keys::date_updated.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(master_keys::table)
            .values((
                master_keys::key_id.eq(key_id),
                master_keys::state.eq(state),
                master_keys::date_created.eq(now),
                master_keys::date_updated.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Makes `key_id` the current key; the one it replaces stays accepted.
/// Run in a transaction: the unique index allows one current key.
pub fn make_current(conn: &mut DbConnection, key_id: &str) -> StoreResult<()> {
    diesel::update(
        master_keys::table.filter(master_keys::state.eq(CURRENT)).filter(master_keys::key_id.ne(key_id)),
    )
    .set((master_keys::state.eq(ACCEPTED), master_keys::date_updated.eq(crate::time::now())))
    .execute(conn)?;
    put(conn, key_id, CURRENT)
}

/// Records a key an instance holds besides the current one, unless known.
pub fn accept(conn: &mut DbConnection, key_id: &str) -> StoreResult<()> {
    let known =
        master_keys::table.find(key_id).select(master_keys::key_id).get_result::<String>(conn).found()?;
    if known.is_none() {
        put(conn, key_id, ACCEPTED)?;
    }
    Ok(())
}

pub fn retire(conn: &mut DbConnection, key_id: &str) -> StoreResult<()> {
    put(conn, key_id, RETIRED)
}

/// Every master key something in the database is sealed under (a full
/// scan of media: run at start only while no key is recorded, and by
/// `retire-master-key`).
pub fn sealed_under(conn: &mut DbConnection) -> StoreResult<BTreeSet<String>> {
    let mut ids: BTreeSet<String> =
        media::table.select(media::key_id).distinct().load::<String>(conn)?.into_iter().collect();
    ids.extend(api_keys::table.select(api_keys::key_id).distinct().load::<String>(conn)?);
    ids.extend(push_credentials::table.select(push_credentials::key_id).distinct().load::<String>(conn)?);
    ids.extend(
        accounts::table
            .select(accounts::auth_token_key_id)
            .distinct()
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten(),
    );
    Ok(ids)
}
