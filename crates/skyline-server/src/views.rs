//! The JSON every front door shows and reads: `skyline … --json`, the admin
//! API's bodies, and the `components.schemas` of its OpenAPI document, which
//! [`schemas`] generates from these very types. A front door never builds
//! JSON by hand.
//!
//! Output views are built from domain records (`From`); input bodies turn
//! into domain commands, whose rules decide whether they are valid.

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skyline_protocol::dates::{format_date, PlanDuration};
use skyline_protocol::methods::ToggleValue;

use crate::domain::{
    AdminToken, AuditRecord, DeviceBinding, LicenseInfo, Plan, Product, Release, TelemetryRow,
    ToggleLayer, ToggleSetting,
};

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Product")]
pub struct ProductView {
    /// `productId`, as apps send it.
    pub id: String,
    /// The oldest app version still allowed to start a session.
    pub min_version: String,
    /// Whether sessions may start (disabled: `UNKNOWN_PRODUCT`).
    pub enabled: bool,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        ProductView {
            id: p.id.clone(),
            min_version: p.min_version.clone(),
            enabled: p.enabled,
        }
    }
}

/// A license plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Plan")]
pub struct PlanView {
    /// The plan id, sent to apps as `licensePlan`.
    pub id: String,
    /// Its product.
    pub product: String,
    /// Duration in calendar months, if it is given so.
    pub months: Option<u32>,
    /// Duration in days, if it is given so.
    pub days: Option<u32>,
    /// Whether keys never expire.
    pub perpetual: bool,
    /// Device seats per key.
    pub devices: u32,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        let (months, days) = match p.duration {
            PlanDuration::Months(m) => (Some(m), None),
            PlanDuration::Days(d) => (None, Some(d)),
            PlanDuration::Perpetual => (None, None),
        };
        PlanView {
            id: p.id.clone(),
            product: p.product_id.clone(),
            months,
            days,
            perpetual: p.duration == PlanDuration::Perpetual,
            devices: p.seats,
        }
    }
}

/// A device bound to a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Device")]
pub struct DeviceView {
    /// `deviceSerialNumber`.
    pub serial_number: String,
    /// `csProductUUID`.
    #[serde(rename = "csProductUUID")]
    pub cs_product_uuid: String,
    /// The day it was bound, `YYYY-MM-DD`.
    pub bound_on: String,
    /// The `t` of its last OK start-session.
    pub last_login: Option<i64>,
    /// The last login before that one.
    pub previous_last_login: Option<i64>,
    /// Locked after a last-login integrity breach, until reset.
    pub locked: bool,
}

impl From<&DeviceBinding> for DeviceView {
    fn from(d: &DeviceBinding) -> Self {
        DeviceView {
            serial_number: d.serial_number.clone(),
            cs_product_uuid: d.cs_product_uuid.clone(),
            bound_on: format_date(d.bound_on),
            last_login: d.last_login,
            previous_last_login: d.previous_last_login,
            locked: d.locked,
        }
    }
}

/// A license key (never the key itself: its last group only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "License")]
pub struct LicenseView {
    /// The license's id.
    pub id: i64,
    /// Its product.
    pub product: String,
    /// Its plan.
    pub plan: String,
    /// `…-HXRB8`: the key's last group.
    pub key: String,
    /// `active` or `revoked`.
    pub status: String,
    /// The day of first activation, `YYYY-MM-DD`.
    pub activation_date: Option<String>,
    /// The expiry date, `YYYY-MM-DD`; null when not activated or perpetual.
    pub expiry_date: Option<String>,
    /// The devices bound to it, oldest first.
    pub devices: Vec<DeviceView>,
}

impl From<&LicenseInfo> for LicenseView {
    fn from(l: &LicenseInfo) -> Self {
        LicenseView {
            id: l.id,
            product: l.product_id.clone(),
            plan: l.plan_id.clone(),
            key: l.key_suffix.clone(),
            status: l.status.as_str().to_owned(),
            activation_date: l.activation_date.map(format_date),
            expiry_date: l.expiry_date.map(format_date),
            devices: l.devices.iter().map(DeviceView::from).collect(),
        }
    }
}

/// Keys just created: shown once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedLicenses {
    /// Their plan.
    pub plan: String,
    /// The keys, `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`.
    pub keys: Vec<String>,
}

/// A toggle's value: an integer, a float, a boolean or a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ToggleValue")]
pub enum ToggleValueView {
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    String(String),
}

impl From<&ToggleValue> for ToggleValueView {
    fn from(v: &ToggleValue) -> Self {
        match v {
            ToggleValue::Int(i) => ToggleValueView::Int(*i),
            ToggleValue::Float(f) => ToggleValueView::Float(*f),
            ToggleValue::Bool(b) => ToggleValueView::Bool(*b),
            ToggleValue::String(s) => ToggleValueView::String(s.clone()),
        }
    }
}

impl From<ToggleValueView> for ToggleValue {
    fn from(v: ToggleValueView) -> Self {
        match v {
            ToggleValueView::Int(i) => ToggleValue::Int(i),
            ToggleValueView::Float(f) => ToggleValue::Float(f),
            ToggleValueView::Bool(b) => ToggleValue::Bool(b),
            ToggleValueView::String(s) => ToggleValue::String(s),
        }
    }
}

/// One toggle value and the layer it is set at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Toggle")]
pub struct ToggleView {
    /// `product`, `plan` or `license`.
    pub scope: String,
    /// The plan, for scope `plan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The license, for scope `license`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_id: Option<i64>,
    /// `…-HXRB8` of that license.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The toggle's name.
    pub name: String,
    /// Its value.
    pub value: ToggleValueView,
}

impl From<&ToggleSetting> for ToggleView {
    fn from(s: &ToggleSetting) -> Self {
        let (scope, plan, license_id, key) = match &s.layer {
            ToggleLayer::Product => ("product", None, None, None),
            ToggleLayer::Plan(plan) => ("plan", Some(plan.clone()), None, None),
            ToggleLayer::License {
                license_id,
                key_suffix,
            } => ("license", None, Some(*license_id), Some(key_suffix.clone())),
        };
        ToggleView {
            scope: scope.into(),
            plan,
            license_id,
            key,
            name: s.name.clone(),
            value: ToggleValueView::from(&s.value),
        }
    }
}

/// A toggle just set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToggleSet {
    /// The toggle's name.
    pub name: String,
    /// Its value.
    pub value: ToggleValueView,
}

/// A release (update download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Release")]
pub struct ReleaseView {
    /// Its id.
    pub id: i64,
    /// The product it updates.
    pub product: String,
    /// Its version, as published.
    pub version: String,
    /// Its platform; null for every platform.
    pub platform: Option<String>,
    /// `stable` or `beta`.
    pub channel: String,
    /// The file name downloads are saved under.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact, lowercase hex.
    pub sha256: String,
    /// Base64 of the Ed25519 signature by the identity key.
    pub signature: String,
    /// Withdrawn: not offered, not downloadable.
    pub yanked: bool,
    /// When it was published, UNIX seconds.
    pub published_at: i64,
}

impl From<&Release> for ReleaseView {
    fn from(r: &Release) -> Self {
        ReleaseView {
            id: r.id,
            product: r.product_id.clone(),
            version: r.version.clone(),
            platform: r.platform.clone(),
            channel: r.channel.as_str().to_owned(),
            file_name: r.file_name.clone(),
            size: r.size,
            sha256: hex::encode(r.sha256),
            signature: base64::engine::general_purpose::STANDARD.encode(r.signature),
            yanked: r.yanked,
            published_at: r.published_at,
        }
    }
}

/// An admin API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "AdminToken")]
pub struct AdminTokenView {
    /// The public id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Whether it may only read.
    pub read_only: bool,
    /// When it was created, UNIX seconds.
    pub created_at: i64,
    /// When it was last used, UNIX seconds.
    pub last_used_at: Option<i64>,
    /// When it was revoked, UNIX seconds.
    pub revoked_at: Option<i64>,
}

impl From<&AdminToken> for AdminTokenView {
    fn from(t: &AdminToken) -> Self {
        AdminTokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            read_only: t.read_only,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token just created, with its text: shown once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedAdminToken {
    /// The token.
    #[serde(flatten)]
    pub view: AdminTokenView,
    /// `sla_<id>_<secret>`, for `Authorization: Bearer`.
    pub token: String,
}

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "AuditRecord")]
pub struct AuditView {
    /// Increasing id.
    pub id: i64,
    /// When, UNIX seconds.
    pub at: i64,
    /// Who: `cli`, `admin:<token name>`, or a client address.
    pub actor: String,
    /// What, e.g. `device-bound`.
    pub action: String,
    /// The product concerned.
    pub product: Option<String>,
    /// The license concerned.
    pub license_id: Option<i64>,
    /// `…-HXRB8` of that license.
    pub key: Option<String>,
    /// Free text.
    pub detail: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> Self {
        AuditView {
            id: r.id,
            at: r.at,
            actor: r.actor.clone(),
            action: r.action.as_str().to_owned(),
            product: r.product_id.clone(),
            license_id: r.license_id,
            key: r.key_suffix.clone(),
            detail: r.detail.clone(),
        }
    }
}

/// A telemetry event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "TelemetryEvent")]
pub struct TelemetryEventView {
    /// Increasing id, for paging.
    pub id: i64,
    /// The license that sent it.
    pub license_id: i64,
    /// `event`.
    pub event: String,
    /// The client's `t`.
    pub client_time: i64,
    /// When the server received it, UNIX seconds.
    pub received_at: i64,
    /// `data`, as JSON.
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<&TelemetryRow> for TelemetryEventView {
    fn from(r: &TelemetryRow) -> Self {
        TelemetryEventView {
            id: r.id,
            license_id: r.license_id,
            event: r.event.clone(),
            client_time: r.client_time,
            received_at: r.received_at,
            data: r.data.as_ref().and_then(|d| d.as_object().cloned()),
        }
    }
}

/// The formats telemetry is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object ([`TelemetryEventView`]) per line.
    Jsonl,
    /// Comma-separated values after [`CSV_HEADER`]; `data` as JSON text.
    Csv,
}

/// The first line of a CSV export.
pub const CSV_HEADER: &str = "id,license_id,event,client_time,received_at,data\n";

/// One exported event, as a line ending in `\n`.
pub fn export_line(row: &TelemetryRow, format: ExportFormat) -> String {
    match format {
        ExportFormat::Jsonl => format!(
            "{}\n",
            serde_json::to_string(&TelemetryEventView::from(row)).unwrap_or_default()
        ),
        ExportFormat::Csv => {
            let data = row
                .data
                .clone()
                .unwrap_or(serde_json::Value::Null)
                .to_string();
            format!(
                "{},{},{},{},{},{}\n",
                row.id,
                row.license_id,
                csv_field(&row.event),
                row.client_time,
                row.received_at,
                csv_field(&data)
            )
        }
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One page of telemetry, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryPage {
    /// The events.
    pub events: Vec<TelemetryEventView>,
    /// Pass as `afterId` for the next page; null on the last page.
    pub next_after_id: Option<i64>,
}

/// A key revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revoked {
    /// Always true.
    pub revoked: bool,
}

/// Device bindings removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reset {
    /// How many.
    pub reset: usize,
}

/// A key's expiry date, as set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expiry {
    /// `YYYY-MM-DD`: the last valid day.
    pub expiry_date: String,
}

/// A toggle value removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Removed {
    /// Always true.
    pub removed: bool,
}

/// An error of the admin API and the download routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, SCREAMING_SNAKE_CASE, e.g. `NOT_FOUND`, `UNAUTHORIZED`, `READ_ONLY_TOKEN`.
    pub code: String,
    /// For people; may change.
    pub message: String,
}

// --- Request bodies --------------------------------------------------------

/// A product to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProduct {
    /// `productId`, as apps send it.
    pub id: String,
    /// The oldest app version still allowed to start a session.
    pub min_version: String,
}

/// What to change of a product (at least one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductChange {
    /// A new minimum supported version.
    pub min_version: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// A plan to create: exactly one of `months`, `days`, `perpetual: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPlan {
    /// The plan id.
    pub id: String,
    /// Its product.
    pub product: String,
    /// Duration in calendar months.
    pub months: Option<u32>,
    /// Duration in days.
    pub days: Option<u32>,
    /// Never expires.
    #[serde(default)]
    pub perpetual: bool,
    /// Device seats per key (default 1).
    #[schemars(range(min = 1))]
    pub devices: Option<u32>,
}

/// Keys to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLicenses {
    /// Their plan.
    pub plan: String,
    /// How many (default 1, at most 10,000).
    #[schemars(range(min = 1, max = 10000))]
    pub count: Option<u32>,
}

/// Which devices to reset; without `device`, every one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceChoice {
    /// A serial number; absent: every device of the key.
    pub device: Option<String>,
}

/// A toggle value to set, at the product (default), one plan, or one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToggleValue {
    /// The value.
    pub value: ToggleValueView,
    /// Set it for this plan only.
    pub plan: Option<String>,
    /// Set it for this license key only (the key itself).
    pub license: Option<String>,
}

/// The `components.schemas` of the admin API's OpenAPI 3.0 document,
/// generated from the types above.
pub fn schemas() -> serde_json::Map<String, serde_json::Value> {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<ProductView>();
    generator.subschema_for::<PlanView>();
    generator.subschema_for::<LicenseView>();
    generator.subschema_for::<CreatedLicenses>();
    generator.subschema_for::<ToggleView>();
    generator.subschema_for::<ToggleSet>();
    generator.subschema_for::<ReleaseView>();
    generator.subschema_for::<AdminTokenView>();
    generator.subschema_for::<AuditView>();
    generator.subschema_for::<TelemetryPage>();
    generator.subschema_for::<Revoked>();
    generator.subschema_for::<Reset>();
    generator.subschema_for::<Expiry>();
    generator.subschema_for::<Removed>();
    generator.subschema_for::<ErrorBody>();
    generator.subschema_for::<NewProduct>();
    generator.subschema_for::<ProductChange>();
    generator.subschema_for::<NewPlan>();
    generator.subschema_for::<NewLicenses>();
    generator.subschema_for::<DeviceChoice>();
    generator.subschema_for::<NewToggleValue>();
    generator.take_definitions(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_write_the_documented_json() {
        let plan = Plan {
            id: "p".into(),
            product_id: "telepower".into(),
            duration: PlanDuration::Months(1),
            seats: 2,
        };
        assert_eq!(
            serde_json::to_value(PlanView::from(&plan)).unwrap(),
            serde_json::json!({"id": "p", "product": "telepower", "months": 1, "days": null,
                               "perpetual": false, "devices": 2})
        );
        let value: NewToggleValue = serde_json::from_str(r#"{"value": 1.5}"#).unwrap();
        assert_eq!(ToggleValue::from(value.value), ToggleValue::Float(1.5));
        let value: NewToggleValue = serde_json::from_str(r#"{"value": 150}"#).unwrap();
        assert_eq!(ToggleValue::from(value.value), ToggleValue::Int(150));
        assert!(serde_json::from_str::<NewToggleValue>(r#"{"value": [1]}"#).is_err());
    }

    #[test]
    fn schemas_are_generated_for_every_view() {
        let schemas = schemas();
        for name in [
            "Product", "Plan", "License", "Device", "Toggle", "Release", "Error",
        ] {
            assert!(
                schemas.contains_key(name),
                "{name} missing: {:?}",
                schemas.keys()
            );
        }
        // OpenAPI 3.0 forbids an empty `required` list.
        for (name, schema) in &schemas {
            if let Some(required) = schema.get("required") {
                assert!(!required.as_array().unwrap().is_empty(), "{name}");
            }
        }
    }
}
