//! [`Client`]: one connection after a verified handshake. It numbers requests
//! (`q`), stamps them (`t`), attaches the session token (`s`), seals them, and
//! checks that every response answers the request it should.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use skyline_protocol::methods::{StartSessionResult, START_SESSION};
use skyline_protocol::msgpack::{self, MapView};
use skyline_protocol::{
    ClientHandshake, CloseCode, HandshakeError, IdentityPublicKey, Request, Response, Session,
    Status, Value,
};

use crate::config::ClientConfig;
use crate::error::{ClientError, RpcError};
use crate::transport::{Incoming, RawSocket};

/// A request sent and not yet answered.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) q: u64,
    pub(crate) t: i64,
    pub(crate) method: String,
}

/// A connection to a Skyline server with a verified, encrypted session.
///
/// The common path is lock-step: [`start_session`](Self::start_session) first,
/// then one call at a time ([`get_feature_toggles`](Self::get_feature_toggles),
/// [`send_telemetry_event`](Self::send_telemetry_event), [`call`](Self::call)).
/// [`pipeline`](Self::pipeline), [`send_request`](Self::send_request) and
/// [`read_response`](Self::read_response) send several requests before reading
/// their responses, which come back in order.
///
/// A protocol violation by the server, an undecryptable frame, a timeout or a
/// status after which the server closes leaves the client unusable: every later
/// call fails with [`ClientError::Unusable`]. Reconnect then.
pub struct Client {
    pub(crate) socket: RawSocket,
    pub(crate) session: Session,
    /// The `q` of the next request.
    pub(crate) next_q: u64,
    /// The session token, once `start-session` succeeded.
    pub(crate) token: Option<String>,
    pub(crate) pending: VecDeque<Pending>,
    /// Why the connection can no longer carry requests, if it cannot.
    pub(crate) unusable: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .field("next_q", &self.next_q)
            .field("session_token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("pending", &self.pending.len())
            .field("unusable", &self.unusable)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `url` (`ws://` or `wss://`, e.g. `wss://licensing.example.com/ws`)
    /// with the default [`ClientConfig`], sends `client-hello`, and checks the
    /// server's signed reply against `pinned`, the identity key the app ships.
    ///
    /// Errors of note: [`ClientError::ServerIdentityMismatch`] (bad signature:
    /// nothing more was sent, the socket was dropped; report an integrity
    /// breach), [`ClientError::HandshakeRefused`] (`BAD_HANDSHAKE` with the
    /// server's reason), [`ClientError::RateLimited`] (HTTP 429 at the upgrade).
    pub async fn connect(url: &str, pinned: IdentityPublicKey) -> Result<Client, ClientError> {
        Self::connect_with(url, pinned, ClientConfig::default()).await
    }

    /// [`connect`](Self::connect) with a configuration.
    pub async fn connect_with(
        url: &str,
        pinned: IdentityPublicKey,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let limit = config.connect_timeout();
        let connecting = async {
            let socket = RawSocket::connect_with(url, &config).await?;
            Client::handshake(socket, pinned).await
        };
        tokio::time::timeout(limit, connecting)
            .await
            .map_err(|_| ClientError::ConnectTimeout(limit))?
    }

    /// The handshake on an open socket, with no time limit of its own.
    pub(crate) async fn handshake(
        mut socket: RawSocket,
        pinned: IdentityPublicKey,
    ) -> Result<Client, ClientError> {
        let (handshake, hello) = ClientHandshake::start().map_err(ClientError::Handshake)?;
        socket.send_binary(hello).await?;
        let reply = match socket.recv_unbounded().await? {
            Incoming::Binary(reply) => reply,
            Incoming::Text(_) => {
                return Err(ClientError::Protocol(
                    "the server answered the hello with a text frame".into(),
                ))
            }
            Incoming::Close { code, reason } => return Err(ClientError::Closed { code, reason }),
            Incoming::Eof => {
                return Err(ClientError::Closed {
                    code: None,
                    reason: String::new(),
                })
            }
        };
        refusal(&reply)?;
        match handshake.finish(&pinned, &reply) {
            Ok(session) => Ok(Client {
                socket,
                session,
                next_q: 0,
                token: None,
                pending: VecDeque::new(),
                unusable: None,
            }),
            // `socket` is dropped on return without a close frame: nothing
            // more goes to a peer that is not the pinned server.
            Err(HandshakeError::BadSignature) => {
                tracing::warn!(
                    "the server's handshake signature does not match the pinned identity key; \
                     dropping the connection"
                );
                Err(ClientError::ServerIdentityMismatch)
            }
            Err(HandshakeError::Refused(reason)) => Err(ClientError::HandshakeRefused { reason }),
            Err(e) => Err(ClientError::Handshake(e)),
        }
    }

    /// The configuration this client was connected with.
    pub fn config(&self) -> &ClientConfig {
        &self.socket.config
    }

    /// Whether `start-session` succeeded on this connection.
    pub fn has_session(&self) -> bool {
        self.token.is_some()
    }

    /// Why this connection can no longer carry requests, if it cannot.
    pub fn unusable_reason(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    /// Calls `method` with `payload` (a map, or nil) and returns the result
    /// `R`. For methods without a typed wrapper. `start-session` must come
    /// first ([`start_session`](Self::start_session)); calling it here works
    /// too, and its token is kept.
    pub async fn call(&mut self, method: &str, payload: Value) -> Result<Value, ClientError> {
        self.check_usable()?;
        if !self.pending.is_empty() {
            return Err(ClientError::InvalidState(
                "pipelined responses are outstanding; read them with read_response first",
            ));
        }
        let limit = self.config().request_timeout();
        let outcome = tokio::time::timeout(limit, self.call_now(method, payload)).await;
        self.settle(outcome, limit)
    }

    async fn call_now(&mut self, method: &str, payload: Value) -> Result<Value, ClientError> {
        self.send_request_now(method, payload).await?;
        self.read_response_now().await.map(|(_, result)| result)
    }

    /// Sends several requests before reading any response, then reads the
    /// responses in order, each checked against its request's `q`. The outer
    /// error is a transport or protocol failure (partial results are lost: the
    /// connection is gone); the inner ones are each request's status.
    pub async fn pipeline(
        &mut self,
        calls: Vec<(String, Value)>,
    ) -> Result<Vec<Result<Value, RpcError>>, ClientError> {
        for (method, payload) in calls.iter().cloned() {
            self.send_request(&method, payload).await?;
        }
        let mut results = Vec::with_capacity(calls.len());
        for _ in 0..calls.len() {
            match self.read_response().await {
                Ok(result) => results.push(Ok(result)),
                Err(ClientError::Rpc(e)) => results.push(Err(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(results)
    }

    /// Sends one request without waiting for its response, and returns its
    /// `q`. Read the responses with [`read_response`](Self::read_response), in
    /// the order the requests were sent.
    pub async fn send_request(&mut self, method: &str, payload: Value) -> Result<u64, ClientError> {
        let limit = self.config().request_timeout();
        let outcome = tokio::time::timeout(limit, self.send_request_now(method, payload)).await;
        self.settle(outcome, limit)
    }

    /// Reads the response to the oldest request sent with
    /// [`send_request`](Self::send_request), checks its `q`, and returns its
    /// result, or [`ClientError::Rpc`] for a non-OK status.
    pub async fn read_response(&mut self) -> Result<Value, ClientError> {
        let limit = self.config().request_timeout();
        let outcome = tokio::time::timeout(limit, self.read_response_now()).await;
        self.settle(outcome, limit).map(|(_, result)| result)
    }

    /// Sends a close frame (1000) and waits, at most the request timeout, for
    /// the server's.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.socket.close(CloseCode::NORMAL, "").await
    }

    /// The result of an operation run under `tokio::time::timeout(limit, ..)`;
    /// a timeout makes the connection unusable.
    pub(crate) fn settle<T>(
        &mut self,
        outcome: Result<Result<T, ClientError>, tokio::time::error::Elapsed>,
        limit: Duration,
    ) -> Result<T, ClientError> {
        outcome.unwrap_or_else(|_| {
            self.poison("a request timed out");
            Err(ClientError::RequestTimeout(limit))
        })
    }

    pub(crate) fn check_usable(&self) -> Result<(), ClientError> {
        match &self.unusable {
            Some(reason) => Err(ClientError::Unusable(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn poison(&mut self, reason: impl Into<String>) {
        if self.unusable.is_none() {
            let reason = reason.into();
            tracing::debug!(%reason, "connection unusable");
            self.unusable = Some(reason);
        }
    }

    /// Sends a request at the next `q`, stamped now; returns `q`.
    pub(crate) async fn send_request_now(
        &mut self,
        method: &str,
        payload: Value,
    ) -> Result<u64, ClientError> {
        self.send_request_stamped(method, payload, self.config().now())
            .await
            .map(|pending| pending.q)
    }

    pub(crate) async fn send_request_stamped(
        &mut self,
        method: &str,
        payload: Value,
        t: i64,
    ) -> Result<Pending, ClientError> {
        self.check_usable()?;
        let q = self.next_q;
        if method == START_SESSION {
            if q != 0 {
                return Err(ClientError::InvalidState(
                    "start-session was already sent on this connection; reconnect to start again",
                ));
            }
        } else if self.token.is_none() {
            return Err(ClientError::InvalidState(
                "start-session must succeed before any other method",
            ));
        }
        let request = Request {
            q,
            t,
            r: method.to_owned(),
            s: if method == START_SESSION {
                None
            } else {
                self.token.clone()
            },
            d: payload,
        };
        let frame = self.session.seal(&request.encode())?;
        if let Err(e) = self.socket.send_binary(frame).await {
            self.poison(format!("sending failed: {e}"));
            return Err(e);
        }
        self.next_q = q + 1;
        let pending = Pending {
            q,
            t,
            method: method.to_owned(),
        };
        self.pending.push_back(pending.clone());
        Ok(pending)
    }

    /// Reads and checks the response to the oldest pending request.
    pub(crate) async fn read_response_now(&mut self) -> Result<(Pending, Value), ClientError> {
        self.check_usable()?;
        let Some(expected) = self.pending.front().cloned() else {
            return Err(ClientError::InvalidState(
                "no request is waiting for a response",
            ));
        };
        let response = match self.next_response().await {
            Ok(response) => response,
            Err(e) => {
                self.poison(e.to_string());
                return Err(e);
            }
        };
        if response.q != Some(expected.q) {
            let e = ClientError::Protocol(format!(
                "response q {} to request q {} ({})",
                response
                    .q
                    .map_or_else(|| "nil".to_owned(), |q| q.to_string()),
                expected.q,
                response.status
            ));
            self.poison(e.to_string());
            return Err(e);
        }
        self.pending.pop_front();
        if response.status != Status::Ok {
            let Some(err) = RpcError::from_status(response.status, response.e) else {
                let e =
                    ClientError::Protocol(format!("{} in answer to a request", response.status));
                self.poison(e.to_string());
                return Err(e);
            };
            if err.closes_connection(&expected.method) {
                self.poison(format!("the server ends the connection after {err}"));
            }
            return Err(ClientError::Rpc(err));
        }
        if expected.method == START_SESSION {
            match StartSessionResult::from_value(&response.result) {
                Ok(result) => self.token = Some(result.session_token),
                Err(e) => {
                    let e = ClientError::Protocol(format!("start-session result: {e}"));
                    self.poison(e.to_string());
                    return Err(e);
                }
            }
        }
        Ok((expected, response.result))
    }

    /// The next encrypted message, opened and decoded.
    async fn next_response(&mut self) -> Result<Response, ClientError> {
        let frame = match self.socket.recv_unbounded().await? {
            Incoming::Binary(frame) => frame,
            Incoming::Text(_) => {
                return Err(ClientError::Protocol("the server sent a text frame".into()))
            }
            Incoming::Close { code, reason } => return Err(ClientError::Closed { code, reason }),
            Incoming::Eof => {
                return Err(ClientError::Closed {
                    code: None,
                    reason: String::new(),
                })
            }
        };
        let plaintext = match self.session.open(&frame) {
            Ok(plaintext) => plaintext,
            Err(e) => {
                // PROTOCOL.md section 4: nothing in it can be trusted; close 1002.
                self.socket.close_quietly(CloseCode::PROTOCOL_ERROR).await;
                return Err(ClientError::Frame(e));
            }
        };
        Response::decode(&plaintext).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// A non-OK handshake reply: `BAD_HANDSHAKE` with its reason, or another
/// status (such as `RATE_LIMITED`) as an [`RpcError`]. Anything that is not a
/// readable refusal is left to [`ClientHandshake::finish`] to judge.
fn refusal(reply: &[u8]) -> Result<(), ClientError> {
    let Ok(value) = msgpack::decode(reply) else {
        return Ok(());
    };
    let Some(top) = MapView::of(&value) else {
        return Ok(());
    };
    let Ok(status) = top.str("S") else {
        return Ok(());
    };
    let message = top.opt_str("e").ok().flatten().map(str::to_owned);
    match Status::parse(status) {
        Some(Status::Ok) => Ok(()),
        Some(Status::BadHandshake) => Err(ClientError::HandshakeRefused {
            reason: message.unwrap_or_default(),
        }),
        Some(other) => Err(RpcError::from_status(other, message)
            .map(ClientError::Rpc)
            .unwrap_or_else(|| ClientError::Protocol(format!("handshake answered with {other}")))),
        None => Err(ClientError::Protocol(format!(
            "handshake answered with unknown status {status}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyline_protocol::methods::{StartSessionRequest, TelemetryEvent};

    fn assert_send<T: Send>(_: &T) {}

    /// Apps and the server's tests drive clients from spawned tasks.
    fn futures_are_send(client: &mut Client, request: StartSessionRequest, event: TelemetryEvent) {
        assert_send(&client.start_session(request));
        assert_send(&client.get_feature_toggles());
        assert_send(&client.send_telemetry_event(event));
        assert_send(&client.call("m", Value::Nil));
        assert_send(&client.pipeline(Vec::new()));
        assert_send(&client.raw().recv_response());
        assert_send(&Client::connect("ws://x", IdentityPublicKey([0; 32])));
    }

    #[test]
    fn client_and_its_futures_are_send() {
        fn is_send<T: Send + Sync>() {}
        is_send::<Client>();
        let _ = futures_are_send as fn(&mut Client, _, _);
    }
}
