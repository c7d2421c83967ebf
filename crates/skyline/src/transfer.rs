//! `skyline migrate`, `skyline export` and `skyline import`: bringing a
//! database to the newest schema before a rollout, and moving a deployment
//! between databases (SQLite to PostgreSQL) with nothing lost.
//!
//! # The dump file
//!
//! JSON Lines, streamed both ways (never the whole database in memory):
//!
//! ```text
//! {"format":"skyline-dump","version":1}
//! {"type":"setting","name":"license_index_check","value":"…"}
//! {"type":"product","id":"telepower","minVersion":"7.0.9","enabled":true}
//! …                                    one line per row, see DumpRecord
//! {"type":"end","records":1234}
//! ```
//!
//! The first line names the format and its version; a reader refuses a
//! version it does not know. The last line counts the records: an import
//! commits only after it, so a truncated file imports nothing. The file
//! holds key digests, not keys, but it is as sensitive as the database.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use skyline_server::license_index::LicenseIndex;
use skyline_server::store::{self, DumpCounts, DumpRecord, Store, StoreError};
use tokio::sync::mpsc;

use crate::cli::Global;
use crate::{identity_file, serve, CliError};

/// The `format` of the first line.
pub const FORMAT: &str = "skyline-dump";

/// The version this build writes and reads.
pub const VERSION: u32 = 1;

/// Records in flight between the database and the file.
const IN_FLIGHT: usize = 1_024;

/// The first line of a dump file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// The database URL and license index the operator commands use.
fn target(global: &Global) -> Result<(String, LicenseIndex), CliError> {
    let file = serve::FileConfig::load(global)?;
    let (identity_path, is_default) = serve::identity_path(global, &file);
    let (identity, created) = identity_file::load_or_create(&identity_path, is_default)?;
    if created {
        eprintln!("created a new identity key at {}", identity_path.display());
    }
    let index = LicenseIndex::from_identity(&identity)
        .map_err(|e| CliError::new(format!("cannot derive the license index key: {e}")))?;
    Ok((serve::database_url(global, &file), index))
}

fn database_error(database: &str, e: StoreError) -> CliError {
    CliError::new(format!("database {}: {e}", serve::redact_url(database)))
}

/// `skyline migrate`.
pub async fn migrate(global: &Global) -> Result<(), CliError> {
    let (database, index) = target(global)?;
    let version = store::migrate(&database, index)
        .await
        .map_err(|e| database_error(&database, e))?;
    if global.json {
        println!("{}", serde_json::json!({ "schemaVersion": version }));
    } else {
        println!(
            "database {} is at schema version {version}",
            serve::redact_url(&database)
        );
    }
    Ok(())
}

/// `skyline export --out FILE`.
pub async fn export(global: &Global, out: &Path) -> Result<(), CliError> {
    let (database, index) = target(global)?;
    if out.exists() {
        return Err(CliError::new(format!(
            "{} already exists: export writes a new file",
            out.display()
        )));
    }
    let store = store::open(&database, index)
        .await
        .map_err(|e| database_error(&database, e))?;
    let result = export_to(&store, out).await;
    store.close().await;
    let counts = result?;
    report(global, "exported", &counts, out);
    Ok(())
}

/// Streams `store` into a new file at `out` (written beside it, then renamed).
async fn export_to(store: &std::sync::Arc<dyn Store>, out: &Path) -> Result<DumpCounts, CliError> {
    let partial = out.with_extension("partial");
    let file = File::create_new(&partial)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", partial.display())))?;
    let (records, mut received) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
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
    let written = writer
        .await
        .map_err(|_| CliError::new("the dump writer failed unexpectedly"))?;
    let outcome = match (exported, written) {
        (_, Err(e)) => Err(CliError::new(format!(
            "cannot write {}: {e}",
            partial.display()
        ))),
        (Err(e), Ok(())) => Err(CliError::new(format!("export failed: {e}"))),
        (Ok(counts), Ok(())) => std::fs::rename(&partial, out)
            .map(|()| counts)
            .map_err(|e| CliError::new(format!("cannot rename to {}: {e}", out.display()))),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// `skyline import FILE`.
pub async fn import(global: &Global, from: &Path) -> Result<(), CliError> {
    let (database, index) = target(global)?;
    let file = File::open(from)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", from.display())))?;
    let mut lines = BufReader::new(file).lines();
    let header = lines
        .next()
        .transpose()
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", from.display())))?
        .ok_or_else(|| CliError::new(format!("{} is empty", from.display())))?;
    check_header(&header).map_err(|e| CliError::new(format!("{}: {e}", from.display())))?;

    let store = store::open(&database, index)
        .await
        .map_err(|e| database_error(&database, e))?;
    let (records, received) = mpsc::channel::<DumpRecord>(IN_FLIGHT);
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
        .map_err(|_| CliError::new("the dump reader failed unexpectedly"))?;
    store.close().await;
    let counts = match (read, imported) {
        (Err(e), _) => {
            return Err(CliError::new(format!(
                "{}: {e}; nothing was imported",
                from.display()
            )))
        }
        (Ok(()), Err(e)) => return Err(database_error(&database, e)),
        (Ok(()), Ok(counts)) => counts,
    };
    report(global, "imported", &counts, from);
    Ok(())
}

/// Checks the first line of a dump file.
fn check_header(line: &str) -> Result<(), String> {
    let header: Header = serde_json::from_str(line)
        .map_err(|_| "not a Skyline dump (its first line is not a dump header)".to_string())?;
    if header.format != FORMAT {
        return Err(format!("not a Skyline dump (format `{}`)", header.format));
    }
    if header.version != VERSION {
        return Err(format!(
            "dump format version {} is not supported by this build (it reads version \
             {VERSION}): use a matching skyline release",
            header.version
        ));
    }
    Ok(())
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
             {} toggle values, {} audit entries, {} telemetry events",
            counts.total(),
            file.display(),
            counts.products,
            counts.plans,
            counts.licenses,
            counts.devices,
            counts.toggles,
            counts.audit,
            counts.telemetry
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
        let newer = check_header(r#"{"format":"skyline-dump","version":2}"#).unwrap_err();
        assert!(newer.contains("version 2"), "{newer}");
        assert!(check_header(r#"{"format":"pg_dump","version":1}"#).is_err());
        assert!(check_header("{\"type\":\"product\"}").is_err());
    }
}
