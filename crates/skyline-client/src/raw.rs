//! [`RawConnection`]: testing hooks on an established [`Client`], to reach
//! every rule of PROTOCOL.md from the outside (a chosen `q`, `s`, `t` or `r`,
//! a sealed plaintext that is not a request, a frame that is not sealed, a text
//! frame) and to observe exactly what comes back, close codes included.
//!
//! Nothing here is needed by an app, and nothing here keeps the client's own
//! bookkeeping straight: a raw request does not advance `q`, a raw read does
//! not match a pending request. Use [`RawConnection::set_next_q`] and
//! [`RawConnection::set_session_token`] to bring the client back in line when
//! a test mixes raw and normal calls.

use skyline_protocol::{CloseCode, Request, Response, Session, Value};

use crate::client::Client;
use crate::error::ClientError;
use crate::transport::{Incoming, RawSocket};

/// Testing hooks on a [`Client`]; see [`Client::raw`] and the [module
/// docs](self).
#[derive(Debug)]
pub struct RawConnection<'a> {
    client: &'a mut Client,
}

impl Client {
    /// Testing hooks: raw frames, requests with chosen fields, raw reads.
    /// Not for apps. They work even after the client became unusable, so a
    /// test can still read the close frame that followed an error.
    pub fn raw(&mut self) -> RawConnection<'_> {
        RawConnection { client: self }
    }
}

impl RawConnection<'_> {
    /// The encrypted session (which seals and opens frames; its key is never shown).
    pub fn session(&self) -> &Session {
        &self.client.session
    }

    /// The `q` the client will put on its next request.
    pub fn next_q(&self) -> u64 {
        self.client.next_q
    }

    /// Sets the `q` of the client's next request.
    pub fn set_next_q(&mut self, q: u64) {
        self.client.next_q = q;
    }

    /// The session token from `start-session`, if it succeeded.
    pub fn session_token(&self) -> Option<&str> {
        self.client.token.as_deref()
    }

    /// Replaces the session token the client attaches to later requests.
    pub fn set_session_token(&mut self, token: Option<String>) {
        self.client.token = token;
    }

    /// The time the client would stamp on a request now.
    pub fn now(&self) -> i64 {
        self.client.config().now()
    }

    /// The request the client would send next for `method`: the next `q`, `t`
    /// = now, the session token (nil for `start-session`), `d` = `payload`.
    /// Change any field, then [`send_request`](Self::send_request) it.
    pub fn request(&self, method: &str, payload: Value) -> Request {
        Request {
            q: self.client.next_q,
            t: self.now(),
            r: method.to_owned(),
            s: if method == skyline_protocol::methods::START_SESSION {
                None
            } else {
                self.client.token.clone()
            },
            d: payload,
        }
    }

    /// Seals `request` as is and sends it. Does not advance the client's `q`.
    pub async fn send_request(&mut self, request: &Request) -> Result<(), ClientError> {
        self.send_sealed(&request.encode()).await
    }

    /// Seals arbitrary `plaintext` (not necessarily MessagePack) with the
    /// session and sends it as one binary frame.
    pub async fn send_sealed(&mut self, plaintext: &[u8]) -> Result<(), ClientError> {
        let frame = self.client.session.seal(plaintext)?;
        self.client.socket.send_binary(frame).await
    }

    /// Sends `frame` as one binary message, unchanged (a forged, truncated or
    /// replayed frame).
    pub async fn send_binary(&mut self, frame: Vec<u8>) -> Result<(), ClientError> {
        self.client.socket.send_binary(frame).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        self.client.socket.send_text(text).await
    }

    /// The next message as the socket saw it (binary frames still sealed),
    /// within the request timeout.
    pub async fn recv(&mut self) -> Result<Incoming, ClientError> {
        self.client.socket.recv().await
    }

    /// The next message, opened and decoded as a response, with no check of
    /// its `q`. A close frame is [`ClientError::Closed`] with its code.
    pub async fn recv_response(&mut self) -> Result<Response, ClientError> {
        match self.recv().await? {
            Incoming::Binary(frame) => {
                let plaintext = self.client.session.open(&frame)?;
                Response::decode(&plaintext).map_err(|e| ClientError::Protocol(e.to_string()))
            }
            Incoming::Text(_) => Err(ClientError::Protocol("the server sent a text frame".into())),
            Incoming::Close { code, reason } => Err(ClientError::Closed { code, reason }),
            Incoming::Eof => Err(ClientError::Closed {
                code: None,
                reason: String::new(),
            }),
        }
    }

    /// Sends a close frame with `code` and waits for the server's.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), ClientError> {
        self.client.socket.close(code, reason).await
    }

    /// The underlying socket.
    pub fn socket(&mut self) -> &mut RawSocket {
        &mut self.client.socket
    }
}
