//! `skyline migrate`, `skyline export` and `skyline import`: bringing a
//! database to the newest schema before a rollout, and moving a deployment
//! between databases (SQLite to PostgreSQL) with nothing lost.
//!
//! # The dump file
//!
//! JSON Lines, streamed both ways (never the whole database in memory):
//!
//! ```text
//! {"format":"skyline-dump","version":3}
//! {"type":"setting","name":"license_index_secret","value":"…"}
//! {"type":"product","id":"telepower","minVersion":"7.0.9","enabled":true}
//! …                                    one line per row, see DumpRecord
//! {"type":"releaseBlob","sha256":"…","size":1300000,"offset":0,"data":"…"}
//! …                                    artifacts in 64 KiB pieces
//! {"type":"end","records":1234}
//! ```
//!
//! The first line names the format and its version; a reader refuses a
//! version it does not know. The last line counts the records: an import
//! commits only after it, so a truncated file imports nothing. The file
//! holds key digests, the secret they are made with, and token hashes, not
//! keys or tokens; it is as sensitive as the database.
//!
//! Versions 1 and 2 (from builds that indexed keys with the identity key)
//! still import: they carry only a check of their index secret, so `skyline
//! import` needs the exported deployment's identity key (`--identity`) to
//! derive the secret, and adds it to the imported settings.
//!
//! # Release artifacts
//!
//! The dump carries the release artifacts too (`releaseBlob` records,
//! before the end line), whichever storage holds them: a deployment whose
//! artifacts are in the database (PostgreSQL) exports them from there; one
//! whose artifacts are files (`--releases-dir`, SQLite's `DATA_DIR/releases`)
mod import;

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use skyline_server::blobs::{BlobError, BlobStore, FsBlobStore};
use skyline_server::deployment::{IdentityUse, ReleaseStorage};
use skyline_server::domain::Sha256Digest;
use skyline_server::store::dump::ARTIFACT_PIECE_BYTES;
use skyline_server::store::{DumpCounts, DumpRecord, Store};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

pub use import::import;

use crate::cli::Global;
use crate::{settings, CliError};

/// The `format` of the first line.
pub const FORMAT: &str = "skyline-dump";

/// The version this build writes: 2 added releases, admin tokens and
/// release artifacts; 3 the license index secret.
pub const VERSION: u32 = 3;

/// The versions this build reads.
const READS: std::ops::RangeInclusive<u32> = 1..=VERSION;

/// Records in flight between the database and the file (an artifact piece
/// is about 90 kB of JSON).
const IN_FLIGHT: usize = 256;

/// The first line of a dump file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// `skyline migrate`: opening the deployment migrates it.
pub async fn migrate(global: &Global) -> Result<(), CliError> {
    let deployment = settings::open(global, IdentityUse::Optional).await?;
    let version = deployment.store.schema_version().await;
    deployment.close().await;
    let version = version?;
    if global.json {
        println!("{}", serde_json::json!({ "schemaVersion": version }));
    } else {
        println!(
            "database {} is at schema version {version}",
            deployment.database()
        );
    }
    Ok(())
}

/// `skyline export --out FILE`.
pub async fn export(global: &Global, out: &Path) -> Result<(), CliError> {
    if out.exists() {
        return Err(CliError::usage(format!(
            "{} already exists: export writes a new file",
            out.display()
        )));
    }
    let deployment = settings::open(global, IdentityUse::Optional).await?;
    let result = export_to(&deployment.store, &deployment.releases, out).await;
    deployment.close().await;
    let counts = result?;
    report(global, "exported", &counts, out);
    Ok(())
}

/// Streams `store`, and the artifacts of `storage` when they are files,
/// into a new file at `out` (written beside it, then renamed).
async fn export_to(
    store: &Store,
    storage: &ReleaseStorage,
    out: &Path,
) -> Result<DumpCounts, CliError> {
    let partial = out.with_extension("partial");
    // A dump holds every customer record: mode 0600.
    let file = skyline_server::files::private_new_file()
        .open(&partial)
        .map_err(|e| CliError::io(format!("cannot create {}", partial.display()), e))?;
    let (records, from_store) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
    let (to_file, mut received) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
    let directory = match storage {
        ReleaseStorage::Directory(dir) => Some(FsBlobStore::new(dir)),
        ReleaseStorage::Database => None,
    };
    let relay = tokio::spawn(add_directory_artifacts(from_store, to_file, directory));
    let writer = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut file = BufWriter::new(file);
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
        };
        write_line(&mut file, &header).map_err(|e| e.to_string())?;
        while let Some(record) = received.blocking_recv() {
            write_line(&mut file, &record).map_err(|e| e.to_string())?;
        }
        file.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())
    });
    let exported = store.export_dump(records).await;
    let relayed = relay
        .await
        .map_err(|_| CliError::failed("the export failed unexpectedly"))?;
    let written = writer
        .await
        .map_err(|_| CliError::failed("the dump writer failed unexpectedly"))?;
    let outcome = match (exported, relayed, written) {
        (_, _, Err(e)) => Err(CliError::failed(format!(
            "cannot write {}: {e}",
            partial.display()
        ))),
        (Err(e), _, Ok(())) => Err(CliError::Store(e)),
        (Ok(_), Err(e), Ok(())) => Err(e),
        (Ok(_), Ok(counts), Ok(())) => std::fs::rename(&partial, out)
            .map(|()| counts)
            .map_err(|e| CliError::io(format!("cannot rename to {}", out.display()), e)),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// Passes the store's records on to the file and, when the artifacts are
/// files in `directory`, adds those of every release before the end record
/// (in digest order, as a database exports them). Counts what it passes on.
async fn add_directory_artifacts(
    mut from_store: mpsc::Receiver<DumpRecord>,
    to_file: mpsc::Sender<DumpRecord>,
    directory: Option<FsBlobStore>,
) -> Result<DumpCounts, CliError> {
    let mut counts = DumpCounts::default();
    let mut artifacts: BTreeMap<Sha256Digest, u64> = BTreeMap::new();
    let stopped = || CliError::failed("the dump writer stopped");
    while let Some(record) = from_store.recv().await {
        if let DumpRecord::Release { sha256, size, .. } = &record {
            let name = hex::decode(sha256).ok().and_then(|d| d.try_into().ok());
            if let (Some(name), Some(_)) = (name, &directory) {
                artifacts.insert(name, *size);
            }
        }
        if let (DumpRecord::End { .. }, Some(blobs)) = (&record, &directory) {
            for (sha256, size) in &artifacts {
                send_artifact(blobs, sha256, *size, &to_file, &mut counts).await?;
            }
        }
        let record = match record {
            DumpRecord::End { .. } => DumpRecord::End {
                records: counts.total(),
            },
            other => other,
        };
        counts.count(&record);
        to_file.send(record).await.map_err(|_| stopped())?;
    }
    Ok(counts)
}

/// Sends the pieces of one artifact file, read a piece at a time. A
/// missing file is told on standard error and skipped: its release is
/// exported as it is, without bytes.
async fn send_artifact(
    blobs: &FsBlobStore,
    sha256: &Sha256Digest,
    size: u64,
    to_file: &mpsc::Sender<DumpRecord>,
    counts: &mut DumpCounts,
) -> Result<(), CliError> {
    let mut reader = match blobs.open(sha256, 0, size).await {
        Ok(reader) => reader,
        Err(BlobError::Missing) => {
            eprintln!(
                "warning: the artifact {} is missing from {}: its release is exported without it",
                hex::encode(sha256),
                blobs.dir().display()
            );
            return Ok(());
        }
        Err(e) => return Err(CliError::failed(format!("cannot read an artifact: {e}"))),
    };
    let mut buf = Vec::with_capacity(ARTIFACT_PIECE_BYTES);
    let mut offset = 0u64;
    loop {
        buf.clear();
        (&mut reader)
            .take(ARTIFACT_PIECE_BYTES as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| CliError::io("cannot read an artifact", e))?;
        for piece in DumpRecord::artifact_pieces(sha256, size, offset, &buf) {
            counts.count(&piece);
            to_file
                .send(piece)
                .await
                .map_err(|_| CliError::failed("the dump writer stopped"))?;
        }
        offset += buf.len() as u64;
        if buf.len() < ARTIFACT_PIECE_BYTES || offset >= size {
            return Ok(());
        }
    }
}

/// Checks the first line of a dump file; its format version.
fn check_header(line: &str) -> Result<u32, String> {
    let header: Header = serde_json::from_str(line)
        .map_err(|_| "not a Skyline dump (its first line is not a dump header)".to_string())?;
    if header.format != FORMAT {
        return Err(format!("not a Skyline dump (format `{}`)", header.format));
    }
    if !READS.contains(&header.version) {
        return Err(format!(
            "dump format version {} is not supported by this build (it reads versions \
             {} to {}): use a matching skyline release",
            header.version,
            READS.start(),
            READS.end()
        ));
    }
    Ok(header.version)
}

fn report(global: &Global, what: &str, counts: &DumpCounts, file: &Path) {
    if global.json {
        println!(
            "{}",
            serde_json::json!({ what: counts, "file": file, "records": counts.total() })
        );
    } else {
        println!(
            "{what} {} records ({}): {} products, {} plans, {} license keys, {} devices, \
             {} toggle values, {} releases, {} admin tokens, {} audit entries, {} telemetry \
             events, {} release artifacts",
            counts.total(),
            file.display(),
            counts.products,
            counts.plans,
            counts.licenses,
            counts.devices,
            counts.toggles,
            counts.releases,
            counts.admin_tokens,
            counts.audit,
            counts.telemetry,
            counts.artifacts
        );
    }
}

/// Writes one value as one line of JSON.
fn write_line(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_format_and_version() {
        assert!(check_header(r#"{"format":"skyline-dump","version":1}"#).is_ok());
        assert_eq!(
            check_header(r#"{"format":"skyline-dump","version":3}"#),
            Ok(3)
        );
        let newer = check_header(r#"{"format":"skyline-dump","version":4}"#).unwrap_err();
        assert!(newer.contains("version 4"), "{newer}");
        assert!(check_header(r#"{"format":"pg_dump","version":1}"#).is_err());
        assert!(check_header("{\"type\":\"product\"}").is_err());
    }
}
