//! Where a deployment is, from the global options, their environment
//! variables and the config file (in rising priority: file < environment <
//! flag), and [`open`], the one start-up path every command takes.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use skyline_server::deployment::{Deployment, DeploymentSettings, IdentityUse};

use crate::cli::Global;
use crate::CliError;

/// The keys of the TOML config file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub identity: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_message_bytes: Option<usize>,
    pub handshake_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub handshakes_per_second: Option<u32>,
    pub failed_keys_per_minute: Option<u32>,
    pub trusted_proxies: Option<Vec<IpAddr>>,
    pub log: Option<String>,
    pub toggle_cache_ms: Option<u64>,
    /// `HOST:PORT` of the admin API, or `off`.
    pub admin_listen: Option<String>,
    pub admin_requests_per_minute: Option<u32>,
    pub releases_dir: Option<PathBuf>,
    // Limits against hostile clients (see `limit_args`).
    pub http_header_timeout: Option<u64>,
    pub http_keep_alive_timeout: Option<u64>,
    pub http_max_header_bytes: Option<usize>,
    pub max_http_connections: Option<usize>,
    pub admin_max_connections: Option<usize>,
    pub max_connections_per_address: Option<u32>,
    pub handshake_budget_per_second: Option<u32>,
    pub write_timeout: Option<u64>,
    pub max_frames_per_connection: Option<u64>,
    pub telemetry_events_per_hour: Option<u32>,
    pub telemetry_bytes_per_hour: Option<u64>,
    pub telemetry_max_event_bytes: Option<usize>,
    pub telemetry_queue: Option<usize>,
    pub telemetry_min_free_disk_mb: Option<u64>,
}

impl FileConfig {
    /// Reads the config file named by `--config`, or DATA_DIR/skyline.toml
    /// when that exists; an explicitly named file must exist.
    pub fn load(global: &Global) -> Result<FileConfig, CliError> {
        let (path, required) = match &global.config {
            Some(p) => (p.clone(), true),
            None => (global.data_dir.join("skyline.toml"), false),
        };
        if !required && !path.exists() {
            return Ok(FileConfig::default());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::io(format!("cannot read config {}", path.display()), e))?;
        toml::from_str(&text)
            .map_err(|e| CliError::usage(format!("config {}: {e}", path.display())))
    }
}

/// The deployment the options and the config file name.
pub fn deployment_settings(global: &Global, file: &FileConfig) -> DeploymentSettings {
    let database_url = global
        .database
        .clone()
        .or_else(|| file.database.clone())
        .unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                global.data_dir.join("skyline.sqlite").display()
            )
        });
    let (identity_path, identity_is_default) =
        match global.identity.clone().or_else(|| file.identity.clone()) {
            Some(path) => (path, false),
            None => (global.data_dir.join("identity.key"), true),
        };
    DeploymentSettings {
        database_url,
        identity_path,
        identity_is_default,
        releases_dir: global
            .releases_dir
            .clone()
            .or_else(|| file.releases_dir.clone()),
        default_releases_dir: global.data_dir.join("releases"),
        allow_exposed_identity: global.allow_exposed_identity,
    }
}

/// Opens the deployment for a command that needs `identity` of the identity
/// key: every command but `keygen` and `client` starts here.
pub async fn open(global: &Global, identity: IdentityUse) -> Result<Deployment, CliError> {
    let file = FileConfig::load(global)?;
    open_with(global, &file, identity).await
}

/// [`open`] with the config file already read.
pub async fn open_with(
    global: &Global,
    file: &FileConfig,
    identity: IdentityUse,
) -> Result<Deployment, CliError> {
    let settings = deployment_settings(global, file);
    Ok(Deployment::open(&settings, identity).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global() -> Global {
        Global {
            data_dir: "d".into(),
            database: None,
            identity: None,
            config: None,
            json: false,
            releases_dir: None,
            allow_exposed_identity: false,
        }
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let defaults = deployment_settings(&global(), &FileConfig::default());
        assert_eq!(
            defaults.database_url,
            format!(
                "sqlite://{}",
                std::path::Path::new("d").join("skyline.sqlite").display()
            )
        );
        assert!(defaults.identity_is_default);
        let file: FileConfig =
            toml::from_str("database = \"postgres://h/db\"\nidentity = \"k\"").unwrap();
        let from_file = deployment_settings(&global(), &file);
        assert_eq!(from_file.database_url, "postgres://h/db");
        assert_eq!(from_file.identity_path, PathBuf::from("k"));
        assert!(!from_file.identity_is_default);
        let flag = Global {
            database: Some("sqlite://x.db".into()),
            ..global()
        };
        assert_eq!(
            deployment_settings(&flag, &file).database_url,
            "sqlite://x.db"
        );
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("idle_timout = 60").is_err());
    }
}
