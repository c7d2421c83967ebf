//! The records decisions are made over and front doors show: products,
//! plans, license keys and their devices, toggles, releases, admin tokens,
//! telemetry and audit entries. Plain data, no I/O.
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | [`Actor`], [`Product`], [`Plan`], [`License`], devices, [`LicenseInfo`] |
//! | `toggles` | scopes, layers and values of feature toggles |
//! | `journal` | telemetry events and audit entries |
//! | `releases` | releases and admin API tokens |

mod journal;
mod releases;
mod toggles;

pub use journal::*;
pub use releases::*;
pub use toggles::*;

use chrono::NaiveDate;
use skyline_protocol::dates::PlanDuration;

use crate::license_index::LicenseDigest;

/// Who makes a change and when: recorded in the audit log. Every command runs
/// at its actor's time; the domain reads no clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `"cli"`, `"admin:<token name>"`, or a client address.
    pub name: String,
    /// The server's clock, UNIX seconds.
    pub at: i64,
}

impl Actor {
    /// The `skyline` command line at `at`.
    pub fn cli(at: i64) -> Self {
        Actor {
            name: "cli".into(),
            at,
        }
    }

    /// Today (UTC) at the actor's time.
    pub fn today(&self) -> NaiveDate {
        skyline_protocol::dates::utc_day(self.at).unwrap_or_default()
    }
}

/// A product, e.g. `telepower`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `productId`.
    pub id: String,
    /// The minimum supported version, a dotted version.
    pub min_version: String,
    /// Whether clients may start sessions.
    pub enabled: bool,
}

/// A license plan: what a key of it is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The plan id, sent as `licensePlan`.
    pub id: String,
    /// The product it belongs to.
    pub product_id: String,
    /// How long a key runs from its first activation.
    pub duration: PlanDuration,
    /// How many devices one key may be bound to, at least 1.
    pub seats: u32,
}

/// A key to create: the caller generates the key and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLicense {
    /// [`LicenseIndex::digest`](crate::license_index::LicenseIndex::digest) of the normalized key.
    pub digest: LicenseDigest,
    /// The key's last group, shown to operators (`…-HXRB8`).
    pub last_group: String,
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseStatus {
    /// Usable.
    Active,
    /// Revoked by an operator.
    Revoked,
}

impl LicenseStatus {
    /// `active` or `revoked`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Revoked => "revoked",
        }
    }

    /// Reads [`LicenseStatus::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<LicenseStatus> {
        match text {
            "active" => Some(LicenseStatus::Active),
            "revoked" => Some(LicenseStatus::Revoked),
            _ => None,
        }
    }
}

/// A license key as decisions see it: its row, its plan, and its seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// The license's id.
    pub id: i64,
    /// Its plan (and through it, its product).
    pub plan: Plan,
    /// The key's last group.
    pub last_group: String,
    /// Active or revoked.
    pub status: LicenseStatus,
    /// The day of first activation.
    pub activation_date: Option<NaiveDate>,
    /// The expiry date; `None` when not activated or perpetual.
    pub expiry_date: Option<NaiveDate>,
    /// How many devices are bound: kept by the store with every binding and
    /// release, so a decision never counts rows.
    pub devices_bound: u32,
    /// The day the oldest binding still in place was made.
    pub first_bound_on: Option<NaiveDate>,
}

impl License {
    /// The product the key is for.
    pub fn product_id(&self) -> &str {
        &self.plan.product_id
    }

    /// The display form of the key, `…-HXRB8`.
    pub fn key_suffix(&self) -> String {
        key_suffix(&self.last_group)
    }
}

/// The display form of a key from its last group.
pub fn key_suffix(last_group: &str) -> String {
    format!("…-{last_group}")
}

/// A device as start-session names it: (`deviceSerialNumber`, `csProductUUID`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceKey {
    /// `deviceSerialNumber`.
    pub serial_number: String,
    /// `csProductUUID`.
    pub cs_product_uuid: String,
}

/// Which devices of a key a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// Every device bound to the key.
    All,
    /// The devices with this serial number (any UUID).
    Serial(String),
    /// Exactly this device.
    Key(DeviceKey),
}

impl DeviceSelector {
    /// Whether `device` is selected.
    pub fn matches(&self, device: &DeviceKey) -> bool {
        match self {
            DeviceSelector::All => true,
            DeviceSelector::Serial(serial) => device.serial_number == *serial,
            DeviceSelector::Key(key) => device == key,
        }
    }
}

/// A device bound to a key: one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBinding {
    /// `deviceSerialNumber`.
    pub serial_number: String,
    /// `csProductUUID`.
    pub cs_product_uuid: String,
    /// The day it was bound.
    pub bound_on: NaiveDate,
    /// The `t` of its last OK `start-session`.
    pub last_login: Option<i64>,
    /// The last login recorded before that one.
    pub previous_last_login: Option<i64>,
    /// Locked after a last-login integrity breach, until an operator resets it.
    pub locked: bool,
    /// The `productVersion` of its last OK `start-session`.
    pub last_version: Option<String>,
    /// When the server answered that `start-session` (UNIX seconds, the
    /// server's clock, unlike [`DeviceBinding::last_login`]).
    pub last_seen_at: Option<i64>,
}

impl DeviceBinding {
    /// The device's (serial number, UUID).
    pub fn key(&self) -> DeviceKey {
        DeviceKey {
            serial_number: self.serial_number.clone(),
            cs_product_uuid: self.cs_product_uuid.clone(),
        }
    }
}

/// A license key as operators see it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseInfo {
    /// The license's id.
    pub id: i64,
    /// Its product.
    pub product_id: String,
    /// Its plan.
    pub plan_id: String,
    /// The display form of the key, `…-HXRB8`.
    pub key_suffix: String,
    /// Active or revoked.
    pub status: LicenseStatus,
    /// The day of first activation.
    pub activation_date: Option<NaiveDate>,
    /// The expiry date; `None` when not activated or perpetual.
    pub expiry_date: Option<NaiveDate>,
    /// The devices bound to it, oldest first.
    pub devices: Vec<DeviceBinding>,
}

impl LicenseInfo {
    /// The license as listed, before its devices are added.
    pub fn of(license: &License) -> LicenseInfo {
        LicenseInfo {
            id: license.id,
            product_id: license.plan.product_id.clone(),
            plan_id: license.plan.id.clone(),
            key_suffix: license.key_suffix(),
            status: license.status,
            activation_date: license.activation_date,
            expiry_date: license.expiry_date,
            devices: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_pick_devices() {
        let key = |s: &str, u: &str| DeviceKey {
            serial_number: s.into(),
            cs_product_uuid: u.into(),
        };
        let a = key("SN-1", "U-1");
        assert!(DeviceSelector::All.matches(&a));
        assert!(DeviceSelector::Serial("SN-1".into()).matches(&key("SN-1", "U-2")));
        assert!(!DeviceSelector::Serial("SN-2".into()).matches(&a));
        assert!(DeviceSelector::Key(a.clone()).matches(&a));
        assert!(!DeviceSelector::Key(a).matches(&key("SN-1", "U-2")));
    }

    #[test]
    fn today_is_the_actors_utc_day() {
        let actor = Actor::cli(1_738_300_000);
        assert_eq!(actor.today(), NaiveDate::from_ymd_opt(2025, 1, 31).unwrap());
    }
}
