//! Hole 1: telemetry cannot fill the disk: per-license quotas on events and
//! stored bytes, a bound on one event as stored, a bounded commit queue, a
//! low-disk watermark.

use super::*;

// --- Hole 1: telemetry cannot fill the disk -------------------------------

#[tokio::test]
async fn telemetry_over_a_license_quota_is_rate_limited_and_the_connection_kept() {
    let config = ServerConfig {
        telemetry: TelemetryLimits {
            events_per_hour: 3,
            ..TelemetryLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let keys = server.create_keys(MONTHLY, 2).await;
    let t = server.clock_now();
    let (mut client, _) = server.session_at(t, start_request(&keys[0], "SN-1")).await;
    for n in 0..3 {
        client
            .send_telemetry_event(event(&format!("e{n}"), None))
            .await
            .expect("within the quota");
    }
    let error = client
        .send_telemetry_event(event("over", None))
        .await
        .expect_err("over the quota");
    assert_eq!(rpc_status(&error), Some(Status::RateLimited), "{error:?}");
    // The connection stays open and usable.
    client
        .get_feature_toggles()
        .await
        .expect("still in session");
    // Another license has its own quota.
    let (mut other, _) = server.session_at(t, start_request(&keys[1], "SN-2")).await;
    other
        .send_telemetry_event(event("other", None))
        .await
        .expect("another license");
    assert_eq!(server.telemetry().await.len(), 4);
    assert_eq!(server.refusals.get(Limit::TelemetryEvents), 1);
}

#[tokio::test]
async fn telemetry_over_a_license_byte_quota_is_rate_limited() {
    let config = ServerConfig {
        telemetry: TelemetryLimits {
            bytes_per_hour: 2_000,
            ..TelemetryLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    let data = msgpack::map([("text", Value::from("x".repeat(800)))]);
    client
        .send_telemetry_event(event("big", Some(data.clone())))
        .await
        .expect("first");
    client
        .send_telemetry_event(event("big", Some(data.clone())))
        .await
        .expect("second");
    let error = client
        .send_telemetry_event(event("big", Some(data)))
        .await
        .expect_err("over the byte quota");
    assert_eq!(rpc_status(&error), Some(Status::RateLimited), "{error:?}");
    client
        .get_feature_toggles()
        .await
        .expect("still in session");
    assert_eq!(server.telemetry().await.len(), 2);
}

#[tokio::test]
async fn telemetry_that_expands_when_stored_is_bounded() {
    // 16,000 NUL characters: under 16 KiB of MessagePack (the protocol's bound
    // on `data`), ~96 KB of JSON.
    let config = ServerConfig {
        telemetry: TelemetryLimits {
            max_event_bytes: 32 * 1024,
            ..TelemetryLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    let nuls = msgpack::map([("blob", Value::from("\u{0}".repeat(16_000)))]);
    let error = client
        .send_telemetry_event(event("expanding", Some(nuls)))
        .await
        .expect_err("too large once stored");
    match &error {
        ClientError::Rpc(RpcError::BadRequest { message, .. }) => {
            assert!(message.contains("data"), "{message}")
        }
        other => panic!("expected BAD_REQUEST naming data, got {other:?}"),
    }
    // Nothing was stored, and the session goes on.
    assert!(server.telemetry().await.is_empty());
    let fits = msgpack::map([("blob", Value::from("a".repeat(16_000)))]);
    client
        .send_telemetry_event(event("fits", Some(fits)))
        .await
        .expect("an event that fits");
    let stored = server.telemetry().await;
    assert_eq!(stored.len(), 1);
    let size = stored[0]
        .data
        .as_ref()
        .map(|d| d.to_string().len())
        .unwrap_or(0);
    assert!(size <= 32 * 1024, "stored {size} bytes");
}

#[tokio::test]
async fn a_full_telemetry_queue_answers_rate_limited_at_once() {
    let config = ServerConfig {
        telemetry: TelemetryLimits {
            queue: 1,
            ..TelemetryLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let keys = server.create_keys(TEAM, 2).await;
    let t = server.clock_now();
    let (mut a, _) = server.session_at(t, start_request(&keys[0], "SN-1")).await;
    let (mut b, _) = server.session_at(t, start_request(&keys[1], "SN-2")).await;
    // Another process holds SQLite's write lock: the writer cannot commit,
    // so the first event admitted waits in the queue.
    let path = server
        .database_url()
        .trim_start_matches("sqlite://")
        .to_owned();
    let blocker = rusqlite::Connection::open(&path).expect("open the database");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let first = tokio::spawn(async move { a.send_telemetry_event(event("a", None)).await });
    let second = tokio::spawn(async move { b.send_telemetry_event(event("b", None)).await });
    // One of the two is refused at once, while the other still waits.
    refused(&server.refusals, Limit::TelemetryQueue, 1).await;
    blocker.execute_batch("COMMIT").expect("release the lock");
    let results = [
        guarded("first event", first).await.expect("task"),
        guarded("second event", second).await.expect("task"),
    ];
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(e) if rpc_status(e) == Some(Status::RateLimited)))
        .count();
    assert_eq!(limited, 1, "{results:?}");
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
}

#[tokio::test]
async fn telemetry_is_refused_below_the_disk_watermark_while_licensing_goes_on() {
    let dir = tempfile::tempdir().expect("a directory");
    let config = ServerConfig {
        telemetry: TelemetryLimits {
            // More free space than any disk has.
            min_free_disk_bytes: u64::MAX,
            disk_path: Some(dir.path().to_owned()),
            ..TelemetryLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, session) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    assert!(session.result.is_activated_now, "licensing goes on");
    let error = client
        .send_telemetry_event(event("e", None))
        .await
        .expect_err("disk low");
    assert_eq!(rpc_status(&error), Some(Status::RateLimited), "{error:?}");
    client
        .get_feature_toggles()
        .await
        .expect("still in session");
    assert!(server.telemetry().await.is_empty());
    assert_eq!(server.refusals.get(Limit::TelemetryDisk), 1);
}
