//! Row mapping written once for both backends: [`Columns`] reads a column
//! of a SQLite or PostgreSQL row as a domain value, and the functions here
//! turn the rows of the shared `SELECT` column lists into domain records.
//!
//! Stored forms are the same in both databases except where a type exists
//! in one only (PostgreSQL `DATE` and `BOOLEAN` against SQLite text and
//! integers); [`Columns`] hides that.

use chrono::NaiveDate;
use skyline_protocol::dates::{self, PlanDuration};
use skyline_protocol::methods::ToggleValue;

use super::error::corrupt;
use super::StoreError;
use crate::domain::{
    key_suffix, AdminToken, AdminTokenCredential, AuditAction, AuditRecord, DeviceBinding,
    LayeredToggle, License, LicenseStatus, Plan, Product, Release, ReleaseChannel, TelemetryRow,
    ToggleLayer, ToggleRank, ToggleSetting,
};

/// One row of a query, whichever database it came from.
pub(crate) trait Columns {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column of any width.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column (SQLite: 0 or 1).
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    /// A nullable day (SQLite: `YYYY-MM-DD` text).
    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, StoreError>;
    /// A byte string.
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;

    /// A day.
    fn date(&self, i: usize) -> Result<NaiveDate, StoreError> {
        self.opt_date(i)?
            .ok_or_else(|| corrupt("a stored date is missing"))
    }

    /// A non-negative integer that fits `u32`.
    fn count(&self, i: usize) -> Result<u32, StoreError> {
        u32::try_from(self.int(i)?).map_err(|_| corrupt("a stored count is out of range"))
    }

    /// A byte string of exactly `N` bytes.
    fn fixed<const N: usize>(&self, i: usize, what: &str) -> Result<[u8; N], StoreError>
    where
        Self: Sized,
    {
        self.bytes(i)?
            .try_into()
            .map_err(|_| corrupt(format!("a stored {what} is malformed")))
    }
}

/// `months:N`, `days:N` or `perpetual`.
pub(crate) fn duration_to_text(duration: PlanDuration) -> String {
    crate::domain::catalog::duration_text(duration)
}

/// Reads [`duration_to_text`]'s output.
pub(crate) fn duration_from_text(text: &str) -> Result<PlanDuration, StoreError> {
    let bad = || corrupt(format!("stored plan duration `{text}` is not readable"));
    match text.split_once(':') {
        None if text == "perpetual" => Ok(PlanDuration::Perpetual),
        Some(("months", n)) => n.parse().map(PlanDuration::Months).map_err(|_| bad()),
        Some(("days", n)) => n.parse().map(PlanDuration::Days).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Reads a stored `YYYY-MM-DD`.
pub(crate) fn date_from_text(text: &str) -> Result<NaiveDate, StoreError> {
    dates::parse_date(text).ok_or_else(|| corrupt(format!("stored date `{text}` is not readable")))
}

/// The value's type tag and text: (`int` | `float` | `bool` | `string`, text).
pub(crate) fn toggle_to_text(value: &ToggleValue) -> (&'static str, String) {
    // `Display` writes floats with `{:?}`, which reads back exactly.
    (crate::domain::toggles::value_type(value), value.to_string())
}

/// Reads [`toggle_to_text`]'s output.
pub(crate) fn toggle_from_text(kind: &str, text: &str) -> Result<ToggleValue, StoreError> {
    let bad = || {
        corrupt(format!(
            "stored toggle value of type `{kind}` is not readable"
        ))
    };
    match kind {
        "int" => text.parse().map(ToggleValue::Int).map_err(|_| bad()),
        "float" => text.parse().map(ToggleValue::Float).map_err(|_| bad()),
        "bool" => text.parse().map(ToggleValue::Bool).map_err(|_| bad()),
        "string" => Ok(ToggleValue::String(text.to_owned())),
        _ => Err(bad()),
    }
}

/// The columns [`product`] reads.
pub(crate) const PRODUCT_COLUMNS: &str = "id, min_version, enabled";

/// A row of [`PRODUCT_COLUMNS`].
pub(crate) fn product(r: &impl Columns) -> Result<Product, StoreError> {
    Ok(Product {
        id: r.text(0)?,
        min_version: r.text(1)?,
        enabled: r.flag(2)?,
    })
}

/// The columns [`plan`] reads, from `at`.
pub(crate) const PLAN_COLUMNS: &str = "id, product_id, duration, seats";

/// A row of [`PLAN_COLUMNS`] starting at column `at`.
pub(crate) fn plan(r: &impl Columns, at: usize) -> Result<Plan, StoreError> {
    Ok(Plan {
        id: r.text(at)?,
        product_id: r.text(at + 1)?,
        duration: duration_from_text(&r.text(at + 2)?)?,
        seats: r.count(at + 3)?,
    })
}

/// A license joined with its plan: the `SELECT … FROM` that [`license`]
/// reads. Backends add `WHERE` (and their locking clause).
pub(crate) const LICENSE_SELECT: &str = "SELECT l.id, l.key_last_group, l.status, \
     l.activation_date, l.expiry_date, l.devices_bound, l.first_bound_on, \
     p.id, p.product_id, p.duration, p.seats \
     FROM licenses l JOIN plans p ON p.id = l.plan_id";

/// A row of [`LICENSE_SELECT`].
pub(crate) fn license(r: &impl Columns) -> Result<License, StoreError> {
    Ok(License {
        id: r.int(0)?,
        last_group: r.text(1)?,
        status: status(&r.text(2)?)?,
        activation_date: r.opt_date(3)?,
        expiry_date: r.opt_date(4)?,
        devices_bound: r.count(5)?,
        first_bound_on: r.opt_date(6)?,
        plan: plan(r, 7)?,
    })
}

fn status(text: &str) -> Result<LicenseStatus, StoreError> {
    LicenseStatus::parse(text).ok_or_else(|| corrupt(format!("stored status `{text}` is unknown")))
}

/// The `SELECT … FROM` that [`device`] reads (column 0 is the license id).
pub(crate) const DEVICE_SELECT: &str = "SELECT license_id, serial_number, cs_product_uuid, \
     bound_on, last_login, previous_last_login, locked, last_version, last_seen_at FROM devices";

/// A row of [`DEVICE_SELECT`]: the license id and the binding.
pub(crate) fn device(r: &impl Columns) -> Result<(i64, DeviceBinding), StoreError> {
    Ok((
        r.int(0)?,
        DeviceBinding {
            serial_number: r.text(1)?,
            cs_product_uuid: r.text(2)?,
            bound_on: r.date(3)?,
            last_login: r.opt_int(4)?,
            previous_last_login: r.opt_int(5)?,
            locked: r.flag(6)?,
            last_version: r.opt_text(7)?,
            last_seen_at: r.opt_int(8)?,
        },
    ))
}

/// The `SELECT … FROM` that [`release`] reads.
pub(crate) const RELEASE_SELECT: &str = "SELECT id, product_id, version, platform, channel, \
     file_name, size, sha256, signature, yanked, published_at FROM releases";

/// A row of [`RELEASE_SELECT`].
pub(crate) fn release(r: &impl Columns) -> Result<Release, StoreError> {
    let platform = r.text(3)?;
    let channel = r.text(4)?;
    Ok(Release {
        id: r.int(0)?,
        product_id: r.text(1)?,
        version: r.text(2)?,
        platform: (!platform.is_empty()).then_some(platform),
        channel: ReleaseChannel::parse(&channel)
            .ok_or_else(|| corrupt("a stored release channel is unknown"))?,
        file_name: r.text(5)?,
        size: u64::try_from(r.int(6)?).map_err(|_| corrupt("a stored release size is negative"))?,
        sha256: r.fixed(7, "release digest")?,
        signature: r.fixed(8, "release signature")?,
        yanked: r.flag(9)?,
        published_at: r.int(10)?,
    })
}

/// The `SELECT … FROM` that [`admin_token`] reads.
pub(crate) const TOKEN_SELECT: &str = "SELECT id, name, read_only, created_at, last_used_at, \
     revoked_at, secret_hash FROM admin_tokens";

/// A row of [`TOKEN_SELECT`].
pub(crate) fn admin_token(r: &impl Columns) -> Result<AdminTokenCredential, StoreError> {
    Ok(AdminTokenCredential {
        token: AdminToken {
            id: r.text(0)?,
            name: r.text(1)?,
            read_only: r.flag(2)?,
            created_at: r.int(3)?,
            last_used_at: r.opt_int(4)?,
            revoked_at: r.opt_int(5)?,
        },
        secret_hash: r.fixed(6, "token hash")?,
    })
}

/// The columns [`audit_record`] reads, from `audit_log a LEFT JOIN licenses l`.
pub(crate) const AUDIT_COLUMNS: &str = "a.id, a.at, a.actor, a.action, a.product_id, \
     a.license_id, l.key_last_group, a.detail";

/// A row of [`AUDIT_COLUMNS`].
pub(crate) fn audit_record(r: &impl Columns) -> Result<AuditRecord, StoreError> {
    let action = r.text(3)?;
    Ok(AuditRecord {
        id: r.int(0)?,
        at: r.int(1)?,
        actor: r.text(2)?,
        action: AuditAction::parse(&action).ok_or_else(|| {
            corrupt(format!(
                "the audit log holds an action this version does not know: `{action}`"
            ))
        })?,
        product_id: r.opt_text(4)?,
        license_id: r.opt_int(5)?,
        key_suffix: r.opt_text(6)?.map(|g| key_suffix(&g)),
        detail: r.text(7)?,
    })
}

/// The columns [`telemetry_row`] reads.
pub(crate) const TELEMETRY_COLUMNS: &str =
    "id, license_id, event, data, client_time, received_at, event_id";

/// A row of [`TELEMETRY_COLUMNS`].
pub(crate) fn telemetry_row(r: &impl Columns) -> Result<TelemetryRow, StoreError> {
    let data = r
        .opt_text(3)?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| corrupt(format!("stored telemetry data: {e}")))?;
    Ok(TelemetryRow {
        id: r.int(0)?,
        license_id: r.int(1)?,
        event: r.text(2)?,
        data,
        client_time: r.int(4)?,
        received_at: r.int(5)?,
        event_id: r.opt_text(6)?,
    })
}

/// The columns [`toggle_setting`] reads, from `toggles t LEFT JOIN licenses l`.
pub(crate) const TOGGLE_SETTING_COLUMNS: &str =
    "t.scope, t.plan_id, t.license_id, l.key_last_group, t.name, t.value_type, t.value";

/// A row of [`TOGGLE_SETTING_COLUMNS`].
pub(crate) fn toggle_setting(r: &impl Columns) -> Result<ToggleSetting, StoreError> {
    let layer = match (r.text(0)?.as_str(), r.opt_text(1)?, r.opt_int(2)?) {
        ("plan", Some(plan), _) => ToggleLayer::Plan(plan),
        ("license", _, Some(license_id)) => ToggleLayer::License {
            license_id,
            key_suffix: key_suffix(r.opt_text(3)?.as_deref().unwrap_or("?????")),
        },
        _ => ToggleLayer::Product,
    };
    Ok(ToggleSetting {
        layer,
        name: r.text(4)?,
        value: toggle_from_text(&r.text(5)?, &r.text(6)?)?,
    })
}

/// The columns [`layered_toggle`] reads, from `toggles t`.
pub(crate) const LAYERED_TOGGLE_COLUMNS: &str = "t.scope, t.name, t.value_type, t.value";

/// A row of [`LAYERED_TOGGLE_COLUMNS`].
pub(crate) fn layered_toggle(r: &impl Columns) -> Result<LayeredToggle, StoreError> {
    let scope = r.text(0)?;
    Ok(LayeredToggle {
        rank: ToggleRank::of_scope(&scope)
            .ok_or_else(|| corrupt(format!("stored toggle scope `{scope}` is unknown")))?,
        name: r.text(1)?,
        value: toggle_from_text(&r.text(2)?, &r.text(3)?)?,
    })
}

/// Puts each device under its license (devices of licenses not listed are
/// dropped), keeping the devices' order.
pub(crate) fn attach_devices(
    licenses: &mut [crate::domain::LicenseInfo],
    devices: impl IntoIterator<Item = (i64, DeviceBinding)>,
) {
    let position: std::collections::HashMap<i64, usize> = licenses
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i))
        .collect();
    for (license_id, device) in devices {
        if let Some(&i) = position.get(&license_id) {
            licenses[i].devices.push(device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for d in [
            PlanDuration::Months(1),
            PlanDuration::Days(30),
            PlanDuration::Perpetual,
        ] {
            assert_eq!(duration_from_text(&duration_to_text(d)).unwrap(), d);
        }
        assert!(duration_from_text("weeks:2").is_err());
    }

    #[test]
    fn toggles_round_trip() {
        for v in [
            ToggleValue::Int(-5),
            ToggleValue::Float(0.1),
            ToggleValue::Float(1e300),
            ToggleValue::Bool(true),
            ToggleValue::String("500".into()),
        ] {
            let (kind, text) = toggle_to_text(&v);
            assert_eq!(toggle_from_text(kind, &text).unwrap(), v);
        }
    }
}
