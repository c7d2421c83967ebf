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
//! has them added from that directory here. An import writes them to the
//! target's storage: into the database in the import's transaction, or into
//! its releases directory before the import commits (files written for an
//! import that then fails are removed again).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use skyline_server::blobs::{BlobError, BlobStore, FsBlobStore, StoredBlob};
use skyline_server::deployment::{IdentityUse, ReleaseStorage};
use skyline_server::domain::Sha256Digest;
use skyline_server::license_index::{LicenseIndex, LEGACY_CHECK_SETTING, SECRET_SETTING};
use skyline_server::store::dump::{ArtifactPiece, ArtifactPieces, ARTIFACT_PIECE_BYTES};
use skyline_server::store::{DumpCounts, DumpRecord, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    let file = File::create_new(&partial)
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

/// `skyline import FILE`.
pub async fn import(global: &Global, from: &Path) -> Result<(), CliError> {
    let file =
        File::open(from).map_err(|e| CliError::io(format!("cannot open {}", from.display()), e))?;
    let mut lines = BufReader::new(file).lines();
    let header = lines
        .next()
        .transpose()
        .map_err(|e| CliError::io(format!("cannot read {}", from.display()), e))?
        .ok_or_else(|| CliError::usage(format!("{} is empty", from.display())))?;
    let version =
        check_header(&header).map_err(|e| CliError::usage(format!("{}: {e}", from.display())))?;

    let deployment = settings::open(global, IdentityUse::Optional).await?;
    // Older dumps need the exported deployment's identity key to name their
    // index secret.
    let legacy = match (version < 3, &deployment.identity) {
        (true, Some(identity)) => Some(
            LicenseIndex::from_identity(identity).map_err(|e| CliError::failed(e.to_string()))?,
        ),
        _ => None,
    };
    let store = deployment.store.clone();
    let (records, from_file) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
    let (to_store, received) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
    let mut files = match &deployment.releases {
        ReleaseStorage::Directory(dir) => Some(ArtifactFiles::new(FsBlobStore::new(dir))),
        ReleaseStorage::Database => None,
    };
    let relay = tokio::spawn(async move {
        let relayed = write_directory_artifacts(from_file, to_store, files.as_mut(), legacy).await;
        (relayed, files)
    });
    // Read on a blocking thread; a bad line stops the stream before its end
    // record, so the store commits nothing, and the line's error is told.
    let reader = tokio::task::spawn_blocking(move || -> Result<(), String> {
        for (number, line) in (2..).zip(lines) {
            let line = line.map_err(|e| format!("cannot read line {number}: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: DumpRecord = serde_json::from_str(&line)
                .map_err(|e| format!("line {number} is not a dump record: {e}"))?;
            if records.blocking_send(record).is_err() {
                // The import stopped; its error says why.
                return Ok(());
            }
        }
        Ok(())
    });
    let imported = store.import_dump(received).await;
    let read = reader
        .await
        .map_err(|_| CliError::failed("the dump reader failed unexpectedly"))?;
    let (relayed, files) = relay
        .await
        .map_err(|_| CliError::failed("the import failed unexpectedly"))?;
    deployment.close().await;
    let outcome = match (read, relayed, imported) {
        (Err(e), _, _) => Err(CliError::failed(format!(
            "{}: {e}; nothing was imported",
            from.display()
        ))),
        (Ok(()), Err(e), _) => Err(CliError::failed(format!(
            "{}: {e}; nothing was imported",
            from.display()
        ))),
        (Ok(()), Ok(_), Err(e)) => Err(CliError::failed(format!(
            "database {}: {e}",
            deployment.database()
        ))),
        (Ok(()), Ok(written), Ok(mut counts)) => {
            counts.artifacts += written.artifacts;
            counts.artifact_pieces += written.artifact_pieces;
            Ok(counts)
        }
    };
    match outcome {
        Ok(counts) => {
            report(global, "imported", &counts, from);
            Ok(())
        }
        Err(e) => {
            if let Some(files) = files {
                files.remove_new().await;
            }
            Err(e)
        }
    }
}

/// Passes the file's records on to the store; when the target keeps its
/// artifacts in a directory (`files`), writes the artifacts there instead
/// and takes their pieces out of the end record's count. Stops (so the
/// store commits nothing) at the first bad piece. Returns what it wrote.
///
/// A dump from a build that indexed keys with the identity key has no index
/// secret among its settings, only a check of it: the secret derived from
/// `legacy` (the identity key given) is checked against it and added as one
/// more setting record, or the import stops.
async fn write_directory_artifacts(
    mut from_file: mpsc::Receiver<DumpRecord>,
    to_store: mpsc::Sender<DumpRecord>,
    mut files: Option<&mut ArtifactFiles>,
    legacy: Option<LicenseIndex>,
) -> Result<DumpCounts, StoreError> {
    let mut written = DumpCounts::default();
    let mut pieces = ArtifactPieces::default();
    let mut index = IndexSettings::default();
    while let Some(record) = from_file.recv().await {
        if let Some(added) = index.before(&record, legacy.as_ref())? {
            if to_store.send(added).await.is_err() {
                break;
            }
        }
        let record = match (record, files.as_deref_mut()) {
            (
                DumpRecord::ReleaseBlob {
                    sha256,
                    size,
                    offset,
                    data,
                },
                Some(files),
            ) => {
                let piece = pieces.accept(&sha256, size, offset, &data)?;
                written.count(&DumpRecord::ReleaseBlob {
                    sha256,
                    size,
                    offset,
                    data: String::new(),
                });
                files.write(piece).await?;
                continue;
            }
            (DumpRecord::End { records }, Some(_)) => {
                pieces.finish()?;
                DumpRecord::End {
                    records: records.saturating_sub(written.artifact_pieces) + index.added,
                }
            }
            (DumpRecord::End { records }, None) => DumpRecord::End {
                records: records + index.added,
            },
            (record, _) => record,
        };
        if to_store.send(record).await.is_err() {
            // The import stopped; its error says why.
            break;
        }
    }
    Ok(written)
}

/// What a dump's settings say of its license index, as they pass.
#[derive(Debug, Default)]
struct IndexSettings {
    check: Option<String>,
    secret: bool,
    done: bool,
    /// Records added to the dump (0 or 1).
    added: u64,
}

impl IndexSettings {
    /// Notes `record`; at the first record after the settings, the secret
    /// to add (derived from `legacy`) when the dump holds only a check.
    fn before(
        &mut self,
        record: &DumpRecord,
        legacy: Option<&LicenseIndex>,
    ) -> Result<Option<DumpRecord>, StoreError> {
        if let DumpRecord::Setting { name, value } = record {
            if name == LEGACY_CHECK_SETTING {
                self.check = Some(value.clone());
            }
            self.secret |= name == SECRET_SETTING;
            return Ok(None);
        }
        if std::mem::replace(&mut self.done, true) || self.secret {
            return Ok(None);
        }
        let Some(check) = &self.check else {
            return Ok(None);
        };
        let legacy = legacy.ok_or_else(|| {
            StoreError::Dump(
                "it was made by an earlier Skyline, which indexed license keys with the \
                 identity key: import it with that key (`--identity FILE`)"
                    .into(),
            )
        })?;
        if legacy.legacy_check() != *check {
            return Err(StoreError::Dump(
                "its license keys were indexed with another identity key than the one given".into(),
            ));
        }
        self.added = 1;
        Ok(Some(DumpRecord::Setting {
            name: SECRET_SETTING.into(),
            value: legacy.stored_form().to_string(),
        }))
    }
}

/// Artifacts written into a releases directory during an import: the one
/// being written, and those that were not there before (removed again if
/// the import fails).
struct ArtifactFiles {
    blobs: FsBlobStore,
    writing: Option<(DuplexStream, JoinHandle<Result<StoredBlob, BlobError>>)>,
    new: Vec<Sha256Digest>,
}

impl ArtifactFiles {
    fn new(blobs: FsBlobStore) -> Self {
        ArtifactFiles {
            blobs,
            writing: None,
            new: Vec::new(),
        }
    }

    /// Writes one checked piece; the last one of an artifact finishes its
    /// file.
    async fn write(&mut self, piece: ArtifactPiece) -> Result<(), StoreError> {
        let failed = |e: &dyn std::fmt::Display| {
            StoreError::Dump(format!(
                "cannot write an artifact to {}: {e}",
                self.blobs.dir().display()
            ))
        };
        if piece.offset == 0 {
            if self.blobs.open(&piece.sha256, 0, 0).await.is_err() {
                self.new.push(piece.sha256);
            }
            let (input, mut output) = tokio::io::duplex(ARTIFACT_PIECE_BYTES);
            let blobs = self.blobs.clone();
            let put = tokio::spawn(async move { blobs.put(&mut output, u64::MAX).await });
            self.writing = Some((input, put));
        }
        let Some((input, _)) = self.writing.as_mut() else {
            return Err(failed(&"a piece without its artifact"));
        };
        input
            .write_all(&piece.bytes)
            .await
            .map_err(|e| failed(&e))?;
        if piece.last {
            let Some((mut input, put)) = self.writing.take() else {
                return Err(failed(&"a piece without its artifact"));
            };
            input.shutdown().await.map_err(|e| failed(&e))?;
            drop(input);
            let stored = put.await.map_err(|e| failed(&e))?.map_err(|e| failed(&e))?;
            if stored.sha256 != piece.sha256 {
                return Err(failed(&"the written file does not match its digest"));
            }
        }
        Ok(())
    }

    /// Removes the artifacts this import added.
    async fn remove_new(self) {
        for sha256 in &self.new {
            if let Err(e) = self.blobs.delete(sha256).await {
                eprintln!(
                    "warning: cannot remove {} from {}: {e}",
                    hex::encode(sha256),
                    self.blobs.dir().display()
                );
            }
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
