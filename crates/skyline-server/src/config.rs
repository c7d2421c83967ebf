//! The server's configuration: a plain value built by the binary (from its
//! config file, environment and flags) and passed down. No globals.

use std::net::IpAddr;
use std::time::Duration;

/// Limits and policies of the WebSocket endpoint (PROTOCOL.md section 1).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted message, in bytes; larger closes with 1009.
    pub max_message_bytes: usize,
    /// Time allowed between the upgrade and `client-hello`; then close 1008.
    pub handshake_timeout: Duration,
    /// A connection with no request for this long is closed with 1000.
    pub idle_timeout: Duration,
    /// Most WebSocket sessions open at once; further upgrades get HTTP 503.
    pub max_connections: usize,
    /// Handshakes per second per client address; over it, HTTP 429. 0 = off.
    pub handshakes_per_second: u32,
    /// Failed license keys per minute per client address; over it,
    /// `start-session` answers `RATE_LIMITED`. 0 = off.
    pub failed_keys_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Time allowed for open connections to finish at shutdown.
    pub shutdown_grace: Duration,
    /// How long a license's feature toggles are served from memory before
    /// they are read again; operator changes reach open sessions within it.
    /// Zero reads the database on every request.
    pub toggle_cache_ttl: Duration,
    /// Also serve the benchmark echo endpoints `/echo` and `/echo-sealed`
    /// (see [`crate::echo`]). For `skyline bench` only; off by default.
    pub echo_endpoint: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 100_000,
            handshakes_per_second: 50,
            failed_keys_per_minute: 10,
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            toggle_cache_ttl: Duration::from_secs(1),
            echo_endpoint: false,
        }
    }
}
