//! Object storage: a local folder or an S3-compatible bucket, behind `object_store`.
//!
//! Objects are written as a stream (multipart upload on S3, a staging file locally), so a file
//! is never held whole in memory, and read back as a stream of chunks.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::{Error, Result};

/// Bytes per multipart part (S3's minimum part size is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploading at once per object.
const PART_CONCURRENCY: usize = 2;

/// Where objects live.
#[derive(Clone)]
pub enum BlobConfig {
    /// A folder on the local disk (created if missing).
    Local { root: PathBuf },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        /// `None` for AWS itself; e.g. `http://127.0.0.1:9000` for MinIO.
        endpoint: Option<String>,
        region: String,
        access_key: String,
        secret_key: String,
    },
}

impl std::fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobConfig::Local { root } => f.debug_struct("Local").field("root", root).finish(),
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                ..
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .finish_non_exhaustive(),
        }
    }
}

/// The object store files are kept in.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({})", self.store)
    }
}

fn path(name: &str) -> Result<Path> {
    Path::parse(name).map_err(|e| Error::Config(format!("object name {name:?}: {e}")))
}

impl Blobs {
    pub fn open(config: &BlobConfig) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match config {
            BlobConfig::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| Error::Config(format!("cannot create {}: {e}", root.display())))?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(root)?
                        .with_automatic_cleanup(true),
                )
            }
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key,
                secret_key,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key)
                    .with_secret_access_key(secret_key);
                if let Some(ep) = endpoint {
                    b = b
                        .with_endpoint(ep)
                        .with_allow_http(ep.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                Arc::new(b.build()?)
            }
        };
        Ok(Blobs { store })
    }

    /// Starts a streamed write of the object `name`.
    pub async fn writer(&self, name: &str) -> Result<BlobWriter> {
        let upload = self.store.put_multipart(&path(name)?).await?;
        Ok(BlobWriter {
            inner: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
        })
    }

    /// Stores a small object in one request.
    pub async fn put(&self, name: &str, data: Vec<u8>) -> Result<()> {
        self.store
            .put(&path(name)?, PutPayload::from(Bytes::from(data)))
            .await?;
        Ok(())
    }

    /// The object's bytes as a stream of chunks.
    pub async fn get_stream(&self, name: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        match self.store.get(&path(name)?).await {
            Ok(r) => Ok(r.into_stream().map(|c| c.map_err(Error::from)).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole object (small objects only: thumbnails).
    pub async fn get_bytes(&self, name: &str) -> Result<Bytes> {
        match self.store.get(&path(name)?).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object; a missing object is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self.store.delete(&path(name)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A streamed object write. Dropping it without [`finish`](Self::finish) abandons the upload.
pub struct BlobWriter {
    inner: WriteMultipart,
}

impl BlobWriter {
    /// Queues bytes, waiting first while too many parts are in flight (bounded memory).
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner.wait_for_capacity(PART_CONCURRENCY).await?;
        self.inner.write(data);
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(self) -> Result<()> {
        self.inner.finish().await?;
        Ok(())
    }

    /// Abandons the upload (removes uploaded parts where the store supports it).
    pub async fn abort(self) {
        if let Err(e) = self.inner.abort().await {
            tracing::warn!(error = %e, "could not abort a multipart upload");
        }
    }
}
