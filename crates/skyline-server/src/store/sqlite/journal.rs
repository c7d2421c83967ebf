//! The append-only tables: telemetry events and the audit log.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection};

use super::{backend_error, rows};
use crate::store::{
    key_suffix, Actor, AuditAction, AuditEntry, AuditFilter, AuditRecord, StoreError,
    TelemetryQuery, TelemetryRecord, TelemetryRow,
};

/// Appends one audit entry inside the caller's transaction.
pub(super) fn audit(
    conn: &Connection,
    by: &Actor,
    action: &AuditAction,
    product_id: Option<&str>,
    license_id: Option<i64>,
    detail: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, product_id, license_id, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            by.at,
            by.name,
            action.as_str(),
            product_id,
            license_id,
            detail
        ])
    })
    .map(drop)
    .map_err(backend_error)
}

/// [`Store::append_audit`](crate::store::Store::append_audit).
pub(super) fn append_audit(conn: &Connection, entry: &AuditEntry) -> Result<(), StoreError> {
    let license_id = match &entry.license {
        Some(digest) => Some(rows::require_license(conn, digest)?.id),
        None => None,
    };
    audit(
        conn,
        &entry.actor,
        &entry.action,
        entry.product_id.as_deref(),
        license_id,
        &entry.detail,
    )
}

/// [`Store::list_audit`](crate::store::Store::list_audit).
pub(super) fn list_audit(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut sql = String::from(
        "SELECT a.id, a.at, a.actor, a.action, a.product_id, a.license_id, l.key_last_group, \
         a.detail FROM audit_log a LEFT JOIN licenses l ON l.id = a.license_id WHERE 1 = 1",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(digest) = &filter.license {
        let license = rows::require_license(conn, digest)?;
        sql.push_str(" AND a.license_id = ?");
        args.push(SqlValue::Integer(license.id));
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND a.at >= ?");
        args.push(SqlValue::Integer(since));
    }
    // The newest `limit` entries, returned oldest first.
    sql = format!("SELECT * FROM ({sql} ORDER BY a.id DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        args.push(SqlValue::Integer(i64::from(limit)));
    }
    sql.push_str(") ORDER BY id");
    let mut stmt = conn.prepare(&sql).map_err(backend_error)?;
    let records = stmt
        .query_map(params_from_iter(args), |row| {
            Ok(AuditRecord {
                id: row.get(0)?,
                at: row.get(1)?,
                actor: row.get(2)?,
                action: AuditAction::parse(&row.get::<_, String>(3)?),
                product_id: row.get(4)?,
                license_id: row.get(5)?,
                key_suffix: row.get::<_, Option<String>>(6)?.map(|g| key_suffix(&g)),
                detail: row.get(7)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(records)
}

/// [`Store::record_telemetry`](crate::store::Store::record_telemetry).
pub(super) fn record_telemetry(
    conn: &Connection,
    record: &TelemetryRecord,
    data_json: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO telemetry (license_id, product_id, event, data, client_time, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.license_id,
            record.product_id,
            record.event,
            data_json,
            record.client_time,
            record.received_at
        ])
    })
    .map(drop)
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::not_found("license"),
        _ => backend_error(e),
    })
}

/// [`Store::export_telemetry`](crate::store::Store::export_telemetry).
pub(super) fn export_telemetry(
    conn: &Connection,
    query: &TelemetryQuery,
) -> Result<Vec<TelemetryRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, license_id, event, data, client_time, received_at FROM telemetry \
             WHERE product_id = ?1 AND id > ?2 AND received_at >= ?3 ORDER BY id LIMIT ?4",
        )
        .map_err(backend_error)?;
    let raw = stmt
        .query_map(
            params![
                query.product_id,
                query.after_id.unwrap_or(0),
                query.since.unwrap_or(i64::MIN),
                query.limit
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            },
        )
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(backend_error)?;
    raw.into_iter()
        .map(|(id, license_id, event, data, client_time, received_at)| {
            let data = data
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| StoreError::Backend(format!("stored telemetry data: {e}")))?;
            Ok(TelemetryRow {
                id,
                license_id,
                event,
                data,
                client_time,
                received_at,
            })
        })
        .collect()
}
