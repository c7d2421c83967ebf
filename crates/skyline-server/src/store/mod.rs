//! Persistence: the [`Store`] every front door uses, over a [`Backend`]
//! (SQLite or PostgreSQL, chosen by the database URL) that only loads,
//! writes and queries rows.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | [`Store`] (commands, queries), the [`Backend`] trait, [`open`] by database URL |
//! | `database_url` | [`DatabaseUrl`]: which backend a URL names, and its options |
//! | [`error`] | [`StoreError`], [`BackendError`] (its source kept, retryable by code) |
//! | `rows` | row mapping written once for both backends ([`Columns`](rows::Columns)) |
//! | `json` | [`json_from_msgpack`] for telemetry `data` |
//! | [`dump`] | [`DumpRecord`]: every row (and release artifact) in a backend-neutral form |
//! | [`sqlite`] | SQLite: one writer thread with group commit, a pool of readers |
//! | [`postgres`] | PostgreSQL: a pool, row locks and retries, telemetry group commit, artifacts in the database |
//!
//! # How a change is made
//!
//! [`Store::execute`] runs a [`Command`] in one transaction: the backend
//! loads the command's [`Needs`] (SQLite: inside its single writer;
//! PostgreSQL: the license row `FOR NO KEY UPDATE`), the command decides
//! (`crate::domain`, no I/O), and the backend applies the [`Write`]s before
//! committing. The backends hold no business rule: only SQL and row mapping.
//!
//! The store never reads the clock (times come with the command's
//! [`Actor`]) and never sees a raw license key, only its digest from the
//! database's [`LicenseIndex`].

mod database_url;
pub mod dump;
pub mod error;
mod json;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;
pub(crate) mod tx;

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use skyline_protocol::methods::FeatureToggles;
use tokio::sync::mpsc;

pub use database_url::DatabaseUrl;
pub use dump::{DumpCounts, DumpRecord};
pub use error::{BackendError, BackendErrorKind, StoreError};
pub use json::json_from_msgpack;

/// The schema version this build migrates a database to, on either backend
/// (each backend checks at compile time that it has this many migrations).
pub const SCHEMA_VERSION: u32 = 5;

use crate::blobs::BlobStore;
use crate::domain::{
    toggles, Actor, AdminToken, AdminTokenCredential, AuditFilter, AuditRecord, Command,
    DomainError, LayeredToggle, LicenseInfo, Needs, Plan, Product, Release, Sha256Digest, Snapshot,
    TelemetryQuery, TelemetryRecord, TelemetryRow, ToggleSetting, Write,
};
use crate::license_index::{LicenseDigest, LicenseIndex, LicenseIndexError};

/// A decision as a backend runs it: from what was loaded, the writes to
/// apply. It may run more than once (a retried transaction).
pub type Decider = Arc<dyn Fn(&Snapshot) -> Result<Vec<Write>, DomainError> + Send + Sync>;

/// Which audit entries a backend lists (the license resolved to its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only entries about this license.
    pub license_id: Option<i64>,
    /// Only entries at or after this UNIX time.
    pub since: Option<i64>,
    /// At most this many (the newest ones).
    pub limit: Option<u32>,
}

/// What a database does for Skyline: run a decision in a transaction, store
/// telemetry, answer queries, dump and load everything. Every method is one
/// transaction; writes are durable when they return `Ok`.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Loads `needs` (taking the locks [`Needs`] describes), runs `decide`
    /// on it and applies the writes it returns, in one transaction. A
    /// `decide` error writes nothing.
    async fn transact(&self, needs: Needs, decide: Decider) -> Result<(), StoreError>;

    /// Stores a telemetry event; returns once it is committed. An unknown
    /// license is `NotFound`.
    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError>;

    /// Every toggle value that applies to a license, from every layer;
    /// `None` when there is no such license.
    async fn toggle_values(
        &self,
        license_id: i64,
    ) -> Result<Option<Vec<LayeredToggle>>, StoreError>;

    /// Every product, by id.
    async fn products(&self) -> Result<Vec<Product>, StoreError>;

    /// The plans of one product, or of all; by id.
    async fn plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError>;

    /// One key with its devices, oldest first.
    async fn license(&self, digest: &LicenseDigest) -> Result<Option<LicenseInfo>, StoreError>;

    /// The keys of one product, or of all, with their devices; by id.
    async fn licenses(&self, product_id: Option<&str>) -> Result<Vec<LicenseInfo>, StoreError>;

    /// Every toggle value of a product, by layer then name; `None` when
    /// there is no such product.
    async fn toggles(&self, product_id: &str) -> Result<Option<Vec<ToggleSetting>>, StoreError>;

    /// One page of a product's telemetry, oldest first.
    async fn telemetry(&self, query: TelemetryQuery) -> Result<Vec<TelemetryRow>, StoreError>;

    /// Audit entries, oldest first.
    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    /// Every release of a product, yanked ones too, oldest first; `None`
    /// when there is no such product.
    async fn releases(&self, product_id: &str) -> Result<Option<Vec<Release>>, StoreError>;

    /// Whether any release refers to the artifact with this digest.
    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError>;

    /// The token with this public id and its secret's hash, revoked or not.
    async fn admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError>;

    /// Every admin token, oldest first.
    async fn admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError>;

    /// Streams every row of every table into `out` from one consistent
    /// snapshot, in [`DumpRecord::ORDER`], then [`DumpRecord::End`].
    async fn export_dump(&self, out: mpsc::Sender<DumpRecord>) -> Result<DumpCounts, StoreError>;

    /// Replays a dump into this database, which must hold no products,
    /// telemetry or audit entries yet, in one transaction (see
    /// [`Store::import_dump`]).
    async fn import_dump(
        &self,
        records: mpsc::Receiver<DumpRecord>,
    ) -> Result<DumpCounts, StoreError>;

    /// The database's schema version.
    async fn schema_version(&self) -> Result<u32, StoreError>;

    /// Finishes every queued write and stops background work.
    async fn close(&self);

    /// Release artifacts kept in this database (PostgreSQL), so that every
    /// node serves every artifact; `None` when this backend keeps none.
    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>>;
}

/// The server's storage: commands decided by the domain and applied by a
/// backend, and the queries front doors show. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    index: LicenseIndex,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store over `backend`, whose keys are indexed with `index`.
    pub fn new(backend: Arc<dyn Backend>, index: LicenseIndex) -> Self {
        Store { backend, index }
    }

    /// The index that turns license keys into this database's digests.
    pub fn license_index(&self) -> &LicenseIndex {
        &self.index
    }

    /// Runs a command in one transaction: load, decide, apply. `by` says who
    /// and when, for the decision and the audit log.
    pub async fn execute<C: Command>(
        &self,
        command: C,
        by: &Actor,
    ) -> Result<C::Outcome, StoreError> {
        let needs = command.needs();
        let outcome = Arc::new(Mutex::new(None));
        let slot = outcome.clone();
        let by = by.clone();
        let decide: Decider = Arc::new(move |seen: &Snapshot| {
            let decision = command.decide(seen, &by)?;
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(decision.outcome);
            Ok(decision.writes)
        });
        self.backend.transact(needs, decide).await?;
        let decided = outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        decided.ok_or_else(|| error::stopped("the store committed without running the decision"))
    }

    /// The license's feature toggles: product defaults overridden by the
    /// plan's, overridden by the license's; sorted by name.
    pub async fn feature_toggles(&self, license_id: i64) -> Result<FeatureToggles, StoreError> {
        let values = self
            .backend
            .toggle_values(license_id)
            .await?
            .ok_or_else(|| StoreError::not_found("license"))?;
        Ok(toggles::layer(values))
    }

    /// Stores a telemetry event; returns once it is committed.
    pub async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        self.backend.record_telemetry(record).await
    }

    /// Every product, by id.
    pub async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        self.backend.products().await
    }

    /// One product, or `NotFound`.
    pub async fn find_product(&self, id: &str) -> Result<Product, StoreError> {
        self.list_products()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| StoreError::not_found(format!("product `{id}`")))
    }

    /// The plans of one product, or of all; by id.
    pub async fn list_plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
        self.backend.plans(product_id).await
    }

    /// One key with its devices, or `NotFound`.
    pub async fn find_license(&self, digest: &LicenseDigest) -> Result<LicenseInfo, StoreError> {
        self.backend
            .license(digest)
            .await?
            .ok_or_else(|| StoreError::not_found("license key"))
    }

    /// The keys of one product, or of all, with their devices; by id.
    pub async fn list_licenses(
        &self,
        product_id: Option<&str>,
    ) -> Result<Vec<LicenseInfo>, StoreError> {
        self.backend.licenses(product_id).await
    }

    /// Every toggle value of a product, by layer then name.
    pub async fn list_toggles(&self, product_id: &str) -> Result<Vec<ToggleSetting>, StoreError> {
        self.backend
            .toggles(product_id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("product `{product_id}`")))
    }

    /// One page of a product's telemetry, oldest first.
    pub async fn export_telemetry(
        &self,
        query: TelemetryQuery,
    ) -> Result<Vec<TelemetryRow>, StoreError> {
        self.backend.telemetry(query).await
    }

    /// Audit entries, oldest first; a key that does not exist is `NotFound`.
    pub async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let license_id = match &filter.license {
            Some(digest) => Some(self.find_license(digest).await?.id),
            None => None,
        };
        let query = AuditQuery {
            license_id,
            since: filter.since,
            limit: filter.limit,
        };
        self.backend.audit(query).await
    }

    /// Every release of a product, yanked ones too, oldest first.
    pub async fn list_releases(&self, product_id: &str) -> Result<Vec<Release>, StoreError> {
        self.backend
            .releases(product_id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("product `{product_id}`")))
    }

    /// Whether any release refers to the artifact with this digest (so a
    /// failed publish knows whether it may delete the blob it stored).
    pub async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError> {
        self.backend.release_blob_in_use(sha256).await
    }

    /// The token with this public id and its secret's hash, revoked or not.
    pub async fn find_admin_token(
        &self,
        id: &str,
    ) -> Result<Option<AdminTokenCredential>, StoreError> {
        self.backend.admin_token(id).await
    }

    /// Every admin token, oldest first.
    pub async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        self.backend.admin_tokens().await
    }

    /// Streams every row of every table into `out` from one consistent
    /// snapshot, in [`DumpRecord::ORDER`], then [`DumpRecord::End`]. Fails
    /// if `out` is closed before the end.
    pub async fn export_dump(
        &self,
        out: mpsc::Sender<DumpRecord>,
    ) -> Result<DumpCounts, StoreError> {
        self.backend.export_dump(out).await
    }

    /// Replays a dump into this store, which must hold no products,
    /// telemetry or audit entries yet, in one transaction: nothing is
    /// committed unless the records arrive in order and end with a
    /// [`DumpRecord::End`] that counts them. Ids are kept, and so is the
    /// dump's license index secret (reopen the store to use it).
    pub async fn import_dump(
        &self,
        records: mpsc::Receiver<DumpRecord>,
    ) -> Result<DumpCounts, StoreError> {
        self.backend.import_dump(records).await
    }

    /// The database's schema version.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.backend.schema_version().await
    }

    /// Finishes every queued write and stops background work. Later calls
    /// fail; dropping the store without calling this is safe too.
    pub async fn close(&self) {
        self.backend.close().await;
    }

    /// Release artifacts kept in this database, if the backend keeps them.
    pub fn release_blobs(&self) -> Option<Arc<dyn BlobStore>> {
        self.backend.release_blobs()
    }
}

/// An index problem at open, as a store error.
pub(crate) fn index_error(e: LicenseIndexError) -> StoreError {
    StoreError::Config(e.to_string())
}

/// Opens the store a database URL names, creating and migrating it if
/// needed: `sqlite://PATH`, `sqlite:PATH` or a plain path for SQLite
/// (options: `?synchronous=full`); `postgres://USER:PASSWORD@HOST:PORT/DB`
/// or `postgresql://…` for PostgreSQL (the database must exist; options:
/// `?pool_size=N`, default 16, and the driver's own such as `sslmode`).
///
/// `legacy` is the index derived from the identity key
/// ([`LicenseIndex::from_identity`]) when one is at hand: a database made
/// before the index secret was kept in the database needs it once, and is
/// refused without it (see [`crate::license_index::settle`]).
pub async fn open(database_url: &str, legacy: Option<&LicenseIndex>) -> Result<Store, StoreError> {
    match DatabaseUrl::parse(database_url)? {
        DatabaseUrl::Sqlite { path, options } => {
            let (backend, index) = sqlite::SqliteStore::open(path, options, legacy).await?;
            Ok(Store::new(Arc::new(backend), index))
        }
        DatabaseUrl::Postgres(url) => {
            let (backend, index) = postgres::PgStore::open(&url, legacy).await?;
            Ok(Store::new(Arc::new(backend), index))
        }
    }
}

/// Brings the database a URL names to the newest schema (and settles its
/// license index), then closes it; returns the schema version. `skyline
/// migrate` runs this before new nodes are rolled out; `open` does the same,
/// so it is never required.
pub async fn migrate(database_url: &str, legacy: Option<&LicenseIndex>) -> Result<u32, StoreError> {
    match DatabaseUrl::parse(database_url)? {
        DatabaseUrl::Postgres(url) => Ok(postgres::PgStore::migrate(&url, legacy).await?.to),
        DatabaseUrl::Sqlite { .. } => {
            let store = open(database_url, legacy).await?;
            let version = store.schema_version().await;
            store.close().await;
            version
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_postgres_is_named_without_its_password() {
        // Port 1 on the loopback: nothing listens there.
        let err = open("postgres://sky:hunter2@127.0.0.1:1/skyline", None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("cannot reach PostgreSQL at 127.0.0.1:1"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
