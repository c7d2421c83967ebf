//! What operators do to a license key: revoke it, reset its devices, set its
//! expiry date. Each locks the key's row (see [`Needs::license`]), so it and
//! a `start-session` of the same key happen one after the other.

use chrono::NaiveDate;
use skyline_protocol::dates;

use super::audit::show_date;
use super::{
    audit, require_license, Actor, AuditAction, Command, Decision, DeviceSelector, DomainError,
    LicenseStatus, Needs, Snapshot, Write,
};
use crate::license_index::LicenseDigest;

/// Revokes a key: `LICENSE_REVOKED` from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeLicense {
    /// The key.
    pub license: LicenseDigest,
}

impl Command for RevokeLicense {
    type Outcome = ();

    fn needs(&self) -> Needs {
        Needs {
            license: Some(self.license),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<()>, DomainError> {
        let license = require_license(seen)?;
        let writes = vec![
            Write::UpdateLicense {
                id: license.id,
                status: LicenseStatus::Revoked,
                activation_date: license.activation_date,
                expiry_date: license.expiry_date,
            },
            audit(
                by,
                AuditAction::LicenseRevoked,
                Some(license.product_id()),
                Some(license.id),
                format!("key {} revoked", license.key_suffix()),
            ),
        ];
        Ok(Decision::new((), writes))
    }
}

/// Removes device bindings (and so their integrity locks): the devices bind
/// again as new ones. Answers how many were removed (0: nothing matched,
/// nothing written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetDevices {
    /// The key.
    pub license: LicenseDigest,
    /// Which devices; [`DeviceSelector::All`] for every one.
    pub which: DeviceSelector,
}

impl Command for ResetDevices {
    type Outcome = usize;

    fn needs(&self) -> Needs {
        Needs {
            license: Some(self.license),
            devices: Some(self.which.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<usize>, DomainError> {
        let license = require_license(seen)?;
        let removed = seen.devices.len();
        if removed == 0 {
            return Ok(Decision::new(0, Vec::new()));
        }
        let which = match &self.which {
            DeviceSelector::All => "every device".to_owned(),
            DeviceSelector::Serial(serial) => format!("device `{serial}`"),
            DeviceSelector::Key(key) => {
                format!("device `{}` / `{}`", key.serial_number, key.cs_product_uuid)
            }
        };
        let writes = vec![
            Write::UnbindDevices {
                license_id: license.id,
                which: self.which.clone(),
            },
            audit(
                by,
                AuditAction::DeviceReset,
                Some(license.product_id()),
                Some(license.id),
                format!("{which} reset: {removed} binding(s) removed"),
            ),
        ];
        Ok(Decision::new(removed, writes))
    }
}

/// Sets the expiry date of an activated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetExpiry {
    /// The key.
    pub license: LicenseDigest,
    /// The new last valid day.
    pub expiry: NaiveDate,
}

impl Command for SetExpiry {
    type Outcome = ();

    fn needs(&self) -> Needs {
        Needs {
            license: Some(self.license),
            ..Needs::default()
        }
    }

    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<()>, DomainError> {
        let license = require_license(seen)?;
        if license.activation_date.is_none() {
            return Err(DomainError::invalid(
                "the license key was never activated: its expiry date is set at first activation",
            ));
        }
        let detail = format!(
            "expiry {} -> {}",
            show_date(license.expiry_date),
            dates::format_date(self.expiry)
        );
        let writes = vec![
            Write::UpdateLicense {
                id: license.id,
                status: license.status,
                activation_date: license.activation_date,
                expiry_date: Some(self.expiry),
            },
            audit(
                by,
                AuditAction::ExpirySet,
                Some(license.product_id()),
                Some(license.id),
                detail,
            ),
        ];
        Ok(Decision::new((), writes))
    }
}

#[cfg(test)]
mod tests {
    use skyline_protocol::dates::PlanDuration;

    use super::*;
    use crate::domain::fixtures::*;

    fn seen() -> Snapshot {
        Snapshot {
            license: Some(license(plan(PlanDuration::Months(1), 2))),
            ..Snapshot::default()
        }
    }

    #[test]
    fn revoking_keeps_the_dates() {
        let decided = RevokeLicense { license: [1; 32] }
            .decide(&seen(), &cli("2025-01-01"))
            .unwrap();
        assert!(matches!(
            decided.writes[0],
            Write::UpdateLicense {
                status: LicenseStatus::Revoked,
                activation_date: None,
                ..
            }
        ));
        assert_eq!(audited(&decided.writes), [AuditAction::LicenseRevoked]);
        assert!(RevokeLicense { license: [1; 32] }
            .decide(&Snapshot::default(), &cli("2025-01-01"))
            .is_err());
    }

    #[test]
    fn resetting_counts_what_matched() {
        let reset = ResetDevices {
            license: [1; 32],
            which: DeviceSelector::Serial("SN-1".into()),
        };
        let none = reset.decide(&seen(), &cli("2025-01-01")).unwrap();
        assert_eq!((none.outcome, none.writes.len()), (0, 0));
        let with_devices = Snapshot {
            devices: vec![device(1, "2025-01-01")],
            ..seen()
        };
        let one = reset.decide(&with_devices, &cli("2025-01-02")).unwrap();
        assert_eq!(one.outcome, 1);
        assert_eq!(audited(&one.writes), [AuditAction::DeviceReset]);
    }

    #[test]
    fn expiry_needs_an_activation() {
        let set = SetExpiry {
            license: [1; 32],
            expiry: day("2026-01-01"),
        };
        assert!(matches!(
            set.decide(&seen(), &cli("2025-01-01")),
            Err(DomainError::Invalid(_))
        ));
        let mut activated = seen();
        if let Some(l) = activated.license.as_mut() {
            l.activation_date = Some(day("2025-01-01"));
            l.expiry_date = Some(day("2025-02-01"));
        }
        let decided = set.decide(&activated, &cli("2025-01-05")).unwrap();
        match &decided.writes[1] {
            Write::Audit(entry) => assert_eq!(entry.detail, "expiry 2025-02-01 -> 2026-01-01"),
            other => panic!("{other:?}"),
        }
    }
}
