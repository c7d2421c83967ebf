//! Benchmark-only endpoints, served only when
//! [`ServerConfig::echo_endpoint`](crate::ServerConfig::echo_endpoint) is on
//! (`skyline serve --bench-echo`). They are the ceilings `skyline bench`
//! holds the encrypted RPC against, over the very same transport: the same
//! admission (rate limit, connection limit, shutdown), the same WebSocket
//! settings ([`websocket_settings`]), the same idle timeout.
//!
//! - `/echo`: every binary message is sent back as is. No protocol at all:
//!   the cost of the WebSocket transport alone.
//! - `/echo-sealed`: the handshake of PROTOCOL.md section 3, then every
//!   binary message is opened and its plaintext sealed again under the session
//!   key, with no MessagePack and no method: the cost of transport plus frame
//!   crypto.
//!
//! A text frame closes with 1003, as on `/ws`; an undecryptable frame on
//! `/echo-sealed` closes with 1002.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use skyline_protocol::{CloseCode, ServerHandshake, Session};

use super::server::{admit, client_ip, websocket_settings, PeerAddr};
use super::Shared;

/// What the echo does with each binary message.
#[derive(Debug, Clone, Copy)]
enum Echo {
    Plain,
    Sealed,
}

/// `/echo` and `/echo-sealed`, to merge into the server's router.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/echo",
            get(|state, peer, headers, ws| upgrade(state, peer, headers, ws, Echo::Plain)),
        )
        .route(
            "/echo-sealed",
            get(|state, peer, headers, ws| upgrade(state, peer, headers, ws, Echo::Sealed)),
        )
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    echo: Echo,
) -> Response {
    let client = client_ip(peer, &headers, &shared.config.trusted_proxies);
    let permit = match admit(&shared, client) {
        Ok(permit) => permit,
        Err(refusal) => return refusal,
    };
    let tracker = shared.tracker.clone();
    websocket_settings(ws, &shared.config).on_upgrade(move |socket| {
        tracker.track_future(async move {
            serve(socket, client, &shared, echo).await;
            drop(permit);
        })
    })
}

/// One binary message, or why the connection ends.
enum Next {
    Binary(axum::body::Bytes),
    End(Option<CloseCode>),
}

async fn next(socket: &mut WebSocket, shared: &Shared, limit: std::time::Duration) -> Next {
    loop {
        let read = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return Next::End(Some(CloseCode::GOING_AWAY)),
            read = tokio::time::timeout(limit, socket.recv()) => read,
        };
        return match read {
            Err(_) => Next::End(Some(CloseCode::NORMAL)),
            Ok(Some(Ok(Message::Binary(bytes)))) => Next::Binary(bytes),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Text(_)))) => Next::End(Some(CloseCode::UNSUPPORTED_DATA)),
            Ok(None | Some(Ok(Message::Close(_)))) => Next::End(None),
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "echo: websocket error");
                Next::End(None)
            }
        };
    }
}

async fn serve(mut socket: WebSocket, client: IpAddr, shared: &Shared, echo: Echo) {
    let session = match echo {
        Echo::Plain => None,
        Echo::Sealed => {
            let hello = match next(&mut socket, shared, shared.config.handshake_timeout).await {
                Next::Binary(hello) => hello,
                Next::End(code) => return close(socket, code).await,
            };
            match ServerHandshake::respond(&shared.services.identity, &hello) {
                Ok(outcome) => {
                    if socket
                        .send(Message::Binary(outcome.reply.into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    Some(outcome.session)
                }
                Err(e) => {
                    tracing::debug!(%client, reason = %e, "echo: bad handshake");
                    return close(socket, Some(CloseCode::PROTOCOL_ERROR)).await;
                }
            }
        }
    };
    loop {
        let message = match next(&mut socket, shared, shared.config.idle_timeout).await {
            Next::Binary(message) => message,
            Next::End(code) => return close(socket, code).await,
        };
        let reply = match &session {
            None => message,
            Some(session) => match reseal(session, &message) {
                Some(frame) => frame.into(),
                None => return close(socket, Some(CloseCode::PROTOCOL_ERROR)).await,
            },
        };
        if socket.send(Message::Binary(reply)).await.is_err() {
            return;
        }
    }
}

/// Opens `frame` and seals its plaintext again, as `/ws` does with a request
/// and its response; `None` when the frame does not open.
fn reseal(session: &Session, frame: &[u8]) -> Option<Vec<u8>> {
    let plaintext = session.open(frame).ok()?;
    session.seal(&plaintext).ok()
}

/// Sends a close frame with `code`, if any; the socket is dropped on return.
async fn close(mut socket: WebSocket, code: Option<CloseCode>) {
    if let Some(code) = code {
        let frame = CloseFrame {
            code: code.0,
            reason: "".into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
}
