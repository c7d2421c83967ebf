//! A decision's loads and writes in PostgreSQL. The license row is locked
//! (`FOR NO KEY UPDATE`) when it is loaded, so two decisions about one key,
//! on this node or any other, run one after the other: the last seat cannot
//! be taken twice, and a last login is never checked against a value another
//! node is replacing. Inserts that only reference the license (telemetry)
//! do not wait for the lock. Publishing locks the product row, so two nodes
//! publishing `7.0` and `7.0.0` of one product see each other.

use deadpool_postgres::Transaction as PgTransaction;
use skyline_protocol::methods::ToggleValue;
use tokio_postgres::types::ToSql;

use super::rows::{execute, query, query_opt, Params};
use super::{is_unique_violation, pg_error};
use crate::domain::catalog::key_conflict;
use crate::domain::{
    AdminToken, DeviceBinding, DeviceSelector, DomainError, License, Plan, Product, Release,
    ToggleTarget, Write,
};
use crate::license_index::LicenseDigest;
use crate::store::rows::{self, duration_to_text, toggle_from_text, toggle_to_text, Columns};
use crate::store::tx::Transaction;
use crate::store::StoreError;

/// An open transaction on a pooled connection.
pub(super) struct PgTx<'a> {
    pub tx: &'a PgTransaction<'a>,
}

impl PgTx<'_> {
    async fn run(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        execute(self.tx, sql, params).await.map_err(pg_error)
    }

    /// Runs an insert; a uniqueness violation is `write`'s conflict.
    async fn insert(&self, write: &Write, sql: &str, params: Params<'_>) -> Result<(), StoreError> {
        execute(self.tx, sql, params).await.map(drop).map_err(|e| {
            if is_unique_violation(&e) {
                write.conflict().into()
            } else {
                pg_error(e)
            }
        })
    }
}

const TOGGLE_MATCH: &str = "product_id = $1 AND scope = $2 \
     AND coalesce(plan_id, '') = coalesce($3::TEXT, '') \
     AND coalesce(license_id, 0) = coalesce($4::BIGINT, 0) AND name = $5";

impl Transaction for PgTx<'_> {
    async fn product(&mut self, id: &str, lock: bool) -> Result<Option<Product>, StoreError> {
        let sql = if lock {
            "SELECT id, min_version, enabled FROM products WHERE id = $1 FOR NO KEY UPDATE"
        } else {
            "SELECT id, min_version, enabled FROM products WHERE id = $1"
        };
        query_opt(self.tx, sql, &[&id])
            .await
            .map_err(pg_error)?
            .map(|row| rows::product(&row))
            .transpose()
    }

    async fn releases(&mut self, product_id: &str) -> Result<Vec<Release>, StoreError> {
        super::queries::releases_of(self.tx, product_id).await
    }

    async fn plan(&mut self, id: &str) -> Result<Option<Plan>, StoreError> {
        let sql = format!("SELECT {} FROM plans WHERE id = $1", rows::PLAN_COLUMNS);
        query_opt(self.tx, &sql, &[&id])
            .await
            .map_err(pg_error)?
            .map(|row| rows::plan(&row, 0))
            .transpose()
    }

    async fn license(&mut self, digest: &LicenseDigest) -> Result<Option<License>, StoreError> {
        let sql = format!(
            "{} WHERE l.key_digest = $1 FOR NO KEY UPDATE OF l",
            rows::LICENSE_SELECT
        );
        query_opt(self.tx, &sql, &[&&digest[..]])
            .await
            .map_err(pg_error)?
            .map(|row| rows::license(&row))
            .transpose()
    }

    async fn devices(
        &mut self,
        license_id: i64,
        which: &DeviceSelector,
    ) -> Result<Vec<DeviceBinding>, StoreError> {
        let found = match which {
            DeviceSelector::All => {
                let sql = format!(
                    "{} WHERE license_id = $1 ORDER BY bound_on, seq",
                    rows::DEVICE_SELECT
                );
                query(self.tx, &sql, &[&license_id]).await
            }
            DeviceSelector::Serial(serial) => {
                let sql = format!(
                    "{} WHERE license_id = $1 AND serial_number = $2 ORDER BY bound_on, seq",
                    rows::DEVICE_SELECT
                );
                query(self.tx, &sql, &[&license_id, serial]).await
            }
            DeviceSelector::Key(key) => {
                let sql = format!(
                    "{} WHERE license_id = $1 AND serial_number = $2 AND cs_product_uuid = $3",
                    rows::DEVICE_SELECT
                );
                query(
                    self.tx,
                    &sql,
                    &[&license_id, &key.serial_number, &key.cs_product_uuid],
                )
                .await
            }
        };
        found
            .map_err(pg_error)?
            .iter()
            .map(|row| rows::device(row).map(|(_, device)| device))
            .collect()
    }

    async fn toggle(
        &mut self,
        product_id: &str,
        target: &ToggleTarget,
        name: &str,
    ) -> Result<Option<ToggleValue>, StoreError> {
        let params: [&(dyn ToSql + Sync); 5] = [
            &product_id,
            &target.scope(),
            &target.plan_id(),
            &target.license_id(),
            &name,
        ];
        let sql = format!("SELECT value_type, value FROM toggles WHERE {TOGGLE_MATCH}");
        query_opt(self.tx, &sql, &params)
            .await
            .map_err(pg_error)?
            .map(|row| toggle_from_text(&row.text(0)?, &row.text(1)?))
            .transpose()
    }

    async fn admin_token(&mut self, id: &str) -> Result<Option<AdminToken>, StoreError> {
        Ok(super::queries::admin_token(self.tx, id)
            .await?
            .map(|c| c.token))
    }

    async fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::InsertProduct(p) => {
                self.insert(
                    write,
                    "INSERT INTO products (id, min_version, enabled) VALUES ($1, $2, $3)",
                    &[&p.id, &p.min_version, &p.enabled],
                )
                .await
            }
            Write::UpdateProduct(p) => self
                .run(
                    "UPDATE products SET min_version = $2, enabled = $3 WHERE id = $1",
                    &[&p.id, &p.min_version, &p.enabled],
                )
                .await
                .map(drop),
            Write::InsertPlan(p) => {
                let seats = i32::try_from(p.seats)
                    .map_err(|_| DomainError::invalid("too many device seats"))?;
                self.insert(
                    write,
                    "INSERT INTO plans (id, product_id, duration, seats) VALUES ($1, $2, $3, $4)",
                    &[&p.id, &p.product_id, &duration_to_text(p.duration), &seats],
                )
                .await
            }
            Write::InsertLicenses { plan_id, keys } => {
                for chunk in keys.chunks(1_000) {
                    let digests: Vec<&[u8]> = chunk.iter().map(|k| &k.digest[..]).collect();
                    let groups: Vec<&str> = chunk.iter().map(|k| k.last_group.as_str()).collect();
                    let inserted = query(
                        self.tx,
                        "INSERT INTO licenses (key_digest, key_last_group, plan_id) \
                         SELECT d, g, $3 FROM unnest($1::BYTEA[], $2::TEXT[]) AS k (d, g) \
                         ON CONFLICT (key_digest) DO NOTHING RETURNING key_digest",
                        &[&digests, &groups, plan_id],
                    )
                    .await
                    .map_err(pg_error)?;
                    if inserted.len() < chunk.len() {
                        // Name a key that collided, by its last group only;
                        // the caller's rollback undoes the rest.
                        let created: std::collections::HashSet<Vec<u8>> = inserted
                            .iter()
                            .map(|row| row.bytes(0))
                            .collect::<Result<_, _>>()?;
                        let collided = chunk
                            .iter()
                            .find(|k| !created.contains(&k.digest[..]))
                            .map_or_else(|| write.conflict(), key_conflict);
                        return Err(collided.into());
                    }
                }
                Ok(())
            }
            Write::UpdateLicense {
                id,
                status,
                activation_date,
                expiry_date,
            } => self
                .run(
                    "UPDATE licenses SET status = $2, activation_date = $3, expiry_date = $4 \
                     WHERE id = $1",
                    &[id, &status.as_str(), activation_date, expiry_date],
                )
                .await
                .map(drop),
            Write::BindDevice { license_id, device } => {
                self.insert(
                    write,
                    "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on, \
                     last_login, previous_last_login, locked, last_version, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        license_id,
                        &device.serial_number,
                        &device.cs_product_uuid,
                        &device.bound_on,
                        &device.last_login,
                        &device.previous_last_login,
                        &device.locked,
                        &device.last_version,
                        &device.last_seen_at,
                    ],
                )
                .await?;
                self.run(
                    "UPDATE licenses SET devices_bound = devices_bound + 1, \
                     first_bound_on = LEAST(first_bound_on, $2) WHERE id = $1",
                    &[license_id, &device.bound_on],
                )
                .await
                .map(drop)
            }
            Write::UpdateDevice { license_id, device } => self
                .run(
                    "UPDATE devices SET last_login = $4, previous_last_login = $5, locked = $6, \
                     last_version = $7, last_seen_at = $8 \
                     WHERE license_id = $1 AND serial_number = $2 AND cs_product_uuid = $3",
                    &[
                        license_id,
                        &device.serial_number,
                        &device.cs_product_uuid,
                        &device.last_login,
                        &device.previous_last_login,
                        &device.locked,
                        &device.last_version,
                        &device.last_seen_at,
                    ],
                )
                .await
                .map(drop),
            Write::UnbindDevices { license_id, which } => {
                let removed = match which {
                    DeviceSelector::All => {
                        self.run("DELETE FROM devices WHERE license_id = $1", &[license_id])
                            .await?
                    }
                    DeviceSelector::Serial(serial) => {
                        self.run(
                            "DELETE FROM devices WHERE license_id = $1 AND serial_number = $2",
                            &[license_id, serial],
                        )
                        .await?
                    }
                    DeviceSelector::Key(key) => {
                        self.run(
                            "DELETE FROM devices WHERE license_id = $1 AND serial_number = $2 \
                             AND cs_product_uuid = $3",
                            &[license_id, &key.serial_number, &key.cs_product_uuid],
                        )
                        .await?
                    }
                };
                let removed = i32::try_from(removed)
                    .map_err(|_| crate::store::error::corrupt("too many devices removed"))?;
                self.run(
                    "UPDATE licenses SET devices_bound = devices_bound - $2, \
                     first_bound_on = (SELECT min(bound_on) FROM devices WHERE license_id = $1) \
                     WHERE id = $1",
                    &[license_id, &removed],
                )
                .await
                .map(drop)
            }
            Write::SetToggle {
                product_id,
                target,
                name,
                value,
            } => {
                let (kind, text) = toggle_to_text(value);
                let params: [&(dyn ToSql + Sync); 7] = [
                    product_id,
                    &target.scope(),
                    &target.plan_id(),
                    &target.license_id(),
                    name,
                    &kind,
                    &text,
                ];
                // One upsert, so two nodes setting the same new toggle at
                // once do not collide.
                self.run(
                    "INSERT INTO toggles (product_id, scope, plan_id, license_id, name, \
                     value_type, value) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (product_id, scope, coalesce(plan_id, ''), \
                     coalesce(license_id, 0), name) \
                     DO UPDATE SET value_type = EXCLUDED.value_type, value = EXCLUDED.value",
                    &params,
                )
                .await
                .map(drop)
            }
            Write::RemoveToggle {
                product_id,
                target,
                name,
            } => {
                let params: [&(dyn ToSql + Sync); 5] = [
                    product_id,
                    &target.scope(),
                    &target.plan_id(),
                    &target.license_id(),
                    name,
                ];
                self.run(
                    &format!("DELETE FROM toggles WHERE {TOGGLE_MATCH}"),
                    &params,
                )
                .await
                .map(drop)
            }
            Write::InsertRelease { release, at } => {
                let size = i64::try_from(release.size)
                    .map_err(|_| DomainError::invalid("the artifact is too large"))?;
                self.insert(
                    write,
                    "INSERT INTO releases (product_id, version, platform, channel, file_name, \
                     size, sha256, signature, yanked, published_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9)",
                    &[
                        &release.product_id,
                        &release.version,
                        &release.platform.as_deref().unwrap_or(""),
                        &release.channel.as_str(),
                        &release.file_name,
                        &size,
                        &&release.sha256[..],
                        &&release.signature[..],
                        at,
                    ],
                )
                .await
            }
            Write::SetReleaseYanked { id, yanked } => self
                .run(
                    "UPDATE releases SET yanked = $2 WHERE id = $1",
                    &[id, yanked],
                )
                .await
                .map(drop),
            Write::InsertAdminToken { token, at } => {
                self.insert(
                    write,
                    "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &token.id,
                        &token.name,
                        &token.read_only,
                        &&token.secret_hash[..],
                        at,
                    ],
                )
                .await
            }
            Write::RevokeAdminToken { id, at } => self
                .run(
                    "UPDATE admin_tokens SET revoked_at = $2 WHERE id = $1",
                    &[id, at],
                )
                .await
                .map(drop),
            Write::TouchAdminToken { id, at } => self
                .run(
                    "UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1",
                    &[id, at],
                )
                .await
                .map(drop),
            Write::Audit(entry) => self
                .run(
                    "INSERT INTO audit_log (at, actor, action, product_id, license_id, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &entry.actor.at,
                        &entry.actor.name,
                        &entry.action.as_str(),
                        &entry.product_id,
                        &entry.license_id,
                        &entry.detail,
                    ],
                )
                .await
                .map(drop),
        }
    }
}
