//! The append-only records: telemetry events and audit entries.

use super::Actor;
use crate::domain::audit::AuditAction;
use crate::license_index::LicenseDigest;

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
    /// `eventId`: stored once per license however often it is sent.
    pub event_id: Option<String>,
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
    /// Its `eventId`, if it had one.
    pub event_id: Option<String>,
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
