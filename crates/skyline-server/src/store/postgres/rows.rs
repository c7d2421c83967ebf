//! Prepared-statement helpers and row loaders shared by the PostgreSQL modules.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use skyline_protocol::dates::PlanDuration;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::pg_error;
use crate::license_index::LicenseDigest;
use crate::store::codec;
use crate::store::{DeviceBinding, LicenseStatus, Product, StoreError};

/// Query parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs a cached prepared statement; every row.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// Runs a cached prepared statement; at most one row.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// Runs a cached prepared statement; how many rows it changed.
pub(super) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// Reads column `i`, a schema mismatch being a backend error.
pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
) -> Result<T, StoreError> {
    row.try_get(i).map_err(pg_error)
}

/// A license status column.
pub(super) fn status_from_text(text: &str) -> LicenseStatus {
    if text == LicenseStatus::Revoked.as_str() {
        LicenseStatus::Revoked
    } else {
        LicenseStatus::Active
    }
}

/// A license joined with its plan.
#[derive(Debug)]
pub(super) struct LicenseRow {
    pub id: i64,
    pub product_id: String,
    pub plan_id: String,
    pub last_group: String,
    pub status: LicenseStatus,
    pub activation_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    pub duration: PlanDuration,
    pub seats: u32,
}

/// The `SELECT … FROM` that [`license_row`] reads.
pub(super) const LICENSE_SELECT: &str = "SELECT l.id, p.product_id, l.plan_id, l.key_last_group, \
     l.status, l.activation_date, l.expiry_date, p.duration, p.seats \
     FROM licenses l JOIN plans p ON p.id = l.plan_id";

/// Reads one row of [`LICENSE_SELECT`].
pub(super) fn license_row(row: &Row) -> Result<LicenseRow, StoreError> {
    let seats: i32 = get(row, 8)?;
    Ok(LicenseRow {
        id: get(row, 0)?,
        product_id: get(row, 1)?,
        plan_id: get(row, 2)?,
        last_group: get(row, 3)?,
        status: status_from_text(get(row, 4)?),
        activation_date: get(row, 5)?,
        expiry_date: get(row, 6)?,
        duration: codec::duration_from_text(get(row, 7)?)?,
        seats: u32::try_from(seats)
            .map_err(|_| StoreError::Backend("a plan has a negative seat count".into()))?,
    })
}

/// The license with this digest, if any.
pub(super) async fn license_by_digest<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<Option<LicenseRow>, StoreError> {
    let sql = format!("{LICENSE_SELECT} WHERE l.key_digest = $1");
    query_opt(c, &sql, &[&&digest[..]])
        .await
        .map_err(pg_error)?
        .map(|row| license_row(&row))
        .transpose()
}

/// The license with this digest, or `NotFound`.
pub(super) async fn require_license<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<LicenseRow, StoreError> {
    license_by_digest(c, digest)
        .await?
        .ok_or_else(|| StoreError::not_found("license key"))
}

/// The license with this digest, locked until the transaction ends
/// (`FOR NO KEY UPDATE`: writers of the same license wait, inserts that only
/// reference it, such as telemetry, do not), or `None`.
pub(super) async fn lock_license<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<Option<LicenseRow>, StoreError> {
    let sql = format!("{LICENSE_SELECT} WHERE l.key_digest = $1 FOR NO KEY UPDATE OF l");
    query_opt(c, &sql, &[&&digest[..]])
        .await
        .map_err(pg_error)?
        .map(|row| license_row(&row))
        .transpose()
}

/// [`lock_license`], or `NotFound`.
pub(super) async fn require_locked_license<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<LicenseRow, StoreError> {
    lock_license(c, digest)
        .await?
        .ok_or_else(|| StoreError::not_found("license key"))
}

/// The `SELECT … FROM` that [`device_row`] reads (column 0 is the license id).
pub(super) const DEVICE_SELECT: &str = "SELECT license_id, serial_number, cs_product_uuid, \
     bound_on, last_login, previous_last_login, locked FROM devices";

/// Reads one row of [`DEVICE_SELECT`]: the license id and the binding.
pub(super) fn device_row(row: &Row) -> Result<(i64, DeviceBinding), StoreError> {
    Ok((
        get(row, 0)?,
        DeviceBinding {
            serial_number: get(row, 1)?,
            cs_product_uuid: get(row, 2)?,
            bound_on: get(row, 3)?,
            last_login: get(row, 4)?,
            previous_last_login: get(row, 5)?,
            locked: get(row, 6)?,
        },
    ))
}

/// A product by id, if any.
pub(super) async fn product<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<Product>, StoreError> {
    query_opt(
        c,
        "SELECT id, min_version, enabled FROM products WHERE id = $1",
        &[&id],
    )
    .await
    .map_err(pg_error)?
    .map(|row| product_row(&row))
    .transpose()
}

/// Reads `id, min_version, enabled`.
pub(super) fn product_row(row: &Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: get(row, 0)?,
        min_version: get(row, 1)?,
        enabled: get(row, 2)?,
    })
}
