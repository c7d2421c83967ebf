//! The end-to-end harness: the real server ([`skyline_server::run`]) on
//! `127.0.0.1:0`, over a SQLite store in a temporary directory, with a fixed
//! identity key and a [`ManualClock`]; tests talk to it through the client
//! crate, as an app would.
//!
//! Catalogue data is created through the [`Store`] the way the `skyline` CLI
//! does it: domain commands, keys from the store's [`LicenseIndex`].

#![allow(dead_code)]

#[path = "../store_ops/mod.rs"]
pub mod store_ops;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use skyline_client::{Client, ClientConfig, ClientError, Incoming, RpcError, StartSession};
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::methods::{StartSessionRequest, ToggleValue};
use skyline_protocol::{CloseCode, IdentityKeyPair, IdentityPublicKey, Response};
use skyline_server::clock::ManualClock;
use skyline_server::domain::catalog::{CreateLicenses, CreatePlan, CreateProduct};
use skyline_server::domain::toggles::SetToggle;
use skyline_server::domain::{
    Actor, AuditAction, AuditFilter, LicenseInfo, Plan, TelemetryQuery, TelemetryRow, ToggleScope,
    ToggleSetting,
};
use skyline_server::license_index::{LicenseDigest, LicenseIndex};
use skyline_server::limits::Refusals;
use skyline_server::store::{self, Store};
use skyline_server::{ServerConfig, Services};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The product every fixture has.
pub const PRODUCT: &str = "telepower";
/// Its minimum supported version.
pub const MIN_VERSION: &str = "7.0.3";
/// One calendar month, one device.
pub const MONTHLY: &str = "telepower.licensePlan.release.monthly";
/// Never expires, one device.
pub const PERPETUAL: &str = "telepower.licensePlan.perpetual";
/// Thirty days, four devices.
pub const TEAM: &str = "telepower.licensePlan.team";

/// The seed of the server's identity key in every test.
pub const IDENTITY_SEED: [u8; 32] = [0x5a; 32];

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A calendar date.
pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Noon UTC on a date, as UNIX seconds.
pub fn noon(y: i32, m: u32, d: u32) -> i64 {
    day(y, m, d)
        .and_hms_opt(12, 0, 0)
        .expect("a valid time")
        .and_utc()
        .timestamp()
}

/// Where every server's clock starts: 2024-10-25, noon UTC.
pub fn start_time() -> i64 {
    noon(2024, 10, 25)
}

/// The server's identity key pair.
pub fn identity() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&IDENTITY_SEED).expect("a valid seed")
}

/// An operator acting at the server clock's time.
pub fn operator(clock: &ManualClock) -> Actor {
    use skyline_server::clock::Clock;
    Actor::cli(clock.now_unix())
}

/// The default configuration with every rate limit off (tests open many
/// connections from one address) and a short shutdown grace.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        handshakes_per_second: 0,
        failed_keys_per_minute: 0,
        shutdown_grace: Duration::from_secs(5),
        // Tests change toggles mid-session and expect the next read to see
        // them; the cache's time to live is tested on its own.
        toggle_cache_ttl: Duration::ZERO,
        ..ServerConfig::default()
    }
}

/// One running server and what a test needs to drive and inspect it.
pub struct TestServer {
    /// `ws://127.0.0.1:PORT/ws`.
    pub url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// The identity public key clients pin.
    pub pinned: IdentityPublicKey,
    /// The server's store (closed by the server when it stops).
    pub store: Store,
    /// The license index the server uses.
    pub index: LicenseIndex,
    /// The server's clock; every clone sees the same time.
    pub clock: ManualClock,
    /// The configuration it runs with.
    pub config: ServerConfig,
    /// Refusals by each limit, as the server counts them.
    pub refusals: Arc<Refusals>,
    database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
    // Last, so the database directory outlives the server.
    dir: Arc<tempfile::TempDir>,
}

impl TestServer {
    /// A server on an empty database, its clock at [`start_time`].
    pub async fn start(config: ServerConfig) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let clock = ManualClock::new(start_time());
        Self::start_in(dir, config, clock).await
    }

    /// A server with the standard catalogue: [`PRODUCT`] (minimum
    /// [`MIN_VERSION`]) and the plans [`MONTHLY`], [`PERPETUAL`] and [`TEAM`].
    pub async fn with_catalog(config: ServerConfig) -> TestServer {
        let server = Self::start(config).await;
        server.create_product(PRODUCT, MIN_VERSION).await;
        server
            .create_plan(MONTHLY, PRODUCT, PlanDuration::Months(1), 1)
            .await;
        server
            .create_plan(PERPETUAL, PRODUCT, PlanDuration::Perpetual, 1)
            .await;
        server
            .create_plan(TEAM, PRODUCT, PlanDuration::Days(30), 4)
            .await;
        server
    }

    async fn start_in(
        dir: Arc<tempfile::TempDir>,
        config: ServerConfig,
        clock: ManualClock,
    ) -> TestServer {
        let identity = identity();
        let pinned = identity.public();
        let database_url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = store::open(&database_url, None)
            .await
            .expect("open the store");
        let index = store.license_index().clone();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the bound address");
        let refusals = Arc::new(Refusals::default());
        let services = Services {
            identity: Arc::new(identity),
            store: store.clone(),
            blobs: None,
            clock: Arc::new(clock.clone()),
            refusals: refusals.clone(),
        };
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(skyline_server::run(
            listener,
            config.clone(),
            services,
            async move {
                // A dropped sender (a finished test) stops the server too.
                let _ = signal.await;
            },
        ));
        TestServer {
            url: format!("ws://{addr}/ws"),
            addr,
            pinned,
            store,
            index,
            clock,
            config,
            database_url,
            refusals,
            shutdown: Some(shutdown),
            task: Some(task),
            dir,
        }
    }

    /// Tells the server to shut down, without waiting for it.
    pub fn signal_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits for `run` to return (after [`signal_shutdown`](Self::signal_shutdown)).
    pub async fn join(&mut self) -> io::Result<()> {
        let task = self.task.take().expect("the server is running");
        task.await.expect("the server task did not panic")
    }

    /// Shuts the server down and waits for `run` to return.
    pub async fn stop(&mut self) -> io::Result<()> {
        self.signal_shutdown();
        self.join().await
    }

    /// Stops this server and starts a new one on the same database file,
    /// with the same identity, clock and configuration.
    pub async fn restart(mut self) -> TestServer {
        self.stop().await.expect("the server stopped cleanly");
        let dir = self.dir.clone();
        Self::start_in(dir, self.config.clone(), self.clock.clone()).await
    }

    /// What the server's clock reads, UNIX seconds.
    pub fn clock_now(&self) -> i64 {
        use skyline_server::clock::Clock;
        self.clock.now_unix()
    }

    /// The database URL (`sqlite://…`) of this server.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    // --- Catalogue, through domain commands as the CLI does it --------------

    pub async fn create_product(&self, id: &str, min_version: &str) {
        let create = CreateProduct {
            id: id.into(),
            min_version: min_version.into(),
        };
        self.store
            .execute(create, &operator(&self.clock))
            .await
            .expect("create the product");
    }

    pub async fn create_plan(&self, id: &str, product: &str, duration: PlanDuration, seats: u32) {
        let plan = Plan {
            id: id.into(),
            product_id: product.into(),
            duration,
            seats,
        };
        self.store
            .execute(CreatePlan(plan), &operator(&self.clock))
            .await
            .expect("create the plan");
    }

    /// Creates `count` keys of `plan`; returns them as a user would type them.
    pub async fn create_keys(&self, plan: &str, count: usize) -> Vec<String> {
        let (keys, records) = self.index.generate_keys(count).expect("random keys");
        let create = CreateLicenses {
            plan_id: plan.into(),
            keys: records,
        };
        let created = self
            .store
            .execute(create, &operator(&self.clock))
            .await
            .expect("create the keys");
        assert_eq!(created, count);
        keys.iter().map(|k| k.to_string()).collect()
    }

    /// One new key of `plan`.
    pub async fn create_key(&self, plan: &str) -> String {
        self.create_keys(plan, 1).await.remove(0)
    }

    /// The store's digest of a key.
    pub fn digest(&self, key: &str) -> LicenseDigest {
        self.index
            .digest_typed(key)
            .expect("a well-formed license key")
    }

    /// A key as the store shows it to operators.
    pub async fn license(&self, key: &str) -> LicenseInfo {
        self.store
            .find_license(&self.digest(key))
            .await
            .expect("the license exists")
    }

    pub async fn set_toggle(&self, scope: ToggleScope, name: &str, value: ToggleValue) {
        let set = SetToggle {
            product_id: PRODUCT.into(),
            scope,
            name: name.into(),
            value,
        };
        self.store
            .execute(set, &operator(&self.clock))
            .await
            .expect("set the toggle");
    }

    /// Every telemetry event of [`PRODUCT`], oldest first.
    pub async fn telemetry(&self) -> Vec<TelemetryRow> {
        self.store
            .export_telemetry(TelemetryQuery {
                product_id: PRODUCT.into(),
                since: None,
                after_id: None,
                limit: 100_000,
            })
            .await
            .expect("export telemetry")
    }

    /// What a bad input must not change; see [`Snapshot`].
    pub async fn snapshot(&self) -> Snapshot {
        let licenses = self.store.list_licenses(None).await.expect("list licenses");
        let audit = self
            .store
            .list_audit(AuditFilter::default())
            .await
            .expect("list the audit log")
            .into_iter()
            .filter(|r| {
                !matches!(
                    r.action,
                    AuditAction::IntegrityBreach
                        | AuditAction::BadHandshakes
                        | AuditAction::HandshakesRateLimited
                        | AuditAction::InvalidLicenseKeys
                )
            })
            .count();
        let toggles = self
            .store
            .list_toggles(PRODUCT)
            .await
            .expect("list toggles");
        Snapshot {
            licenses,
            telemetry: self.telemetry().await,
            audit_entries: audit,
            toggles,
        }
    }

    // --- Clients --------------------------------------------------------------

    /// Connects with the default client configuration (the system clock
    /// stamps `t`).
    pub async fn connect(&self) -> Client {
        Client::connect(&self.url, self.pinned)
            .await
            .expect("connect and verify the handshake")
    }

    /// Connects with a client whose clock always reads `t`: the `t` of every
    /// request, and so the last login a successful `start-session` records.
    pub async fn connect_at(&self, t: i64) -> Client {
        ClientConfig::default()
            .with_clock(move || t)
            .connect(&self.url, self.pinned)
            .await
            .expect("connect and verify the handshake")
    }

    /// Connects (at `t`) and starts a session; the result and the client.
    pub async fn start_session_at(
        &self,
        t: i64,
        request: StartSessionRequest,
    ) -> (Client, Result<StartSession, ClientError>) {
        let mut client = self.connect_at(t).await;
        let started = client.start_session(request).await;
        (client, started)
    }

    /// A session that must start: the client and what `start-session` gave.
    pub async fn session_at(&self, t: i64, request: StartSessionRequest) -> (Client, StartSession) {
        let (client, started) = self.start_session_at(t, request).await;
        let started = started.expect("start-session OK");
        (client, started)
    }

    /// A `start-session` that must be refused: the status error and the close
    /// code that followed it (every refused start-session closes with 1000).
    pub async fn refused_at(&self, t: i64, request: StartSessionRequest) -> RpcError {
        let (mut client, started) = self.start_session_at(t, request).await;
        let error = match started {
            Err(ClientError::Rpc(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::NORMAL),
            "a refused start-session closes with 1000 ({error})"
        );
        error
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Stored data a bad input must leave alone: keys with their devices,
/// telemetry, the audit log (entries other than security events) and toggles.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub licenses: Vec<LicenseInfo>,
    pub telemetry: Vec<TelemetryRow>,
    pub audit_entries: usize,
    pub toggles: Vec<ToggleSetting>,
}

/// A `start-session` payload for [`PRODUCT`] at [`MIN_VERSION`], in English,
/// from device `serial`, for a device's first start (no last login).
pub fn start_request(key: &str, serial: &str) -> StartSessionRequest {
    StartSessionRequest {
        product_id: PRODUCT.into(),
        product_version: MIN_VERSION.into(),
        language: Some("en".into()),
        last_login_reported_by_client: None,
        device_serial_number: serial.into(),
        cs_product_uuid: format!("4C4C4544-0042-3510-8052-{serial}"),
        license_key: key.into(),
    }
}

/// [`start_request`] reporting `last_login`.
pub fn start_request_after(key: &str, serial: &str, last_login: i64) -> StartSessionRequest {
    StartSessionRequest {
        last_login_reported_by_client: Some(last_login),
        ..start_request(key, serial)
    }
}

/// The close code of the next message, which must be a close frame (not a
/// response: the server must send nothing else first).
pub async fn next_close(client: &mut Client) -> Option<CloseCode> {
    match client
        .raw()
        .recv()
        .await
        .expect("a message from the server")
    {
        Incoming::Close { code, .. } => code,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// The next message, decrypted as a response.
pub async fn next_response(client: &mut Client) -> Response {
    client
        .raw()
        .recv_response()
        .await
        .expect("a response from the server")
}

/// Checks the session token format `^[0-9a-f]{8}-[0-9a-f]{8}$`.
pub fn assert_token_format(token: &str) {
    let lower_hex = |s: &str| {
        s.len() == 8
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = match token.split_once('-') {
        Some((a, b)) => lower_hex(a) && lower_hex(b),
        None => false,
    };
    assert!(ok, "session token {token:?} is not xxxxxxxx-xxxxxxxx");
}
