//! A decision's loads and writes in SQLite, inside the writer's group
//! transaction (one savepoint per decision). Row locks are not needed: the
//! single writer already runs decisions one after the other.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use skyline_protocol::methods::ToggleValue;

use super::{backend_error, day, is_constraint};
use crate::domain::catalog::key_conflict;
use crate::domain::{
    AdminToken, DeviceBinding, DeviceSelector, License, Plan, Product, Release, ToggleTarget, Write,
};
use crate::license_index::LicenseDigest;
use crate::store::rows::{self, duration_to_text, toggle_from_text, toggle_to_text};
use crate::store::tx::Transaction;
use crate::store::StoreError;

/// The writer's connection, inside its open transaction.
pub(super) struct SqliteTx<'c> {
    pub conn: &'c Connection,
}

impl SqliteTx<'_> {
    /// Runs a cached statement; how many rows it changed.
    fn execute(&self, sql: &str, values: &[&dyn rusqlite::ToSql]) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values))
            .map_err(backend_error)
    }

    /// Runs a cached insert; a uniqueness violation is `write`'s conflict.
    fn insert(
        &self,
        write: &Write,
        sql: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values))
            .map(drop)
            .map_err(|e| {
                if is_constraint(&e) {
                    write.conflict().into()
                } else {
                    backend_error(e)
                }
            })
    }
}

/// The `WHERE` of a device selection after `license_id = ?1`, and its values.
fn device_filter(which: &DeviceSelector) -> (&'static str, Vec<SqlValue>) {
    match which {
        DeviceSelector::All => ("", Vec::new()),
        DeviceSelector::Serial(serial) => (
            " AND serial_number = ?2",
            vec![SqlValue::Text(serial.clone())],
        ),
        DeviceSelector::Key(key) => (
            " AND serial_number = ?2 AND cs_product_uuid = ?3",
            vec![
                SqlValue::Text(key.serial_number.clone()),
                SqlValue::Text(key.cs_product_uuid.clone()),
            ],
        ),
    }
}

const TOGGLE_MATCH: &str =
    "product_id = ?1 AND scope = ?2 AND ifnull(plan_id, '') = ifnull(?3, '') \
     AND ifnull(license_id, 0) = ifnull(?4, 0) AND name = ?5";

impl Transaction for SqliteTx<'_> {
    async fn product(&mut self, id: &str, _lock: bool) -> Result<Option<Product>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {} FROM products WHERE id = ?1",
                rows::PRODUCT_COLUMNS
            ))
            .and_then(|mut s| s.query_row([id], |r| Ok(rows::product(r))).optional())
            .map_err(backend_error)?
            .transpose()
    }

    async fn releases(&mut self, product_id: &str) -> Result<Vec<Release>, StoreError> {
        super::queries::releases_of(self.conn, product_id)
    }

    async fn plan(&mut self, id: &str) -> Result<Option<Plan>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {} FROM plans WHERE id = ?1",
                rows::PLAN_COLUMNS
            ))
            .and_then(|mut s| s.query_row([id], |r| Ok(rows::plan(r, 0))).optional())
            .map_err(backend_error)?
            .transpose()
    }

    async fn license(&mut self, digest: &LicenseDigest) -> Result<Option<License>, StoreError> {
        self.conn
            .prepare_cached(&format!("{} WHERE l.key_digest = ?1", rows::LICENSE_SELECT))
            .and_then(|mut s| {
                s.query_row([&digest[..]], |r| Ok(rows::license(r)))
                    .optional()
            })
            .map_err(backend_error)?
            .transpose()
    }

    async fn devices(
        &mut self,
        license_id: i64,
        which: &DeviceSelector,
    ) -> Result<Vec<DeviceBinding>, StoreError> {
        let (filter, mut values) = device_filter(which);
        values.insert(0, SqlValue::Integer(license_id));
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "{} WHERE license_id = ?1{filter} ORDER BY bound_on, rowid",
                rows::DEVICE_SELECT
            ))
            .map_err(backend_error)?;
        let mut found = statement
            .query(rusqlite::params_from_iter(values))
            .map_err(backend_error)?;
        let mut devices = Vec::new();
        while let Some(row) = found.next().map_err(backend_error)? {
            devices.push(rows::device(row)?.1);
        }
        Ok(devices)
    }

    async fn toggle(
        &mut self,
        product_id: &str,
        target: &ToggleTarget,
        name: &str,
    ) -> Result<Option<ToggleValue>, StoreError> {
        let found: Option<(String, String)> = self
            .conn
            .prepare_cached(&format!(
                "SELECT value_type, value FROM toggles WHERE {TOGGLE_MATCH}"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![
                        product_id,
                        target.scope(),
                        target.plan_id(),
                        target.license_id(),
                        name
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .map_err(backend_error)?;
        found
            .map(|(kind, text)| toggle_from_text(&kind, &text))
            .transpose()
    }

    async fn admin_token(&mut self, id: &str) -> Result<Option<AdminToken>, StoreError> {
        Ok(super::queries::admin_token(self.conn, id)?.map(|c| c.token))
    }

    async fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::InsertProduct(p) => self.insert(
                write,
                "INSERT INTO products (id, min_version, enabled) VALUES (?1, ?2, ?3)",
                params![p.id, p.min_version, p.enabled],
            ),
            Write::UpdateProduct(p) => self
                .execute(
                    "UPDATE products SET min_version = ?2, enabled = ?3 WHERE id = ?1",
                    params![p.id, p.min_version, p.enabled],
                )
                .map(drop),
            Write::InsertPlan(p) => self.insert(
                write,
                "INSERT INTO plans (id, product_id, duration, seats) VALUES (?1, ?2, ?3, ?4)",
                params![p.id, p.product_id, duration_to_text(p.duration), p.seats],
            ),
            Write::InsertLicenses { plan_id, keys } => {
                let mut insert = self
                    .conn
                    .prepare_cached(
                        "INSERT INTO licenses (key_digest, key_last_group, plan_id) \
                         VALUES (?1, ?2, ?3)",
                    )
                    .map_err(backend_error)?;
                for key in keys {
                    insert
                        .execute(params![&key.digest[..], key.last_group, plan_id])
                        .map_err(|e| {
                            if is_constraint(&e) {
                                key_conflict(key).into()
                            } else {
                                backend_error(e)
                            }
                        })?;
                }
                Ok(())
            }
            Write::UpdateLicense {
                id,
                status,
                activation_date,
                expiry_date,
            } => self
                .execute(
                    "UPDATE licenses SET status = ?2, activation_date = ?3, expiry_date = ?4 \
                     WHERE id = ?1",
                    params![
                        id,
                        status.as_str(),
                        activation_date.map(day),
                        expiry_date.map(day)
                    ],
                )
                .map(drop),
            Write::BindDevice { license_id, device } => {
                self.insert(
                    write,
                    "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on, \
                     last_login, previous_last_login, locked, last_version, last_seen_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        license_id,
                        device.serial_number,
                        device.cs_product_uuid,
                        day(device.bound_on),
                        device.last_login,
                        device.previous_last_login,
                        device.locked,
                        device.last_version,
                        device.last_seen_at
                    ],
                )?;
                self.execute(
                    "UPDATE licenses SET devices_bound = devices_bound + 1, \
                     first_bound_on = CASE WHEN first_bound_on IS NULL OR first_bound_on > ?2 \
                     THEN ?2 ELSE first_bound_on END WHERE id = ?1",
                    params![license_id, day(device.bound_on)],
                )
                .map(drop)
            }
            Write::UpdateDevice { license_id, device } => self
                .execute(
                    "UPDATE devices SET last_login = ?4, previous_last_login = ?5, locked = ?6, \
                     last_version = ?7, last_seen_at = ?8 \
                     WHERE license_id = ?1 AND serial_number = ?2 AND cs_product_uuid = ?3",
                    params![
                        license_id,
                        device.serial_number,
                        device.cs_product_uuid,
                        device.last_login,
                        device.previous_last_login,
                        device.locked,
                        device.last_version,
                        device.last_seen_at
                    ],
                )
                .map(drop),
            Write::UnbindDevices { license_id, which } => {
                let (filter, mut values) = device_filter(which);
                values.insert(0, SqlValue::Integer(*license_id));
                let removed = self
                    .conn
                    .prepare_cached(&format!(
                        "DELETE FROM devices WHERE license_id = ?1{filter}"
                    ))
                    .and_then(|mut s| s.execute(rusqlite::params_from_iter(values)))
                    .map_err(backend_error)?;
                self.execute(
                    "UPDATE licenses SET devices_bound = devices_bound - ?2, \
                     first_bound_on = (SELECT min(bound_on) FROM devices WHERE license_id = ?1) \
                     WHERE id = ?1",
                    params![license_id, removed as i64],
                )
                .map(drop)
            }
            Write::SetToggle {
                product_id,
                target,
                name,
                value,
            } => {
                let (kind, text) = toggle_to_text(value);
                let keys = params![
                    product_id,
                    target.scope(),
                    target.plan_id(),
                    target.license_id(),
                    name,
                    kind,
                    text
                ];
                let updated = self.execute(
                    &format!("UPDATE toggles SET value_type = ?6, value = ?7 WHERE {TOGGLE_MATCH}"),
                    keys,
                )?;
                if updated == 0 {
                    self.execute(
                        "INSERT INTO toggles (product_id, scope, plan_id, license_id, name, \
                         value_type, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        keys,
                    )?;
                }
                Ok(())
            }
            Write::RemoveToggle {
                product_id,
                target,
                name,
            } => self
                .execute(
                    &format!("DELETE FROM toggles WHERE {TOGGLE_MATCH}"),
                    params![
                        product_id,
                        target.scope(),
                        target.plan_id(),
                        target.license_id(),
                        name
                    ],
                )
                .map(drop),
            Write::InsertRelease { release, at } => {
                let size = i64::try_from(release.size).map_err(|_| {
                    crate::domain::DomainError::invalid("the artifact is too large")
                })?;
                self.insert(
                    write,
                    "INSERT INTO releases (product_id, version, platform, channel, file_name, \
                     size, sha256, signature, yanked, published_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
                    params![
                        release.product_id,
                        release.version,
                        release.platform.as_deref().unwrap_or(""),
                        release.channel.as_str(),
                        release.file_name,
                        size,
                        &release.sha256[..],
                        &release.signature[..],
                        at,
                    ],
                )
            }
            Write::SetReleaseYanked { id, yanked } => self
                .execute(
                    "UPDATE releases SET yanked = ?2 WHERE id = ?1",
                    params![id, yanked],
                )
                .map(drop),
            Write::InsertAdminToken { token, at } => self.insert(
                write,
                "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token.id,
                    token.name,
                    token.read_only,
                    &token.secret_hash[..],
                    at
                ],
            ),
            Write::RevokeAdminToken { id, at } => self
                .execute(
                    "UPDATE admin_tokens SET revoked_at = ?2 WHERE id = ?1",
                    params![id, at],
                )
                .map(drop),
            Write::TouchAdminToken { id, at } => self
                .execute(
                    "UPDATE admin_tokens SET last_used_at = ?2 WHERE id = ?1",
                    params![id, at],
                )
                .map(drop),
            Write::Audit(entry) => self
                .execute(
                    "INSERT INTO audit_log (at, actor, action, product_id, license_id, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        entry.actor.at,
                        entry.actor.name,
                        entry.action.as_str(),
                        entry.product_id,
                        entry.license_id,
                        entry.detail
                    ],
                )
                .map(drop),
        }
    }
}
