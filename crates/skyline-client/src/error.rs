//! The client's errors: [`RpcError`], one variant per non-OK status a server
//! can answer a request with, and [`ClientError`], everything that can go
//! wrong on the way (transport, handshake, frames, protocol violations).

use std::time::Duration;

use skyline_protocol::{CloseCode, FrameError, HandshakeError, IntegrityCode, Status};
use tokio_tungstenite::tungstenite;

/// A request the server answered with a non-OK status (PROTOCOL.md section 5,
/// "Statuses"). Every variant carries `message`, the server's `e`: localized by
/// the `language` of `start-session`, meant to be shown to the user (empty when
/// the server sent none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// `BAD_REQUEST`: malformed envelope or payload; the message names the field.
    #[error("BAD_REQUEST: {message}")]
    BadRequest {
        /// The server's message.
        message: String,
    },
    /// `SESSION_REQUIRED`: the first request was not `start-session`. Closes the connection.
    #[error("SESSION_REQUIRED: {message}")]
    SessionRequired {
        /// The server's message.
        message: String,
    },
    /// `INVALID_SESSION`: wrong session token. Closes the connection.
    #[error("INVALID_SESSION: {message}")]
    InvalidSession {
        /// The server's message.
        message: String,
    },
    /// `UNKNOWN_METHOD`: no such method; the connection stays open.
    #[error("UNKNOWN_METHOD: {message}")]
    UnknownMethod {
        /// The server's message.
        message: String,
    },
    /// `UNKNOWN_PRODUCT`: `productId` not known or disabled.
    #[error("UNKNOWN_PRODUCT: {message}")]
    UnknownProduct {
        /// The server's message.
        message: String,
    },
    /// `OUTDATED_VERSION`: the app must update (PROTOCOL.md section 7).
    #[error("OUTDATED_VERSION: {message}")]
    OutdatedVersion {
        /// The server's message.
        message: String,
    },
    /// `INVALID_LICENSE_KEY`: no such key for this product (or a typo).
    #[error("INVALID_LICENSE_KEY: {message}")]
    InvalidLicenseKey {
        /// The server's message.
        message: String,
    },
    /// `LICENSE_REVOKED`: revoked or suspended by an operator.
    #[error("LICENSE_REVOKED: {message}")]
    LicenseRevoked {
        /// The server's message.
        message: String,
    },
    /// `LICENSE_EXPIRED`: today (UTC) is after the expiry date.
    #[error("LICENSE_EXPIRED: {message}")]
    LicenseExpired {
        /// The server's message.
        message: String,
    },
    /// `KEY_BOUND_TO_ANOTHER_DEVICE`: every device seat of the key is taken;
    /// the message names the date the key was first bound.
    #[error("KEY_BOUND_TO_ANOTHER_DEVICE: {message}")]
    KeyBoundToAnotherDevice {
        /// The server's message.
        message: String,
    },
    /// `INTEGRITY_BREACH`: tampering detected. Closes the connection.
    #[error("INTEGRITY_BREACH: {message}")]
    IntegrityBreach {
        /// The code at the end of the message (`LL` or `SQ`), if one is there.
        code: Option<IntegrityCode>,
        /// The server's message.
        message: String,
    },
    /// `RATE_LIMITED`: too many requests or attempts.
    #[error("RATE_LIMITED: {message}")]
    RateLimited {
        /// The server's message.
        message: String,
    },
    /// `INTERNAL_ERROR`: a server fault; nothing was changed.
    #[error("INTERNAL_ERROR: {message}")]
    InternalError {
        /// The server's message.
        message: String,
    },
}

impl RpcError {
    /// The error for a response's status and `e`; `None` for `OK` and for
    /// `BAD_HANDSHAKE`, which never answers a request.
    pub fn from_status(status: Status, message: Option<String>) -> Option<RpcError> {
        let message = message.unwrap_or_default();
        Some(match status {
            Status::Ok | Status::BadHandshake => return None,
            Status::BadRequest => RpcError::BadRequest { message },
            Status::SessionRequired => RpcError::SessionRequired { message },
            Status::InvalidSession => RpcError::InvalidSession { message },
            Status::UnknownMethod => RpcError::UnknownMethod { message },
            Status::UnknownProduct => RpcError::UnknownProduct { message },
            Status::OutdatedVersion => RpcError::OutdatedVersion { message },
            Status::InvalidLicenseKey => RpcError::InvalidLicenseKey { message },
            Status::LicenseRevoked => RpcError::LicenseRevoked { message },
            Status::LicenseExpired => RpcError::LicenseExpired { message },
            Status::KeyBoundToAnotherDevice => RpcError::KeyBoundToAnotherDevice { message },
            Status::IntegrityBreach => RpcError::IntegrityBreach {
                code: IntegrityCode::find_in(&message),
                message,
            },
            Status::RateLimited => RpcError::RateLimited { message },
            Status::InternalError => RpcError::InternalError { message },
        })
    }

    /// The wire status.
    pub fn status(&self) -> Status {
        match self {
            RpcError::BadRequest { .. } => Status::BadRequest,
            RpcError::SessionRequired { .. } => Status::SessionRequired,
            RpcError::InvalidSession { .. } => Status::InvalidSession,
            RpcError::UnknownMethod { .. } => Status::UnknownMethod,
            RpcError::UnknownProduct { .. } => Status::UnknownProduct,
            RpcError::OutdatedVersion { .. } => Status::OutdatedVersion,
            RpcError::InvalidLicenseKey { .. } => Status::InvalidLicenseKey,
            RpcError::LicenseRevoked { .. } => Status::LicenseRevoked,
            RpcError::LicenseExpired { .. } => Status::LicenseExpired,
            RpcError::KeyBoundToAnotherDevice { .. } => Status::KeyBoundToAnotherDevice,
            RpcError::IntegrityBreach { .. } => Status::IntegrityBreach,
            RpcError::RateLimited { .. } => Status::RateLimited,
            RpcError::InternalError { .. } => Status::InternalError,
        }
    }

    /// The server's localized message, for the user.
    pub fn message(&self) -> &str {
        match self {
            RpcError::BadRequest { message }
            | RpcError::SessionRequired { message }
            | RpcError::InvalidSession { message }
            | RpcError::UnknownMethod { message }
            | RpcError::UnknownProduct { message }
            | RpcError::OutdatedVersion { message }
            | RpcError::InvalidLicenseKey { message }
            | RpcError::LicenseRevoked { message }
            | RpcError::LicenseExpired { message }
            | RpcError::KeyBoundToAnotherDevice { message }
            | RpcError::IntegrityBreach { message, .. }
            | RpcError::RateLimited { message }
            | RpcError::InternalError { message } => message,
        }
    }

    /// Whether the server ends the connection after this answer to `method`
    /// (PROTOCOL.md section 5: every non-OK `start-session`, a missing
    /// session, a wrong token, an integrity breach).
    pub fn closes_connection(&self, method: &str) -> bool {
        method == skyline_protocol::methods::START_SESSION
            || matches!(
                self,
                RpcError::SessionRequired { .. }
                    | RpcError::InvalidSession { .. }
                    | RpcError::IntegrityBreach { .. }
            )
    }
}

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL does not parse, or its scheme is not `ws` or `wss`.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// A root certificate given to the configuration cannot be used.
    #[error("invalid root certificate: {0}")]
    InvalidCertificate(String),
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Connecting (TCP, TLS, upgrade and handshake) took longer than the
    /// configured connect timeout.
    #[error("connecting took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// No response within the configured request timeout. The connection is
    /// unusable afterwards.
    #[error("no response within {0:?}")]
    RequestTimeout(Duration),
    /// The server refused the WebSocket upgrade with HTTP 429: too many
    /// handshakes from this address. Retry later.
    #[error("rate limited: the server refused the connection with HTTP 429")]
    RateLimited,
    /// The server refused the WebSocket upgrade with another HTTP status.
    #[error("the server refused the WebSocket upgrade with HTTP {status}")]
    UpgradeRefused {
        /// The HTTP status code.
        status: u16,
    },
    /// The server's handshake signature does not verify against the pinned
    /// identity key: a man-in-the-middle, or the wrong key pinned. Report it to
    /// the user as an integrity breach. Nothing was sent on that connection
    /// after the hello, and it was dropped.
    #[error("the server's identity does not match the pinned key (possible man-in-the-middle)")]
    ServerIdentityMismatch,
    /// The server answered the hello with `BAD_HANDSHAKE` and this reason.
    #[error("the server refused the handshake: {reason}")]
    HandshakeRefused {
        /// The server's `e`.
        reason: String,
    },
    /// The server's hello is malformed or carries a low-order key; the
    /// connection was dropped.
    #[error("handshake failed: {0}")]
    Handshake(#[source] HandshakeError),
    /// The server answered with a non-OK status.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The server closed the connection. `code` is the WebSocket close code
    /// (`None` when the connection ended without a close frame).
    #[error("the server closed the connection (code {}): {reason}", .code.map_or_else(|| "none".to_owned(), |c| c.to_string()))]
    Closed {
        /// The close frame's code.
        code: Option<CloseCode>,
        /// The close frame's reason text.
        reason: String,
    },
    /// A socket error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A WebSocket error not covered by a more specific variant.
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// A frame from the server failed to decrypt. The connection is unusable.
    #[error("cannot open the server's frame: {0}")]
    Frame(#[from] FrameError),
    /// The server broke the protocol: a malformed response, a response whose
    /// `q` is not the request's, a text frame. The connection is unusable.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// The server sent a message larger than the configured maximum.
    #[error("the server sent a message of {size} bytes, more than the limit of {limit}")]
    MessageTooBig {
        /// Bytes in the message, as far as known.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// An earlier error (given here) left this connection unusable;
    /// reconnect.
    #[error("the connection is unusable: {0}")]
    Unusable(String),
    /// The call is not allowed in the connection's current state (for example
    /// a method before `start-session`, or `start-session` twice).
    #[error("{0}")]
    InvalidState(&'static str),
}

impl ClientError {
    /// The status error, if the server answered with one.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            ClientError::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// The close code, if the server closed the connection.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            ClientError::Closed { code, .. } => *code,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_ok_status_maps_to_a_variant_with_the_same_status() {
        for status in Status::ALL {
            let err = RpcError::from_status(status, Some("m".into()));
            match status {
                Status::Ok | Status::BadHandshake => assert!(err.is_none()),
                _ => {
                    let err = err.unwrap();
                    assert_eq!(err.status(), status);
                    assert_eq!(err.message(), "m");
                    assert!(err.to_string().starts_with(status.as_str()));
                }
            }
        }
    }

    #[test]
    fn closed_displays_its_code() {
        let e = ClientError::Closed {
            code: Some(CloseCode::POLICY_VIOLATION),
            reason: "x".into(),
        };
        assert_eq!(e.close_code(), Some(CloseCode(1008)));
        assert!(e.to_string().contains("1008"));
    }
}
