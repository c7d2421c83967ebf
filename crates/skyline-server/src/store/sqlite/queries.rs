//! The read queries, each on a pooled reader inside one read transaction,
//! and telemetry inserts (on the writer).

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::backend_error;
use crate::domain::{
    AdminToken, AdminTokenCredential, AuditRecord, LayeredToggle, LicenseInfo, Plan, Product,
    Release, Sha256Digest, TelemetryQuery, TelemetryRecord, TelemetryRow, ToggleSetting,
};
use crate::license_index::LicenseDigest;
use crate::store::rows;
use crate::store::{AuditQuery, StoreError};

/// Every row of a cached query, mapped.
fn all<T>(
    conn: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(backend_error)?;
    let mut found = statement.query(values).map_err(backend_error)?;
    let mut out = Vec::new();
    while let Some(row) = found.next().map_err(backend_error)? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn product_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?1)")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .map_err(backend_error)
}

/// [`Backend::record_telemetry`](crate::store::Backend::record_telemetry):
/// an event with an id first claims it; one whose id is claimed already is
/// not stored again.
pub(super) fn record_telemetry(
    conn: &Connection,
    record: &TelemetryRecord,
    data_json: Option<&str>,
) -> Result<(), StoreError> {
    let unknown_license = |e: rusqlite::Error| {
        if super::is_constraint(&e) {
            StoreError::not_found("license")
        } else {
            backend_error(e)
        }
    };
    if let Some(id) = &record.event_id {
        let claimed = conn
            .prepare_cached(
                "INSERT INTO telemetry_event_ids (license_id, event_id, seen_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (license_id, event_id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![record.license_id, id, record.received_at]))
            .map_err(unknown_license)?;
        if claimed == 0 {
            return Ok(());
        }
    }
    conn.prepare_cached(
        "INSERT INTO telemetry (license_id, product_id, event, data, client_time, received_at, \
         event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.license_id,
            record.product_id,
            record.event,
            data_json,
            record.client_time,
            record.received_at,
            record.event_id
        ])
    })
    .map(drop)
    .map_err(unknown_license)
}

/// [`Backend::toggle_values`](crate::store::Backend::toggle_values).
pub(super) fn toggle_values(
    conn: &Connection,
    license_id: i64,
) -> Result<Option<Vec<LayeredToggle>>, StoreError> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT id FROM licenses WHERE id = ?1")
        .and_then(|mut s| s.query_row([license_id], |r| r.get(0)).optional())
        .map_err(backend_error)?;
    if exists.is_none() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {} FROM licenses l JOIN plans p ON p.id = l.plan_id \
         JOIN toggles t ON t.product_id = p.product_id \
         WHERE l.id = ?1 AND (t.scope = 'product' \
            OR (t.scope = 'plan' AND t.plan_id = l.plan_id) \
            OR (t.scope = 'license' AND t.license_id = l.id))",
        rows::LAYERED_TOGGLE_COLUMNS
    );
    all(conn, &sql, [license_id], |r| rows::layered_toggle(r)).map(Some)
}

/// [`Backend::products`](crate::store::Backend::products).
pub(super) fn products(conn: &Connection) -> Result<Vec<Product>, StoreError> {
    let sql = format!("SELECT {} FROM products ORDER BY id", rows::PRODUCT_COLUMNS);
    all(conn, &sql, [], |r| rows::product(r))
}

/// [`Backend::plans`](crate::store::Backend::plans).
pub(super) fn plans(conn: &Connection, product_id: Option<&str>) -> Result<Vec<Plan>, StoreError> {
    let sql = format!(
        "SELECT {} FROM plans WHERE ?1 IS NULL OR product_id = ?1 ORDER BY id",
        rows::PLAN_COLUMNS
    );
    all(conn, &sql, [product_id], |r| rows::plan(r, 0))
}

/// [`Backend::license`](crate::store::Backend::license).
pub(super) fn license(
    conn: &Connection,
    digest: &LicenseDigest,
) -> Result<Option<LicenseInfo>, StoreError> {
    let sql = format!("{} WHERE l.key_digest = ?1", rows::LICENSE_SELECT);
    let found = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row([&digest[..]], |r| Ok(rows::license(r)))
                .optional()
        })
        .map_err(backend_error)?
        .transpose()?;
    let Some(license) = found else {
        return Ok(None);
    };
    let mut info = LicenseInfo::of(&license);
    let sql = format!(
        "{} WHERE license_id = ?1 ORDER BY bound_on, rowid",
        rows::DEVICE_SELECT
    );
    info.devices = all(conn, &sql, [license.id], |r| {
        rows::device(r).map(|(_, d)| d)
    })?;
    Ok(Some(info))
}

/// [`Backend::licenses`](crate::store::Backend::licenses).
pub(super) fn licenses(
    conn: &Connection,
    product_id: Option<&str>,
) -> Result<Vec<LicenseInfo>, StoreError> {
    let sql = format!(
        "{} WHERE ?1 IS NULL OR p.product_id = ?1 ORDER BY l.id",
        rows::LICENSE_SELECT
    );
    let mut licenses = all(conn, &sql, [product_id], |r| {
        rows::license(r).map(|l| LicenseInfo::of(&l))
    })?;
    let sql = format!(
        "{} WHERE license_id IN (SELECT l.id FROM licenses l JOIN plans p \
         ON p.id = l.plan_id WHERE ?1 IS NULL OR p.product_id = ?1) \
         ORDER BY bound_on, rowid",
        rows::DEVICE_SELECT
    );
    let devices = all(conn, &sql, [product_id], |r| rows::device(r))?;
    rows::attach_devices(&mut licenses, devices);
    Ok(licenses)
}

/// [`Backend::toggles`](crate::store::Backend::toggles).
pub(super) fn toggles(
    conn: &Connection,
    product_id: &str,
) -> Result<Option<Vec<ToggleSetting>>, StoreError> {
    if !product_exists(conn, product_id)? {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {} FROM toggles t LEFT JOIN licenses l ON l.id = t.license_id \
         WHERE t.product_id = ?1 \
         ORDER BY CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
         t.plan_id, t.license_id, t.name",
        rows::TOGGLE_SETTING_COLUMNS
    );
    all(conn, &sql, [product_id], |r| rows::toggle_setting(r)).map(Some)
}

/// [`Backend::telemetry`](crate::store::Backend::telemetry).
pub(super) fn telemetry(
    conn: &Connection,
    query: &TelemetryQuery,
) -> Result<Vec<TelemetryRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM telemetry WHERE product_id = ?1 AND id > ?2 AND received_at >= ?3 \
         ORDER BY id LIMIT ?4",
        rows::TELEMETRY_COLUMNS
    );
    all(
        conn,
        &sql,
        params![
            query.product_id,
            query.after_id.unwrap_or(0),
            query.since.unwrap_or(i64::MIN),
            query.limit
        ],
        |r| rows::telemetry_row(r),
    )
}

/// [`Backend::audit`](crate::store::Backend::audit).
pub(super) fn audit(conn: &Connection, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let mut sql = format!(
        "SELECT {} FROM audit_log a LEFT JOIN licenses l ON l.id = a.license_id WHERE 1 = 1",
        rows::AUDIT_COLUMNS
    );
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(license_id) = query.license_id {
        sql.push_str(" AND a.license_id = ?");
        args.push(SqlValue::Integer(license_id));
    }
    if let Some(since) = query.since {
        sql.push_str(" AND a.at >= ?");
        args.push(SqlValue::Integer(since));
    }
    // The newest `limit` entries, returned oldest first.
    sql = format!("SELECT * FROM ({sql} ORDER BY a.id DESC");
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ?");
        args.push(SqlValue::Integer(i64::from(limit)));
    }
    sql.push_str(") ORDER BY id");
    let mut statement = conn.prepare(&sql).map_err(backend_error)?;
    let mut found = statement
        .query(params_from_iter(args))
        .map_err(backend_error)?;
    let mut records = Vec::new();
    while let Some(row) = found.next().map_err(backend_error)? {
        records.push(rows::audit_record(row)?);
    }
    Ok(records)
}

/// Every release of a product, oldest first.
pub(super) fn releases_of(conn: &Connection, product_id: &str) -> Result<Vec<Release>, StoreError> {
    let sql = format!("{} WHERE product_id = ?1 ORDER BY id", rows::RELEASE_SELECT);
    all(conn, &sql, [product_id], |r| rows::release(r))
}

/// [`Backend::releases`](crate::store::Backend::releases).
pub(super) fn releases(
    conn: &Connection,
    product_id: &str,
) -> Result<Option<Vec<Release>>, StoreError> {
    if !product_exists(conn, product_id)? {
        return Ok(None);
    }
    releases_of(conn, product_id).map(Some)
}

/// [`Backend::release_blob_in_use`](crate::store::Backend::release_blob_in_use).
pub(super) fn release_blob_in_use(
    conn: &Connection,
    sha256: &Sha256Digest,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM releases WHERE sha256 = ?1)",
        [&sha256[..]],
        |r| r.get(0),
    )
    .map_err(backend_error)
}

/// [`Backend::admin_token`](crate::store::Backend::admin_token).
pub(super) fn admin_token(
    conn: &Connection,
    id: &str,
) -> Result<Option<AdminTokenCredential>, StoreError> {
    conn.prepare_cached(&format!("{} WHERE id = ?1", rows::TOKEN_SELECT))
        .and_then(|mut s| s.query_row([id], |r| Ok(rows::admin_token(r))).optional())
        .map_err(backend_error)?
        .transpose()
}

/// [`Backend::admin_tokens`](crate::store::Backend::admin_tokens).
pub(super) fn admin_tokens(conn: &Connection) -> Result<Vec<AdminToken>, StoreError> {
    let sql = format!("{} ORDER BY created_at, id", rows::TOKEN_SELECT);
    all(conn, &sql, [], |r| rows::admin_token(r).map(|c| c.token))
}
