//! Releases: `skyline release …` as HTTP. Publishing streams the request
//! body (the artifact itself, any content type) into the blob store; the
//! metadata comes in the query.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use super::auth::Caller;
use super::{AdminState, ApiRoutes, PathArgs, QueryArgs};
use crate::api_error::ApiError;
use crate::domain::releases::SetReleaseYanked;
use crate::domain::{ReleaseChannel, ReleaseRef};
use crate::releases::{publish, PublishRequest};
use crate::views::ReleaseView;

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .add(
            Method::GET,
            "/admin/products/{product_id}/releases",
            list_releases,
        )
        .add(
            Method::POST,
            "/admin/products/{product_id}/releases",
            publish_release,
        )
        .add(
            Method::POST,
            "/admin/products/{product_id}/releases/{version}/yank",
            yank,
        )
        .add(
            Method::POST,
            "/admin/products/{product_id}/releases/{version}/unyank",
            unyank,
        )
}

type Admin = State<Arc<AdminState>>;

async fn list_releases(
    State(state): Admin,
    PathArgs(product_id): PathArgs<String>,
) -> Result<Json<Vec<ReleaseView>>, ApiError> {
    let releases = state
        .services
        .store
        .list_releases(&product_id)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(releases.iter().map(ReleaseView::from).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublishArgs {
    version: String,
    platform: Option<String>,
    channel: Option<String>,
    file_name: Option<String>,
    min_version: Option<String>,
}

async fn publish_release(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(product_id): PathArgs<String>,
    QueryArgs(args): QueryArgs<PublishArgs>,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(blobs) = state.services.blobs.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "UNSUPPORTED",
            "release storage is off on this server",
        ));
    };
    let channel = match args.channel.as_deref() {
        None => ReleaseChannel::Stable,
        Some(text) => ReleaseChannel::parse(text)
            .ok_or_else(|| ApiError::bad_request("`channel` must be `stable` or `beta`"))?,
    };
    let platform = args.platform.filter(|p| !p.is_empty());
    let file_name = args.file_name.unwrap_or_else(|| match &platform {
        Some(p) => format!("{product_id}-{}-{p}", args.version),
        None => format!("{product_id}-{}", args.version),
    });
    let request = PublishRequest {
        product_id,
        version: args.version,
        platform,
        channel,
        file_name,
        min_version: args.min_version,
    };
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = StreamReader::new(stream);
    let release = publish(
        &state.services.store,
        blobs.as_ref(),
        &state.services.identity,
        &state.actor(&caller),
        request,
        &mut reader,
        state.config.max_upload_bytes,
    )
    .await
    .map_err(ApiError::from_publish)?;
    Ok((StatusCode::CREATED, Json(ReleaseView::from(&release))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformArg {
    platform: Option<String>,
}

async fn set_yanked(
    state: &AdminState,
    caller: &Caller,
    (product_id, version): (String, String),
    platform: Option<String>,
    yanked: bool,
) -> Result<Json<ReleaseView>, ApiError> {
    let command = SetReleaseYanked {
        release: ReleaseRef {
            product_id,
            version,
            platform: platform.filter(|p| !p.is_empty()),
        },
        yanked,
    };
    let release = state
        .services
        .store
        .execute(command, &state.actor(caller))
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(ReleaseView::from(&release)))
}

async fn yank(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(path): PathArgs<(String, String)>,
    QueryArgs(arg): QueryArgs<PlatformArg>,
) -> Result<Json<ReleaseView>, ApiError> {
    set_yanked(&state, &caller, path, arg.platform, true).await
}

async fn unyank(
    State(state): Admin,
    Extension(caller): Extension<Caller>,
    PathArgs(path): PathArgs<(String, String)>,
    QueryArgs(arg): QueryArgs<PlatformArg>,
) -> Result<Json<ReleaseView>, ApiError> {
    set_yanked(&state, &caller, path, arg.platform, false).await
}
