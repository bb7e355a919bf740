//! What every authenticated request re-reads about its credential, in one
//! small query, so a revoked key, a rotated token or a changed role applies
//! to the very next request on every instance.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, roles, users};
use crate::domain::Permissions;

use super::{OptionalRow, StoreResult, roles::parse_permissions};

/// An access token's key as it is now and, if the User of the identity
/// exists yet, its SID and service role permissions.
pub struct TokenKey {
    pub key_hash: String,
    pub account_sid: String,
    pub user: Option<(String, Permissions)>,
}

pub fn token_key(
    conn: &mut DbConnection,
    key_sid: &str,
    service_sid: &str,
    identity: &str,
) -> StoreResult<Option<TokenKey>> {
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
        .found()?;
    let Some((key_hash, account_sid, user_sid, permissions)) = row else {
        return Ok(None);
    };
    let user = match user_sid {
        Some(sid) => Some((sid, parse_permissions(permissions.as_deref().unwrap_or("[]"))?)),
        None => None,
    };
    Ok(Some(TokenKey { key_hash, account_sid, user }))
}
