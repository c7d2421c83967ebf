//! Products and plans: `skyline product …` and `skyline plan …` as JSON.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::version::Version;

use super::auth::Caller;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::store::{Plan, Product};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .add(Method::GET, "/admin/products", list_products)
        .add(Method::POST, "/admin/products", create_product)
        .add(Method::GET, "/admin/products/{product_id}", show_product)
        .add(
            Method::PATCH,
            "/admin/products/{product_id}",
            update_product,
        )
        .add(Method::GET, "/admin/plans", list_plans)
        .add(Method::POST, "/admin/plans", create_plan)
}

/// A product as the API shows it.
pub(super) fn product_json(p: &Product) -> Json_ {
    json!({"id": p.id, "minVersion": p.min_version, "enabled": p.enabled})
}

/// A plan as the API shows it.
pub(super) fn plan_json(p: &Plan) -> Json_ {
    let (months, days) = match p.duration {
        PlanDuration::Months(m) => (Some(m), None),
        PlanDuration::Days(d) => (None, Some(d)),
        PlanDuration::Perpetual => (None, None),
    };
    json!({"id": p.id, "product": p.product_id, "months": months, "days": days,
           "perpetual": p.duration == PlanDuration::Perpetual, "devices": p.seats})
}

fn check_version(text: &str) -> Result<(), ApiError> {
    Version::parse(text)
        .map(drop)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

type Admin = State<Arc<AdminState>>;

async fn list_products(State(state): Admin) -> Result<Json<Json_>, ApiError> {
    let products = state
        .services
        .store
        .list_products()
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(products.iter().map(product_json).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewProduct {
    id: String,
    min_version: String,
}

async fn create_product(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewProduct>,
) -> Result<Response, ApiError> {
    check_version(&body.min_version)?;
    let product = state
        .services
        .store
        .create_product(&state.actor(&caller), &body.id, &body.min_version)
        .await
        .map_err(ApiError::from_store)?;
    Ok((StatusCode::CREATED, Json(product_json(&product))).into_response())
}

/// The product with this id, or a 404.
pub(super) async fn find_product(state: &AdminState, id: &str) -> Result<Product, ApiError> {
    let products = state
        .services
        .store
        .list_products()
        .await
        .map_err(ApiError::from_store)?;
    products
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found("NOT_FOUND", format!("product `{id}` not found")))
}

async fn show_product(
    State(state): Admin,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<Json_>, ApiError> {
    Ok(Json(product_json(&find_product(&state, &id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProductChange {
    min_version: Option<String>,
    enabled: Option<bool>,
}

async fn update_product(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(id): PathArgs<String>,
    JsonBody(body): JsonBody<ProductChange>,
) -> Result<Json<Json_>, ApiError> {
    if body.min_version.is_none() && body.enabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give `minVersion` and/or `enabled`",
        ));
    }
    let store = &state.services.store;
    let mut product = find_product(&state, &id).await?;
    if let Some(min) = &body.min_version {
        check_version(min)?;
        product = store
            .set_min_version(&state.actor(&caller), &id, min)
            .await
            .map_err(ApiError::from_store)?;
    }
    if let Some(enabled) = body.enabled {
        product = store
            .set_product_enabled(&state.actor(&caller), &id, enabled)
            .await
            .map_err(ApiError::from_store)?;
    }
    Ok(Json(product_json(&product)))
}

#[derive(Debug, Deserialize)]
struct ProductFilter {
    product: Option<String>,
}

async fn list_plans(
    State(state): Admin,
    QueryArgs(filter): QueryArgs<ProductFilter>,
) -> Result<Json<Json_>, ApiError> {
    let plans = state
        .services
        .store
        .list_plans(filter.product.as_deref())
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(plans.iter().map(plan_json).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewPlan {
    id: String,
    product: String,
    months: Option<u32>,
    days: Option<u32>,
    #[serde(default)]
    perpetual: bool,
    devices: Option<u32>,
}

async fn create_plan(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewPlan>,
) -> Result<Response, ApiError> {
    let duration = match (body.months, body.days, body.perpetual) {
        (Some(m), None, false) if m > 0 => PlanDuration::Months(m),
        (None, Some(d), false) if d > 0 => PlanDuration::Days(d),
        (None, None, true) => PlanDuration::Perpetual,
        _ => return Err(ApiError::bad_request(
            "give exactly one of `months` (at least 1), `days` (at least 1) or `perpetual: true`",
        )),
    };
    let seats = body.devices.unwrap_or(1);
    if seats == 0 {
        return Err(ApiError::bad_request("a plan needs at least 1 device seat"));
    }
    let plan = Plan {
        id: body.id,
        product_id: body.product,
        duration,
        seats,
    };
    state
        .services
        .store
        .create_plan(&state.actor(&caller), plan.clone())
        .await
        .map_err(ApiError::from_store)?;
    Ok((StatusCode::CREATED, Json(plan_json(&plan))).into_response())
}
