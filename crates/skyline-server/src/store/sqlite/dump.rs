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

use rusqlite::{params, Connection};
use tokio::sync::mpsc;

use super::backend_error;
use crate::store::dump::{
    artifacts_elsewhere, bad_dump, cancelled, dumped_date, dumped_digest, dumped_duration,
    dumped_hash, dumped_signature, dumped_toggle, not_empty, ImportCheck, EXPORTS,
};
use crate::store::{DumpCounts, DumpRecord, StoreError};

/// The order each table is exported in (devices in binding order).
fn order(table: &str) -> &'static str {
    match table {
        "settings" => "name",
        "devices" => "license_id, bound_on, rowid",
        _ => "id",
    }
}

/// [`Backend::export_dump`](crate::store::Backend::export_dump), on a blocking thread.
pub(super) fn export(
    conn: &Connection,
    out: &mpsc::Sender<DumpRecord>,
) -> Result<DumpCounts, StoreError> {
    let mut counts = DumpCounts::default();
    for export in &EXPORTS {
        let sql = export.select(order(export.table));
        let mut statement = conn.prepare(&sql).map_err(backend_error)?;
        let mut rows = statement.query([]).map_err(backend_error)?;
        while let Some(row) = rows.next().map_err(backend_error)? {
            let record = (export.record)(row)?;
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
    let counts = check.finish()?;
    // Event ids are claimed by the events that carry them; each license's
    // seat count and first binding day follow its devices.
    conn.execute_batch(
        "INSERT INTO telemetry_event_ids (license_id, event_id, seen_at) \
           SELECT license_id, event_id, min(received_at) FROM telemetry \
           WHERE event_id IS NOT NULL GROUP BY license_id, event_id; \
         UPDATE licenses SET \
           devices_bound = (SELECT count(*) FROM devices d WHERE d.license_id = licenses.id), \
           first_bound_on = (SELECT min(bound_on) FROM devices d WHERE d.license_id = licenses.id)",
    )
    .map_err(backend_error)?;
    Ok(counts)
}

fn insert(conn: &Connection, record: DumpRecord) -> Result<(), StoreError> {
    let run = |sql: &str, values: &[&dyn rusqlite::ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute(values))
            .map(drop)
            .map_err(backend_error)
    };
    match record {
        // The dump's settings win: the database is empty, so nothing was
        // indexed under its own license index secret yet.
        DumpRecord::Setting { name, value } => run(
            "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
            params![name, value],
        ),
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
            last_version,
            last_seen_at,
        } => {
            dumped_date(&bound_on)?;
            run(
                "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on, \
                 last_login, previous_last_login, locked, last_version, last_seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    license_id,
                    serial_number,
                    cs_product_uuid,
                    bound_on,
                    last_login,
                    previous_last_login,
                    locked,
                    last_version,
                    last_seen_at
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
            event_id,
        } => run(
            "INSERT INTO telemetry (id, license_id, product_id, event, data, client_time, \
             received_at, event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                license_id,
                product_id,
                event,
                data,
                client_time,
                received_at,
                event_id
            ],
        ),
        DumpRecord::End { .. } => Ok(()),
    }
}
