//! [`PgBlobStore`]: release artifacts in the database (`release_blobs` and
//! `release_blob_chunks`), so that every node serves every artifact without
//! a shared directory.
//!
//! An upload is written in one transaction: its bytes in chunks of
//! [`CHUNK_BYTES`] under a fresh blob id, then the row naming the blob by
//! its digest (known only at the end). Either every chunk is committed with
//! that row or nothing is; the same bytes uploaded again, or by two nodes at
//! once, keep one copy.
//!
//! A download reads [`READ_STEP`] bytes per query and takes a pooled
//! connection only for that query, so a slow client holds no connection
//! and at most one step of the file is in memory per download.

use std::fmt;
use std::io;

use async_trait::async_trait;
use aws_lc_rs::digest;
use axum::body::Bytes;
use deadpool_postgres::{Client, Pool, Transaction};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::{pg_error, pool_error, rows};
use crate::blobs::{BlobError, BlobReader, BlobStore, StoredBlob};
use crate::domain::Sha256Digest;
use crate::store::dump::{bad_dump, ArtifactPiece};
use crate::store::error::corrupt;
use crate::store::rows::Columns as _;
use crate::store::StoreError;

/// Bytes per stored chunk (the last chunk of a blob may be shorter).
pub(super) const CHUNK_BYTES: usize = 1 << 20;

/// Bytes read from the database per step of a download.
const READ_STEP: u64 = 256 * 1024;

/// The next bytes of a blob from position `$2`, at most `$3` of them: a
/// slice of the chunk that holds the position.
const READ_SQL: &str = "SELECT substring(data FROM ($2 - byte_offset + 1)::INTEGER FOR $3) \
     FROM release_blob_chunks WHERE blob_id = $1 AND byte_offset <= $2 \
     ORDER BY byte_offset DESC LIMIT 1";

/// Content-addressed artifacts in PostgreSQL; see the module docs.
#[derive(Clone)]
pub struct PgBlobStore {
    pool: Pool,
}

impl fmt::Debug for PgBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgBlobStore")
    }
}

impl PgBlobStore {
    /// Artifacts in the database `pool` connects to (migrated to schema 2).
    pub(super) fn new(pool: Pool) -> Self {
        PgBlobStore { pool }
    }

    async fn client(&self) -> io::Result<Client> {
        client(&self.pool).await
    }
}

async fn client(pool: &Pool) -> io::Result<Client> {
    pool.get()
        .await
        .map_err(|e| io::Error::other(pool_error(e).to_string()))
}

fn io_error(e: tokio_postgres::Error) -> io::Error {
    io::Error::other(pg_error(e).to_string())
}

/// Reads from `source` into `chunk` (emptied first) until it holds `limit`
/// bytes or the source ends.
async fn fill(
    source: &mut (dyn AsyncRead + Send + Unpin),
    chunk: &mut Vec<u8>,
    limit: u64,
) -> io::Result<()> {
    chunk.clear();
    (&mut *source).take(limit).read_to_end(chunk).await?;
    Ok(())
}

#[async_trait]
impl BlobStore for PgBlobStore {
    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_size: u64,
    ) -> Result<StoredBlob, BlobError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(io_error)?;
        let id: i64 = tx
            .query_one(
                "SELECT nextval(pg_get_serial_sequence('release_blobs', 'id'))",
                &[],
            )
            .await
            .map_err(io_error)?
            .try_get(0)
            .map_err(io_error)?;
        let insert = tx
            .prepare(
                "INSERT INTO release_blob_chunks (blob_id, byte_offset, data) VALUES ($1, $2, $3)",
            )
            .await
            .map_err(io_error)?;
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut size = 0u64;
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        loop {
            // One byte more than allowed tells an oversized upload apart.
            let allowed = max_size.saturating_sub(size).saturating_add(1);
            fill(source, &mut chunk, allowed.min(CHUNK_BYTES as u64)).await?;
            if chunk.is_empty() {
                break;
            }
            if size + chunk.len() as u64 > max_size {
                // Dropping the transaction rolls the chunks back.
                return Err(BlobError::TooLarge { limit: max_size });
            }
            hash.update(&chunk);
            let offset =
                i64::try_from(size).map_err(|_| BlobError::TooLarge { limit: max_size })?;
            tx.execute(&insert, &[&id, &offset, &chunk])
                .await
                .map_err(io_error)?;
            size += chunk.len() as u64;
            if chunk.len() < CHUNK_BYTES {
                break;
            }
        }
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(hash.finish().as_ref());
        let stored = StoredBlob { sha256, size };
        let recorded = tx
            .execute(
                "INSERT INTO release_blobs (id, sha256, size) VALUES ($1, $2, $3) \
                 ON CONFLICT (sha256) DO NOTHING",
                &[&id, &&sha256[..], &(size as i64)],
            )
            .await
            .map_err(io_error)?;
        if recorded == 0 {
            // The same bytes are stored already: keep that copy.
            tx.rollback().await.map_err(io_error)?;
        } else {
            tx.commit().await.map_err(io_error)?;
        }
        Ok(stored)
    }

    async fn open(
        &self,
        sha256: &Sha256Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, size FROM release_blobs WHERE sha256 = $1",
                &[&&sha256[..]],
            )
            .await
            .map_err(io_error)?
            .ok_or(BlobError::Missing)?;
        let (id, size): (i64, i64) = (
            row.try_get(0).map_err(io_error)?,
            row.try_get(1).map_err(io_error)?,
        );
        drop(client);
        let available = u64::try_from(size).map_err(|_| BlobError::Missing)?;
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= available)
            .ok_or(BlobError::Missing)?;
        let steps = read_steps(self.pool.clone(), id, offset, end);
        Ok(Box::pin(StreamReader::new(Box::pin(steps))))
    }

    async fn delete(&self, sha256: &Sha256Digest) -> Result<(), BlobError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM release_blobs WHERE sha256 = $1",
                &[&&sha256[..]],
            )
            .await
            .map_err(io_error)?;
        Ok(())
    }
}

/// Bytes `from..end` of blob `id`, [`READ_STEP`] at a time, each step with
/// a connection of its own from the pool.
fn read_steps(
    pool: Pool,
    id: i64,
    from: u64,
    end: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(from, move |position| {
        let pool = pool.clone();
        async move {
            if position >= end {
                return Ok(None);
            }
            let want = (end - position).min(READ_STEP) as i32;
            let client = client(&pool).await?;
            let statement = client.prepare_cached(READ_SQL).await.map_err(io_error)?;
            let at = i64::try_from(position).map_err(io::Error::other)?;
            let bytes: Vec<u8> = client
                .query_opt(&statement, &[&id, &at, &want])
                .await
                .map_err(io_error)?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(io_error)?
                .unwrap_or_default();
            if bytes.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the release artifact was removed or is damaged in the database",
                ));
            }
            let next = position + bytes.len() as u64;
            Ok(Some((Bytes::from(bytes), next)))
        }
    })
}

/// Joins an artifact's pieces into stored chunks; the row naming the
/// artifact is written after its last chunk (its pieces were checked).
/// (`skyline import` into a database that keeps artifacts.)
#[derive(Default)]
pub(super) struct ArtifactWriter {
    blob_id: i64,
    chunk_offset: u64,
    chunk: Vec<u8>,
}

impl ArtifactWriter {
    pub(super) async fn write(
        &mut self,
        tx: &Transaction<'_>,
        piece: ArtifactPiece,
    ) -> Result<(), StoreError> {
        if piece.offset == 0 {
            let row = rows::query_opt(
                tx,
                "SELECT nextval(pg_get_serial_sequence('release_blobs', 'id'))",
                &[],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(|| corrupt("no new artifact id"))?;
            self.blob_id = row.int(0)?;
            self.chunk_offset = 0;
            self.chunk.clear();
        }
        self.chunk.extend_from_slice(&piece.bytes);
        if self.chunk.len() >= CHUNK_BYTES || (piece.last && !self.chunk.is_empty()) {
            let offset = i64::try_from(self.chunk_offset)
                .map_err(|_| bad_dump("an artifact is too large"))?;
            rows::execute(
                tx,
                "INSERT INTO release_blob_chunks (blob_id, byte_offset, data) VALUES ($1, $2, $3)",
                &[&self.blob_id, &offset, &self.chunk],
            )
            .await
            .map_err(pg_error)?;
            self.chunk_offset += self.chunk.len() as u64;
            self.chunk.clear();
        }
        if piece.last {
            let size =
                i64::try_from(piece.size).map_err(|_| bad_dump("an artifact is too large"))?;
            rows::execute(
                tx,
                "INSERT INTO release_blobs (id, sha256, size) VALUES ($1, $2, $3)",
                &[&self.blob_id, &&piece.sha256[..], &size],
            )
            .await
            .map_err(|e| {
                let why = pg_error(e);
                bad_dump(&format!("its `releaseBlob` records do not fit: {why}"))
            })?;
        }
        Ok(())
    }
}
