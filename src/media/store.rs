//! Where encrypted media objects live: one object_store backend chosen at
//! start from `CONFAB_STORAGE_URL`, and the one place object keys are built.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::config::StorageUrl;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    describe: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl Storage {
    pub fn open(url: &StorageUrl) -> Result<Storage, String> {
        let (store, describe): (Arc<dyn ObjectStore>, String) = match url {
            StorageUrl::File(path) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let fs = LocalFileSystem::new_with_prefix(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?
                    .with_automatic_cleanup(true);
                (Arc::new(fs), format!("file://{}", path.display()))
            }
            StorageUrl::S3 { bucket, prefix } => {
                // Endpoint, region and credentials: the usual AWS_* variables
                // (AWS_ENDPOINT and AWS_ALLOW_HTTP=true for MinIO and friends).
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
                let describe = format!("s3://{bucket}/{prefix}");
                if prefix.is_empty() {
                    (Arc::new(s3), describe)
                } else {
                    (Arc::new(PrefixStore::new(s3, prefix.as_str())), describe)
                }
            }
            StorageUrl::Memory => (Arc::new(InMemory::new()), "memory://".into()),
        };
        Ok(Storage { store, describe })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object key of a media's content.
    pub fn media_key(media_sid: &str) -> String {
        format!("media/{media_sid}")
    }

    pub fn path(key: &str) -> Path {
        Path::from(key)
    }

    /// Deletes an object; one that is already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
