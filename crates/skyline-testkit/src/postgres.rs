//! A throwaway PostgreSQL server for tests, started from the installed
//! server binaries: `initdb` into a temporary directory, `pg_ctl start` on a
//! free port of 127.0.0.1 (its socket directory inside the temporary
//! directory too), as the unprivileged user `nobody` when the tests run as
//! root (PostgreSQL refuses to run as root). Each test gets a database of
//! its own ([`TestPostgres::create_database`]), dropped when it is done.
//!
//! [`shared`] starts one server per test binary on first use. A watchdog
//! process stops it and deletes its directory once the test binary exits,
//! whether the tests passed, failed or aborted.
//!
//! Where PostgreSQL is not installed, [`shared`] prints loudly that the
//! PostgreSQL tests are skipped and how to install it, and returns `None`;
//! under `CI=true` it panics instead, so CI never skips them.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The superuser the tests connect as.
pub const USER: &str = "skyline";

/// Its password (host connections use scram-sha-256, as in production).
pub const PASSWORD: &str = "skyline-test-password";

/// The unprivileged account PostgreSQL runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

/// A running throwaway server.
#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    run_as: Option<String>,
    databases: AtomicU32,
}

/// One database of a [`TestPostgres`]; dropped (with its connections
/// closed by force) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase<'a> {
    /// `postgres://skyline:…@127.0.0.1:PORT/NAME`.
    pub url: String,
    /// The database's name.
    pub name: String,
    server: &'a TestPostgres,
}

impl Drop for TestDatabase<'_> {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = self.server.psql(&sql) {
            eprintln!("note: could not drop test database {}: {e}", self.name);
        }
    }
}

const SKIP_NOTICE: &str = "\n\
    ************************************************************\n\
    * SKIPPING the PostgreSQL tests: no PostgreSQL server      *\n\
    * binaries (initdb, pg_ctl, postgres, psql) were found.    *\n\
    * Install them with:  apt-get install postgresql           *\n\
    * (or point SKYLINE_PG_BINDIR at their directory).         *\n\
    * Under CI=true these tests fail instead of skipping.      *\n\
    ************************************************************\n\n";

/// The server of this test binary, started on first use; `None` (after a
/// loud notice) when PostgreSQL is not installed and `CI` is not `true`.
pub fn shared() -> Option<&'static TestPostgres> {
    static SERVER: OnceLock<Option<TestPostgres>> = OnceLock::new();
    SERVER
        .get_or_init(|| match find_bindir() {
            Some(bindir) => Some(
                TestPostgres::start(&bindir)
                    .unwrap_or_else(|e| panic!("cannot start a test PostgreSQL server: {e}")),
            ),
            None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found, and \
                 CI=true: the PostgreSQL tests must not be skipped. Install them with \
                 `apt-get install postgresql` (or set SKYLINE_PG_BINDIR)."
            ),
            None => {
                // Straight to standard error: the test harness captures
                // `eprintln!`, and this must be seen even when tests pass.
                let _ = std::io::stderr().write_all(SKIP_NOTICE.as_bytes());
                None
            }
        })
        .as_ref()
}

/// Where `initdb`, `pg_ctl` and `postgres` are: `SKYLINE_PG_BINDIR`, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`, then
/// `initdb` on the `PATH`.
pub fn find_bindir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    if let Some(dir) = std::env::var_os("SKYLINE_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|d| complete(d));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| complete(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_owned))
        .filter(|dir| complete(dir))
}

impl TestPostgres {
    /// Creates a cluster in a new temporary directory and starts it.
    pub fn start(bindir: &Path) -> Result<TestPostgres, String> {
        let run_as = running_as_root().then(|| UNPRIVILEGED.to_owned());
        // The unprivileged user must be able to reach the directory: under
        // /tmp, whatever TMPDIR says.
        let parent = match run_as {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("skyline-pg-")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        let mut server = TestPostgres {
            dir,
            bindir: bindir.to_owned(),
            port: 0,
            run_as,
            databases: AtomicU32::new(0),
        };
        std::fs::create_dir(server.dir.join("sock"))
            .map_err(|e| format!("cannot create the socket directory: {e}"))?;
        let password_file = server.dir.join("password");
        std::fs::File::create(&password_file)
            .and_then(|mut f| f.write_all(PASSWORD.as_bytes()))
            .map_err(|e| format!("cannot write the password file: {e}"))?;
        if let Some(user) = &server.run_as {
            let (uid, gid) = account(user)?;
            for path in [&server.dir, &server.dir.join("sock"), &password_file] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot give {} to {user}: {e}", path.display()))?;
            }
        }
        server.watch();
        let data = server.dir.join("data");
        let mut initdb = server.tool("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", USER])
            .arg(format!("--pwfile={}", password_file.display()))
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["-E", "UTF8", "--no-locale", "--no-sync"]);
        checked(&mut initdb, "initdb")?;
        let _ = std::fs::remove_file(&password_file);

        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
                 -c shared_buffers=64MB",
                server.port,
                server.dir.join("sock").display()
            );
            let log = server.dir.join("log");
            let mut start = server.tool("pg_ctl");
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&options)
                .args(["-w", "-t", "120", "start"]);
            match checked(&mut start, "pg_ctl start") {
                Ok(_) => return Ok(server),
                Err(e) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("{e}\nserver log:\n{log}");
                    if !log.contains("could not bind") && !log.contains("in use") {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `name` as `user` with `password`.
    pub fn url_for(&self, user: &str, password: &str, name: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// Creates a new empty database.
    pub fn create_database(&self) -> TestDatabase<'_> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("skyline_test_{}_{n}", std::process::id());
        self.psql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        TestDatabase {
            url: self.url_for(USER, PASSWORD, &name),
            name,
            server: self,
        }
    }

    /// Runs one SQL command as the superuser, in database `postgres`.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let mut psql = Command::new(self.bindir.join("psql"));
        psql.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", USER, "-d", "postgres", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "30");
        checked(&mut psql, "psql").map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// A server binary, run as the unprivileged user when needed.
    fn tool(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    /// Starts the watchdog: once this process is gone, it stops the server
    /// and deletes the directory.
    fn watch(&self) {
        let stop = {
            let pg_ctl = self.bindir.join("pg_ctl");
            let as_user = match &self.run_as {
                Some(user) => format!("runuser -u {user} -- "),
                None => String::new(),
            };
            format!(
                "{as_user}'{}' -D '{}' -m immediate stop",
                pg_ctl.display(),
                self.dir.join("data").display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f '{dir}/data/postmaster.pid' ]; then {stop}; fi; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display(),
        );
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            eprintln!("note: no watchdog for the test PostgreSQL server: {e}");
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .tool("pg_ctl")
            .args([
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
            ])
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of a local account, from /etc/passwd.
fn account(user: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&user))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| format!("no account `{user}` to run PostgreSQL as (tests run as root)"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Runs a command to completion; its output on success, else an error with
/// its standard error.
fn checked(command: &mut Command, what: &str) -> Result<Output, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        ))
    }
}
