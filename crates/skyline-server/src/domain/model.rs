//! The records decisions are made over and front doors show: products,
//! plans, license keys and their devices, toggles, releases, admin tokens,
//! telemetry and audit entries. Plain data, no I/O.

use std::fmt;

use chrono::NaiveDate;
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::methods::ToggleValue;

use super::audit::AuditAction;
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

/// Where an operator sets a toggle value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToggleScope {
    /// The product's default.
    Product,
    /// Overrides the default for one plan.
    Plan(String),
    /// Overrides both for one key.
    License(LicenseDigest),
}

/// Where a stored toggle value is set, resolved to rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToggleTarget {
    /// The product's default.
    Product,
    /// One plan.
    Plan(String),
    /// One license, by id.
    License(i64),
}

impl ToggleTarget {
    /// `product`, `plan` or `license`, as stored.
    pub fn scope(&self) -> &'static str {
        match self {
            ToggleTarget::Product => "product",
            ToggleTarget::Plan(_) => "plan",
            ToggleTarget::License(_) => "license",
        }
    }

    /// The plan, for a plan target.
    pub fn plan_id(&self) -> Option<&str> {
        match self {
            ToggleTarget::Plan(plan) => Some(plan),
            _ => None,
        }
    }

    /// The license, for a license target.
    pub fn license_id(&self) -> Option<i64> {
        match self {
            ToggleTarget::License(id) => Some(*id),
            _ => None,
        }
    }
}

/// The layer a toggle value comes from; later layers override earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ToggleRank {
    /// The product's default.
    Product,
    /// The plan's override.
    Plan,
    /// The license's override.
    License,
}

impl ToggleRank {
    /// The rank of a stored scope (`product`, `plan`, `license`).
    pub fn of_scope(scope: &str) -> Option<ToggleRank> {
        match scope {
            "product" => Some(ToggleRank::Product),
            "plan" => Some(ToggleRank::Plan),
            "license" => Some(ToggleRank::License),
            _ => None,
        }
    }
}

/// One stored value that applies to a license, from some layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayeredToggle {
    /// The layer it is set at.
    pub rank: ToggleRank,
    /// The toggle's name.
    pub name: String,
    /// Its value.
    pub value: ToggleValue,
}

/// Where a listed toggle value is set (keys shown by suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToggleLayer {
    /// The product's default.
    Product,
    /// One plan.
    Plan(String),
    /// One key.
    License {
        /// The license's id.
        license_id: i64,
        /// `…-HXRB8`.
        key_suffix: String,
    },
}

/// One toggle value as set by an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct ToggleSetting {
    /// Where it is set.
    pub layer: ToggleLayer,
    /// The toggle's name.
    pub name: String,
    /// Its value.
    pub value: ToggleValue,
}

/// A telemetry event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRecord {
    /// The session's license.
    pub license_id: i64,
    /// The session's product.
    pub product_id: String,
    /// `event`.
    pub event: String,
    /// `data` as JSON (see [`json_from_msgpack`](crate::store::json_from_msgpack)).
    pub data: Option<serde_json::Value>,
    /// The request's `t`.
    pub client_time: i64,
    /// When the server received it, UNIX seconds.
    pub received_at: i64,
}

/// Which telemetry to export: one page, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryQuery {
    /// The product.
    pub product_id: String,
    /// Only events received at or after this UNIX time.
    pub since: Option<i64>,
    /// Only events with a larger id (the last id of the previous page).
    pub after_id: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
}

/// A stored telemetry event.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRow {
    /// Increasing id, for paging.
    pub id: i64,
    /// The license that sent it.
    pub license_id: i64,
    /// `event`.
    pub event: String,
    /// `data`.
    pub data: Option<serde_json::Value>,
    /// The client's `t`.
    pub client_time: i64,
    /// When the server received it.
    pub received_at: i64,
}

/// An audit entry a caller asks to append (the security log, the admin API's
/// token use); the license, if any, is named by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who and when.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The product concerned.
    pub product_id: Option<String>,
    /// The key concerned, by digest (must exist).
    pub license: Option<LicenseDigest>,
    /// Free text; never a raw key or secret.
    pub detail: String,
}

/// An audit entry to write, as a decision makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who and when.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The product concerned.
    pub product_id: Option<String>,
    /// The license concerned.
    pub license_id: Option<i64>,
    /// Free text; never a raw key or secret.
    pub detail: String,
}

/// Which audit entries to list, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    /// Only entries about this key.
    pub license: Option<LicenseDigest>,
    /// Only entries at or after this UNIX time.
    pub since: Option<i64>,
    /// At most this many (the newest ones); `None` for all.
    pub limit: Option<u32>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increasing id.
    pub id: i64,
    /// When, UNIX seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// The product concerned.
    pub product_id: Option<String>,
    /// The license concerned.
    pub license_id: Option<i64>,
    /// `…-HXRB8` of that license.
    pub key_suffix: Option<String>,
    /// Free text.
    pub detail: String,
}

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// A release channel: `stable` or `beta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReleaseChannel {
    /// What every user gets.
    #[default]
    Stable,
    /// Early builds for users who opt in; the beta channel also offers stable
    /// releases.
    Beta,
}

impl ReleaseChannel {
    /// `stable` or `beta`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseChannel::Stable => "stable",
            ReleaseChannel::Beta => "beta",
        }
    }

    /// Reads `stable` or `beta` (case-insensitive).
    pub fn parse(text: &str) -> Option<ReleaseChannel> {
        match text.to_ascii_lowercase().as_str() {
            "stable" => Some(ReleaseChannel::Stable),
            "beta" => Some(ReleaseChannel::Beta),
            _ => None,
        }
    }

    /// Whether a client following `self` is offered a release of `release`.
    pub fn offers(self, release: ReleaseChannel) -> bool {
        self == ReleaseChannel::Beta || release == ReleaseChannel::Stable
    }
}

/// A release to record: the artifact is already stored under its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    /// The product it updates.
    pub product_id: String,
    /// Its dotted version.
    pub version: String,
    /// The platform it is built for (`windows-x64`, …); `None` for every
    /// platform.
    pub platform: Option<String>,
    /// Stable or beta.
    pub channel: ReleaseChannel,
    /// The file name offered in `Content-Disposition` (already sanitized).
    pub file_name: String,
    /// The artifact's size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact: its blob name.
    pub sha256: Sha256Digest,
    /// Ed25519 signature by the identity key over the 32-byte digest.
    pub signature: [u8; 64],
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Increasing id.
    pub id: i64,
    /// The product it updates.
    pub product_id: String,
    /// Its dotted version.
    pub version: String,
    /// Its platform; `None` for every platform.
    pub platform: Option<String>,
    /// Stable or beta.
    pub channel: ReleaseChannel,
    /// The file name offered to downloads.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact.
    pub sha256: Sha256Digest,
    /// Ed25519 signature over [`Release::sha256`].
    pub signature: [u8; 64],
    /// Withdrawn: never offered as the latest, not downloadable.
    pub yanked: bool,
    /// When it was published, UNIX seconds.
    pub published_at: i64,
}

/// Which release an operator means: product, version and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// The product.
    pub product_id: String,
    /// The version, exactly as published.
    pub version: String,
    /// The platform; `None` for the every-platform release.
    pub platform: Option<String>,
}

/// A new admin API token: the caller generates the id and secret and passes
/// only the secret's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAdminToken {
    /// The public id, the lookup key (part of the token text).
    pub id: String,
    /// A name for people, e.g. `billing`.
    pub name: String,
    /// Refused for every request that changes something.
    pub read_only: bool,
    /// SHA-256 of the token's secret part.
    pub secret_hash: Sha256Digest,
}

impl fmt::Debug for NewAdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdminToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("read_only", &self.read_only)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// An admin API token as operators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// The public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it may only read.
    pub read_only: bool,
    /// When it was created, UNIX seconds.
    pub created_at: i64,
    /// When it was last used, if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<i64>,
}

/// An admin token with the hash its secret is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenCredential {
    /// The token.
    pub token: AdminToken,
    /// SHA-256 of its secret part.
    pub secret_hash: Sha256Digest,
}

impl fmt::Debug for AdminTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminTokenCredential")
            .field("token", &self.token)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_offer() {
        assert_eq!(ReleaseChannel::parse("BETA"), Some(ReleaseChannel::Beta));
        assert_eq!(ReleaseChannel::parse("nightly"), None);
        assert!(ReleaseChannel::Beta.offers(ReleaseChannel::Stable));
        assert!(!ReleaseChannel::Stable.offers(ReleaseChannel::Beta));
    }

    #[test]
    fn token_debug_hides_the_hash() {
        let token = NewAdminToken {
            id: "id".into(),
            name: "billing".into(),
            read_only: true,
            secret_hash: [0xcd; 32],
        };
        assert!(!format!("{token:?}").contains("cdcd"));
    }

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
