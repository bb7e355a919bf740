//! How media content is stored: cut into 64 KiB chunks, each sealed with
//! AES-256-GCM under the media's own data key in the STREAM construction:
//! nonce = 7-byte random prefix ‖ 32-bit chunk counter ‖ last-chunk flag,
//! associated data = the media SID. Reordered, dropped, truncated or
//! appended chunks, or chunks from another media, fail to open, and a chunk
//! that fails is never released.
//!
//! Stored object layout: chunk 0 ‖ chunk 1 ‖ … where every chunk is its
//! ciphertext followed by its 16-byte tag. Every chunk but the last holds
//! exactly [`CHUNK`] plaintext bytes; an empty media is one empty last chunk.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce, Tag};

pub use crate::keys::keyring::TAG;
use crate::keys::keyring::{CryptoError, SecretKey, random};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Stored bytes per full chunk.
pub const SEALED_CHUNK: usize = CHUNK + TAG;
pub const NONCE_PREFIX: usize = 7;

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
    #[cfg(test)]
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
    #[cfg(test)]
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
    use crate::keys::keyring::SecretKey;

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
}
