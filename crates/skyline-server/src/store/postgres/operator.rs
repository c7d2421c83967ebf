//! The operator path: products, plans and license keys.
//!
//! Writes that touch a license lock its row first, like `start-session`
//! does, so a revocation or a device reset on one node and a start-session on
//! another happen in one order or the other, never interleaved.

use std::collections::HashMap;

use chrono::NaiveDate;
use deadpool_postgres::{GenericClient, Transaction};
use skyline_protocol::dates;
use skyline_protocol::version::Version;
use tokio_postgres::error::SqlState;

use super::rows::{self, get};
use super::{journal, pg_error};
use crate::license_index::LicenseDigest;
use crate::store::codec::duration_to_text;
use crate::store::{
    key_suffix, Actor, AuditAction, LicenseInfo, LicenseStatus, NewLicense, Plan, Product,
    StoreError,
};

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
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

async fn require_product<C: GenericClient>(c: &C, id: &str) -> Result<Product, StoreError> {
    rows::product(c, id)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("product `{id}`")))
}

/// [`Store::create_product`](crate::store::Store::create_product).
pub(super) async fn create_product(
    tx: &Transaction<'_>,
    by: &Actor,
    id: &str,
    min_version: &str,
) -> Result<Product, StoreError> {
    check_id("product", id)?;
    check_version(min_version)?;
    rows::execute(
        tx,
        "INSERT INTO products (id, min_version, enabled) VALUES ($1, $2, TRUE)",
        &[&id, &min_version],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::conflict(format!("product `{id}`"))
        } else {
            pg_error(e)
        }
    })?;
    let detail = format!("minimum version {min_version}");
    journal::audit(
        tx,
        by,
        &AuditAction::ProductCreated,
        Some(id),
        None,
        &detail,
    )
    .await?;
    require_product(tx, id).await
}

/// [`Store::set_min_version`](crate::store::Store::set_min_version).
pub(super) async fn set_min_version(
    tx: &Transaction<'_>,
    by: &Actor,
    id: &str,
    min_version: &str,
) -> Result<Product, StoreError> {
    check_version(min_version)?;
    let before = require_product(tx, id).await?;
    rows::execute(
        tx,
        "UPDATE products SET min_version = $2 WHERE id = $1",
        &[&id, &min_version],
    )
    .await
    .map_err(pg_error)?;
    let detail = format!("minimum version {} -> {min_version}", before.min_version);
    journal::audit(
        tx,
        by,
        &AuditAction::ProductUpdated,
        Some(id),
        None,
        &detail,
    )
    .await?;
    require_product(tx, id).await
}

/// [`Store::set_product_enabled`](crate::store::Store::set_product_enabled).
pub(super) async fn set_product_enabled(
    tx: &Transaction<'_>,
    by: &Actor,
    id: &str,
    enabled: bool,
) -> Result<Product, StoreError> {
    require_product(tx, id).await?;
    rows::execute(
        tx,
        "UPDATE products SET enabled = $2 WHERE id = $1",
        &[&id, &enabled],
    )
    .await
    .map_err(pg_error)?;
    let action = if enabled {
        AuditAction::ProductEnabled
    } else {
        AuditAction::ProductDisabled
    };
    journal::audit(tx, by, &action, Some(id), None, "").await?;
    require_product(tx, id).await
}

/// [`Store::list_products`](crate::store::Store::list_products).
pub(super) async fn list_products<C: GenericClient>(c: &C) -> Result<Vec<Product>, StoreError> {
    rows::query(
        c,
        "SELECT id, min_version, enabled FROM products ORDER BY id",
        &[],
    )
    .await
    .map_err(pg_error)?
    .iter()
    .map(rows::product_row)
    .collect()
}

/// [`Store::create_plan`](crate::store::Store::create_plan).
pub(super) async fn create_plan(
    tx: &Transaction<'_>,
    by: &Actor,
    plan: &Plan,
) -> Result<(), StoreError> {
    check_id("plan", &plan.id)?;
    if plan.seats == 0 {
        return Err(StoreError::Invalid(
            "a plan needs at least 1 device seat".into(),
        ));
    }
    let seats = i32::try_from(plan.seats)
        .map_err(|_| StoreError::Invalid("too many device seats".into()))?;
    require_product(tx, &plan.product_id).await?;
    let duration = duration_to_text(plan.duration);
    rows::execute(
        tx,
        "INSERT INTO plans (id, product_id, duration, seats) VALUES ($1, $2, $3, $4)",
        &[&plan.id, &plan.product_id, &duration, &seats],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::conflict(format!("plan `{}`", plan.id))
        } else {
            pg_error(e)
        }
    })?;
    let detail = format!("plan `{}`: {duration}, {} seat(s)", plan.id, plan.seats);
    journal::audit(
        tx,
        by,
        &AuditAction::PlanCreated,
        Some(&plan.product_id),
        None,
        &detail,
    )
    .await
}

/// [`Store::list_plans`](crate::store::Store::list_plans).
pub(super) async fn list_plans<C: GenericClient>(
    c: &C,
    product_id: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    rows::query(
        c,
        "SELECT id, product_id, duration, seats FROM plans \
         WHERE $1::TEXT IS NULL OR product_id = $1 ORDER BY id",
        &[&product_id],
    )
    .await
    .map_err(pg_error)?
    .iter()
    .map(|row| {
        let seats: i32 = get(row, 3)?;
        Ok(Plan {
            id: get(row, 0)?,
            product_id: get(row, 1)?,
            duration: crate::store::codec::duration_from_text(get(row, 2)?)?,
            seats: u32::try_from(seats)
                .map_err(|_| StoreError::Backend("a plan has a negative seat count".into()))?,
        })
    })
    .collect()
}

/// [`Store::create_licenses`](crate::store::Store::create_licenses): one
/// multi-row insert, all or none.
pub(super) async fn create_licenses(
    tx: &Transaction<'_>,
    by: &Actor,
    plan_id: &str,
    keys: &[NewLicense],
) -> Result<usize, StoreError> {
    let product_id: String = rows::query_opt(
        tx,
        "SELECT product_id FROM plans WHERE id = $1",
        &[&plan_id],
    )
    .await
    .map_err(pg_error)?
    .map(|row| get(&row, 0))
    .transpose()?
    .ok_or_else(|| StoreError::not_found(format!("plan `{plan_id}`")))?;
    for key in keys {
        let group_ok = (1..=8).contains(&key.last_group.len())
            && key.last_group.bytes().all(|b| b.is_ascii_alphanumeric());
        if !group_ok {
            return Err(StoreError::Invalid(
                "a key's last group must be 1 to 8 letters or digits".into(),
            ));
        }
    }
    for chunk in keys.chunks(1_000) {
        let digests: Vec<&[u8]> = chunk.iter().map(|k| &k.digest[..]).collect();
        let groups: Vec<&str> = chunk.iter().map(|k| k.last_group.as_str()).collect();
        let inserted = rows::query(
            tx,
            "INSERT INTO licenses (key_digest, key_last_group, plan_id) \
             SELECT d, g, $3 FROM unnest($1::BYTEA[], $2::TEXT[]) AS k (d, g) \
             ON CONFLICT (key_digest) DO NOTHING RETURNING key_digest",
            &[&digests, &groups, &plan_id],
        )
        .await
        .map_err(pg_error)?;
        if inserted.len() < chunk.len() {
            // Name the first key that collided, by its last group only; the
            // caller's rollback undoes the rest.
            let created: std::collections::HashSet<Vec<u8>> = inserted
                .iter()
                .map(|row| get::<Vec<u8>>(row, 0))
                .collect::<Result<_, _>>()?;
            let mut seen = std::collections::HashSet::new();
            let collided = chunk
                .iter()
                .find(|k| !created.contains(&k.digest[..]) || !seen.insert(k.digest))
                .map_or("license key".into(), |k| {
                    format!("license key {}", key_suffix(&k.last_group))
                });
            return Err(StoreError::conflict(collided));
        }
    }
    let detail = format!("{} key(s) of plan `{plan_id}`", keys.len());
    journal::audit(
        tx,
        by,
        &AuditAction::LicensesCreated,
        Some(&product_id),
        None,
        &detail,
    )
    .await?;
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
pub(super) async fn find_license<C: GenericClient>(
    c: &C,
    digest: &LicenseDigest,
) -> Result<LicenseInfo, StoreError> {
    let mut found = info(rows::require_license(c, digest).await?);
    let sql = format!(
        "{} WHERE license_id = $1 ORDER BY bound_on, seq",
        rows::DEVICE_SELECT
    );
    found.devices = rows::query(c, &sql, &[&found.id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::device_row(row).map(|(_, device)| device))
        .collect::<Result<_, _>>()?;
    Ok(found)
}

/// [`Store::list_licenses`](crate::store::Store::list_licenses).
pub(super) async fn list_licenses<C: GenericClient>(
    c: &C,
    product_id: Option<&str>,
) -> Result<Vec<LicenseInfo>, StoreError> {
    let sql = format!(
        "{} WHERE $1::TEXT IS NULL OR p.product_id = $1 ORDER BY l.id",
        rows::LICENSE_SELECT
    );
    let mut licenses: Vec<LicenseInfo> = rows::query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| rows::license_row(row).map(info))
        .collect::<Result<_, _>>()?;
    let position: HashMap<i64, usize> = licenses
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i))
        .collect();
    let sql = format!(
        "{} WHERE license_id IN (SELECT l.id FROM licenses l JOIN plans p \
         ON p.id = l.plan_id WHERE $1::TEXT IS NULL OR p.product_id = $1) \
         ORDER BY bound_on, seq",
        rows::DEVICE_SELECT
    );
    for row in rows::query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
    {
        let (license_id, device) = rows::device_row(&row)?;
        if let Some(&i) = position.get(&license_id) {
            licenses[i].devices.push(device);
        }
    }
    Ok(licenses)
}

/// [`Store::revoke_license`](crate::store::Store::revoke_license).
pub(super) async fn revoke_license(
    tx: &Transaction<'_>,
    by: &Actor,
    digest: &LicenseDigest,
) -> Result<(), StoreError> {
    let license = rows::require_locked_license(tx, digest).await?;
    rows::execute(
        tx,
        "UPDATE licenses SET status = $2 WHERE id = $1",
        &[&license.id, &LicenseStatus::Revoked.as_str()],
    )
    .await
    .map_err(pg_error)?;
    journal::audit(
        tx,
        by,
        &AuditAction::LicenseRevoked,
        Some(&license.product_id),
        Some(license.id),
        &format!("key {} revoked", key_suffix(&license.last_group)),
    )
    .await
}

/// [`Store::reset_device`](crate::store::Store::reset_device).
pub(super) async fn reset_device(
    tx: &Transaction<'_>,
    by: &Actor,
    digest: &LicenseDigest,
    serial_number: Option<&str>,
) -> Result<usize, StoreError> {
    let license = rows::require_locked_license(tx, digest).await?;
    let reset = rows::execute(
        tx,
        "DELETE FROM devices WHERE license_id = $1 \
         AND ($2::TEXT IS NULL OR serial_number = $2)",
        &[&license.id, &serial_number],
    )
    .await
    .map_err(pg_error)?;
    if reset > 0 {
        let which = serial_number.map_or("every device".into(), |s| format!("device `{s}`"));
        journal::audit(
            tx,
            by,
            &AuditAction::DeviceReset,
            Some(&license.product_id),
            Some(license.id),
            &format!("{which} reset: {reset} binding(s) removed"),
        )
        .await?;
    }
    usize::try_from(reset).map_err(|_| StoreError::Backend("too many devices reset".into()))
}

/// [`Store::set_expiry`](crate::store::Store::set_expiry).
pub(super) async fn set_expiry(
    tx: &Transaction<'_>,
    by: &Actor,
    digest: &LicenseDigest,
    expiry: NaiveDate,
) -> Result<(), StoreError> {
    let license = rows::require_locked_license(tx, digest).await?;
    if license.activation_date.is_none() {
        return Err(StoreError::Invalid(
            "the license key was never activated: its expiry date is set at first activation"
                .into(),
        ));
    }
    rows::execute(
        tx,
        "UPDATE licenses SET expiry_date = $2 WHERE id = $1",
        &[&license.id, &expiry],
    )
    .await
    .map_err(pg_error)?;
    let before = license
        .expiry_date
        .map_or("never".into(), dates::format_date);
    journal::audit(
        tx,
        by,
        &AuditAction::ExpirySet,
        Some(&license.product_id),
        Some(license.id),
        &format!("expiry {before} -> {}", dates::format_date(expiry)),
    )
    .await
}
