//! Master keys: where they come from (environment or key file), the keyring
//! and what is sealed under it (media data keys, API key secrets), rotation,
//! and the signing of temporary media URLs.
//!
//! [`MasterKeys`] is the running server's view of them: it follows a key
//! file rotated under it (`confab admin rotate-master-key`) within about a
//! second, and URLs signed before a rotation keep verifying.

pub mod file;
pub mod keyring;
pub mod rotate;
pub mod signed_url;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::config::Config;

use file::KeySource;
use keyring::{CryptoError, Keyring, SecretKey};
use signed_url::UrlSigner;

/// How often, at most, a running server looks at its key file for a
/// rotation (a `stat` on the blocking pool).
const KEY_FILE_CHECK: Duration = Duration::from_secs(1);

pub struct MasterKeys {
    keys: RwLock<Keys>,
    source: KeySource,
    /// The key file as last seen, and when it was last looked at.
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
    pub fn load(config: &Config) -> Result<MasterKeys, String> {
        let (keyring, source) = file::load(config)?;
        let stamp = match &source {
            KeySource::File(path) => file::stamp(path).ok(),
            KeySource::Environment => None,
        };
        let url_ttl_secs = config.media.url_ttl.as_secs() as i64;
        let signer = Arc::new(UrlSigner::for_keyring(&keyring, url_ttl_secs));
        Ok(MasterKeys {
            keys: RwLock::new(Keys { keyring, signer }),
            source,
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

    /// Follows a rotation under a running server: with a key file, looks at
    /// it (at most once per [`KEY_FILE_CHECK`]) and reloads the keys if it
    /// changed. Whatever seals something new calls this first, so new media
    /// and keys use the new master key within about a second.
    pub async fn refresh(&self) {
        let KeySource::File(path) = &self.source else {
            return;
        };
        let seen = {
            let mut key_file = self.key_file.lock().unwrap_or_else(PoisonError::into_inner);
            if key_file.0.elapsed() < KEY_FILE_CHECK {
                return;
            }
            key_file.0 = Instant::now();
            key_file.1.clone()
        };
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
                tracing::info!(key_id = %keyring.current_id(), "the master key file changed; new media use its key");
                self.install(keyring, Some(stamp));
            }
            Err(e) => {
                tracing::warn!(error = %e, "checking the master key file failed; keeping the keys in use")
            }
        }
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
                self.install(keyring, stamp);
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
