//! Feature toggles: values at three layers, product < plan < license.

use std::collections::BTreeMap;

use deadpool_postgres::{GenericClient, Transaction};
use skyline_protocol::methods::{FeatureToggles, ToggleValue};
use tokio_postgres::types::ToSql;

use super::rows::{self, get};
use super::{journal, pg_error};
use crate::store::codec::{toggle_from_text, toggle_to_text};
use crate::store::{
    key_suffix, Actor, AuditAction, StoreError, ToggleLayer, ToggleScope, ToggleSetting,
};

/// A scope resolved to its row values.
struct Resolved {
    scope: &'static str,
    plan_id: Option<String>,
    license_id: Option<i64>,
    shown: String,
}

/// Checks that the scope belongs to the product.
async fn resolve<C: GenericClient>(
    c: &C,
    product_id: &str,
    scope: ToggleScope,
) -> Result<Resolved, StoreError> {
    if rows::product(c, product_id).await?.is_none() {
        return Err(StoreError::not_found(format!("product `{product_id}`")));
    }
    match scope {
        ToggleScope::Product => Ok(Resolved {
            scope: "product",
            plan_id: None,
            license_id: None,
            shown: "product default".into(),
        }),
        ToggleScope::Plan(plan_id) => {
            let owner: Option<String> =
                rows::query_opt(c, "SELECT product_id FROM plans WHERE id = $1", &[&plan_id])
                    .await
                    .map_err(pg_error)?
                    .map(|row| get(&row, 0))
                    .transpose()?;
            if owner.as_deref() != Some(product_id) {
                return Err(StoreError::not_found(format!(
                    "plan `{plan_id}` of product `{product_id}`"
                )));
            }
            Ok(Resolved {
                scope: "plan",
                shown: format!("plan `{plan_id}`"),
                plan_id: Some(plan_id),
                license_id: None,
            })
        }
        ToggleScope::License(digest) => {
            let license = rows::require_license(c, &digest).await?;
            if license.product_id != product_id {
                return Err(StoreError::not_found(format!(
                    "license key of product `{product_id}`"
                )));
            }
            Ok(Resolved {
                scope: "license",
                plan_id: None,
                license_id: Some(license.id),
                shown: format!("key {}", key_suffix(&license.last_group)),
            })
        }
    }
}

/// [`Store::set_toggle`](crate::store::Store::set_toggle): one upsert, so two
/// nodes setting the same new toggle at once do not collide.
pub(super) async fn set_toggle(
    tx: &Transaction<'_>,
    by: &Actor,
    product_id: &str,
    scope: ToggleScope,
    name: &str,
    value: &ToggleValue,
) -> Result<(), StoreError> {
    if name.is_empty() || name.chars().count() > 256 {
        return Err(StoreError::Invalid(
            "a toggle name must be 1 to 256 characters".into(),
        ));
    }
    let at = resolve(tx, product_id, scope).await?;
    let (kind, text) = toggle_to_text(value);
    let params: [&(dyn ToSql + Sync); 7] = [
        &product_id,
        &at.scope,
        &at.plan_id,
        &at.license_id,
        &name,
        &kind,
        &text,
    ];
    rows::execute(
        tx,
        "INSERT INTO toggles (product_id, scope, plan_id, license_id, name, value_type, value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (product_id, scope, coalesce(plan_id, ''), coalesce(license_id, 0), name) \
         DO UPDATE SET value_type = EXCLUDED.value_type, value = EXCLUDED.value",
        &params,
    )
    .await
    .map_err(pg_error)?;
    let detail = format!("`{name}` = {value} ({kind}) at {}", at.shown);
    journal::audit(
        tx,
        by,
        &AuditAction::ToggleSet,
        Some(product_id),
        at.license_id,
        &detail,
    )
    .await
}

/// [`Store::remove_toggle`](crate::store::Store::remove_toggle).
pub(super) async fn remove_toggle(
    tx: &Transaction<'_>,
    by: &Actor,
    product_id: &str,
    scope: ToggleScope,
    name: &str,
) -> Result<bool, StoreError> {
    let at = resolve(tx, product_id, scope).await?;
    let removed = rows::execute(
        tx,
        "DELETE FROM toggles WHERE product_id = $1 AND scope = $2 \
         AND coalesce(plan_id, '') = coalesce($3::TEXT, '') \
         AND coalesce(license_id, 0) = coalesce($4::BIGINT, 0) AND name = $5",
        &[&product_id, &at.scope, &at.plan_id, &at.license_id, &name],
    )
    .await
    .map_err(pg_error)?;
    if removed > 0 {
        let detail = format!("`{name}` removed at {}", at.shown);
        journal::audit(
            tx,
            by,
            &AuditAction::ToggleRemoved,
            Some(product_id),
            at.license_id,
            &detail,
        )
        .await?;
    }
    Ok(removed > 0)
}

/// [`Store::list_toggles`](crate::store::Store::list_toggles).
pub(super) async fn list_toggles<C: GenericClient>(
    c: &C,
    product_id: &str,
) -> Result<Vec<ToggleSetting>, StoreError> {
    if rows::product(c, product_id).await?.is_none() {
        return Err(StoreError::not_found(format!("product `{product_id}`")));
    }
    rows::query(
        c,
        "SELECT t.scope, t.plan_id, t.license_id, l.key_last_group, t.name, t.value_type, \
         t.value FROM toggles t LEFT JOIN licenses l ON l.id = t.license_id \
         WHERE t.product_id = $1 \
         ORDER BY CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
         t.plan_id COLLATE \"C\" NULLS FIRST, t.license_id NULLS FIRST, t.name COLLATE \"C\"",
        &[&product_id],
    )
    .await
    .map_err(pg_error)?
    .iter()
    .map(|row| {
        let scope: &str = get(row, 0)?;
        let layer = match (scope, get::<Option<String>>(row, 1)?, get(row, 2)?) {
            ("plan", Some(plan), _) => ToggleLayer::Plan(plan),
            ("license", _, Some(license_id)) => ToggleLayer::License {
                license_id,
                key_suffix: key_suffix(get::<Option<&str>>(row, 3)?.unwrap_or("?????")),
            },
            _ => ToggleLayer::Product,
        };
        Ok(ToggleSetting {
            layer,
            name: get(row, 4)?,
            value: toggle_from_text(get(row, 5)?, get(row, 6)?)?,
        })
    })
    .collect()
}

/// [`Store::feature_toggles`](crate::store::Store::feature_toggles): the
/// license's toggles, each from its most specific layer, sorted by name. One
/// query: no row means no such license; a row without a name, no toggles.
pub(super) async fn feature_toggles<C: GenericClient>(
    c: &C,
    license_id: i64,
) -> Result<FeatureToggles, StoreError> {
    let rows = rows::query(
        c,
        "SELECT CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
         t.name, t.value_type, t.value \
         FROM licenses l JOIN plans p ON p.id = l.plan_id \
         LEFT JOIN toggles t ON t.product_id = p.product_id AND (t.scope = 'product' \
            OR (t.scope = 'plan' AND t.plan_id = l.plan_id) \
            OR (t.scope = 'license' AND t.license_id = l.id)) \
         WHERE l.id = $1",
        &[&license_id],
    )
    .await
    .map_err(pg_error)?;
    if rows.is_empty() {
        return Err(StoreError::not_found("license"));
    }
    let mut layered: BTreeMap<String, (i32, ToggleValue)> = BTreeMap::new();
    for row in &rows {
        let Some(name) = get::<Option<String>>(row, 1)? else {
            continue;
        };
        let rank: i32 = get(row, 0)?;
        let value = toggle_from_text(get(row, 2)?, get(row, 3)?)?;
        if layered.get(&name).is_none_or(|(seen, _)| rank > *seen) {
            layered.insert(name, (rank, value));
        }
    }
    Ok(FeatureToggles(
        layered
            .into_iter()
            .map(|(name, (_, value))| (name, value))
            .collect(),
    ))
}
