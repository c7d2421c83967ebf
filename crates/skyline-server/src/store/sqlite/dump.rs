//! Export and import of every table ([`DumpRecord`]s).
//!
//! Export runs on a reader inside one read transaction (one snapshot) and
//! hands each row to the caller's channel as it is read. Import runs as one
//! writer job, so inside one transaction: it refuses a database that has
//! data, inserts row by row with cached statements, and commits only after
//! the dump's end record.
//!
//! Release artifacts are files in the releases directory, not rows: an
//! export has no `releaseBlob` records and an import refuses them (`skyline
//! export` and `import` move them between the directory and the dump).

use rusqlite::{params, Connection, OptionalExtension, Row};
use tokio::sync::mpsc;

use super::backend_error;
use crate::store::dump::{
    artifacts_elsewhere, bad_dump, dumped_date, dumped_digest, dumped_duration, dumped_hash,
    dumped_signature, dumped_toggle, not_empty, other_index, ImportCheck,
};
use crate::store::{DumpCounts, DumpRecord, StoreError};

/// What export reads, in dump order, and how a row becomes a record.
type ToRecord = fn(&Row<'_>) -> rusqlite::Result<DumpRecord>;

const TABLES: [(&str, ToRecord); 10] = [
    ("SELECT name, value FROM settings ORDER BY name", setting),
    (
        "SELECT id, min_version, enabled FROM products ORDER BY id",
        product,
    ),
    (
        "SELECT id, product_id, duration, seats FROM plans ORDER BY id",
        plan,
    ),
    (
        "SELECT id, key_digest, key_last_group, plan_id, status, activation_date, expiry_date \
         FROM licenses ORDER BY id",
        license,
    ),
    (
        "SELECT license_id, serial_number, cs_product_uuid, bound_on, last_login, \
         previous_last_login, locked FROM devices ORDER BY license_id, bound_on, rowid",
        device,
    ),
    (
        "SELECT id, product_id, scope, plan_id, license_id, name, value_type, value \
         FROM toggles ORDER BY id",
        toggle,
    ),
    (
        "SELECT id, product_id, version, platform, channel, file_name, size, sha256, signature, \
         yanked, published_at FROM releases ORDER BY id",
        release,
    ),
    (
        "SELECT id, name, read_only, secret_hash, created_at, last_used_at, revoked_at \
         FROM admin_tokens ORDER BY id",
        admin_token,
    ),
    (
        "SELECT id, at, actor, action, product_id, license_id, detail FROM audit_log ORDER BY id",
        audit,
    ),
    (
        "SELECT id, license_id, product_id, event, data, client_time, received_at \
         FROM telemetry ORDER BY id",
        telemetry,
    ),
];

/// [`Store::export_dump`](crate::store::Store::export_dump), on a blocking thread.
pub(super) fn export(
    conn: &Connection,
    out: &mpsc::Sender<DumpRecord>,
) -> Result<DumpCounts, StoreError> {
    let mut counts = DumpCounts::default();
    for (sql, to_record) in TABLES {
        let mut statement = conn.prepare(sql).map_err(backend_error)?;
        let mut rows = statement.query([]).map_err(backend_error)?;
        while let Some(row) = rows.next().map_err(backend_error)? {
            let record = to_record(row).map_err(backend_error)?;
            counts.count(&record);
            out.blocking_send(record).map_err(|_| cancelled())?;
        }
    }
    let end = DumpRecord::End {
        records: counts.total(),
    };
    out.blocking_send(end).map_err(|_| cancelled())?;
    Ok(counts)
}

fn cancelled() -> StoreError {
    StoreError::Backend("the export was cancelled: its reader stopped".into())
}

fn setting(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Setting {
        name: row.get(0)?,
        value: row.get(1)?,
    })
}

fn product(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Product {
        id: row.get(0)?,
        min_version: row.get(1)?,
        enabled: row.get(2)?,
    })
}

fn plan(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Plan {
        id: row.get(0)?,
        product_id: row.get(1)?,
        duration: row.get(2)?,
        seats: row.get(3)?,
    })
}

fn license(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::License {
        id: row.get(0)?,
        key_digest: hex::encode(row.get::<_, Vec<u8>>(1)?),
        key_last_group: row.get(2)?,
        plan_id: row.get(3)?,
        status: row.get(4)?,
        activation_date: row.get(5)?,
        expiry_date: row.get(6)?,
    })
}

fn device(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Device {
        license_id: row.get(0)?,
        serial_number: row.get(1)?,
        cs_product_uuid: row.get(2)?,
        bound_on: row.get(3)?,
        last_login: row.get(4)?,
        previous_last_login: row.get(5)?,
        locked: row.get(6)?,
    })
}

fn toggle(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Toggle {
        id: row.get(0)?,
        product_id: row.get(1)?,
        scope: row.get(2)?,
        plan_id: row.get(3)?,
        license_id: row.get(4)?,
        name: row.get(5)?,
        value_type: row.get(6)?,
        value: row.get(7)?,
    })
}

fn release(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    let platform: String = row.get(3)?;
    Ok(DumpRecord::Release {
        id: row.get(0)?,
        product_id: row.get(1)?,
        version: row.get(2)?,
        platform: (!platform.is_empty()).then_some(platform),
        channel: row.get(4)?,
        file_name: row.get(5)?,
        size: row.get(6)?,
        sha256: hex::encode(row.get::<_, Vec<u8>>(7)?),
        signature: hex::encode(row.get::<_, Vec<u8>>(8)?),
        yanked: row.get(9)?,
        published_at: row.get(10)?,
    })
}

fn admin_token(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::AdminToken {
        id: row.get(0)?,
        name: row.get(1)?,
        read_only: row.get(2)?,
        secret_hash: hex::encode(row.get::<_, Vec<u8>>(3)?),
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

fn audit(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Audit {
        id: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        product_id: row.get(4)?,
        license_id: row.get(5)?,
        detail: row.get(6)?,
    })
}

fn telemetry(row: &Row<'_>) -> rusqlite::Result<DumpRecord> {
    Ok(DumpRecord::Telemetry {
        id: row.get(0)?,
        license_id: row.get(1)?,
        product_id: row.get(2)?,
        event: row.get(3)?,
        data: row.get(4)?,
        client_time: row.get(5)?,
        received_at: row.get(6)?,
    })
}

/// [`Store::import_dump`](crate::store::Store::import_dump), as one writer job.
pub(super) fn import(
    conn: &Connection,
    records: &mut mpsc::Receiver<DumpRecord>,
) -> Result<DumpCounts, StoreError> {
    let has_data: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM products) OR EXISTS (SELECT 1 FROM audit_log) \
             OR EXISTS (SELECT 1 FROM telemetry)",
            [],
            |r| r.get(0),
        )
        .map_err(backend_error)?;
    if has_data {
        return Err(not_empty());
    }
    let mut check = ImportCheck::default();
    while let Some(record) = records.blocking_recv() {
        check.next(&record)?;
        let kind = record.kind();
        insert(conn, record).map_err(|e| match e {
            StoreError::Backend(why) => {
                bad_dump(&format!("its `{kind}` records do not fit: {why}"))
            }
            other => other,
        })?;
    }
    check.finish()
}

fn insert(conn: &Connection, record: DumpRecord) -> Result<(), StoreError> {
    let run = |sql: &str, values: &[&dyn rusqlite::ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute(values))
            .map(drop)
            .map_err(backend_error)
    };
    match record {
        DumpRecord::Setting { name, value } => {
            let stored: Option<String> = conn
                .query_row("SELECT value FROM settings WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend_error)?;
            match stored {
                Some(stored) if stored == value => Ok(()),
                Some(_) if name == "license_index_check" => Err(other_index()),
                _ => run(
                    "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
                    params![name, value],
                ),
            }
        }
        DumpRecord::Product {
            id,
            min_version,
            enabled,
        } => run(
            "INSERT INTO products (id, min_version, enabled) VALUES (?1, ?2, ?3)",
            params![id, min_version, enabled],
        ),
        DumpRecord::Plan {
            id,
            product_id,
            duration,
            seats,
        } => {
            dumped_duration(&duration)?;
            run(
                "INSERT INTO plans (id, product_id, duration, seats) VALUES (?1, ?2, ?3, ?4)",
                params![id, product_id, duration, seats],
            )
        }
        DumpRecord::License {
            id,
            key_digest,
            key_last_group,
            plan_id,
            status,
            activation_date,
            expiry_date,
        } => {
            for date in [&activation_date, &expiry_date].into_iter().flatten() {
                dumped_date(date)?;
            }
            run(
                "INSERT INTO licenses (id, key_digest, key_last_group, plan_id, status, \
                 activation_date, expiry_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    dumped_digest(&key_digest)?,
                    key_last_group,
                    plan_id,
                    status,
                    activation_date,
                    expiry_date
                ],
            )
        }
        DumpRecord::Device {
            license_id,
            serial_number,
            cs_product_uuid,
            bound_on,
            last_login,
            previous_last_login,
            locked,
        } => {
            dumped_date(&bound_on)?;
            run(
                "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on, \
                 last_login, previous_last_login, locked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    license_id,
                    serial_number,
                    cs_product_uuid,
                    bound_on,
                    last_login,
                    previous_last_login,
                    locked
                ],
            )
        }
        DumpRecord::Toggle {
            id,
            product_id,
            scope,
            plan_id,
            license_id,
            name,
            value_type,
            value,
        } => {
            dumped_toggle(&value_type, &value)?;
            run(
                "INSERT INTO toggles (id, product_id, scope, plan_id, license_id, name, \
                 value_type, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, product_id, scope, plan_id, license_id, name, value_type, value],
            )
        }
        DumpRecord::Release {
            id,
            product_id,
            version,
            platform,
            channel,
            file_name,
            size,
            sha256,
            signature,
            yanked,
            published_at,
        } => {
            let size = i64::try_from(size).map_err(|_| bad_dump("a release is too large"))?;
            run(
                "INSERT INTO releases (id, product_id, version, platform, channel, file_name, \
                 size, sha256, signature, yanked, published_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    product_id,
                    version,
                    platform.unwrap_or_default(),
                    channel,
                    file_name,
                    size,
                    dumped_hash("a release digest", &sha256)?,
                    dumped_signature(&signature)?,
                    yanked,
                    published_at
                ],
            )
        }
        DumpRecord::AdminToken {
            id,
            name,
            read_only,
            secret_hash,
            created_at,
            last_used_at,
            revoked_at,
        } => run(
            "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at, \
             last_used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                name,
                read_only,
                dumped_hash("an admin token hash", &secret_hash)?,
                created_at,
                last_used_at,
                revoked_at
            ],
        ),
        DumpRecord::ReleaseBlob { .. } => Err(artifacts_elsewhere()),
        DumpRecord::Audit {
            id,
            at,
            actor,
            action,
            product_id,
            license_id,
            detail,
        } => run(
            "INSERT INTO audit_log (id, at, actor, action, product_id, license_id, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, at, actor, action, product_id, license_id, detail],
        ),
        DumpRecord::Telemetry {
            id,
            license_id,
            product_id,
            event,
            data,
            client_time,
            received_at,
        } => run(
            "INSERT INTO telemetry (id, license_id, product_id, event, data, client_time, \
             received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                license_id,
                product_id,
                event,
                data,
                client_time,
                received_at
            ],
        ),
        DumpRecord::End { .. } => Ok(()),
    }
}
