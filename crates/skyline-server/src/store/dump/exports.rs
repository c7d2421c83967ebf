//! Rows into records, written once: each backend selects every table in
//! dump order with the columns listed here, in its own SQL, and maps each
//! row with the function beside it.

use super::DumpRecord;
use crate::store::rows::Columns;
use crate::store::StoreError;

/// A table's columns in dump order, and how one of its rows becomes a record.
pub(crate) struct Export {
    /// The table.
    pub table: &'static str,
    /// The columns to select, in the order the mapper reads them.
    pub columns: &'static str,
    /// The row mapper.
    pub record: fn(&dyn Columns) -> Result<DumpRecord, StoreError>,
}

impl Export {
    /// The `SELECT` of every row of the table, in the backend's `order`.
    pub fn select(&self, order: &str) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {order}",
            self.columns, self.table
        )
    }
}

/// Every table, in [`DumpRecord::ORDER`].
pub(crate) const EXPORTS: [Export; 10] = [
    Export {
        table: "settings",
        columns: "name, value",
        record: |r| {
            Ok(DumpRecord::Setting {
                name: r.text(0)?,
                value: r.text(1)?,
            })
        },
    },
    Export {
        table: "products",
        columns: "id, min_version, enabled",
        record: |r| {
            Ok(DumpRecord::Product {
                id: r.text(0)?,
                min_version: r.text(1)?,
                enabled: r.flag(2)?,
            })
        },
    },
    Export {
        table: "plans",
        columns: "id, product_id, duration, seats",
        record: |r| {
            Ok(DumpRecord::Plan {
                id: r.text(0)?,
                product_id: r.text(1)?,
                duration: r.text(2)?,
                seats: r.count(3)?,
            })
        },
    },
    Export {
        table: "licenses",
        columns: "id, key_digest, key_last_group, plan_id, status, activation_date, expiry_date",
        record: |r| {
            Ok(DumpRecord::License {
                id: r.int(0)?,
                key_digest: hex::encode(r.bytes(1)?),
                key_last_group: r.text(2)?,
                plan_id: r.text(3)?,
                status: r.text(4)?,
                activation_date: r.opt_date(5)?.map(skyline_protocol::dates::format_date),
                expiry_date: r.opt_date(6)?.map(skyline_protocol::dates::format_date),
            })
        },
    },
    Export {
        table: "devices",
        columns: "license_id, serial_number, cs_product_uuid, bound_on, last_login, \
                  previous_last_login, locked, last_version, last_seen_at",
        record: |r| {
            Ok(DumpRecord::Device {
                license_id: r.int(0)?,
                serial_number: r.text(1)?,
                cs_product_uuid: r.text(2)?,
                bound_on: skyline_protocol::dates::format_date(r.date(3)?),
                last_login: r.opt_int(4)?,
                previous_last_login: r.opt_int(5)?,
                locked: r.flag(6)?,
                last_version: r.opt_text(7)?,
                last_seen_at: r.opt_int(8)?,
            })
        },
    },
    Export {
        table: "toggles",
        columns: "id, product_id, scope, plan_id, license_id, name, value_type, value",
        record: |r| {
            Ok(DumpRecord::Toggle {
                id: r.int(0)?,
                product_id: r.text(1)?,
                scope: r.text(2)?,
                plan_id: r.opt_text(3)?,
                license_id: r.opt_int(4)?,
                name: r.text(5)?,
                value_type: r.text(6)?,
                value: r.text(7)?,
            })
        },
    },
    Export {
        table: "releases",
        columns: "id, product_id, version, platform, channel, file_name, size, sha256, \
                  signature, yanked, published_at",
        record: |r| {
            let platform = r.text(3)?;
            Ok(DumpRecord::Release {
                id: r.int(0)?,
                product_id: r.text(1)?,
                version: r.text(2)?,
                platform: (!platform.is_empty()).then_some(platform),
                channel: r.text(4)?,
                file_name: r.text(5)?,
                size: u64::try_from(r.int(6)?).map_err(|_| {
                    crate::store::error::corrupt("a stored release size is negative")
                })?,
                sha256: hex::encode(r.bytes(7)?),
                signature: hex::encode(r.bytes(8)?),
                yanked: r.flag(9)?,
                published_at: r.int(10)?,
            })
        },
    },
    Export {
        table: "admin_tokens",
        columns: "id, name, read_only, secret_hash, created_at, last_used_at, revoked_at",
        record: |r| {
            Ok(DumpRecord::AdminToken {
                id: r.text(0)?,
                name: r.text(1)?,
                read_only: r.flag(2)?,
                secret_hash: hex::encode(r.bytes(3)?),
                created_at: r.int(4)?,
                last_used_at: r.opt_int(5)?,
                revoked_at: r.opt_int(6)?,
            })
        },
    },
    Export {
        table: "audit_log",
        columns: "id, at, actor, action, product_id, license_id, detail",
        record: |r| {
            Ok(DumpRecord::Audit {
                id: r.int(0)?,
                at: r.int(1)?,
                actor: r.text(2)?,
                action: r.text(3)?,
                product_id: r.opt_text(4)?,
                license_id: r.opt_int(5)?,
                detail: r.text(6)?,
            })
        },
    },
    Export {
        table: "telemetry",
        columns: "id, license_id, product_id, event, data, client_time, received_at, event_id",
        record: |r| {
            Ok(DumpRecord::Telemetry {
                id: r.int(0)?,
                license_id: r.int(1)?,
                product_id: r.text(2)?,
                event: r.text(3)?,
                data: r.opt_text(4)?,
                client_time: r.int(5)?,
                received_at: r.int(6)?,
                event_id: r.opt_text(7)?,
            })
        },
    },
];
