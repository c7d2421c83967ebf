//! `start-session` (PROTOCOL.md §6, steps 1–9): whether a device may start a
//! session on a key, what that binds and records, and what the app is told.

use std::fmt;

use chrono::NaiveDate;
use skyline_protocol::dates::{self, PlanDuration};
use skyline_protocol::methods::StartSessionResult;
use skyline_protocol::version::Version;
use skyline_protocol::Status;

use super::audit::show_time;
use super::{
    audit, Actor, AuditAction, Command, Decision, DeviceBinding, DeviceKey, DeviceSelector,
    DomainError, License, LicenseStatus, Needs, Snapshot, Write,
};
use crate::license_index::LicenseDigest;

/// Everything `start-session` needs from one request. `Debug` leaves out the
/// session token and the key digest.
#[derive(Clone, PartialEq, Eq)]
pub struct StartSession {
    /// `productId`.
    pub product_id: String,
    /// `productVersion`.
    pub product_version: String,
    /// The digest of the normalized key; `None` when the typed key was not
    /// even well-formed (→ `INVALID_LICENSE_KEY` after the product and
    /// version checks).
    pub license_digest: Option<LicenseDigest>,
    /// (`deviceSerialNumber`, `csProductUUID`).
    pub device: DeviceKey,
    /// `lastLoginReportedByClient`.
    pub last_login_reported_by_client: Option<i64>,
    /// The request's `t`: recorded as the device's last login on success.
    pub client_time: i64,
    /// The session token to issue on success.
    pub session_token: String,
}

impl fmt::Debug for StartSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartSession")
            .field("product_id", &self.product_id)
            .field("product_version", &self.product_version)
            .field("license_digest", &self.license_digest.map(|_| "<redacted>"))
            .field("device", &self.device)
            .field(
                "last_login_reported_by_client",
                &self.last_login_reported_by_client,
            )
            .field("client_time", &self.client_time)
            .field("session_token", &"<redacted>")
            .finish()
    }
}

/// What `start-session` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartSessionOutcome {
    /// The session may start.
    Ok {
        /// The `R` to answer.
        result: StartSessionResult,
        /// The license's id, for the session's later requests.
        license_id: i64,
    },
    /// A refusal; the connection ends after it.
    Refused(Refusal),
}

/// Why `start-session` was refused, in the order of PROTOCOL.md §6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Step 1: product not known or disabled.
    UnknownProduct,
    /// Step 2: the client is older than the product's minimum.
    OutdatedVersion {
        /// The product's minimum supported version.
        minimum: String,
    },
    /// Step 3: no such key for this product, or not a key at all.
    InvalidLicenseKey,
    /// Step 4: revoked or suspended by an operator.
    LicenseRevoked,
    /// Step 5: today is after the expiry date.
    LicenseExpired {
        /// The key's expiry date.
        expiry: NaiveDate,
    },
    /// Step 6: every seat is taken by other devices.
    KeyBoundToAnotherDevice {
        /// The day the key was first bound to a device.
        first_bound: NaiveDate,
    },
    /// Step 7: the last login does not match, or the device is locked.
    IntegrityBreachLastLogin,
}

impl Refusal {
    /// The response status (`INTEGRITY_BREACH` carries code `LL`).
    pub fn status(&self) -> Status {
        match self {
            Refusal::UnknownProduct => Status::UnknownProduct,
            Refusal::OutdatedVersion { .. } => Status::OutdatedVersion,
            Refusal::InvalidLicenseKey => Status::InvalidLicenseKey,
            Refusal::LicenseRevoked => Status::LicenseRevoked,
            Refusal::LicenseExpired { .. } => Status::LicenseExpired,
            Refusal::KeyBoundToAnotherDevice { .. } => Status::KeyBoundToAnotherDevice,
            Refusal::IntegrityBreachLastLogin => Status::IntegrityBreach,
        }
    }
}

impl Command for StartSession {
    type Outcome = StartSessionOutcome;

    fn needs(&self) -> Needs {
        Needs {
            product: Some(self.product_id.clone()),
            license: self.license_digest,
            devices: Some(DeviceSelector::Key(self.device.clone())),
            ..Needs::default()
        }
    }

    fn decide(
        &self,
        seen: &Snapshot,
        by: &Actor,
    ) -> Result<Decision<StartSessionOutcome>, DomainError> {
        let refuse =
            |refusal, writes| Ok(Decision::new(StartSessionOutcome::Refused(refusal), writes));
        let today = by.today();

        // 1. Product known and enabled.
        let Some(product) = seen.product.as_ref().filter(|p| p.enabled) else {
            return refuse(Refusal::UnknownProduct, Vec::new());
        };

        // 2. Version at least the product's minimum.
        if let Some(refusal) = outdated_version(&product.min_version, &self.product_version)? {
            return refuse(refusal, Vec::new());
        }

        // 3. Key exists for this product (a malformed key has no digest, so
        // nothing was loaded for it).
        let Some(license) = seen
            .license
            .as_ref()
            .filter(|l| l.product_id() == self.product_id)
        else {
            return refuse(Refusal::InvalidLicenseKey, Vec::new());
        };

        // 4 and 5. Not revoked, not expired.
        if let Some(refusal) = unusable_license(license, today) {
            return refuse(refusal, Vec::new());
        }

        let mut writes = Vec::new();
        let device = match seen.devices.first() {
            // 6. A new device takes a free seat, if there is one.
            None => {
                if license.devices_bound >= license.plan.seats {
                    let first_bound = license.first_bound_on.unwrap_or(today);
                    return refuse(Refusal::KeyBoundToAnotherDevice { first_bound }, writes);
                }
                let detail = format!(
                    "device `{}` / `{}` bound: seat {} of {}",
                    self.device.serial_number,
                    self.device.cs_product_uuid,
                    license.devices_bound + 1,
                    license.plan.seats
                );
                writes.push(audit(
                    by,
                    AuditAction::DeviceBound,
                    Some(license.product_id()),
                    Some(license.id),
                    detail,
                ));
                None
            }
            // 7. A known device must report its last login (or the one before).
            Some(device) => {
                if device.locked {
                    return refuse(Refusal::IntegrityBreachLastLogin, writes);
                }
                if !last_login_matches(device, self.last_login_reported_by_client) {
                    let detail = format!(
                        "last login mismatch on device `{}` / `{}`: reported {}, recorded {} \
                         (before it {}); device locked",
                        self.device.serial_number,
                        self.device.cs_product_uuid,
                        show_time(self.last_login_reported_by_client),
                        show_time(device.last_login),
                        show_time(device.previous_last_login),
                    );
                    writes.push(Write::UpdateDevice {
                        license_id: license.id,
                        device: DeviceBinding {
                            locked: true,
                            ..device.clone()
                        },
                    });
                    writes.push(audit(
                        by,
                        AuditAction::IntegrityBreach,
                        Some(license.product_id()),
                        Some(license.id),
                        detail,
                    ));
                    return refuse(Refusal::IntegrityBreachLastLogin, writes);
                }
                Some(device)
            }
        };

        // 8. First activation fixes the dates.
        let (is_activated_now, activation_date, expiry_date) = match license.activation_date {
            Some(activation) => (false, activation, license.expiry_date),
            None => {
                let expiry = match license.plan.duration {
                    PlanDuration::Perpetual => None,
                    duration => Some(duration.expiry(today).ok_or_else(|| {
                        DomainError::invalid("the plan's expiry date is past the calendar's end")
                    })?),
                };
                writes.push(Write::UpdateLicense {
                    id: license.id,
                    status: license.status,
                    activation_date: Some(today),
                    expiry_date: expiry,
                });
                let detail = format!(
                    "activated on plan `{}`, expires {}",
                    license.plan.id,
                    expiry.map_or("never".into(), dates::format_date)
                );
                writes.push(audit(
                    by,
                    AuditAction::LicenseActivated,
                    Some(license.product_id()),
                    Some(license.id),
                    detail,
                ));
                (true, today, expiry)
            }
        };

        // 9. Record this login, shifting the last one to "previous".
        let login = match device {
            None => Write::BindDevice {
                license_id: license.id,
                device: DeviceBinding {
                    serial_number: self.device.serial_number.clone(),
                    cs_product_uuid: self.device.cs_product_uuid.clone(),
                    bound_on: today,
                    last_login: Some(self.client_time),
                    previous_last_login: None,
                    locked: false,
                },
            },
            Some(device) => Write::UpdateDevice {
                license_id: license.id,
                device: DeviceBinding {
                    previous_last_login: device.last_login,
                    last_login: Some(self.client_time),
                    ..device.clone()
                },
            },
        };
        // The binding goes first, so the audit entry about it follows it.
        writes.insert(0, login);

        let result = StartSessionResult {
            is_activated_now,
            activation_date: dates::format_date(activation_date),
            license_plan: license.plan.id.clone(),
            expiry_date: expiry_date.map(dates::format_date),
            session_token: self.session_token.clone(),
        };
        Ok(Decision::new(
            StartSessionOutcome::Ok {
                result,
                license_id: license.id,
            },
            writes,
        ))
    }
}

/// Step 2: the client's version must be at least the product's minimum. A
/// client version that does not parse cannot be shown to be recent enough,
/// so it counts as outdated: the client is told to update rather than let in.
pub fn outdated_version(
    min_version: &str,
    client_version: &str,
) -> Result<Option<Refusal>, DomainError> {
    let minimum = Version::parse(min_version).map_err(|_| {
        DomainError::invalid("the product's stored minimum version is not a version")
    })?;
    if Version::parse(client_version).is_ok_and(|v| v >= minimum) {
        Ok(None)
    } else {
        Ok(Some(Refusal::OutdatedVersion {
            minimum: min_version.to_owned(),
        }))
    }
}

/// Steps 4 and 5: not revoked, and not expired (the expiry day itself is
/// still valid) if activated.
pub fn unusable_license(license: &License, today: NaiveDate) -> Option<Refusal> {
    if license.status == LicenseStatus::Revoked {
        return Some(Refusal::LicenseRevoked);
    }
    match (license.activation_date, license.expiry_date) {
        (Some(_), Some(expiry)) if today > expiry => Some(Refusal::LicenseExpired { expiry }),
        _ => None,
    }
}

/// Step 7: the reported last login must be the recorded one or the one
/// before it. nil and 0 both mean "none", which is what the one before the
/// first login is.
pub fn last_login_matches(device: &DeviceBinding, reported: Option<i64>) -> bool {
    let none_if_zero = |t: Option<i64>| t.filter(|t| *t != 0);
    let reported = none_if_zero(reported);
    reported == none_if_zero(device.last_login)
        || reported == none_if_zero(device.previous_last_login)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;
    use crate::domain::Product;

    fn request() -> StartSession {
        StartSession {
            product_id: "telepower".into(),
            product_version: "7.0.9".into(),
            license_digest: Some([1; 32]),
            device: DeviceKey {
                serial_number: "SN-1".into(),
                cs_product_uuid: "UUID-1".into(),
            },
            last_login_reported_by_client: None,
            client_time: 1_000,
            session_token: "71ee0979-ea57b170".into(),
        }
    }

    fn seen(seats: u32) -> Snapshot {
        Snapshot {
            product: Some(product()),
            license: Some(license(plan(PlanDuration::Months(1), seats))),
            ..Snapshot::default()
        }
    }

    fn run(request: &StartSession, seen: &Snapshot, today: &str) -> Decision<StartSessionOutcome> {
        request.decide(seen, &cli(today)).unwrap()
    }

    fn refusal(decision: &Decision<StartSessionOutcome>) -> Refusal {
        match &decision.outcome {
            StartSessionOutcome::Refused(r) => r.clone(),
            other => panic!("accepted: {other:?}"),
        }
    }

    fn result(decision: &Decision<StartSessionOutcome>) -> StartSessionResult {
        match &decision.outcome {
            StartSessionOutcome::Ok { result, .. } => result.clone(),
            other => panic!("refused: {other:?}"),
        }
    }

    #[test]
    fn step_1_unknown_or_disabled_product() {
        let mut s = seen(1);
        s.product = None;
        assert_eq!(
            refusal(&run(&request(), &s, "2025-01-31")),
            Refusal::UnknownProduct
        );
        s.product = Some(Product {
            enabled: false,
            ..product()
        });
        let refused = run(&request(), &s, "2025-01-31");
        assert_eq!(refusal(&refused), Refusal::UnknownProduct);
        assert!(refused.writes.is_empty());
    }

    #[test]
    fn step_2_outdated_version() {
        let old = StartSession {
            product_version: "7.0.8".into(),
            ..request()
        };
        assert_eq!(
            refusal(&run(&old, &seen(1), "2025-01-31")),
            Refusal::OutdatedVersion {
                minimum: "7.0.9".into()
            }
        );
        let newer = StartSession {
            product_version: "7.0.10".into(),
            ..request()
        };
        result(&run(&newer, &seen(1), "2025-01-31"));
        assert_eq!(outdated_version("7.0.10", "7.0.10"), Ok(None));
        assert!(outdated_version("7.0.10", "seven").unwrap().is_some());
        assert!(outdated_version("nonsense", "7.0.0").is_err());
    }

    #[test]
    fn step_3_unknown_malformed_or_other_products_key() {
        let mut s = seen(1);
        s.license = None;
        assert_eq!(
            refusal(&run(&request(), &s, "2025-01-31")),
            Refusal::InvalidLicenseKey
        );
        let malformed = StartSession {
            license_digest: None,
            ..request()
        };
        assert_eq!(malformed.needs().license, None);
        let mut other = seen(1);
        if let Some(l) = other.license.as_mut() {
            l.plan.product_id = "otherapp".into();
        }
        assert_eq!(
            refusal(&run(&request(), &other, "2025-01-31")),
            Refusal::InvalidLicenseKey
        );
    }

    #[test]
    fn step_4_revoked() {
        let mut s = seen(1);
        if let Some(l) = s.license.as_mut() {
            l.status = LicenseStatus::Revoked;
        }
        assert_eq!(
            refusal(&run(&request(), &s, "2025-01-31")),
            Refusal::LicenseRevoked
        );
    }

    #[test]
    fn step_5_expired_after_the_expiry_day() {
        let mut s = seen(1);
        if let Some(l) = s.license.as_mut() {
            l.activation_date = Some(day("2025-01-31"));
            l.expiry_date = Some(day("2025-02-28"));
        }
        s.devices = vec![device(1, "2025-01-31")];
        result(&run(&request(), &s, "2025-02-28"));
        assert_eq!(
            refusal(&run(&request(), &s, "2025-03-01")),
            Refusal::LicenseExpired {
                expiry: day("2025-02-28")
            }
        );
    }

    #[test]
    fn step_6_seats() {
        // A free seat binds the device, recording this login.
        let first = run(&request(), &seen(1), "2025-01-31");
        result(&first);
        match &first.writes[0] {
            Write::BindDevice { device, .. } => {
                assert_eq!(device.bound_on, day("2025-01-31"));
                assert_eq!(device.last_login, Some(1_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            audited(&first.writes),
            [AuditAction::DeviceBound, AuditAction::LicenseActivated]
        );
        // Every seat taken by others: refused, naming the first binding day.
        let mut full = seen(2);
        if let Some(l) = full.license.as_mut() {
            l.devices_bound = 2;
            l.first_bound_on = Some(day("2024-10-25"));
        }
        let refused = run(&request(), &full, "2025-01-31");
        assert_eq!(
            refusal(&refused),
            Refusal::KeyBoundToAnotherDevice {
                first_bound: day("2024-10-25")
            }
        );
        assert!(refused.writes.is_empty());
        // The 50,000th device costs what the first does: no devices loaded.
        let mut big = seen(100_000);
        if let Some(l) = big.license.as_mut() {
            l.devices_bound = 49_999;
            l.activation_date = Some(day("2025-01-01"));
            l.expiry_date = Some(day("2025-02-01"));
        }
        let decided = run(&request(), &big, "2025-01-31");
        result(&decided);
        match &decided.writes[1] {
            Write::Audit(entry) => assert!(entry.detail.ends_with("seat 50000 of 100000")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn step_7_last_login() {
        let mut s = seen(1);
        if let Some(l) = s.license.as_mut() {
            l.activation_date = Some(day("2025-01-31"));
            l.expiry_date = Some(day("2025-02-28"));
            l.devices_bound = 1;
        }
        s.devices = vec![DeviceBinding {
            last_login: Some(200),
            previous_last_login: Some(100),
            ..device(1, "2025-01-31")
        }];
        let at = |last| StartSession {
            last_login_reported_by_client: last,
            client_time: 300,
            ..request()
        };
        // The recorded one and the one before it are accepted.
        for ok in [Some(200), Some(100)] {
            let decided = run(&at(ok), &s, "2025-02-01");
            assert!(!result(&decided).is_activated_now);
            match &decided.writes[0] {
                Write::UpdateDevice { device, .. } => {
                    assert_eq!(device.last_login, Some(300));
                    assert_eq!(device.previous_last_login, Some(200));
                }
                other => panic!("{other:?}"),
            }
        }
        // Anything else locks the device.
        let breach = run(&at(Some(150)), &s, "2025-02-01");
        assert_eq!(refusal(&breach), Refusal::IntegrityBreachLastLogin);
        assert!(matches!(
            &breach.writes[0],
            Write::UpdateDevice { device, .. } if device.locked
        ));
        assert_eq!(audited(&breach.writes), [AuditAction::IntegrityBreach]);
        // A locked device is refused whatever it reports, writing nothing.
        s.devices[0].locked = true;
        let locked = run(&at(Some(200)), &s, "2025-02-01");
        assert_eq!(refusal(&locked), Refusal::IntegrityBreachLastLogin);
        assert!(locked.writes.is_empty());
    }

    #[test]
    fn step_7_rule_for_nil_and_zero() {
        let one = DeviceBinding {
            last_login: Some(100),
            ..device(1, "2025-01-01")
        };
        assert!(last_login_matches(&one, Some(100)));
        assert!(last_login_matches(&one, None));
        assert!(last_login_matches(&one, Some(0)));
        assert!(!last_login_matches(&one, Some(99)));
        let two = DeviceBinding {
            previous_last_login: Some(100),
            last_login: Some(200),
            ..one
        };
        assert!(!last_login_matches(&two, None));
        assert!(!last_login_matches(&two, Some(0)));
        assert!(!last_login_matches(&two, Some(150)));
    }

    #[test]
    fn step_8_activation_dates() {
        let decided = run(&request(), &seen(1), "2025-01-31");
        let r = result(&decided);
        assert!(r.is_activated_now);
        assert_eq!(r.activation_date, "2025-01-31");
        // Calendar months clamp to the month's last day.
        assert_eq!(r.expiry_date.as_deref(), Some("2025-02-28"));
        let mut forever = seen(1);
        if let Some(l) = forever.license.as_mut() {
            l.plan.duration = PlanDuration::Perpetual;
        }
        assert_eq!(
            result(&run(&request(), &forever, "2025-01-31")).expiry_date,
            None
        );
    }

    #[test]
    fn step_9_answer() {
        let r = result(&run(&request(), &seen(1), "2025-01-31"));
        assert_eq!(r.session_token, "71ee0979-ea57b170");
        assert_eq!(r.license_plan, "telepower.monthly");
    }

    #[test]
    fn debug_hides_token_and_digest() {
        let shown = format!("{:?}", request());
        assert!(!shown.contains("71ee0979"), "{shown}");
        assert!(!shown.contains("[1, 1"), "{shown}");
        assert!(shown.contains("telepower"));
    }

    #[test]
    fn refusals_map_to_statuses() {
        assert_eq!(
            Refusal::IntegrityBreachLastLogin.status(),
            Status::IntegrityBreach
        );
        assert_eq!(Refusal::UnknownProduct.status(), Status::UnknownProduct);
    }
}
