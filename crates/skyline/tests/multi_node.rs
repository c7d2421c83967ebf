//! Two `skyline serve` processes on one PostgreSQL database, as behind a load
//! balancer: devices racing for the last seat through different nodes (one
//! wins), a key revoked through one node refused at the other, telemetry
//! sent to both all there, a node killed with `kill -9` mid-burst losing
//! no acknowledged event, and a release published once downloadable from
//! every node (its artifact in the database). Also `skyline migrate`, and a
//! deployment moved from SQLite to PostgreSQL with `export` / `import`,
//! releases, admin tokens and artifacts included.
//!
//! The nodes share the database URL and the identity key file, through a
//! `skyline.toml` in each node's data directory, exactly as an operator
//! would deploy them. Skipped (loudly) where PostgreSQL is not installed,
//! never under `CI=true`.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{start_request, Server};
use skyline_client::{
    download_update, ClientConfig, ClientError, RpcError, TelemetryEvent, UpdateRequest,
};
use skyline_protocol::{msgpack, Value};
use skyline_testkit::postgres::{self, TestDatabase};
use tokio::sync::{mpsc, Barrier};

const PRODUCT: &str = "telepower";
const SOLO: &str = "telepower.licensePlan.solo";
const TEAM: &str = "telepower.licensePlan.team";

/// Two nodes on one fresh database, and an operator's data directory on
/// the same database and identity key.
struct Cluster {
    nodes: [Server; 2],
    /// Where `skyline` operator commands run (`common::ok(&cluster.admin, …)`).
    admin: PathBuf,
    _root: tempfile::TempDir,
    _database: TestDatabase<'static>,
}

/// The directories a deployment on `url` uses: a shared identity key, and
/// `names` data directories whose `skyline.toml` names the database and key.
fn deployment(root: &Path, url: &str, names: &[&str]) -> Vec<PathBuf> {
    let identity = root.join("identity.key");
    common::ok(
        root,
        &["keygen", "--out", identity.to_str().expect("a UTF-8 path")],
    );
    names
        .iter()
        .map(|name| {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let config = format!(
                "database = {}\nidentity = {}\n",
                toml_string(url),
                toml_string(identity.to_str().unwrap())
            );
            std::fs::write(dir.join("skyline.toml"), config).unwrap();
            dir
        })
        .collect()
}

fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Starts two nodes with a product, a one-seat plan and an eight-seat plan;
/// `None` when PostgreSQL is not installed (and CI is not set).
fn cluster() -> Option<Cluster> {
    let database = postgres::shared()?.create_database();
    let root = tempfile::tempdir().unwrap();
    let dirs = deployment(root.path(), &database.url, &["admin", "node-a", "node-b"]);
    let admin = dirs[0].clone();
    common::ok(
        &admin,
        &["product", "create", PRODUCT, "--min-version", "1.0.0"],
    );
    for (plan, devices) in [(SOLO, "1"), (TEAM, "8")] {
        common::ok(
            &admin,
            &[
                "plan",
                "create",
                plan,
                "--product",
                PRODUCT,
                "--months",
                "1",
                "--devices",
                devices,
            ],
        );
    }
    let nodes = [Server::start(&dirs[1]), Server::start(&dirs[2])];
    assert_eq!(
        nodes[0].pinned, nodes[1].pinned,
        "the nodes share one identity"
    );
    Some(Cluster {
        nodes,
        admin,
        _root: root,
        _database: database,
    })
}

impl Cluster {
    /// A new key of `plan`.
    fn key(&self, plan: &str) -> String {
        common::ok(&self.admin, &["license", "create", "--plan", plan])
            .trim()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_for_the_last_seat_through_two_nodes_one_wins() {
    let Some(cluster) = cluster() else { return };
    let cluster = Arc::new(cluster);
    let key = Arc::new(cluster.key(SOLO));
    const RACERS: usize = 8;
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let (cluster, key, barrier) = (cluster.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                // Odd devices through node B, even ones through node A.
                let mut client = cluster.nodes[n % 2].connect().await;
                barrier.wait().await;
                let serial = format!("SN-RACE-{n}");
                client
                    .start_session(start_request(PRODUCT, &key, &serial, None))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => winners += 1,
            Err(ClientError::Rpc(RpcError::KeyBoundToAnotherDevice { .. })) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(winners, 1, "exactly one device gets the last seat");
    let shown = common::json(&cluster.admin, &["license", "show", &key]);
    assert_eq!(
        shown["devices"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_node_is_refused_at_the_other() {
    let Some(cluster) = cluster() else { return };
    let key = cluster.key(TEAM);
    let [a, b] = &cluster.nodes;

    // The device works through both nodes (each has a pooled connection now).
    let mut client = b.connect().await;
    let first = client
        .start_session(start_request(PRODUCT, &key, "SN-1", None))
        .await
        .expect("start-session at node B");
    client.close().await.unwrap();
    let mut client = a.connect().await;
    let second = client
        .start_session(start_request(
            PRODUCT,
            &key,
            "SN-1",
            Some(first.last_login_to_persist),
        ))
        .await
        .expect("start-session at node A");
    client.close().await.unwrap();

    // Revoked by an operator on the shared database while both nodes run…
    common::ok(&cluster.admin, &["license", "revoke", &key]);

    // …refused at once by either node: nothing is cached per node.
    for node in [b, a] {
        let mut client = node.connect().await;
        let refused = client
            .start_session(start_request(
                PRODUCT,
                &key,
                "SN-1",
                Some(second.last_login_to_persist),
            ))
            .await;
        assert!(
            matches!(
                refused,
                Err(ClientError::Rpc(RpcError::LicenseRevoked { .. }))
            ),
            "{refused:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_sent_to_both_nodes_is_all_there() {
    let Some(cluster) = cluster() else { return };
    let key = Arc::new(cluster.key(TEAM));
    const EACH: i64 = 50;
    let mut senders = Vec::new();
    for (n, node) in cluster.nodes.iter().enumerate() {
        let mut client = node.connect().await;
        client
            .start_session(start_request(PRODUCT, &key, &format!("SN-{n}"), None))
            .await
            .expect("start-session");
        senders.push(tokio::spawn(async move {
            for i in 0..EACH {
                let event = TelemetryEvent {
                    event: format!("node{n}.event"),
                    data: Some(msgpack::map([("i", Value::from(i))])),
                    event_id: None,
                };
                client
                    .send_telemetry_event(event)
                    .await
                    .expect("acknowledged");
            }
            client.close().await.unwrap();
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let stored: HashSet<(String, i64)> = common::exported_telemetry(&cluster.admin, PRODUCT)
        .iter()
        .map(|row| {
            (
                row["event"].as_str().unwrap().to_owned(),
                row["data"]["i"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: HashSet<(String, i64)> = (0..2)
        .flat_map(|n| (0..EACH).map(move |i| (format!("node{n}.event"), i)))
        .collect();
    assert_eq!(stored, expected);
}

/// Connections sending telemetry at once, per node.
const SENDERS_PER_NODE: usize = 3;
/// Acknowledged events after which node A is killed.
const KILL_AFTER: usize = 150;
/// Events per sender at most, so nothing spins forever.
const MAX_PER_SENDER: i64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_loses_no_acknowledged_event() {
    let Some(mut cluster) = cluster() else { return };
    let key = Arc::new(cluster.key(TEAM));
    let (acks, mut acknowledged) = mpsc::unbounded_channel::<(usize, i64)>();
    let mut senders = Vec::new();
    for sender in 0..2 * SENDERS_PER_NODE {
        let node = &cluster.nodes[sender % 2];
        let mut client = node.connect().await;
        client
            .start_session(start_request(
                PRODUCT,
                &key,
                &format!("SN-BURST-{sender}"),
                None,
            ))
            .await
            .expect("start-session");
        let acks = acks.clone();
        senders.push(tokio::spawn(async move {
            for n in 0..MAX_PER_SENDER {
                let event = TelemetryEvent {
                    event: "burst".into(),
                    data: Some(msgpack::map([
                        ("sender", Value::from(sender as i64)),
                        ("n", Value::from(n)),
                    ])),
                    event_id: None,
                };
                match client.send_telemetry_event(event).await {
                    Ok(()) => {
                        if acks.send((sender, n)).is_err() {
                            return;
                        }
                    }
                    // Node A is gone: what it acknowledged is all that counts.
                    Err(_) => return,
                }
            }
        }));
    }
    drop(acks);

    let mut acked = HashSet::new();
    let mut killed = false;
    while let Some(ack) = acknowledged.recv().await {
        acked.insert(ack);
        if !killed && acked.len() >= KILL_AFTER {
            cluster.nodes[0].kill_9();
            killed = true;
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(killed, "node A was killed mid-burst");
    let through_a = acked.iter().filter(|(s, _)| s % 2 == 0).count();
    assert!(
        (through_a as i64) < SENDERS_PER_NODE as i64 * MAX_PER_SENDER,
        "the kill interrupted node A's burst"
    );

    let stored: HashSet<(usize, i64)> = common::exported_telemetry(&cluster.admin, PRODUCT)
        .iter()
        .map(|row| {
            let data = &row["data"];
            (
                data["sender"].as_u64().unwrap() as usize,
                data["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {lost:?}",
        lost.len()
    );
    // Node B carried on past the kill.
    let through_b = acked.iter().filter(|(s, _)| s % 2 == 1).count();
    assert_eq!(through_b as i64, SENDERS_PER_NODE as i64 * MAX_PER_SENDER);
}

/// `http://127.0.0.1:PORT` of a node, from its WebSocket URL.
fn http_base(node: &Server) -> String {
    node.url
        .replace("ws://", "http://")
        .trim_end_matches("/ws")
        .to_owned()
}

/// One plain HTTP/1.1 GET with a `Range` header; the status and the body.
fn get_range(node: &Server, path: &str, range: &str) -> (u16, Vec<u8>) {
    let addr = http_base(node).replace("http://", "");
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nRange: {range}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let status = String::from_utf8_lossy(&answer[9..12])
        .parse()
        .expect("a status code");
    (status, answer[split + 4..].to_vec())
}

/// Deterministic bytes that differ from one position to the next.
fn artifact(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// `skyline release publish` of `bytes` as `version` through the data
/// directory `dir`; the published release as JSON.
fn publish(dir: &Path, version: &str, bytes: &[u8]) -> serde_json::Value {
    let file = dir.join(format!("TelePower-{version}.exe"));
    std::fs::write(&file, bytes).unwrap();
    common::json(
        dir,
        &[
            "release",
            "publish",
            "--product",
            PRODUCT,
            "--version",
            version,
            file.to_str().unwrap(),
        ],
    )
}

/// Downloads the latest release from `node` as an app does, verified
/// against the pinned key; the file's bytes.
async fn download_latest(node: &Server, into: &Path) -> Vec<u8> {
    let update = download_update(
        &ClientConfig::default(),
        &UpdateRequest::new(http_base(node), PRODUCT),
        node.pinned,
        into,
    )
    .await
    .expect("a verified download");
    std::fs::read(&update.path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_published_once_downloads_from_every_node() {
    let Some(cluster) = cluster() else { return };
    // Published with the CLI on the operator's machine: the artifact goes
    // into the database, not into a directory any node would need.
    let bytes = artifact(2 * 1024 * 1024 + 4_321);
    let published = publish(&cluster.admin, "2.0.0", &bytes);
    assert_eq!(published["size"], bytes.len());
    assert!(!cluster.admin.join("releases").exists());

    let downloads = tempfile::tempdir().unwrap();
    for (n, node) in cluster.nodes.iter().enumerate() {
        let into = downloads.path().join(format!("node-{n}"));
        assert!(download_latest(node, &into).await == bytes, "node {n}");
        // A resumed download: the rest from inside the second chunk.
        let from = 1024 * 1024 + 17;
        let (status, rest) = get_range(
            node,
            &format!("/download/{PRODUCT}/2.0.0"),
            &format!("bytes={from}-"),
        );
        assert_eq!(status, 206, "node {n}");
        assert!(rest == bytes[from..], "node {n}");
    }
    let listed = common::json(&cluster.admin, &["release", "list", "--product", PRODUCT]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_move_a_deployment_from_sqlite_to_postgres() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();
    let root = tempfile::tempdir().unwrap();
    let dirs = deployment(root.path(), &database.url, &["postgres"]);
    let pg = &dirs[0];
    // The SQLite deployment: the default database of its data directory,
    // with the same identity key.
    let lite = root.path().join("sqlite");
    std::fs::create_dir_all(&lite).unwrap();
    std::fs::write(
        lite.join("skyline.toml"),
        format!(
            "identity = {}\n",
            toml_string(root.path().join("identity.key").to_str().unwrap())
        ),
    )
    .unwrap();

    // `skyline migrate` on an empty PostgreSQL database, twice: idempotent.
    for _ in 0..2 {
        let migrated = common::json(pg, &["migrate"]);
        assert_eq!(
            migrated["schemaVersion"],
            skyline_server::store::SCHEMA_VERSION,
            "{migrated}"
        );
    }

    // Something in every table, through a real server and the CLI.
    let keys = common::catalogue(&lite, PRODUCT, TEAM, 2, 3);
    common::ok(
        &lite,
        &["plan", "create", SOLO, "--product", PRODUCT, "--perpetual"],
    );
    common::ok(
        &lite,
        &["toggle", "set", "limit", "100", "--product", PRODUCT],
    );
    common::ok(
        &lite,
        &[
            "toggle",
            "set",
            "limit",
            "2.5",
            "--product",
            PRODUCT,
            "--plan",
            TEAM,
        ],
    );
    common::ok(
        &lite,
        &[
            "toggle",
            "set",
            "motd",
            "hello",
            "--product",
            PRODUCT,
            "--license",
            &keys[0],
        ],
    );
    let node = Server::start(&lite);
    let mut client = node.connect().await;
    let first = client
        .start_session(start_request(PRODUCT, &keys[0], "SN-1", None))
        .await
        .unwrap();
    for i in 0..20 {
        let event = TelemetryEvent {
            event: "moved".into(),
            data: (i % 3 != 0).then(|| msgpack::map([("i", Value::from(i))])),
            event_id: None,
        };
        client.send_telemetry_event(event).await.unwrap();
    }
    client.close().await.unwrap();
    let mut client = node.connect().await;
    let second = client
        .start_session(start_request(
            PRODUCT,
            &keys[0],
            "SN-1",
            Some(first.last_login_to_persist),
        ))
        .await
        .unwrap();
    client.close().await.unwrap();
    // A device locked after a last-login breach.
    let mut client = node.connect().await;
    client
        .start_session(start_request(PRODUCT, &keys[1], "SN-9", None))
        .await
        .unwrap();
    let mut client = node.connect().await;
    let breach = client
        .start_session(start_request(PRODUCT, &keys[1], "SN-9", Some(12_345)))
        .await;
    assert!(
        matches!(
            breach,
            Err(ClientError::Rpc(RpcError::IntegrityBreach { .. }))
        ),
        "{breach:?}"
    );
    assert!(node.terminate().success());
    common::ok(&lite, &["license", "revoke", &keys[2]]);
    // A release (its artifact a file in the SQLite deployment's releases
    // directory) and an admin token.
    let bytes = artifact(1024 * 1024 + 99_999);
    let published = publish(&lite, "1.5.0", &bytes);
    let sha = published["sha256"].as_str().unwrap();
    assert!(lite.join("releases").join(sha).is_file());
    common::ok(&lite, &["admin-token", "create", "--name", "shop"]);

    // SQLite → file → PostgreSQL → file: the two dumps are the same.
    let first_dump = root.path().join("from-sqlite.jsonl");
    let second_dump = root.path().join("from-postgres.jsonl");
    common::ok(&lite, &["export", "--out", first_dump.to_str().unwrap()]);
    let imported = common::json(pg, &["import", first_dump.to_str().unwrap()]);
    assert_eq!(imported["imported"]["telemetry"], 20, "{imported}");
    assert_eq!(imported["imported"]["releases"], 1, "{imported}");
    assert_eq!(imported["imported"]["admin_tokens"], 1, "{imported}");
    assert_eq!(imported["imported"]["artifacts"], 1, "{imported}");
    common::ok(pg, &["export", "--out", second_dump.to_str().unwrap()]);
    let (a, b) = (
        std::fs::read_to_string(&first_dump).unwrap(),
        std::fs::read_to_string(&second_dump).unwrap(),
    );
    assert!(a.lines().count() > 40, "{a}");
    assert!(a == b, "the dumps differ:\n{a}\n---\n{b}");

    // A second import is refused: the database is no longer empty.
    let refused = common::fails(pg, &["import", first_dump.to_str().unwrap()]);
    assert!(refused.contains("not empty"), "{refused}");
    // Export never overwrites.
    let exists = common::fails(pg, &["export", "--out", second_dump.to_str().unwrap()]);
    assert!(exists.contains("already exists"), "{exists}");

    // Back into SQLite: the artifact becomes a file in its releases
    // directory again. A truncated dump leaves neither rows nor files.
    let sqlite_deployment = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let identity = root.path().join("identity.key");
        let config = format!("identity = {}\n", toml_string(identity.to_str().unwrap()));
        std::fs::write(dir.join("skyline.toml"), config).unwrap();
        dir
    };
    let cut = sqlite_deployment("sqlite-cut");
    let truncated = root.path().join("truncated.jsonl");
    let lines: Vec<&str> = b.lines().collect();
    std::fs::write(&truncated, lines[..lines.len() - 1].join("\n")).unwrap();
    let refused = common::fails(&cut, &["import", truncated.to_str().unwrap()]);
    assert!(refused.contains("end record"), "{refused}");
    assert!(!cut.join("releases").join(sha).exists());
    let back = sqlite_deployment("sqlite-again");
    common::ok(&back, &["import", second_dump.to_str().unwrap()]);
    assert!(std::fs::read(back.join("releases").join(sha)).unwrap() == bytes);
    let third_dump = root.path().join("from-sqlite-again.jsonl");
    common::ok(&back, &["export", "--out", third_dump.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&third_dump).unwrap() == a);

    // The moved deployment serves: the device goes on with its last login,
    // the locked one stays locked, toggles layer as before, and the release
    // downloads from the database.
    let node = Server::start(pg);
    let downloads = tempfile::tempdir().unwrap();
    assert!(download_latest(&node, downloads.path()).await == bytes);
    assert!(!pg.join("releases").exists());
    let tokens = common::json(pg, &["admin-token", "list"]);
    assert_eq!(tokens[0]["name"], "shop", "{tokens}");
    let mut client = node.connect().await;
    client
        .start_session(start_request(
            PRODUCT,
            &keys[0],
            "SN-1",
            Some(second.last_login_to_persist),
        ))
        .await
        .expect("the moved device starts a session");
    let toggles = client.get_feature_toggles().await.unwrap();
    assert_eq!(
        toggles.get("motd"),
        Some(&skyline_protocol::methods::ToggleValue::String(
            "hello".into()
        ))
    );
    client.close().await.unwrap();
    let mut client = node.connect().await;
    let locked = client
        .start_session(start_request(PRODUCT, &keys[1], "SN-9", None))
        .await;
    assert!(
        matches!(
            locked,
            Err(ClientError::Rpc(RpcError::IntegrityBreach { .. }))
        ),
        "{locked:?}"
    );
    assert!(node.terminate().success());
}
