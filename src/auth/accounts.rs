//! Issuing account credentials: a new account with its Auth Token (and its
//! default Conversation Service), and Auth Token rotation. The token is
//! shown once and kept as an argon2id hash (to check Basic auth) and sealed
//! under the master key (to sign webhook requests, which needs the token).

use crate::config::HashCost;
use crate::db::{DbConnection, transaction};
use crate::keys::keyring::{Keyring, Purpose};
use crate::sid::SidKind;
use crate::store::{self, StoreError, StoreResult};
use crate::time;

use super::password;

/// What [`create`] hands back once: the token is never stored in clear.
#[derive(Debug, serde::Serialize)]
pub struct NewCredentials {
    pub account_sid: String,
    pub auth_token: String,
}

/// Creates an account with its default Conversation Service, in one
/// transaction. `sid`/`token` are generated unless given (bootstrap).
/// Blocking: the token is hashed here.
pub fn create(
    conn: &mut DbConnection,
    friendly_name: &str,
    sid: Option<&str>,
    token: Option<&str>,
    cost: HashCost,
    keyring: &Keyring,
) -> StoreResult<NewCredentials> {
    let sid = sid.map_or_else(|| SidKind::Account.generate(), str::to_owned);
    let token = token.map_or_else(password::generate_secret, str::to_owned);
    let hash = password::hash(&token, cost);
    let now = time::now();
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        let account = store::accounts::NewAccount {
            sid: &sid,
            friendly_name,
            auth_token_hash: &hash,
            date_created: now,
            date_updated: now,
        };
        store::accounts::insert(conn, &account)?;
        seal(conn, keyring, &sid, &token)?;
        let service =
            store::services::create_with_defaults(conn, &sid, "Default Conversations Service", now)?;
        store::accounts::set_default_service(conn, &sid, &service.sid, now)?;
        Ok::<_, StoreError>(())
    })?;
    Ok(NewCredentials { account_sid: sid, auth_token: token })
}

/// Replaces the Auth Token; the old one stops working at once on every
/// instance, because verification compares against the stored hash.
/// Blocking: the new token is hashed here.
pub fn rotate_auth_token(
    conn: &mut DbConnection,
    sid: &str,
    cost: HashCost,
    keyring: &Keyring,
) -> StoreResult<String> {
    let token = password::generate_secret();
    let hash = password::hash(&token, cost);
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        if !store::accounts::set_auth_token_hash(conn, sid, &hash, time::now())? {
            return Err(StoreError::NotFound);
        }
        seal(conn, keyring, sid, &token)
    })?;
    Ok(token)
}

/// Keeps `token` sealed with the account: webhook signatures need it.
/// Also called after a Basic auth with the token succeeds, for accounts
/// created before tokens were sealed.
pub fn seal(conn: &mut DbConnection, keyring: &Keyring, sid: &str, token: &str) -> StoreResult<()> {
    let sealed = keyring.seal(Purpose::AuthToken, sid, token.as_bytes());
    store::accounts::seal_auth_token(conn, sid, &sealed.key_id, &sealed.bytes)
}
