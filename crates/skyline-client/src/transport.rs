//! The WebSocket under a client (PROTOCOL.md section 1): opening `ws://` and
//! `wss://` connections, and [`RawSocket`], a connection before (or without)
//! the handshake, which sends and receives whole messages.
//!
//! [`RawSocket`] is a testing hook: it sends whatever it is given, so a test
//! can send a malformed hello, a text frame, or nothing at all. Apps use
//! [`Client::connect`](crate::Client::connect).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use skyline_protocol::{CloseCode, IdentityPublicKey};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError, UrlError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::ClientError;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One message received from the server, as the socket saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A binary message: a plain `server-hello` during the handshake, an
    /// encrypted frame after it.
    Binary(Vec<u8>),
    /// A text message (never valid in this protocol).
    Text(String),
    /// A close frame. `code` is `None` for a close frame without a code.
    Close {
        /// The close code.
        code: Option<CloseCode>,
        /// The close reason.
        reason: String,
    },
    /// The connection ended without a close frame, or after one was already
    /// delivered.
    Eof,
}

/// A WebSocket connection to a Skyline server on which no handshake has been
/// done (yet). Testing hook: it sends whatever it is given.
///
/// [`handshake`](Self::handshake) turns it into a [`Client`] as
/// [`Client::connect`] would.
pub struct RawSocket {
    ws: WsStream,
    pub(crate) config: ClientConfig,
}

impl std::fmt::Debug for RawSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSocket")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RawSocket {
    /// Opens a WebSocket to `url` with the default configuration, and stops
    /// there: nothing is sent.
    pub async fn connect(url: &str) -> Result<RawSocket, ClientError> {
        Self::connect_with(url, &ClientConfig::default()).await
    }

    /// Opens a WebSocket to `url` with `config` (connect timeout, message size
    /// limit, roots), and stops there: nothing is sent.
    pub async fn connect_with(url: &str, config: &ClientConfig) -> Result<RawSocket, ClientError> {
        within_connect_timeout(config, open(url, config)).await
    }

    /// Sends one binary message, as is.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|e| self.map_error(e))
    }

    /// Sends one text message (which the server must refuse with close 1003).
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .map_err(|e| self.map_error(e))
    }

    /// Waits, at most the configured request timeout, for the next data or
    /// close message. Pings and pongs are handled and skipped.
    pub async fn recv(&mut self) -> Result<Incoming, ClientError> {
        let limit = self.config.request_timeout();
        tokio::time::timeout(limit, self.recv_unbounded())
            .await
            .map_err(|_| ClientError::RequestTimeout(limit))?
    }

    /// Sends a close frame with `code` and `reason`, then waits (at most the
    /// request timeout) for the server's close frame or the end of the
    /// connection.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), ClientError> {
        let frame = CloseFrame {
            code: WsCloseCode::from(code.0),
            reason: reason.to_owned().into(),
        };
        match self.ws.close(Some(frame)).await {
            Ok(()) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(self.map_error(e)),
        }
        loop {
            match self.recv().await? {
                Incoming::Close { .. } | Incoming::Eof => return Ok(()),
                Incoming::Binary(_) | Incoming::Text(_) => {}
            }
        }
    }

    /// Does the handshake of PROTOCOL.md section 3 on this socket against the
    /// `pinned` identity key, within the connect timeout. See
    /// [`Client::connect`].
    pub async fn handshake(self, pinned: IdentityPublicKey) -> Result<Client, ClientError> {
        let config = self.config.clone();
        within_connect_timeout(&config, Client::handshake(self, pinned)).await
    }

    /// The next message, with no time limit.
    pub(crate) async fn recv_unbounded(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let message = match self.ws.next().await {
                None => return Ok(Incoming::Eof),
                Some(Ok(message)) => message,
                Some(Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                )) => return Ok(Incoming::Eof),
                Some(Err(e)) => return Err(self.map_error(e)),
            };
            if let Message::Close(_) = message {
                // Complete the closing handshake now: tungstenite queued our
                // close reply, and nothing else may ever flush it.
                let _ = self.ws.flush().await;
            }
            return Ok(match message {
                Message::Binary(bytes) => Incoming::Binary(bytes.into()),
                Message::Text(text) => Incoming::Text(text.as_str().to_owned()),
                Message::Close(frame) => match frame {
                    Some(frame) => Incoming::Close {
                        code: Some(CloseCode(u16::from(frame.code))),
                        reason: frame.reason.as_str().to_owned(),
                    },
                    None => Incoming::Close {
                        code: None,
                        reason: String::new(),
                    },
                },
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            });
        }
    }

    /// Sends a close frame and does not wait for the answer; errors are
    /// ignored (the connection is being abandoned anyway).
    pub(crate) async fn close_quietly(&mut self, code: CloseCode) {
        let frame = CloseFrame {
            code: WsCloseCode::from(code.0),
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    fn map_error(&self, e: tungstenite::Error) -> ClientError {
        match e {
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, .. }) => {
                ClientError::MessageTooBig {
                    size,
                    limit: self.config.max_message_size(),
                }
            }
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                ClientError::Closed {
                    code: None,
                    reason: String::new(),
                }
            }
            tungstenite::Error::Io(e) => ClientError::Io(e),
            other => ClientError::WebSocket(Box::new(other)),
        }
    }
}

/// Runs `connecting` within the configured connect timeout.
async fn within_connect_timeout<T>(
    config: &ClientConfig,
    connecting: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let limit = config.connect_timeout();
    tokio::time::timeout(limit, connecting)
        .await
        .map_err(|_| ClientError::ConnectTimeout(limit))?
}

/// TCP, TLS for `wss://`, and the WebSocket upgrade.
async fn open(url: &str, config: &ClientConfig) -> Result<RawSocket, ClientError> {
    let parsed = url::Url::parse(url).map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
    let connector = match parsed.scheme() {
        "ws" => Connector::Plain,
        "wss" => Connector::Rustls(config.tls_config()?),
        other => {
            return Err(ClientError::InvalidUrl(format!(
                "scheme `{other}`: expected ws or wss"
            )))
        }
    };
    let limit = config.max_message_size();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let connected = match config.local_addr() {
        None => {
            tokio_tungstenite::connect_async_tls_with_config(
                url,
                Some(ws_config),
                true,
                Some(connector),
            )
            .await
        }
        Some(local) => {
            let tcp = connect_from(&parsed, local).await?;
            tokio_tungstenite::client_async_tls_with_config(
                url,
                tcp,
                Some(ws_config),
                Some(connector),
            )
            .await
        }
    };
    match connected {
        Ok((ws, _response)) => Ok(RawSocket {
            ws,
            config: config.clone(),
        }),
        Err(tungstenite::Error::Http(response)) if response.status().as_u16() == 429 => {
            Err(ClientError::RateLimited)
        }
        Err(tungstenite::Error::Http(response)) => Err(ClientError::UpgradeRefused {
            status: response.status().as_u16(),
        }),
        Err(tungstenite::Error::Url(e @ UrlError::UnsupportedUrlScheme))
        | Err(tungstenite::Error::Url(e @ UrlError::NoHostName))
        | Err(tungstenite::Error::Url(e @ UrlError::EmptyHostName)) => {
            Err(ClientError::InvalidUrl(e.to_string()))
        }
        Err(tungstenite::Error::Io(e)) => Err(ClientError::Io(e)),
        Err(e) => Err(ClientError::WebSocket(Box::new(e))),
    }
}

/// TCP to the URL's host from the source address `local`
/// ([`ClientConfig::with_local_addr`]): the first resolved address of the same
/// family, Nagle off as `connect_async` does it.
async fn connect_from(url: &url::Url, local: IpAddr) -> Result<TcpStream, ClientError> {
    let host = url
        .host_str()
        .ok_or_else(|| ClientError::InvalidUrl("the URL has no host".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ClientError::InvalidUrl("the URL has no port".into()))?;
    let remote = tokio::net::lookup_host((host, port))
        .await?
        .find(|addr| addr.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| {
            ClientError::InvalidUrl(format!(
                "{host} has no address of the same family as the local address {local}"
            ))
        })?;
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
