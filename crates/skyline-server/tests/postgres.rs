//! What only the PostgreSQL backend has: connection errors that name the
//! server and never the password, migrations that several nodes may run at
//! once, and release artifacts in the database, published through one node
//! and downloaded from another. (Everything else is the shared store suites,
//! `store_suite.rs` and `store_releases.rs`.)

mod http_support;

use std::sync::Arc;
use std::time::Duration;

use http_support::{artifact, get, http, sha256_hex};
use skyline_protocol::IdentityKeyPair;
use skyline_server::clock::SystemClock;
use skyline_server::domain::catalog::CreateProduct;
use skyline_server::domain::{Actor, ReleaseChannel};
use skyline_server::releases::{publish, PublishRequest};
use skyline_server::store::SCHEMA_VERSION;
use skyline_server::store::{self, StoreError};
use skyline_server::{ServerConfig, Services};
use skyline_testkit::postgres::{self, PASSWORD, USER};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_missing_databases_are_explained() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();

    let wrong = server.url_for(USER, "not-the-password", &database.name);
    let err = store::open(&wrong, None).await.err().unwrap().to_string();
    let at = format!("127.0.0.1:{}", server.port());
    assert!(
        err.contains(&format!(
            "PostgreSQL at {at} refused the credentials of user `{USER}`"
        )),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");

    let missing = server.url_for(USER, PASSWORD, "no_such_database");
    let err = store::open(&missing, None).await.err().unwrap().to_string();
    assert!(err.contains("no database `no_such_database`"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let bad = store::open("postgres://h/db?pool_size=none", None).await;
    assert!(matches!(bad, Err(StoreError::Config(_))), "{:?}", bad.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();
    let opening: Vec<_> = (0..6)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { store::open(&url, None).await })
        })
        .collect();
    // Every node agrees on the one license index secret the first stored.
    let mut digests = Vec::new();
    for node in opening {
        let store = node.await.unwrap().expect("every node opens the database");
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        digests.push(store.license_index().digest("K"));
        store.close().await;
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "one secret");
    assert_eq!(
        store::migrate(&database.url, None).await.unwrap(),
        SCHEMA_VERSION
    );
}

/// A release published through one node's store is downloaded, whole and in
/// ranges across the database's 1 MiB chunks, from a server running on
/// another store instance (another node) on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_published_through_one_node_downloads_from_another() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();
    let identity = Arc::new(IdentityKeyPair::from_seed(&[0x42; 32]).unwrap());
    let node_a = store::open(&database.url, None).await.unwrap();
    let node_b = store::open(&database.url, None).await.unwrap();

    let by = Actor::cli(1_735_000_000);
    let create = CreateProduct {
        id: "telepower".into(),
        min_version: "7.0".into(),
    };
    node_a.execute(create, &by).await.unwrap();
    let bytes = artifact(2 * 1024 * 1024 + 100_001, 5);
    let request = PublishRequest {
        product_id: "telepower".into(),
        version: "7.1.0".into(),
        platform: None,
        channel: ReleaseChannel::Stable,
        file_name: "TelePower-7.1.0.exe".into(),
        min_version: None,
    };
    let blobs_a = node_a.release_blobs().expect("artifacts in PostgreSQL");
    let release = publish(
        &node_a,
        blobs_a.as_ref(),
        &identity,
        &by,
        request,
        &mut &bytes[..],
        u64::MAX,
    )
    .await
    .unwrap();
    assert_eq!(hex::encode(release.sha256), sha256_hex(&bytes));

    // Node B: its own store, artifacts from the database, no directory.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerConfig {
        shutdown_grace: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let services = Services {
        identity,
        blobs: node_b.release_blobs(),
        store: node_b,
        clock: Arc::new(SystemClock),
        refusals: Default::default(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(skyline_server::run(listener, config, services, async {
        let _ = stopped.await;
    }));

    let latest = format!("{base}/download/telepower/latest");
    let head = http("HEAD", &latest, &[], Vec::new()).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    let full = get(&latest, &[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(
        full.header("x-skyline-sha256"),
        Some(sha256_hex(&bytes).as_str())
    );
    assert!(full.body == bytes, "the whole file, byte for byte");

    // A resumed download across a chunk boundary, and a suffix range.
    let mib = 1024 * 1024;
    let range = format!("bytes={}-{}", mib - 100, 2 * mib + 50);
    let part = get(&latest, &[("range", range.as_str())]).await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes {}-{}/{}", mib - 100, 2 * mib + 50, bytes.len()).as_str())
    );
    assert!(part.body == bytes[mib - 100..=2 * mib + 50]);
    let tail = get(&latest, &[("range", "bytes=-7")]).await;
    assert_eq!(tail.body, &bytes[bytes.len() - 7..]);
    let beyond = get(
        &format!("{base}/download/telepower/7.1.0"),
        &[("range", format!("bytes={}-", bytes.len()).as_str())],
    )
    .await;
    assert_eq!(beyond.status, 416);

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    node_a.close().await;
}
