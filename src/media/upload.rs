//! Streaming ingest: bytes are counted, hashed, sealed in 64 KiB chunks and
//! handed to the object store as they arrive, so an upload holds at most a
//! couple of object-store parts in memory whatever its size.
//!
//! Small objects (under one part) go up in one `put`; larger ones as a
//! multipart upload with at most two parts in flight, aborted on any failure.

use bytes::BytesMut;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::crypto::{CHUNK, ContentCipher, CryptoError};
use super::store::Storage;

/// Object-store part size (S3's minimum for all but the last part).
const PART: usize = 5 * 1024 * 1024;
/// Parts uploading at once per upload.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the media is larger than {0} bytes")]
    TooLarge(u64),
    #[error("storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("encryption: {0}")]
    Crypto(#[from] CryptoError),
}

/// One media's content on its way into storage.
pub struct Ingest {
    storage: Storage,
    path: Path,
    cipher: ContentCipher,
    max: u64,
    plain: Vec<u8>,
    counter: u64,
    size: u64,
    hasher: Sha256,
    /// Sealed bytes not yet handed to the store (until a part is full).
    pending: BytesMut,
    upload: Option<WriteMultipart>,
}

/// What a completed ingest stored.
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

impl Ingest {
    pub fn new(storage: Storage, key: &str, cipher: ContentCipher, max: u64) -> Ingest {
        Ingest {
            path: Storage::path(key),
            storage,
            cipher,
            max,
            plain: Vec::with_capacity(CHUNK),
            counter: 0,
            size: 0,
            hasher: Sha256::new(),
            pending: BytesMut::new(),
            upload: None,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the content.
    pub async fn push(&mut self, mut data: &[u8]) -> Result<(), IngestError> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(IngestError::TooLarge(self.max));
        }
        self.hasher.update(data);
        while !data.is_empty() {
            // A full chunk is sealed only once more data shows it is not the last.
            if self.plain.len() == CHUNK {
                self.seal(false).await?;
            }
            let take = (CHUNK - self.plain.len()).min(data.len());
            self.plain.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    async fn seal(&mut self, last: bool) -> Result<(), IngestError> {
        let mut chunk = std::mem::replace(&mut self.plain, Vec::with_capacity(if last { 0 } else { CHUNK }));
        self.cipher.seal(self.counter, last, &mut chunk)?;
        self.counter += 1;
        self.pending.extend_from_slice(&chunk);
        if self.pending.len() >= PART {
            let upload = match self.upload.as_mut() {
                Some(u) => u,
                None => {
                    let handle = self.storage.store().put_multipart(&self.path).await?;
                    self.upload.insert(WriteMultipart::new_with_chunk_size(handle, PART))
                }
            };
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            upload.put(self.pending.split().freeze());
        }
        Ok(())
    }

    /// Seals the last chunk and completes the object.
    pub async fn finish(mut self) -> Result<Stored, IngestError> {
        self.seal(true).await?;
        let rest = self.pending.split().freeze();
        match self.upload.take() {
            None => {
                self.storage.store().put(&self.path, PutPayload::from(rest)).await?;
            }
            Some(mut upload) => {
                if !rest.is_empty() {
                    upload.put(rest);
                }
                if let Err(e) = upload.finish().await {
                    return Err(e.into());
                }
            }
        }
        let sha256 = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Stored { size: self.size, sha256 })
    }

    /// Gives up: aborts a multipart upload so no part is left behind.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, path = %self.path, "aborting a multipart upload failed");
        }
    }

    /// Takes the multipart upload out, for aborting from a drop guard.
    pub fn take_upload(&mut self) -> Option<WriteMultipart> {
        self.upload.take()
    }
}
