//! `skyline bench`: a load generator built on the client crate. It drives a
//! running server over N concurrent connections for a bounded time or number
//! of operations, and reports throughput, latency percentiles and errors by
//! kind, plus, given the server's process id, the server's CPU time per
//! operation and its resident memory (per held session for `idle`).
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | `args` | [`BenchArgs`] and the scenarios |
//! | `target` | the server's URL (loopback only), source addresses, connecting |
//! | `keys` | product, plan and license keys created for a run |
//! | `control` | the phases of a run (setup, measure, teardown), tickets, pacing |
//! | `scenarios` | the workers: handshake, session, idle, and the windowed RPCs |
//! | `echo` | the echo scenarios against `/echo` and `/echo-sealed` |
//! | `flood` | `flood`'s handshake flood from many source addresses, beside measured toggles |
//! | `stats` | histograms, errors by kind, the [`stats::Report`] |
//! | `procfs` | the server's CPU time and memory from /proc |
//!
//! # A run
//!
//! 1. Keys are created when the scenario needs sessions; workers connect
//!    (and start their sessions) — none of it measured.
//! 2. The window opens for every worker at once; the server's CPU time is
//!    read. Workers start operations while tickets last (the deadline or
//!    `--requests`), then finish what is in flight.
//! 3. The window closes when the last worker is done; the server's CPU time
//!    and memory are read again (`idle`: after `--hold` seconds).
//! 4. Workers close their connections; the report is printed.

mod args;
mod control;
mod echo;
mod flood;
mod keys;
mod procfs;
mod scenarios;
mod stats;
mod target;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use skyline_client::IdentityPublicKey;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use args::BenchArgs;
use args::Scenario;
use control::Control;
use scenarios::Ctx;
use stats::{BindRates, Errors, Failure, Percentiles, Report, ServerUsage, Tally};
use target::Target;

use crate::cli::Global;
use crate::CliError;

/// `idle` opens its sessions with at most this many workers at once.
const IDLE_OPENERS: usize = 32;
/// Default keys per run: one per connection, at most this many.
const DEFAULT_MAX_KEYS: usize = 1_000;
/// Default length of a run.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default cap on the time `idle` takes to open its sessions.
const DEFAULT_IDLE_DURATION: Duration = Duration::from_secs(300);
/// `bind` reports the rate of the first and the last this many bindings.
const BIND_SPAN: usize = 1_000;
/// How often the progress bar is redrawn and the run's end checked.
const TICK: Duration = Duration::from_millis(100);

/// The server's figures at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    cpu: Duration,
    rss: u64,
}

fn sample(pid: u32) -> Result<Sample, CliError> {
    let read = |e: std::io::Error| CliError::failed(format!("--server-pid {pid}: {e}"));
    Ok(Sample {
        cpu: procfs::cpu_time(pid).map_err(read)?,
        rss: procfs::rss_bytes(pid).map_err(read)?,
    })
}

fn positive(name: &str, value: f64) -> Result<(), CliError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "{name} must be a positive number"
        )))
    }
}

/// Runs one benchmark and prints its report.
pub async fn run(global: &Global, args: BenchArgs) -> Result<(), CliError> {
    crate::init_logging("warn");
    let scenario = args.scenario;
    let connections = args
        .connections
        .unwrap_or_else(|| scenario.default_connections());
    if connections == 0 {
        return Err(CliError::failed("--connections must be at least 1"));
    }
    if args.pipeline == 0 {
        return Err(CliError::failed("--pipeline must be at least 1"));
    }
    if args.pipeline > 1 && !scenario.pipelines() {
        return Err(CliError::failed(format!(
            "--pipeline applies to toggles, telemetry, echo-baseline and echo-sealed, not {}",
            scenario.name()
        )));
    }
    if args.event_ids && scenario != Scenario::Telemetry {
        return Err(CliError::failed("--event-ids applies to telemetry only"));
    }
    if let Some(rate) = args.rate {
        positive("--rate", rate)?;
        if args.pipeline > 1 {
            return Err(CliError::failed(
                "--rate paces lock-step runs: use --pipeline 1",
            ));
        }
    }
    if scenario == Scenario::Idle && args.requests.is_some() {
        return Err(CliError::failed(
            "idle opens --connections sessions; --requests does not apply",
        ));
    }
    positive("--timeout", args.timeout)?;
    if !(args.hold.is_finite() && args.hold >= 0.0) {
        return Err(CliError::failed("--hold must be zero or more seconds"));
    }
    let duration = match args.duration {
        Some(secs) => {
            positive("--duration", secs)?;
            Duration::from_secs_f64(secs)
        }
        None if scenario == Scenario::Idle => DEFAULT_IDLE_DURATION,
        // --requests alone: the deadline is only a safety net.
        None if args.requests.is_some() => DEFAULT_IDLE_DURATION,
        None => DEFAULT_DURATION,
    };
    if args.requests == Some(0) {
        return Err(CliError::failed("--requests must be at least 1"));
    }
    if let Some(pid) = args.server_pid {
        sample(pid)?;
    }
    // Each connection is a file; keep some for everything else.
    let wanted_files = connections as u64 + 256;
    let mut notes = Vec::new();
    if let Some(limit) = crate::limits::raise_open_file_limit(wanted_files) {
        if limit < wanted_files {
            notes.push(format!(
                "this process may open only {limit} files, fewer than the {wanted_files}                  the connections need (raise it with `ulimit -n`)"
            ));
        }
    }

    let pinned = pinned_key(global, &args)?;
    let target = Target::new(
        &args.url,
        scenario.path(),
        pinned,
        args.source_addrs,
        args.timeout(),
    )
    .await?;
    let (workers, max_ops) = match scenario {
        Scenario::Idle => (connections.min(IDLE_OPENERS), Some(connections as u64)),
        _ => (connections, args.requests),
    };
    let keys = if scenario.needs_keys() {
        let count = match args.keys {
            Some(0) => return Err(CliError::failed("--keys must be at least 1")),
            _ if scenario == Scenario::Bind => 1,
            Some(n) => n,
            None => u32::try_from(connections.min(DEFAULT_MAX_KEYS)).unwrap_or(1),
        };
        let seats = match scenario {
            Scenario::Bind => args.seats.max(1),
            _ => keys::seats_for(connections as u64, count),
        };
        if !global.json {
            eprintln!(
                "creating {count} license key{} for product {} ({seats} device seat{} each)",
                if count == 1 { "" } else { "s" },
                args.product,
                if seats == 1 { "" } else { "s" }
            );
        }
        Some(keys::create(global, &args.product, count, seats).await?)
    } else {
        None
    };
    let message_bytes = match scenario {
        Scenario::EchoBaseline | Scenario::EchoSealed => {
            let bytes = args
                .message_bytes
                .unwrap_or_else(echo::toggles_request_bytes);
            if scenario == Scenario::EchoSealed && bytes <= 28 {
                return Err(CliError::failed(
                    "--message-bytes must exceed the 28 bytes of nonce and tag for echo-sealed",
                ));
            }
            Some(bytes)
        }
        Scenario::EchoConnect => Some(match args.message_bytes {
            Some(bytes) => bytes,
            None => echo::hello_bytes().map_err(|f| CliError::failed(f.detail))?,
        }),
        _ => None,
    };

    let control = Arc::new(Control::new(max_ops, args.rate, workers));
    let tally = Tally::new();
    let ctx = Arc::new(Ctx {
        control: control.clone(),
        tally: tally.clone(),
        target,
        keys,
        workers,
        pipeline: args.pipeline,
        message: (0..message_bytes.unwrap_or(0))
            .map(|i| (i % 251) as u8)
            .collect(),
        bindings: scenarios::Bindings::default(),
    });
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let ctx = ctx.clone();
        match scenario {
            Scenario::Handshake => tasks.spawn(scenarios::handshake(ctx, worker)),
            Scenario::Session => tasks.spawn(scenarios::session(ctx, worker)),
            Scenario::Bind => tasks.spawn(scenarios::bind(ctx, worker)),
            Scenario::Idle => tasks.spawn(scenarios::idle(ctx, worker)),
            Scenario::Toggles | Scenario::Flood => {
                let opener = scenarios::RpcOpener::toggles(ctx.clone(), worker);
                tasks.spawn(scenarios::windowed(ctx, worker, opener))
            }
            Scenario::Telemetry => {
                let opener = scenarios::RpcOpener::telemetry(ctx.clone(), worker, args.event_ids);
                tasks.spawn(scenarios::windowed(ctx, worker, opener))
            }
            Scenario::EchoBaseline => {
                let opener = echo::EchoOpener::plain(ctx.clone());
                tasks.spawn(scenarios::windowed(ctx, worker, opener))
            }
            Scenario::EchoSealed => {
                let opener = echo::EchoOpener::sealed(ctx.clone());
                tasks.spawn(scenarios::windowed(ctx, worker, opener))
            }
            Scenario::EchoConnect => tasks.spawn(echo::connect(ctx, worker)),
        };
    }

    // 1. Setup.
    let bar = progress_bar(workers as u64, "setting up connections");
    let setup_limit = args.timeout() * 2 + Duration::from_secs(5);
    let setup_started = Instant::now();
    while control.ready_count() < workers {
        if setup_started.elapsed() > setup_limit {
            notes.push(format!(
                "{} of {workers} workers were still setting up when the window opened",
                workers - control.ready_count()
            ));
            break;
        }
        bar.set_position(control.ready_count() as u64);
        tokio::time::sleep(TICK / 5).await;
    }
    bar.finish_and_clear();

    // 2. The measured window (with `flood`, under a handshake flood).
    let flood = match scenario {
        Scenario::Flood => {
            if args.flood_connections == 0 || args.flood_addrs == 0 {
                return Err(CliError::failed(
                    "--flood-connections and --flood-addrs must be at least 1",
                ));
            }
            let flood_target = Target::new(
                &args.url,
                scenario.path(),
                pinned,
                Some(args.flood_addrs),
                args.timeout(),
            )
            .await?;
            Some(flood::Flood::start(
                Arc::new(flood_target),
                args.flood_connections,
                args.flood_addrs,
            ))
        }
        _ => None,
    };
    let server_before = args.server_pid.map(sample).transpose()?;
    let client_before = procfs::cpu_time(std::process::id()).ok();
    let start = control.open_window(duration);
    let bar = match max_ops {
        Some(n) => progress_bar(n, "running"),
        None => progress_bar(duration.as_millis() as u64, "running"),
    };
    let drain_limit = duration + args.timeout() + Duration::from_secs(5);
    while control.measured_count() < workers {
        if start.elapsed() > drain_limit {
            notes.push(format!(
                "{} workers were still busy {:.0} s after the deadline; their operations \
                 in flight are not counted",
                workers - control.measured_count(),
                (drain_limit - duration).as_secs_f64()
            ));
            break;
        }
        control.stopping();
        let ok = tally.ok.load(Ordering::Relaxed);
        let failed = tally.failed.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        bar.set_position(match max_ops {
            Some(_) => control.started(),
            None => elapsed.as_millis() as u64,
        });
        bar.set_message(format!(
            "{ok} OK, {failed} errors, {:.0}/s",
            ok as f64 / elapsed.as_secs_f64().max(1e-3)
        ));
        control.wait_measured(TICK).await;
    }
    let elapsed = control.window_length();
    let ops = tally.ok.load(Ordering::Relaxed);
    let client_after = procfs::cpu_time(std::process::id()).ok();
    let server_cpu_after = match args.server_pid {
        Some(pid) => Some(procfs::cpu_time(pid).map_err(|e| {
            CliError::failed(format!("--server-pid {pid}: the server is gone? {e}"))
        })?),
        None => None,
    };
    bar.finish_and_clear();
    let flood = match flood {
        Some(flood) => Some(flood.stop(args.timeout() + Duration::from_secs(1)).await),
        None => None,
    };
    // 3. The server's memory, with everything still held.
    if scenario == Scenario::Idle {
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    }
    let server_rss_after = args
        .server_pid
        .map(procfs::rss_bytes)
        .transpose()
        .map_err(|e| CliError::failed(format!("--server-pid: {e}")))?;

    // 4. Teardown.
    control.teardown();
    let teardown_limit = args.timeout() + Duration::from_secs(5);
    let teardown = async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tally.error(Failure::new("worker panic", e.to_string()));
            }
        }
    };
    if tokio::time::timeout(teardown_limit, teardown)
        .await
        .is_err()
    {
        notes.push(format!(
            "{} workers were still closing their connections after {:.0} s; stopped them",
            tasks.len(),
            teardown_limit.as_secs_f64()
        ));
        tasks.abort_all();
    }
    let url = ctx.target.url.clone();
    let bindings = (scenario == Scenario::Bind)
        .then(|| ctx.bindings.first_and_last_rates(BIND_SPAN))
        .flatten()
        .map(|(first, last)| BindRates {
            span: BIND_SPAN,
            first_per_sec: first,
            last_per_sec: last,
            last_to_first: last / first.max(1e-9),
        });
    drop(ctx);

    let server = match (
        args.server_pid,
        server_before,
        server_cpu_after,
        server_rss_after,
    ) {
        (Some(pid), Some(before), Some(cpu_after), Some(rss_after)) => {
            let cpu_us = cpu_after.saturating_sub(before.cpu).as_secs_f64() * 1e6;
            Some(ServerUsage {
                pid,
                cpu_us,
                cpu_us_per_op: (ops > 0).then(|| cpu_us / ops as f64),
                rss_before_kib: before.rss / 1024,
                rss_after_kib: rss_after / 1024,
                rss_per_session_bytes: (scenario == Scenario::Idle && ops > 0)
                    .then(|| (rss_after as f64 - before.rss as f64) / ops as f64),
            })
        }
        _ => None,
    };
    let client_cpu_us_per_op = match (client_before, client_after) {
        (Some(before), Some(after)) if ops > 0 => {
            Some(after.saturating_sub(before).as_secs_f64() * 1e6 / ops as f64)
        }
        _ => None,
    };
    let by_kind = tally.errors();
    if by_kind.iter().any(|e| e.kind.ends_with("HTTP 429")) {
        notes.push(
            "HTTP 429: the server's handshake rate limit; run it with \
             --handshakes-per-second 0 for load tests"
                .into(),
        );
    }
    if by_kind.iter().any(|e| e.kind.ends_with("HTTP 503")) {
        notes.push(
            "HTTP 503: the server's connection caps or handshake budget; run it with \
             --handshake-budget-per-second 0 --max-connections-per-address 0 for load tests"
                .into(),
        );
    }
    if by_kind.iter().any(|e| e.kind.ends_with("HTTP 404")) && scenario.path() != "/ws" {
        notes.push("HTTP 404: start the server with --bench-echo for the echo scenarios".into());
    }
    let report = Report {
        scenario: scenario.name(),
        url,
        connections,
        pipeline: args.pipeline,
        target_rate: args.rate,
        message_bytes,
        elapsed_secs: elapsed.as_secs_f64(),
        ops,
        throughput: ops as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_us: Percentiles::of(&tally.latency()),
        step: (scenario == Scenario::Session).then_some("start-session"),
        step_latency_us: Percentiles::of(&tally.step_latency()),
        held_sessions: (scenario == Scenario::Idle).then_some(ops),
        bindings,
        errors: Errors {
            total: by_kind.iter().map(|e| e.count).sum(),
            by_kind,
        },
        server,
        client_cpu_us_per_op,
        notes,
        flood,
    };
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::failed(format!("cannot write the report: {e}")))?
        );
    } else {
        print!("{report}");
    }
    Ok(())
}

/// The identity key to pin: `--identity-public`, else the public half of
/// the data directory's identity key, for the scenarios that handshake.
fn pinned_key(global: &Global, args: &BenchArgs) -> Result<Option<IdentityPublicKey>, CliError> {
    if let Some(hex) = &args.identity_public {
        return IdentityPublicKey::from_hex(hex)
            .map(Some)
            .map_err(|e| CliError::failed(format!("--identity-public: {e}")));
    }
    if args.scenario.needs_identity() {
        return Ok(Some(keys::server_identity(global)?.public()));
    }
    Ok(None)
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn progress_bar(length: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}
