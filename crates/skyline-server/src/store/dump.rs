//! [`DumpRecord`]: every row of every table in a backend-neutral form, so a
//! deployment moves between backends (`skyline export` on SQLite, `skyline
//! import` on PostgreSQL) with nothing lost: ids, digests, dates, last
//! logins, locks, toggles at every layer, the audit log and telemetry.
//!
//! [`Store::export_dump`](super::Store::export_dump) streams records in
//! [`DumpRecord::ORDER`] from one snapshot and ends with [`DumpRecord::End`];
//! [`Store::import_dump`](super::Store::import_dump) replays them into an
//! empty database in one transaction and commits only after `End` with the
//! right count, so a truncated dump imports nothing.
//!
//! Values keep their stored text forms (dates `YYYY-MM-DD`, durations
//! `months:N`, toggle values with their type, telemetry `data` as the exact
//! JSON text), which both backends read the same way.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::methods::ToggleValue;

use super::codec;
use super::StoreError;

/// One row of a dump. Serialized as a JSON object with a `type` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DumpRecord {
    /// A `settings` row (such as the license index check).
    Setting {
        /// The setting's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A product.
    Product {
        /// `productId`.
        id: String,
        /// The minimum supported version.
        min_version: String,
        /// Whether sessions may start.
        enabled: bool,
    },
    /// A plan.
    Plan {
        /// The plan id.
        id: String,
        /// Its product.
        product_id: String,
        /// `months:N`, `days:N` or `perpetual`.
        duration: String,
        /// Device seats per key.
        seats: u32,
    },
    /// A license key, by digest.
    License {
        /// The license id (kept, so telemetry and audit rows still point at it).
        id: i64,
        /// The key's digest, lowercase hex.
        key_digest: String,
        /// The key's last group.
        key_last_group: String,
        /// Its plan.
        plan_id: String,
        /// `active` or `revoked`.
        status: String,
        /// `YYYY-MM-DD`.
        activation_date: Option<String>,
        /// `YYYY-MM-DD`.
        expiry_date: Option<String>,
    },
    /// A device bound to a license (one seat), in binding order.
    Device {
        /// The license.
        license_id: i64,
        /// `deviceSerialNumber`.
        serial_number: String,
        /// `csProductUUID`.
        cs_product_uuid: String,
        /// `YYYY-MM-DD`.
        bound_on: String,
        /// The last login.
        last_login: Option<i64>,
        /// The one before it.
        previous_last_login: Option<i64>,
        /// Locked after an integrity breach.
        locked: bool,
    },
    /// A toggle value at one layer.
    Toggle {
        /// The toggle row's id.
        id: i64,
        /// Its product.
        product_id: String,
        /// `product`, `plan` or `license`.
        scope: String,
        /// The plan, for scope `plan`.
        plan_id: Option<String>,
        /// The license, for scope `license`.
        license_id: Option<i64>,
        /// The toggle's name.
        name: String,
        /// `int`, `float`, `bool` or `string`.
        value_type: String,
        /// The value's text.
        value: String,
    },
    /// An audit entry.
    Audit {
        /// Its id.
        id: i64,
        /// UNIX seconds.
        at: i64,
        /// Who.
        actor: String,
        /// What, e.g. `device-bound`.
        action: String,
        /// The product concerned.
        product_id: Option<String>,
        /// The license concerned.
        license_id: Option<i64>,
        /// Free text.
        detail: String,
    },
    /// A telemetry event.
    Telemetry {
        /// Its id.
        id: i64,
        /// The license that sent it.
        license_id: i64,
        /// Its product.
        product_id: String,
        /// `event`.
        event: String,
        /// `data` as the JSON text stored.
        data: Option<String>,
        /// The client's `t`.
        client_time: i64,
        /// When the server received it.
        received_at: i64,
    },
    /// The last record: how many came before it.
    End {
        /// Records before this one.
        records: u64,
    },
}

impl DumpRecord {
    /// The `type` of each kind, in the order a dump lists them (every
    /// record after those it refers to).
    pub const ORDER: [&'static str; 9] = [
        "setting",
        "product",
        "plan",
        "license",
        "device",
        "toggle",
        "audit",
        "telemetry",
        "end",
    ];

    /// This record's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            DumpRecord::Setting { .. } => "setting",
            DumpRecord::Product { .. } => "product",
            DumpRecord::Plan { .. } => "plan",
            DumpRecord::License { .. } => "license",
            DumpRecord::Device { .. } => "device",
            DumpRecord::Toggle { .. } => "toggle",
            DumpRecord::Audit { .. } => "audit",
            DumpRecord::Telemetry { .. } => "telemetry",
            DumpRecord::End { .. } => "end",
        }
    }
}

/// How many records of each kind an import stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DumpCounts {
    /// Settings kept or stored.
    pub settings: u64,
    /// Products.
    pub products: u64,
    /// Plans.
    pub plans: u64,
    /// License keys.
    pub licenses: u64,
    /// Device bindings.
    pub devices: u64,
    /// Toggle values.
    pub toggles: u64,
    /// Audit entries.
    pub audit: u64,
    /// Telemetry events.
    pub telemetry: u64,
}

impl DumpCounts {
    /// Counts one record.
    pub fn count(&mut self, record: &DumpRecord) {
        let slot = match record {
            DumpRecord::Setting { .. } => &mut self.settings,
            DumpRecord::Product { .. } => &mut self.products,
            DumpRecord::Plan { .. } => &mut self.plans,
            DumpRecord::License { .. } => &mut self.licenses,
            DumpRecord::Device { .. } => &mut self.devices,
            DumpRecord::Toggle { .. } => &mut self.toggles,
            DumpRecord::Audit { .. } => &mut self.audit,
            DumpRecord::Telemetry { .. } => &mut self.telemetry,
            DumpRecord::End { .. } => return,
        };
        *slot += 1;
    }

    /// Every record counted.
    pub fn total(&self) -> u64 {
        self.settings
            + self.products
            + self.plans
            + self.licenses
            + self.devices
            + self.toggles
            + self.audit
            + self.telemetry
    }
}

/// Keeps an import honest: records in [`DumpRecord::ORDER`], `End` last
/// with the right count, settings that agree with the target's.
#[derive(Debug, Default)]
pub(crate) struct ImportCheck {
    counts: DumpCounts,
    rank: usize,
    ended: bool,
}

impl ImportCheck {
    /// Accepts the next record, or says why the dump is unusable.
    pub(crate) fn next(&mut self, record: &DumpRecord) -> Result<(), StoreError> {
        if self.ended {
            return Err(bad_dump("records after the end record"));
        }
        let rank = DumpRecord::ORDER
            .iter()
            .position(|k| *k == record.kind())
            .unwrap_or(0);
        if rank < self.rank {
            return Err(bad_dump(&format!(
                "a `{}` record after `{}` records",
                record.kind(),
                DumpRecord::ORDER[self.rank]
            )));
        }
        self.rank = rank;
        if let DumpRecord::End { records } = record {
            if *records != self.counts.total() {
                return Err(bad_dump(&format!(
                    "the end record counts {records} records, the dump has {}",
                    self.counts.total()
                )));
            }
            self.ended = true;
        }
        self.counts.count(record);
        Ok(())
    }

    /// The counts, once the end record was seen.
    pub(crate) fn finish(self) -> Result<DumpCounts, StoreError> {
        if self.ended {
            Ok(self.counts)
        } else {
            Err(bad_dump(
                "it ended before its end record (truncated?): nothing was imported",
            ))
        }
    }
}

/// The dump cannot be imported.
pub(crate) fn bad_dump(why: &str) -> StoreError {
    StoreError::Invalid(format!("the dump is not usable: {why}"))
}

/// Reads a dumped `YYYY-MM-DD`.
pub(crate) fn dumped_date(text: &str) -> Result<NaiveDate, StoreError> {
    codec::date_from_text(text).map_err(|_| bad_dump(&format!("`{text}` is not a date")))
}

/// Reads a dumped plan duration.
pub(crate) fn dumped_duration(text: &str) -> Result<PlanDuration, StoreError> {
    codec::duration_from_text(text)
        .map_err(|_| bad_dump(&format!("`{text}` is not a plan duration")))
}

/// Reads a dumped toggle value.
pub(crate) fn dumped_toggle(kind: &str, text: &str) -> Result<ToggleValue, StoreError> {
    codec::toggle_from_text(kind, text)
        .map_err(|_| bad_dump(&format!("`{text}` is not a toggle value of type `{kind}`")))
}

/// Reads a dumped key digest.
pub(crate) fn dumped_digest(text: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(text)
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| bad_dump("a license key digest is not 64 hex digits"))
}

/// The refusal of an import into a database that already has data.
pub(crate) fn not_empty() -> StoreError {
    StoreError::Invalid(
        "the database is not empty: import only into a new database (it has products, \
         telemetry or audit entries already)"
            .into(),
    )
}

/// The refusal of a dump made under another license index secret.
pub(crate) fn other_index() -> StoreError {
    StoreError::Invalid(
        "the dump's license keys were indexed with another identity key: import with the \
         identity key of the exported deployment"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(records: u64) -> DumpRecord {
        DumpRecord::End { records }
    }

    fn product() -> DumpRecord {
        DumpRecord::Product {
            id: "telepower".into(),
            min_version: "7.0.9".into(),
            enabled: true,
        }
    }

    #[test]
    fn json_form_is_tagged_and_camel_case() {
        let json = serde_json::to_value(product()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "product", "id": "telepower", "minVersion": "7.0.9", "enabled": true})
        );
        let back: DumpRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, product());
    }

    #[test]
    fn imports_need_order_and_an_honest_end() {
        let mut check = ImportCheck::default();
        check.next(&product()).unwrap();
        check.next(&end(1)).unwrap();
        assert_eq!(check.finish().unwrap().products, 1);

        let mut wrong_count = ImportCheck::default();
        wrong_count.next(&product()).unwrap();
        assert!(wrong_count.next(&end(2)).is_err());

        let mut truncated = ImportCheck::default();
        truncated.next(&product()).unwrap();
        assert!(truncated.finish().is_err());

        let mut backwards = ImportCheck::default();
        backwards
            .next(&DumpRecord::Plan {
                id: "p".into(),
                product_id: "telepower".into(),
                duration: "perpetual".into(),
                seats: 1,
            })
            .unwrap();
        assert!(backwards.next(&product()).is_err());
    }
}
