//! The admin HTTP API: everything the operator CLI does, as JSON over HTTP,
//! on its own listener (by default `127.0.0.1:7701`), for shops and billing
//! systems.
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | [`serve`], [`AdminConfig`], the router and its route list, request extractors |
//! | [`auth`] | bearer tokens: format, hashing, the middleware (401/403/429), token-use audit |
//! | `catalog` | products and plans |
//! | `licenses` | license keys: bulk create, show, list, revoke, reset-device, expiry |
//! | `toggles` | feature toggles |
//! | `releases` | publish (upload body), list, yank and unyank releases |
//! | `journal` | telemetry query and export, the audit log, admin tokens |
//! | [`openapi`] | the OpenAPI 3 document served at `/admin/openapi.json` |
//!
//! Every route except the OpenAPI document needs `Authorization: Bearer
//! TOKEN` (a token from `skyline admin-token create`). Read-only tokens may
//! only `GET`. Errors are [`ApiError`] JSON with a stable code. Every
//! authenticated request is written to the audit log, and every change is
//! audited by the store under the actor `admin:<token name>`.

pub mod auth;
mod catalog;
mod journal;
mod licenses;
pub mod openapi;
mod releases;
mod toggles;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter};
use axum::serve::Listener;
use axum::Router;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::api_error::ApiError;
use crate::domain::Actor;
use crate::limits::HttpLimits;
use crate::rate_limit::RateLimiter;
use crate::releases::DEFAULT_MAX_ARTIFACT_BYTES;
use crate::security::SecurityLog;
use crate::Services;

/// The admin API's default address: loopback only.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7701);

/// Settings of the admin API, built by the binary.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Requests per minute per token; over it, 429. 0 = unlimited.
    pub requests_per_minute: u32,
    /// Largest release artifact accepted by an upload, in bytes.
    pub max_upload_bytes: u64,
    /// Time allowed for requests in flight at shutdown.
    pub shutdown_grace: Duration,
    /// Header and keep-alive timeouts, head size and connection cap of the
    /// admin listener.
    pub http: HttpLimits,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            requests_per_minute: 600,
            max_upload_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            shutdown_grace: Duration::from_secs(10),
            http: HttpLimits {
                // Operators and billing systems, not the public: fewer.
                max_connections: 1_000,
                ..HttpLimits::default()
            },
        }
    }
}

/// What every admin handler works with.
#[derive(Debug)]
pub(crate) struct AdminState {
    pub config: AdminConfig,
    pub services: Services,
    pub limiter: RateLimiter<String>,
    pub security: Arc<SecurityLog>,
}

impl AdminState {
    /// The actor of a change made by `caller`, now.
    pub fn actor(&self, caller: &auth::Caller) -> Actor {
        Actor {
            name: format!("admin:{}", caller.name),
            at: self.services.clock.now_unix(),
        }
    }
}

type State = Arc<AdminState>;

/// Serves the admin API on `listener` until `shutdown` completes. It does
/// not close the store: the caller (or [`crate::run`]) does.
pub async fn serve<L>(
    listener: L,
    config: AdminConfig,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let state = Arc::new(AdminState {
        limiter: RateLimiter::new(config.requests_per_minute, Duration::from_secs(60)),
        security: Arc::new(SecurityLog::new(
            services.store.clone(),
            services.clock.clone(),
        )),
        config,
        services,
    });
    let stop = CancellationToken::new();
    let flusher = state.security.spawn_flusher(stop.clone());
    let app = router(state.clone());
    let grace = state.config.shutdown_grace;
    let result = crate::http::serve(
        listener,
        app,
        state.config.http.clone(),
        state.services.refusals.clone(),
        shutdown,
        grace,
    )
    .await;
    stop.cancel();
    if tokio::time::timeout(grace, flusher).await.is_err() {
        tracing::warn!("the admin API's security log did not flush in time");
    }
    result
}

/// The admin router: every route of [`route_list`], the auth middleware on
/// all but the OpenAPI document, JSON 404 and 405.
pub(crate) fn router(state: State) -> Router {
    let routes = all_routes();
    let protected = routes
        .protected
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    protected
        .merge(routes.public)
        .fallback(|| async {
            ApiError::not_found("NOT_FOUND", "no such admin API route").into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "this route does not take that method",
            )
            .into_response()
        })
        .with_state(state)
}

/// Every route the admin API serves, as (method, path template).
pub fn route_list() -> Vec<(Method, &'static str)> {
    all_routes().listed
}

fn all_routes() -> ApiRoutes {
    let routes = ApiRoutes::default().public(Method::GET, "/admin/openapi.json", openapi::serve);
    let routes = catalog::routes(routes);
    let routes = licenses::routes(routes);
    let routes = toggles::routes(routes);
    let routes = releases::routes(routes);
    journal::routes(routes)
}

/// The routers under construction and the list of what they route, so that
/// the OpenAPI test can check that every route is documented.
#[derive(Default)]
pub(crate) struct ApiRoutes {
    protected: Router<State>,
    public: Router<State>,
    listed: Vec<(Method, &'static str)>,
}

impl ApiRoutes {
    /// Adds a route that needs a token.
    pub fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, State>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.protected = self.protected.route(path, on(filter, handler));
        self.listed.push((method, path));
        self
    }

    fn public<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, State>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.public = self.public.route(path, on(filter, handler));
        self.listed.push((method, path));
        self
    }
}

/// A JSON body; a malformed one is a 400 [`ApiError`].
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| JsonBody(v))
            .map_err(|e: JsonRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Query parameters; malformed ones are a 400 [`ApiError`].
#[derive(Debug)]
pub(crate) struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| QueryArgs(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Path parameters; malformed ones are a 400 [`ApiError`].
#[derive(Debug)]
pub(crate) struct PathArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| PathArgs(v))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// A `since` parameter: a day `YYYY-MM-DD` (its start, UTC) or UNIX seconds.
pub(crate) fn since_arg(text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(Some(seconds));
    }
    skyline_protocol::dates::parse_date(text)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`since` must be a day YYYY-MM-DD or UNIX seconds, not `{text}`"
            ))
        })
}
