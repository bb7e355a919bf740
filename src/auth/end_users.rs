//! Re-reading, on every request of an access token, the key that signed it
//! and the user it acts as with its service role's permissions: one small
//! query, so a token's request costs what a Basic one does.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, roles, users};
use crate::error::ApiError;

/// The key's current hash and account and, if the User of the identity
/// exists yet, its SID and service role permissions.
pub struct Found {
    pub key_hash: String,
    pub account_sid: String,
    pub user: Option<(String, Vec<String>)>,
}

pub fn find_with_key(
    conn: &mut DbConnection,
    key_sid: &str,
    service_sid: &str,
    identity: &str,
) -> Result<Option<Found>, ApiError> {
    // Only the columns the check needs (diesel builds each query's text per
    // call, so width costs); the account exists while its key does (the key
    // cascades with it). Owned binds: diesel's join clauses take 'static
    // bind values.
    let row: Option<(String, String, Option<String>, Option<String>)> = api_keys::table
        .left_join(
            users::table.on(users::account_sid
                .eq(api_keys::account_sid)
                .and(users::service_sid.eq(service_sid.to_owned()))
                .and(users::identity.eq(identity.to_owned()))),
        )
        .left_join(roles::table.on(roles::sid.eq(users::role_sid)))
        .filter(api_keys::sid.eq(key_sid))
        .select((
            api_keys::secret_hash,
            api_keys::account_sid,
            users::sid.nullable(),
            roles::permissions.nullable(),
        ))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(key_hash, account_sid, user_sid, permissions)| Found {
        key_hash,
        account_sid,
        user: user_sid.map(|sid| (sid, parse_permissions(permissions.as_deref()))),
    }))
}

/// A role's stored permission list (JSON text); a row the API did not write
/// grants nothing rather than failing the request.
fn parse_permissions(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}
