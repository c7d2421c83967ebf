//! `skyline bench` on the command line: the scenarios and every flag.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// What one operation of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Connect, handshake (PROTOCOL.md §3), close.
    Handshake,
    /// Connect, handshake, start-session on a bench key, close.
    Session,
    /// Connect, handshake, start-session of a device never seen before on
    /// one key (its plan has --seats seats), close: binding the Nth device;
    /// reports the rate of the first and the last thousand bindings.
    Bind,
    /// get-feature-toggles on held sessions, lock-step or --pipeline N.
    Toggles,
    /// send-telemetry-event on held sessions; each OK means committed.
    Telemetry,
    /// Open --connections sessions and hold them; the server's memory per session.
    Idle,
    /// Messages echoed by the server's /echo over held WebSockets: the
    /// transport alone, the ceiling of `toggles`.
    EchoBaseline,
    /// Connect, upgrade, one hello-sized message echoed by /echo, close: the
    /// ceiling of `handshake`.
    EchoConnect,
    /// Messages opened and resealed by the server's /echo-sealed after a real
    /// handshake: transport plus frame crypto, without MessagePack or methods.
    EchoSealed,
    /// get-feature-toggles on held sessions (as `toggles`) while other
    /// tasks flood the server with handshakes from --flood-addrs source
    /// addresses: does a flood starve the sessions in progress?
    Flood,
}

impl Scenario {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Handshake => "handshake",
            Scenario::Session => "session",
            Scenario::Bind => "bind",
            Scenario::Toggles => "toggles",
            Scenario::Telemetry => "telemetry",
            Scenario::Idle => "idle",
            Scenario::EchoBaseline => "echo-baseline",
            Scenario::EchoConnect => "echo-connect",
            Scenario::EchoSealed => "echo-sealed",
            Scenario::Flood => "flood",
        }
    }

    /// Whether each connection needs a license session (bench keys).
    pub fn needs_keys(self) -> bool {
        matches!(
            self,
            Scenario::Session
                | Scenario::Bind
                | Scenario::Toggles
                | Scenario::Telemetry
                | Scenario::Idle
                | Scenario::Flood
        )
    }

    /// Whether the server's identity key must be pinned (every scenario
    /// that does the handshake).
    pub fn needs_identity(self) -> bool {
        !matches!(self, Scenario::EchoBaseline | Scenario::EchoConnect)
    }

    /// Whether operations share long-lived connections, so `--pipeline` applies.
    pub fn pipelines(self) -> bool {
        matches!(
            self,
            Scenario::Toggles
                | Scenario::Telemetry
                | Scenario::EchoBaseline
                | Scenario::EchoSealed
                | Scenario::Flood
        )
    }

    /// The server path the scenario talks to.
    pub fn path(self) -> &'static str {
        match self {
            Scenario::EchoBaseline | Scenario::EchoConnect => "/echo",
            Scenario::EchoSealed => "/echo-sealed",
            _ => "/ws",
        }
    }

    /// Concurrent connections when `--connections` is not given: enough to
    /// keep a 2-core server busy while the load tool shares the machine.
    pub fn default_connections(self) -> usize {
        match self {
            Scenario::Handshake | Scenario::EchoConnect => 4,
            // Enough sessions in flight that the server's cores never wait
            // on one client's handshake (16 measured best on 2 cores).
            Scenario::Session | Scenario::Bind => 16,
            Scenario::Toggles | Scenario::EchoBaseline | Scenario::EchoSealed => 16,
            Scenario::Flood => 16,
            // Each event waits for a group commit; many connections fill it.
            Scenario::Telemetry => 256,
            Scenario::Idle => 1_000,
        }
    }
}

/// `skyline bench SCENARIO`: the flags. What a run is and what it needs from
/// the server is in [`AFTER_HELP`], printed under `--help`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:7700/ws. The echo
    /// scenarios use the same host and port with /echo or /echo-sealed.
    #[arg(long)]
    pub url: String,
    /// The server's identity public key (64 hex characters) to pin. Default:
    /// the public half of the identity key in the data directory.
    #[arg(long)]
    pub identity_public: Option<String>,
    /// Concurrent connections; for `idle`, the number of sessions to hold.
    /// [default: 4 for handshake, 16 for session, toggles and echo,
    /// 256 for telemetry, 1000 for idle]
    #[arg(long)]
    pub connections: Option<usize>,
    /// Stop after this many seconds (fractions allowed) [default: 10; for
    /// idle: 300, a cap on opening the sessions].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many operations in all (errors count).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Requests in flight per connection (toggles, telemetry, echo-baseline,
    /// echo-sealed); responses are read in order while the window refills.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open loop: start operations at this many per second in all, and
    /// measure latency from when each was due (no coordinated omission).
    /// Lock-step only (--pipeline 1).
    #[arg(long)]
    pub rate: Option<f64>,
    /// License keys to create for the run [default: connections, at most 1000].
    /// Connections share keys round-robin, each with its own device; the
    /// plan has as many device seats as that needs.
    #[arg(long)]
    pub keys: Option<u32>,
    /// For `telemetry`: give every event its own `eventId` (PROTOCOL.md
    /// 1.1), so the server also claims each id.
    #[arg(long)]
    pub event_ids: bool,
    /// For `bind`: device seats of the one key every device binds to.
    #[arg(long, default_value_t = 100_000)]
    pub seats: u32,
    /// Product to create the bench keys under (created when missing).
    #[arg(long, default_value = "skyline-bench")]
    pub product: String,
    /// The server's process id: report its CPU time per operation (from
    /// /proc/PID/stat) and its resident memory (/proc/PID/status).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Spread connections over this many source addresses, 127.0.0.2 and
    /// up, to get past the ephemeral port range of one address.
    #[arg(long)]
    pub source_addrs: Option<u32>,
    /// Bytes per echo message [default: the size of a sealed
    /// get-feature-toggles request].
    #[arg(long)]
    pub message_bytes: Option<usize>,
    /// For `idle`: seconds to hold the sessions before reading the server's memory.
    #[arg(long, default_value_t = 1.0)]
    pub hold: f64,
    /// For `flood`: concurrent tasks flooding the server with handshakes.
    #[arg(long, default_value_t = 64)]
    pub flood_connections: usize,
    /// For `flood`: source addresses the flood comes from, 127.0.0.2 and up.
    #[arg(long, default_value_t = 200)]
    pub flood_addrs: u32,
    /// Seconds a connection attempt or a request may take before it counts
    /// as a timeout error.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

/// The notes under `skyline bench --help`.
const AFTER_HELP: &str = "\
Every run is bounded: it stops after --duration (default 10 s; for idle, at
most 300 s to open its sessions) or after --requests operations, whichever
comes first. Setup (connecting, starting sessions) is not measured. Only
loopback servers (127.0.0.0/8, ::1) are driven.

Run the server with --handshakes-per-second 0 (its default limit of 50
handshakes per second per address answers a load test with HTTP 429), with
--handshake-budget-per-second 0 and --max-connections-per-address 0 for more
than 500 handshakes a second per server core or 500 sessions from one address (else HTTP
503), and with --bench-echo for the echo scenarios.

session, bind, toggles, telemetry and idle create their own product, plan
and license keys in the server's database before the run, through the same
--data-dir / --database as the operator commands. The handshake pins
--identity-public, else the public half of the data directory's identity key.

flood measures toggles as `toggles` does while --flood-connections tasks
connect and handshake in a loop from --flood-addrs source addresses; compare
its latency with a plain toggles run. Run the server with its handshake
budget (the default) but --handshakes-per-second 0, or the per-address limit
answers most of the flood with HTTP 429 before it costs a handshake.

bind measures what binding the 15,000th device of a key costs against the
first: run it with --requests 15000 (or more) and compare the two rates it
reports.

Example:
  skyline serve --listen 127.0.0.1:7700 --handshakes-per-second 0 \
      --handshake-budget-per-second 0 --max-connections-per-address 0 --bench-echo &
  skyline bench toggles --url ws://127.0.0.1:7700/ws --pipeline 8 --server-pid $!";

impl BenchArgs {
    /// `--timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}
