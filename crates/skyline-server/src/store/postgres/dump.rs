//! Export of every table ([`DumpRecord`]s); import is in `import`.
//!
//! Export reads one REPEATABLE READ snapshot through cursors, 1,000 rows at a
//! time, so memory stays flat whatever the size of the database. Release
//! artifacts are exported last, a stored chunk (1 MiB) at a time, each cut
//! into pieces.

use deadpool_postgres::Client;
use tokio::sync::mpsc;
use tokio_postgres::{IsolationLevel, Row};

use super::pg_error;
use crate::store::dump::{cancelled, EXPORTS};
use crate::store::error::corrupt;
use crate::store::rows::Columns as _;
use crate::store::{DumpCounts, DumpRecord, StoreError};
/// Rows fetched, or inserted, per round trip.
pub(super) const BATCH: usize = 1_000;

/// Artifact chunks (up to 1 MiB each) fetched per round trip.
const CHUNK_BATCH: i32 = 4;

/// Every artifact chunk, by artifact name then position; an empty artifact
/// is one row without a chunk.
const ARTIFACTS_SQL: &str = "SELECT b.sha256, b.size, c.byte_offset, c.data FROM release_blobs b \
     LEFT JOIN release_blob_chunks c ON c.blob_id = b.id ORDER BY b.sha256, c.byte_offset";

/// The order each table is exported in (text keys in byte order, as
/// SQLite sorts them; devices in binding order).
fn order(table: &str) -> &'static str {
    match table {
        "settings" => "name COLLATE \"C\"",
        "products" | "plans" | "admin_tokens" => "id COLLATE \"C\"",
        "devices" => "license_id, bound_on, seq",
        _ => "id",
    }
}

/// [`Backend::export_dump`](crate::store::Backend::export_dump).
pub(super) async fn export(
    client: &mut Client,
    out: &mpsc::Sender<DumpRecord>,
) -> Result<DumpCounts, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_error)?;
    let mut counts = DumpCounts::default();
    for export in &EXPORTS {
        let sql = export.select(order(export.table));
        let portal = tx.bind(sql.as_str(), &[]).await.map_err(pg_error)?;
        loop {
            let page = tx
                .query_portal(&portal, BATCH as i32)
                .await
                .map_err(pg_error)?;
            for row in &page {
                let record = (export.record)(row)?;
                counts.count(&record);
                out.send(record).await.map_err(|_| cancelled())?;
            }
            if page.len() < BATCH {
                break;
            }
        }
    }
    let portal = tx.bind(ARTIFACTS_SQL, &[]).await.map_err(pg_error)?;
    loop {
        let page = tx
            .query_portal(&portal, CHUNK_BATCH)
            .await
            .map_err(pg_error)?;
        for row in &page {
            for record in artifact_pieces(row)? {
                counts.count(&record);
                out.send(record).await.map_err(|_| cancelled())?;
            }
        }
        if page.len() < CHUNK_BATCH as usize {
            break;
        }
    }
    let end = DumpRecord::End {
        records: counts.total(),
    };
    out.send(end).await.map_err(|_| cancelled())?;
    tx.commit().await.map_err(pg_error)?;
    Ok(counts)
}

/// The pieces of one row of [`ARTIFACTS_SQL`].
fn artifact_pieces(row: &Row) -> Result<Vec<DumpRecord>, StoreError> {
    let malformed = || corrupt("a stored release artifact is malformed");
    let sha256: crate::domain::Sha256Digest = row.bytes(0)?.try_into().map_err(|_| malformed())?;
    let size = u64::try_from(row.int(1)?).map_err(|_| malformed())?;
    let offset = u64::try_from(row.opt_int(2)?.unwrap_or(0)).map_err(|_| malformed())?;
    let data: Option<Vec<u8>> = row.try_get(3).map_err(pg_error)?;
    Ok(DumpRecord::artifact_pieces(
        &sha256,
        size,
        offset,
        &data.unwrap_or_default(),
    ))
}
