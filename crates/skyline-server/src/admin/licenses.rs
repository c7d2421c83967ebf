//! License keys: `skyline license …` as JSON. Keys are created here (bulk),
//! returned once in the response, and from then on only their digest is kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use skyline_protocol::dates::{format_date, parse_date};
use skyline_protocol::license_key;

use super::auth::Caller;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::license_index::LicenseDigest;
use crate::store::{LicenseInfo, NewLicense};

/// Most keys one request may create.
pub const MAX_KEYS_PER_REQUEST: u32 = 10_000;

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
    license_key::normalize(typed)
        .map(|key| state.services.license_index.digest(&key))
        .ok_or_else(|| {
            ApiError::bad_request(
                "not a license key: expected 25 letters and digits, XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
            )
        })
}

/// A license as the API shows it (never the key, only its last group).
pub(super) fn license_json(l: &LicenseInfo) -> Json_ {
    json!({
        "id": l.id, "product": l.product_id, "plan": l.plan_id, "key": l.key_suffix,
        "status": l.status.as_str(),
        "activationDate": l.activation_date.map(format_date),
        "expiryDate": l.expiry_date.map(format_date),
        "devices": l.devices.iter().map(|d| json!({
            "serialNumber": d.serial_number, "csProductUUID": d.cs_product_uuid,
            "boundOn": format_date(d.bound_on), "lastLogin": d.last_login,
            "previousLastLogin": d.previous_last_login, "locked": d.locked,
        })).collect::<Vec<_>>(),
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
) -> Result<Json<Json_>, ApiError> {
    let licenses = state
        .services
        .store
        .list_licenses(filter.product.as_deref())
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(licenses.iter().map(license_json).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLicenses {
    plan: String,
    count: Option<u32>,
}

async fn create_licenses(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewLicenses>,
) -> Result<Response, ApiError> {
    let count = body.count.unwrap_or(1);
    if !(1..=MAX_KEYS_PER_REQUEST).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "`count` must be 1 to {MAX_KEYS_PER_REQUEST}"
        )));
    }
    let mut keys = Vec::with_capacity(count as usize);
    let mut new = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = license_key::generate()
            .map_err(|_| ApiError::internal(&"the system random generator failed"))?;
        new.push(NewLicense {
            digest: state.services.license_index.digest(&key),
            last_group: license_key::last_group(&key).to_owned(),
        });
        keys.push(key);
    }
    state
        .services
        .store
        .create_licenses(&state.actor(&caller), &body.plan, new)
        .await
        .map_err(ApiError::from_store)?;
    // The keys are shown only now that they are committed, and never again.
    let body = json!({"plan": body.plan, "keys": keys});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn show_license(
    State(state): Admin,
    PathArgs(key): PathArgs<String>,
) -> Result<Json<Json_>, ApiError> {
    let info = state
        .services
        .store
        .find_license(&digest(&state, &key)?)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(license_json(&info)))
}

async fn revoke_license(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
) -> Result<Json<Json_>, ApiError> {
    state
        .services
        .store
        .revoke_license(&state.actor(&caller), &digest(&state, &key)?)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(json!({"revoked": true})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceChoice {
    /// Only this device (serial number); default: every device of the key.
    device: Option<String>,
}

async fn reset_device(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
    body: Bytes,
) -> Result<Json<Json_>, ApiError> {
    // The body is optional: none (or `{}`) resets every device.
    let choice: DeviceChoice = if body.iter().all(u8::is_ascii_whitespace) {
        DeviceChoice::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let reset = state
        .services
        .store
        .reset_device(
            &state.actor(&caller),
            &digest(&state, &key)?,
            choice.device.as_deref(),
        )
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
    Ok(Json(json!({"reset": reset})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expiry {
    expiry_date: String,
}

async fn set_expiry(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(key): PathArgs<String>,
    JsonBody(body): JsonBody<Expiry>,
) -> Result<Json<Json_>, ApiError> {
    let date = parse_date(&body.expiry_date).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not a date; use YYYY-MM-DD",
            body.expiry_date
        ))
    })?;
    state
        .services
        .store
        .set_expiry(&state.actor(&caller), &digest(&state, &key)?, date)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(json!({"expiryDate": format_date(date)})))
}
