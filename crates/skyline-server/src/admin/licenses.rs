//! License keys: `skyline license …` as JSON. Keys are created here (bulk),
//! returned once in the response, and from then on only their digest is kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use skyline_protocol::dates::{format_date, parse_date};

use super::auth::Caller;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::domain::catalog::{CreateLicenses, MAX_KEYS_PER_COMMAND};
use crate::domain::licenses::{ResetDevices, RevokeLicense, SetExpiry};
use crate::domain::DeviceSelector;
use crate::license_index::LicenseDigest;
use crate::views::{
    CreatedLicenses, DeviceChoice, Expiry, LicenseView, NewLicenses, Reset, Revoked,
};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .add(Method::GET, "/admin/licenses", list_licenses)
        .add(Method::POST, "/admin/licenses", create_licenses)
        .add(Method::GET, "/admin/licenses/{key}", show_license)
        .add(Method::POST, "/admin/licenses/{key}/revoke", revoke_license)
        .add(
            Method::POST,
            "/admin/licenses/{key}/reset-device",
            reset_device,
        )
        .add(Method::PUT, "/admin/licenses/{key}/expiry", set_expiry)
}

/// The digest of a key typed by an API client, or a 400.
pub(super) fn digest(state: &AdminState, typed: &str) -> Result<LicenseDigest, ApiError> {
    state
        .services
        .store
        .license_index()
        .digest_typed(typed)
        .ok_or_else(|| {
            ApiError::bad_request(
                "not a license key: expected 25 letters and digits, XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
            )
        })
}

type Admin = State<Arc<AdminState>>;

#[derive(Debug, Deserialize)]
struct ProductFilter {
    product: Option<String>,
}

async fn list_licenses(
    State(state): Admin,
    QueryArgs(filter): QueryArgs<ProductFilter>,
) -> Result<Json<Vec<LicenseView>>, ApiError> {
    let licenses = state
        .services
        .store
        .list_licenses(filter.product.as_deref())
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(licenses.iter().map(LicenseView::from).collect()))
}

async fn create_licenses(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewLicenses>,
) -> Result<Response, ApiError> {
    let count = body.count.unwrap_or(1) as usize;
    if !(1..=MAX_KEYS_PER_COMMAND).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "`count` must be 1 to {MAX_KEYS_PER_COMMAND}"
        )));
    }
    let store = &state.services.store;
    let (keys, records) = store
        .license_index()
        .generate_keys(count)
        .map_err(|e| ApiError::internal(&e))?;
    let command = CreateLicenses {
        plan_id: body.plan.clone(),
        keys: records,
    };
    store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    // The keys are shown only now that they are committed, and never again.
    let created = CreatedLicenses {
        plan: body.plan,
        keys: keys.iter().map(|k| k.to_string()).collect(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn show_license(
    State(state): Admin,
    PathArgs(key): PathArgs<String>,
) -> Result<Json<LicenseView>, ApiError> {
    let info = state
        .services
        .store
        .find_license(&digest(&state, &key)?)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(LicenseView::from(&info)))
}

async fn revoke_license(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
) -> Result<Json<Revoked>, ApiError> {
    let command = RevokeLicense {
        license: digest(&state, &key)?,
    };
    state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(Revoked { revoked: true }))
}

async fn reset_device(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
    body: Bytes,
) -> Result<Json<Reset>, ApiError> {
    // The body is optional: none (or `{}`) resets every device.
    let choice: DeviceChoice = if body.iter().all(u8::is_ascii_whitespace) {
        DeviceChoice::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let command = ResetDevices {
        license: digest(&state, &key)?,
        which: match &choice.device {
            Some(serial) => DeviceSelector::Serial(serial.clone()),
            None => DeviceSelector::All,
        },
    };
    let reset = state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    if reset == 0 {
        return Err(ApiError::not_found(
            "NOT_FOUND",
            match choice.device {
                Some(serial) => format!("no device `{serial}` is bound to this key"),
                None => "no device is bound to this key".into(),
            },
        ));
    }
    Ok(Json(Reset { reset }))
}

async fn set_expiry(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
    JsonBody(body): JsonBody<Expiry>,
) -> Result<Json<Expiry>, ApiError> {
    let date = parse_date(&body.expiry_date).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not a date; use YYYY-MM-DD",
            body.expiry_date
        ))
    })?;
    let command = SetExpiry {
        license: digest(&state, &key)?,
        expiry: date,
    };
    state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(Expiry {
        expiry_date: format_date(date),
    }))
}
