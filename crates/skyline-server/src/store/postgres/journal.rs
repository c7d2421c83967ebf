//! The append-only tables, read side and audit: the audit log and telemetry
//! pages. Telemetry writes go through [`super::telemetry`].

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::pg_error;
use super::rows::{self, get};
use crate::store::{
    key_suffix, Actor, AuditAction, AuditEntry, AuditFilter, AuditRecord, StoreError,
    TelemetryQuery, TelemetryRow,
};

/// Appends one audit entry inside the caller's transaction.
pub(super) async fn audit<C: GenericClient>(
    c: &C,
    by: &Actor,
    action: &AuditAction,
    product_id: Option<&str>,
    license_id: Option<i64>,
    detail: &str,
) -> Result<(), StoreError> {
    rows::execute(
        c,
        "INSERT INTO audit_log (at, actor, action, product_id, license_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &by.at,
            &by.name,
            &action.as_str(),
            &product_id,
            &license_id,
            &detail,
        ],
    )
    .await
    .map(drop)
    .map_err(pg_error)
}

/// [`Store::append_audit`](crate::store::Store::append_audit).
pub(super) async fn append_audit<C: GenericClient>(
    c: &C,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let license_id = match &entry.license {
        Some(digest) => Some(rows::require_license(c, digest).await?.id),
        None => None,
    };
    audit(
        c,
        &entry.actor,
        &entry.action,
        entry.product_id.as_deref(),
        license_id,
        &entry.detail,
    )
    .await
}

/// [`Store::list_audit`](crate::store::Store::list_audit).
pub(super) async fn list_audit<C: GenericClient>(
    c: &C,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    let license_id = match &filter.license {
        Some(digest) => Some(rows::require_license(c, digest).await?.id),
        None => None,
    };
    let limit = filter.limit.map(i64::from);
    // The newest `limit` entries, returned oldest first.
    let sql = "SELECT * FROM (\
         SELECT a.id, a.at, a.actor, a.action, a.product_id, a.license_id, l.key_last_group, \
         a.detail FROM audit_log a LEFT JOIN licenses l ON l.id = a.license_id \
         WHERE ($1::BIGINT IS NULL OR a.license_id = $1) AND ($2::BIGINT IS NULL OR a.at >= $2) \
         ORDER BY a.id DESC LIMIT $3) newest ORDER BY id";
    let params: [&(dyn ToSql + Sync); 3] = [&license_id, &filter.since, &limit];
    rows::query(c, sql, &params)
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| {
            Ok(AuditRecord {
                id: get(row, 0)?,
                at: get(row, 1)?,
                actor: get(row, 2)?,
                action: AuditAction::parse(get(row, 3)?),
                product_id: get(row, 4)?,
                license_id: get(row, 5)?,
                key_suffix: get::<Option<&str>>(row, 6)?.map(key_suffix),
                detail: get(row, 7)?,
            })
        })
        .collect()
}

/// [`Store::export_telemetry`](crate::store::Store::export_telemetry).
pub(super) async fn export_telemetry<C: GenericClient>(
    c: &C,
    query: &TelemetryQuery,
) -> Result<Vec<TelemetryRow>, StoreError> {
    let params: [&(dyn ToSql + Sync); 4] = [
        &query.product_id,
        &query.after_id.unwrap_or(0),
        &query.since.unwrap_or(i64::MIN),
        &i64::from(query.limit),
    ];
    rows::query(
        c,
        "SELECT id, license_id, event, data, client_time, received_at FROM telemetry \
         WHERE product_id = $1 AND id > $2 AND received_at >= $3 ORDER BY id LIMIT $4",
        &params,
    )
    .await
    .map_err(pg_error)?
    .iter()
    .map(|row| {
        let data = get::<Option<&str>>(row, 3)?
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::Backend(format!("stored telemetry data: {e}")))?;
        Ok(TelemetryRow {
            id: get(row, 0)?,
            license_id: get(row, 1)?,
            event: get(row, 2)?,
            data,
            client_time: get(row, 4)?,
            received_at: get(row, 5)?,
        })
    })
    .collect()
}
