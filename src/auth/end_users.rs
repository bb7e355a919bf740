//! Loading the user an access token acts as, with its service role's
//! permissions and the API key that signed the token, in one query: a
//! token's request costs the same database round trips as a Basic one.

use diesel::prelude::*;

use crate::conversations::users::UserRow;
use crate::db::DbConnection;
use crate::db::schema::{accounts, api_keys, roles, users};
use crate::error::ApiError;

use super::accounts::AccountRow;
use super::api_keys::ApiKeyRow;

/// What a token's request re-reads: its key, the key's account and, if it
/// exists yet, the user of `identity` in `service_sid` with its service
/// role's permissions.
pub struct Found {
    pub key: ApiKeyRow,
    pub account: AccountRow,
    pub user: Option<(UserRow, Vec<String>)>,
}

pub fn find_with_key(
    conn: &mut DbConnection,
    key_sid: &str,
    service_sid: &str,
    identity: &str,
) -> Result<Option<Found>, ApiError> {
    // (Owned binds: diesel's join clauses take 'static bind values.)
    let row: Option<(ApiKeyRow, AccountRow, Option<UserRow>, Option<String>)> = api_keys::table
        .inner_join(accounts::table.on(accounts::sid.eq(api_keys::account_sid)))
        .left_join(
            users::table.on(users::account_sid
                .eq(api_keys::account_sid)
                .and(users::service_sid.eq(service_sid.to_owned()))
                .and(users::identity.eq(identity.to_owned()))),
        )
        .left_join(roles::table.on(roles::sid.eq(users::role_sid)))
        .filter(api_keys::sid.eq(key_sid))
        .select((
            ApiKeyRow::as_select(),
            AccountRow::as_select(),
            Option::<UserRow>::as_select(),
            roles::permissions.nullable(),
        ))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(key, account, user, permissions)| Found {
        key,
        account,
        user: user.map(|u| (u, parse_permissions(permissions.as_deref()))),
    }))
}

/// A role's stored permission list (JSON text); a row the API did not write
/// grants nothing rather than failing the request.
fn parse_permissions(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}
