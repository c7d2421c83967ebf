//! The harness of the download and admin API tests: the real server
//! ([`skyline_server::run`]) and the admin API ([`skyline_server::admin::serve`])
//! on `127.0.0.1:0`, over one SQLite store and one releases directory in a
//! temporary directory, with a fixed identity key and a [`ManualClock`]; and
//! a small HTTP/1.1 client that shows status, headers and body as sent.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use skyline_protocol::{IdentityKeyPair, IdentityPublicKey};
use skyline_server::admin::auth::generate_token;
use skyline_server::admin::AdminConfig;
use skyline_server::blobs::FsBlobStore;
use skyline_server::clock::{Clock, ManualClock};
use skyline_server::domain::catalog::CreateProduct;
use skyline_server::domain::tokens::CreateAdminToken;
use skyline_server::domain::{Actor, Release, ReleaseChannel};
use skyline_server::license_index::LicenseIndex;
use skyline_server::releases::{publish, PublishRequest};
use skyline_server::store::{self, Store};
use skyline_server::{ServerConfig, Services};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The seed of the server's identity key.
pub const IDENTITY_SEED: [u8; 32] = [0x42; 32];
/// The product every harness has, minimum version 7.0.0.
pub const PRODUCT: &str = "telepower";

/// A running server, its admin API and what a test needs to inspect them.
pub struct Harness {
    /// `http://127.0.0.1:PORT`, the main listener (downloads, `/ws`).
    pub base: String,
    /// `http://127.0.0.1:PORT`, the admin listener.
    pub admin: String,
    /// The main listener's address.
    pub addr: SocketAddr,
    /// The key clients pin.
    pub pinned: IdentityPublicKey,
    /// The server's identity.
    pub identity: Arc<IdentityKeyPair>,
    /// The store both listeners use.
    pub store: Store,
    /// The license index.
    pub index: LicenseIndex,
    /// The clock.
    pub clock: ManualClock,
    /// Where artifacts are stored.
    pub releases_dir: std::path::PathBuf,
    stop: watch::Sender<bool>,
    main: Option<JoinHandle<std::io::Result<()>>>,
    admin_task: Option<JoinHandle<std::io::Result<()>>>,
    /// Last, so files outlive the servers.
    pub dir: tempfile::TempDir,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Harness {
    /// Servers with the default admin configuration and [`PRODUCT`].
    pub async fn start() -> Harness {
        Self::start_with(AdminConfig::default()).await
    }

    /// Servers with `admin`; artifacts in a releases directory.
    pub async fn start_with(admin: AdminConfig) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let identity = Arc::new(IdentityKeyPair::from_seed(&IDENTITY_SEED).expect("a seed"));
        let url = format!("sqlite://{}", dir.path().join("skyline.sqlite").display());
        let store = store::open(&url, None).await.expect("a store");
        let index = store.license_index().clone();
        let clock = ManualClock::new(1_735_000_000);
        let create = CreateProduct {
            id: PRODUCT.into(),
            min_version: "7.0.0".into(),
        };
        store
            .execute(create, &Actor::cli(clock.now_unix()))
            .await
            .expect("a product");
        let releases_dir = dir.path().join("releases");
        let services = Services {
            identity: identity.clone(),
            store: store.clone(),
            blobs: Some(Arc::new(FsBlobStore::new(&releases_dir))),
            clock: Arc::new(clock.clone()),
            refusals: Default::default(),
        };
        let config = ServerConfig {
            handshakes_per_second: 0,
            failed_keys_per_minute: 0,
            shutdown_grace: Duration::from_secs(5),
            ..ServerConfig::default()
        };
        let main_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = main_listener.local_addr().expect("an address");
        let admin_addr = admin_listener.local_addr().expect("an address");
        let (stop, rx) = watch::channel(false);
        // As `skyline serve` does: the admin API stops first, then the main
        // server, which closes the store.
        let (admin_done, admin_finished) = tokio::sync::oneshot::channel::<()>();
        let admin_serve = skyline_server::admin::serve(
            admin_listener,
            admin,
            services.clone(),
            stopped(rx.clone()),
        );
        let admin_task = tokio::spawn(async move {
            let result = admin_serve.await;
            let _ = admin_done.send(());
            result
        });
        let main_shutdown = async move {
            stopped(rx).await;
            let _ = admin_finished.await;
        };
        let main = tokio::spawn(skyline_server::run(
            main_listener,
            config,
            services,
            main_shutdown,
        ));
        Harness {
            base: format!("http://{addr}"),
            admin: format!("http://{admin_addr}"),
            addr,
            pinned: identity.public(),
            identity,
            store,
            index,
            clock,
            releases_dir,
            stop,
            main: Some(main),
            admin_task: Some(admin_task),
            dir,
        }
    }

    /// Publishes `bytes` as a release, as `skyline release publish` does.
    pub async fn publish(
        &self,
        version: &str,
        platform: Option<&str>,
        channel: ReleaseChannel,
        file_name: &str,
        bytes: &[u8],
    ) -> Release {
        let blobs = FsBlobStore::new(&self.releases_dir);
        let request = PublishRequest {
            product_id: PRODUCT.into(),
            version: version.into(),
            platform: platform.map(str::to_owned),
            channel,
            file_name: file_name.into(),
            min_version: None,
        };
        publish(
            &self.store,
            &blobs,
            &self.identity,
            &Actor::cli(self.clock.now_unix()),
            request,
            &mut &bytes[..],
            u64::MAX,
        )
        .await
        .expect("publish")
    }

    /// Creates an admin token as `skyline admin-token create` does; returns
    /// its text and id.
    pub async fn token(&self, name: &str, read_only: bool) -> (String, String) {
        let generated = generate_token(name, read_only).expect("a token");
        let token = self
            .store
            .execute(
                CreateAdminToken(generated.record),
                &Actor::cli(self.clock.now_unix()),
            )
            .await
            .expect("stored");
        (generated.text, token.id)
    }

    /// Stops both listeners and waits for them (the store is closed after);
    /// returns the temporary directory, which is deleted when dropped.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.send(true);
        if let Some(task) = self.admin_task.take() {
            task.await.expect("admin task").expect("admin API");
        }
        if let Some(task) = self.main.take() {
            task.await.expect("server task").expect("server");
        }
        let placeholder = tempfile::tempdir().expect("a temporary directory");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

/// An HTTP answer as received.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The stable error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", String::from_utf8_lossy(&self.body)))
            .to_owned()
    }
}

/// Sends one request on a new connection and reads the whole answer.
pub async fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    let url: url::Url = url.parse().expect("a URL");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port().expect("a port")
    );
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", addr.as_str());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .expect("a request");
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET url` with headers.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    http("GET", url, headers, Vec::new()).await
}

/// Deterministic pseudo-random bytes, so a range is never all-equal.
pub fn artifact(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x9e37_0000;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// A request to the admin API with `token` (none when empty).
pub async fn call(
    server: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/json")];
    if !token.is_empty() {
        headers.push(("authorization", bearer.as_str()));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    http(method, &format!("{}{path}", server.admin), &headers, body).await
}

/// `call`, asserting the status.
pub async fn expect(
    server: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    status: u16,
) -> Reply {
    let reply = call(server, token, method, path, body).await;
    assert_eq!(
        reply.status,
        status,
        "{method} {path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
}
