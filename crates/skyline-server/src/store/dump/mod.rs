//! [`DumpRecord`]: every row of every table in a backend-neutral form, so a
//! deployment moves between backends (`skyline export` on SQLite, `skyline
//! import` on PostgreSQL) with nothing lost: ids, digests, dates, last
//! logins, locks, toggles at every layer, releases, admin tokens (their
//! hashes), the audit log, telemetry and the release artifacts.
//!
//! [`Store::export_dump`](super::Store::export_dump) streams records in
//! [`DumpRecord::ORDER`] from one snapshot and ends with [`DumpRecord::End`];
//! [`Store::import_dump`](super::Store::import_dump) replays them into an
//! empty database in one transaction and commits only after `End` with the
//! right count, so a truncated dump imports nothing.
//!
//! Values keep their stored text forms (dates `YYYY-MM-DD`, durations
//! `months:N`, toggle values with their type, telemetry `data` as the exact
//! JSON text), which both backends read the same way; digests, hashes and
//! signatures are lowercase hex.
//!
//! # Release artifacts
//!
//! An artifact travels as [`DumpRecord::ReleaseBlob`] pieces of at most
//! [`ARTIFACT_PIECE_BYTES`] (base64 in the JSON form), one artifact after
//! the other in digest order, each from offset 0 without gaps;
//! [`ArtifactPieces`] checks that on import and that the bytes hash to the
//! artifact's name. A store that keeps artifacts in its database
//! ([`Store::release_blobs`](super::Store::release_blobs)) exports and
//! imports them itself. Where they are in a directory (SQLite), the store
//! neither writes nor accepts them: `skyline export` adds them from the
//! directory and `skyline import` writes them to the target's storage.

mod artifacts;
mod exports;
mod values;

use base64::Engine;
use serde::{Deserialize, Serialize};

pub use artifacts::{ArtifactPiece, ArtifactPieces};
pub(crate) use exports::EXPORTS;
pub(crate) use values::*;

use super::StoreError;
use crate::domain::Sha256Digest;

/// The most bytes of an artifact one [`DumpRecord::ReleaseBlob`] carries.
pub const ARTIFACT_PIECE_BYTES: usize = 64 * 1024;

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
        /// The app version of its last OK start-session (dumps before
        /// schema 5 have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_version: Option<String>,
        /// When the server last saw it, UNIX seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen_at: Option<i64>,
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
    /// A release (its artifact comes as [`DumpRecord::ReleaseBlob`]s).
    Release {
        /// Its id (kept).
        id: i64,
        /// The product it updates.
        product_id: String,
        /// Its dotted version, as published.
        version: String,
        /// Its platform; `None` for every platform.
        platform: Option<String>,
        /// `stable` or `beta`.
        channel: String,
        /// The file name downloads are saved under.
        file_name: String,
        /// The artifact's size in bytes.
        size: u64,
        /// The artifact's SHA-256, lowercase hex.
        sha256: String,
        /// The identity key's signature over the digest, lowercase hex.
        signature: String,
        /// Withdrawn from downloads.
        yanked: bool,
        /// UNIX seconds.
        published_at: i64,
    },
    /// An admin API token: the hash of its secret, never the secret.
    AdminToken {
        /// The public id.
        id: String,
        /// Its name.
        name: String,
        /// Whether it may only read.
        read_only: bool,
        /// SHA-256 of the secret part, lowercase hex.
        secret_hash: String,
        /// UNIX seconds.
        created_at: i64,
        /// UNIX seconds.
        last_used_at: Option<i64>,
        /// UNIX seconds.
        revoked_at: Option<i64>,
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
        /// Its `eventId` (dumps from before version 3 have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// A piece of a release artifact: `data` (base64) is its bytes from
    /// `offset`. See [`ArtifactPieces`] for the order pieces come in.
    ReleaseBlob {
        /// The artifact's SHA-256, lowercase hex: its name.
        sha256: String,
        /// The artifact's whole size in bytes.
        size: u64,
        /// Where this piece starts.
        offset: u64,
        /// The piece's bytes, base64 (standard, padded).
        data: String,
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
    pub const ORDER: [&'static str; 12] = [
        "setting",
        "product",
        "plan",
        "license",
        "device",
        "toggle",
        "release",
        "adminToken",
        "audit",
        "telemetry",
        "releaseBlob",
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
            DumpRecord::Release { .. } => "release",
            DumpRecord::AdminToken { .. } => "adminToken",
            DumpRecord::Audit { .. } => "audit",
            DumpRecord::Telemetry { .. } => "telemetry",
            DumpRecord::ReleaseBlob { .. } => "releaseBlob",
            DumpRecord::End { .. } => "end",
        }
    }

    /// The [`DumpRecord::ReleaseBlob`]s of `bytes`, found at `offset` in the
    /// artifact `sha256` of `size` bytes: one per [`ARTIFACT_PIECE_BYTES`],
    /// or one empty piece for an empty artifact.
    pub fn artifact_pieces(
        sha256: &Sha256Digest,
        size: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Vec<DumpRecord> {
        let name = hex::encode(sha256);
        let piece = |offset: u64, bytes: &[u8]| DumpRecord::ReleaseBlob {
            sha256: name.clone(),
            size,
            offset,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        };
        if bytes.is_empty() {
            return if size == 0 {
                vec![piece(offset, bytes)]
            } else {
                Vec::new()
            };
        }
        (offset..)
            .step_by(ARTIFACT_PIECE_BYTES)
            .zip(bytes.chunks(ARTIFACT_PIECE_BYTES))
            .map(|(at, part)| piece(at, part))
            .collect()
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
    /// Releases.
    pub releases: u64,
    /// Admin API tokens.
    pub admin_tokens: u64,
    /// Audit entries.
    pub audit: u64,
    /// Telemetry events.
    pub telemetry: u64,
    /// Release artifacts (not records themselves: their pieces are).
    pub artifacts: u64,
    /// Pieces of release artifacts.
    pub artifact_pieces: u64,
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
            DumpRecord::Release { .. } => &mut self.releases,
            DumpRecord::AdminToken { .. } => &mut self.admin_tokens,
            DumpRecord::Audit { .. } => &mut self.audit,
            DumpRecord::Telemetry { .. } => &mut self.telemetry,
            DumpRecord::ReleaseBlob { offset, .. } => {
                if *offset == 0 {
                    self.artifacts += 1;
                }
                &mut self.artifact_pieces
            }
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
            + self.releases
            + self.admin_tokens
            + self.audit
            + self.telemetry
            + self.artifact_pieces
    }
}

/// Keeps an import honest: records in [`DumpRecord::ORDER`], `End` last
/// with the right count, settings that agree with the target's.
#[derive(Debug, Default)]
pub(crate) struct ImportCheck {
    counts: DumpCounts,
    rank: usize,
    ended: bool,
    /// Whether the settings carried the license index secret, or only the
    /// check an earlier version kept of it.
    index_secret: bool,
    legacy_check: bool,
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
        if let DumpRecord::Setting { name, .. } = record {
            self.index_secret |= name == crate::license_index::SECRET_SETTING;
            self.legacy_check |= name == crate::license_index::LEGACY_CHECK_SETTING;
        } else if self.rank == 0 && self.legacy_check && !self.index_secret {
            return Err(bad_dump(
                "it names its license index by a check only (an earlier version made it): \
                 `skyline import` adds the secret when given the identity key",
            ));
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

#[cfg(test)]
mod tests;
