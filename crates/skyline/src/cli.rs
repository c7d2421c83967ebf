//! The command line: global options and every subcommand, with `--help` text.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::bench::BenchArgs;

/// Skyline: a self-hosted licensing and telemetry server for desktop software.
///
/// `skyline serve` runs the server; every other command is an operator tool
/// that works on the same database (SQLite by default, in the data directory).
#[derive(Debug, Parser)]
#[command(name = "skyline", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Directory for the database file, the identity key and the config file.
    #[arg(
        long,
        global = true,
        env = "SKYLINE_DATA_DIR",
        default_value = "skyline-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` (default: DATA_DIR/skyline.sqlite) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (several nodes, one database).
    #[arg(long, global = true, env = "SKYLINE_DATABASE")]
    pub database: Option<String>,
    /// Identity key file (default: DATA_DIR/identity.key).
    #[arg(long, global = true, env = "SKYLINE_IDENTITY")]
    pub identity: Option<PathBuf>,
    /// Config file in TOML (default: DATA_DIR/skyline.toml, if it exists).
    #[arg(long, global = true, env = "SKYLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Directory of release artifacts, content-addressed. Default: in the
    /// database with PostgreSQL (every node serves them), else
    /// DATA_DIR/releases.
    #[arg(long, global = true, env = "SKYLINE_RELEASES_DIR")]
    pub releases_dir: Option<PathBuf>,
    /// Use an identity key file that others than its owner may read or
    /// write (normally refused: chmod 600 it instead). Logs a warning.
    #[arg(long, global = true, env = "SKYLINE_ALLOW_EXPOSED_IDENTITY")]
    pub allow_exposed_identity: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the licensing server (WebSocket RPC at /ws).
    Serve(ServeArgs),
    /// Write a new identity key file (mode 0600) and print its public key.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage products.
    #[command(subcommand)]
    Product(ProductCommand),
    /// Manage license plans.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Manage license keys.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Manage feature toggles (remote configuration).
    #[command(subcommand)]
    Toggle(ToggleCommand),
    /// Read telemetry.
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// Read the audit log.
    Audit(AuditArgs),
    /// Publish, list and yank signed update releases (served at
    /// /download/PRODUCT/latest).
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Manage bearer tokens of the admin HTTP API.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// A debugging client for a running server.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Load generator: drive a running server and report throughput,
    /// latency, errors, and the server's CPU and memory per operation.
    Bench(BenchArgs),
    /// Bring the database to the newest schema, then exit. `serve` migrates
    /// at start too; run this once before rolling out new nodes.
    Migrate,
    /// Write every record of the database (products, plans, keys, devices,
    /// toggles, audit log, telemetry) to a new dump file, JSON Lines.
    Export {
        /// The dump file to create; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Load a dump file from `skyline export` into an empty database, in
    /// one transaction (e.g. --database postgres://… after exporting SQLite).
    /// A dump made before version 3 also needs the exported deployment's
    /// identity key (--identity).
    Import {
        /// The dump file.
        file: PathBuf,
    },
    /// Print the admin API's OpenAPI 3.0 document (as served at
    /// /admin/openapi.json), to generate clients or check it offline.
    Openapi,
}

/// `skyline serve`. Every option can also come from the config file or an
/// environment variable; flags win over the environment, which wins over the file.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:7700].
    #[arg(long, env = "SKYLINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, serve wss:// and https://.
    #[arg(long, env = "SKYLINE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SKYLINE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest accepted message in bytes [default: 65536].
    #[arg(long, env = "SKYLINE_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Seconds allowed between the upgrade and client-hello [default: 10].
    #[arg(long, env = "SKYLINE_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: Option<u64>,
    /// Seconds without a request before a connection is closed [default: 300].
    #[arg(long, env = "SKYLINE_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Most connections at once; more get HTTP 503 [default: 100000].
    #[arg(long, env = "SKYLINE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Handshakes per second per client address, 0 = off [default: 50].
    #[arg(long, env = "SKYLINE_HANDSHAKES_PER_SECOND")]
    pub handshakes_per_second: Option<u32>,
    /// Failed license keys per minute per client address, 0 = off [default: 10].
    #[arg(long, env = "SKYLINE_FAILED_KEYS_PER_MINUTE")]
    pub failed_keys_per_minute: Option<u32>,
    /// A reverse proxy whose X-Forwarded-For is trusted (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "SKYLINE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Milliseconds a license's feature toggles are served from memory before
    /// they are read again; 0 = read on every request [default: 1000].
    #[arg(long, env = "SKYLINE_TOGGLE_CACHE_MS")]
    pub toggle_cache_ms: Option<u64>,
    /// Log filter, e.g. `info` or `skyline_server=debug` [default: info].
    #[arg(long, env = "SKYLINE_LOG")]
    pub log: Option<String>,
    /// Also serve the benchmark echo endpoints /echo and /echo-sealed, the
    /// ceilings of `skyline bench echo-baseline` and `echo-sealed`.
    #[arg(long, hide = true)]
    pub bench_echo: bool,
    /// Address of the admin HTTP API, or `off` [default: 127.0.0.1:7701].
    /// Keep it on loopback or a private network.
    #[arg(long, env = "SKYLINE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Admin API requests per minute per token, 0 = off [default: 600].
    #[arg(long, env = "SKYLINE_ADMIN_REQUESTS_PER_MINUTE")]
    pub admin_requests_per_minute: Option<u32>,
    #[command(flatten)]
    pub limits: Box<crate::limit_args::LimitArgs>,
}

#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Create a product.
    Create {
        /// Product id as apps send it, e.g. `telepower`.
        id: String,
        /// Oldest app version still allowed to start a session.
        #[arg(long)]
        min_version: String,
    },
    /// Change a product's minimum supported version.
    Update {
        id: String,
        #[arg(long)]
        min_version: String,
    },
    /// List products.
    List,
    /// Refuse every session of a product (UNKNOWN_PRODUCT).
    Disable { id: String },
    /// Serve a disabled product again.
    Enable { id: String },
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Create a plan: how long a key runs and on how many devices.
    Create {
        /// Plan id, e.g. `telepower.licensePlan.release.monthly`.
        plan_id: String,
        /// The product the plan belongs to.
        #[arg(long)]
        product: String,
        /// Duration in calendar months.
        #[arg(long, group = "duration")]
        months: Option<u32>,
        /// Duration in days.
        #[arg(long, group = "duration")]
        days: Option<u32>,
        /// Never expires.
        #[arg(long, group = "duration")]
        perpetual: bool,
        /// Device seats per key.
        #[arg(long, default_value_t = 1)]
        devices: u32,
    },
    /// List plans.
    List {
        #[arg(long)]
        product: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Create license keys; each is printed on its own line.
    Create {
        #[arg(long)]
        plan: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// Show a key's plan, dates and devices.
    Show { key: String },
    /// List keys (shown by their last group only).
    List {
        #[arg(long)]
        product: Option<String>,
    },
    /// Revoke a key: every later session gets LICENSE_REVOKED.
    Revoke { key: String },
    /// Clear a device binding or an integrity lock so the user can log in again.
    ResetDevice {
        key: String,
        /// Only this device (serial number); default: every device of the key.
        #[arg(long)]
        device: Option<String>,
    },
    /// Set the expiry date (YYYY-MM-DD) of an activated key.
    SetExpiry { key: String, date: String },
}

#[derive(Debug, Subcommand)]
pub enum ToggleCommand {
    /// Set a toggle; VALUE is read as integer, float, boolean, else string.
    Set {
        name: String,
        value: String,
        #[arg(long)]
        product: String,
        /// Override for one plan.
        #[arg(long, conflicts_with = "license")]
        plan: Option<String>,
        /// Override for one license key.
        #[arg(long)]
        license: Option<String>,
    },
    /// List a product's toggles at every level.
    List {
        #[arg(long)]
        product: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ExportFormat {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Write a product's telemetry events to standard output.
    Export {
        #[arg(long)]
        product: String,
        /// Only events received on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

/// `skyline audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries about this license key.
    #[arg(long)]
    pub license: Option<String>,
    /// Only entries on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Handshake with a server and call start-session; prints the answer.
    StartSession(StartSessionArgs),
}

#[derive(Debug, Args)]
pub struct StartSessionArgs {
    /// Server URL, e.g. ws://127.0.0.1:7700/ws
    #[arg(long)]
    pub url: String,
    /// The server's identity public key (64 hex characters) to pin.
    #[arg(long)]
    pub identity_public: String,
    #[arg(long)]
    pub product: String,
    #[arg(long = "product-version")]
    pub product_version: String,
    #[arg(long)]
    pub key: String,
    #[arg(long, default_value = "skyline-cli-device")]
    pub serial: String,
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
    pub uuid: String,
    #[arg(long)]
    pub language: Option<String>,
    /// The `t` of this device's last OK start-session (0 or absent on first start).
    #[arg(long)]
    pub last_login: Option<i64>,
    /// Also fetch feature toggles after the session starts.
    #[arg(long)]
    pub toggles: bool,
}

/// A release channel on the command line.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum ChannelArg {
    /// Offered to every user.
    #[default]
    Stable,
    /// Offered to users who follow the beta channel.
    Beta,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Store FILE content-addressed, sign its SHA-256 with the identity key
    /// and record it as a release.
    #[command(disable_version_flag = true)]
    Publish {
        #[arg(long)]
        product: String,
        /// The release's dotted version, e.g. 7.1.0.
        #[arg(long)]
        version: String,
        /// The platform it is for, e.g. windows-x64 (default: every platform).
        #[arg(long)]
        platform: Option<String>,
        #[arg(long, value_enum, default_value_t = ChannelArg::Stable)]
        channel: ChannelArg,
        /// Also raise the product's minimum supported version to this (older
        /// apps get OUTDATED_VERSION and update).
        #[arg(long)]
        min_version: Option<String>,
        /// The file name downloads are saved under (default: FILE's name).
        #[arg(long)]
        name: Option<String>,
        /// The artifact.
        file: PathBuf,
    },
    /// List a product's releases, yanked ones too.
    List {
        #[arg(long)]
        product: String,
    },
    /// Withdraw a release: it is no longer offered or downloadable.
    #[command(disable_version_flag = true)]
    Yank {
        #[arg(long)]
        product: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        platform: Option<String>,
        /// Restore a yanked release instead.
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// A name for people, e.g. `billing`.
        #[arg(long)]
        name: String,
        /// May only read (GET); every change is refused with 403.
        #[arg(long)]
        read_only: bool,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id: it is refused with 401 from now on.
    Revoke { id: String },
}
