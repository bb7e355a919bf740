//! Push credentials (`CR…`): an account's APN certificate and private key,
//! or its FCM/GCM secret, for push notifications. The secrets are sealed
//! under the master key (`keys::Purpose::PushCredential`) by the caller and
//! stored as one blob; the API never shows them.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::push_credentials;
use crate::keyset;
use crate::sid::SidKind;

use super::StoreResult;
use super::page::PageQuery;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = push_credentials)]
pub struct PushCredentialRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    /// `apn`, `gcm` or `fcm`.
    pub credential_type: String,
    pub sandbox: Option<bool>,
    pub key_id: String,
    pub secrets_sealed: Vec<u8>,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = push_credentials)]
pub struct NewPushCredential<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub friendly_name: Option<&'a str>,
    pub credential_type: &'a str,
    pub sandbox: Option<bool>,
    pub key_id: &'a str,
    pub secrets_sealed: &'a [u8],
    pub date_created: i64,
    pub date_updated: i64,
}

/// An update: `None` leaves a field alone.
#[derive(AsChangeset)]
#[diesel(table_name = push_credentials)]
pub struct PushCredentialChanges {
    pub friendly_name: Option<Option<String>>,
    pub sandbox: Option<Option<bool>>,
    pub key_id: Option<String>,
    pub secrets_sealed: Option<Vec<u8>>,
    pub date_updated: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewPushCredential<'_>) -> StoreResult<PushCredentialRow> {
    diesel::insert_into(push_credentials::table).values(new).execute(conn)?;
    find(conn, new.account_sid, new.sid)
}

/// The account's credential by SID (another account's is not found).
pub fn find(conn: &mut DbConnection, account_sid: &str, sid: &str) -> StoreResult<PushCredentialRow> {
    if !SidKind::Credential.matches(sid) {
        return Err(super::StoreError::NotFound);
    }
    Ok(push_credentials::table
        .filter(push_credentials::sid.eq(sid))
        .filter(push_credentials::account_sid.eq(account_sid))
        .select(PushCredentialRow::as_select())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut DbConnection,
    account_sid: &str,
    sid: &str,
    changes: &PushCredentialChanges,
) -> StoreResult<PushCredentialRow> {
    diesel::update(push_credentials::table.filter(push_credentials::sid.eq(sid)))
        .set(changes)
        .execute(conn)?;
    find(conn, account_sid, sid)
}

pub fn delete(conn: &mut DbConnection, sid: &str) -> StoreResult<()> {
    diesel::delete(push_credentials::table.filter(push_credentials::sid.eq(sid))).execute(conn)?;
    Ok(())
}

pub fn list(
    conn: &mut DbConnection,
    account_sid: &str,
    page: &PageQuery,
) -> StoreResult<Vec<PushCredentialRow>> {
    let query = push_credentials::table
        .filter(push_credentials::account_sid.eq(account_sid))
        .select(PushCredentialRow::as_select())
        .into_boxed();
    Ok(keyset!(query, push_credentials::id, page).load(conn)?)
}

/// (SID, master key id, sealed secrets) of the credentials sealed under
/// another master key than `key_id` (rotation).
pub fn sealed_elsewhere(
    conn: &mut DbConnection,
    key_id: &str,
) -> StoreResult<Vec<(String, String, Vec<u8>)>> {
    Ok(push_credentials::table
        .filter(push_credentials::key_id.ne(key_id))
        .select((push_credentials::sid, push_credentials::key_id, push_credentials::secrets_sealed))
        .load(conn)?)
}

/// Stores re-sealed secrets, if nobody changed the row meanwhile.
pub fn reseal(
    conn: &mut DbConnection,
    sid: &str,
    old_key_id: &str,
    key_id: &str,
    sealed: &[u8],
) -> StoreResult<()> {
    diesel::update(
        push_credentials::table
            .filter(push_credentials::sid.eq(sid))
            .filter(push_credentials::key_id.eq(old_key_id)),
    )
    .set((push_credentials::key_id.eq(key_id), push_credentials::secrets_sealed.eq(sealed)))
    .execute(conn)?;
    Ok(())
}
