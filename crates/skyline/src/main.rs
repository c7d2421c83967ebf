//! The `skyline` binary: `skyline serve` runs the licensing server; the other
//! commands are the operator CLI and a debugging client.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | `cli` | the clap definitions: every command, flag and its `--help` |
//! | `settings` | global options + config file → where the deployment is; `settings::open`, the one start-up path |
//! | `error` | `CliError`, by cause |
//! | `serve` | `skyline serve`: server settings (file < environment < flags), then the server |
//! | `limits` | raising the open-file limit for many connections |
//! | `limit_args` | `serve` flags and config keys of the limits against hostile clients |
//! | `operator` | product, plan, license, toggle, telemetry and audit commands |
//! | `releases` | `skyline release publish/list/yank`: signed update artifacts |
//! | `admin_tokens` | `skyline admin-token create/list/revoke` for the admin HTTP API |
//! | `client_cmd` | `skyline client start-session`, built on the client crate |
//! | `bench` | `skyline bench`: the load generator and its scenarios |
//! | `transfer` | `skyline migrate`, `export` and `import`: schema and moving a deployment |
//!
//! Every command that changes data builds a domain command and runs it
//! through the store (`skyline_server::domain`, `skyline_server::store`),
//! and prints what it got back through `skyline_server::views`: the same
//! road, and the same JSON, as the admin API.

mod admin_tokens;
mod bench;
mod cli;
mod client_cmd;
mod error;
mod limit_args;
mod limits;
mod operator;
mod releases;
mod serve;
mod settings;
mod transfer;

use std::process::ExitCode;

use clap::Parser;
use skyline_server::deployment::{identity, IdentityUse};

use crate::cli::{Cli, Command};
pub use crate::error::CliError;

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

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
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
            let pair = identity::create(&out)?;
            if global.json {
                print_json(&serde_json::json!({"path": out, "publicKey": pair.public().to_hex()}));
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
        Command::Openapi => {
            print_json(skyline_server::admin::openapi::document());
            Ok(())
        }
        command => {
            init_logging("warn");
            // Only publishing signs: every other operator command needs the
            // database alone.
            let identity = match &command {
                Command::Release(cli::ReleaseCommand::Publish { .. }) => IdentityUse::Required,
                _ => IdentityUse::Optional,
            };
            let deployment = settings::open(&global, identity).await?;
            let operator = operator::Operator {
                store: deployment.store.clone(),
                json: global.json,
            };
            let result = match command {
                Command::Product(c) => operator.product(c).await,
                Command::Plan(c) => operator.plan(c).await,
                Command::License(c) => operator.license(c).await,
                Command::Toggle(c) => operator.toggle(c).await,
                Command::Telemetry(c) => operator.telemetry(c).await,
                Command::Audit(a) => operator.audit(a).await,
                Command::Release(c) => releases::run(c, &operator, &deployment).await,
                Command::AdminToken(c) => admin_tokens::run(c, &operator).await,
                Command::Serve(_)
                | Command::Keygen { .. }
                | Command::Client(_)
                | Command::Bench(_)
                | Command::Migrate
                | Command::Export { .. }
                | Command::Import { .. }
                | Command::Openapi => {
                    unreachable!("handled above")
                }
            };
            deployment.close().await;
            result
        }
    }
}
