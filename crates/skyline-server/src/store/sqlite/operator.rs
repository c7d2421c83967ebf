//! The operator path: products, plans and license keys.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{params, Connection, ErrorCode};
use skyline_protocol::dates;
use skyline_protocol::version::Version;

use super::rows::{self, Day};
use super::{backend_error, journal};
use crate::license_index::LicenseDigest;
use crate::store::codec::duration_to_text;
use crate::store::{
    key_suffix, Actor, AuditAction, LicenseInfo, LicenseStatus, NewLicense, Plan, Product,
    StoreError,
};

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn check_id(kind: &str, id: &str) -> Result<(), StoreError> {
    let ok = (1..=128).contains(&id.chars().count()) && id.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a {kind} id must be 1 to 128 printable ASCII characters without spaces"
        )))
    }
}

fn check_version(min_version: &str) -> Result<(), StoreError> {
    Version::parse(min_version)
        .map(drop)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn require_product(conn: &Connection, id: &str) -> Result<Product, StoreError> {
    rows::product(conn, id)?.ok_or_else(|| StoreError::not_found(format!("product `{id}`")))
}

/// [`Store::create_product`](crate::store::Store::create_product).
pub(super) fn create_product(
    conn: &Connection,
    by: &Actor,
    id: &str,
    min_version: &str,
) -> Result<Product, StoreError> {
    check_id("product", id)?;
    check_version(min_version)?;
    conn.execute(
        "INSERT INTO products (id, min_version, enabled) VALUES (?1, ?2, 1)",
        [id, min_version],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::conflict(format!("product `{id}`"))
        } else {
            backend_error(e)
        }
    })?;
    let detail = format!("minimum version {min_version}");
    journal::audit(
        conn,
        by,
        &AuditAction::ProductCreated,
        Some(id),
        None,
        &detail,
    )?;
    require_product(conn, id)
}

/// [`Store::set_min_version`](crate::store::Store::set_min_version).
pub(super) fn set_min_version(
    conn: &Connection,
    by: &Actor,
    id: &str,
    min_version: &str,
) -> Result<Product, StoreError> {
    check_version(min_version)?;
    let before = require_product(conn, id)?;
    conn.execute(
        "UPDATE products SET min_version = ?2 WHERE id = ?1",
        [id, min_version],
    )
    .map_err(backend_error)?;
    let detail = format!("minimum version {} -> {min_version}", before.min_version);
    journal::audit(
        conn,
        by,
        &AuditAction::ProductUpdated,
        Some(id),
        None,
        &detail,
    )?;
    require_product(conn, id)
}

/// [`Store::set_product_enabled`](crate::store::Store::set_product_enabled).
pub(super) fn set_product_enabled(
    conn: &Connection,
    by: &Actor,
    id: &str,
    enabled: bool,
) -> Result<Product, StoreError> {
    require_product(conn, id)?;
    conn.execute(
        "UPDATE products SET enabled = ?2 WHERE id = ?1",
        params![id, enabled],
    )
    .map_err(backend_error)?;
    let action = if enabled {
        AuditAction::ProductEnabled
    } else {
        AuditAction::ProductDisabled
    };
    journal::audit(conn, by, &action, Some(id), None, "")?;
    require_product(conn, id)
}

/// [`Store::list_products`](crate::store::Store::list_products).
pub(super) fn list_products(conn: &Connection) -> Result<Vec<Product>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, min_version, enabled FROM products ORDER BY id")
        .map_err(backend_error)?;
    let products = stmt
        .query_map([], rows::product_row)
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(products)
}

/// [`Store::create_plan`](crate::store::Store::create_plan).
pub(super) fn create_plan(conn: &Connection, by: &Actor, plan: &Plan) -> Result<(), StoreError> {
    check_id("plan", &plan.id)?;
    if plan.seats == 0 {
        return Err(StoreError::Invalid(
            "a plan needs at least 1 device seat".into(),
        ));
    }
    require_product(conn, &plan.product_id)?;
    let duration = duration_to_text(plan.duration);
    conn.execute(
        "INSERT INTO plans (id, product_id, duration, seats) VALUES (?1, ?2, ?3, ?4)",
        params![plan.id, plan.product_id, duration, plan.seats],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::conflict(format!("plan `{}`", plan.id))
        } else {
            backend_error(e)
        }
    })?;
    let detail = format!("plan `{}`: {duration}, {} seat(s)", plan.id, plan.seats);
    journal::audit(
        conn,
        by,
        &AuditAction::PlanCreated,
        Some(&plan.product_id),
        None,
        &detail,
    )
}

/// [`Store::list_plans`](crate::store::Store::list_plans).
pub(super) fn list_plans(
    conn: &Connection,
    product_id: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, product_id, duration, seats FROM plans \
             WHERE ?1 IS NULL OR product_id = ?1 ORDER BY id",
        )
        .map_err(backend_error)?;
    let plans = stmt
        .query_map([product_id], |r| {
            Ok(Plan {
                id: r.get(0)?,
                product_id: r.get(1)?,
                duration: r.get::<_, rows::Duration>(2)?.0,
                seats: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(plans)
}

/// [`Store::create_licenses`](crate::store::Store::create_licenses).
pub(super) fn create_licenses(
    conn: &Connection,
    by: &Actor,
    plan_id: &str,
    keys: &[NewLicense],
) -> Result<usize, StoreError> {
    let product_id: String = conn
        .query_row(
            "SELECT product_id FROM plans WHERE id = ?1",
            [plan_id],
            |r| r.get(0),
        )
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => {
                StoreError::not_found(format!("plan `{plan_id}`"))
            }
            e => backend_error(e),
        })?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO licenses (key_digest, key_last_group, plan_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(backend_error)?;
    for key in keys {
        let group_ok = (1..=8).contains(&key.last_group.len())
            && key.last_group.bytes().all(|b| b.is_ascii_alphanumeric());
        if !group_ok {
            return Err(StoreError::Invalid(
                "a key's last group must be 1 to 8 letters or digits".into(),
            ));
        }
        insert
            .execute(params![&key.digest[..], key.last_group, plan_id])
            .map_err(|e| {
                if is_constraint(&e) {
                    StoreError::conflict(format!("license key {}", key_suffix(&key.last_group)))
                } else {
                    backend_error(e)
                }
            })?;
    }
    let detail = format!("{} key(s) of plan `{plan_id}`", keys.len());
    journal::audit(
        conn,
        by,
        &AuditAction::LicensesCreated,
        Some(&product_id),
        None,
        &detail,
    )?;
    Ok(keys.len())
}

fn info(license: rows::LicenseRow) -> LicenseInfo {
    LicenseInfo {
        id: license.id,
        product_id: license.product_id,
        plan_id: license.plan_id,
        key_suffix: key_suffix(&license.last_group),
        status: license.status,
        activation_date: license.activation_date,
        expiry_date: license.expiry_date,
        devices: Vec::new(),
    }
}

/// [`Store::find_license`](crate::store::Store::find_license).
pub(super) fn find_license(
    conn: &Connection,
    digest: &LicenseDigest,
) -> Result<LicenseInfo, StoreError> {
    let mut found = info(rows::require_license(conn, digest)?);
    let mut stmt = conn
        .prepare_cached(&format!(
            "{} WHERE license_id = ?1 ORDER BY bound_on, rowid",
            rows::DEVICE_SELECT
        ))
        .map_err(backend_error)?;
    found.devices = stmt
        .query_map([found.id], |r| rows::device_row(r).map(|(_, d)| d))
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(found)
}

/// [`Store::list_licenses`](crate::store::Store::list_licenses).
pub(super) fn list_licenses(
    conn: &Connection,
    product_id: Option<&str>,
) -> Result<Vec<LicenseInfo>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{} WHERE ?1 IS NULL OR p.product_id = ?1 ORDER BY l.id",
            rows::LICENSE_SELECT
        ))
        .map_err(backend_error)?;
    let mut licenses: Vec<LicenseInfo> = stmt
        .query_map([product_id], |r| rows::license_row(r).map(info))
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    let position: HashMap<i64, usize> = licenses
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i))
        .collect();
    let mut stmt = conn
        .prepare_cached(&format!(
            "{} WHERE license_id IN (SELECT l.id FROM licenses l JOIN plans p \
             ON p.id = l.plan_id WHERE ?1 IS NULL OR p.product_id = ?1) \
             ORDER BY bound_on, rowid",
            rows::DEVICE_SELECT
        ))
        .map_err(backend_error)?;
    let devices = stmt
        .query_map([product_id], rows::device_row)
        .map_err(backend_error)?;
    for device in devices {
        let (license_id, device) = device.map_err(backend_error)?;
        if let Some(&i) = position.get(&license_id) {
            licenses[i].devices.push(device);
        }
    }
    Ok(licenses)
}

/// [`Store::revoke_license`](crate::store::Store::revoke_license).
pub(super) fn revoke_license(
    conn: &Connection,
    by: &Actor,
    digest: &LicenseDigest,
) -> Result<(), StoreError> {
    let license = rows::require_license(conn, digest)?;
    conn.execute(
        "UPDATE licenses SET status = ?2 WHERE id = ?1",
        params![license.id, LicenseStatus::Revoked.as_str()],
    )
    .map_err(backend_error)?;
    journal::audit(
        conn,
        by,
        &AuditAction::LicenseRevoked,
        Some(&license.product_id),
        Some(license.id),
        &format!("key {} revoked", key_suffix(&license.last_group)),
    )
}

/// [`Store::reset_device`](crate::store::Store::reset_device).
pub(super) fn reset_device(
    conn: &Connection,
    by: &Actor,
    digest: &LicenseDigest,
    serial_number: Option<&str>,
) -> Result<usize, StoreError> {
    let license = rows::require_license(conn, digest)?;
    let reset = conn
        .execute(
            "DELETE FROM devices WHERE license_id = ?1 AND (?2 IS NULL OR serial_number = ?2)",
            params![license.id, serial_number],
        )
        .map_err(backend_error)?;
    if reset > 0 {
        let which = serial_number.map_or("every device".into(), |s| format!("device `{s}`"));
        journal::audit(
            conn,
            by,
            &AuditAction::DeviceReset,
            Some(&license.product_id),
            Some(license.id),
            &format!("{which} reset: {reset} binding(s) removed"),
        )?;
    }
    Ok(reset)
}

/// [`Store::set_expiry`](crate::store::Store::set_expiry).
pub(super) fn set_expiry(
    conn: &Connection,
    by: &Actor,
    digest: &LicenseDigest,
    expiry: NaiveDate,
) -> Result<(), StoreError> {
    let license = rows::require_license(conn, digest)?;
    if license.activation_date.is_none() {
        return Err(StoreError::Invalid(
            "the license key was never activated: its expiry date is set at first activation"
                .into(),
        ));
    }
    conn.execute(
        "UPDATE licenses SET expiry_date = ?2 WHERE id = ?1",
        params![license.id, Day(expiry)],
    )
    .map_err(backend_error)?;
    let before = license
        .expiry_date
        .map_or("never".into(), dates::format_date);
    journal::audit(
        conn,
        by,
        &AuditAction::ExpirySet,
        Some(&license.product_id),
        Some(license.id),
        &format!("expiry {before} -> {}", dates::format_date(expiry)),
    )
}
