//! Feature toggles and their values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skyline_protocol::methods::ToggleValue;

use crate::domain::{ToggleLayer, ToggleSetting};

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

/// A toggle value removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Removed {
    /// Always true.
    pub removed: bool,
}
