//! Accounts (`AC…`): the tenant every resource belongs to, and its Auth Token.

use diesel::prelude::*;

use crate::api::time;
use crate::config::HashCost;
use crate::conversations::services;
use crate::db::schema::accounts;
use crate::db::{DbConnection, write_tx};
use crate::error::ApiError;
use crate::sid::SidKind;

use super::password;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub sid: String,
    pub friendly_name: String,
    pub auth_token_hash: String,
    pub default_service_sid: Option<String>,
    pub default_messaging_service_sid: Option<String>,
    pub default_inactive_timer: Option<String>,
    pub default_closed_timer: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
struct NewAccount<'a> {
    sid: &'a str,
    friendly_name: &'a str,
    auth_token_hash: &'a str,
    date_created: i64,
    date_updated: i64,
}

pub fn find(conn: &mut DbConnection, sid: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table.filter(accounts::sid.eq(sid)).select(AccountRow::as_select()).get_result(conn).optional()
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    accounts::table.count().get_result(conn)
}

/// What `create` hands back once: the token is never stored in clear.
#[derive(Debug, serde::Serialize)]
pub struct NewCredentials {
    pub account_sid: String,
    pub auth_token: String,
}

/// Creates an account with its default Conversation Service, in one
/// transaction. `sid`/`token` are generated unless given (bootstrap).
pub fn create(
    conn: &mut DbConnection,
    friendly_name: &str,
    sid: Option<&str>,
    token: Option<&str>,
    cost: HashCost,
) -> Result<NewCredentials, ApiError> {
    let sid = sid.map_or_else(|| SidKind::Account.generate(), str::to_owned);
    let token = token.map_or_else(password::generate_secret, str::to_owned);
    let hash = password::hash(&token, cost);
    let now = time::now();
    write_tx(conn, |conn| {
        diesel::insert_into(accounts::table)
            .values(NewAccount {
                sid: &sid,
                friendly_name,
                auth_token_hash: &hash,
                date_created: now,
                date_updated: now,
            })
            .execute(conn)?;
        let service = services::create_with_defaults(conn, &sid, "Default Conversations Service", now)?;
        set_default_service(conn, &sid, &service.sid)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(NewCredentials { account_sid: sid, auth_token: token })
}

/// Takes the account row's lock for the rest of the transaction and returns
/// its current default service. Changing the default and deleting a service
/// both take it first, so neither can act on what the other just changed.
pub fn lock_default_service(conn: &mut DbConnection, account_sid: &str) -> QueryResult<Option<String>> {
    diesel::update(accounts::table.filter(accounts::sid.eq(account_sid)))
        .set(accounts::date_updated.eq(accounts::date_updated))
        .returning(accounts::default_service_sid)
        .get_result(conn)
}

pub fn set_default_service(conn: &mut DbConnection, account_sid: &str, service_sid: &str) -> QueryResult<()> {
    diesel::update(accounts::table.filter(accounts::sid.eq(account_sid)))
        .set((accounts::default_service_sid.eq(service_sid), accounts::date_updated.eq(time::now())))
        .execute(conn)
        .map(drop)
}

/// Replaces the Auth Token; the old one stops working at once on every
/// instance, because verification compares against the stored hash.
pub fn rotate_auth_token(conn: &mut DbConnection, sid: &str, cost: HashCost) -> Result<String, ApiError> {
    let token = password::generate_secret();
    let hash = password::hash(&token, cost);
    let updated = diesel::update(accounts::table.filter(accounts::sid.eq(sid)))
        .set((accounts::auth_token_hash.eq(&hash), accounts::date_updated.eq(time::now())))
        .execute(conn)?;
    if updated == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(token)
}
