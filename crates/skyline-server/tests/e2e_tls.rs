//! `wss://` without a proxy: the real server on its rustls listener
//! (`--tls-cert`/`--tls-key`), a client that trusts the test CA.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{identity, start_request, start_time, MIN_VERSION, PRODUCT};
use skyline_client::{ClientConfig, ClientError};
use skyline_protocol::dates::PlanDuration;
use skyline_server::clock::ManualClock;
use skyline_server::domain::catalog::{CreateLicenses, CreatePlan, CreateProduct};
use skyline_server::domain::{Actor, Plan};
use skyline_server::store;
use skyline_server::tls::{load_tls_config, TlsListener};
use skyline_server::{ServerConfig, Services};
use tokio::net::TcpListener;

/// The client crate's test certificates: a CA and a server certificate for
/// `localhost` and `127.0.0.1`.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../skyline-client/tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn a_session_over_wss_on_the_servers_own_tls_listener() {
    let dir = tempfile::tempdir().unwrap();
    let identity = identity();
    let pinned = identity.public();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = store::open(&url, None).await.unwrap();
    let actor = Actor::cli(start_time());
    let product = CreateProduct {
        id: PRODUCT.into(),
        min_version: MIN_VERSION.into(),
    };
    store.execute(product, &actor).await.unwrap();
    let plan = Plan {
        id: "tp.monthly".into(),
        product_id: PRODUCT.into(),
        duration: PlanDuration::Months(1),
        seats: 1,
    };
    store.execute(CreatePlan(plan), &actor).await.unwrap();
    let (keys, records) = store.license_index().generate_keys(1).unwrap();
    let key = keys[0].to_string();
    let create = CreateLicenses {
        plan_id: "tp.monthly".into(),
        keys: records,
    };
    store.execute(create, &actor).await.unwrap();

    let tls = load_tls_config(&fixture("test-server.pem"), &fixture("test-server.key")).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener::new(tcp, tls).unwrap();
    let services = Services {
        identity: Arc::new(identity),
        store,
        blobs: None,
        clock: Arc::new(ManualClock::new(start_time())),
        refusals: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(skyline_server::run(
        listener,
        ServerConfig::default(),
        services,
        async move {
            let _ = stopped.await;
        },
    ));

    let wss = format!("wss://127.0.0.1:{port}/ws");
    // Without the test CA the certificate is not trusted.
    let untrusted = ClientConfig::new().connect(&wss, pinned).await;
    assert!(
        matches!(
            untrusted,
            Err(ClientError::Tls(_) | ClientError::Io(_) | ClientError::WebSocket(_))
        ),
        "an unknown CA must be refused: {untrusted:?}"
    );

    let ca = std::fs::read(fixture("test-ca.pem")).unwrap();
    let config = ClientConfig::new().with_root_certificate(ca).unwrap();
    let mut client = config.connect(&wss, pinned).await.expect("wss handshake");
    let started = client
        .start_session(start_request(&key, "SN-TLS"))
        .await
        .expect("start-session over wss");
    assert!(started.result.is_activated_now);
    client
        .get_feature_toggles()
        .await
        .expect("a request after it");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
