//! [`BlobStore`]: where release artifacts live, content-addressed by their
//! SHA-256, and [`FsBlobStore`], the directory implementation.
//!
//! The metadata (version, platform, signature, yanked) lives in the
//! [`Store`](crate::store::Store); a blob store only keeps bytes under their
//! digest. The directory is the single-node default. For several nodes,
//! [`PgBlobStore`](crate::store::postgres::PgBlobStore) keeps the bytes in
//! PostgreSQL in 1 MiB chunks, so that every node serves every artifact;
//! nothing above the trait changes.

use std::fmt;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use aws_lc_rs::digest;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::domain::Sha256Digest;

/// Bytes read per step while storing an artifact.
const CHUNK: usize = 64 * 1024;

/// A readable range of a stored blob.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// An artifact as stored: its digest (its name) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    /// SHA-256 of the bytes.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob has this digest, or it is shorter than its release says.
    #[error("the release artifact is missing from storage")]
    Missing,
    /// The upload was larger than allowed; nothing was kept.
    #[error("the artifact is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Reading the upload or using the storage failed; nothing was kept.
    #[error("release storage failed: {0}")]
    Io(#[from] io::Error),
}

/// Content-addressed storage of release artifacts.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Stores everything `source` yields (at most `max_size` bytes) and
    /// returns its digest and size. The blob is durable when this returns;
    /// storing the same bytes twice keeps one copy.
    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_size: u64,
    ) -> Result<StoredBlob, BlobError>;

    /// Opens `len` bytes of the blob `sha256` from `offset`.
    async fn open(
        &self,
        sha256: &Sha256Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError>;

    /// Deletes a blob; a missing one is not an error.
    async fn delete(&self, sha256: &Sha256Digest) -> Result<(), BlobError>;
}

/// Blobs as files `DIR/<sha256 hex>`. Uploads are written to a temporary
/// file in the same directory, synced, then renamed into place, and the
/// directory is synced, so a crash leaves either the whole blob or none.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    dir: PathBuf,
}

impl FsBlobStore {
    /// A store in `dir`, created on the first [`put`](BlobStore::put).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsBlobStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, sha256: &Sha256Digest) -> PathBuf {
        self.dir.join(hex::encode(sha256))
    }

    async fn write_temp(
        &self,
        temp: &Path,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_size: u64,
    ) -> Result<StoredBlob, BlobError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp)
            .await?;
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut size = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = source.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > max_size {
                return Err(BlobError::TooLarge { limit: max_size });
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).await?;
        }
        file.sync_all().await?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(hash.finish().as_ref());
        Ok(StoredBlob { sha256, size })
    }
}

fn random_hex() -> Result<String, io::Error> {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| io::Error::other("the system random generator failed"))?;
    Ok(hex::encode(bytes))
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    // Makes the rename durable; not every platform can open a directory.
    match File::open(dir).await {
        Ok(d) => d.sync_all().await.or(Ok(())),
        Err(_) => Ok(()),
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_size: u64,
    ) -> Result<StoredBlob, BlobError> {
        fs::create_dir_all(&self.dir).await?;
        let temp = self.dir.join(format!(".upload-{}.tmp", random_hex()?));
        let stored = match self.write_temp(&temp, source, max_size).await {
            Ok(stored) => stored,
            Err(e) => {
                let _ = fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        let target = self.path(&stored.sha256);
        let renamed = fs::rename(&temp, &target).await;
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp).await;
            return Err(e.into());
        }
        sync_dir(&self.dir).await?;
        Ok(stored)
    }

    async fn open(
        &self,
        sha256: &Sha256Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError> {
        let mut file = match File::open(self.path(sha256)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::Missing),
            Err(e) => return Err(e.into()),
        };
        let available = file.metadata().await?.len();
        if offset.checked_add(len).is_none_or(|end| end > available) {
            return Err(BlobError::Missing);
        }
        file.seek(SeekFrom::Start(offset)).await?;
        Ok(Box::pin(file.take(len)))
    }

    async fn delete(&self, sha256: &Sha256Digest) -> Result<(), BlobError> {
        match fs::remove_file(self.path(sha256)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_reads_ranges_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::new(dir.path().join("releases"));
        let body = b"hello, release".to_vec();
        let stored = blobs.put(&mut &body[..], 1024).await.unwrap();
        assert_eq!(stored.size, body.len() as u64);
        assert_eq!(
            hex::encode(stored.sha256),
            hex::encode(digest::digest(&digest::SHA256, &body).as_ref())
        );
        // The same bytes again: one copy, same name.
        assert_eq!(blobs.put(&mut &body[..], 1024).await.unwrap(), stored);
        let mut part = String::new();
        blobs
            .open(&stored.sha256, 7, 7)
            .await
            .unwrap()
            .read_to_string(&mut part)
            .await
            .unwrap();
        assert_eq!(part, "release");
        assert!(matches!(
            blobs.open(&stored.sha256, 7, 8).await,
            Err(BlobError::Missing)
        ));
        blobs.delete(&stored.sha256).await.unwrap();
        blobs.delete(&stored.sha256).await.unwrap();
        assert!(matches!(
            blobs.open(&stored.sha256, 0, 1).await,
            Err(BlobError::Missing)
        ));
    }

    #[tokio::test]
    async fn oversized_uploads_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::new(dir.path());
        let body = vec![7u8; 200_000];
        let err = blobs.put(&mut &body[..], 100_000).await.unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: 100_000 }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
