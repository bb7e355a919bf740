//! Master-key rotation: every media data key and API key secret is re-sealed
//! under the current master key; the media objects themselves are not touched.
//!
//! With `CONFAB_MASTER_KEY`: configure every instance with the new key in
//! `CONFAB_MASTER_KEY` and the old one in `CONFAB_PREVIOUS_MASTER_KEYS`, run
//! `confab admin rotate-master-key`, then drop the previous key. With the
//! embedded key file, the command also generates the new key and keeps the
//! old one in `master.key.previous`; a running server notices the changed
//! file within about a second and seals new data keys under the new key.

use diesel::prelude::*;

use crate::config::Config;
use crate::db::schema::{api_keys, media};
use crate::db::{DbConnection, write_tx};
use crate::error::ApiError;

use super::crypto::{Keyring, Purpose, SecretKey};
use super::keys::{self, KeySource};

const BATCH: i64 = 500;

#[derive(Debug, serde::Serialize)]
pub struct Rotation {
    pub key_id: String,
    pub rewrapped: usize,
}

/// Re-wraps every data key and API key secret not yet under the keyring's
/// current key.
pub fn rewrap_all(conn: &mut DbConnection, keyring: &Keyring) -> Result<usize, ApiError> {
    Ok(rewrap_media(conn, keyring)? + reseal_api_keys(conn, keyring)?)
}

fn reseal_api_keys(conn: &mut DbConnection, keyring: &Keyring) -> Result<usize, ApiError> {
    let current = keyring.current_id();
    let rows: Vec<(String, String, Vec<u8>)> = api_keys::table
        .filter(api_keys::key_id.ne(&current))
        .select((api_keys::sid, api_keys::key_id, api_keys::secret_sealed))
        .load(conn)?;
    write_tx(conn, |conn| {
        for (sid, key_id, sealed) in &rows {
            let resealed = keyring
                .reseal(Purpose::ApiKeySecret, sid, key_id, sealed)
                .map_err(|e| ApiError::internal(format!("API key {sid}: {e}")))?;
            diesel::update(api_keys::table.filter(api_keys::sid.eq(sid)).filter(api_keys::key_id.eq(key_id)))
                .set((api_keys::key_id.eq(&resealed.key_id), api_keys::secret_sealed.eq(&resealed.bytes)))
                .execute(conn)?;
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(rows.len())
}

fn rewrap_media(conn: &mut DbConnection, keyring: &Keyring) -> Result<usize, ApiError> {
    let current = keyring.current_id();
    let mut total = 0;
    loop {
        let rows: Vec<(String, String, Vec<u8>)> = media::table
            .filter(media::key_id.ne(&current))
            .select((media::sid, media::key_id, media::wrapped_key))
            .limit(BATCH)
            .load(conn)?;
        if rows.is_empty() {
            return Ok(total);
        }
        write_tx(conn, |conn| {
            for (sid, key_id, wrapped) in &rows {
                let rewrapped = keyring
                    .rewrap(sid, key_id, wrapped)
                    .map_err(|e| ApiError::internal(format!("media {sid}: {e}")))?;
                // Only if nobody changed the row meanwhile.
                diesel::update(media::table.filter(media::sid.eq(sid)).filter(media::key_id.eq(key_id)))
                    .set((media::key_id.eq(&rewrapped.key_id), media::wrapped_key.eq(&rewrapped.bytes)))
                    .execute(conn)?;
            }
            Ok::<_, ApiError>(())
        })?;
        total += rows.len();
    }
}

/// `confab admin rotate-master-key [--new-key BASE64]`.
pub fn run(config: &Config, conn: &mut DbConnection, new_key: Option<[u8; 32]>) -> Result<Rotation, String> {
    let (keyring, source) = keys::load(config)?;
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
            if let Ok(older) = keys::read_key_files(&dir) {
                previous.extend(older.previous().iter().cloned());
            }
            previous.retain(|k| k.id() != new.id());
            keys::write_key_file(&dir.join(keys::PREVIOUS_KEY_FILE), &previous)?;
            keys::write_key_file(&path, std::slice::from_ref(&new))?;
            Keyring::new(new, previous)
        }
    };
    let rewrapped = rewrap_all(conn, &keyring).map_err(|e| e.to_string())?;
    Ok(Rotation { key_id: keyring.current_id(), rewrapped })
}
