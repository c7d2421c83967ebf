//! The encrypted RPC of PROTOCOL.md over WebSocket: the listener, one task
//! per connection, and one file per method.
//!
//! | module | PROTOCOL.md | what it holds |
//! | --- | --- | --- |
//! | [`server`] | §1 | [`run`](server::run): the HTTP listener, `/ws` upgrade, limits, graceful shutdown |
//! | `connection` | §1, §3–5 | one connection: handshake deadline, frames, sequencer, close codes |
//! | `methods` | §6 | one file per method; a method's outcome → status + localized message |
//! | `echo` | — | benchmark-only `/echo` and `/echo-sealed`, behind [`ServerConfig::echo_endpoint`] |
//!
//! What every connection shares ([`Shared`]) and what one connection knows
//! ([`ConnectionState`]) are defined here, so that the listener, the
//! connection loop and the methods depend on this module and not on each
//! other.

mod connection;
mod echo;
mod methods;
pub mod server;

use std::net::IpAddr;
use std::sync::Arc;

use skyline_protocol::methods::Language;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::limits::{AddressSlots, GlobalBudget};
use crate::rate_limit::RateLimiter;
use crate::security::SecurityLog;
use crate::telemetry_guard::TelemetryGuard;
use crate::toggle_cache::ToggleCache;
use crate::Services;

/// Everything a connection needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub services: Services,
    pub handshake_limiter: RateLimiter,
    pub failed_key_limiter: RateLimiter,
    pub connections: Arc<Semaphore>,
    /// WebSocket sessions per client address.
    pub address_slots: Arc<AddressSlots>,
    /// Handshakes per second, whatever their address.
    pub handshake_budget: GlobalBudget,
    /// Per-license telemetry quotas, the event size bound, the commit queue
    /// and the low-disk watermark.
    pub telemetry: TelemetryGuard,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub toggle_cache: ToggleCache,
    /// Bad handshakes, rate-limited upgrades and wrong keys, per address.
    pub security: Arc<SecurityLog>,
}

/// Per-connection state visible to the methods.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    /// The client's address (after trusted-proxy resolution).
    pub client: IpAddr,
    /// The language of error messages, from `start-session`.
    pub language: Language,
    /// The license this connection's session is for, once established.
    pub license: Option<SessionLicense>,
}

/// The license a session was opened for.
#[derive(Debug, Clone)]
pub(crate) struct SessionLicense {
    pub license_id: i64,
    pub product_id: String,
}
