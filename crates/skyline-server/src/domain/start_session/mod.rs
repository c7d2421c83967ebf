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
    /// The client's address is over its failed-key limit: only a device
    /// already bound to this key may start (a NAT neighbour of someone
    /// guessing keys is not locked out); anything else is `RATE_LIMITED`.
    pub over_failed_key_limit: bool,
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
            .field("over_failed_key_limit", &self.over_failed_key_limit)
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
    /// Before step 1: the address is over its failed-key limit and this
    /// device is not bound to this key.
    RateLimited,
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
            Refusal::RateLimited => Status::RateLimited,
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

        // 0. Over the failed-key limit, only a device bound to this key
        // goes on (to the usual steps); nothing about the key is told.
        if self.over_failed_key_limit && !self.bound_device_known(seen) {
            return refuse(Refusal::RateLimited, Vec::new());
        }

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
                    last_version: Some(self.product_version.clone()),
                    last_seen_at: Some(by.at),
                },
            },
            Some(device) => Write::UpdateDevice {
                license_id: license.id,
                device: DeviceBinding {
                    previous_last_login: device.last_login,
                    last_login: Some(self.client_time),
                    last_version: Some(self.product_version.clone()),
                    last_seen_at: Some(by.at),
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

impl StartSession {
    /// Whether the key exists for this product and this device is bound to it.
    fn bound_device_known(&self, seen: &Snapshot) -> bool {
        seen.license
            .as_ref()
            .is_some_and(|l| l.product_id() == self.product_id)
            && seen.devices.iter().any(|d| {
                d.serial_number == self.device.serial_number
                    && d.cs_product_uuid == self.device.cs_product_uuid
            })
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
mod tests;
