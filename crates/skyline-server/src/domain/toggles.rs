//! Feature toggles (PROTOCOL.md §6 `get-feature-toggles`): values at three
//! layers, product < plan < license, and the operator's changes to them.

use std::collections::BTreeMap;

use skyline_protocol::methods::{FeatureToggles, ToggleValue};

use super::{
    audit, require_product, Actor, AuditAction, Command, Decision, DomainError, LayeredToggle,
    Needs, Snapshot, ToggleRank, ToggleScope, ToggleTarget, Write,
};

/// Longest toggle name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Checks a toggle name: 1 to [`MAX_NAME_CHARS`] characters.
pub fn check_name(name: &str) -> Result<(), DomainError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::invalid(format!(
            "a toggle name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// The license's toggles from every value that applies to it: each name
/// takes its value from the most specific layer that sets it. Sorted by name.
pub fn layer(values: impl IntoIterator<Item = LayeredToggle>) -> FeatureToggles {
    let mut layered: BTreeMap<String, (ToggleRank, ToggleValue)> = BTreeMap::new();
    for LayeredToggle { rank, name, value } in values {
        match layered.get(&name) {
            Some((seen, _)) if *seen >= rank => {}
            _ => {
                layered.insert(name, (rank, value));
            }
        }
    }
    FeatureToggles(
        layered
            .into_iter()
            .map(|(name, (_, value))| (name, value))
            .collect(),
    )
}

/// The stored layer a scope names, and how the audit log says it; the scope
/// must belong to the product.
fn resolve(
    seen: &Snapshot,
    product_id: &str,
    scope: &ToggleScope,
) -> Result<(ToggleTarget, String), DomainError> {
    require_product(seen, product_id)?;
    match scope {
        ToggleScope::Product => Ok((ToggleTarget::Product, "product default".into())),
        ToggleScope::Plan(plan_id) => match &seen.plan {
            Some(plan) if plan.product_id == product_id => Ok((
                ToggleTarget::Plan(plan.id.clone()),
                format!("plan `{plan_id}`"),
            )),
            _ => Err(DomainError::not_found(format!(
                "plan `{plan_id}` of product `{product_id}`"
            ))),
        },
        ToggleScope::License(_) => match &seen.license {
            Some(license) if license.product_id() == product_id => Ok((
                ToggleTarget::License(license.id),
                format!("key {}", license.key_suffix()),
            )),
            Some(_) => Err(DomainError::not_found(format!(
                "license key of product `{product_id}`"
            ))),
            None => Err(DomainError::not_found("license key")),
        },
    }
}

fn needs(product_id: &str, scope: &ToggleScope, name: &str) -> Needs {
    let mut needs = Needs {
        product: Some(product_id.to_owned()),
        toggle: Some((scope.clone(), name.to_owned())),
        ..Needs::default()
    };
    match scope {
        ToggleScope::Product => {}
        ToggleScope::Plan(plan) => needs.plan = Some(plan.clone()),
        ToggleScope::License(digest) => needs.license = Some(*digest),
    }
    needs
}

/// The type tag of a value, as the audit log and the store spell it.
pub fn value_type(value: &ToggleValue) -> &'static str {
    match value {
        ToggleValue::Int(_) => "int",
        ToggleValue::Float(_) => "float",
        ToggleValue::Bool(_) => "bool",
        ToggleValue::String(_) => "string",
    }
}

/// Sets (or replaces) one toggle value of a product at one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct SetToggle {
    /// The product.
    pub product_id: String,
    /// Where.
    pub scope: ToggleScope,
    /// The toggle's name.
    pub name: String,
    /// Its value.
    pub value: ToggleValue,
}

impl Command for SetToggle {
    type Outcome = ();

    fn needs(&self) -> Needs {
        needs(&self.product_id, &self.scope, &self.name)
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<()>, DomainError> {
        check_name(&self.name)?;
        if let ToggleValue::Float(f) = self.value {
            if !f.is_finite() {
                return Err(DomainError::invalid(
                    "a toggle value must be a finite number",
                ));
            }
        }
        let (target, shown) = resolve(seen, &self.product_id, &self.scope)?;
        let detail = format!(
            "`{}` = {} ({}) at {shown}",
            self.name,
            self.value,
            value_type(&self.value)
        );
        let license_id = target.license_id();
        let writes = vec![
            Write::SetToggle {
                product_id: self.product_id.clone(),
                target,
                name: self.name.clone(),
                value: self.value.clone(),
            },
            audit(
                by,
                AuditAction::ToggleSet,
                Some(&self.product_id),
                license_id,
                detail,
            ),
        ];
        Ok(Decision::new((), writes))
    }
}

/// Removes one toggle value; answers whether it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveToggle {
    /// The product.
    pub product_id: String,
    /// Where.
    pub scope: ToggleScope,
    /// The toggle's name.
    pub name: String,
}

impl Command for RemoveToggle {
    type Outcome = bool;

    fn needs(&self) -> Needs {
        needs(&self.product_id, &self.scope, &self.name)
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<bool>, DomainError> {
        let (target, shown) = resolve(seen, &self.product_id, &self.scope)?;
        if seen.toggle.is_none() {
            return Ok(Decision::new(false, Vec::new()));
        }
        let license_id = target.license_id();
        let writes = vec![
            Write::RemoveToggle {
                product_id: self.product_id.clone(),
                target,
                name: self.name.clone(),
            },
            audit(
                by,
                AuditAction::ToggleRemoved,
                Some(&self.product_id),
                license_id,
                format!("`{}` removed at {shown}", self.name),
            ),
        ];
        Ok(Decision::new(true, writes))
    }
}

#[cfg(test)]
mod tests {
    use skyline_protocol::dates::PlanDuration;

    use super::*;
    use crate::domain::fixtures::*;

    fn value(rank: ToggleRank, name: &str, v: i64) -> LayeredToggle {
        LayeredToggle {
            rank,
            name: name.into(),
            value: ToggleValue::Int(v),
        }
    }

    #[test]
    fn the_most_specific_layer_wins_whatever_the_order() {
        let toggles = layer([
            value(ToggleRank::License, "a", 3),
            value(ToggleRank::Product, "a", 1),
            value(ToggleRank::Plan, "a", 2),
            value(ToggleRank::Plan, "b", 20),
            value(ToggleRank::Product, "b", 10),
            value(ToggleRank::Product, "c", 100),
        ]);
        assert_eq!(
            toggles.0,
            vec![
                ("a".to_owned(), ToggleValue::Int(3)),
                ("b".to_owned(), ToggleValue::Int(20)),
                ("c".to_owned(), ToggleValue::Int(100)),
            ]
        );
        assert!(layer([]).0.is_empty());
    }

    #[test]
    fn scopes_must_belong_to_the_product() {
        let by = cli("2025-01-01");
        let set = |scope| SetToggle {
            product_id: "telepower".into(),
            scope,
            name: "limit".into(),
            value: ToggleValue::Int(5),
        };
        let mut seen = Snapshot {
            product: Some(product()),
            ..Snapshot::default()
        };
        assert!(set(ToggleScope::Product).decide(&seen, &by).is_ok());
        assert!(matches!(
            set(ToggleScope::Plan("x".into())).decide(&seen, &by),
            Err(DomainError::NotFound { .. })
        ));
        let mut other_plan = plan(PlanDuration::Months(1), 1);
        other_plan.product_id = "otherapp".into();
        seen.plan = Some(other_plan);
        assert!(set(ToggleScope::Plan("telepower.monthly".into()))
            .decide(&seen, &by)
            .is_err());
        seen.license = Some(license(plan(PlanDuration::Months(1), 1)));
        let decided = set(ToggleScope::License([1; 32]))
            .decide(&seen, &by)
            .unwrap();
        assert!(matches!(
            &decided.writes[0],
            Write::SetToggle {
                target: ToggleTarget::License(7),
                ..
            }
        ));
        assert!(set(ToggleScope::Product)
            .decide(&Snapshot::default(), &by)
            .is_err());
    }

    #[test]
    fn names_are_bounded_and_removal_reports_whether_set() {
        assert!(check_name("").is_err());
        assert!(check_name(&"n".repeat(257)).is_err());
        assert!(check_name("engine.limits.sendMessage.dailyLimit").is_ok());
        let remove = RemoveToggle {
            product_id: "telepower".into(),
            scope: ToggleScope::Product,
            name: "limit".into(),
        };
        let mut seen = Snapshot {
            product: Some(product()),
            ..Snapshot::default()
        };
        let by = cli("2025-01-01");
        let absent = remove.decide(&seen, &by).unwrap();
        assert!(!absent.outcome && absent.writes.is_empty());
        seen.toggle = Some(ToggleValue::Int(1));
        let removed = remove.decide(&seen, &by).unwrap();
        assert!(removed.outcome);
        assert_eq!(audited(&removed.writes), [AuditAction::ToggleRemoved]);
    }
}
