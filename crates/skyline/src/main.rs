//! The `skyline` binary: `skyline serve` runs the licensing server; the other
//! commands are the operator CLI and a debugging client.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | `cli` | the clap definitions: every command, flag and its `--help` |
//! | `serve` | `skyline serve`: config file < environment < flags, then the server |
//! | `limits` | raising the open-file limit for many connections |
//! | `identity_file` | reading, creating (mode 0600) the identity key file |
//! | `operator` | product, plan, license, toggle, telemetry and audit commands |
//! | `releases` | `skyline release publish/list/yank`: signed update artifacts |
//! | `admin_tokens` | `skyline admin-token create/list/revoke` for the admin HTTP API |
//! | `client_cmd` | `skyline client start-session`, built on the client crate |
//! | `bench` | `skyline bench`: the load generator and its scenarios |
//! | `transfer` | `skyline migrate`, `export` and `import`: schema and moving a deployment |

mod admin_tokens;
mod bench;
mod cli;
mod client_cmd;
mod identity_file;
mod limits;
mod operator;
mod releases;
mod serve;
mod transfer;

use std::fmt;
use std::process::ExitCode;

use clap::Parser;
use skyline_server::license_index::LicenseIndex;

use crate::cli::{Cli, Command};

/// A command failed; the message is printed and the exit code is 1.
#[derive(Debug)]
pub struct CliError(String);

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<skyline_server::store::StoreError> for CliError {
    fn from(e: skyline_server::store::StoreError) -> Self {
        CliError(e.to_string())
    }
}

/// Logs to standard error, filtered by `filter` (e.g. `info`).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, &args).await,
        Command::Keygen { out } => {
            let pair = identity_file::create(&out)?;
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({"path": out, "publicKey": pair.public().to_hex()})
                );
            } else {
                println!("wrote identity key to {} (mode 0600)", out.display());
                println!("{}", pair.public().to_hex());
            }
            Ok(())
        }
        Command::Client(command) => client_cmd::run(command, global.json).await,
        Command::Bench(args) => bench::run(&global, args).await,
        Command::Migrate => transfer::migrate(&global).await,
        Command::Export { out } => transfer::export(&global, &out).await,
        Command::Import { file } => transfer::import(&global, &file).await,
        command => {
            init_logging("warn");
            let file = serve::FileConfig::load(&global)?;
            let (identity_path, is_default) = serve::identity_path(&global, &file);
            let (identity, created) = identity_file::load_or_create(&identity_path, is_default)?;
            if created {
                eprintln!("created a new identity key at {}", identity_path.display());
            }
            let index = LicenseIndex::from_identity(&identity)
                .map_err(|e| CliError::new(format!("cannot derive the license index key: {e}")))?;
            let database = serve::database_url(&global, &file);
            let store = skyline_server::store::open(&database, index.clone())
                .await
                .map_err(|e| {
                    CliError::new(format!(
                        "cannot open database {}: {e}",
                        serve::redact_url(&database)
                    ))
                })?;
            let operator = operator::Operator {
                store,
                index,
                json: global.json,
            };
            let result = match command {
                Command::Product(c) => operator.product(c).await,
                Command::Plan(c) => operator.plan(c).await,
                Command::License(c) => operator.license(c).await,
                Command::Toggle(c) => operator.toggle(c).await,
                Command::Telemetry(c) => operator.telemetry(c).await,
                Command::Audit(a) => operator.audit(a).await,
                Command::Release(c) => {
                    let storage = serve::release_storage(&global, &file, operator.store.as_ref());
                    releases::run(c, &operator, &identity, &storage).await
                }
                Command::AdminToken(c) => admin_tokens::run(c, &operator).await,
                Command::Serve(_)
                | Command::Keygen { .. }
                | Command::Client(_)
                | Command::Bench(_)
                | Command::Migrate
                | Command::Export { .. }
                | Command::Import { .. } => {
                    unreachable!("handled above")
                }
            };
            operator.store.close().await;
            result
        }
    }
}
