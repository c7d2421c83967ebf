//! The licensing domain: every business rule of Skyline, decided once, over
//! plain data. No I/O and no clock: time comes in with the [`Actor`].
//!
//! # How a change is made
//!
//! Every change is a [`Command`]. It names what it needs to see
//! ([`Command::needs`]); the store loads that [`Snapshot`] inside one
//! transaction, taking its locks (SQLite: the single writer; PostgreSQL: the
//! license row `FOR NO KEY UPDATE`), calls [`Command::decide`], and applies
//! the [`Write`]s of the [`Decision`] in the same transaction. The store
//! knows nothing of plans or seats; this module knows nothing of SQL. Reads
//! that need a rule (toggle layering, the latest release) go through
//! functions here too.
//!
//! # Where each rule lives
//!
//! | module | PROTOCOL.md | what it decides |
//! | --- | --- | --- |
//! | [`start_session`] | §6 `start-session` steps 1–9 | product, version, key, revocation, expiry, seats, last login, activation |
//! | [`licenses`] | — | revoking a key, resetting devices, setting an expiry |
//! | [`catalog`] | — | products, plans and keys: ids, versions, durations, seats |
//! | [`toggles`] | §6 `get-feature-toggles` | layering product < plan < license; setting and removing values |
//! | [`releases`] | §7 | recording and yanking releases; which release a download gets |
//! | [`tokens`] | — | admin tokens, their use, audit entries from outside |
//! | [`audit`] | — | [`AuditAction`], one closed enum |
//! | [`model`] | — | the records: [`Product`], [`Plan`], [`License`], [`DeviceBinding`], … |
//! | [`error`] | — | [`DomainError`]: a command refused before anything is written |
//!
//! # Adding a rule
//!
//! "A plan limits rebinds per month": a field on [`Plan`] (a migration and
//! one line of row mapping in each backend), the check in the command that
//! releases a device, with its unit tests here, and the field in
//! [`crate::views`]. Nothing else changes.

pub mod audit;
pub mod catalog;
pub mod error;
pub mod licenses;
pub mod model;
pub mod releases;
pub mod start_session;
pub mod toggles;
pub mod tokens;

use chrono::NaiveDate;
use skyline_protocol::methods::ToggleValue;

pub use audit::AuditAction;
pub use error::DomainError;
pub use model::*;

use crate::license_index::LicenseDigest;

/// A change to the data: what it must see, and a pure decision over it.
///
/// `decide` may run more than once for one command (PostgreSQL retries a
/// transaction that lost a serialization race): it must depend only on its
/// arguments.
pub trait Command: Send + Sync + 'static {
    /// What the caller gets back.
    type Outcome: Send + 'static;

    /// What the decision needs to see, loaded (and locked) in the
    /// transaction that applies it.
    fn needs(&self) -> Needs;

    /// Decides, from what was loaded, what to write and what to answer. An
    /// `Err` writes nothing.
    fn decide(&self, seen: &Snapshot, by: &Actor) -> Result<Decision<Self::Outcome>, DomainError>;
}

/// What a decision writes, and what its caller is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    /// The answer.
    pub outcome: T,
    /// The changes, applied in order in the snapshot's transaction.
    pub writes: Vec<Write>,
}

impl<T> Decision<T> {
    /// An answer with these writes.
    pub fn new(outcome: T, writes: Vec<Write>) -> Self {
        Decision { outcome, writes }
    }
}

/// What a command needs loaded. Everything is optional; what is not asked for
/// stays empty in the [`Snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// A product by id.
    pub product: Option<String>,
    /// Lock that product's row until the transaction ends (publishing).
    pub lock_product: bool,
    /// Every release of [`Needs::product`].
    pub releases: bool,
    /// A plan by id.
    pub plan: Option<String>,
    /// A license by key digest, with its plan. Its row is locked until the
    /// transaction ends, so that changes to one license happen one after
    /// another on any number of nodes.
    pub license: Option<LicenseDigest>,
    /// Devices of that license.
    pub devices: Option<DeviceSelector>,
    /// The value of one toggle at one scope of [`Needs::product`].
    pub toggle: Option<(ToggleScope, String)>,
    /// An admin token by id.
    pub admin_token: Option<String>,
}

/// What the store loaded for a command, as of the command's transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// [`Needs::product`], if it exists.
    pub product: Option<Product>,
    /// The product's releases, oldest first.
    pub releases: Vec<Release>,
    /// [`Needs::plan`], if it exists.
    pub plan: Option<Plan>,
    /// [`Needs::license`], if it exists.
    pub license: Option<License>,
    /// The license's devices [`Needs::devices`] selects, oldest first.
    pub devices: Vec<DeviceBinding>,
    /// [`Needs::toggle`]'s current value, if set (and its scope exists).
    pub toggle: Option<ToggleValue>,
    /// [`Needs::admin_token`], if it exists.
    pub admin_token: Option<AdminToken>,
}

/// One change a decision makes. The store applies each in the decision's
/// transaction, in order; a write that breaks a uniqueness rule of the
/// database fails the whole decision with [`Write::conflict`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A new product.
    InsertProduct(Product),
    /// A product's minimum version and enabled flag.
    UpdateProduct(Product),
    /// A new plan.
    InsertPlan(Plan),
    /// New keys of a plan.
    InsertLicenses {
        /// The plan.
        plan_id: String,
        /// The keys' digests and last groups.
        keys: Vec<NewLicense>,
    },
    /// A license's status and dates.
    UpdateLicense {
        /// The license.
        id: i64,
        /// Active or revoked.
        status: LicenseStatus,
        /// First activation.
        activation_date: Option<NaiveDate>,
        /// Expiry.
        expiry_date: Option<NaiveDate>,
    },
    /// A device takes a seat. The store keeps the license's
    /// [`License::devices_bound`] and [`License::first_bound_on`] with it.
    BindDevice {
        /// The license.
        license_id: i64,
        /// The new binding.
        device: DeviceBinding,
    },
    /// A bound device's last logins and lock.
    UpdateDevice {
        /// The license.
        license_id: i64,
        /// The binding as it is now.
        device: DeviceBinding,
    },
    /// Devices give their seats back (the seat count follows).
    UnbindDevices {
        /// The license.
        license_id: i64,
        /// Which devices.
        which: DeviceSelector,
    },
    /// Sets (or replaces) one toggle value.
    SetToggle {
        /// The product.
        product_id: String,
        /// The layer.
        target: ToggleTarget,
        /// The toggle's name.
        name: String,
        /// Its value.
        value: ToggleValue,
    },
    /// Removes one toggle value.
    RemoveToggle {
        /// The product.
        product_id: String,
        /// The layer.
        target: ToggleTarget,
        /// The toggle's name.
        name: String,
    },
    /// A new release, published at `at`.
    InsertRelease {
        /// The release.
        release: NewRelease,
        /// UNIX seconds.
        at: i64,
    },
    /// A release yanked or restored.
    SetReleaseYanked {
        /// The release's id.
        id: i64,
        /// Withdrawn or not.
        yanked: bool,
    },
    /// A new admin token, created at `at`.
    InsertAdminToken {
        /// The token (its secret's hash only).
        token: NewAdminToken,
        /// UNIX seconds.
        at: i64,
    },
    /// An admin token's revocation time.
    RevokeAdminToken {
        /// The token's id.
        id: String,
        /// UNIX seconds.
        at: i64,
    },
    /// An admin token's last use.
    TouchAdminToken {
        /// The token's id.
        id: String,
        /// UNIX seconds.
        at: i64,
    },
    /// An audit entry.
    Audit(NewAuditEntry),
}

impl Write {
    /// The error when this write collides with a row that already exists
    /// (a uniqueness rule of the database, e.g. two nodes creating the same
    /// product at once). For [`Write::InsertLicenses`], see
    /// [`catalog::key_conflict`].
    pub fn conflict(&self) -> DomainError {
        match self {
            Write::InsertProduct(p) => DomainError::conflict(format!("product `{}`", p.id)),
            Write::InsertPlan(p) => DomainError::conflict(format!("plan `{}`", p.id)),
            Write::InsertLicenses { .. } => DomainError::conflict("license key"),
            Write::InsertRelease { release, .. } => DomainError::conflict(releases::describe(
                &release.product_id,
                &release.version,
                release.platform.as_deref(),
            )),
            Write::InsertAdminToken { token, .. } => {
                DomainError::conflict(format!("admin token `{}`", token.id))
            }
            Write::BindDevice { device, .. } => DomainError::conflict(format!(
                "device `{}` / `{}`",
                device.serial_number, device.cs_product_uuid
            )),
            other => DomainError::invalid(format!("conflicting change: {other:?}")),
        }
    }
}

/// An audit entry by `by`, about `product` and `license`.
pub(crate) fn audit(
    by: &Actor,
    action: AuditAction,
    product_id: Option<&str>,
    license_id: Option<i64>,
    detail: impl Into<String>,
) -> Write {
    Write::Audit(NewAuditEntry {
        actor: by.clone(),
        action,
        product_id: product_id.map(str::to_owned),
        license_id,
        detail: detail.into(),
    })
}

/// The license a command names, or `NotFound`.
pub(crate) fn require_license(seen: &Snapshot) -> Result<&License, DomainError> {
    seen.license
        .as_ref()
        .ok_or_else(|| DomainError::not_found("license key"))
}

/// The product a command names, or `NotFound`.
pub(crate) fn require_product<'a>(
    seen: &'a Snapshot,
    id: &str,
) -> Result<&'a Product, DomainError> {
    seen.product
        .as_ref()
        .ok_or_else(|| DomainError::not_found(format!("product `{id}`")))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Records for the decision tests.

    use skyline_protocol::dates::PlanDuration;

    use super::*;

    pub fn day(text: &str) -> NaiveDate {
        skyline_protocol::dates::parse_date(text).unwrap()
    }

    /// Noon UTC of a day.
    pub fn noon(text: &str) -> i64 {
        day(text)
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    pub fn cli(text: &str) -> Actor {
        Actor::cli(noon(text))
    }

    pub fn product() -> Product {
        Product {
            id: "telepower".into(),
            min_version: "7.0.9".into(),
            enabled: true,
        }
    }

    pub fn plan(duration: PlanDuration, seats: u32) -> Plan {
        Plan {
            id: "telepower.monthly".into(),
            product_id: "telepower".into(),
            duration,
            seats,
        }
    }

    pub fn license(plan: Plan) -> License {
        License {
            id: 7,
            plan,
            last_group: "HXRB8".into(),
            status: LicenseStatus::Active,
            activation_date: None,
            expiry_date: None,
            devices_bound: 0,
            first_bound_on: None,
        }
    }

    pub fn device(n: u32, bound_on: &str) -> DeviceBinding {
        DeviceBinding {
            serial_number: format!("SN-{n}"),
            cs_product_uuid: format!("UUID-{n}"),
            bound_on: day(bound_on),
            last_login: None,
            previous_last_login: None,
            locked: false,
            last_version: None,
            last_seen_at: None,
        }
    }

    /// The audit actions among `writes`.
    pub fn audited(writes: &[Write]) -> Vec<AuditAction> {
        writes
            .iter()
            .filter_map(|w| match w {
                Write::Audit(entry) => Some(entry.action),
                _ => None,
            })
            .collect()
    }
}
