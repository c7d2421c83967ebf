//! Products, plans, license keys and their devices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skyline_protocol::dates::{format_date, PlanDuration};

use crate::domain::{DeviceBinding, LicenseInfo, Plan, Product};

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
    /// The app version of its last OK start-session.
    pub last_version: Option<String>,
    /// When the server last answered it OK, UNIX seconds.
    pub last_seen_at: Option<i64>,
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
            last_version: d.last_version.clone(),
            last_seen_at: d.last_seen_at,
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
