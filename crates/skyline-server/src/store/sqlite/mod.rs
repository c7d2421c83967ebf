//! The SQLite backend.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `writer` | the writer thread: group commit, one savepoint per job |
//! | `reader` | pooled read connections (WAL readers run beside the writer) |
//! | `schema` | connection setup, embedded migrations (`migrations/*.sql`), the license index |
//! | `tx` | a decision's loads and writes, in SQL |
//! | `queries` | the read queries, and telemetry inserts |
//! | `dump` | export and import of every table |
//!
//! Every write goes through the one writer thread, so writes are serialized
//! (the last seat cannot be taken twice) and concurrent callers share commits.

mod dump;
mod queries;
mod reader;
mod schema;
mod tx;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};
use tokio::sync::mpsc;

use crate::blobs::BlobStore;
use crate::domain::{
    AdminToken, AdminTokenCredential, AuditRecord, LayeredToggle, LicenseInfo, Needs, Plan,
    Product, Release, Sha256Digest, TelemetryQuery, TelemetryRecord, TelemetryRow, ToggleSetting,
};
use crate::license_index::{LicenseDigest, LicenseIndex};
use crate::store::error::{BackendError, BackendErrorKind};
use crate::store::rows::{date_from_text, Columns};
use crate::store::{AuditQuery, Backend, Decider, DumpCounts, DumpRecord, StoreError};
use reader::Readers;
use writer::Writer;

/// Tuning of the SQLite backend, from the database URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous=FULL` instead of `NORMAL`: also survive power loss and OS
    /// crashes, at the cost of one fsync per group commit.
    pub synchronous_full: bool,
    /// How long to wait for another process's lock.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: false,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// Reads `synchronous=normal|full` and `busy_timeout_ms=N` from a URL
    /// query such as `synchronous=full&busy_timeout_ms=10000`.
    pub fn from_query(query: &str) -> Result<SqliteOptions, StoreError> {
        let mut options = SqliteOptions::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (name, value.to_ascii_lowercase().as_str()) {
                ("synchronous", "full") => options.synchronous_full = true,
                ("synchronous", "normal") => options.synchronous_full = false,
                ("busy_timeout_ms", ms) => {
                    let ms = ms.parse().map_err(|_| {
                        StoreError::Config("busy_timeout_ms must be a number".into())
                    })?;
                    options.busy_timeout = Duration::from_millis(ms);
                }
                _ => {
                    return Err(StoreError::Config(format!(
                        "unknown SQLite option `{pair}`: expected synchronous=normal|full \
                         or busy_timeout_ms=N"
                    )))
                }
            }
        }
        Ok(options)
    }
}

/// Turns a SQLite error into [`StoreError::Backend`], keeping it as the
/// source. SQLite's messages name tables and constraints, never bound
/// values, so no key material leaks. A busy database is retryable.
pub(crate) fn backend_error(e: rusqlite::Error) -> StoreError {
    let code = e.sqlite_error_code();
    let extended = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        _ => None,
    };
    let error = BackendError::new(
        BackendErrorKind::Database,
        format!("SQLite: {e}"),
        Some(Arc::new(e)),
    );
    let error = match extended {
        Some(extended) => error.with_code(
            extended.to_string(),
            matches!(
                code,
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
        ),
        None => error,
    };
    StoreError::Backend(error)
}

/// Whether a SQLite error is a uniqueness (or other constraint) violation.
pub(crate) fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

impl Columns for Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map_err(backend_error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(backend_error)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map_err(backend_error)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(backend_error)
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.get(i).map_err(backend_error)
    }

    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, StoreError> {
        match self.get_ref(i).map_err(backend_error)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(text) => {
                let text = std::str::from_utf8(text)
                    .map_err(|_| crate::store::error::corrupt("a stored date is not text"))?;
                date_from_text(text).map(Some)
            }
            _ => Err(crate::store::error::corrupt("a stored date is not text")),
        }
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.get(i).map_err(backend_error)
    }
}

/// A date as SQLite stores it, `YYYY-MM-DD`.
pub(crate) fn day(date: NaiveDate) -> String {
    skyline_protocol::dates::format_date(date)
}

/// The SQLite store: one writer thread, a pool of readers, one file.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
}

impl SqliteStore {
    /// Opens (creating, migrating) the database at `path`, and settles its
    /// license index (see [`crate::license_index::settle`]). The parent
    /// directories are created too, readable by the owner only.
    pub async fn open(
        path: impl Into<PathBuf>,
        options: SqliteOptions,
        legacy: Option<&LicenseIndex>,
    ) -> Result<(SqliteStore, LicenseIndex), StoreError> {
        let path = path.into();
        let legacy = legacy.cloned();
        let (conn, index, path, options) = tokio::task::spawn_blocking(move || {
            schema::open_writer(&path, &options, legacy.as_ref())
                .map(|(conn, index)| (conn, index, path, options))
        })
        .await
        .map_err(|_| crate::store::error::stopped("opening the database failed unexpectedly"))??;
        let store = SqliteStore {
            writer: Writer::start(conn)?,
            readers: Readers::new(path, options),
        };
        Ok((store, index))
    }

    /// Runs a read on a pooled connection.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(read).await
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn transact(&self, needs: Needs, decide: Decider) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                let mut tx = tx::SqliteTx { conn };
                crate::store::tx::complete_now(crate::store::tx::run(&mut tx, &needs, &decide))
            })
            .await
    }

    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        // Encode on the caller's task, so the writer only inserts.
        let data = record.data.as_ref().map(|d| d.to_string());
        self.writer
            .run(move |c| queries::record_telemetry(c, &record, data.as_deref()))
            .await
    }

    async fn toggle_values(
        &self,
        license_id: i64,
    ) -> Result<Option<Vec<LayeredToggle>>, StoreError> {
        self.read(move |c| queries::toggle_values(c, license_id))
            .await
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.read(queries::products).await
    }

    async fn plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
        let product_id = product_id.map(str::to_owned);
        self.read(move |c| queries::plans(c, product_id.as_deref()))
            .await
    }

    async fn license(&self, digest: &LicenseDigest) -> Result<Option<LicenseInfo>, StoreError> {
        let digest = *digest;
        self.read(move |c| queries::license(c, &digest)).await
    }

    async fn licenses(&self, product_id: Option<&str>) -> Result<Vec<LicenseInfo>, StoreError> {
        let product_id = product_id.map(str::to_owned);
        self.read(move |c| queries::licenses(c, product_id.as_deref()))
            .await
    }

    async fn toggles(&self, product_id: &str) -> Result<Option<Vec<ToggleSetting>>, StoreError> {
        let product_id = product_id.to_owned();
        self.read(move |c| queries::toggles(c, &product_id)).await
    }

    async fn telemetry(&self, query: TelemetryQuery) -> Result<Vec<TelemetryRow>, StoreError> {
        self.read(move |c| queries::telemetry(c, &query)).await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| queries::audit(c, &query)).await
    }

    async fn releases(&self, product_id: &str) -> Result<Option<Vec<Release>>, StoreError> {
        let product_id = product_id.to_owned();
        self.read(move |c| queries::releases(c, &product_id)).await
    }

    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let sha256 = *sha256;
        self.read(move |c| queries::release_blob_in_use(c, &sha256))
            .await
    }

    async fn admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| queries::admin_token(c, &id)).await
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        self.read(queries::admin_tokens).await
    }

    async fn export_dump(&self, out: mpsc::Sender<DumpRecord>) -> Result<DumpCounts, StoreError> {
        self.read(move |c| dump::export(c, &out)).await
    }

    async fn import_dump(
        &self,
        mut records: mpsc::Receiver<DumpRecord>,
    ) -> Result<DumpCounts, StoreError> {
        self.writer
            .run(move |c| dump::import(c, &mut records))
            .await
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(|c| {
            c.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .map_err(backend_error)
        })
        .await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close();
    }

    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>> {
        // Artifacts go to a directory (`FsBlobStore`), never into the file.
        None
    }
}
