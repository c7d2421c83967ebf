//! One WebSocket connection, from the upgrade to the close: the handshake
//! under its deadline, then encrypted frames through the
//! [`ServerSequencer`] to the methods, in request order.
//!
//! Close codes (PROTOCOL.md sections 1, 3, 4, 5) are decided here and in the
//! sequencer; nothing a peer sends can make the server allocate more than the
//! configured message size or wait longer than the configured timeouts:
//! `client-hello` and then `start-session` must each come within the
//! handshake deadline (else close 1008), every send and close must be taken
//! by the peer within the write timeout (else the connection is dropped),
//! and one session key carries at most the configured number of frames
//! (then close 1008).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use skyline_protocol::methods::Language;
use skyline_protocol::{
    bad_handshake_reply, CloseCode, Response, ServerHandshake, ServerSequencer, Session, Verdict,
};

use super::methods::{self, Reply};
use super::{ConnectionState, Shared};
use crate::i18n::{self, Message as Text};
use crate::limits::{Limit, Refusals};
use crate::sanitize::Escaped;

/// How long to wait for the peer's close reply after sending ours.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What one read from the socket gave.
enum Incoming {
    Binary(Vec<u8>),
    Text,
    Closed,
    TooBig,
    Failed(String),
}

async fn next_message(socket: &mut WebSocket) -> Incoming {
    loop {
        return match socket.recv().await {
            None | Some(Ok(Message::Close(_))) => Incoming::Closed,
            Some(Ok(Message::Binary(data))) => Incoming::Binary(data.into()),
            Some(Ok(Message::Text(_))) => Incoming::Text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Err(e)) => {
                let error = e.into_inner();
                // An oversized message or frame is tungstenite's capacity error.
                match error.downcast_ref::<tungstenite::Error>() {
                    Some(tungstenite::Error::Capacity(_)) => Incoming::TooBig,
                    _ => Incoming::Failed(error.to_string()),
                }
            }
        };
    }
}

/// Sends `message` within the write timeout. False when the connection is
/// gone or the peer did not take it in time (counted; the caller drops the
/// connection).
async fn send(socket: &mut WebSocket, message: Message, shared: &Shared) -> bool {
    match tokio::time::timeout(shared.config.write_timeout, socket.send(message)).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            shared.services.refusals.count(Limit::WriteTimeout);
            tracing::debug!("the peer did not read within the write timeout; dropped");
            false
        }
    }
}

/// Sends a close frame (within the write timeout), then lingers briefly for
/// the peer's reply so that our last messages are not lost to a TCP reset.
async fn close(mut socket: WebSocket, code: CloseCode, reason: &str, shared: &Shared) {
    let frame = CloseFrame {
        code: code.0,
        reason: reason.into(),
    };
    if !send(&mut socket, Message::Close(Some(frame)), shared).await {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

/// Serves one upgraded connection to its end.
pub(crate) async fn serve(mut socket: WebSocket, client: IpAddr, shared: Arc<Shared>) {
    let config = &shared.config;
    let hello = tokio::select! {
        _ = shared.shutdown.cancelled() => {
            return close(socket, CloseCode::GOING_AWAY, "server shutting down", &shared).await;
        }
        read = tokio::time::timeout(config.handshake_timeout, next_message(&mut socket)) => read,
    };
    let session = match hello {
        Err(_) => {
            tracing::debug!(%client, "no client-hello before the deadline");
            return close(
                socket,
                CloseCode::POLICY_VIOLATION,
                "handshake timeout",
                &shared,
            )
            .await;
        }
        Ok(Incoming::Binary(hello)) => {
            match ServerHandshake::respond(&shared.services.identity, &hello) {
                Ok(outcome) => {
                    if !send(&mut socket, Message::Binary(outcome.reply.into()), &shared).await {
                        return;
                    }
                    outcome.session
                }
                Err(e) => {
                    tracing::info!(%client, reason = %Escaped::new(&e.to_string()), "bad handshake");
                    shared
                        .security
                        .record(crate::domain::AuditAction::BadHandshakes, client);
                    let reply = bad_handshake_reply(&e.to_string());
                    if !send(&mut socket, Message::Binary(reply.into()), &shared).await {
                        return;
                    }
                    return close(socket, CloseCode::PROTOCOL_ERROR, "bad handshake", &shared)
                        .await;
                }
            }
        }
        Ok(other) => return end_on(socket, other, client, &shared).await,
    };
    let mut state = ConnectionState {
        client,
        language: Language::English,
        license: None,
    };
    requests(socket, session, &mut state, &shared).await;
}

/// Closes for a message that is not a binary frame (or the end of the stream).
async fn end_on(socket: WebSocket, incoming: Incoming, client: IpAddr, shared: &Shared) {
    match incoming {
        Incoming::Binary(_) | Incoming::Closed => {}
        Incoming::Text => {
            close(
                socket,
                CloseCode::UNSUPPORTED_DATA,
                "text frames are not accepted",
                shared,
            )
            .await
        }
        Incoming::TooBig => {
            close(
                socket,
                CloseCode::MESSAGE_TOO_BIG,
                "message too big",
                shared,
            )
            .await
        }
        Incoming::Failed(e) => {
            tracing::debug!(%client, error = %Escaped::new(&e), "websocket error")
        }
    }
}

/// Frames sealed or opened under one session key, against the cap.
struct FrameCount {
    seen: u64,
    max: u64,
}

impl FrameCount {
    fn new(max: u64) -> Self {
        FrameCount { seen: 0, max }
    }

    /// Counts one frame; false when the key has carried its last.
    fn take(&mut self, refusals: &Refusals) -> bool {
        if self.seen >= self.max {
            refusals.count(Limit::FramesPerConnection);
            return false;
        }
        self.seen += 1;
        true
    }
}

async fn requests(
    mut socket: WebSocket,
    session: Session,
    state: &mut ConnectionState,
    shared: &Shared,
) {
    let mut sequencer = ServerSequencer::new();
    let mut frames = FrameCount::new(shared.config.max_frames_per_connection.max(2));
    let refusals = &shared.services.refusals;
    let mut first = true;
    loop {
        // Until the first request (start-session), the handshake deadline
        // applies: a connection without a session holds a slot for nothing.
        let wait = if first {
            shared.config.handshake_timeout
        } else {
            shared.config.idle_timeout
        };
        let incoming = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => {
                return close(socket, CloseCode::GOING_AWAY, "server shutting down", shared).await;
            }
            read = tokio::time::timeout(wait, next_message(&mut socket)) => read,
        };
        let frame = match incoming {
            Err(_) if first => {
                refusals.count(Limit::StartSessionTimeout);
                tracing::debug!(client = %state.client, "no start-session before the deadline");
                return close(
                    socket,
                    CloseCode::POLICY_VIOLATION,
                    "start-session timeout",
                    shared,
                )
                .await;
            }
            Err(_) => return close(socket, CloseCode::NORMAL, "idle timeout", shared).await,
            Ok(Incoming::Binary(frame)) => frame,
            Ok(other) => return end_on(socket, other, state.client, shared).await,
        };
        first = false;
        // The reply needs a frame too: a request is only opened when both fit.
        if !(frames.take(refusals) && frames.take(refusals)) {
            tracing::info!(client = %state.client, "frame limit of the session key reached");
            return close(socket, CloseCode::POLICY_VIOLATION, "frame limit", shared).await;
        }
        let plaintext = match session.open(&frame) {
            Ok(p) => p,
            Err(e) => {
                // Nothing in the frame can be trusted: no reply, only a close.
                tracing::info!(client = %state.client, error = %e, len = frame.len(), "undecryptable frame");
                return close(socket, CloseCode::PROTOCOL_ERROR, "", shared).await;
            }
        };
        let reply = match sequencer.on_request(&plaintext) {
            Verdict::Refuse(refusal) => {
                tracing::info!(client = %state.client, status = %refusal.status, detail = %Escaped::new(&refusal.detail), "request refused");
                let text = match refusal.integrity {
                    Some(code) => i18n::message(&Text::IntegrityBreach(code), state.language),
                    None => methods::refusal_message(&refusal, state.language),
                };
                Reply::refused(
                    Response::error(refusal.q, refusal.status, text),
                    refusal.close,
                )
            }
            Verdict::Dispatch(request) => {
                let is_start = request.r == skyline_protocol::methods::START_SESSION;
                let (reply, token) = methods::dispatch(shared, state, request).await;
                if is_start {
                    let close = sequencer.start_session_finished(token);
                    Reply {
                        close: reply.close.or(close),
                        ..reply
                    }
                } else {
                    reply
                }
            }
        };
        let sealed = match session.seal(&reply.encode()) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(error = %e, "sealing a response failed");
                return close(socket, CloseCode::PROTOCOL_ERROR, "", shared).await;
            }
        };
        if !send(&mut socket, Message::Binary(sealed.into()), shared).await {
            return;
        }
        if let Some(code) = reply.close {
            return close(socket, code, reply.response.status.as_str(), shared).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_fit_a_control_frame() {
        // A close frame's reason must fit in 123 bytes; ours are status names.
        for status in skyline_protocol::Status::ALL {
            assert!(status.as_str().len() <= 123);
        }
    }
}
