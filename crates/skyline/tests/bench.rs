//! `skyline bench`, end to end: every scenario runs briefly against a real
//! `skyline serve` on a temporary data directory and reports, as JSON, a
//! non-zero throughput and no error. No timing is asserted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value as Json;

const SKYLINE: &str = env!("CARGO_BIN_EXE_skyline");

/// A `skyline serve` child, killed when dropped.
struct Server {
    child: Child,
    url: String,
    public_key: String,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on 127.0.0.1:0 with the echo endpoints and no
    /// handshake rate limit, and reads its URL and identity from the banner.
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut child = Command::new(SKYLINE)
            .arg("--data-dir")
            .arg(&data_dir)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--handshakes-per-second",
                "0",
                // Load tests: no server-wide handshake budget or
                // per-address session cap either.
                "--handshake-budget-per-second",
                "0",
                "--max-connections-per-address",
                "0",
                "--bench-echo",
                "--log",
                "warn",
            ])
            // No admin API: its fixed default port may be taken.
            .env("SKYLINE_ADMIN_LISTEN", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut url = None;
        let mut public_key = None;
        // The banner is printed once the listener is bound; if the server
        // fails instead, its stdout closes and the loop ends.
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("Skyline is listening on ") {
                url = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("Identity public key: ") {
                public_key = Some(rest.trim().to_owned());
                break;
            }
        }
        Server {
            url: url.expect("the server printed its URL"),
            public_key: public_key.expect("the server printed its identity"),
            child,
            data_dir,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Runs `skyline bench` with `args` and returns its JSON report.
fn bench(data_dir: &Path, args: &[&str]) -> Json {
    let output = Command::new(SKYLINE)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "skyline bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_clean(report: &Json, scenario: &str) {
    assert_eq!(report["scenario"], scenario, "{report:#}");
    assert_eq!(report["errors"]["total"], 0, "{scenario}: {report:#}");
    assert!(
        report["throughput"].as_f64().unwrap() > 0.0,
        "{scenario}: {report:#}"
    );
    assert!(report["latencyUs"]["p50"].as_f64().unwrap() > 0.0);
    assert!(
        report["latencyUs"]["p999"].as_f64().unwrap()
            >= report["latencyUs"]["p50"].as_f64().unwrap()
    );
    let server = &report["server"];
    assert!(server["cpuUs"].as_f64().unwrap() >= 0.0, "{report:#}");
    assert!(server["rssAfterKib"].as_u64().unwrap() > 0, "{report:#}");
}

#[test]
fn every_scenario_runs_against_a_real_server() {
    let server = Server::start();
    let pid = server.pid().to_string();
    let common = [
        "--url",
        server.url.as_str(),
        "--identity-public",
        server.public_key.as_str(),
        "--server-pid",
        pid.as_str(),
        "--connections",
        "2",
    ];
    let runs: [(&str, &[&str]); 10] = [
        ("handshake", &["--requests", "50"]),
        ("handshake", &["--requests", "50", "--source-addrs", "2"]),
        ("session", &["--requests", "50", "--rate", "500"]),
        ("toggles", &["--requests", "50"]),
        ("toggles", &["--requests", "50", "--pipeline", "4"]),
        ("telemetry", &["--requests", "50", "--pipeline", "2"]),
        (
            "telemetry",
            &["--requests", "50", "--pipeline", "2", "--event-ids"],
        ),
        ("echo-baseline", &["--requests", "50", "--pipeline", "4"]),
        ("echo-connect", &["--requests", "50"]),
        ("echo-sealed", &["--requests", "50"]),
    ];
    for (scenario, extra) in runs {
        let mut args = vec![scenario];
        args.extend(common);
        args.extend(extra);
        let report = bench(&server.data_dir, &args);
        assert_clean(&report, scenario);
        // Every ticket ends as a success or a counted error.
        assert_eq!(report["ops"], 50, "{scenario}: {report:#}");
        if scenario == "session" {
            assert_eq!(report["step"], "start-session");
            assert_eq!(report["stepLatencyUs"]["samples"], 50);
        }
    }

    // `bind`: every operation binds a new device to one key of a big plan;
    // the report compares the first and the last thousand bindings.
    let mut args = vec!["bind"];
    args.extend(common);
    args.extend(["--requests", "2000", "--seats", "5000"]);
    let report = bench(&server.data_dir, &args);
    assert_clean(&report, "bind");
    assert_eq!(report["ops"], 2000, "{report:#}");
    let bindings = &report["bindings"];
    assert_eq!(bindings["span"], 1000, "{report:#}");
    assert!(
        bindings["firstPerSec"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert!(
        bindings["lastToFirst"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );

    let mut args = vec!["idle"];
    args.extend(common);
    args.extend(["--hold", "0"]);
    let report = bench(&server.data_dir, &args);
    assert_clean(&report, "idle");
    assert_eq!(report["heldSessions"], 2, "{report:#}");
    assert!(
        report["server"]["rssPerSessionBytes"].is_number(),
        "{report:#}"
    );

    // `flood`: toggles measured while handshakes flood in from 4 addresses.
    let mut args = vec!["flood"];
    args.extend(common);
    args.extend([
        "--duration",
        "1",
        "--flood-connections",
        "4",
        "--flood-addrs",
        "4",
    ]);
    let report = bench(&server.data_dir, &args);
    assert_clean(&report, "flood");
    let flood = &report["flood"];
    assert_eq!(flood["sourceAddrs"], 4, "{report:#}");
    assert!(flood["handshakes"].as_u64().unwrap() > 0, "{report:#}");
}

#[test]
fn errors_are_counted_not_dropped() {
    // A port with nobody listening: every connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let dir = tempfile::tempdir().unwrap();
    let report = bench(
        dir.path(),
        &[
            "echo-connect",
            "--url",
            &url,
            "--connections",
            "1",
            "--requests",
            "5",
        ],
    );
    assert_eq!(report["ops"], 0, "{report:#}");
    assert_eq!(report["errors"]["total"], 5, "{report:#}");
    assert_eq!(
        report["errors"]["byKind"][0]["kind"], "io ConnectionRefused",
        "{report:#}"
    );
}

#[test]
fn only_loopback_servers_are_driven() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(SKYLINE)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "bench",
            "echo-baseline",
            "--url",
            "ws://192.0.2.1:7700/ws",
            "--requests",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
