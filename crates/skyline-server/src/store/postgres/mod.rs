//! The PostgreSQL backend, for several `skyline serve` nodes on one database.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `connect` | the URL → a connection pool; errors naming `host:port`, never the password |
//! | `schema` | embedded migrations (`migrations/*.sql`) under an advisory lock, the license index |
//! | `rows` | cached prepared statements |
//! | `tx` | a decision's loads (the license row locked) and writes, in SQL |
//! | `queries` | the read queries |
//! | `telemetry` | telemetry group commit: one multi-row insert per batch |
//! | `blobs` | [`PgBlobStore`]: the release artifacts themselves, in 1 MiB chunks |
//! | `dump`, `import` | export and import of every table, artifacts included |
//!
//! Nodes share nothing but the database, so every rule that spans requests
//! rests on it: each write is one transaction at READ COMMITTED; decisions
//! about a license (`start-session`, revoke, reset, expiry) first lock its
//! row, so they run one after the other on any number of nodes; a
//! transaction that still fails with a serialization failure or a deadlock
//! (by its SQLSTATE) is retried. Nothing is kept in memory between requests,
//! and release artifacts live in the database too, so any node serves any
//! download.

mod blobs;
mod connect;
mod dump;
mod import;
mod queries;
mod rows;
mod schema;
mod telemetry;
mod tx;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use deadpool_postgres::{Client, Pool, PoolError};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

pub use blobs::PgBlobStore;
pub use connect::DEFAULT_POOL_SIZE;
pub use schema::Migration;

use crate::blobs::BlobStore;
use crate::domain::{
    AdminToken, AdminTokenCredential, AuditRecord, LayeredToggle, LicenseInfo, Needs, Plan,
    Product, Release, Sha256Digest, TelemetryQuery, TelemetryRecord, TelemetryRow, ToggleSetting,
};
use crate::license_index::{LicenseDigest, LicenseIndex};
use crate::store::error::{corrupt, stopped, BackendError, BackendErrorKind};
use crate::store::rows::Columns;
use crate::store::{AuditQuery, Backend, Decider, DumpCounts, DumpRecord, StoreError};
use telemetry::TelemetryWriter;

/// How often a transaction that hit a serialization failure or a deadlock
/// is tried in all.
const ATTEMPTS: u32 = 5;

/// The SQLSTATEs after which running the transaction again may succeed.
const RETRYABLE: [SqlState; 2] = [
    SqlState::T_R_SERIALIZATION_FAILURE,
    SqlState::T_R_DEADLOCK_DETECTED,
];

/// Turns a driver error into [`StoreError::Backend`], keeping it as the
/// source: the server's message and SQLSTATE, never its `DETAIL` (which may
/// quote row values such as a key digest). Retryable by SQLSTATE.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let (kind, message, code) = match e.as_db_error() {
        Some(db) => (
            BackendErrorKind::Database,
            format!(
                "PostgreSQL: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            ),
            Some(db.code().clone()),
        ),
        None if e.is_closed() => (
            BackendErrorKind::Connection,
            "PostgreSQL: the connection to the server was lost".to_owned(),
            None,
        ),
        None => (
            BackendErrorKind::Connection,
            format!("PostgreSQL: {e}"),
            None,
        ),
    };
    let error = BackendError::new(kind, message, Some(Arc::new(e)));
    StoreError::Backend(match code {
        Some(code) => {
            let retryable = RETRYABLE.contains(&code);
            error.with_code(code.code(), retryable)
        }
        None => error,
    })
}

/// Whether a driver error is a uniqueness violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A failure to get a pooled connection.
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    let message = match &e {
        PoolError::Closed => return stopped("the store is closed"),
        PoolError::Timeout(_) => "PostgreSQL: no database connection became free in time \
             (pool exhausted or server unreachable)"
            .to_owned(),
        PoolError::Backend(_) => {
            let PoolError::Backend(e) = e else {
                unreachable!()
            };
            return pg_error(e);
        }
        other => format!("PostgreSQL connection pool: {other}"),
    };
    StoreError::Backend(BackendError::new(
        BackendErrorKind::Connection,
        message,
        Some(Arc::new(e)),
    ))
}

impl Columns for Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.try_get(i).map_err(pg_error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(pg_error)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| corrupt("a stored number is missing"))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let column = self
            .columns()
            .get(i)
            .ok_or_else(|| corrupt("a query has fewer columns than its reader"))?;
        match *column.type_() {
            Type::INT2 => Ok(self
                .try_get::<_, Option<i16>>(i)
                .map_err(pg_error)?
                .map(i64::from)),
            Type::INT4 => Ok(self
                .try_get::<_, Option<i32>>(i)
                .map_err(pg_error)?
                .map(i64::from)),
            _ => self.try_get(i).map_err(pg_error),
        }
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(pg_error)
    }

    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, StoreError> {
        self.try_get(i).map_err(pg_error)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.try_get(i).map_err(pg_error)
    }
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
                Err(e) if attempt < ATTEMPTS && e.is_retryable() => {
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
    /// (nodes starting together take turns) and settles its license index.
    pub async fn open(
        url: &str,
        legacy: Option<&LicenseIndex>,
    ) -> Result<(PgStore, LicenseIndex), StoreError> {
        let (pool, _, index) = connect_and_migrate(url, legacy).await?;
        let store = PgStore {
            telemetry: TelemetryWriter::start(pool.clone()),
            pool,
            closed: AtomicBool::new(false),
        };
        Ok((store, index))
    }

    /// Only migrates: what `skyline migrate` runs before a rollout.
    pub async fn migrate(
        url: &str,
        legacy: Option<&LicenseIndex>,
    ) -> Result<Migration, StoreError> {
        let (pool, migration, _) = connect_and_migrate(url, legacy).await?;
        pool.close();
        Ok(migration)
    }

    async fn client(&self) -> Result<Client, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(stopped("the store is closed"));
        }
        self.pool.get().await.map_err(pool_error)
    }
}

async fn connect_and_migrate(
    url: &str,
    legacy: Option<&LicenseIndex>,
) -> Result<(Pool, Migration, LicenseIndex), StoreError> {
    let target = connect::parse(url)?;
    let pool = connect::pool(&target)?;
    let mut client = pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => connect::connect_error(&target.config, &e),
        PoolError::Timeout(_) => StoreError::Config(format!(
            "cannot reach PostgreSQL at {}: timed out",
            connect::server_name(&target.config)
        )),
        other => pool_error(other),
    })?;
    let (migration, index) = schema::migrate(&mut client, legacy).await?;
    Ok((pool, migration, index))
}

#[async_trait]
impl Backend for PgStore {
    async fn transact(&self, needs: Needs, decide: Decider) -> Result<(), StoreError> {
        in_transaction!(self, |tx| async {
            let mut pg = tx::PgTx { tx: &tx };
            crate::store::tx::run(&mut pg, &needs, &decide).await
        })
    }

    async fn record_telemetry(&self, record: TelemetryRecord) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(stopped("the store is closed"));
        }
        self.telemetry.record(record).await
    }

    async fn toggle_values(
        &self,
        license_id: i64,
    ) -> Result<Option<Vec<LayeredToggle>>, StoreError> {
        let client = self.client().await?;
        queries::toggle_values(&client, license_id).await
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let client = self.client().await?;
        queries::products(&client).await
    }

    async fn plans(&self, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
        let client = self.client().await?;
        queries::plans(&client, product_id).await
    }

    async fn license(&self, digest: &LicenseDigest) -> Result<Option<LicenseInfo>, StoreError> {
        in_transaction!(self, |tx| queries::license(&tx, digest))
    }

    async fn licenses(&self, product_id: Option<&str>) -> Result<Vec<LicenseInfo>, StoreError> {
        in_transaction!(self, |tx| queries::licenses(&tx, product_id))
    }

    async fn toggles(&self, product_id: &str) -> Result<Option<Vec<ToggleSetting>>, StoreError> {
        in_transaction!(self, |tx| queries::toggles(&tx, product_id))
    }

    async fn telemetry(&self, query: TelemetryQuery) -> Result<Vec<TelemetryRow>, StoreError> {
        let client = self.client().await?;
        queries::telemetry(&client, &query).await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let client = self.client().await?;
        queries::audit(&client, &query).await
    }

    async fn releases(&self, product_id: &str) -> Result<Option<Vec<Release>>, StoreError> {
        in_transaction!(self, |tx| queries::releases(&tx, product_id))
    }

    async fn release_blob_in_use(&self, sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let client = self.client().await?;
        queries::release_blob_in_use(&client, sha256).await
    }

    async fn admin_token(&self, id: &str) -> Result<Option<AdminTokenCredential>, StoreError> {
        let client = self.client().await?;
        queries::admin_token(&client, id).await
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        let client = self.client().await?;
        queries::admin_tokens(&client).await
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
        import::import(&mut client, records).await
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        let client = self.client().await?;
        let row = rows::query_opt(&client, "SELECT version FROM schema_version", &[])
            .await
            .map_err(pg_error)?
            .ok_or_else(|| corrupt("the schema version is missing"))?;
        u32::try_from(row.int(0)?).map_err(|_| corrupt("the schema version is negative"))
    }

    async fn close(&self) {
        self.telemetry.close().await;
        self.closed.store(true, Ordering::Release);
        self.pool.close();
    }

    fn release_blobs(&self) -> Option<Arc<dyn BlobStore>> {
        Some(Arc::new(PgBlobStore::new(self.pool.clone())))
    }
}
