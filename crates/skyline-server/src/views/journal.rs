//! The audit log and telemetry, one page or streamed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{AuditRecord, TelemetryRow};

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
    /// Its `eventId`, if the app gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
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
            event_id: r.event_id.clone(),
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
