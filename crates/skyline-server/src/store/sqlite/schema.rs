//! Opening connections, the embedded migrations and the `schema_version`
//! table, and the license index check.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{backend_error, SqliteOptions};
use crate::license_index::LicenseIndex;
use crate::store::StoreError;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_releases_admin_tokens.sql"),
];

/// The text whose digest marks which index secret a database was built with.
const INDEX_CHECK_TEXT: &str = "skyline/v1 license index check";

/// Opens (creating if needed) the write connection, configures it, migrates
/// the schema and checks the license index.
pub(super) fn open_writer(
    path: &Path,
    options: &SqliteOptions,
    index: &LicenseIndex,
) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Backend(format!("cannot create the database directory: {e}"))
        })?;
    }
    let conn = Connection::open(path).map_err(backend_error)?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(backend_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(backend_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "the database refused WAL mode (journal mode is `{mode}`)"
        )));
    }
    // In WAL mode, synchronous=NORMAL never loses a committed transaction when
    // the process is killed (the WAL is in the OS's hands once COMMIT
    // returns); only a power cut or OS crash may lose the last commits. FULL
    // also syncs the WAL on every commit and survives those.
    let synchronous = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(backend_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate(&conn)?;
    check_license_index(&conn, index)?;
    Ok(conn)
}

/// Opens a read-only connection to an existing database.
pub(super) fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(backend_error)?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(backend_error)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Brings the schema to the newest version, one transaction per migration.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(backend_error)?;
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(backend_error)?;
        let step = apply_next(conn);
        match step {
            Ok(true) => conn.execute_batch("COMMIT").map_err(backend_error)?,
            Ok(false) => {
                conn.execute_batch("COMMIT").map_err(backend_error)?;
                return Ok(());
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Applies the next migration, if any; `false` when up to date.
fn apply_next(conn: &Connection) -> Result<bool, StoreError> {
    let version: Option<i64> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()
        .map_err(backend_error)?;
    let version = usize::try_from(version.unwrap_or(0))
        .map_err(|_| StoreError::Backend("the schema version is negative".into()))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Invalid(format!(
            "the database schema is version {version}, newer than this server knows ({}): \
             upgrade the server",
            MIGRATIONS.len()
        )));
    }
    let Some(migration) = MIGRATIONS.get(version) else {
        return Ok(false);
    };
    conn.execute_batch(migration).map_err(backend_error)?;
    conn.execute("DELETE FROM schema_version", [])
        .map_err(backend_error)?;
    conn.execute(
        "INSERT INTO schema_version (version) VALUES (?1)",
        [version as i64 + 1],
    )
    .map_err(backend_error)?;
    tracing::info!(version = version + 1, "database schema migrated");
    Ok(true)
}

/// Records which index secret this database uses, or refuses a different one:
/// with another secret no stored key could ever be found again.
fn check_license_index(conn: &Connection, index: &LicenseIndex) -> Result<(), StoreError> {
    let check = hex::encode(index.digest(INDEX_CHECK_TEXT));
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'license_index_check'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend_error)?;
    match stored {
        Some(stored) if stored == check => Ok(()),
        Some(_) => Err(StoreError::Invalid(
            "this database's license keys were indexed with another identity key: \
             start the server with the identity key the database was created with"
                .into(),
        )),
        None => conn
            .execute(
                "INSERT INTO settings (name, value) VALUES ('license_index_check', ?1)",
                [check],
            )
            .map(drop)
            .map_err(backend_error),
    }
}

/// The schema version this build creates.
#[cfg(test)]
pub(super) fn latest_version() -> usize {
    MIGRATIONS.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_another_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/s.db");
        let options = SqliteOptions::default();
        let index = LicenseIndex::from_secret([1; 32]);
        let conn = open_writer(&path, &options, &index).unwrap();
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, latest_version());
        drop(conn);
        // Reopening is a no-op migration.
        drop(open_writer(&path, &options, &index).unwrap());
        let err = open_writer(&path, &options, &LicenseIndex::from_secret([2; 32])).unwrap_err();
        assert!(err.to_string().contains("another identity key"), "{err}");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let index = LicenseIndex::from_secret([1; 32]);
        let conn = open_writer(&path, &SqliteOptions::default(), &index).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        let err = open_writer(&path, &SqliteOptions::default(), &index).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }
}
