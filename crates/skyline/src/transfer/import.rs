//! `skyline import FILE`: a dump into an empty database, its artifacts into
//! the target's storage, older dumps upgraded on the way.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use skyline_server::blobs::{BlobError, BlobStore, FsBlobStore, StoredBlob};
use skyline_server::deployment::{IdentityUse, ReleaseStorage};
use skyline_server::domain::Sha256Digest;
use skyline_server::license_index::{LicenseIndex, LEGACY_CHECK_SETTING, SECRET_SETTING};
use skyline_server::store::dump::{ArtifactPiece, ArtifactPieces, ARTIFACT_PIECE_BYTES};
use skyline_server::store::{DumpCounts, DumpRecord, StoreError};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{check_header, report, IN_FLIGHT};
use crate::cli::Global;
use crate::{settings, CliError};

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
