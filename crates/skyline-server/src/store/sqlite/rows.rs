//! Column types and row loaders shared by the SQLite modules.

use chrono::NaiveDate;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, ToSql};
use skyline_protocol::dates::{self, PlanDuration};

use super::backend_error;
use crate::license_index::LicenseDigest;
use crate::store::codec;
use crate::store::{DeviceBinding, LicenseStatus, Product, StoreError};

/// A date column, `YYYY-MM-DD`.
pub(super) struct Day(pub NaiveDate);

impl FromSql for Day {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        codec::date_from_text(text)
            .map(Day)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Day {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(dates::format_date(self.0)))
    }
}

/// A plan duration column.
pub(super) struct Duration(pub PlanDuration);

impl FromSql for Duration {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        codec::duration_from_text(value.as_str()?)
            .map(Duration)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
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
pub(super) fn license_row(row: &Row<'_>) -> rusqlite::Result<LicenseRow> {
    Ok(LicenseRow {
        id: row.get(0)?,
        product_id: row.get(1)?,
        plan_id: row.get(2)?,
        last_group: row.get(3)?,
        status: status_from_text(&row.get::<_, String>(4)?),
        activation_date: row.get::<_, Option<Day>>(5)?.map(|d| d.0),
        expiry_date: row.get::<_, Option<Day>>(6)?.map(|d| d.0),
        duration: row.get::<_, Duration>(7)?.0,
        seats: row.get(8)?,
    })
}

/// The license with this digest, if any.
pub(super) fn license_by_digest(
    conn: &Connection,
    digest: &LicenseDigest,
) -> Result<Option<LicenseRow>, StoreError> {
    conn.prepare_cached(&format!("{LICENSE_SELECT} WHERE l.key_digest = ?1"))
        .and_then(|mut stmt| stmt.query_row([&digest[..]], license_row).optional())
        .map_err(backend_error)
}

/// The license with this digest, or `NotFound`.
pub(super) fn require_license(
    conn: &Connection,
    digest: &LicenseDigest,
) -> Result<LicenseRow, StoreError> {
    license_by_digest(conn, digest)?.ok_or_else(|| StoreError::not_found("license key"))
}

/// The `SELECT … FROM` that [`device_row`] reads (column 0 is the license id).
pub(super) const DEVICE_SELECT: &str = "SELECT license_id, serial_number, cs_product_uuid, \
     bound_on, last_login, previous_last_login, locked FROM devices";

/// Reads one row of [`DEVICE_SELECT`]: the license id and the binding.
pub(super) fn device_row(row: &Row<'_>) -> rusqlite::Result<(i64, DeviceBinding)> {
    Ok((
        row.get(0)?,
        DeviceBinding {
            serial_number: row.get(1)?,
            cs_product_uuid: row.get(2)?,
            bound_on: row.get::<_, Day>(3)?.0,
            last_login: row.get(4)?,
            previous_last_login: row.get(5)?,
            locked: row.get(6)?,
        },
    ))
}

/// A product by id, if any.
pub(super) fn product(conn: &Connection, id: &str) -> Result<Option<Product>, StoreError> {
    conn.prepare_cached("SELECT id, min_version, enabled FROM products WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], product_row).optional())
        .map_err(backend_error)
}

/// Reads `id, min_version, enabled`.
pub(super) fn product_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: row.get(0)?,
        min_version: row.get(1)?,
        enabled: row.get(2)?,
    })
}
