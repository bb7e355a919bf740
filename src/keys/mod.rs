//! Master keys: where they come from (environment or key file), the keyring
//! and what is sealed under it (media data keys, API key secrets), rotation,
//! and the signing of temporary media URLs.
//!
//! [`MasterKeys`] is the running server's view of them: it follows a key
//! file rotated under it (`confab admin rotate-master-key`) within about a
//! second, and URLs signed before a rotation keep verifying.

pub mod cluster;
pub mod file;
pub mod keyring;
pub mod rotate;
pub mod signed_url;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::db::{Db, DbConnection};
use crate::store::master_keys;

use file::KeySource;
use keyring::{CryptoError, Keyring, SecretKey};
use signed_url::UrlSigner;

/// How often, at most, a running server looks for a rotation: at the
/// database's current key (one indexed read) and at its key file (a `stat`),
/// both on the blocking pool.
const KEY_FILE_CHECK: Duration = Duration::from_secs(1);

pub struct MasterKeys {
    keys: RwLock<Keys>,
    source: KeySource,
    /// Where the cluster's current key is recorded.
    db: Db,
    /// The key file as last seen, and when it (and the database's current
    /// key) was last looked at.
    key_file: Mutex<(Instant, Option<file::FileStamp>)>,
    url_ttl_secs: i64,
}

/// The master keys in use and the URL signer derived from them, replaced
/// together when the key file changes.
struct Keys {
    keyring: Keyring,
    signer: Arc<UrlSigner>,
}

impl MasterKeys {
    /// The configured keys, checked against the cluster's record
    /// ([`cluster::agree`]). Blocking: call at start.
    pub fn load(config: &Config, db: Db, conn: &mut DbConnection) -> Result<MasterKeys, String> {
        let (keyring, source) = cluster::agree(conn, config).map_err(|e| e.to_string())?;
        let stamp = match &source {
            KeySource::File(path) => file::stamp(path).ok(),
            KeySource::Environment => None,
        };
        let url_ttl_secs = config.media.url_ttl.as_secs() as i64;
        let signer = Arc::new(UrlSigner::for_keyring(&keyring, url_ttl_secs));
        Ok(MasterKeys {
            keys: RwLock::new(Keys { keyring, signer }),
            source,
            db,
            key_file: Mutex::new((Instant::now(), stamp)),
            url_ttl_secs,
        })
    }

    pub fn keyring(&self) -> Keyring {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).keyring.clone()
    }

    /// Signs temporary URLs with the current master key; verifies them with
    /// any known one.
    pub fn signer(&self) -> Arc<UrlSigner> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).signer.clone()
    }

    fn install(&self, keyring: Keyring, stamp: Option<file::FileStamp>) {
        let signer = Arc::new(UrlSigner::for_keyring(&keyring, self.url_ttl_secs));
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Keys { keyring, signer };
        self.key_file.lock().unwrap_or_else(PoisonError::into_inner).1 = stamp;
    }

    /// Installs keys read from the key file, still sealing under the
    /// cluster's current key if the file holds it: the database, not the
    /// file, says when a new key becomes current.
    fn install_from_file(&self, keyring: Keyring, stamp: Option<file::FileStamp>) {
        let in_use = self.keyring();
        let keyring = match keyring.with_current(&in_use.current_id()) {
            Some(keyring) => keyring,
            None => {
                // An edited or restored file: sealing under its key would
                // store what no other instance opens. Keep the key in use,
                // and accept the file's keys beside it.
                tracing::error!(
                    key_id = %in_use.current_id(),
                    file_keys = %keyring.ids().join(", "),
                    "the master key file no longer holds the key in use; keeping it"
                );
                in_use.with_others(&keyring)
            }
        };
        self.install(keyring, stamp);
    }

    /// Follows a rotation under a running server (at most once per
    /// [`KEY_FILE_CHECK`]): reloads a key file that changed, and seals under
    /// whichever key the database now names current. Whatever seals
    /// something new calls this first, so every instance uses a new current
    /// key within about a second of `confab admin rotate-master-key`.
    pub async fn refresh(&self) {
        let seen = {
            let mut key_file = self.key_file.lock().unwrap_or_else(PoisonError::into_inner);
            if key_file.0.elapsed() < KEY_FILE_CHECK {
                return;
            }
            key_file.0 = Instant::now();
            key_file.1.clone()
        };
        if let KeySource::File(path) = &self.source {
            let path = path.clone();
            let read = actix_web::web::block(move || {
                let stamp = file::stamp(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if seen.as_ref() == Some(&stamp) {
                    return Ok(None);
                }
                Ok::<_, String>(Some((file::read_key_files(file::key_dir(&path))?, stamp)))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|read| read);
            match read {
                Ok(None) => {}
                Ok(Some((keyring, stamp))) => {
                    tracing::info!(key_id = %keyring.current_id(), "the master key file changed");
                    self.install_from_file(keyring, Some(stamp));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "checking the master key file failed; keeping the keys in use")
                }
            }
        }
        match self.db.read(master_keys::current).await {
            Ok(Some(current)) => self.follow(&current).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading the cluster's current master key failed; keeping the keys in use")
            }
        }
    }

    /// Seals under `current` from now on, if this instance holds it.
    async fn follow(&self, current: &str) {
        let keyring = self.keyring();
        if keyring.current_id() == current {
            return;
        }
        let keyring = match keyring.with_current(current) {
            Some(k) => k,
            None if self.reload().await => match self.keyring().with_current(current) {
                Some(k) => k,
                None => return self.missing(current),
            },
            None => return self.missing(current),
        };
        tracing::info!(key_id = %current, "the cluster's current master key changed; new media use it");
        let stamp = self.key_file.lock().unwrap_or_else(PoisonError::into_inner).1.clone();
        self.install(keyring, stamp);
    }

    fn missing(&self, current: &str) {
        tracing::error!(
            key_id = %current,
            "the cluster's current master key is not configured on this instance: it keeps sealing \
             under its own key and cannot open what others seal; give it the key and restart it"
        );
    }

    /// Re-reads the key files now; `false` if the keys come from the
    /// environment or the files cannot be read.
    async fn reload(&self) -> bool {
        let KeySource::File(path) = &self.source else {
            return false;
        };
        let path = path.clone();
        let read = actix_web::web::block(move || {
            let stamp = file::stamp(&path).ok();
            file::read_key_files(file::key_dir(&path)).map(|keyring| (keyring, stamp))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|read| read);
        match read {
            Ok((keyring, stamp)) => {
                self.install_from_file(keyring, stamp);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-reading the master key files failed");
                false
            }
        }
    }

    /// The keyring, for opening something sealed under `key_id`. A key id
    /// this process does not know may come from a rotation since the last
    /// look at the key file (it re-seals media data keys and API key
    /// secrets alike): re-read the file once before giving up.
    pub async fn keyring_for(&self, key_id: &str) -> Keyring {
        let keyring = self.keyring();
        if keyring.knows(key_id) || !self.reload().await {
            return keyring;
        }
        self.keyring()
    }

    /// Opens a media's data key.
    pub async fn data_key(
        &self,
        media_sid: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<SecretKey, CryptoError> {
        self.keyring_for(key_id).await.unwrap(media_sid, key_id, wrapped)
    }
}
