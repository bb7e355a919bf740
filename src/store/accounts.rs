//! Accounts (`AC…`): the tenant every resource belongs to, its Auth Token
//! hash and its Conversations defaults.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{accounts, services};

use super::{OptionalRow, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub sid: String,
    pub auth_token_hash: String,
    pub default_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
    /// The master key the Auth Token is sealed under; `None`: not sealed yet.
    pub auth_token_key_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
pub struct NewAccount<'a> {
    pub sid: &'a str,
    pub friendly_name: &'a str,
    pub auth_token_hash: &'a str,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The account's Conversations defaults (`/v1/Configuration`): `None`
/// leaves a field alone, `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = accounts)]
pub struct DefaultsChanges {
    pub default_messaging_service_sid: Option<Option<String>>,
    pub default_inactive_timer: Option<Option<String>>,
    pub default_closed_timer: Option<Option<String>>,
    pub date_updated: Option<i64>,
}

pub fn find(conn: &mut DbConnection, sid: &str) -> StoreResult<Option<AccountRow>> {
    accounts::table.filter(accounts::sid.eq(sid)).select(AccountRow::as_select()).get_result(conn).found()
}

/// The account, and whether `service` (if any) is one of its services: one
/// query, so a request on `/…/Services/{IS}/…` re-checks its credential and
/// its service in the round trip a default-service request takes.
pub fn find_with_service(
    conn: &mut DbConnection,
    sid: &str,
    service: Option<&str>,
) -> StoreResult<Option<(AccountRow, bool)>> {
    let Some(service) = service else {
        return Ok(find(conn, sid)?.map(|account| (account, false)));
    };
    let owned = diesel::dsl::exists(
        services::table
            .filter(services::sid.eq(service.to_owned()))
            .filter(services::account_sid.eq(sid.to_owned())),
    );
    accounts::table
        .filter(accounts::sid.eq(sid))
        .select((AccountRow::as_select(), owned))
        .get_result(conn)
        .found()
}

/// Stores the account's Auth Token sealed under the master key `key_id`.
pub fn seal_auth_token(conn: &mut DbConnection, sid: &str, key_id: &str, sealed: &[u8]) -> StoreResult<()> {
    diesel::update(accounts::table.filter(accounts::sid.eq(sid)))
        .set((accounts::auth_token_key_id.eq(key_id), accounts::auth_token_sealed.eq(sealed)))
        .execute(conn)?;
    Ok(())
}

/// The sealed Auth Token (master key id, seal), if the account has one.
pub fn sealed_auth_token(conn: &mut DbConnection, sid: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
    let found: Option<(Option<String>, Option<Vec<u8>>)> = accounts::table
        .filter(accounts::sid.eq(sid))
        .select((accounts::auth_token_key_id, accounts::auth_token_sealed))
        .get_result(conn)
        .found()?;
    Ok(match found {
        Some((Some(key_id), Some(sealed))) => Some((key_id, sealed)),
        _ => None,
    })
}

/// Accounts whose Auth Token is sealed under another master key than `key_id`.
pub fn auth_tokens_sealed_elsewhere(
    conn: &mut DbConnection,
    key_id: &str,
) -> StoreResult<Vec<(String, String, Vec<u8>)>> {
    let rows: Vec<(String, Option<String>, Option<Vec<u8>>)> = accounts::table
        .filter(accounts::auth_token_key_id.ne(key_id))
        .select((accounts::sid, accounts::auth_token_key_id, accounts::auth_token_sealed))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(sid, k, s)| Some((sid, k?, s?))).collect())
}

/// Stores a re-sealed Auth Token, if nobody changed the row meanwhile.
pub fn reseal_auth_token(
    conn: &mut DbConnection,
    sid: &str,
    old_key_id: &str,
    key_id: &str,
    sealed: &[u8],
) -> StoreResult<()> {
    diesel::update(
        accounts::table.filter(accounts::sid.eq(sid)).filter(accounts::auth_token_key_id.eq(old_key_id)),
    )
    .set((accounts::auth_token_key_id.eq(key_id), accounts::auth_token_sealed.eq(sealed)))
    .execute(conn)?;
    Ok(())
}

pub fn count(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(accounts::table.count().get_result(conn)?)
}

pub fn insert(conn: &mut DbConnection, account: &NewAccount<'_>) -> StoreResult<()> {
    diesel::insert_into(accounts::table).values(account).execute(conn)?;
    Ok(())
}

/// Takes the account row's lock for the rest of the transaction and returns
/// its current default service. Changing the default and deleting a service
/// both take it first, so neither can act on what the other just changed.
pub fn lock_default_service(conn: &mut DbConnection, account_sid: &str) -> StoreResult<Option<String>> {
    Ok(diesel::update(accounts::table.filter(accounts::sid.eq(account_sid)))
        .set(accounts::date_updated.eq(accounts::date_updated))
        .returning(accounts::default_service_sid)
        .get_result(conn)?)
}

pub fn set_default_service(
    conn: &mut DbConnection,
    account_sid: &str,
    service_sid: &str,
    now: i64,
) -> StoreResult<()> {
    diesel::update(accounts::table.filter(accounts::sid.eq(account_sid)))
        .set((accounts::default_service_sid.eq(service_sid), accounts::date_updated.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn update_defaults(
    conn: &mut DbConnection,
    account_sid: &str,
    changes: &DefaultsChanges,
) -> StoreResult<()> {
    diesel::update(accounts::table.filter(accounts::sid.eq(account_sid))).set(changes).execute(conn)?;
    Ok(())
}

/// Replaces the Auth Token's hash; `false` when there is no such account.
pub fn set_auth_token_hash(conn: &mut DbConnection, sid: &str, hash: &str, now: i64) -> StoreResult<bool> {
    let updated = diesel::update(accounts::table.filter(accounts::sid.eq(sid)))
        .set((accounts::auth_token_hash.eq(hash), accounts::date_updated.eq(now)))
        .execute(conn)?;
    Ok(updated > 0)
}
