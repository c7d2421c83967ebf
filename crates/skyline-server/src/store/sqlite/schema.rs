//! Opening connections, the embedded migrations and the `schema_version`
//! table, and the license index check.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{backend_error, SqliteOptions};
use crate::license_index::{self, LicenseIndex, LEGACY_CHECK_SETTING, SECRET_SETTING};
use crate::store::StoreError;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_releases_admin_tokens.sql"),
    include_str!("migrations/0003_seat_counts.sql"),
    include_str!("migrations/0004_telemetry_event_ids.sql"),
    include_str!("migrations/0005_device_activity.sql"),
];
const _: () = assert!(MIGRATIONS.len() == crate::store::SCHEMA_VERSION as usize);

/// Opens (creating if needed) the write connection, configures it, migrates
/// the schema and settles the license index.
pub(super) fn open_writer(
    path: &Path,
    options: &SqliteOptions,
    legacy: Option<&LicenseIndex>,
) -> Result<(Connection, LicenseIndex), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_private_dir_all(parent).map_err(|e| {
            StoreError::Config(format!("cannot create the database directory: {e}"))
        })?;
    }
    // The database holds customers' devices and telemetry: 0600 (its WAL
    // and shared-memory files take the same mode).
    if !path.as_os_str().is_empty() && path.as_os_str() != ":memory:" {
        crate::files::create_private_file_if_missing(path)
            .map_err(|e| StoreError::Config(format!("cannot create the database file: {e}")))?;
    }
    let conn = Connection::open(path).map_err(backend_error)?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(backend_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(backend_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
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
    let index = settle_license_index(&conn, legacy)?;
    Ok((conn, index))
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
        .map_err(|_| crate::store::error::corrupt("the schema version is negative"))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Config(format!(
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

/// Reads the license index settings and settles the index in one write
/// transaction, storing the secret when the database has none yet.
fn settle_license_index(
    conn: &Connection,
    legacy: Option<&LicenseIndex>,
) -> Result<LicenseIndex, StoreError> {
    let setting = |name: &str| -> Result<Option<String>, StoreError> {
        conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(backend_error)
    };
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(backend_error)?;
    let settled = (|| {
        let secret = setting(SECRET_SETTING)?;
        let check = setting(LEGACY_CHECK_SETTING)?;
        let settled = license_index::settle(secret.as_deref(), check.as_deref(), legacy)
            .map_err(crate::store::index_error)?;
        if settled.store_secret {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)",
                [SECRET_SETTING, settled.index.stored_form().as_str()],
            )
            .map_err(backend_error)?;
        }
        Ok(settled.index)
    })();
    match settled {
        Ok(index) => {
            conn.execute_batch("COMMIT").map_err(backend_error)?;
            Ok(index)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
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
    use skyline_protocol::IdentityKeyPair;

    #[test]
    fn migrates_once_and_keeps_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/s.db");
        let options = SqliteOptions::default();
        let (conn, index) = open_writer(&path, &options, None).unwrap();
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, latest_version());
        drop(conn);
        // Reopening is a no-op migration and finds the same index.
        let (_, again) = open_writer(&path, &options, None).unwrap();
        assert_eq!(again.digest("K"), index.digest("K"));
    }

    #[test]
    fn an_older_database_needs_its_identity_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let options = SqliteOptions::default();
        let identity = IdentityKeyPair::from_seed(&[7; 32]).unwrap();
        let legacy = LicenseIndex::from_identity(&identity).unwrap();
        // What an earlier version left: a check of its secret, no secret.
        let (conn, _) = open_writer(&path, &options, None).unwrap();
        conn.execute("DELETE FROM settings", []).unwrap();
        conn.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)",
            [LEGACY_CHECK_SETTING, legacy.legacy_check().as_str()],
        )
        .unwrap();
        drop(conn);
        let err = open_writer(&path, &options, None).unwrap_err();
        assert!(err.to_string().contains("--identity"), "{err}");
        let other =
            LicenseIndex::from_identity(&IdentityKeyPair::from_seed(&[8; 32]).unwrap()).unwrap();
        let err = open_writer(&path, &options, Some(&other)).unwrap_err();
        assert!(err.to_string().contains("another identity key"), "{err}");
        let (_, index) = open_writer(&path, &options, Some(&legacy)).unwrap();
        assert_eq!(index.digest("K"), legacy.digest("K"));
        // From now on the database finds its keys without the identity key.
        let (_, index) = open_writer(&path, &options, None).unwrap();
        assert_eq!(index.digest("K"), legacy.digest("K"));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let (conn, _) = open_writer(&path, &SqliteOptions::default(), None).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        let err = open_writer(&path, &SqliteOptions::default(), None).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }
}
