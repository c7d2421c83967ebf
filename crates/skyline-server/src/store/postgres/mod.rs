//! The PostgreSQL backend, for several `skyline serve` nodes on one database.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `connect` | the URL → a connection pool; errors naming `host:port`, never the password |
//! | `schema` | embedded migrations (`migrations/*.sql`) under an advisory lock, the index check |
//! | `rows` | cached prepared statements and row loaders |
//! | `licensing` | `start-session`, PROTOCOL.md §6 steps 1–9, the license row locked |
//! | `toggles` | feature toggles and their layering |
//! | `operator` | products, plans, license keys |
//! | `journal` | the audit log and telemetry pages |
//! | `telemetry` | telemetry group commit: one multi-row insert per batch |
//! | `releases` | release metadata, the product row locked while publishing |
//! | `admin_tokens` | admin API tokens (hashes only) |
//! | `blobs` | [`PgBlobStore`]: the release artifacts themselves, in 1 MiB chunks |
//! | `dump` | export and import of every table, artifacts included |
//!
//! Nodes share nothing but the database, so every rule that spans requests
//! rests on it: each write is one transaction at READ COMMITTED; writes that
//! read-then-change a license (`start-session`, revoke, reset, expiry) first
//! lock its row, so they run one after the other on any number of nodes; a
//! transaction that still fails with a serialization failure or a deadlock
//! is retried. Nothing is kept in memory between requests, and release
//! artifacts live in the database too, so any node serves any download.

mod admin_tokens;
mod blobs;
mod connect;
mod dump;
mod journal;
mod licensing;
mod operator;
mod releases;
mod rows;
mod schema;
mod telemetry;
mod toggles;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use deadpool_postgres::{Client, Pool, PoolError};
use skyline_protocol::methods::{FeatureToggles, ToggleValue};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;

pub use blobs::PgBlobStore;
pub use connect::DEFAULT_POOL_SIZE;
pub use schema::Migration;

use crate::license_index::{LicenseDigest, LicenseIndex};
use crate::releases::BlobStore;
use crate::store::{
    Actor, AdminToken, AdminTokenCredential, AuditEntry, AuditFilter, AuditRecord, DumpCounts,
    DumpRecord, LicenseInfo, NewAdminToken, NewLicense, NewRelease, Plan, Product, Release,
    ReleaseRef, Sha256Digest, StartSessionCommand, StartSessionOutcome, Store, StoreError,
    TelemetryQuery, TelemetryRecord, TelemetryRow, ToggleScope, ToggleSetting,
};
use telemetry::TelemetryWriter;

/// How often a transaction that hit a serialization failure or a deadlock
/// is tried in all.
const ATTEMPTS: u32 = 5;

/// Turns a driver error into [`StoreError::Backend`]: the server's message
/// and SQLSTATE, never its `DETAIL` (which may quote row values such as a
/// key digest).
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!(
            "PostgreSQL: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        )),
        None if e.is_closed() => {
            StoreError::Backend("PostgreSQL: the connection to the server was lost".into())
        }
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

/// A failure to get a pooled connection.
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Closed => StoreError::Backend("the store is closed".into()),
        PoolError::Timeout(_) => StoreError::Backend(
            "PostgreSQL: no database connection became free in time (pool exhausted or \
             server unreachable)"
                .into(),
        ),
        PoolError::Backend(e) => pg_error(e),
        other => StoreError::Backend(format!("PostgreSQL connection pool: {other}")),
    }
}

/// Whether a failed transaction may succeed if run again.
fn is_retryable(e: &StoreError) -> bool {
    let retry_codes = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
    ];
    matches!(e, StoreError::Backend(message)
        if retry_codes.iter().any(|code| message.ends_with(&format!("(SQLSTATE {})", code.code()))))
}

/// Runs `$body` (an expression using `$tx`, a transaction) and commits it
/// when it is `Ok`; a retryable failure runs it again.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 1;
        loop {
            let mut client = $store.client().await?;
            let outcome = async {
                let $tx = client.transaction().await.map_err(pg_error)?;
                let result = $body.await;
                match result {
                    Ok(value) => $tx.commit().await.map_err(pg_error).map(|()| value),
                    // Dropping the transaction rolls it back.
                    Err(e) => Err(e),
                }
            }
            .await;
            match outcome {
                Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                    tracing::debug!(error = %e, attempt, "retrying a transaction");
                    attempt += 1;
                }
                outcome => break outcome,
            }
        }
    }};
}

/// The PostgreSQL store: a connection pool and the telemetry writer.
#[derive(Debug)]
pub struct PgStore {
    pool: Pool,
    telemetry: TelemetryWriter,
    closed: AtomicBool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names, migrates it
    /// (nodes starting together take turns) and checks the license index.
    pub async fn open(url: &str, index: LicenseIndex) -> Result<PgStore, StoreError> {
        let (pool, _) = connect_and_migrate(url, &index).await?;
        Ok(PgStore {
            telemetry: TelemetryWriter::start(pool.clone()),
            pool,
            closed: AtomicBool::new(false),
        })
    }

    /// Only migrates: what `skyline migrate` runs before a rollout.
    pub async fn migrate(url: &str, index: LicenseIndex) -> Result<Migration, StoreError> {
        let (pool, migration) = connect_and_migrate(url, &index).await?;
        pool.close();
        Ok(migration)
    }

    async fn client(&self) -> Result<Client, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend("the store is closed".into()));
        }
        self.pool.get().await.map_err(pool_error)
    }
}

async fn connect_and_migrate(
    url: &str,
    index: &LicenseIndex,
) -> Result<(Pool, Migration), StoreError> {
    let target = connect::parse(url)?;
    let pool = connect::pool(&target)?;
    let mut client = pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => connect::connect_error(&target.config, &e),
        PoolError::Timeout(_) => StoreError::Backend(format!(
            "cannot reach PostgreSQL at {}: timed out",
            connect::server_name(&target.config)
        )),
        other => pool_error(other),
    })?;
    let migration = schema::migrate(&mut client, index).await?;
    Ok((pool, migration))
}

#[async_trait]
impl Store for PgStore {
    async fn start_session(
        &self,
        command: StartSessionCommand,
    ) -> Result<StartSessionOutcome, StoreError> {
        in_transaction!(self, |tx| licensing::start_session(&tx, &command))
    }

    async fn feature_toggles(&self, license_id: i64) -> Result<FeatureToggles, StoreError> {
        let client = self.client().await?;
        toggles::feature_toggles(&client, license_id).await
    }

    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend("the store is closed".into()));
        }
        self.telemetry.record(record).await
    }

    async fn create_product(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError> {
        in_transaction!(self, |tx| operator::create_product(
            &tx,
            by,
            product_id,
            min_version
        ))
    }

    async fn set_min_version(
        &self,
        by: &Actor,
        product_id: &str,
        min_version: &str,
    ) -> Result<Product, StoreError> {
        in_transaction!(self, |tx| operator::set_min_version(
            &tx,
            by,
            product_id,
            min_version
        ))
    }

    async fn set_product_enabled(
        &self,
        by: &Actor,
        product_id: &str,
        enabled: bool,
    ) -> Result<Product, StoreError> {
        in_transaction!(self, |tx| operator::set_product_enabled(
            &tx, by, product_id, enabled
        ))
    }

    async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        let client = self.client().await?;
        operator::list_products(&client).await
    }

    async fn create_plan(&self, by: &Actor, plan: Plan) -> Result<(), StoreError> {
        in_transaction!(self, |tx| operator::create_plan(&tx, by, &plan))
    }

    async fn list_plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
        let client = self.client().await?;
        operator::list_plans(&client, product_id).await
    }

    async fn create_licenses(
        &self,
        by: &Actor,
        plan_id: &str,
        keys: Vec<NewLicense>,
    ) -> Result<usize, StoreError> {
        in_transaction!(self, |tx| operator::create_licenses(
            &tx, by, plan_id, &keys
        ))
    }

    async fn find_license(&self, digest: &LicenseDigest) -> Result<LicenseInfo, StoreError> {
        in_transaction!(self, |tx| operator::find_license(&tx, digest))
    }

    async fn list_licenses(
        &self,
        product_id: Option<&str>,
    ) -> Result<Vec<LicenseInfo>, StoreError> {
        in_transaction!(self, |tx| operator::list_licenses(&tx, product_id))
    }

    async fn revoke_license(&self, by: &Actor, digest: &LicenseDigest) -> Result<(), StoreError> {
        in_transaction!(self, |tx| operator::revoke_license(&tx, by, digest))
    }

    async fn reset_device(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        serial_number: Option<&str>,
    ) -> Result<usize, StoreError> {
        in_transaction!(self, |tx| operator::reset_device(
            &tx,
            by,
            digest,
            serial_number
        ))
    }

    async fn set_expiry(
        &self,
        by: &Actor,
        digest: &LicenseDigest,
        expiry: NaiveDate,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| operator::set_expiry(&tx, by, digest, expiry))
    }

    async fn set_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
        value: ToggleValue,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| toggles::set_toggle(
            &tx,
            by,
            product_id,
            scope.clone(),
            name,
            &value
        ))
    }

    async fn remove_toggle(
        &self,
        by: &Actor,
        product_id: &str,
        scope: ToggleScope,
        name: &str,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| toggles::remove_toggle(
            &tx,
            by,
            product_id,
            scope.clone(),
            name
        ))
    }

    async fn list_toggles(&self, product_id: &str) -> Result<Vec<ToggleSetting>, StoreError> {
        let client = self.client().await?;
        toggles::list_toggles(&client, product_id).await
    }

    async fn export_telemetry(
        &self,
        query: TelemetryQuery,
    ) -> Result<Vec<TelemetryRow>, StoreError> {
        let client = self.client().await?;
        journal::export_telemetry(&client, &query).await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        in_transaction!(self, |tx| journal::append_audit(&tx, &entry))
    }

    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        in_transaction!(self, |tx| journal::list_audit(&tx, &filter))
    }

    async fn export_dump(&self, out: mpsc::Sender<DumpRecord>) -> Result<DumpCounts, StoreError> {
        let mut client = self.client().await?;
        dump::export(&mut client, &out).await
    }

    async fn import_dump(
        &self,
        records: mpsc::Receiver<DumpRecord>,
    ) -> Result<DumpCounts, StoreError> {
        let mut client = self.client().await?;
        dump::import(&mut client, records).await
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        let client = self.client().await?;
        let row = rows::query_opt(&client, "SELECT version FROM schema_version", &[])
            .await
            .map_err(pg_error)?
            .ok_or_else(|| StoreError::Backend("the schema version is missing".into()))?;
        let version: i32 = rows::get(&row, 0)?;
        u32::try_from(version)
            .map_err(|_| StoreError::Backend("the schema version is negative".into()))
    }

    async fn close(&self) {
        self.telemetry.close().await;
        self.closed.store(true, Ordering::Release);
        self.pool.close();
    }

    async fn publish_release(
        &self,
        by: &Actor,
        release: NewRelease,
        min_version: Option<&str>,
    ) -> Result<Release, StoreError> {
        in_transaction!(self, |tx| releases::publish_release(
            &tx,
            by,
            &release,
            min_version
        ))
    }

    async fn list_releases(&self, product_id: &str) -> Result<Vec<Release>, StoreError> {
        let client = self.client().await?;
        releases::list_releases(&client, product_id).await
    }

    async fn set_release_yanked(
        &self,
        by: &Actor,
        release: &ReleaseRef,
        yanked: bool,
    ) -> Result<Release, StoreError> {
        in_transaction!(self, |tx| releases::set_release_yanked(
            &tx, by, release, yanked
        ))
    }

    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let client = self.client().await?;
        releases::release_blob_in_use(&client, sha256).await
    }

    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>> {
        Some(Arc::new(PgBlobStore::new(self.pool.clone())))
    }

    async fn create_admin_token(
        &self,
        by: &Actor,
        token: NewAdminToken,
    ) -> Result<AdminToken, StoreError> {
        in_transaction!(self, |tx| admin_tokens::create_admin_token(&tx, by, &token))
    }

    async fn find_admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError> {
        let client = self.client().await?;
        admin_tokens::find_admin_token(&client, id).await
    }

    async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        let client = self.client().await?;
        admin_tokens::list_admin_tokens(&client).await
    }

    async fn revoke_admin_token(&self, by: &Actor, id: &str) -> Result<AdminToken, StoreError> {
        in_transaction!(self, |tx| admin_tokens::revoke_admin_token(&tx, by, id))
    }

    async fn record_admin_token_use(&self, id: &str, entry: AuditEntry) -> Result<(), StoreError> {
        in_transaction!(self, |tx| admin_tokens::record_admin_token_use(
            &tx, id, &entry
        ))
    }
}
