//! Master-key rotation: every media data key and sealed secret is re-sealed
//! under the new current master key; the media objects themselves are not
//! touched. The database records which key is current (src/keys/cluster.rs),
//! so the steps roll across instances without a failed request:
//!
//! 1. every instance accepts the new key: with `CONFAB_MASTER_KEY`, it is
//!    added to `CONFAB_PREVIOUS_MASTER_KEYS` and the instances restarted one
//!    at a time (they keep sealing under the current key);
//! 2. `confab admin rotate-master-key`, run where `CONFAB_MASTER_KEY` is the
//!    new key, makes it current (running instances follow within about a
//!    second) and re-seals every row under it. With the embedded key file,
//!    the command generates the new key and keeps the old one in
//!    `master.key.previous`;
//! 3. `confab admin retire-master-key <old key id>` re-seals anything still
//!    under the old key and retires it; instances may then drop it.

use crate::config::Config;
use crate::db::{DbConnection, transaction};
use crate::store::{self, StoreError, StoreResult, master_keys};

use super::file::{self, KeySource};
use super::keyring::{Keyring, Purpose, SecretKey};

const BATCH: i64 = 500;

#[derive(Debug, serde::Serialize)]
pub struct Rotation {
    pub key_id: String,
    pub rewrapped: usize,
}

/// What `retire-master-key` did: the key retired, the rows it re-sealed
/// under `current`.
#[derive(Debug, serde::Serialize)]
pub struct Retirement {
    pub retired: String,
    pub current: String,
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

/// `confab admin rotate-master-key [--new-key BASE64]`: makes the configured
/// key (or, with the key file, a new one) the cluster's current key and
/// re-seals every row under it. Running it again finishes an interrupted run.
pub fn run(config: &Config, conn: &mut DbConnection, new_key: Option<[u8; 32]>) -> Result<Rotation, String> {
    let (keyring, source) = file::configured(config)?.ok_or("no master key is configured")?;
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
            let dir = file::key_dir(&path).to_path_buf();
            let mut previous = vec![keyring.current().clone()];
            previous.extend(keyring.previous().iter().cloned());
            previous.retain(|k| k.id() != new.id());
            file::write_key_file(&dir.join(file::PREVIOUS_KEY_FILE), &previous)?;
            file::write_key_file(&path, std::slice::from_ref(&new))?;
            Keyring::new(new, previous)
        }
    };
    let key_id = keyring.current_id();
    let known = master_keys::all(conn).map_err(|e| e.to_string())?;
    if known.iter().any(|row| row.key_id == key_id && row.state == master_keys::RETIRED) {
        return Err(format!("master key {key_id} was retired; make a new key current instead"));
    }
    transaction(conn, |tx| master_keys::make_current(tx.conn()?, &key_id)).map_err(|e| e.to_string())?;
    let rewrapped = rewrap_all(conn, &keyring).map_err(|e| e.to_string())?;
    Ok(Rotation { key_id, rewrapped })
}

/// `confab admin retire-master-key KEY_ID`: re-seals whatever is still
/// under `key_id` (sealed by an instance before it followed the rotation)
/// under the current key, then records the key retired. With the key file,
/// the key also leaves `master.key.previous`.
pub fn retire(config: &Config, conn: &mut DbConnection, key_id: &str) -> Result<Retirement, String> {
    let (keyring, source) = file::configured(config)?.ok_or("no master key is configured")?;
    let current =
        master_keys::current(conn).map_err(|e| e.to_string())?.ok_or("no master key is recorded yet")?;
    if key_id == current {
        return Err(format!(
            "{key_id} is the current master key; make another key current first (rotate-master-key)"
        ));
    }
    let known = master_keys::all(conn).map_err(|e| e.to_string())?;
    if !known.iter().any(|row| row.key_id == key_id) {
        return Err(format!("no master key {key_id} is recorded in this database"));
    }
    let keyring = keyring
        .with_current(&current)
        .ok_or_else(|| format!("this configuration does not hold the current master key {current}"))?;
    let rewrapped = rewrap_all(conn, &keyring).map_err(|e| e.to_string())?;
    let still = master_keys::sealed_under(conn).map_err(|e| e.to_string())?;
    if still.contains(key_id) {
        return Err(format!(
            "rows are still sealed under {key_id} (an instance sealing under it?); run this again"
        ));
    }
    transaction(conn, |tx| master_keys::retire(tx.conn()?, key_id)).map_err(|e| e.to_string())?;
    if let KeySource::File(path) = source {
        let dir = file::key_dir(&path);
        let kept: Vec<_> = keyring.previous().iter().filter(|k| k.id() != key_id).cloned().collect();
        file::write_key_file(&dir.join(file::PREVIOUS_KEY_FILE), &kept)?;
    }
    Ok(Retirement { retired: key_id.to_owned(), current, rewrapped })
}
