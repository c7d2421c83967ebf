//! The server's configuration: a plain value built by the binary (from its
//! config file, environment and flags) and passed down. No globals.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::HttpLimits;

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
    /// Header and keep-alive timeouts, head size and connection cap of the
    /// HTTP listener (the admin listener has its own copy).
    pub http: HttpLimits,
    /// Most WebSocket sessions at once from one client address (an IPv6
    /// /64 counts as one); further upgrades get HTTP 503. 0 = off.
    pub max_connections_per_address: u32,
    /// Handshakes per second for the whole server, whatever their address;
    /// over it, upgrades get HTTP 503 so that sessions in progress keep
    /// their CPU. 0 = off.
    pub handshake_budget_per_second: u32,
    /// Time allowed for every send and close; a peer that does not read
    /// is dropped after it.
    pub write_timeout: Duration,
    /// Most frames (in either direction) under one session key; the next
    /// request closes the connection with 1008. At least 2.
    pub max_frames_per_connection: u64,
    /// Quotas and bounds of telemetry.
    pub telemetry: TelemetryLimits,
}

/// The default server-wide handshake budget: 500 a second per CPU core. A
/// handshake costs about 130 µs of server CPU (BENCHMARKS.md), so the budget
/// keeps a flood to a small share of each core.
pub fn default_handshake_budget() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(256));
    500 * cores as u32
}

/// What one license may store as telemetry, and when the server stops
/// taking telemetry to keep room for licensing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryLimits {
    /// Events per hour per license (a bucket of this size, refilled over
    /// the hour); over it, `RATE_LIMITED`. 0 = off.
    pub events_per_hour: u32,
    /// Stored bytes per hour per license, counted as stored (JSON); over
    /// it, `RATE_LIMITED`. 0 = off.
    pub bytes_per_hour: u64,
    /// Largest event as stored (event name and JSON `data`), in bytes;
    /// larger is `BAD_REQUEST` naming `data`. 0 = off.
    pub max_event_bytes: usize,
    /// Most events waiting for their commit at once; past it,
    /// `RATE_LIMITED` at once (the connection stays open). 0 = off.
    pub queue: usize,
    /// Free bytes that must stay on the database's disk; below it,
    /// telemetry is refused (`RATE_LIMITED`) while licensing goes on.
    /// 0 = off.
    pub min_free_disk_bytes: u64,
    /// The directory whose file system is watched (the SQLite database's);
    /// `None` (PostgreSQL): no watermark.
    pub disk_path: Option<PathBuf>,
}

impl Default for TelemetryLimits {
    fn default() -> Self {
        TelemetryLimits {
            events_per_hour: 10_000,
            bytes_per_hour: 32 * 1024 * 1024,
            max_event_bytes: 64 * 1024,
            queue: 4_096,
            min_free_disk_bytes: 512 * 1024 * 1024,
            disk_path: None,
        }
    }
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
            http: HttpLimits::default(),
            max_connections_per_address: 500,
            handshake_budget_per_second: default_handshake_budget(),
            write_timeout: Duration::from_secs(30),
            max_frames_per_connection: 1 << 24,
            telemetry: TelemetryLimits::default(),
        }
    }
}
