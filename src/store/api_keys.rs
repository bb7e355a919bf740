//! API keys (`SK…`): a secret hash for Basic auth and the same secret
//! sealed under the master key, to verify the access tokens it signs.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{accounts, api_keys, services};
use crate::keyset;

use super::accounts::AccountRow;
use super::page::PageQuery;
use super::{OptionalRow, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub secret_hash: String,
    pub key_id: String,
    pub secret_sealed: Vec<u8>,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
pub struct NewApiKey<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub friendly_name: Option<&'a str>,
    pub secret_hash: &'a str,
    pub key_id: &'a str,
    pub secret_sealed: &'a [u8],
    pub date_created: i64,
    pub date_updated: i64,
}

/// The key with its account, for authentication.
pub fn find_with_account(conn: &mut DbConnection, sid: &str) -> StoreResult<Option<(ApiKeyRow, AccountRow)>> {
    api_keys::table
        .inner_join(accounts::table.on(accounts::sid.eq(api_keys::account_sid)))
        .filter(api_keys::sid.eq(sid))
        .select((ApiKeyRow::as_select(), AccountRow::as_select()))
        .get_result(conn)
        .found()
}

/// [`find_with_account`], and whether `service` (if any) belongs to
/// `account_sid` (the account the key was verified for): one query.
pub fn find_with_account_and_service(
    conn: &mut DbConnection,
    sid: &str,
    account_sid: &str,
    service: Option<&str>,
) -> StoreResult<Option<(ApiKeyRow, AccountRow, bool)>> {
    let Some(service) = service else {
        return Ok(find_with_account(conn, sid)?.map(|(key, account)| (key, account, false)));
    };
    let owned = diesel::dsl::exists(
        services::table
            .filter(services::sid.eq(service.to_owned()))
            .filter(services::account_sid.eq(account_sid.to_owned())),
    );
    api_keys::table
        .inner_join(accounts::table.on(accounts::sid.eq(api_keys::account_sid)))
        .filter(api_keys::sid.eq(sid))
        .select((ApiKeyRow::as_select(), AccountRow::as_select(), owned))
        .get_result(conn)
        .found()
}

/// A key of the account.
pub fn find(conn: &mut DbConnection, account_sid: &str, sid: &str) -> StoreResult<ApiKeyRow> {
    Ok(api_keys::table
        .filter(api_keys::sid.eq(sid))
        .filter(api_keys::account_sid.eq(account_sid))
        .select(ApiKeyRow::as_select())
        .get_result(conn)?)
}

pub fn insert(conn: &mut DbConnection, key: &NewApiKey<'_>) -> StoreResult<ApiKeyRow> {
    diesel::insert_into(api_keys::table).values(key).execute(conn)?;
    find(conn, key.account_sid, key.sid)
}

pub fn rename(conn: &mut DbConnection, sid: &str, friendly_name: Option<&str>, now: i64) -> StoreResult<()> {
    diesel::update(api_keys::table.filter(api_keys::sid.eq(sid)))
        .set((api_keys::friendly_name.eq(friendly_name), api_keys::date_updated.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(api_keys::table.filter(api_keys::sid.eq(sid))).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection, account_sid: &str, page: &PageQuery) -> StoreResult<Vec<ApiKeyRow>> {
    let query = api_keys::table
        .filter(api_keys::account_sid.eq(account_sid))
        .select(ApiKeyRow::as_select())
        .into_boxed();
    Ok(keyset!(query, api_keys::id, page).load(conn)?)
}

/// Keys whose secret is sealed under another master key than `key_id`.
pub fn sealed_elsewhere(
    conn: &mut DbConnection,
    key_id: &str,
) -> StoreResult<Vec<(String, String, Vec<u8>)>> {
    Ok(api_keys::table
        .filter(api_keys::key_id.ne(key_id))
        .select((api_keys::sid, api_keys::key_id, api_keys::secret_sealed))
        .load(conn)?)
}

/// Stores a re-sealed secret, if nobody changed the row meanwhile.
pub fn reseal(
    conn: &mut DbConnection,
    sid: &str,
    old_key_id: &str,
    key_id: &str,
    sealed: &[u8],
) -> StoreResult<()> {
    diesel::update(api_keys::table.filter(api_keys::sid.eq(sid)).filter(api_keys::key_id.eq(old_key_id)))
        .set((api_keys::key_id.eq(key_id), api_keys::secret_sealed.eq(sealed)))
        .execute(conn)?;
    Ok(())
}

/// The key Confab keeps for the account's console tokens, if it has one
/// that still exists (the account may have revoked it).
pub fn console_key(conn: &mut DbConnection, account_sid: &str) -> StoreResult<Option<ApiKeyRow>> {
    api_keys::table
        .inner_join(accounts::table.on(accounts::console_key_sid.eq(api_keys::sid.nullable())))
        .filter(accounts::sid.eq(account_sid))
        .filter(api_keys::account_sid.eq(account_sid))
        .select(ApiKeyRow::as_select())
        .get_result(conn)
        .found()
}

/// Makes `key_sid` the account's console key.
pub fn set_console_key(conn: &mut DbConnection, account_sid: &str, key_sid: &str) -> StoreResult<()> {
    diesel::update(accounts::table.filter(accounts::sid.eq(account_sid)))
        .set(accounts::console_key_sid.eq(key_sid))
        .execute(conn)?;
    Ok(())
}

/// Locks the account's console key slot for this transaction (PostgreSQL;
/// SQLite's one writer already serialises), so two first requests make one key.
pub fn lock_console_key(conn: &mut DbConnection, account_sid: &str) -> StoreResult<()> {
    if !conn.is_sqlite() {
        diesel::sql_query("SELECT 1 FROM accounts WHERE sid = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(account_sid)
            .execute(conn)?;
    }
    Ok(())
}
