//! Products and plans: `skyline product …` and `skyline plan …` as JSON.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::domain::catalog::{duration_of, CreatePlan, CreateProduct, UpdateProduct};
use crate::domain::Plan;
use crate::views::{NewPlan, NewProduct, PlanView, ProductChange, ProductView};

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

type Admin = State<Arc<AdminState>>;

async fn list_products(State(state): Admin) -> Result<Json<Vec<ProductView>>, ApiError> {
    let products = state
        .services
        .store
        .list_products()
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(products.iter().map(ProductView::from).collect()))
}

async fn create_product(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewProduct>,
) -> Result<Response, ApiError> {
    let command = CreateProduct {
        id: body.id,
        min_version: body.min_version,
    };
    let product = state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok((StatusCode::CREATED, Json(ProductView::from(&product))).into_response())
}

async fn show_product(
    State(state): Admin,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<ProductView>, ApiError> {
    let product = state
        .services
        .store
        .find_product(&id)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(ProductView::from(&product)))
}

async fn update_product(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(id): PathArgs<String>,
    JsonBody(body): JsonBody<ProductChange>,
) -> Result<Json<ProductView>, ApiError> {
    let command = UpdateProduct {
        id,
        min_version: body.min_version,
        enabled: body.enabled,
    };
    let product = state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(ProductView::from(&product)))
}

#[derive(Debug, Deserialize)]
struct ProductFilter {
    product: Option<String>,
}

async fn list_plans(
    State(state): Admin,
    QueryArgs(filter): QueryArgs<ProductFilter>,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let plans = state
        .services
        .store
        .list_plans(filter.product.as_deref())
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(plans.iter().map(PlanView::from).collect()))
}

async fn create_plan(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<NewPlan>,
) -> Result<Response, ApiError> {
    let duration =
        duration_of(body.months, body.days, body.perpetual).map_err(ApiError::from_domain)?;
    let plan = Plan {
        id: body.id,
        product_id: body.product,
        duration,
        seats: body.devices.unwrap_or(1),
    };
    let plan = state
        .services
        .store
        .execute(CreatePlan(plan), &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok((StatusCode::CREATED, Json(PlanView::from(&plan))).into_response())
}
