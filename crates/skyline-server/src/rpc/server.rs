//! The server's entry point: [`run`] serves the HTTP listener, upgrades `/ws`
//! to the encrypted RPC (one `connection` task each), and shuts down
//! gracefully when the `shutdown` future completes.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use skyline_protocol::IdentityKeyPair;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Shared;
use crate::blobs::BlobStore;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::domain::AuditAction;
use crate::limits::{address_key, AddressSlot, AddressSlots, GlobalBudget, Limit, Refusals};
use crate::rate_limit::RateLimiter;
use crate::security::SecurityLog;
use crate::store::Store;
use crate::telemetry_guard::TelemetryGuard;
use crate::tls::TlsListener;
use crate::toggle_cache::ToggleCache;

/// The WebSocket read buffer of each connection. It grows for a large
/// message and is all an idle session keeps: requests are a few hundred
/// bytes, so a small buffer keeps held sessions cheap (see BENCHMARKS.md).
const READ_BUFFER_BYTES: usize = 1024;

/// What the server works with, besides its configuration: what
/// [`Deployment::open`](crate::deployment::Deployment::open) opened, and a clock.
#[derive(Clone)]
pub struct Services {
    /// The identity key that signs handshakes and releases.
    pub identity: Arc<IdentityKeyPair>,
    /// Products, plans, licenses, toggles, telemetry, audit.
    pub store: Store,
    /// Where release artifacts are kept; `None`: no downloads.
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// The wall clock (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// Refusals by every limit, for both listeners (and `/metrics`).
    pub refusals: Arc<Refusals>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("identity", &self.identity)
            .field("blobs", &self.blobs)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The client's socket address, as accepted (before any proxy header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting, lets
/// every connection finish its in-flight request (each is closed with 1001),
/// waits up to the configured grace period, and returns. HTTP is served by
/// [`crate::http::serve`] under [`ServerConfig::http`].
pub async fn run<L>(
    listener: L,
    config: ServerConfig,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let token = CancellationToken::new();
    let shared = Arc::new(Shared {
        handshake_limiter: RateLimiter::new(
            config.handshakes_per_second,
            std::time::Duration::from_secs(1),
        ),
        failed_key_limiter: RateLimiter::new(
            config.failed_keys_per_minute,
            std::time::Duration::from_secs(60),
        ),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        address_slots: AddressSlots::new(config.max_connections_per_address),
        handshake_budget: GlobalBudget::new(config.handshake_budget_per_second),
        telemetry: TelemetryGuard::new(&config.telemetry),
        shutdown: token.clone(),
        tracker: TaskTracker::new(),
        toggle_cache: ToggleCache::new(config.toggle_cache_ttl),
        security: Arc::new(SecurityLog::new(
            services.store.clone(),
            services.clock.clone(),
        )),
        config,
        services,
    });
    let security_flusher = shared.security.spawn_flusher(token.clone());
    let app = router(shared.clone());
    let signal_token = token.clone();
    crate::http::serve(
        listener,
        app,
        shared.config.http.clone(),
        shared.services.refusals.clone(),
        async move {
            shutdown.await;
            signal_token.cancel();
        },
        shared.config.shutdown_grace,
    )
    .await?;
    token.cancel();
    shared.tracker.close();
    if tokio::time::timeout(shared.config.shutdown_grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = shared.tracker.len(),
            "connections still open after the shutdown grace period"
        );
    }
    let _ = security_flusher.await;
    shared.services.store.close().await;
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/ws", get(upgrade))
        .route("/health", get(|| async { "ok" }))
        .merge(crate::download::routes(
            &shared.services,
            shared.shutdown.clone(),
        ));
    if shared.config.echo_endpoint {
        router = router.merge(super::echo::routes());
    }
    router.with_state(shared)
}

/// The client address: the peer's, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub(crate) fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer.ip()) {
        return peer.ip();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer.ip())
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let client = client_ip(peer, &headers, &shared.config.trusted_proxies);
    let permit = match admit(&shared, client) {
        Ok(permit) => permit,
        Err(refusal) => return refusal,
    };
    let tracker = shared.tracker.clone();
    websocket_settings(ws, &shared.config).on_upgrade(move |socket| {
        tracker.track_future(async move {
            super::connection::serve(socket, client, shared).await;
            drop(permit);
        })
    })
}

/// What an admitted WebSocket session holds until it ends: its place under
/// the connection cap and under its address's cap.
#[derive(Debug)]
pub(crate) struct Admission {
    _connection: OwnedSemaphorePermit,
    _address: AddressSlot,
}

/// Whether a new connection from `client` may be upgraded: not while shutting
/// down, not over the handshake rate limit of its address (HTTP 429), not
/// over its address's connection cap, the connection cap or the server's
/// handshake budget (HTTP 503). The server-wide budget is spent last, only
/// on upgrades that pass everything else. What it returns is held for the
/// connection's lifetime.
// A refusal is built once per refused upgrade and returned at once: boxing
// the response would buy nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn admit(shared: &Shared, client: IpAddr) -> Result<Admission, Response> {
    let refusals = &shared.services.refusals;
    if shared.shutdown.is_cancelled() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "server is shutting down\n").into_response());
    }
    let now = Instant::now();
    if !shared
        .handshake_limiter
        .try_acquire(address_key(client), now)
    {
        tracing::info!(%client, "handshake rate limit exceeded");
        refusals.count(Limit::HandshakesPerAddress);
        shared
            .security
            .record(AuditAction::HandshakesRateLimited, client);
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "too many handshakes from this address; try again later\n",
        )
            .into_response());
    }
    let unavailable = |limit: Limit, text: &'static str| {
        refusals.count(limit);
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    };
    let Some(address) = shared.address_slots.try_take(client) else {
        tracing::info!(%client, "connection cap of one address reached");
        return Err(unavailable(
            Limit::ConnectionsPerAddress,
            "too many connections from this address; try again later\n",
        ));
    };
    let Ok(connection) = shared.connections.clone().try_acquire_owned() else {
        tracing::warn!(%client, "connection limit reached");
        return Err(unavailable(
            Limit::Connections,
            "server is at its connection limit; try again later\n",
        ));
    };
    if !shared.handshake_budget.try_acquire(now) {
        tracing::debug!(%client, "server-wide handshake budget spent");
        return Err(unavailable(
            Limit::HandshakeBudget,
            "server is busy with handshakes; try again later\n",
        ));
    }
    Ok(Admission {
        _connection: connection,
        _address: address,
    })
}

/// The WebSocket settings of every upgrade: message and frame limits, buffer
/// sizes. The benchmark echo endpoints use them too, so that they measure the
/// same transport.
pub(crate) fn websocket_settings(ws: WebSocketUpgrade, config: &ServerConfig) -> WebSocketUpgrade {
    let max = config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        let from_proxy = SocketAddr::new(proxy, 1);
        let direct = SocketAddr::new("198.51.100.7".parse().unwrap(), 1);
        assert_eq!(
            client_ip(from_proxy, &headers, &[proxy]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(direct, &headers, &[proxy]), direct.ip());
        assert_eq!(client_ip(from_proxy, &headers, &[]), proxy);
        assert_eq!(client_ip(from_proxy, &HeaderMap::new(), &[proxy]), proxy);
    }
}
