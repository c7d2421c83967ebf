//! Running the real `skyline` binary in a temporary data directory: operator
//! commands as a user types them, and `skyline serve` as a child process whose
//! banner gives the address to connect to and the key to pin.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skyline_client::{Client, IdentityPublicKey};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_skyline");

/// How long to wait for the server's banner; a guard against a hang, not a
/// timing assertion.
const BANNER_WAIT: Duration = Duration::from_secs(120);

/// `skyline --data-dir DIR`, with no `SKYLINE_*` variable inherited from the
/// environment.
pub fn skyline(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SKYLINE_") {
            command.env_remove(name);
        }
    }
    command.arg("--data-dir").arg(data_dir);
    command.stdin(Stdio::null());
    command
}

/// Runs `skyline --data-dir DIR ARGS…` to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    skyline(data_dir)
        .args(args)
        .output()
        .expect("run the skyline binary")
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    assert!(
        output.status.success(),
        "skyline {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs a command with `--json` that must succeed; returns its parsed output.
pub fn json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let out = ok(data_dir, &with_json);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skyline {args:?}: not JSON ({e}): {out}"))
}

/// Runs a command that must fail with exit code 1; returns its error message.
pub fn fails(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "skyline {args:?} should fail; stdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 errors");
    assert!(
        stderr.starts_with("error: ") && stderr.trim().len() > "error:".len(),
        "skyline {args:?}: no error message: {stderr:?}"
    );
    stderr
}

/// A product, a one-month one-device plan, and `keys` keys: the catalogue
/// set up through the CLI. Returns the keys.
pub fn catalogue(
    data_dir: &Path,
    product: &str,
    plan: &str,
    devices: u32,
    keys: u32,
) -> Vec<String> {
    ok(
        data_dir,
        &["product", "create", product, "--min-version", "1.0.0"],
    );
    ok(
        data_dir,
        &[
            "plan",
            "create",
            plan,
            "--product",
            product,
            "--months",
            "1",
            "--devices",
            &devices.to_string(),
        ],
    );
    let out = ok(
        data_dir,
        &[
            "license",
            "create",
            "--plan",
            plan,
            "--count",
            &keys.to_string(),
        ],
    );
    out.lines().map(str::to_owned).collect()
}

/// `skyline serve` running as a child process.
pub struct Server {
    child: Child,
    /// `ws://127.0.0.1:PORT/ws`, from the banner.
    pub url: String,
    /// The identity public key, from the banner.
    pub pinned: IdentityPublicKey,
    /// The data directory it serves.
    pub data_dir: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `skyline serve --listen 127.0.0.1:0` on `data_dir` (with the
    /// handshake limit off, as tests open many connections, and no admin API
    /// on its fixed default port) and waits for its banner.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// [`Server::start`] with more global options (`--database`,
    /// `--identity`, …) before the subcommand.
    pub fn start_with(data_dir: &Path, global: &[&str]) -> Server {
        let mut child = skyline(data_dir)
            .args(global)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--handshakes-per-second",
                "0",
                "--admin-listen",
                "off",
                "--log",
                "warn",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start skyline serve");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });

        // Read stdout on a thread for as long as the server lives, so the
        // pipe never fills; hand the lines over.
        let (lines, banner) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });

        let mut url = None;
        let mut pinned = None;
        while url.is_none() || pinned.is_none() {
            let line = match banner.recv_timeout(BANNER_WAIT) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "skyline serve printed no banner; stderr:\n{}",
                        stderr.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                }
            };
            if let Some(rest) = line.strip_prefix("Skyline is listening on ") {
                url = Some(rest.trim().to_owned());
            } else if let Some(hex) = line.strip_prefix("Identity public key: ") {
                pinned = Some(IdentityPublicKey::from_hex(hex.trim()).expect("a public key"));
            }
        }
        let url = url.unwrap();
        assert!(
            url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws"),
            "{url}"
        );
        assert!(
            !url.contains(":0/"),
            "the banner names the bound port: {url}"
        );
        Server {
            child,
            url,
            pinned: pinned.unwrap(),
            data_dir: data_dir.to_owned(),
            stderr,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connects and verifies the handshake against the banner's key.
    pub async fn connect(&self) -> Client {
        Client::connect(&self.url, self.pinned)
            .await
            .expect("connect to skyline serve")
    }

    /// Sends SIGTERM (through `kill -TERM`) without waiting.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for skyline serve")
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait()
    }

    /// SIGKILL (`Child::kill`), then waits for the process to be gone.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL skyline serve");
        let _ = self.child.wait();
    }

    /// What the server wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave a server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("pid", &self.child.id())
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The `start-session` payload of the tests: version 1.0.0, English.
pub fn start_request(
    product: &str,
    key: &str,
    serial: &str,
    last_login: Option<i64>,
) -> skyline_client::StartSessionRequest {
    skyline_client::StartSessionRequest {
        product_id: product.into(),
        product_version: "1.0.0".into(),
        language: Some("en".into()),
        last_login_reported_by_client: last_login,
        device_serial_number: serial.into(),
        cs_product_uuid: format!("UUID-{serial}"),
        license_key: key.into(),
    }
}

/// Every line of `skyline telemetry export --product P` (JSON Lines), parsed.
pub fn exported_telemetry(data_dir: &Path, product: &str) -> Vec<serde_json::Value> {
    ok(data_dir, &["telemetry", "export", "--product", product])
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}
