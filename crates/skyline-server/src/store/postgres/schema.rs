//! The embedded migrations and the `schema_version` table, and the license
//! index check, all in one transaction under an advisory lock so that nodes
//! starting together migrate once, one after the other.

use deadpool_postgres::Client;

use super::pg_error;
use crate::license_index::LicenseIndex;
use crate::store::StoreError;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_releases_admin_tokens_blobs.sql"),
];

/// The text whose digest marks which index secret a database was built with
/// (the same as SQLite's, so a dump carries its check between backends).
const INDEX_CHECK_TEXT: &str = "skyline/v1 license index check";

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

/// Brings the schema to the newest version and checks (or records) the
/// license index, in one transaction holding the migration lock.
pub(super) async fn migrate(
    client: &mut Client,
    index: &LicenseIndex,
) -> Result<Migration, StoreError> {
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
        .map_err(|_| StoreError::Backend("the schema version is negative".into()))?;
    let latest = latest_version();
    if from > latest {
        return Err(StoreError::Invalid(format!(
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
    check_license_index(&tx, index).await?;
    tx.commit().await.map_err(pg_error)?;
    Ok(Migration { from, to: latest })
}

/// The schema version this build creates.
pub(super) fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Records which index secret this database uses, or refuses a different
/// one: with another secret no stored key could ever be found again.
async fn check_license_index(
    tx: &deadpool_postgres::Transaction<'_>,
    index: &LicenseIndex,
) -> Result<(), StoreError> {
    let check = hex::encode(index.digest(INDEX_CHECK_TEXT));
    let stored: Option<String> = tx
        .query_opt(
            "SELECT value FROM settings WHERE name = 'license_index_check'",
            &[],
        )
        .await
        .map_err(pg_error)?
        .map(|row| row.get(0));
    match stored {
        Some(stored) if stored == check => Ok(()),
        Some(_) => Err(StoreError::Invalid(
            "this database's license keys were indexed with another identity key: \
             start the server with the identity key the database was created with"
                .into(),
        )),
        None => tx
            .execute(
                "INSERT INTO settings (name, value) VALUES ('license_index_check', $1)",
                &[&check],
            )
            .await
            .map(drop)
            .map_err(pg_error),
    }
}
