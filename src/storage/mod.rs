//! Where encrypted media objects live: one object_store backend chosen at
//! start from `CONFAB_STORAGE_URL` (a local folder, an S3-compatible bucket,
//! memory), and the one place object keys are built. Only sealed chunks are
//! ever stored ([`sealed`]); [`ingest`] seals an upload as it arrives and
//! [`chunks`] opens a range of one as it is read.
//!
//! [`Storage::writer`] and [`Storage::read_range`] are the one API over
//! every backend: a local folder is written and read by [`local`] in large
//! pieces on the blocking pool, other stores by [`multipart`] uploads and
//! object_store's own reads.

pub mod chunks;
pub mod ingest;
mod local;
mod multipart;
pub mod sealed;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, MultipartId, ObjectStore, ObjectStoreExt, PutResult,
};

use crate::config::StorageUrl;

use local::LocalWriter;
use multipart::PartWriter;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The same store's multipart uploads (not a local folder's).
    parts: Option<Arc<dyn MultipartStore>>,
    describe: String,
    /// The folder of a `file://` store, whose new objects are fsynced once
    /// when complete (rather than per part by the store).
    root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl Storage {
    pub fn open(url: &StorageUrl) -> Result<Storage, String> {
        let root = match url {
            StorageUrl::File(path) => Some(path.clone()),
            _ => None,
        };
        type Stores = (Arc<dyn ObjectStore>, Option<Arc<dyn MultipartStore>>, String);
        let (store, parts, describe): Stores = match url {
            StorageUrl::File(path) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let fs = LocalFileSystem::new_with_prefix(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?
                    .with_automatic_cleanup(true);
                (Arc::new(fs), None, format!("file://{}", path.display()))
            }
            StorageUrl::S3 { bucket, prefix } => {
                // Endpoint, region and credentials: the usual AWS_* variables
                // (AWS_ENDPOINT and AWS_ALLOW_HTTP=true for MinIO and friends).
                let s3 = Arc::new(
                    object_store::aws::AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .build()
                        .map_err(|e| format!("S3 bucket {bucket}: {e}"))?,
                );
                let describe = format!("s3://{bucket}/{prefix}");
                if prefix.is_empty() {
                    (s3.clone(), Some(s3), describe)
                } else {
                    let parts = Prefixed { inner: s3.clone(), prefix: Path::from(prefix.as_str()) };
                    (Arc::new(PrefixStore::new(s3, prefix.as_str())), Some(Arc::new(parts)), describe)
                }
            }
            StorageUrl::Memory => {
                let memory = Arc::new(InMemory::new());
                (memory.clone(), Some(memory), "memory://".into())
            }
        };
        Ok(Storage { store, parts, describe, root })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The same storage through another store built around this one's (tests
    /// wrap it to count or fail requests); keys and local writes are unchanged.
    pub fn wrap(self, wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>) -> Storage {
        Storage { store: wrap(self.store), ..self }
    }

    /// The same storage with its multipart uploads going through another
    /// store (tests count them and inject faults).
    pub fn wrap_parts(
        self,
        wrap: impl FnOnce(Arc<dyn MultipartStore>) -> Arc<dyn MultipartStore>,
    ) -> Storage {
        Storage { parts: self.parts.map(wrap), ..self }
    }

    /// The object key of a media's content.
    pub fn media_key(media_sid: &str) -> String {
        format!("media/{media_sid}")
    }

    pub fn path(key: &str) -> Path {
        Path::from(key)
    }

    /// A streaming writer for a new object under `key`. Nothing appears
    /// under the key unless [`ObjectWriter::finish`] succeeds; a writer
    /// dropped unfinished cleans up after itself.
    pub fn writer(&self, key: &str) -> ObjectWriter {
        match (&self.root, &self.parts) {
            (Some(root), _) => ObjectWriter::Local(LocalWriter::start(root.join(key))),
            (None, Some(parts)) => {
                ObjectWriter::Parts(PartWriter::new(self.store.clone(), parts.clone(), Self::path(key)))
            }
            (None, None) => unreachable!("every store but a local folder takes multipart uploads"),
        }
    }

    /// Bytes `range` of the object `key`, with the object's whole size (so
    /// a caller can refuse a truncated or extended object before sending
    /// anything).
    pub async fn read_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<(u64, BoxStream<'static, object_store::Result<Bytes>>), object_store::Error> {
        let options = GetOptions { range: Some(GetRange::Bounded(range)), ..Default::default() };
        let result = self.store.get_opts(&Self::path(key), options).await?;
        let size = result.meta.size;
        let range = result.range.clone();
        let stream = match result.payload {
            // Local files: big windows on the blocking pool.
            GetResultPayload::File(file, _) => local::read_file(file, range),
            GetResultPayload::Stream(stream) => stream,
        };
        Ok((size, stream.boxed()))
    }

    /// Removes temporary files that uploads interrupted by a crash left in
    /// a local folder (older than `age`). Returns how many went.
    pub async fn remove_stale_partials(&self, age: std::time::Duration) -> std::io::Result<usize> {
        let Some(root) = self.root.clone() else {
            return Ok(0);
        };
        actix_web::web::block(move || {
            let dir = root.join("media");
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e),
            };
            let mut removed = 0;
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let is_partial = name.to_str().is_some_and(|n| n.starts_with('.') && n.ends_with(".part"));
                let old = entry.metadata()?.modified()?.elapsed().is_ok_and(|e| e > age);
                if is_partial && old && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Aborts the multipart upload `id` of the object `key` (one a process
    /// that died mid-upload left open); one already gone counts as aborted.
    pub async fn abort_upload(&self, key: &str, id: &str) -> Result<(), object_store::Error> {
        let Some(parts) = &self.parts else {
            return Ok(());
        };
        match parts.abort_multipart(&Self::path(key), &id.to_owned()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; one that is already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Multipart uploads under a key prefix, as `PrefixStore` does for the rest
/// (object_store's `PrefixStore` has no multipart API of its own).
#[derive(Debug)]
struct Prefixed<M> {
    inner: Arc<M>,
    prefix: Path,
}

impl<M> Prefixed<M> {
    fn full(&self, path: &Path) -> Path {
        self.prefix.parts().chain(path.parts()).collect()
    }
}

#[async_trait::async_trait]
impl<M: MultipartStore> MultipartStore for Prefixed<M> {
    async fn create_multipart(&self, path: &Path) -> object_store::Result<MultipartId> {
        self.inner.create_multipart(&self.full(path)).await
    }

    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: object_store::PutPayload,
    ) -> object_store::Result<PartId> {
        self.inner.put_part(&self.full(path), id, part_idx, data).await
    }

    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> object_store::Result<PutResult> {
        self.inner.complete_multipart(&self.full(path), id, parts).await
    }

    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
        self.inner.abort_multipart(&self.full(path), id).await
    }
}

/// A new object on its way into storage (see [`Storage::writer`]).
pub enum ObjectWriter {
    /// A local folder: a temporary file, fsynced and renamed when finished.
    Local(LocalWriter),
    /// Other stores: one `put`, or a multipart upload of whole parts.
    Parts(PartWriter),
}

/// Why a write to storage failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

impl ObjectWriter {
    /// The multipart upload's id, once one is open (recorded with the
    /// media row, so the collector can abort it after a crash).
    pub fn multipart_id(&self) -> Option<&str> {
        match self {
            ObjectWriter::Local(_) => None,
            ObjectWriter::Parts(w) => w.multipart_id(),
        }
    }

    pub async fn write(&mut self, piece: Bytes) -> Result<(), WriteError> {
        match self {
            ObjectWriter::Local(w) => Ok(w.write(piece).await?),
            ObjectWriter::Parts(w) => Ok(w.write(piece).await?),
        }
    }

    /// Makes the object durable under its key.
    pub async fn finish(self) -> Result<(), WriteError> {
        match self {
            ObjectWriter::Local(w) => Ok(w.commit().await?),
            ObjectWriter::Parts(w) => Ok(w.finish().await?),
        }
    }

    /// Gives the object up; returns once nothing of it is left, `false` if
    /// a multipart upload could not be aborted.
    pub async fn abort(self) -> bool {
        match self {
            ObjectWriter::Local(w) => {
                w.discard().await;
                true
            }
            ObjectWriter::Parts(w) => w.abort().await,
        }
    }
}
