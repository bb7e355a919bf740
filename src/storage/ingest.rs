//! Streaming ingest: bytes are counted, sealed in 64 KiB chunks (GHASH
//! hashing each one as it is encrypted) and handed to the object store as
//! they arrive, so an upload holds a bounded amount of memory whatever its
//! size.
//!
//! Plaintext is gathered into 1 MiB batches. Each batch is sealed on the
//! blocking pool, batches in parallel, while the request keeps streaming the
//! next one in: crypto never runs on an async worker and the upload is not
//! limited by one core. Sealed batches are handed to the object's
//! [`ObjectWriter`] without further copies; it is aborted on any failure,
//! and also when the ingest is dropped unfinished (the client went away
//! mid-request).
//!
//! The object's digest (its ETag) is SHA-256 over the chunks' GCM tags, in
//! order, not over the plaintext. GHASH already hashed every byte under the
//! media's own key, so the tags pin down the stored content, and hashing 16
//! bytes per 64 KiB costs nothing; a second pass over the plaintext (SHA-256,
//! then BLAKE3 was tried) cost a sixth of an upload's CPU. And a plaintext
//! digest in the database would let anyone holding a copy of it, but not the
//! master key, confirm that a known file had been uploaded; the tags reveal
//! nothing without the data key. The digest can also be
//! recomputed from a stored object alone, with no key, to audit storage.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::keys::keyring::CryptoError;

use super::sealed::{CHUNK, ContentCipher, SEALED_CHUNK, TAG};
use super::{ObjectWriter, Storage, WriteError};

impl IngestError {
    /// The store has no room left (a full disk or quota on the local folder).
    pub fn is_storage_full(&self) -> bool {
        let IngestError::Write(WriteError::Io(e)) = self else {
            return false;
        };
        e.kind() == std::io::ErrorKind::StorageFull
            || e.kind() == std::io::ErrorKind::QuotaExceeded
            || e.raw_os_error() == Some(libc::ENOSPC)
    }
}

/// Chunks per batch handed to the blocking pool.
const BATCH_CHUNKS: usize = 16;
const BATCH: usize = BATCH_CHUNKS * CHUNK;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the media is larger than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("encryption: {0}")]
    Crypto(#[from] CryptoError),
    #[error("worker: {0}")]
    Worker(String),
}

/// Batches being sealed at once (each on the blocking pool).
const SEALING: usize = 3;

type Sealing = actix_web::rt::task::JoinHandle<Result<Bytes, CryptoError>>;

/// One media's content on its way into storage.
pub struct Ingest {
    cipher: Arc<ContentCipher>,
    max: u64,
    /// Plaintext not yet handed to a batch, as received (no copy yet).
    plain: Vec<Bytes>,
    plain_len: usize,
    /// Index of the first chunk of the next batch.
    counter: u64,
    size: u64,
    /// SHA-256 over the tags of the chunks written so far.
    digest: Sha256,
    /// Batches being sealed, oldest first.
    sealing: std::collections::VecDeque<Sealing>,
    /// Where sealed batches go; `None` once finished or aborted.
    writer: Option<ObjectWriter>,
}

/// What a completed ingest stored.
pub struct Stored {
    pub size: u64,
    /// [`DIGEST_PREFIX`] and the hex SHA-256 of the object's tags: its ETag.
    pub digest: String,
}

/// Names what a stored digest covers (the concatenated GCM tags of the
/// object's chunks, in order), should another kind ever be added.
pub const DIGEST_PREFIX: &str = "tags-sha256:";

fn worker_error(e: impl std::fmt::Display) -> IngestError {
    IngestError::Worker(e.to_string())
}

impl Ingest {
    pub fn new(storage: &Storage, key: &str, cipher: ContentCipher, max: u64) -> Ingest {
        Ingest {
            writer: Some(storage.writer(key)),
            cipher: Arc::new(cipher),
            max,
            plain: Vec::new(),
            plain_len: 0,
            counter: 0,
            size: 0,
            digest: Sha256::new(),
            sealing: std::collections::VecDeque::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The object's multipart upload id, once one is open.
    pub fn multipart_id(&self) -> Option<&str> {
        self.writer.as_ref().and_then(ObjectWriter::multipart_id)
    }

    /// Takes the next bytes of the content.
    pub async fn push(&mut self, mut data: Bytes) -> Result<(), IngestError> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(IngestError::TooLarge(self.max));
        }
        while !data.is_empty() {
            // A full batch is sealed only once more data shows its last chunk
            // is not the media's last.
            if self.plain_len == BATCH {
                self.dispatch(false).await?;
            }
            let piece = data.split_to((BATCH - self.plain_len).min(data.len()));
            self.plain_len += piece.len();
            self.plain.push(piece);
        }
        Ok(())
    }

    /// Hands the gathered plaintext to a sealing task (after writing out the
    /// oldest sealed batch if enough are busy).
    async fn dispatch(&mut self, last: bool) -> Result<(), IngestError> {
        if self.sealing.len() >= SEALING {
            self.collect_oldest().await?;
        }
        let batch = std::mem::take(&mut self.plain);
        let len = std::mem::take(&mut self.plain_len);
        let chunks = len.div_ceil(CHUNK).max(1);
        let first = self.counter;
        self.counter += chunks as u64;

        let cipher = self.cipher.clone();
        self.sealing.push_back(actix_web::rt::task::spawn_blocking(move || {
            // The plaintext is copied once, from the received pieces into its
            // place in the sealed batch, and each chunk sealed there.
            let mut out = Vec::with_capacity(len + chunks * TAG);
            let mut pieces = batch.iter().flat_map(|piece| piece.chunks(CHUNK));
            let mut carry: &[u8] = &[];
            let mut tag = [0u8; TAG];
            for i in 0..chunks {
                let chunk_len = (len - i * CHUNK).min(CHUNK);
                let at = out.len();
                while out.len() - at < chunk_len {
                    if carry.is_empty() {
                        match pieces.next() {
                            Some(piece) => carry = piece,
                            None => return Err(CryptoError::Integrity),
                        }
                    }
                    let take = carry.len().min(chunk_len - (out.len() - at));
                    out.extend_from_slice(&carry[..take]);
                    carry = &carry[take..];
                }
                cipher.seal_into(first + i as u64, last && i + 1 == chunks, &mut out[at..], &mut tag)?;
                out.extend_from_slice(&tag);
            }
            Ok(Bytes::from(out))
        }));
        Ok(())
    }

    /// Waits for the oldest batch being sealed and passes it on.
    async fn collect_oldest(&mut self) -> Result<(), IngestError> {
        let Some(sealing) = self.sealing.pop_front() else {
            return Ok(());
        };
        let sealed = sealing.await.map_err(worker_error)??;
        // Every chunk of a batch is full but the media's last, so the tags
        // sit at the end of each SEALED_CHUNK step.
        for chunk in sealed.chunks(SEALED_CHUNK) {
            self.digest.update(&chunk[chunk.len() - TAG..]);
        }
        self.write(sealed).await
    }

    /// Hands a sealed batch to the object's writer.
    async fn write(&mut self, sealed: Bytes) -> Result<(), IngestError> {
        match self.writer.as_mut() {
            Some(writer) => Ok(writer.write(sealed).await?),
            None => Err(IngestError::Worker("the object is already closed".into())),
        }
    }

    /// Seals the last chunk and completes the object; on failure, aborts
    /// (nothing of the object stays behind).
    pub async fn finish(mut self) -> Result<Stored, IngestError> {
        match self.complete().await {
            Ok(stored) => Ok(stored),
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn complete(&mut self) -> Result<Stored, IngestError> {
        self.dispatch(true).await?;
        while !self.sealing.is_empty() {
            self.collect_oldest().await?;
        }
        if let Some(writer) = self.writer.take() {
            writer.finish().await?;
        }
        let hex: String =
            std::mem::take(&mut self.digest).finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Stored { size: self.size, digest: format!("{DIGEST_PREFIX}{hex}") })
    }

    /// Gives up: nothing of the object is left behind. (Dropping an
    /// `Ingest` does the same, in the background.)
    pub async fn abort(mut self) -> bool {
        match self.writer.take() {
            Some(writer) => writer.abort().await,
            None => true,
        }
    }
}
