//! Feature toggles: `skyline toggle …` as JSON, plus removing a value.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use skyline_protocol::methods::ToggleValue;

use super::auth::Caller;
use super::licenses::digest;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::store::{ToggleLayer, ToggleScope};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .add(
            Method::GET,
            "/admin/products/{product_id}/toggles",
            list_toggles,
        )
        .add(
            Method::PUT,
            "/admin/products/{product_id}/toggles/{name}",
            set_toggle,
        )
        .add(
            Method::DELETE,
            "/admin/products/{product_id}/toggles/{name}",
            remove_toggle,
        )
}

fn value_json(value: &ToggleValue) -> Json_ {
    match value {
        ToggleValue::Int(i) => json!(i),
        ToggleValue::Float(f) => json!(f),
        ToggleValue::Bool(b) => json!(b),
        ToggleValue::String(s) => json!(s),
    }
}

fn value_from_json(value: &Json_) -> Result<ToggleValue, ApiError> {
    match value {
        Json_::Bool(b) => Ok(ToggleValue::Bool(*b)),
        Json_::String(s) => Ok(ToggleValue::String(s.clone())),
        Json_::Number(n) => n
            .as_i64()
            .map(ToggleValue::Int)
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(ToggleValue::Float))
            .ok_or_else(|| ApiError::bad_request("`value` is out of range")),
        _ => Err(ApiError::bad_request(
            "`value` must be an integer, a float, a boolean or a string",
        )),
    }
}

fn layer_json(layer: &ToggleLayer) -> Json_ {
    match layer {
        ToggleLayer::Product => json!({"scope": "product"}),
        ToggleLayer::Plan(plan) => json!({"scope": "plan", "plan": plan}),
        ToggleLayer::License {
            license_id,
            key_suffix,
        } => json!({"scope": "license", "licenseId": license_id, "key": key_suffix}),
    }
}

/// Where a value is set: the product, one plan (`plan`) or one key (`license`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    plan: Option<String>,
    license: Option<String>,
}

fn scope(
    state: &AdminState,
    plan: Option<String>,
    license: Option<&str>,
) -> Result<ToggleScope, ApiError> {
    match (plan, license) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("give `plan` or `license`, not both")),
        (Some(plan), None) => Ok(ToggleScope::Plan(plan)),
        (None, Some(key)) => Ok(ToggleScope::License(digest(state, key)?)),
        (None, None) => Ok(ToggleScope::Product),
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::bad_request(
            "a toggle name must be 1 to 128 characters",
        ));
    }
    Ok(())
}

type Admin = State<Arc<AdminState>>;

async fn list_toggles(
    State(state): Admin,
    PathArgs(product_id): PathArgs<String>,
) -> Result<Json<Json_>, ApiError> {
    let settings = state
        .services
        .store
        .list_toggles(&product_id)
        .await
        .map_err(ApiError::from_store)?;
    let rows: Vec<Json_> = settings
        .iter()
        .map(|s| {
            let mut row = layer_json(&s.layer);
            row["name"] = json!(s.name);
            row["value"] = value_json(&s.value);
            row
        })
        .collect();
    Ok(Json(Json_::Array(rows)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewValue {
    value: Json_,
    plan: Option<String>,
    license: Option<String>,
}

async fn set_toggle(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs((product_id, name)): PathArgs<(String, String)>,
    JsonBody(body): JsonBody<NewValue>,
) -> Result<Json<Json_>, ApiError> {
    check_name(&name)?;
    let value = value_from_json(&body.value)?;
    let scope = scope(&state, body.plan, body.license.as_deref())?;
    state
        .services
        .store
        .set_toggle(
            &state.actor(&caller),
            &product_id,
            scope,
            &name,
            value.clone(),
        )
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(json!({"name": name, "value": value_json(&value)})))
}

async fn remove_toggle(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs((product_id, name)): PathArgs<(String, String)>,
    QueryArgs(where_): QueryArgs<Scope>,
) -> Result<Json<Json_>, ApiError> {
    check_name(&name)?;
    let scope = scope(&state, where_.plan, where_.license.as_deref())?;
    let removed = state
        .services
        .store
        .remove_toggle(&state.actor(&caller), &product_id, scope, &name)
        .await
        .map_err(ApiError::from_store)?;
    if !removed {
        return Err(ApiError::not_found(
            "NOT_FOUND",
            format!("toggle `{name}` is not set there"),
        ));
    }
    Ok(Json(json!({"removed": true})))
}
