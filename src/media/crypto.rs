//! Encryption at rest for media.
//!
//! - Each media gets a fresh random 256-bit data key. The data key is stored
//!   wrapped (AES-256-GCM) under the master key, with the master key's id
//!   beside it so the master key can rotate by re-wrapping data keys only.
//!   The wrap binds the media SID: a wrapped key moved to another row fails.
//! - Content is cut into 64 KiB chunks, each sealed with AES-256-GCM in the
//!   STREAM construction: nonce = 7-byte random prefix ‖ 32-bit chunk counter
//!   ‖ last-chunk flag, associated data = the media SID. Reordered, dropped,
//!   truncated or appended chunks, or chunks from another media, fail to
//!   open, and a chunk that fails is never released.
//!
//! Stored object layout: chunk 0 ‖ chunk 1 ‖ … where every chunk is its
//! ciphertext followed by its 16-byte tag. Every chunk but the last holds
//! exactly [`CHUNK`] plaintext bytes; an empty media is one empty last chunk.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
pub const TAG: usize = 16;
/// Stored bytes per full chunk.
pub const SEALED_CHUNK: usize = CHUNK + TAG;
pub const NONCE_PREFIX: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("media content failed its integrity check")]
    Integrity,
    #[error("no master key with id {0} is configured")]
    UnknownKey(String),
    #[error("malformed wrapped data key")]
    Malformed,
}

fn random<const N: usize>() -> [u8; N] {
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

    fn cipher(&self) -> Aes256Gcm {
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
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::DataKey => "confab data key",
            Purpose::ApiKeySecret => "confab api key secret",
        }
    }
}

/// Chunks a media has: at least one (an empty media has one empty last chunk).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64).max(1)
}

/// Stored size of a media of `size` plaintext bytes.
pub fn sealed_size(size: u64) -> u64 {
    size + chunk_count(size) * TAG as u64
}

/// The content cipher of one media.
pub struct ContentCipher {
    cipher: Aes256Gcm,
    prefix: [u8; NONCE_PREFIX],
    aad: Vec<u8>,
}

impl ContentCipher {
    pub fn new(
        data_key: &SecretKey,
        nonce_prefix: &[u8],
        media_sid: &str,
    ) -> Result<ContentCipher, CryptoError> {
        Ok(ContentCipher {
            cipher: data_key.cipher(),
            prefix: nonce_prefix.try_into().map_err(|_| CryptoError::Malformed)?,
            aad: media_sid.as_bytes().to_vec(),
        })
    }

    pub fn random_prefix() -> [u8; NONCE_PREFIX] {
        random()
    }

    fn nonce(&self, counter: u64, last: bool) -> Result<Nonce<aes_gcm::aead::consts::U12>, CryptoError> {
        let counter = u32::try_from(counter).map_err(|_| CryptoError::Integrity)?;
        let mut n = [0u8; 12];
        n[..NONCE_PREFIX].copy_from_slice(&self.prefix);
        n[NONCE_PREFIX..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        Ok(Nonce::from(n))
    }

    /// Seals chunk `counter` in place and appends its tag.
    pub fn seal(&self, counter: u64, last: bool, chunk: &mut Vec<u8>) -> Result<(), CryptoError> {
        let len = chunk.len();
        chunk.resize(len + TAG, 0);
        let (body, tag) = chunk.split_at_mut(len);
        self.seal_into(counter, last, body, tag)
    }

    /// Seals `chunk` in place; the 16-byte tag is written to `tag`.
    pub fn seal_into(
        &self,
        counter: u64,
        last: bool,
        chunk: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        debug_assert!(chunk.len() <= CHUNK && tag.len() == TAG);
        let nonce = self.nonce(counter, last)?;
        let t = self
            .cipher
            .encrypt_inout_detached(&nonce, &self.aad, chunk.into())
            .map_err(|_| CryptoError::Integrity)?;
        tag.copy_from_slice(&t);
        Ok(())
    }

    /// Opens sealed chunk `counter`: `sealed` is its ciphertext followed by
    /// its tag; on success the first `len - 16` bytes hold the plaintext. On
    /// failure the buffer is wiped: nothing of a bad chunk is released.
    pub fn open_in_place(&self, counter: u64, last: bool, sealed: &mut [u8]) -> Result<usize, CryptoError> {
        if sealed.len() < TAG || sealed.len() > SEALED_CHUNK {
            sealed.iter_mut().for_each(|b| *b = 0);
            return Err(CryptoError::Integrity);
        }
        let nonce = self.nonce(counter, last)?;
        let split = sealed.len() - TAG;
        let (body, tag) = sealed.split_at_mut(split);
        let tag = Tag::try_from(&*tag).map_err(|_| CryptoError::Integrity)?;
        if self.cipher.decrypt_inout_detached(&nonce, &self.aad, body.into(), &tag).is_err() {
            sealed.iter_mut().for_each(|b| *b = 0);
            return Err(CryptoError::Integrity);
        }
        Ok(split)
    }

    /// Opens sealed chunk `counter` in place, leaving only its plaintext
    /// (nothing, on failure).
    pub fn open(&self, counter: u64, last: bool, sealed: &mut Vec<u8>) -> Result<(), CryptoError> {
        match self.open_in_place(counter, last, sealed) {
            Ok(len) => {
                sealed.truncate(len);
                Ok(())
            }
            Err(e) => {
                sealed.clear();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(cipher: &ContentCipher, data: &[u8]) -> Vec<Vec<u8>> {
        let n = chunk_count(data.len() as u64);
        (0..n)
            .map(|i| {
                let start = (i as usize * CHUNK).min(data.len());
                let end = (start + CHUNK).min(data.len());
                let mut c = data[start..end].to_vec();
                cipher.seal(i, i + 1 == n, &mut c).unwrap();
                c
            })
            .collect()
    }

    #[test]
    fn chunks_round_trip_and_bind_position_and_media() {
        let key = SecretKey::random();
        let prefix = ContentCipher::random_prefix();
        let cipher = ContentCipher::new(&key, &prefix, "ME1").unwrap();
        let data: Vec<u8> = (0..CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
        let chunks = sealed(&cipher, &data);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>() as u64, sealed_size(data.len() as u64));
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let mut c = c.clone();
            cipher.open(i as u64, i == 2, &mut c).unwrap();
            out.extend_from_slice(&c);
        }
        assert_eq!(out, data);

        // Swapped chunks, a non-final chunk presented as final (truncation),
        // a flipped bit, another media's SID: all refused, nothing released.
        let mut c = chunks[1].clone();
        assert!(cipher.open(0, false, &mut c).is_err());
        assert!(c.is_empty());
        let mut c = chunks[1].clone();
        assert!(cipher.open(1, true, &mut c).is_err());
        let mut c = chunks[0].clone();
        c[10] ^= 1;
        assert!(cipher.open(0, false, &mut c).is_err());
        let other = ContentCipher::new(&key, &prefix, "ME2").unwrap();
        let mut c = chunks[0].clone();
        assert!(other.open(0, false, &mut c).is_err());
    }

    #[test]
    fn empty_media_is_one_sealed_chunk() {
        assert_eq!(chunk_count(0), 1);
        assert_eq!(sealed_size(0), TAG as u64);
        assert_eq!(chunk_count(CHUNK as u64), 1);
        assert_eq!(chunk_count(CHUNK as u64 + 1), 2);
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
