//! The storage layer: products, plans, license keys, device seats, feature
//! toggles, telemetry and the audit log, behind one [`Store`] trait used as
//! `Arc<dyn Store>`.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | the [`Store`] trait and [`open`], which picks a backend from the database URL |
//! | [`types`] | commands, outcomes and records ([`StartSessionCommand`], [`Refusal`], [`LicenseInfo`], …) |
//! | [`error`] | [`StoreError`] |
//! | `codec` | text forms of durations, dates and toggle values shared by SQL backends |
//! | `json` | [`json_from_msgpack`] for telemetry `data` |
//! | `rules` | the `start-session` decisions that need no database, shared by the backends |
//! | [`dump`] | [`DumpRecord`]: every row (and release artifact) in a backend-neutral form, for export and import |
//! | [`sqlite`] | the SQLite backend: one writer thread with group commit, a pool of readers |
//! | [`postgres`] | the PostgreSQL backend: a connection pool, row locks, telemetry group commit, release artifacts in the database |
//!
//! The store never reads the clock (today's date and UNIX times come in as
//! arguments) and never sees a raw license key, only its digest from
//! [`LicenseIndex`].

mod codec;
pub mod dump;
pub mod error;
mod json;
pub mod postgres;
mod rules;
pub mod sqlite;
pub mod types;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use skyline_protocol::methods::{FeatureToggles, ToggleValue};
use tokio::sync::mpsc;

pub use dump::{DumpCounts, DumpRecord};
pub use error::StoreError;
pub use json::json_from_msgpack;
pub use types::*;

use crate::license_index::{LicenseDigest, LicenseIndex};
use crate::releases::BlobStore;

/// The server's storage. Every method is one transaction; writes are durable
/// when they return `Ok`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- RPC path -------------------------------------------------------

    /// Decides a `start-session` (PROTOCOL.md §6 steps 1–9) in one
    /// transaction. A refusal is `Ok(StartSessionOutcome::Refused(_))`; its
    /// side effects (a locked device, audit entries) are committed.
    async fn start_session(
        &self,
        command: StartSessionCommand,
    ) -> Result<StartSessionOutcome, StoreError>;

    /// The license's feature toggles: product defaults overridden by the
    /// plan's, overridden by the license's; sorted by name.
    async fn feature_toggles(&self, license_id: i64) -> Result<FeatureToggles, StoreError>;

    /// Stores a telemetry event; returns once it is committed.
    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError>;

    // --- Products and plans ---------------------------------------------

    /// Creates an enabled product with a minimum supported version.
    async fn create_product(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError>;

    /// Changes a product's minimum supported version.
    async fn set_min_version(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError>;

    /// Enables or disables a product (disabled: `UNKNOWN_PRODUCT`).
    async fn set_product_enabled(
        &self,
        by: &Actor,
        product_id: &str,
        enabled: bool,
    ) -> Result<Product, StoreError>;

    /// Every product, by id.
    async fn list_products(&self) -> Result<Vec<Product>, StoreError>;

    /// Creates a plan of an existing product.
    async fn create_plan(&self, by: &Actor, plan: Plan) -> Result<(), StoreError>;

    /// The plans of one product, or of all; by id.
    async fn list_plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError>;

    // --- License keys -----------------------------------------------------

    /// Creates keys of a plan in one transaction: all or none. Returns how
    /// many were created.
    async fn create_licenses(
        &self,
        by: &Actor,
        plan_id: &str,
        keys: Vec<NewLicense>,
    ) -> Result<usize, StoreError>;

    /// One key with its devices.
    async fn find_license(&self, digest: &LicenseDigest) -> Result<LicenseInfo, StoreError>;

    /// The keys of one product, or of all, with their devices; by id.
    async fn list_licenses(&self, product_id: Option<&str>)
        -> Result<Vec<LicenseInfo>, StoreError>;

    /// Revokes a key: `LICENSE_REVOKED` from now on.
    async fn revoke_license(&self, by: &Actor, digest: &LicenseDigest) -> Result<(), StoreError>;

    /// Removes a device's binding (and so its lock): it binds again as a new
    /// device. `None` resets every device of the key. Returns how many.
    async fn reset_device(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        serial_number: Option<&str>,
    ) -> Result<usize, StoreError>;

    /// Sets the expiry date of an activated key.
    async fn set_expiry(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        expiry: NaiveDate,
    ) -> Result<(), StoreError>;

    // --- Feature toggles --------------------------------------------------

    /// Sets (or replaces) one toggle value of a product at one scope.
    async fn set_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
        value: ToggleValue,
    ) -> Result<(), StoreError>;

    /// Removes one toggle value; `false` if it was not set.
    async fn remove_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
    ) -> Result<bool, StoreError>;

    /// Every toggle value of a product, by layer then name.
    async fn list_toggles(&self, product_id: &str) -> Result<Vec<ToggleSetting>, StoreError>;

    // --- Telemetry and audit ------------------------------------------------

    /// One page of a product's telemetry, oldest first.
    async fn export_telemetry(
        &self,
        query: TelemetryQuery,
    ) -> Result<Vec<TelemetryRow>, StoreError>;

    /// Appends an audit entry.
    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError>;

    /// Audit entries, oldest first.
    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    // --- Moving a deployment ----------------------------------------------

    /// Streams every row of every table into `out` from one consistent
    /// snapshot, in [`DumpRecord::ORDER`], then [`DumpRecord::End`]. Fails
    /// if `out` is closed before the end.
    async fn export_dump(&self, out: mpsc::Sender<DumpRecord>) -> Result<DumpCounts, StoreError>;

    /// Replays a dump into this store, which must hold no products,
    /// telemetry or audit entries yet, in one transaction: nothing is
    /// committed unless the records arrive in order and end with a
    /// [`DumpRecord::End`] that counts them. Ids are kept. A dump whose
    /// license index check differs from this database's is refused.
    async fn import_dump(
        &self,
        records: mpsc::Receiver<DumpRecord>,
    ) -> Result<DumpCounts, StoreError>;

    /// The database's schema version.
    async fn schema_version(&self) -> Result<u32, StoreError>;

    /// Finishes every queued write and stops background work. Later calls
    /// fail; dropping the store without calling this is safe too.
    async fn close(&self) {}

    // --- Releases (update downloads) -----------------------------------------
    //
    // The artifacts themselves live in a `BlobStore` (crate::releases); the
    // store keeps their metadata, and with [`Store::release_blobs`] may keep
    // the artifacts too.

    /// Records a release whose artifact is already stored under its digest,
    /// and, with `min_version`, raises the product's minimum supported
    /// version in the same transaction. A release of the same product,
    /// platform and (numerically) equal version is a `Conflict`; an unknown
    /// product is `NotFound`. Audited.
    async fn publish_release(
        &self,
        by: &Actor,
        release: NewRelease,
        min_version: Option<&str>,
    ) -> Result<Release, StoreError>;

    /// Every release of a product, yanked ones too, oldest first; an unknown
    /// product is `NotFound`.
    async fn list_releases(&self, product_id: &str) -> Result<Vec<Release>, StoreError>;

    /// Yanks (withdraws) a release, or restores it with `yanked = false`.
    /// Audited.
    async fn set_release_yanked(
        &self,
        by: &Actor,
        release: &ReleaseRef,
        yanked: bool,
    ) -> Result<Release, StoreError>;

    /// Whether any release refers to the artifact with this digest (so a
    /// failed publish knows whether it may delete the blob it stored).
    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError>;

    /// Release artifacts kept in this database, so that every node on it
    /// serves every artifact (PostgreSQL: the `release_blobs` tables); `None`
    /// when this backend keeps none (SQLite: artifacts go to a directory).
    /// Such a store's dumps carry the artifacts too
    /// ([`DumpRecord::ReleaseBlob`]).
    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>>;

    // --- Admin API tokens ---------------------------------------------------

    /// Records a new admin token (only its secret's hash). A taken id is a
    /// `Conflict`. Audited.
    async fn create_admin_token(
        &self,
        by: &Actor,
        token: NewAdminToken,
    ) -> Result<AdminToken, StoreError>;

    /// The token with this public id and its secret's hash, revoked or not.
    async fn find_admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError>;

    /// Every admin token, oldest first.
    async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError>;

    /// Revokes a token (revoking twice keeps the first time). Audited.
    async fn revoke_admin_token(&self, by: &Actor, id: &str) -> Result<AdminToken, StoreError>;

    /// Notes one use of a token: sets its last use to `entry.actor.at` and
    /// appends `entry` to the audit log, in one transaction.
    async fn record_admin_token_use(&self, id: &str, entry: AuditEntry) -> Result<(), StoreError>;
}

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path, with options.
    Sqlite {
        /// The database file.
        path: String,
        /// `?synchronous=full` and similar.
        options: sqlite::SqliteOptions,
    },
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads a database URL; an unknown scheme is named in the error.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let sqlite_rest = ["sqlite://", "sqlite:"]
            .iter()
            .find(|prefix| lower.starts_with(*prefix))
            .map(|prefix| &url[prefix.len()..]);
        let (path, query) = match sqlite_rest {
            Some(rest) => match rest.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (rest, None),
            },
            None => {
                if let Some((scheme, _)) = url.split_once("://") {
                    return Err(StoreError::Unsupported(format!(
                        "unsupported database URL scheme `{scheme}`: use sqlite://PATH or postgres://…"
                    )));
                }
                (url, None)
            }
        };
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Invalid(
                "the SQLite database URL needs a file path, e.g. sqlite://data/skyline.db".into(),
            ));
        }
        Ok(DatabaseUrl::Sqlite {
            path: path.to_owned(),
            options: sqlite::SqliteOptions::from_query(query.unwrap_or(""))?,
        })
    }
}

/// Opens the store a database URL names, creating and migrating it if
/// needed: `sqlite://PATH`, `sqlite:PATH` or a plain path for SQLite
/// (options: `?synchronous=full`); `postgres://USER:PASSWORD@HOST:PORT/DB`
/// or `postgresql://…` for PostgreSQL (the database must exist; options:
/// `?pool_size=N`, default 16, and the driver's own such as `sslmode`).
///
/// Refuses a database whose keys were indexed under another secret (the
/// identity key was replaced): none of its keys could be found.
pub async fn open(database_url: &str, index: LicenseIndex) -> Result<Arc<dyn Store>, StoreError> {
    match DatabaseUrl::parse(database_url)? {
        DatabaseUrl::Sqlite { path, options } => {
            let store = sqlite::SqliteStore::open(path, options, index).await?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(url) => {
            let store = postgres::PgStore::open(&url, index).await?;
            Ok(Arc::new(store))
        }
    }
}

/// Brings the database a URL names to the newest schema (and records or
/// checks its license index), then closes it; returns the schema version.
/// `skyline migrate` runs this before new nodes are rolled out; `open` does
/// the same, so it is never required.
pub async fn migrate(database_url: &str, index: LicenseIndex) -> Result<u32, StoreError> {
    match DatabaseUrl::parse(database_url)? {
        DatabaseUrl::Postgres(url) => Ok(postgres::PgStore::migrate(&url, index).await?.to),
        DatabaseUrl::Sqlite { .. } => {
            let store = open(database_url, index).await?;
            let version = store.schema_version().await;
            store.close().await;
            version
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> String {
        match DatabaseUrl::parse(url).unwrap() {
            DatabaseUrl::Sqlite { path, .. } => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/skyline.db"),
            "/var/lib/skyline.db"
        );
        assert_eq!(sqlite_path("sqlite://data/skyline.db"), "data/skyline.db");
        assert_eq!(sqlite_path("sqlite:data/skyline.db"), "data/skyline.db");
        assert_eq!(sqlite_path("skyline.db"), "skyline.db");
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let err = DatabaseUrl::parse("mysql://h/db").unwrap_err();
        assert!(err.to_string().contains("`mysql`"), "{err}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn sqlite_options_come_from_the_query() {
        let DatabaseUrl::Sqlite { options, .. } =
            DatabaseUrl::parse("sqlite://x.db?synchronous=full").unwrap()
        else {
            panic!()
        };
        assert!(options.synchronous_full);
        assert!(DatabaseUrl::parse("sqlite://x.db?journal=off").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_named_without_its_password() {
        // Port 1 on the loopback: nothing listens there.
        let index = LicenseIndex::from_secret([0; 32]);
        let err = open("postgres://sky:hunter2@127.0.0.1:1/skyline", index)
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
