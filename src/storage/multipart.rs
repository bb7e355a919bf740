//! Objects in an object store (S3-compatible, memory): small ones go up in
//! one `put`, larger ones as a multipart upload of whole parts, aborted on
//! any failure and also when the writer is dropped unfinished (the client
//! went away mid-request), so no part is left behind to be billed.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutResult, UploadPart, WriteMultipart,
};

/// Bytes per part: 5 × 1,048,832 (five sealed 1 MiB batches), just over
/// S3's 5 MiB minimum part size.
pub const PART: usize = 5 * 16 * crate::storage::sealed::SEALED_CHUNK;
/// Parts uploading at once per object (besides the one being filled).
const PARTS_IN_FLIGHT: usize = 2;

/// Writes one new object in parts.
pub struct PartWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Pieces not yet handed over (less than one part).
    pending: Vec<Bytes>,
    pending_len: usize,
    upload: Option<WriteMultipart>,
}

impl PartWriter {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> PartWriter {
        PartWriter { store, path, pending: Vec::new(), pending_len: 0, upload: None }
    }

    /// Queues a piece; a part's worth goes to the store.
    pub async fn write(&mut self, piece: Bytes) -> object_store::Result<()> {
        self.pending_len += piece.len();
        self.pending.push(piece);
        if self.pending_len < PART {
            return Ok(());
        }
        let upload = match self.upload.as_mut() {
            Some(u) => u,
            None => {
                let handle = self.store.put_multipart(&self.path).await?;
                let handle = AbortOnDrop { upload: Some(handle), path: self.path.clone() };
                self.upload.insert(WriteMultipart::new_with_chunk_size(Box::new(handle), PART))
            }
        };
        upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        for piece in self.pending.drain(..) {
            upload.put(piece);
        }
        self.pending_len = 0;
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(mut self) -> object_store::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        match self.upload.take() {
            None => {
                self.store.put(&self.path, rest.into_iter().collect::<PutPayload>()).await?;
            }
            Some(mut upload) => {
                for piece in rest {
                    upload.put(piece);
                }
                upload.finish().await?;
            }
        }
        Ok(())
    }

    /// Gives the object up: a multipart upload is aborted.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, path = %self.path, "aborting a multipart upload failed");
        }
    }
}

/// A multipart upload that aborts itself if dropped before it completed or
/// was aborted. `WriteMultipart::finish` consumes its upload, so a request
/// future dropped while completing would otherwise take the open upload
/// (and its parts, which S3 keeps and bills) with it.
#[derive(Debug)]
struct AbortOnDrop {
    upload: Option<Box<dyn MultipartUpload>>,
    path: Path,
}

fn upload_closed() -> object_store::Error {
    object_store::Error::Generic { store: "multipart", source: "the upload is already closed".into() }
}

#[async_trait::async_trait]
impl MultipartUpload for AbortOnDrop {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match self.upload.as_mut() {
            Some(upload) => upload.put_part(data),
            None => Box::pin(async { Err(upload_closed()) }),
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let done = self.upload.as_mut().ok_or_else(upload_closed)?.complete().await?;
        self.upload = None;
        Ok(done)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        let aborted = upload.abort().await;
        self.upload = None;
        aborted
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        let path = std::mem::replace(&mut self.path, Path::from(""));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = upload.abort().await {
                        tracing::warn!(error = %e, %path, "aborting an abandoned multipart upload failed");
                    }
                });
            }
            Err(_) => tracing::warn!(%path, "a multipart upload was abandoned with no runtime to abort it"),
        }
    }
}
