//! Objects in an object store (S3-compatible, memory): small ones go up in
//! one `put`, larger ones as a multipart upload of whole parts, aborted on
//! any failure and also when the writer is dropped unfinished (the client
//! went away mid-request), so no part is left behind to be billed.
//!
//! The upload's id is known from its first part on ([`PartWriter::multipart_id`]):
//! the upload records it with its media row, so that when the process dies
//! mid-upload (nothing in memory runs then) the collector aborts it later
//! (src/background/collector.rs).

use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::task::JoinSet;

/// Bytes per part: 5 × 1,048,832 (five sealed 1 MiB batches), just over
/// S3's 5 MiB minimum part size. Every part but the last has exactly this
/// size (some stores require equal parts).
pub const PART: usize = 5 * 16 * crate::storage::sealed::SEALED_CHUNK;
/// Parts uploading at once per object (besides the one being filled).
const PARTS_IN_FLIGHT: usize = 2;

/// Writes one new object in parts.
pub struct PartWriter {
    store: Arc<dyn ObjectStore>,
    parts: Arc<dyn MultipartStore>,
    path: Path,
    /// Pieces not yet handed over (less than one part).
    pending: Vec<Bytes>,
    pending_len: usize,
    upload: Option<Upload>,
}

/// A multipart upload in progress: aborted when dropped before it completed.
struct Upload {
    parts: Arc<dyn MultipartStore>,
    path: Path,
    id: MultipartId,
    /// Parts going up, each a task of its own: they proceed while the
    /// request reads the next part's bytes (a future no one polls would
    /// not, and its request timeout would run meanwhile). Dropping the set
    /// cancels them.
    in_flight: JoinSet<(usize, object_store::Result<PartId>)>,
    /// The parts that went up, by index.
    done: Vec<Option<PartId>>,
    /// Completed or aborted: nothing to clean up.
    closed: bool,
}

impl PartWriter {
    pub fn new(store: Arc<dyn ObjectStore>, parts: Arc<dyn MultipartStore>, path: Path) -> PartWriter {
        PartWriter { store, parts, path, pending: Vec::new(), pending_len: 0, upload: None }
    }

    /// The multipart upload's id, once its first part is on its way.
    pub fn multipart_id(&self) -> Option<&str> {
        self.upload.as_ref().map(|u| u.id.as_str())
    }

    /// Queues a piece; each part's worth goes to the store.
    pub async fn write(&mut self, piece: Bytes) -> object_store::Result<()> {
        self.pending_len += piece.len();
        self.pending.push(piece);
        while self.pending_len >= PART {
            let part = self.take_part();
            if self.upload.is_none() {
                let id = self.parts.create_multipart(&self.path).await?;
                self.upload = Some(Upload {
                    parts: self.parts.clone(),
                    path: self.path.clone(),
                    id,
                    in_flight: JoinSet::new(),
                    done: Vec::new(),
                    closed: false,
                });
            }
            let upload = self.upload.as_mut().expect("just made");
            while upload.in_flight.len() >= PARTS_IN_FLIGHT {
                upload.collect_one().await?;
            }
            upload.send(part);
        }
        Ok(())
    }

    /// Exactly [`PART`] bytes from the front of `pending` (pieces split
    /// without copying).
    fn take_part(&mut self) -> PutPayload {
        let mut part = Vec::new();
        let mut need = PART;
        while need > 0 {
            let piece = self.pending.remove(0);
            if piece.len() <= need {
                need -= piece.len();
                part.push(piece);
            } else {
                part.push(piece.slice(..need));
                self.pending.insert(0, piece.slice(need..));
                need = 0;
            }
        }
        self.pending_len -= PART;
        part.into_iter().collect()
    }

    /// Completes the object; on failure, aborts it.
    pub async fn finish(mut self) -> object_store::Result<()> {
        let rest: PutPayload = std::mem::take(&mut self.pending).into_iter().collect();
        let Some(mut upload) = self.upload.take() else {
            self.store.put(&self.path, rest).await?;
            return Ok(());
        };
        if self.pending_len > 0 {
            upload.send(rest);
        }
        match upload.complete().await {
            Ok(()) => Ok(()),
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }

    /// Gives the object up: a multipart upload is aborted. `false` if that
    /// failed (the upload may still be open).
    pub async fn abort(mut self) -> bool {
        match self.upload.take() {
            Some(mut upload) => upload.abort().await,
            None => true,
        }
    }
}

impl Upload {
    fn send(&mut self, part: PutPayload) {
        let index = self.done.len();
        self.done.push(None);
        let (parts, path, id) = (self.parts.clone(), self.path.clone(), self.id.clone());
        self.in_flight.spawn(async move { (index, parts.put_part(&path, &id, index, part).await) });
    }

    /// Waits for the parts in flight, then completes the upload.
    async fn complete(&mut self) -> object_store::Result<()> {
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        let parts = self.done.iter_mut().map(|p| p.take().expect("every part went up")).collect();
        self.parts.complete_multipart(&self.path, &self.id, parts).await?;
        self.closed = true;
        Ok(())
    }

    /// Aborts the upload now; `false` if that failed.
    async fn abort(&mut self) -> bool {
        self.in_flight.abort_all();
        self.closed = true;
        match self.parts.abort_multipart(&self.path, &self.id).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path, "aborting a multipart upload failed");
                false
            }
        }
    }

    /// Waits for one part in flight to go up.
    async fn collect_one(&mut self) -> object_store::Result<()> {
        if let Some(joined) = self.in_flight.join_next().await {
            let (index, sent) = joined.map_err(|e| object_store::Error::Generic {
                store: "multipart",
                source: format!("a part's upload task failed: {e}").into(),
            })?;
            self.done[index] = Some(sent?);
        }
        Ok(())
    }
}

/// A request future dropped mid-upload (or while completing) would take
/// the open upload, whose parts S3 keeps and bills, with it: abort it.
impl Drop for Upload {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let (parts, path, id) = (self.parts.clone(), self.path.clone(), std::mem::take(&mut self.id));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = parts.abort_multipart(&path, &id).await {
                        tracing::warn!(error = %e, %path, "aborting an abandoned multipart upload failed");
                    }
                });
            }
            Err(_) => tracing::warn!(%path, "an abandoned multipart upload is left for the collector"),
        }
    }
}
