//! Feature toggles: `skyline toggle …` as JSON, plus removing a value.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use skyline_protocol::methods::ToggleValue;

use super::auth::Caller;
use super::licenses::digest;
use super::{AdminState, ApiRoutes, JsonBody, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::domain::toggles::{RemoveToggle, SetToggle};
use crate::domain::ToggleScope;
use crate::views::{NewToggleValue, Removed, ToggleSet, ToggleValueView, ToggleView};

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

type Admin = State<Arc<AdminState>>;

async fn list_toggles(
    State(state): Admin,
    PathArgs(product_id): PathArgs<String>,
) -> Result<Json<Vec<ToggleView>>, ApiError> {
    let settings = state
        .services
        .store
        .list_toggles(&product_id)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(settings.iter().map(ToggleView::from).collect()))
}

async fn set_toggle(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs((product_id, name)): PathArgs<(String, String)>,
    JsonBody(body): JsonBody<NewToggleValue>,
) -> Result<Json<ToggleSet>, ApiError> {
    let value = ToggleValue::from(body.value);
    let command = SetToggle {
        scope: scope(&state, body.plan, body.license.as_deref())?,
        product_id,
        name: name.clone(),
        value: value.clone(),
    };
    state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(ToggleSet {
        name,
        value: ToggleValueView::from(&value),
    }))
}

async fn remove_toggle(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs((product_id, name)): PathArgs<(String, String)>,
    QueryArgs(where_): QueryArgs<Scope>,
) -> Result<Json<Removed>, ApiError> {
    let command = RemoveToggle {
        scope: scope(&state, where_.plan, where_.license.as_deref())?,
        product_id,
        name: name.clone(),
    };
    let removed = state
        .services
        .store
        .execute(command, &state.actor(&caller))
        .await
        .map_err(ApiError::from_store)?;
    if !removed {
        return Err(ApiError::not_found(
            "NOT_FOUND",
            format!("toggle `{name}` is not set there"),
        ));
    }
    Ok(Json(Removed { removed: true }))
}
