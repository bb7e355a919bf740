//! The master keys and what is sealed under them.
//!
//! Each media gets a fresh random 256-bit data key (its content is sealed
//! with it: src/storage/sealed.rs). The data key is stored wrapped
//! (AES-256-GCM) under the master key, with the master key's id beside it,
//! so the master key can rotate by re-wrapping data keys only. API key
//! secrets are sealed the same way. Every seal binds its purpose and owner
//! SID: a sealed value moved to another row or use fails to open.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// AES-GCM tag bytes.
pub const TAG: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed content failed its integrity check")]
    Integrity,
    #[error("no master key with id {0} is configured")]
    UnknownKey(String),
    #[error("malformed wrapped data key")]
    Malformed,
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    b
}

/// A 256-bit key that wipes itself from memory when dropped.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn random() -> SecretKey {
        SecretKey(random())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Short public identifier: never reveals the key.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"confab master key id\0");
        h.update(self.0);
        h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0))
    }

    /// A subkey for another purpose (HMAC-SHA256 of a label).
    pub fn derive(&self, label: &str) -> SecretKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works for HMAC");
        mac.update(label.as_bytes());
        SecretKey(mac.finalize().into_bytes().into())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // Best effort; volatile so the compiler keeps the writes.
        for b in self.0.iter_mut() {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// The master keys: one current (wraps new data keys) and older ones that
/// may still unwrap rows not yet re-wrapped.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

/// A secret sealed under a master key: `nonce(12) ‖ ciphertext ‖ tag(16)`.
pub struct WrappedKey {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl Keyring {
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Keyring {
        Keyring { current, previous }
    }

    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    pub fn current_id(&self) -> String {
        self.current.id()
    }

    pub fn previous(&self) -> &[SecretKey] {
        &self.previous
    }

    /// The ids of every key of this keyring, the current one first.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(&self.current).chain(&self.previous).map(SecretKey::id).collect()
    }

    /// The same keys with `key_id` current (the cluster's choice, recorded
    /// in the database), or `None` if this keyring does not hold it.
    pub fn with_current(&self, key_id: &str) -> Option<Keyring> {
        let current = self.find(key_id)?.clone();
        let previous = std::iter::once(&self.current)
            .chain(&self.previous)
            .filter(|k| k.id() != key_id)
            .cloned()
            .collect();
        Some(Keyring { current, previous })
    }

    /// These keys, with `other`'s keys this one lacks added as previous ones.
    pub fn with_others(&self, other: &Keyring) -> Keyring {
        let mut previous = self.previous.clone();
        for key in std::iter::once(&other.current).chain(&other.previous) {
            if !self.knows(&key.id()) && !previous.iter().any(|k| k.id() == key.id()) {
                previous.push(key.clone());
            }
        }
        Keyring { current: self.current.clone(), previous }
    }

    /// Is `key_id` the current or a previous key of this keyring?
    pub fn knows(&self, key_id: &str) -> bool {
        self.find(key_id).is_some()
    }

    fn find(&self, key_id: &str) -> Option<&SecretKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id() == key_id)
    }

    fn aad(purpose: Purpose, owner_sid: &str, key_id: &str) -> Vec<u8> {
        format!("{}\0{owner_sid}\0{key_id}", purpose.label()).into_bytes()
    }

    /// Seals `secret` for `purpose` and `owner_sid` under the current master key.
    pub fn seal(&self, purpose: Purpose, owner_sid: &str, secret: &[u8]) -> WrappedKey {
        let key_id = self.current.id();
        let nonce: [u8; 12] = random();
        let mut buf = secret.to_vec();
        let tag = self
            .current
            .cipher()
            .encrypt_inout_detached(
                &Nonce::from(nonce),
                &Self::aad(purpose, owner_sid, &key_id),
                buf.as_mut_slice().into(),
            )
            .expect("AES-GCM sealing a short secret cannot fail");
        let mut bytes = Vec::with_capacity(12 + buf.len() + TAG);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&buf);
        bytes.extend_from_slice(&tag);
        WrappedKey { key_id, bytes }
    }

    /// Opens what [`Keyring::seal`] sealed, under whichever known master key `key_id` names.
    pub fn open(
        &self,
        purpose: Purpose,
        owner_sid: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let master = self.find(key_id).ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        if wrapped.len() < 12 + TAG {
            return Err(CryptoError::Malformed);
        }
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| CryptoError::Malformed)?;
        let mut secret = wrapped[12..wrapped.len() - TAG].to_vec();
        let tag: [u8; TAG] = wrapped[wrapped.len() - TAG..].try_into().map_err(|_| CryptoError::Malformed)?;
        master
            .cipher()
            .decrypt_inout_detached(
                &Nonce::from(nonce),
                &Self::aad(purpose, owner_sid, key_id),
                secret.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| CryptoError::Integrity)?;
        Ok(secret)
    }

    /// Re-seals under the current master key (rotation).
    pub fn reseal(
        &self,
        purpose: Purpose,
        owner_sid: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<WrappedKey, CryptoError> {
        let secret = self.open(purpose, owner_sid, key_id, wrapped)?;
        Ok(self.seal(purpose, owner_sid, &secret))
    }

    /// Seals a media's data key, bound to the media SID.
    pub fn wrap(&self, media_sid: &str, data_key: &SecretKey) -> WrappedKey {
        self.seal(Purpose::DataKey, media_sid, data_key.expose())
    }

    pub fn unwrap(&self, media_sid: &str, key_id: &str, wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let bytes = self.open(Purpose::DataKey, media_sid, key_id, wrapped)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(SecretKey(key))
    }

    pub fn rewrap(&self, media_sid: &str, key_id: &str, wrapped: &[u8]) -> Result<WrappedKey, CryptoError> {
        self.reseal(Purpose::DataKey, media_sid, key_id, wrapped)
    }
}

/// What a secret sealed under the master key is for: bound into the seal,
/// so a sealed value cannot be moved to another use or another owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A media's data key (owner: the media SID).
    DataKey,
    /// An API key's secret, needed to verify access tokens (owner: the key SID).
    ApiKeySecret,
    /// An account's Auth Token, needed to sign webhook requests (owner: the account SID).
    AuthToken,
    /// A push credential's certificate, private key and secrets (owner: the credential SID).
    PushCredential,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::DataKey => "confab data key",
            Purpose::ApiKeySecret => "confab api key secret",
            Purpose::AuthToken => "confab auth token",
            Purpose::PushCredential => "confab push credential",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_takes_anothers_keys_but_keeps_its_current_one() {
        let (a, b, c) = (SecretKey::random(), SecretKey::random(), SecretKey::random());
        let in_use = Keyring::new(a.clone(), vec![b.clone()]);
        let from_file = Keyring::new(c.clone(), vec![a.clone()]);
        let merged = in_use.with_others(&from_file);
        assert_eq!(merged.current_id(), a.id());
        assert_eq!(merged.ids(), vec![a.id(), b.id(), c.id()]);
        assert_eq!(from_file.with_current(&a.id()).unwrap().current_id(), a.id());
        assert!(from_file.with_current(&b.id()).is_none());
    }

    #[test]
    fn wrapped_keys_need_the_right_master_and_media() {
        let old = SecretKey::random();
        let new = SecretKey::random();
        let ring = Keyring::new(old.clone(), vec![]);
        let data_key = SecretKey::random();
        let w = ring.wrap("ME1", &data_key);
        assert_eq!(w.key_id, old.id());
        assert_eq!(ring.unwrap("ME1", &w.key_id, &w.bytes).unwrap().expose(), data_key.expose());
        assert!(matches!(ring.unwrap("ME2", &w.key_id, &w.bytes), Err(CryptoError::Integrity)));

        // Rotation: the new ring still opens old rows through `previous`, and
        // rewrap moves them under the new key.
        let rotated = Keyring::new(new.clone(), vec![old]);
        let r = rotated.rewrap("ME1", &w.key_id, &w.bytes).unwrap();
        assert_eq!(r.key_id, new.id());
        let only_new = Keyring::new(new, vec![]);
        assert_eq!(only_new.unwrap("ME1", &r.key_id, &r.bytes).unwrap().expose(), data_key.expose());
        assert!(matches!(only_new.unwrap("ME1", &w.key_id, &w.bytes), Err(CryptoError::UnknownKey(_))));
    }
}
