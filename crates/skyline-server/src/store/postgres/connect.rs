//! From a `postgres://` URL to a connection pool, and errors that say which
//! server failed and why, naming `host:port` and the user but never the
//! password.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use crate::store::StoreError;

/// Connections per node when the URL does not say (`?pool_size=N`).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long a new connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a free pooled connection.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed database URL: the driver's settings and Skyline's own options.
#[derive(Clone)]
pub(super) struct Target {
    pub config: Config,
    pub pool_size: usize,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &server_name(&self.config))
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// Reads a `postgres://` URL. Skyline's own query options (`pool_size=N`)
/// are taken out; everything else is the driver's (`sslmode`,
/// `connect_timeout`, `host=/run/postgresql` for a socket, …).
pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut driver_options = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_size", n)) => {
                pool_size = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    StoreError::Config("pool_size must be a number of at least 1".into())
                })?;
            }
            _ => driver_options.push(pair),
        }
    }
    let driver_url = if driver_options.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", driver_options.join("&"))
    };
    let mut config = Config::from_str(&driver_url).map_err(|e| {
        StoreError::Config(format!(
            "the PostgreSQL URL is not valid ({e}): expected \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        ))
    })?;
    if config.get_hosts().is_empty() {
        config.host("localhost");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("skyline");
    }
    // An acknowledged write must be on disk whatever the server's default:
    // `OK` to a telemetry event or a start-session promises durability.
    let options = match config.get_options() {
        Some(existing) => format!("{existing} -c synchronous_commit=on"),
        None => "-c synchronous_commit=on".to_owned(),
    };
    config.options(options);
    Ok(Target { config, pool_size })
}

/// Builds the pool; connections are opened on first use.
pub(super) fn pool(target: &Target) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        target.config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(target.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Config(format!("cannot build the connection pool: {e}")))
}

/// `host:port` of every server the config names, for messages.
pub(super) fn server_name(config: &Config) -> String {
    let ports = config.get_ports();
    let names: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    names.join(",")
}

/// Explains a failure to get a connection: unreachable, refused
/// credentials, no such database. Never includes the password.
pub(super) fn connect_error(config: &Config, e: &tokio_postgres::Error) -> StoreError {
    let server = server_name(config);
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return StoreError::Config(format!(
                "PostgreSQL at {server} refused the credentials of user `{user}`: {}",
                db.message()
            ));
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return StoreError::Config(format!(
                "PostgreSQL at {server} has no database `{database}`: create it first \
                 (createdb {database})"
            ));
        }
        return StoreError::Config(format!(
            "PostgreSQL at {server} refused the connection: {}",
            db.message()
        ));
    }
    StoreError::Config(format!(
        "cannot reach PostgreSQL at {server}: {}",
        cause_chain(e)
    ))
}

/// The error and its sources on one line ("error connecting to server:
/// Connection refused (os error 111)").
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_ours_the_rest_is_the_drivers() {
        let t = parse("postgres://sky:secret@db.internal:6432/skyline?pool_size=4&sslmode=disable")
            .unwrap();
        assert_eq!(t.pool_size, 4);
        assert_eq!(server_name(&t.config), "db.internal:6432");
        assert_eq!(t.config.get_dbname(), Some("skyline"));
        assert!(t
            .config
            .get_options()
            .unwrap()
            .contains("synchronous_commit=on"));
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");

        assert_eq!(
            parse("postgresql://h/db").unwrap().pool_size,
            DEFAULT_POOL_SIZE
        );
        assert!(parse("postgres://h/db?pool_size=0").is_err());
        let err = parse("postgres://h/db?frobnicate=1").unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
    }
}
