//! The read queries. Those that read several tables run in one transaction
//! (the caller's), so they see one snapshot.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::pg_error;
use super::rows::{query, query_opt};
use crate::domain::{
    AdminToken, AdminTokenCredential, AuditRecord, LayeredToggle, LicenseInfo, Plan, Product,
    Release, Sha256Digest, TelemetryQuery, TelemetryRow, ToggleSetting,
};
use crate::license_index::LicenseDigest;
use crate::store::rows;
use crate::store::{AuditQuery, StoreError};

async fn product_exists<C: GenericClient>(c: &C, id: &str) -> Result<bool, StoreError> {
    Ok(query_opt(c, "SELECT 1 FROM products WHERE id = $1", &[&id])
        .await
        .map_err(pg_error)?
        .is_some())
}

/// [`Backend::toggle_values`](crate::store::Backend::toggle_values): one
/// query; no row means no such license, a row without a name no toggles.
pub(super) async fn toggle_values<C: GenericClient>(
    c: &C,
    license_id: i64,
) -> Result<Option<Vec<LayeredToggle>>, StoreError> {
    let sql = format!(
        "SELECT {} FROM licenses l JOIN plans p ON p.id = l.plan_id \
         LEFT JOIN toggles t ON t.product_id = p.product_id AND (t.scope = 'product' \
            OR (t.scope = 'plan' AND t.plan_id = l.plan_id) \
            OR (t.scope = 'license' AND t.license_id = l.id)) \
         WHERE l.id = $1",
        rows::LAYERED_TOGGLE_COLUMNS
    );
    let found = query(c, &sql, &[&license_id]).await.map_err(pg_error)?;
    if found.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(found.len());
    for row in &found {
        let named: Option<String> = row.try_get(1).map_err(pg_error)?;
        if named.is_some() {
            values.push(rows::layered_toggle(row)?);
        }
    }
    Ok(Some(values))
}

/// [`Backend::products`](crate::store::Backend::products).
pub(super) async fn products<C: GenericClient>(c: &C) -> Result<Vec<Product>, StoreError> {
    let sql = format!(
        "SELECT {} FROM products ORDER BY id COLLATE \"C\"",
        rows::PRODUCT_COLUMNS
    );
    query(c, &sql, &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::product)
        .collect()
}

/// [`Backend::plans`](crate::store::Backend::plans).
pub(super) async fn plans<C: GenericClient>(
    c: &C,
    product_id: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    let sql = format!(
        "SELECT {} FROM plans WHERE $1::TEXT IS NULL OR product_id = $1 \
         ORDER BY id COLLATE \"C\"",
        rows::PLAN_COLUMNS
    );
    query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::plan(row, 0))
        .collect()
}

/// [`Backend::license`](crate::store::Backend::license).
pub(super) async fn license<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<Option<LicenseInfo>, StoreError> {
    let sql = format!("{} WHERE l.key_digest = $1", rows::LICENSE_SELECT);
    let Some(row) = query_opt(c, &sql, &[&&digest[..]])
        .await
        .map_err(pg_error)?
    else {
        return Ok(None);
    };
    let license = rows::license(&row)?;
    let mut info = LicenseInfo::of(&license);
    let sql = format!(
        "{} WHERE license_id = $1 ORDER BY bound_on, seq",
        rows::DEVICE_SELECT
    );
    info.devices = query(c, &sql, &[&license.id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::device(row).map(|(_, device)| device))
        .collect::<Result<_, _>>()?;
    Ok(Some(info))
}

/// [`Backend::licenses`](crate::store::Backend::licenses).
pub(super) async fn licenses<C: GenericClient>(
    c: &C,
    product_id: Option<&str>,
) -> Result<Vec<LicenseInfo>, StoreError> {
    let sql = format!(
        "{} WHERE $1::TEXT IS NULL OR p.product_id = $1 ORDER BY l.id",
        rows::LICENSE_SELECT
    );
    let mut licenses: Vec<LicenseInfo> = query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::license(row).map(|l| LicenseInfo::of(&l)))
        .collect::<Result<_, _>>()?;
    let sql = format!(
        "{} WHERE license_id IN (SELECT l.id FROM licenses l JOIN plans p \
         ON p.id = l.plan_id WHERE $1::TEXT IS NULL OR p.product_id = $1) \
         ORDER BY bound_on, seq",
        rows::DEVICE_SELECT
    );
    let devices = query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::device)
        .collect::<Result<Vec<_>, _>>()?;
    rows::attach_devices(&mut licenses, devices);
    Ok(licenses)
}

/// [`Backend::toggles`](crate::store::Backend::toggles).
pub(super) async fn toggles<C: GenericClient>(
    c: &C,
    product_id: &str,
) -> Result<Option<Vec<ToggleSetting>>, StoreError> {
    if !product_exists(c, product_id).await? {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {} FROM toggles t LEFT JOIN licenses l ON l.id = t.license_id \
         WHERE t.product_id = $1 \
         ORDER BY CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
         t.plan_id COLLATE \"C\" NULLS FIRST, t.license_id NULLS FIRST, t.name COLLATE \"C\"",
        rows::TOGGLE_SETTING_COLUMNS
    );
    query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::toggle_setting)
        .collect::<Result<_, _>>()
        .map(Some)
}

/// [`Backend::telemetry`](crate::store::Backend::telemetry).
pub(super) async fn telemetry<C: GenericClient>(
    c: &C,
    query_: &TelemetryQuery,
) -> Result<Vec<TelemetryRow>, StoreError> {
    let params: [&(dyn ToSql + Sync); 4] = [
        &query_.product_id,
        &query_.after_id.unwrap_or(0),
        &query_.since.unwrap_or(i64::MIN),
        &i64::from(query_.limit),
    ];
    let sql = format!(
        "SELECT {} FROM telemetry WHERE product_id = $1 AND id > $2 AND received_at >= $3 \
         ORDER BY id LIMIT $4",
        rows::TELEMETRY_COLUMNS
    );
    query(c, &sql, &params)
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::telemetry_row)
        .collect()
}

/// [`Backend::audit`](crate::store::Backend::audit).
pub(super) async fn audit<C: GenericClient>(
    c: &C,
    query_: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    let limit = query_.limit.map(i64::from);
    // The newest `limit` entries, returned oldest first.
    let sql = format!(
        "SELECT * FROM (SELECT {} FROM audit_log a LEFT JOIN licenses l ON l.id = a.license_id \
         WHERE ($1::BIGINT IS NULL OR a.license_id = $1) AND ($2::BIGINT IS NULL OR a.at >= $2) \
         ORDER BY a.id DESC LIMIT $3) newest ORDER BY id",
        rows::AUDIT_COLUMNS
    );
    let params: [&(dyn ToSql + Sync); 3] = [&query_.license_id, &query_.since, &limit];
    query(c, &sql, &params)
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::audit_record)
        .collect()
}

/// Every release of a product, oldest first.
pub(super) async fn releases_of<C: GenericClient>(
    c: &C,
    product_id: &str,
) -> Result<Vec<Release>, StoreError> {
    let sql = format!("{} WHERE product_id = $1 ORDER BY id", rows::RELEASE_SELECT);
    query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::release)
        .collect()
}

/// [`Backend::releases`](crate::store::Backend::releases).
pub(super) async fn releases<C: GenericClient>(
    c: &C,
    product_id: &str,
) -> Result<Option<Vec<Release>>, StoreError> {
    if !product_exists(c, product_id).await? {
        return Ok(None);
    }
    releases_of(c, product_id).await.map(Some)
}

/// [`Backend::release_blob_in_use`](crate::store::Backend::release_blob_in_use).
pub(super) async fn release_blob_in_use<C: GenericClient>(
    c: &C,
    sha256: &Sha256Digest,
) -> Result<bool, StoreError> {
    Ok(query_opt(
        c,
        "SELECT 1 FROM releases WHERE sha256 = $1 LIMIT 1",
        &[&&sha256[..]],
    )
    .await
    .map_err(pg_error)?
    .is_some())
}

/// [`Backend::admin_token`](crate::store::Backend::admin_token).
pub(super) async fn admin_token<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<AdminTokenCredential>, StoreError> {
    let sql = format!("{} WHERE id = $1", rows::TOKEN_SELECT);
    query_opt(c, &sql, &[&id])
        .await
        .map_err(pg_error)?
        .map(|row| rows::admin_token(&row))
        .transpose()
}

/// [`Backend::admin_tokens`](crate::store::Backend::admin_tokens).
pub(super) async fn admin_tokens<C: GenericClient>(c: &C) -> Result<Vec<AdminToken>, StoreError> {
    let sql = format!(
        "{} ORDER BY created_at, id COLLATE \"C\"",
        rows::TOKEN_SELECT
    );
    query(c, &sql, &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::admin_token(row).map(|c| c.token))
        .collect()
}
