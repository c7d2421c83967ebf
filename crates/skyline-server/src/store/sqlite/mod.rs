//! The SQLite backend.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `writer` | the writer thread: group commit, one savepoint per job |
//! | `reader` | pooled read connections (WAL readers run beside the writer) |
//! | `schema` | connection setup, embedded migrations (`migrations/*.sql`), the index check |
//! | `rows` | column types and row loaders |
//! | `licensing` | `start-session`, PROTOCOL.md §6 steps 1–9 |
//! | `toggles` | feature toggles and their layering |
//! | `operator` | products, plans, license keys |
//! | `journal` | telemetry and the audit log |
//! | `dump` | export and import of every table |
//! | `releases` | release metadata (the artifacts live in a `BlobStore`) |
//! | `admin_tokens` | admin API tokens (hashes only) |
//!
//! Every write goes through the one writer thread, so writes are serialized
//! (the last seat cannot be taken twice) and concurrent callers share commits.

mod admin_tokens;
mod dump;
mod journal;
mod licensing;
mod operator;
mod reader;
mod releases;
mod rows;
mod schema;
mod toggles;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use skyline_protocol::methods::{FeatureToggles, ToggleValue};
use tokio::sync::mpsc;

use crate::license_index::{LicenseDigest, LicenseIndex};
use crate::releases::BlobStore;
use crate::store::{
    Actor, AdminToken, AdminTokenCredential, AuditEntry, AuditFilter, AuditRecord, LicenseInfo,
    NewAdminToken, NewLicense, NewRelease, Plan, Product, Release, ReleaseRef, Sha256Digest,
    StartSessionCommand, StartSessionOutcome, Store, StoreError, TelemetryQuery, TelemetryRecord,
    TelemetryRow, ToggleScope, ToggleSetting,
};
use crate::store::{DumpCounts, DumpRecord};
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
                        StoreError::Invalid("busy_timeout_ms must be a number".into())
                    })?;
                    options.busy_timeout = Duration::from_millis(ms);
                }
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "unknown SQLite option `{pair}`: expected synchronous=normal|full \
                         or busy_timeout_ms=N"
                    )))
                }
            }
        }
        Ok(options)
    }
}

/// Turns a SQLite error into [`StoreError::Backend`]. SQLite's messages name
/// tables and constraints, never bound values, so no key material leaks.
pub(crate) fn backend_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The SQLite store: one writer thread, a pool of readers, one file.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
}

impl SqliteStore {
    /// Opens (creating, migrating) the database at `path`. The parent
    /// directories are created too.
    pub async fn open(
        path: impl Into<PathBuf>,
        options: SqliteOptions,
        index: LicenseIndex,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.into();
        let (conn, path, options) = tokio::task::spawn_blocking(move || {
            schema::open_writer(&path, &options, &index).map(|conn| (conn, path, options))
        })
        .await
        .map_err(|_| StoreError::Backend("opening the database failed unexpectedly".into()))??;
        Ok(SqliteStore {
            writer: Writer::start(conn)?,
            readers: Readers::new(path, options),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn start_session(
        &self,
        command: StartSessionCommand,
    ) -> Result<StartSessionOutcome, StoreError> {
        self.writer
            .run(move |c| licensing::start_session(c, &command))
            .await
    }

    async fn feature_toggles(&self, license_id: i64) -> Result<FeatureToggles, StoreError> {
        self.readers
            .run(move |c| toggles::feature_toggles(c, license_id))
            .await
    }

    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        // Encode on the caller's task, so the writer only inserts.
        let data = record.data.as_ref().map(|d| d.to_string());
        self.writer
            .run(move |c| journal::record_telemetry(c, &record, data.as_deref()))
            .await
    }

    async fn create_product(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError> {
        let (by, id, min) = (by.clone(), product_id.to_owned(), min_version.to_owned());
        self.writer
            .run(move |c| operator::create_product(c, &by, &id, &min))
            .await
    }

    async fn set_min_version(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError> {
        let (by, id, min) = (by.clone(), product_id.to_owned(), min_version.to_owned());
        self.writer
            .run(move |c| operator::set_min_version(c, &by, &id, &min))
            .await
    }

    async fn set_product_enabled(
        &self,
        by: &Actor,
        product_id: &str,
        enabled: bool,
    ) -> Result<Product, StoreError> {
        let (by, id) = (by.clone(), product_id.to_owned());
        self.writer
            .run(move |c| operator::set_product_enabled(c, &by, &id, enabled))
            .await
    }

    async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        self.readers.run(operator::list_products).await
    }

    async fn create_plan(&self, by: &Actor, plan: Plan) -> Result<(), StoreError> {
        let by = by.clone();
        self.writer
            .run(move |c| operator::create_plan(c, &by, &plan))
            .await
    }

    async fn list_plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
        let product_id = product_id.map(str::to_owned);
        self.readers
            .run(move |c| operator::list_plans(c, product_id.as_deref()))
            .await
    }

    async fn create_licenses(
        &self,
        by: &Actor,
        plan_id: &str,
        keys: Vec<NewLicense>,
    ) -> Result<usize, StoreError> {
        let (by, plan_id) = (by.clone(), plan_id.to_owned());
        self.writer
            .run(move |c| operator::create_licenses(c, &by, &plan_id, &keys))
            .await
    }

    async fn find_license(&self, digest: &LicenseDigest) -> Result<LicenseInfo, StoreError> {
        let digest = *digest;
        self.readers
            .run(move |c| operator::find_license(c, &digest))
            .await
    }

    async fn list_licenses(
        &self,
        product_id: Option<&str>,
    ) -> Result<Vec<LicenseInfo>, StoreError> {
        let product_id = product_id.map(str::to_owned);
        self.readers
            .run(move |c| operator::list_licenses(c, product_id.as_deref()))
            .await
    }

    async fn revoke_license(&self, by: &Actor, digest: &LicenseDigest) -> Result<(), StoreError> {
        let (by, digest) = (by.clone(), *digest);
        self.writer
            .run(move |c| operator::revoke_license(c, &by, &digest))
            .await
    }

    async fn reset_device(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        serial_number: Option<&str>,
    ) -> Result<usize, StoreError> {
        let (by, digest, serial) = (by.clone(), *digest, serial_number.map(str::to_owned));
        self.writer
            .run(move |c| operator::reset_device(c, &by, &digest, serial.as_deref()))
            .await
    }

    async fn set_expiry(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        expiry: NaiveDate,
    ) -> Result<(), StoreError> {
        let (by, digest) = (by.clone(), *digest);
        self.writer
            .run(move |c| operator::set_expiry(c, &by, &digest, expiry))
            .await
    }

    async fn set_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
        value: ToggleValue,
    ) -> Result<(), StoreError> {
        let (by, product_id, name) = (by.clone(), product_id.to_owned(), name.to_owned());
        self.writer
            .run(move |c| toggles::set_toggle(c, &by, &product_id, scope, &name, &value))
            .await
    }

    async fn remove_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
    ) -> Result<bool, StoreError> {
        let (by, product_id, name) = (by.clone(), product_id.to_owned(), name.to_owned());
        self.writer
            .run(move |c| toggles::remove_toggle(c, &by, &product_id, scope, &name))
            .await
    }

    async fn list_toggles(&self, product_id: &str) -> Result<Vec<ToggleSetting>, StoreError> {
        let product_id = product_id.to_owned();
        self.readers
            .run(move |c| toggles::list_toggles(c, &product_id))
            .await
    }

    async fn export_telemetry(
        &self,
        query: TelemetryQuery,
    ) -> Result<Vec<TelemetryRow>, StoreError> {
        self.readers
            .run(move |c| journal::export_telemetry(c, &query))
            .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.writer
            .run(move |c| journal::append_audit(c, &entry))
            .await
    }

    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        self.readers
            .run(move |c| journal::list_audit(c, &filter))
            .await
    }

    async fn export_dump(&self, out: mpsc::Sender<DumpRecord>) -> Result<DumpCounts, StoreError> {
        self.readers.run(move |c| dump::export(c, &out)).await
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
        self.readers
            .run(|c| {
                c.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                    .map_err(backend_error)
            })
            .await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close();
    }

    async fn publish_release(
        &self,
        by: &Actor,
        release: NewRelease,
        min_version: Option<&str>,
    ) -> Result<Release, StoreError> {
        let (by, min) = (by.clone(), min_version.map(str::to_owned));
        self.writer
            .run(move |c| releases::publish_release(c, &by, &release, min.as_deref()))
            .await
    }

    async fn list_releases(&self, product_id: &str) -> Result<Vec<Release>, StoreError> {
        let product_id = product_id.to_owned();
        self.readers
            .run(move |c| releases::list_releases(c, &product_id))
            .await
    }

    async fn set_release_yanked(
        &self,
        by: &Actor,
        release: &ReleaseRef,
        yanked: bool,
    ) -> Result<Release, StoreError> {
        let (by, release) = (by.clone(), release.clone());
        self.writer
            .run(move |c| releases::set_release_yanked(c, &by, &release, yanked))
            .await
    }

    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let sha256 = *sha256;
        self.readers
            .run(move |c| releases::release_blob_in_use(c, &sha256))
            .await
    }

    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>> {
        // Artifacts go to a directory (`FsBlobStore`), never into the file.
        None
    }

    async fn create_admin_token(
        &self,
        by: &Actor,
        token: NewAdminToken,
    ) -> Result<AdminToken, StoreError> {
        let by = by.clone();
        self.writer
            .run(move |c| admin_tokens::create_admin_token(c, &by, &token))
            .await
    }

    async fn find_admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError> {
        let id = id.to_owned();
        self.readers
            .run(move |c| admin_tokens::find_admin_token(c, &id))
            .await
    }

    async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        self.readers.run(admin_tokens::list_admin_tokens).await
    }

    async fn revoke_admin_token(&self, by: &Actor, id: &str) -> Result<AdminToken, StoreError> {
        let (by, id) = (by.clone(), id.to_owned());
        self.writer
            .run(move |c| admin_tokens::revoke_admin_token(c, &by, &id))
            .await
    }

    async fn record_admin_token_use(&self, id: &str, entry: AuditEntry) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.writer
            .run(move |c| admin_tokens::record_admin_token_use(c, &id, &entry))
            .await
    }
}
