//! `skyline serve` as a process: an acknowledged telemetry event survives a
//! `kill -9` mid-burst, a restart keeps every license and device, and SIGTERM
//! closes open connections with 1001 and exits 0.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{start_request, Server};
use skyline_client::{Client, ClientError, Incoming, TelemetryEvent};
use skyline_protocol::{msgpack, CloseCode, Value};
use tokio::sync::mpsc;

const PRODUCT: &str = "telepower";
const TEAM: &str = "telepower.licensePlan.team";

/// Connections sending telemetry at once.
const SENDERS: usize = 4;
/// Acknowledged events after which the server is killed.
const KILL_AFTER: usize = 60;
/// Upper bound on events per sender, so a server that never dies cannot
/// make the test spin forever.
const MAX_PER_SENDER: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_telemetry_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let keys = common::catalogue(&d, PRODUCT, TEAM, 8, 1);
    let key = Arc::new(keys[0].clone());
    let mut server = Server::start(&d);

    // Every sender opens its own session, then sends events one at a time
    // and reports each acknowledged one.
    let (acks, mut acknowledged) = mpsc::unbounded_channel::<(usize, i64)>();
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let mut client = server.connect().await;
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
                    event: format!("burst.sender{sender}"),
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
                    // The server is gone: what was acknowledged is all that counts.
                    Err(_) => return,
                }
            }
        }));
    }
    drop(acks);

    // Collect acknowledgements; kill the server mid-burst.
    let mut acked = HashSet::new();
    while let Some(ack) = acknowledged.recv().await {
        acked.insert(ack);
        if acked.len() == KILL_AFTER {
            server.kill_9();
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(
        acked.len() >= KILL_AFTER,
        "the burst was acknowledged before the kill"
    );
    assert!(
        (acked.len() as i64) < SENDERS as i64 * MAX_PER_SENDER,
        "the kill interrupted the burst"
    );

    // Restart on the same data directory: the server comes up, and every
    // acknowledged event is in the export.
    let restarted = Server::start(&d);
    let stored: HashSet<(usize, i64)> = common::exported_telemetry(&d, PRODUCT)
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
        "{} acknowledged events lost after kill -9: {lost:?}",
        lost.len()
    );

    // The restarted server works: a new device starts a session.
    let mut client = restarted.connect().await;
    client
        .start_session(start_request(PRODUCT, &key, "SN-AFTER", None))
        .await
        .expect("start-session after the restart");
    client.close().await.unwrap();
    assert!(restarted.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_licenses_devices_and_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let keys = common::catalogue(&d, PRODUCT, TEAM, 1, 1);
    let key = keys[0].as_str();

    let server = Server::start(&d);
    let first_identity = server.pinned;
    let mut client = server.connect().await;
    let first = client
        .start_session(start_request(PRODUCT, key, "SN-1", None))
        .await
        .expect("start-session");
    assert!(first.result.is_activated_now);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.started".into(),
            data: None,
            event_id: None,
        })
        .await
        .unwrap();
    client.close().await.unwrap();
    assert!(server.terminate().success());

    let server = Server::start(&d);
    assert_eq!(server.pinned, first_identity, "the identity key persisted");
    let mut client = server.connect().await;
    let again = client
        .start_session(start_request(
            PRODUCT,
            key,
            "SN-1",
            Some(first.last_login_to_persist),
        ))
        .await
        .expect("the same device with its persisted last login");
    assert!(!again.result.is_activated_now);
    assert_eq!(again.result.activation_date, first.result.activation_date);
    assert_eq!(again.result.expiry_date, first.result.expiry_date);
    client.close().await.unwrap();

    // The seat is still taken by SN-1.
    let mut other = server.connect().await;
    match other
        .start_session(start_request(PRODUCT, key, "SN-2", None))
        .await
    {
        Err(ClientError::Rpc(e)) => {
            assert_eq!(
                e.status(),
                skyline_protocol::Status::KeyBoundToAnotherDevice
            )
        }
        other => panic!("expected KEY_BOUND_TO_ANOTHER_DEVICE, got {other:?}"),
    }
    assert_eq!(common::exported_telemetry(&d, PRODUCT).len(), 1);
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_connections_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let keys = common::catalogue(&d, PRODUCT, TEAM, 1, 1);
    let mut server = Server::start(&d);
    let mut client: Client = server.connect().await;
    client
        .start_session(start_request(PRODUCT, &keys[0], "SN-1", None))
        .await
        .expect("start-session");

    server.send_sigterm();
    match client.raw().recv().await.expect("a close frame") {
        Incoming::Close { code, .. } => assert_eq!(code, Some(CloseCode::GOING_AWAY)),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let status = server.wait();
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        server.stderr()
    );
}

#[test]
fn sigterm_on_an_idle_server_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
}
