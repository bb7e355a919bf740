//! Reading a stored media back: the sealed chunks covering a plaintext
//! range are fetched and opened, and only the range is yielded. A chunk
//! that fails its integrity check is never released.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::Storage;
use super::sealed::{CHUNK, ContentCipher, SEALED_CHUNK, TAG, chunk_count, sealed_size};

/// Chunks opened per blocking task.
const WINDOW_CHUNKS: u64 = 16;
/// Windows being opened at once: the next is read while earlier ones decrypt.
const WINDOWS_IN_FLIGHT: usize = 2;

type Opening = actix_web::rt::task::JoinHandle<Result<Bytes, ReadError>>;

/// Reads sealed chunks of one object and yields the plaintext of a range.
///
/// Chunks are opened in windows of [`WINDOW_CHUNKS`] on the blocking pool,
/// so decryption neither runs on an async worker nor limits a download to
/// one core.
pub struct ChunkReader {
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    cipher: Arc<ContentCipher>,
    /// Sealed bytes received and not yet handed to a window; chunks are
    /// split off the front without copying the rest.
    buffer: BytesMut,
    /// Next chunk to schedule; the range's last chunk; the media's last chunk.
    next: u64,
    end_chunk: u64,
    last: u64,
    size: u64,
    /// Plaintext range to yield: `[start, end)`.
    start: u64,
    end: u64,
    opening: VecDeque<Opening>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("stored object is damaged: {0}")]
    Damaged(String),
    #[error("worker: {0}")]
    Worker(String),
}

impl ChunkReader {
    /// Starts reading plaintext bytes `start..start + length` of the media
    /// of `size` bytes stored under `key`. A missing object, or one whose
    /// stored size is not what `size` seals to (truncated or extended), is
    /// refused before anything is read.
    pub async fn open(
        storage: &Storage,
        key: &str,
        size: u64,
        cipher: ContentCipher,
        start: u64,
        length: u64,
    ) -> Result<ChunkReader, ReadError> {
        let first = start / CHUNK as u64;
        let last_needed = if length == 0 { first } else { (start + length - 1) / CHUNK as u64 };
        let sealed_start = first * SEALED_CHUNK as u64;
        let sealed_end = ((last_needed + 1) * SEALED_CHUNK as u64).min(sealed_size(size));
        let (stored, stream) =
            storage.read_range(key, sealed_start..sealed_end).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    ReadError::Damaged(format!("object {key} is missing"))
                }
                other => ReadError::Storage(other),
            })?;
        if stored != sealed_size(size) {
            return Err(ReadError::Damaged(format!(
                "object {key} is {stored} bytes, expected {}",
                sealed_size(size)
            )));
        }
        Ok(ChunkReader {
            stream,
            cipher: Arc::new(cipher),
            buffer: BytesMut::new(),
            next: first,
            end_chunk: last_needed,
            last: chunk_count(size) - 1,
            size,
            start,
            end: start + length,
            opening: VecDeque::new(),
        })
    }

    fn sealed_len(&self, index: u64) -> usize {
        if index < self.last { SEALED_CHUNK } else { (self.size - self.last * CHUNK as u64) as usize + TAG }
    }

    /// Reads the next window's sealed bytes and starts opening them.
    async fn schedule(&mut self) -> Result<(), ReadError> {
        let first = self.next;
        let last = (first + WINDOW_CHUNKS - 1).min(self.end_chunk);
        let lens: Vec<usize> = (first..=last).map(|i| self.sealed_len(i)).collect();
        let want: usize = lens.iter().sum();
        while self.buffer.len() < want {
            match self.stream.next().await {
                Some(bytes) => self.buffer.extend_from_slice(&bytes?),
                None => return Err(ReadError::Damaged("object ended early".into())),
            }
        }
        let mut window = self.buffer.split_to(want);
        self.next = last + 1;
        let (cipher, media_last) = (self.cipher.clone(), self.last);
        // The part of the requested range this window holds.
        let from = self.start.saturating_sub(first * CHUNK as u64) as usize;
        let upto = (self.end - first * CHUNK as u64) as usize;
        self.opening.push_back(actix_web::rt::task::spawn_blocking(move || {
            // Open each chunk in place, then close the gaps the tags leave.
            let mut plain_len = 0;
            let mut at = 0;
            for (i, len) in (first..=last).zip(lens) {
                let n = cipher
                    .open_in_place(i, i == media_last, &mut window[at..at + len])
                    .map_err(|e| ReadError::Damaged(e.to_string()))?;
                window.copy_within(at..at + n, plain_len);
                plain_len += n;
                at += len;
            }
            window.truncate(plain_len);
            let upto = upto.min(plain_len);
            Ok(window.freeze().slice(from.min(upto)..upto))
        }));
        Ok(())
    }

    /// The next piece of plaintext, `None` at the end of the range. (An
    /// empty media still has its one empty chunk: it is opened too, since its
    /// tag is all that proves the object intact.)
    pub async fn next_piece(&mut self) -> Result<Option<Bytes>, ReadError> {
        while self.opening.len() < WINDOWS_IN_FLIGHT && self.next <= self.end_chunk {
            self.schedule().await?;
        }
        match self.opening.pop_front() {
            Some(opening) => Ok(Some(opening.await.map_err(|e| ReadError::Worker(e.to_string()))??)),
            None => Ok(None),
        }
    }
}
