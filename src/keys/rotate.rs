//! Master-key rotation: every media data key and API key secret is re-sealed
//! under the current master key; the media objects themselves are not touched.
//!
//! With `CONFAB_MASTER_KEY`: configure every instance with the new key in
//! `CONFAB_MASTER_KEY` and the old one in `CONFAB_PREVIOUS_MASTER_KEYS`, run
//! `confab admin rotate-master-key`, then drop the previous key. With the
//! embedded key file, the command also generates the new key and keeps the
//! old one in `master.key.previous`; a running server notices the changed
//! file within about a second and seals new data keys under the new key.

use crate::config::Config;
use crate::db::{DbConnection, transaction};
use crate::store::{self, StoreError, StoreResult};

use super::file::{self, KeySource};
use super::keyring::{Keyring, Purpose, SecretKey};

const BATCH: i64 = 500;

#[derive(Debug, serde::Serialize)]
pub struct Rotation {
    pub key_id: String,
    pub rewrapped: usize,
}

/// A row whose seal cannot be opened with the keys at hand.
fn unreadable(what: &str, sid: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::from(diesel::result::Error::DeserializationError(format!("{what} {sid}: {e}").into()))
}

/// Re-wraps every data key and API key secret not yet under the keyring's
/// current key.
pub fn rewrap_all(conn: &mut DbConnection, keyring: &Keyring) -> StoreResult<usize> {
    Ok(rewrap_media(conn, keyring)?
        + reseal_api_keys(conn, keyring)?
        + reseal_auth_tokens(conn, keyring)?
        + reseal_push_credentials(conn, keyring)?)
}

fn reseal_push_credentials(conn: &mut DbConnection, keyring: &Keyring) -> StoreResult<usize> {
    let rows = store::push_credentials::sealed_elsewhere(conn, &keyring.current_id())?;
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        for (sid, key_id, sealed) in &rows {
            let resealed = keyring
                .reseal(Purpose::PushCredential, sid, key_id, sealed)
                .map_err(|e| unreadable("push credential", sid, e))?;
            store::push_credentials::reseal(conn, sid, key_id, &resealed.key_id, &resealed.bytes)?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(rows.len())
}

fn reseal_auth_tokens(conn: &mut DbConnection, keyring: &Keyring) -> StoreResult<usize> {
    let rows = store::accounts::auth_tokens_sealed_elsewhere(conn, &keyring.current_id())?;
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        for (sid, key_id, sealed) in &rows {
            let resealed = keyring
                .reseal(Purpose::AuthToken, sid, key_id, sealed)
                .map_err(|e| unreadable("account", sid, e))?;
            store::accounts::reseal_auth_token(conn, sid, key_id, &resealed.key_id, &resealed.bytes)?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(rows.len())
}

fn reseal_api_keys(conn: &mut DbConnection, keyring: &Keyring) -> StoreResult<usize> {
    let rows = store::api_keys::sealed_elsewhere(conn, &keyring.current_id())?;
    transaction(conn, |tx| {
        let conn = tx.conn()?;
        for (sid, key_id, sealed) in &rows {
            let resealed = keyring
                .reseal(Purpose::ApiKeySecret, sid, key_id, sealed)
                .map_err(|e| unreadable("API key", sid, e))?;
            store::api_keys::reseal(conn, sid, key_id, &resealed.key_id, &resealed.bytes)?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(rows.len())
}

fn rewrap_media(conn: &mut DbConnection, keyring: &Keyring) -> StoreResult<usize> {
    let current = keyring.current_id();
    let mut total = 0;
    loop {
        let rows = store::media::wrapped_elsewhere(conn, &current, BATCH)?;
        if rows.is_empty() {
            return Ok(total);
        }
        transaction(conn, |tx| {
            let conn = tx.conn()?;
            for (sid, key_id, wrapped) in &rows {
                let rewrapped =
                    keyring.rewrap(sid, key_id, wrapped).map_err(|e| unreadable("media", sid, e))?;
                store::media::rewrap(conn, sid, key_id, &rewrapped.key_id, &rewrapped.bytes)?;
            }
            Ok::<_, StoreError>(())
        })?;
        total += rows.len();
    }
}

/// `confab admin rotate-master-key [--new-key BASE64]`.
pub fn run(config: &Config, conn: &mut DbConnection, new_key: Option<[u8; 32]>) -> Result<Rotation, String> {
    let (keyring, source) = file::load(config)?;
    let keyring = match source {
        KeySource::Environment => {
            if new_key.is_some() {
                return Err(
                    "--new-key is for the embedded key file; with CONFAB_MASTER_KEY set, put the new key \
                            there and the old one in CONFAB_PREVIOUS_MASTER_KEYS, then run this command"
                        .into(),
                );
            }
            keyring
        }
        KeySource::File(path) => {
            // New key first, old ones kept: a crash half-way leaves every
            // row readable, and running the command again finishes the job.
            let new = new_key.map(SecretKey::from_bytes).unwrap_or_else(SecretKey::random);
            let dir = path.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
            let mut previous = vec![keyring.current().clone()];
            if let Ok(older) = file::read_key_files(&dir) {
                previous.extend(older.previous().iter().cloned());
            }
            previous.retain(|k| k.id() != new.id());
            file::write_key_file(&dir.join(file::PREVIOUS_KEY_FILE), &previous)?;
            file::write_key_file(&path, std::slice::from_ref(&new))?;
            Keyring::new(new, previous)
        }
    };
    let rewrapped = rewrap_all(conn, &keyring).map_err(|e| e.to_string())?;
    Ok(Rotation { key_id: keyring.current_id(), rewrapped })
}
