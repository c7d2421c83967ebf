//! Feature toggles: where a value is set, and the values that apply.

use skyline_protocol::methods::ToggleValue;

use crate::license_index::LicenseDigest;

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
