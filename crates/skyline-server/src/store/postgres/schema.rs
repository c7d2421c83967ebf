//! The embedded migrations and the `schema_version` table, and the license
//! index check, all in one transaction under an advisory lock so that nodes
//! starting together migrate once, one after the other.

use deadpool_postgres::Client;

use super::pg_error;
use crate::license_index::{self, LicenseIndex, LEGACY_CHECK_SETTING, SECRET_SETTING};
use crate::store::StoreError;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_releases_admin_tokens_blobs.sql"),
    include_str!("migrations/0003_seat_counts.sql"),
    include_str!("migrations/0004_telemetry_event_ids.sql"),
    include_str!("migrations/0005_device_activity.sql"),
];
const _: () = assert!(MIGRATIONS.len() == crate::store::SCHEMA_VERSION as usize);

/// The advisory lock key that serializes migrations across nodes
/// (`'skyline'` as bytes).
const MIGRATION_LOCK: i64 = 0x0073_6b79_6c69_6e65;

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The schema version found.
    pub from: u32,
    /// The schema version now.
    pub to: u32,
}

/// Brings the schema to the newest version and settles the license index
/// (storing its secret when the database has none yet), in one transaction
/// holding the migration lock: nodes starting together agree on one secret.
pub(super) async fn migrate(
    client: &mut Client,
    legacy: Option<&LicenseIndex>,
) -> Result<(Migration, LicenseIndex), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(pg_error)?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(pg_error)?
        .map(|row| row.get(0));
    let from = u32::try_from(found.unwrap_or(0))
        .map_err(|_| crate::store::error::corrupt("the schema version is negative"))?;
    let latest = latest_version();
    if from > latest {
        return Err(StoreError::Config(format!(
            "the database schema is version {from}, newer than this server knows ({latest}): \
             upgrade the server"
        )));
    }
    for (version, migration) in (from + 1..).zip(&MIGRATIONS[from as usize..]) {
        tx.batch_execute(migration).await.map_err(pg_error)?;
        tracing::info!(version, "database schema migrated");
    }
    if from < latest {
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .map_err(pg_error)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(latest as i32)],
        )
        .await
        .map_err(pg_error)?;
    }
    let index = settle_license_index(&tx, legacy).await?;
    tx.commit().await.map_err(pg_error)?;
    Ok((Migration { from, to: latest }, index))
}

/// The schema version this build creates.
pub(super) fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Reads the license index settings and settles the index, storing the
/// secret when the database has none yet.
async fn settle_license_index(
    tx: &deadpool_postgres::Transaction<'_>,
    legacy: Option<&LicenseIndex>,
) -> Result<LicenseIndex, StoreError> {
    let mut settings = [None, None];
    for (slot, name) in settings
        .iter_mut()
        .zip([SECRET_SETTING, LEGACY_CHECK_SETTING])
    {
        *slot = tx
            .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(pg_error)?
            .map(|row| row.get::<_, String>(0));
    }
    let [secret, check] = settings;
    let settled = license_index::settle(secret.as_deref(), check.as_deref(), legacy)
        .map_err(crate::store::index_error)?;
    if settled.store_secret {
        tx.execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2)",
            &[&SECRET_SETTING, &settled.index.stored_form().as_str()],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(settled.index)
}
