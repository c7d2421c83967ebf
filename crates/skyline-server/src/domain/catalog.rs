//! The catalog: products, plans and license keys. What a valid id, version,
//! duration or seat count is, decided once for the CLI, the admin API and
//! every backend.

use skyline_protocol::dates::PlanDuration;
use skyline_protocol::version::Version;

use super::{
    audit, key_suffix, require_product, Actor, AuditAction, Command, Decision, DomainError, Needs,
    NewLicense, Plan, Product, Snapshot, Write,
};

/// Most keys one command creates (the CLI creates more in batches).
pub const MAX_KEYS_PER_COMMAND: usize = 10_000;

/// Checks a product or plan id: 1 to 128 printable ASCII characters without
/// spaces.
pub fn check_id(kind: &str, id: &str) -> Result<(), DomainError> {
    let ok = (1..=128).contains(&id.chars().count()) && id.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "a {kind} id must be 1 to 128 printable ASCII characters without spaces"
        )))
    }
}

/// Checks a dotted version such as `7.0.3`.
pub fn check_version(text: &str) -> Result<Version, DomainError> {
    Version::parse(text).map_err(|e| DomainError::invalid(e.to_string()))
}

/// Checks a plan's duration: at least one month or day, or perpetual.
pub fn check_duration(duration: PlanDuration) -> Result<(), DomainError> {
    match duration {
        PlanDuration::Months(0) | PlanDuration::Days(0) => Err(DomainError::invalid(
            "a plan's duration must be at least 1 month or 1 day",
        )),
        _ => Ok(()),
    }
}

/// A plan's duration from the three ways to give one (`months`, `days`,
/// `perpetual`): exactly one of them.
pub fn duration_of(
    months: Option<u32>,
    days: Option<u32>,
    perpetual: bool,
) -> Result<PlanDuration, DomainError> {
    let duration =
        match (months, days, perpetual) {
            (Some(m), None, false) => PlanDuration::Months(m),
            (None, Some(d), false) => PlanDuration::Days(d),
            (None, None, true) => PlanDuration::Perpetual,
            _ => return Err(DomainError::invalid(
                "give exactly one duration: months (at least 1), days (at least 1) or perpetual",
            )),
        };
    check_duration(duration)?;
    Ok(duration)
}

/// Checks a plan's seats: at least one device.
pub fn check_seats(seats: u32) -> Result<(), DomainError> {
    if seats == 0 {
        return Err(DomainError::invalid("a plan needs at least 1 device seat"));
    }
    if i32::try_from(seats).is_err() {
        return Err(DomainError::invalid("too many device seats"));
    }
    Ok(())
}

/// Checks a key's last group: 1 to 8 letters or digits.
pub fn check_last_group(group: &str) -> Result<(), DomainError> {
    let ok = (1..=8).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "a key's last group must be 1 to 8 letters or digits",
        ))
    }
}

/// The error for a key that already exists, named by its last group.
pub fn key_conflict(key: &NewLicense) -> DomainError {
    DomainError::conflict(format!("license key {}", key_suffix(&key.last_group)))
}

/// A plan's duration in the audit log's words: `months:N`, `days:N`, `perpetual`.
pub fn duration_text(duration: PlanDuration) -> String {
    match duration {
        PlanDuration::Months(n) => format!("months:{n}"),
        PlanDuration::Days(n) => format!("days:{n}"),
        PlanDuration::Perpetual => "perpetual".into(),
    }
}

/// Creates an enabled product with a minimum supported version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProduct {
    /// `productId`.
    pub id: String,
    /// The oldest app version still allowed to start a session.
    pub min_version: String,
}

impl Command for CreateProduct {
    type Outcome = Product;

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<Product>, DomainError> {
        check_id("product", &self.id)?;
        check_version(&self.min_version)?;
        if seen.product.is_some() {
            return Err(DomainError::conflict(format!("product `{}`", self.id)));
        }
        let product = Product {
            id: self.id.clone(),
            min_version: self.min_version.clone(),
            enabled: true,
        };
        let detail = format!("minimum version {}", self.min_version);
        let writes = vec![
            Write::InsertProduct(product.clone()),
            audit(
                by,
                AuditAction::ProductCreated,
                Some(&self.id),
                None,
                detail,
            ),
        ];
        Ok(Decision::new(product, writes))
    }
}

/// Changes a product: its minimum supported version, whether it is enabled
/// (disabled: `UNKNOWN_PRODUCT`), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProduct {
    /// The product.
    pub id: String,
    /// A new minimum supported version.
    pub min_version: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

impl Command for UpdateProduct {
    type Outcome = Product;

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<Product>, DomainError> {
        if self.min_version.is_none() && self.enabled.is_none() {
            return Err(DomainError::invalid(
                "nothing to change: give a minimum version and/or enabled",
            ));
        }
        let before = require_product(seen, &self.id)?;
        let mut product = before.clone();
        let mut writes = Vec::new();
        if let Some(min) = &self.min_version {
            check_version(min)?;
            product.min_version = min.clone();
            let detail = format!("minimum version {} -> {min}", before.min_version);
            writes.push(audit(
                by,
                AuditAction::ProductUpdated,
                Some(&self.id),
                None,
                detail,
            ));
        }
        if let Some(enabled) = self.enabled {
            product.enabled = enabled;
            let action = if enabled {
                AuditAction::ProductEnabled
            } else {
                AuditAction::ProductDisabled
            };
            writes.push(audit(by, action, Some(&self.id), None, ""));
        }
        writes.insert(0, Write::UpdateProduct(product.clone()));
        Ok(Decision::new(product, writes))
    }
}

/// Creates a plan of an existing product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan(pub Plan);

impl Command for CreatePlan {
    type Outcome = Plan;

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.0.product_id.clone()),
            plan: Some(self.0.id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<Plan>, DomainError> {
        let plan = &self.0;
        check_id("plan", &plan.id)?;
        check_duration(plan.duration)?;
        check_seats(plan.seats)?;
        require_product(seen, &plan.product_id)?;
        if seen.plan.is_some() {
            return Err(DomainError::conflict(format!("plan `{}`", plan.id)));
        }
        let detail = format!(
            "plan `{}`: {}, {} seat(s)",
            plan.id,
            duration_text(plan.duration),
            plan.seats
        );
        let writes = vec![
            Write::InsertPlan(plan.clone()),
            audit(
                by,
                AuditAction::PlanCreated,
                Some(&plan.product_id),
                None,
                detail,
            ),
        ];
        Ok(Decision::new(plan.clone(), writes))
    }
}

/// Creates keys of a plan, all or none. The caller generates the keys
/// ([`LicenseIndex::generate`](crate::license_index::LicenseIndex::generate)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLicenses {
    /// The plan.
    pub plan_id: String,
    /// The keys, as digests and last groups.
    pub keys: Vec<NewLicense>,
}

impl Command for CreateLicenses {
    type Outcome = usize;

    fn needs(&self) -> Needs {
        Needs {
            plan: Some(self.plan_id.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<usize>, DomainError> {
        let plan = seen
            .plan
            .as_ref()
            .ok_or_else(|| DomainError::not_found(format!("plan `{}`", self.plan_id)))?;
        if self.keys.is_empty() || self.keys.len() > MAX_KEYS_PER_COMMAND {
            return Err(DomainError::invalid(format!(
                "create 1 to {MAX_KEYS_PER_COMMAND} keys at a time"
            )));
        }
        let mut seen_digests = std::collections::HashSet::new();
        for key in &self.keys {
            check_last_group(&key.last_group)?;
            if !seen_digests.insert(key.digest) {
                return Err(key_conflict(key));
            }
        }
        let detail = format!("{} key(s) of plan `{}`", self.keys.len(), self.plan_id);
        let writes = vec![
            Write::InsertLicenses {
                plan_id: self.plan_id.clone(),
                keys: self.keys.clone(),
            },
            audit(
                by,
                AuditAction::LicensesCreated,
                Some(&plan.product_id),
                None,
                detail,
            ),
        ];
        Ok(Decision::new(self.keys.len(), writes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;

    #[test]
    fn ids_and_versions() {
        assert!(check_id("product", "telepower").is_ok());
        assert!(check_id("product", "").is_err());
        assert!(check_id("product", "tele power").is_err());
        assert!(check_id("plan", &"x".repeat(129)).is_err());
        assert!(check_version("7.0.10").is_ok());
        assert!(check_version("seven").is_err());
    }

    #[test]
    fn durations_are_given_one_way() {
        assert_eq!(
            duration_of(Some(1), None, false),
            Ok(PlanDuration::Months(1))
        );
        assert_eq!(
            duration_of(None, Some(30), false),
            Ok(PlanDuration::Days(30))
        );
        assert_eq!(duration_of(None, None, true), Ok(PlanDuration::Perpetual));
        assert!(duration_of(Some(1), Some(2), false).is_err());
        assert!(duration_of(None, None, false).is_err());
        assert!(duration_of(Some(0), None, false).is_err());
    }

    #[test]
    fn a_product_is_created_once() {
        let create = CreateProduct {
            id: "telepower".into(),
            min_version: "7.0.9".into(),
        };
        let by = cli("2025-01-01");
        let made = create.decide(&Snapshot::default(), &by).unwrap();
        assert_eq!(made.outcome, product());
        assert_eq!(audited(&made.writes), [AuditAction::ProductCreated]);
        let existing = Snapshot {
            product: Some(product()),
            ..Snapshot::default()
        };
        assert!(matches!(
            create.decide(&existing, &by),
            Err(DomainError::Conflict { .. })
        ));
        let bad = CreateProduct {
            min_version: "x".into(),
            ..create
        };
        assert!(matches!(
            bad.decide(&Snapshot::default(), &by),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn product_updates_are_audited_each() {
        let seen = Snapshot {
            product: Some(product()),
            ..Snapshot::default()
        };
        let update = UpdateProduct {
            id: "telepower".into(),
            min_version: Some("7.1".into()),
            enabled: Some(false),
        };
        let decided = update.decide(&seen, &cli("2025-01-01")).unwrap();
        assert_eq!(decided.outcome.min_version, "7.1");
        assert!(!decided.outcome.enabled);
        assert_eq!(
            audited(&decided.writes),
            [AuditAction::ProductUpdated, AuditAction::ProductDisabled]
        );
        let nothing = UpdateProduct {
            min_version: None,
            enabled: None,
            ..update.clone()
        };
        assert!(nothing.decide(&seen, &cli("2025-01-01")).is_err());
        assert!(matches!(
            update.decide(&Snapshot::default(), &cli("2025-01-01")),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn plans_need_a_product_a_duration_and_a_seat() {
        let seen = Snapshot {
            product: Some(product()),
            ..Snapshot::default()
        };
        let by = cli("2025-01-01");
        let ok = CreatePlan(plan(PlanDuration::Months(1), 2));
        assert_eq!(ok.decide(&seen, &by).unwrap().outcome.seats, 2);
        assert!(matches!(
            ok.decide(&Snapshot::default(), &by),
            Err(DomainError::NotFound { .. })
        ));
        let no_seat = CreatePlan(plan(PlanDuration::Months(1), 0));
        assert!(no_seat.decide(&seen, &by).is_err());
        let no_time = CreatePlan(plan(PlanDuration::Days(0), 1));
        assert!(no_time.decide(&seen, &by).is_err());
        let taken = Snapshot {
            plan: Some(plan(PlanDuration::Months(1), 1)),
            ..seen
        };
        assert!(matches!(
            ok.decide(&taken, &by),
            Err(DomainError::Conflict { .. })
        ));
    }

    #[test]
    fn keys_need_their_plan_and_sane_groups() {
        let key = |d: u8, g: &str| NewLicense {
            digest: [d; 32],
            last_group: g.into(),
        };
        let seen = Snapshot {
            plan: Some(plan(PlanDuration::Months(1), 1)),
            ..Snapshot::default()
        };
        let by = cli("2025-01-01");
        let create = |keys| CreateLicenses {
            plan_id: "telepower.monthly".into(),
            keys,
        };
        let made = create(vec![key(1, "AAAAA"), key(2, "BBBBB")])
            .decide(&seen, &by)
            .unwrap();
        assert_eq!(made.outcome, 2);
        assert!(create(vec![key(1, "AA AA")]).decide(&seen, &by).is_err());
        assert!(create(vec![]).decide(&seen, &by).is_err());
        assert!(matches!(
            create(vec![key(1, "AAAAA"), key(1, "AAAAA")]).decide(&seen, &by),
            Err(DomainError::Conflict { .. })
        ));
        assert!(matches!(
            create(vec![key(1, "AAAAA")]).decide(&Snapshot::default(), &by),
            Err(DomainError::NotFound { .. })
        ));
    }
}
