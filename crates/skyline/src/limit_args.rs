//! The `serve` flags (and config keys) of the limits against hostile
//! clients: HTTP timeouts and caps on both listeners, connections per
//! address, the server-wide handshake budget, write timeout, frames per
//! session key, and telemetry quotas. Each flag has an environment variable
//! and a config-file key of the same name in snake case; flags win over the
//! environment, which wins over the file.

use std::time::Duration;

use clap::Args;
use skyline_server::admin::AdminConfig;
use skyline_server::ServerConfig;

use crate::settings::FileConfig;
use crate::CliError;

/// Limits against hostile clients. 0 turns a limit off where that is said.
#[derive(Debug, Args, Default, Clone)]
pub struct LimitArgs {
    /// Seconds a new HTTP connection (RPC or admin listener) has to send
    /// its first request's headers in full; then it is closed. 0 = off
    /// [default: 10].
    #[arg(long, env = "SKYLINE_HTTP_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub http_header_timeout: Option<u64>,
    /// Seconds an idle keep-alive HTTP connection waits for its next
    /// request's headers in full; then it is closed. 0 = off [default: 60].
    #[arg(long, env = "SKYLINE_HTTP_KEEP_ALIVE_TIMEOUT", value_name = "SECONDS")]
    pub http_keep_alive_timeout: Option<u64>,
    /// Largest HTTP request head (request line and headers) in bytes; a
    /// larger one gets 431. At least 1024 [default: 16384].
    #[arg(long, env = "SKYLINE_HTTP_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub http_max_header_bytes: Option<usize>,
    /// Most HTTP connections held at once on the RPC listener, besides the
    /// WebSocket sessions of --max-connections; past it a new connection is
    /// closed at once. 0 = off [default: 10000].
    #[arg(long, env = "SKYLINE_MAX_HTTP_CONNECTIONS")]
    pub max_http_connections: Option<usize>,
    /// Most HTTP connections held at once on the admin listener. 0 = off
    /// [default: 1000].
    #[arg(long, env = "SKYLINE_ADMIN_MAX_CONNECTIONS")]
    pub admin_max_connections: Option<usize>,
    /// Most WebSocket sessions at once from one client address (an IPv6 /64
    /// counts as one address); more get HTTP 503. 0 = off [default: 500].
    #[arg(long, env = "SKYLINE_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<u32>,
    /// Handshakes per second for the whole server, from all addresses
    /// together; more get HTTP 503, so a flood from many addresses cannot
    /// starve the sessions already open. 0 = off [default: 500 per CPU core].
    #[arg(long, env = "SKYLINE_HANDSHAKE_BUDGET_PER_SECOND")]
    pub handshake_budget_per_second: Option<u32>,
    /// Seconds a client has to take each message the server sends (a
    /// client that does not read is dropped). At least 1 [default: 30].
    #[arg(long, env = "SKYLINE_WRITE_TIMEOUT", value_name = "SECONDS")]
    pub write_timeout: Option<u64>,
    /// Most frames, both directions, under one session key; then the
    /// connection is closed with 1008 and the client reconnects. From 2 to
    /// 4294967296 [default: 16777216].
    #[arg(long, env = "SKYLINE_MAX_FRAMES_PER_CONNECTION")]
    pub max_frames_per_connection: Option<u64>,
    /// Telemetry events per hour per license; more get RATE_LIMITED.
    /// 0 = off [default: 10000].
    #[arg(long, env = "SKYLINE_TELEMETRY_EVENTS_PER_HOUR")]
    pub telemetry_events_per_hour: Option<u32>,
    /// Telemetry bytes (as stored) per hour per license; more get
    /// RATE_LIMITED. 0 = off [default: 33554432].
    #[arg(long, env = "SKYLINE_TELEMETRY_BYTES_PER_HOUR", value_name = "BYTES")]
    pub telemetry_bytes_per_hour: Option<u64>,
    /// Largest telemetry event as stored (JSON); larger gets BAD_REQUEST
    /// naming `data`. 0 = off [default: 65536].
    #[arg(long, env = "SKYLINE_TELEMETRY_MAX_EVENT_BYTES", value_name = "BYTES")]
    pub telemetry_max_event_bytes: Option<usize>,
    /// Most telemetry events waiting for their commit; past it events get
    /// RATE_LIMITED at once and the connection stays open. 0 = off
    /// [default: 4096].
    #[arg(long, env = "SKYLINE_TELEMETRY_QUEUE")]
    pub telemetry_queue: Option<usize>,
    /// Free disk (MiB) that must remain where the SQLite database is; below
    /// it telemetry gets RATE_LIMITED while licensing goes on. 0 = off
    /// [default: 512].
    #[arg(long, env = "SKYLINE_TELEMETRY_MIN_FREE_DISK_MB", value_name = "MIB")]
    pub telemetry_min_free_disk_mb: Option<u64>,
}

/// Applies the flags, over the config file's keys, over the defaults
/// already in `server` and `admin`; refuses unsafe values.
pub fn apply(
    args: &LimitArgs,
    file: &FileConfig,
    server: &mut ServerConfig,
    admin: &mut AdminConfig,
) -> Result<(), CliError> {
    let secs = |flag: Option<u64>, key: Option<u64>, default: Duration| {
        flag.or(key).map(Duration::from_secs).unwrap_or(default)
    };
    let http = &mut server.http;
    http.header_timeout = secs(
        args.http_header_timeout,
        file.http_header_timeout,
        http.header_timeout,
    );
    http.keep_alive_timeout = secs(
        args.http_keep_alive_timeout,
        file.http_keep_alive_timeout,
        http.keep_alive_timeout,
    );
    http.max_header_bytes = args
        .http_max_header_bytes
        .or(file.http_max_header_bytes)
        .unwrap_or(http.max_header_bytes);
    if http.max_header_bytes < skyline_server::limits::MIN_HEADER_BYTES {
        return Err(CliError::usage(format!(
            "the HTTP header limit must be at least {} bytes",
            skyline_server::limits::MIN_HEADER_BYTES
        )));
    }
    http.max_connections = args
        .max_http_connections
        .or(file.max_http_connections)
        .unwrap_or(http.max_connections);
    admin.http = skyline_server::limits::HttpLimits {
        max_connections: args
            .admin_max_connections
            .or(file.admin_max_connections)
            .unwrap_or(admin.http.max_connections),
        ..server.http.clone()
    };
    server.max_connections_per_address = args
        .max_connections_per_address
        .or(file.max_connections_per_address)
        .unwrap_or(server.max_connections_per_address);
    server.handshake_budget_per_second = args
        .handshake_budget_per_second
        .or(file.handshake_budget_per_second)
        .unwrap_or(server.handshake_budget_per_second);
    server.write_timeout = secs(args.write_timeout, file.write_timeout, server.write_timeout);
    if server.write_timeout.is_zero() {
        return Err(CliError::usage(
            "the write timeout must be at least 1 second",
        ));
    }
    server.max_frames_per_connection = args
        .max_frames_per_connection
        .or(file.max_frames_per_connection)
        .unwrap_or(server.max_frames_per_connection);
    if !(2..=1 << 32).contains(&server.max_frames_per_connection) {
        return Err(CliError::usage(
            "frames per connection must be from 2 to 4294967296 (2^32, the most one \
             AES-GCM key with random nonces may carry)",
        ));
    }
    let telemetry = &mut server.telemetry;
    telemetry.events_per_hour = args
        .telemetry_events_per_hour
        .or(file.telemetry_events_per_hour)
        .unwrap_or(telemetry.events_per_hour);
    telemetry.bytes_per_hour = args
        .telemetry_bytes_per_hour
        .or(file.telemetry_bytes_per_hour)
        .unwrap_or(telemetry.bytes_per_hour);
    telemetry.max_event_bytes = args
        .telemetry_max_event_bytes
        .or(file.telemetry_max_event_bytes)
        .unwrap_or(telemetry.max_event_bytes);
    telemetry.queue = args
        .telemetry_queue
        .or(file.telemetry_queue)
        .unwrap_or(telemetry.queue);
    if let Some(mib) = args
        .telemetry_min_free_disk_mb
        .or(file.telemetry_min_free_disk_mb)
    {
        telemetry.min_free_disk_bytes = mib.saturating_mul(1024 * 1024);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_flags() {
        let mut server = ServerConfig::default();
        let mut admin = AdminConfig::default();
        apply(
            &LimitArgs::default(),
            &FileConfig::default(),
            &mut server,
            &mut admin,
        )
        .unwrap();
        assert_eq!(server.http.header_timeout, Duration::from_secs(10));
        assert_eq!(admin.http.max_connections, 1_000);
        assert_eq!(server.max_frames_per_connection, 1 << 24);
        assert_eq!(server.telemetry.min_free_disk_bytes, 512 * 1024 * 1024);

        let file: FileConfig = toml::from_str(
            "http_header_timeout = 3\nmax_connections_per_address = 7\n\
             telemetry_events_per_hour = 0\ntelemetry_min_free_disk_mb = 1",
        )
        .unwrap();
        let args = LimitArgs {
            max_connections_per_address: Some(9),
            admin_max_connections: Some(5),
            ..LimitArgs::default()
        };
        let mut server = ServerConfig::default();
        apply(&args, &file, &mut server, &mut admin).unwrap();
        assert_eq!(server.http.header_timeout, Duration::from_secs(3));
        assert_eq!(admin.http.header_timeout, Duration::from_secs(3));
        assert_eq!(admin.http.max_connections, 5);
        assert_eq!(server.max_connections_per_address, 9);
        assert_eq!(server.telemetry.events_per_hour, 0);
        assert_eq!(server.telemetry.min_free_disk_bytes, 1024 * 1024);
    }

    #[test]
    fn unsafe_values_are_refused() {
        let bad = [
            LimitArgs {
                max_frames_per_connection: Some(1),
                ..LimitArgs::default()
            },
            LimitArgs {
                max_frames_per_connection: Some((1 << 32) + 1),
                ..LimitArgs::default()
            },
            LimitArgs {
                write_timeout: Some(0),
                ..LimitArgs::default()
            },
            LimitArgs {
                http_max_header_bytes: Some(100),
                ..LimitArgs::default()
            },
        ];
        for args in bad {
            let mut server = ServerConfig::default();
            let mut admin = AdminConfig::default();
            assert!(
                apply(&args, &FileConfig::default(), &mut server, &mut admin).is_err(),
                "{args:?}"
            );
        }
    }
}
