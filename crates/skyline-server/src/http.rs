//! The accept loop of both HTTP listeners (the RPC one and the admin one):
//! an axum [`Router`] served over HTTP/1.1 by hyper, with the limits
//! `axum::serve` does not offer ([`HttpLimits`]): a deadline for the first
//! request's headers, a keep-alive timeout, a bound on the request head
//! (431), and a cap on the connections held at once.
//!
//! Every request carries [`ConnectInfo`]`<`[`PeerAddr`]`>`, as with
//! `axum::serve`, so handlers and routes written for it work unchanged.
//! Upgraded connections (WebSocket) leave this loop's count when hyper hands
//! them over: the RPC server counts them itself.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::limits::{HttpLimits, Limit, Refusals, MIN_HEADER_BYTES};
use crate::PeerAddr;

/// hyper's read buffer cannot be smaller than this.
const MIN_BUFFER_BYTES: usize = 8192;

/// Serves `router` on `listener` under `limits` until `shutdown` completes;
/// then stops accepting, lets requests in flight finish (waiting up to
/// `grace`), and returns. Refusals are counted in `refusals`.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: HttpLimits,
    refusals: Arc<Refusals>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let connections =
        (limits.max_connections > 0).then(|| Arc::new(Semaphore::new(limits.max_connections)));
    let builder = Arc::new(builder(&limits));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let permit = match &connections {
            None => None,
            Some(connections) => match connections.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    // Closing at once is the cheapest answer a flood can get.
                    refusals.count(Limit::HttpConnections);
                    tracing::debug!(%peer, "HTTP connection cap reached; connection closed");
                    drop(io);
                    continue;
                }
            },
        };
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            header_timeout: limits.header_timeout,
            refusals: refusals.clone(),
            stop: stop.clone(),
            peer,
        };
        tracker.spawn(async move {
            connection.serve(io).await;
            drop(permit);
        });
    }
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            open = tracker.len(),
            "HTTP connections still open after the shutdown grace period"
        );
    }
    Ok(())
}

/// The hyper settings of every connection.
fn builder(limits: &HttpLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    let head = limits.max_header_bytes.max(MIN_HEADER_BYTES);
    builder
        .timer(TokioTimer::new())
        // hyper's header timer runs whenever the connection waits for a
        // request head: from the accept, and again after every response.
        .header_read_timeout(
            (!limits.keep_alive_timeout.is_zero()).then_some(limits.keep_alive_timeout),
        )
        .max_header_size(head)
        .max_buf_size(head.max(MIN_BUFFER_BYTES));
    builder
}

/// One accepted connection.
struct Connection {
    router: Router,
    builder: Arc<http1::Builder>,
    header_timeout: Duration,
    refusals: Arc<Refusals>,
    stop: CancellationToken,
    peer: SocketAddr,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let Connection {
            router,
            builder,
            header_timeout,
            refusals,
            stop,
            peer,
        } = self;
        let first_request = Arc::new(AtomicBool::new(false));
        let seen = first_request.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            seen.store(true, Ordering::Relaxed);
            request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
            router.clone().oneshot(request.map(Body::new))
        });
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let header_deadline = tokio::time::sleep(header_timeout);
        tokio::pin!(header_deadline);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        if e.is_timeout() {
                            refusals.count(Limit::HttpHeaderTimeout);
                        }
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                    return;
                }
                () = &mut header_deadline,
                    if !header_timeout.is_zero() && !first_request.load(Ordering::Relaxed) => {
                    refusals.count(Limit::HttpHeaderTimeout);
                    tracing::debug!(%peer, "no request headers before the deadline; connection closed");
                    return;
                }
                () = stop.cancelled(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
