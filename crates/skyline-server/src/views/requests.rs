//! What front doors read: the admin API's request bodies, and its error.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ToggleValueView;

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
