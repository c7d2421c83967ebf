//! `skyline serve`: builds the server's configuration from the config file,
//! the environment and the flags (in rising priority), then runs it until
//! SIGINT or SIGTERM. The admin HTTP API runs beside it on its own listener
//! (`--admin-listen`, default 127.0.0.1:7701, `off` to disable).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use skyline_server::admin::{AdminConfig, DEFAULT_ADMIN_LISTEN};
use skyline_server::clock::SystemClock;
use skyline_server::deployment::IdentityUse;
use skyline_server::ServerConfig;
use tokio::sync::watch;

use crate::cli::{Global, ServeArgs};
use crate::settings::{self, FileConfig};
use crate::CliError;

/// Reads `--admin-listen`: `off`, or an address.
fn admin_listen_arg(text: &str) -> Result<Option<SocketAddr>, CliError> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        CliError::usage(format!(
            "admin listen address `{text}` is neither HOST:PORT nor `off`"
        ))
    })
}

/// The merged settings of `serve`.
#[derive(Debug)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub server: ServerConfig,
    pub log: String,
    /// Where the admin API listens; `None` when off.
    pub admin_listen: Option<SocketAddr>,
    /// Whether that address was asked for (not the default): then failing
    /// to bind it is an error, not a warning.
    pub admin_listen_explicit: bool,
    pub admin: AdminConfig,
}

/// Merges flags (and their environment variables) over the file over defaults.
pub fn settings(args: &ServeArgs, file: &FileConfig) -> Result<ServeSettings, CliError> {
    let defaults = ServerConfig::default();
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file).map(Duration::from_secs).unwrap_or(default)
    };
    let tls = match (
        args.tls_cert.clone().or_else(|| file.tls_cert.clone()),
        args.tls_key.clone().or_else(|| file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(CliError::usage(
                "TLS needs both a certificate and a key (--tls-cert and --tls-key)",
            ))
        }
    };
    let server = ServerConfig {
        max_message_bytes: args
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(defaults.max_message_bytes),
        handshake_timeout: secs(
            args.handshake_timeout,
            file.handshake_timeout,
            defaults.handshake_timeout,
        ),
        idle_timeout: secs(args.idle_timeout, file.idle_timeout, defaults.idle_timeout),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
        handshakes_per_second: args
            .handshakes_per_second
            .or(file.handshakes_per_second)
            .unwrap_or(defaults.handshakes_per_second),
        failed_keys_per_minute: args
            .failed_keys_per_minute
            .or(file.failed_keys_per_minute)
            .unwrap_or(defaults.failed_keys_per_minute),
        trusted_proxies: if args.trusted_proxies.is_empty() {
            file.trusted_proxies.clone().unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        },
        shutdown_grace: defaults.shutdown_grace,
        toggle_cache_ttl: args
            .toggle_cache_ms
            .or(file.toggle_cache_ms)
            .map(Duration::from_millis)
            .unwrap_or(defaults.toggle_cache_ttl),
        echo_endpoint: args.bench_echo,
        // Set by limit_args::apply below.
        ..defaults
    };
    let admin_text = args
        .admin_listen
        .clone()
        .or_else(|| file.admin_listen.clone());
    let admin_listen = match &admin_text {
        Some(text) => admin_listen_arg(text)?,
        None => Some(DEFAULT_ADMIN_LISTEN),
    };
    let admin_defaults = AdminConfig::default();
    let mut admin = AdminConfig {
        requests_per_minute: args
            .admin_requests_per_minute
            .or(file.admin_requests_per_minute)
            .unwrap_or(admin_defaults.requests_per_minute),
        ..admin_defaults
    };
    let mut server = server;
    crate::limit_args::apply(&args.limits, file, &mut server, &mut admin)?;
    if server.max_message_bytes < 1024 {
        return Err(CliError::usage(
            "max message size must be at least 1024 bytes",
        ));
    }
    if server.max_connections == 0 {
        return Err(CliError::usage("max connections must be at least 1"));
    }
    Ok(ServeSettings {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7700))),
        tls,
        server,
        log: args
            .log
            .clone()
            .or_else(|| file.log.clone())
            .unwrap_or_else(|| "info".into()),
        admin_listen,
        admin_listen_explicit: admin_text.is_some(),
        admin,
    })
}

/// Resolves when SIGINT or SIGTERM arrives. The signal handlers are installed
/// when this is called, not when the future is first polled: `run` calls it
/// before printing the banner, so a signal sent as soon as the server says it
/// is listening shuts it down gracefully instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            async fn received(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = received(interrupt) => {},
                _ = received(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// Binds the admin API's listener. The default address being taken (another
/// server on this machine) is a warning; an address asked for must bind.
async fn bind_admin(settings: &ServeSettings) -> Result<Option<tokio::net::TcpListener>, CliError> {
    let Some(addr) = settings.admin_listen else {
        return Ok(None);
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if !settings.admin_listen_explicit => {
            tracing::warn!(%addr, error = %e, "the admin API is off: its default address is unavailable (use --admin-listen)");
            Ok(None)
        }
        Err(e) => Err(CliError::io(
            format!("cannot listen on {addr} for the admin API"),
            e,
        )),
    }
}

/// Runs the server.
pub async fn run(global: &Global, args: &ServeArgs) -> Result<(), CliError> {
    let file = FileConfig::load(global)?;
    let mut settings = settings(args, &file)?;
    crate::init_logging(&settings.log);
    let deployment = settings::open_with(global, &file, IdentityUse::CreateIfMissing).await?;
    settings.server.telemetry.disk_path = deployment.database_dir();
    if deployment.identity_created {
        tracing::info!(path = %deployment.identity_path().display(), "created a new identity key");
    }
    tracing::info!("release artifacts are kept in {}", deployment.releases);
    let services = deployment.services(Arc::new(SystemClock))?;
    let public = services.identity.public();
    // Each connection is a file descriptor: make room for the connection cap.
    let wanted = settings.server.max_connections as u64 + 1024;
    match crate::limits::raise_open_file_limit(wanted) {
        Some(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections = settings.server.max_connections,
            "the open-file limit is below the connection cap; raise it (ulimit -n) or lower --max-connections"
        ),
        _ => {}
    }
    let tcp = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| CliError::io(format!("cannot listen on {}", settings.listen), e))?;
    let local = tcp
        .local_addr()
        .map_err(|e| CliError::io("cannot read the listening address", e))?;
    let admin_listener = bind_admin(&settings).await?;
    let admin_local = match &admin_listener {
        Some(l) => Some(
            l.local_addr()
                .map_err(|e| CliError::io("cannot read the admin API's address", e))?,
        ),
        None => None,
    };
    let scheme = if settings.tls.is_some() { "wss" } else { "ws" };
    // Before the banner: whoever reads it may signal at once.
    let signal = shutdown_signal();
    // Before the banner, whose last line ("Identity public key: …") is where
    // scripts may stop reading.
    print_admin_banner(scheme, local, admin_local);
    print_banner(
        &public.to_hex(),
        scheme,
        local,
        &deployment.database(),
        deployment.identity_path(),
    );
    // One signal stops both listeners: the admin API first, so that the
    // main server (which closes the store) stops after it.
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    let admin_task = admin_listener.map(|listener| {
        tokio::spawn(skyline_server::admin::serve(
            listener,
            settings.admin.clone(),
            services.clone(),
            wait_for_stop(stopped.clone()),
        ))
    });
    let shutdown = async move {
        wait_for_stop(stopped).await;
        if let Some(task) = admin_task {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the admin API failed"),
                Err(e) => tracing::error!(error = %e, "the admin API task failed"),
            }
        }
    };
    let result = match &settings.tls {
        Some((cert, key)) => {
            let config = skyline_server::tls::load_tls_config(cert, key)
                .map_err(|e| CliError::usage(format!("TLS: {e}")))?;
            let listener = skyline_server::tls::TlsListener::new(tcp, config)
                .map_err(|e| CliError::failed(format!("TLS: {e}")))?;
            skyline_server::run(listener, settings.server, services, shutdown).await
        }
        None => skyline_server::run(tcp, settings.server, services, shutdown).await,
    };
    result.map_err(|e| CliError::io("the server failed", e))?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Prints a banner line to stdout. A closed stdout (a supervisor that stopped
/// reading) must not bring the server down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

fn print_admin_banner(scheme: &str, local: SocketAddr, admin: Option<SocketAddr>) {
    let http = if scheme == "wss" { "https" } else { "http" };
    say!("Update downloads: {http}://{local}/download/PRODUCT/latest");
    match admin {
        Some(addr) => say!(
            "Admin API: http://{addr}/admin (OpenAPI at /admin/openapi.json; \
             tokens: skyline admin-token create --name NAME)"
        ),
        None => say!("Admin API: off"),
    }
}

fn print_banner(
    public_hex: &str,
    scheme: &str,
    local: SocketAddr,
    database: &str,
    identity: &Path,
) {
    say!("Skyline is listening on {scheme}://{local}/ws");
    say!("Database: {database}");
    say!("Identity key file: {}", identity.display());
    say!("Apps pin this identity public key:");
    say!("  {public_hex}");
    say!("First steps, in another terminal:");
    say!("  skyline product create myapp --min-version 1.0.0");
    say!("  skyline plan create myapp.monthly --product myapp --months 1");
    say!("  skyline license create --plan myapp.monthly");
    say!("Identity public key: {public_hex}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file: FileConfig =
            toml::from_str("idle_timeout = 60\nmax_connections = 5\nlisten = \"127.0.0.1:9000\"")
                .unwrap();
        let args = ServeArgs {
            max_connections: Some(7),
            ..ServeArgs::default()
        };
        let s = settings(&args, &file).unwrap();
        assert_eq!(s.server.max_connections, 7);
        assert_eq!(s.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(s.server.handshake_timeout, Duration::from_secs(10));
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
    }

    #[test]
    fn the_admin_listener_defaults_to_loopback_and_can_be_off() {
        let s = settings(&ServeArgs::default(), &FileConfig::default()).unwrap();
        assert_eq!(s.admin_listen, Some("127.0.0.1:7701".parse().unwrap()));
        assert!(!s.admin_listen_explicit);
        let file: FileConfig = toml::from_str("admin_listen = \"off\"").unwrap();
        assert_eq!(
            settings(&ServeArgs::default(), &file).unwrap().admin_listen,
            None
        );
        let args = ServeArgs {
            admin_listen: Some("127.0.0.1:9901".into()),
            ..ServeArgs::default()
        };
        let s = settings(&args, &file).unwrap();
        assert_eq!(s.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
        assert!(s.admin_listen_explicit);
        let args = ServeArgs {
            admin_listen: Some("nowhere".into()),
            ..ServeArgs::default()
        };
        assert!(settings(&args, &file).is_err());
    }
}
