//! Feature toggles: values at three layers, product < plan < license.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use skyline_protocol::methods::{FeatureToggles, ToggleValue};

use super::{backend_error, journal, rows};
use crate::store::codec::{toggle_from_text, toggle_to_text};
use crate::store::{
    key_suffix, Actor, AuditAction, StoreError, ToggleLayer, ToggleScope, ToggleSetting,
};

/// A scope resolved to its row values: (`scope`, `plan_id`, `license_id`, shown as).
struct Resolved {
    scope: &'static str,
    plan_id: Option<String>,
    license_id: Option<i64>,
    shown: String,
}

/// Checks that the scope belongs to the product.
fn resolve(
    conn: &Connection,
    product_id: &str,
    scope: ToggleScope,
) -> Result<Resolved, StoreError> {
    if rows::product(conn, product_id)?.is_none() {
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
            let owner: Option<String> = conn
                .query_row(
                    "SELECT product_id FROM plans WHERE id = ?1",
                    [&plan_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend_error)?;
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
            let license = rows::require_license(conn, &digest)?;
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

const MATCH_SCOPE: &str =
    "product_id = ?1 AND scope = ?2 AND ifnull(plan_id, '') = ifnull(?3, '') \
     AND ifnull(license_id, 0) = ifnull(?4, 0) AND name = ?5";

/// [`Store::set_toggle`](crate::store::Store::set_toggle).
pub(super) fn set_toggle(
    conn: &Connection,
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
    let at = resolve(conn, product_id, scope)?;
    let (kind, text) = toggle_to_text(value);
    let updated = conn
        .execute(
            &format!("UPDATE toggles SET value_type = ?6, value = ?7 WHERE {MATCH_SCOPE}"),
            params![
                product_id,
                at.scope,
                at.plan_id,
                at.license_id,
                name,
                kind,
                text
            ],
        )
        .map_err(backend_error)?;
    if updated == 0 {
        conn.execute(
            "INSERT INTO toggles (product_id, scope, plan_id, license_id, name, value_type, value) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![product_id, at.scope, at.plan_id, at.license_id, name, kind, text],
        )
        .map_err(backend_error)?;
    }
    let detail = format!("`{name}` = {value} ({kind}) at {}", at.shown);
    journal::audit(
        conn,
        by,
        &AuditAction::ToggleSet,
        Some(product_id),
        at.license_id,
        &detail,
    )
}

/// [`Store::remove_toggle`](crate::store::Store::remove_toggle).
pub(super) fn remove_toggle(
    conn: &Connection,
    by: &Actor,
    product_id: &str,
    scope: ToggleScope,
    name: &str,
) -> Result<bool, StoreError> {
    let at = resolve(conn, product_id, scope)?;
    let removed = conn
        .execute(
            &format!("DELETE FROM toggles WHERE {MATCH_SCOPE}"),
            params![product_id, at.scope, at.plan_id, at.license_id, name],
        )
        .map_err(backend_error)?;
    if removed > 0 {
        let detail = format!("`{name}` removed at {}", at.shown);
        journal::audit(
            conn,
            by,
            &AuditAction::ToggleRemoved,
            Some(product_id),
            at.license_id,
            &detail,
        )?;
    }
    Ok(removed > 0)
}

/// [`Store::list_toggles`](crate::store::Store::list_toggles).
pub(super) fn list_toggles(
    conn: &Connection,
    product_id: &str,
) -> Result<Vec<ToggleSetting>, StoreError> {
    if rows::product(conn, product_id)?.is_none() {
        return Err(StoreError::not_found(format!("product `{product_id}`")));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT t.scope, t.plan_id, t.license_id, l.key_last_group, t.name, t.value_type, \
             t.value FROM toggles t LEFT JOIN licenses l ON l.id = t.license_id \
             WHERE t.product_id = ?1 \
             ORDER BY CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
             t.plan_id, t.license_id, t.name",
        )
        .map_err(backend_error)?;
    let raw = stmt
        .query_map([product_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(backend_error)?;
    raw.into_iter()
        .map(|(scope, plan_id, license_id, group, name, kind, text)| {
            let layer = match (scope.as_str(), plan_id, license_id) {
                ("plan", Some(plan), _) => ToggleLayer::Plan(plan),
                ("license", _, Some(license_id)) => ToggleLayer::License {
                    license_id,
                    key_suffix: key_suffix(group.as_deref().unwrap_or("?????")),
                },
                _ => ToggleLayer::Product,
            };
            Ok(ToggleSetting {
                layer,
                name,
                value: toggle_from_text(&kind, &text)?,
            })
        })
        .collect()
}

/// [`Store::feature_toggles`](crate::store::Store::feature_toggles): the
/// license's toggles, each from its most specific layer, sorted by name.
pub(super) fn feature_toggles(
    conn: &Connection,
    license_id: i64,
) -> Result<FeatureToggles, StoreError> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT id FROM licenses WHERE id = ?1")
        .and_then(|mut s| s.query_row([license_id], |r| r.get(0)).optional())
        .map_err(backend_error)?;
    if exists.is_none() {
        return Err(StoreError::not_found("license"));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT CASE t.scope WHEN 'product' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, \
             t.name, t.value_type, t.value \
             FROM licenses l JOIN plans p ON p.id = l.plan_id \
             JOIN toggles t ON t.product_id = p.product_id \
             WHERE l.id = ?1 AND (t.scope = 'product' \
                OR (t.scope = 'plan' AND t.plan_id = l.plan_id) \
                OR (t.scope = 'license' AND t.license_id = l.id))",
        )
        .map_err(backend_error)?;
    let raw = stmt
        .query_map([license_id], |r| {
            Ok((
                r.get::<_, u8>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(backend_error)?;
    let mut layered: BTreeMap<String, (u8, ToggleValue)> = BTreeMap::new();
    for (rank, name, kind, text) in raw {
        let value = toggle_from_text(&kind, &text)?;
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
