//! The store's domain types: the commands and outcomes of the RPC path and the
//! records the operator path creates and lists. Backend-neutral.

use std::fmt;

use chrono::NaiveDate;
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::methods::{StartSessionResult, ToggleValue};
use skyline_protocol::Status;

use crate::license_index::LicenseDigest;

/// Who makes an operator change and when: recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `"cli"`, `"rpc"`, or a client address.
    pub name: String,
    /// The server's clock, UNIX seconds (injected: the store reads no clock).
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
}

/// Everything `start-session` needs from one request (PROTOCOL.md §6).
/// `Debug` leaves out the session token and the key digest.
#[derive(Clone, PartialEq, Eq)]
pub struct StartSessionCommand {
    /// `productId`.
    pub product_id: String,
    /// `productVersion`.
    pub product_version: String,
    /// The digest of the normalized key; `None` when the typed key was not
    /// even well-formed (→ `INVALID_LICENSE_KEY` after the product and
    /// version checks).
    pub license_digest: Option<LicenseDigest>,
    /// `deviceSerialNumber`.
    pub device_serial_number: String,
    /// `csProductUUID`.
    pub cs_product_uuid: String,
    /// `lastLoginReportedByClient`.
    pub last_login_reported_by_client: Option<i64>,
    /// The request's `t`: recorded as the device's last login on success.
    pub client_time: i64,
    /// Today (UTC) by the server's clock.
    pub today: NaiveDate,
    /// The server's clock, UNIX seconds, for the audit log.
    pub now: i64,
    /// The session token to issue on success.
    pub session_token: String,
    /// The client's address, recorded as the actor in the audit log.
    pub source: Option<String>,
}

impl fmt::Debug for StartSessionCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartSessionCommand")
            .field("product_id", &self.product_id)
            .field("product_version", &self.product_version)
            .field("license_digest", &self.license_digest.map(|_| "<redacted>"))
            .field("device_serial_number", &self.device_serial_number)
            .field("cs_product_uuid", &self.cs_product_uuid)
            .field(
                "last_login_reported_by_client",
                &self.last_login_reported_by_client,
            )
            .field("client_time", &self.client_time)
            .field("today", &self.today)
            .field("now", &self.now)
            .field("session_token", &"<redacted>")
            .field("source", &self.source)
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
    /// `active` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Revoked => "revoked",
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

/// The display form of a key from its last group.
pub fn key_suffix(last_group: &str) -> String {
    format!("…-{last_group}")
}

/// Where a toggle value is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToggleScope {
    /// The product's default.
    Product,
    /// Overrides the default for one plan.
    Plan(String),
    /// Overrides both for one key.
    License(LicenseDigest),
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
    /// `data` as JSON (see [`json_from_msgpack`](super::json_from_msgpack)).
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

/// What an audit entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    /// A device was bound to a key (a seat taken).
    DeviceBound,
    /// A key was activated for the first time.
    LicenseActivated,
    /// A last-login mismatch; the device is now locked.
    IntegrityBreach,
    /// A key was revoked.
    LicenseRevoked,
    /// A device binding was reset by an operator.
    DeviceReset,
    /// An operator set a key's expiry date.
    ExpirySet,
    /// Keys were created.
    LicensesCreated,
    /// A product was created.
    ProductCreated,
    /// A product's minimum version changed.
    ProductUpdated,
    /// A product was enabled.
    ProductEnabled,
    /// A product was disabled.
    ProductDisabled,
    /// A plan was created.
    PlanCreated,
    /// A toggle value was set.
    ToggleSet,
    /// A toggle value was removed.
    ToggleRemoved,
    /// Anything else, in its own words.
    Other(String),
}

impl AuditAction {
    /// The stored spelling, e.g. `device-bound`.
    pub fn as_str(&self) -> &str {
        match self {
            AuditAction::DeviceBound => "device-bound",
            AuditAction::LicenseActivated => "license-activated",
            AuditAction::IntegrityBreach => "integrity-breach",
            AuditAction::LicenseRevoked => "license-revoked",
            AuditAction::DeviceReset => "device-reset",
            AuditAction::ExpirySet => "expiry-set",
            AuditAction::LicensesCreated => "licenses-created",
            AuditAction::ProductCreated => "product-created",
            AuditAction::ProductUpdated => "product-updated",
            AuditAction::ProductEnabled => "product-enabled",
            AuditAction::ProductDisabled => "product-disabled",
            AuditAction::PlanCreated => "plan-created",
            AuditAction::ToggleSet => "toggle-set",
            AuditAction::ToggleRemoved => "toggle-removed",
            AuditAction::Other(s) => s,
        }
    }

    /// Reads the stored spelling; unknown ones become [`AuditAction::Other`].
    pub fn parse(text: &str) -> AuditAction {
        [
            AuditAction::DeviceBound,
            AuditAction::LicenseActivated,
            AuditAction::IntegrityBreach,
            AuditAction::LicenseRevoked,
            AuditAction::DeviceReset,
            AuditAction::ExpirySet,
            AuditAction::LicensesCreated,
            AuditAction::ProductCreated,
            AuditAction::ProductUpdated,
            AuditAction::ProductEnabled,
            AuditAction::ProductDisabled,
            AuditAction::PlanCreated,
            AuditAction::ToggleSet,
            AuditAction::ToggleRemoved,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
        .unwrap_or_else(|| AuditAction::Other(text.to_owned()))
    }
}

/// An audit entry to append.
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

// --- Releases, admin tokens and security events -------------------------

/// The spellings of the audit actions recorded by releases, admin tokens and
/// security events. They are stored and listed as [`AuditAction::Other`].
impl AuditAction {
    /// A release was published.
    pub const RELEASE_PUBLISHED: &'static str = "release-published";
    /// A release was yanked (withdrawn from downloads).
    pub const RELEASE_YANKED: &'static str = "release-yanked";
    /// A yanked release was restored.
    pub const RELEASE_UNYANKED: &'static str = "release-unyanked";
    /// An admin API token was created.
    pub const ADMIN_TOKEN_CREATED: &'static str = "admin-token-created";
    /// An admin API token was revoked.
    pub const ADMIN_TOKEN_REVOKED: &'static str = "admin-token-revoked";
    /// An admin API token was used (one entry per request).
    pub const ADMIN_TOKEN_USED: &'static str = "admin-token-used";
    /// Admin API requests with a missing, unknown or revoked token, counted
    /// per client address per minute.
    pub const ADMIN_AUTH_FAILED: &'static str = "admin-auth-failed";
    /// Malformed `client-hello`s, counted per client address per minute.
    pub const BAD_HANDSHAKES: &'static str = "bad-handshakes";
    /// Upgrades refused by the handshake rate limit, counted per client
    /// address per minute.
    pub const HANDSHAKES_RATE_LIMITED: &'static str = "handshakes-rate-limited";
    /// `INVALID_LICENSE_KEY` answers, counted per client address per minute.
    pub const INVALID_LICENSE_KEYS: &'static str = "invalid-license-keys";

    /// The [`AuditAction::Other`] spelled `text`.
    pub fn named(text: &str) -> AuditAction {
        AuditAction::Other(text.to_owned())
    }
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
    fn audit_actions_round_trip() {
        for action in [AuditAction::DeviceBound, AuditAction::ToggleRemoved] {
            assert_eq!(AuditAction::parse(action.as_str()), action);
        }
        assert_eq!(
            AuditAction::parse("rate-limited"),
            AuditAction::Other("rate-limited".into())
        );
    }

    #[test]
    fn command_debug_hides_token_and_digest() {
        let command = StartSessionCommand {
            product_id: "telepower".into(),
            product_version: "7.0.3".into(),
            license_digest: Some([0xab; 32]),
            device_serial_number: "SN".into(),
            cs_product_uuid: "U".into(),
            last_login_reported_by_client: None,
            client_time: 1,
            today: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            now: 2,
            session_token: "71ee0979-ea57b170".into(),
            source: None,
        };
        let shown = format!("{command:?}");
        assert!(!shown.contains("71ee0979"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains("telepower"));
    }

    #[test]
    fn channels_parse_and_offer() {
        assert_eq!(ReleaseChannel::parse("BETA"), Some(ReleaseChannel::Beta));
        assert_eq!(ReleaseChannel::parse("nightly"), None);
        assert!(ReleaseChannel::Beta.offers(ReleaseChannel::Stable));
        assert!(!ReleaseChannel::Stable.offers(ReleaseChannel::Beta));
        let action = AuditAction::named(AuditAction::RELEASE_PUBLISHED);
        assert_eq!(AuditAction::parse(action.as_str()), action);
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
    fn refusals_map_to_statuses() {
        assert_eq!(
            Refusal::IntegrityBreachLastLogin.status(),
            Status::IntegrityBreach
        );
        assert_eq!(
            Refusal::OutdatedVersion {
                minimum: "7.0.10".into()
            }
            .status(),
            Status::OutdatedVersion
        );
    }
}
