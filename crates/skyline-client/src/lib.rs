//! The Skyline client SDK: what a desktop app embeds to talk to a Skyline
//! licensing server. It connects over `ws://` or `wss://`, checks the server's
//! signed handshake against the identity key the app ships, and calls the
//! encrypted RPC of `PROTOCOL.md` with typed requests, results and errors. The
//! protocol itself (codec, handshake, frame crypto) lives, without I/O, in
//! [`skyline_protocol`]; this crate drives it over tokio and tungstenite.
//!
//! # Layout
//!
//! | module | PROTOCOL.md | what it holds |
//! | --- | --- | --- |
//! | [`config`] | §1 | [`ClientConfig`]: timeouts, message size limit, extra TLS roots, the clock |
//! | [`transport`] | §1 | opening the WebSocket (TLS, HTTP 429); [`RawSocket`], a socket before the handshake |
//! | [`client`] | §3, §5 | [`Client`]: the handshake, `q`/`t`/`s` bookkeeping, lock-step calls and pipelining |
//! | [`methods`] | §6 | `start-session` ([`StartSession`]), `get-feature-toggles`, `send-telemetry-event` |
//! | [`error`] | §5 statuses | [`RpcError`], one variant per status; [`ClientError`], everything else |
//! | [`raw`] | all | [`RawConnection`]: testing hooks to send anything and see everything |
//! | [`update`] | §7 | [`download_update`]: resumable, signature-verified update downloads |
//! | [`device`] | §6 step 6 | [`device_identity`]: the device's serial number and UUID, with a stable fallback |
//! | `http` (private) | §7 | a minimal HTTP/1.1 client (hyper over tokio / tokio-rustls) for downloads |
//!
//! # Using it
//!
//! ```no_run
//! use skyline_client::{Client, ClientError, RpcError};
//! use skyline_protocol::methods::{StartSessionRequest, TelemetryEvent};
//! use skyline_protocol::IdentityPublicKey;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The server's identity public key, shipped inside the app.
//! let pinned = IdentityPublicKey::from_hex(
//!     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
//! )?;
//!
//! // Connect and verify the signed handshake. A forged signature is
//! // `ClientError::ServerIdentityMismatch`, and nothing is sent.
//! let mut client = Client::connect("wss://licensing.example.com/ws", pinned).await?;
//!
//! // Activate or validate the license. `last_login` is what the app persisted
//! // after the previous successful start (None on a device's first start).
//! let last_login: Option<i64> = None;
//! let started = client
//!     .start_session(StartSessionRequest {
//!         product_id: "telepower".into(),
//!         product_version: "7.0.3".into(),
//!         language: Some("en".into()),
//!         last_login_reported_by_client: last_login,
//!         device_serial_number: "C02XK0AAJG5J".into(),
//!         cs_product_uuid: "4C4C4544-0042-3510-8052-B4C04F4B4E32".into(),
//!         license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
//!     })
//!     .await;
//! match started {
//!     Ok(started) => {
//!         // Persist this now: it is the next `lastLoginReportedByClient`.
//!         let _to_persist: i64 = started.last_login_to_persist;
//!         println!("licensed until {:?}", started.result.expiry_date);
//!     }
//!     Err(ClientError::Rpc(RpcError::LicenseExpired { message })) => {
//!         eprintln!("{message}"); // localized, ready to show
//!         return Ok(());
//!     }
//!     Err(e) => return Err(e.into()),
//! }
//!
//! let toggles = client.get_feature_toggles().await?;
//! println!("{:?}", toggles.get("engine.limits.sendMessage.dailyLimit"));
//! client
//!     .send_telemetry_event(TelemetryEvent {
//!         event: "app.started".into(),
//!         data: None,
//!         // With an id, a resent event (after a lost response) is stored once.
//!         event_id: Some("0f6c2b9e-0001".into()),
//!     })
//!     .await?;
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Rules the client keeps
//!
//! - `start-session` goes first, at `q = 0` with `s = nil`; every later request
//!   carries the next `q` and the session token, and every response must carry
//!   its request's `q`, else the connection is unusable ([`ClientError::Protocol`]).
//! - Messages from the server larger than [`ClientConfig::max_message_size`]
//!   (64 KiB by default) are refused; every request has a timeout (30 s by default).
//! - `Debug` never shows the session key or the session token.

pub mod client;
pub mod config;
pub mod device;
pub mod error;
mod http;
pub mod methods;
pub mod raw;
pub mod transport;
pub mod update;

pub use client::Client;
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REQUEST_TIMEOUT,
};
pub use device::{device_identity, DeviceIdentity};
pub use error::{ClientError, RpcError};
pub use methods::StartSession;
pub use raw::RawConnection;
pub use transport::{Incoming, RawSocket};
pub use update::{download_update, DownloadedUpdate, UpdateChannel, UpdateError, UpdateRequest};

pub use skyline_protocol;
pub use skyline_protocol::methods::{
    FeatureToggles, StartSessionRequest, StartSessionResult, TelemetryEvent, ToggleValue,
};
pub use skyline_protocol::{CloseCode, IdentityPublicKey, IntegrityCode, Status, Value};
