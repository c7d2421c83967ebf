//! Telemetry (one page as JSON, or the whole export streamed as JSON lines or
//! CSV), the audit log, and the list and revocation of admin tokens.
//!
//! Tokens are created only with `skyline admin-token create` on the server's
//! machine, never through the API, so a leaked token cannot mint others.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use serde::Deserialize;

use super::auth::Caller;
use super::licenses::digest;
use super::{since_arg, AdminState, ApiRoutes, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::domain::tokens::RevokeAdminToken;
use crate::domain::{AuditFilter, TelemetryQuery};
use crate::store::Store;
use crate::views::{
    export_line, AdminTokenView, AuditView, ExportFormat, TelemetryEventView, TelemetryPage,
    CSV_HEADER,
};

/// Rows per page: the default and the most of a telemetry or audit query.
const DEFAULT_PAGE: u32 = 1_000;
const MAX_PAGE: u32 = 10_000;

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .add(
            Method::GET,
            "/admin/products/{product_id}/telemetry",
            query_telemetry,
        )
        .add(
            Method::GET,
            "/admin/products/{product_id}/telemetry/export",
            export_telemetry,
        )
        .add(Method::GET, "/admin/audit", list_audit)
        .add(Method::GET, "/admin/tokens", list_tokens)
        .add(
            Method::POST,
            "/admin/tokens/{token_id}/revoke",
            revoke_token,
        )
}

fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_PAGE}"
        ))),
    }
}

type Admin = State<Arc<AdminState>>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TelemetryArgs {
    since: Option<String>,
    after_id: Option<i64>,
    limit: Option<u32>,
}

async fn query_telemetry(
    State(state): Admin,
    PathArgs(product_id): PathArgs<String>,
    QueryArgs(args): QueryArgs<TelemetryArgs>,
) -> Result<Json<TelemetryPage>, ApiError> {
    let limit = page_size(args.limit)?;
    let rows = state
        .services
        .store
        .export_telemetry(TelemetryQuery {
            product_id,
            since: since_arg(args.since.as_deref())?,
            after_id: args.after_id,
            limit,
        })
        .await
        .map_err(ApiError::from_store)?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(TelemetryPage {
        events: rows.iter().map(TelemetryEventView::from).collect(),
        next_after_id: next,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportArgs {
    since: Option<String>,
    format: Option<String>,
}

/// Where a streamed export is: the next page starts after `after_id`.
struct ExportCursor {
    store: Store,
    query: TelemetryQuery,
    format: ExportFormat,
    header: bool,
    done: bool,
}

async fn next_page(
    mut cursor: ExportCursor,
) -> Option<(Result<String, std::io::Error>, ExportCursor)> {
    if cursor.done {
        return None;
    }
    let mut chunk = String::new();
    if cursor.header {
        cursor.header = false;
        if cursor.format == ExportFormat::Csv {
            chunk.push_str(CSV_HEADER);
        }
    }
    match cursor.store.export_telemetry(cursor.query.clone()).await {
        Ok(rows) => {
            for row in &rows {
                chunk.push_str(&export_line(row, cursor.format));
            }
            match rows.last() {
                Some(last) if rows.len() == cursor.query.limit as usize => {
                    cursor.query.after_id = Some(last.id)
                }
                _ => cursor.done = true,
            }
            Some((Ok(chunk), cursor))
        }
        Err(e) => {
            // Headers are gone already: end the body with an error.
            tracing::error!(error = %e, "a telemetry export failed mid-stream");
            cursor.done = true;
            Some((Err(std::io::Error::other("the export failed")), cursor))
        }
    }
}

async fn export_telemetry(
    State(state): Admin,
    PathArgs(product_id): PathArgs<String>,
    QueryArgs(args): QueryArgs<ExportArgs>,
) -> Result<Response, ApiError> {
    let format = match args.format.as_deref() {
        None | Some("jsonl") => ExportFormat::Jsonl,
        Some("csv") => ExportFormat::Csv,
        Some(_) => return Err(ApiError::bad_request("`format` must be `jsonl` or `csv`")),
    };
    let cursor = ExportCursor {
        store: state.services.store.clone(),
        query: TelemetryQuery {
            product_id,
            since: since_arg(args.since.as_deref())?,
            after_id: None,
            limit: 5_000,
        },
        format,
        header: true,
        done: false,
    };
    let content_type = match format {
        ExportFormat::Jsonl => "application/x-ndjson",
        ExportFormat::Csv => "text/csv; charset=utf-8",
    };
    let body = Body::from_stream(stream::unfold(cursor, next_page));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditArgs {
    license: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
}

async fn list_audit(
    State(state): Admin,
    QueryArgs(args): QueryArgs<AuditArgs>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let filter = AuditFilter {
        license: args
            .license
            .as_deref()
            .map(|k| digest(&state, k))
            .transpose()?,
        since: since_arg(args.since.as_deref())?,
        limit: Some(page_size(args.limit)?),
    };
    let records = state
        .services
        .store
        .list_audit(filter)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(records.iter().map(AuditView::from).collect()))
}

async fn list_tokens(State(state): Admin) -> Result<Json<Vec<AdminTokenView>>, ApiError> {
    let tokens = state
        .services
        .store
        .list_admin_tokens()
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(tokens.iter().map(AdminTokenView::from).collect()))
}

async fn revoke_token(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(token_id): PathArgs<String>,
) -> Result<Json<AdminTokenView>, ApiError> {
    let token = state
        .services
        .store
        .execute(RevokeAdminToken { id: token_id }, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(AdminTokenView::from(&token)))
}
