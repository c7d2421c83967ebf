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
//! | [`sqlite`] | the SQLite backend: one writer thread with group commit, a pool of readers |
//!
//! The store never reads the clock (today's date and UNIX times come in as
//! arguments) and never sees a raw license key, only its digest from
//! [`LicenseIndex`].

mod codec;
pub mod error;
mod json;
pub mod sqlite;
pub mod types;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use skyline_protocol::methods::{FeatureToggles, ToggleValue};

pub use error::StoreError;
pub use json::json_from_msgpack;
pub use types::*;

use crate::license_index::{LicenseDigest, LicenseIndex};

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

    /// Finishes every queued write and stops background work. Later calls
    /// fail; dropping the store without calling this is safe too.
    async fn close(&self) {}
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
/// (options: `?synchronous=full`); `postgres://` is not built yet.
///
/// Refuses a database whose keys were indexed under another secret (the
/// identity key was replaced): none of its keys could be found.
pub async fn open(database_url: &str, index: LicenseIndex) -> Result<Arc<dyn Store>, StoreError> {
    match DatabaseUrl::parse(database_url)? {
        DatabaseUrl::Sqlite { path, options } => {
            let store = sqlite::SqliteStore::open(path, options, index).await?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(_) => Err(StoreError::Unsupported(
            "the PostgreSQL backend is not built yet: use a sqlite:// database URL".into(),
        )),
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
    async fn postgres_is_not_built_yet() {
        let index = LicenseIndex::from_secret([0; 32]);
        let err = open("postgres://localhost/skyline", index)
            .await
            .err()
            .unwrap();
        assert!(err
            .to_string()
            .contains("PostgreSQL backend is not built yet"));
    }
}
