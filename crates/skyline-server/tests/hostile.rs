//! The hostile-client suite (issue 10): one test (or a few) per hole, each
//! driving the real server over loopback as an attacker would, and asserting
//! the closed behaviour. Limits are made small through the configuration;
//! deadlines are short, and the only waits are generous hang guards (no
//! test asserts how fast anything happens).
//!
//! | hole | tests |
//! | --- | --- |
//! | 1 telemetry fills the disk | `telemetry_*` |
//! | 2 slowloris on both listeners | `slow_headers_*`, `idle_keep_alive_*`, `oversized_heads_*`, `http_connections_*` |
//! | 3 slots taken without a license | `no_start_session_*`, `connections_per_address_*` |
//! | 4 slow readers | `a_client_that_never_reads_is_dropped` |
//! | 5 failed-key limit | `concurrent_wrong_keys_*`, `a_bound_device_is_never_locked_out_*` |
//! | 6 limits keyed by exact address | `handshake_limits_count_an_ipv6_64_as_one_address`, `the_handshake_budget_*` |
//! | 7 log and terminal injection | `control_characters_in_device_fields_*`, `peer_strings_in_logs_*` |
//! | 8 file modes | `crates/skyline/tests/hostile.rs`, and `the_database_file_is_private` |
//! | 9 secrets in `Debug` | `debug_of_requests_and_results_hides_secrets` |
//! | 10 frames per connection | `a_session_key_carries_a_bounded_number_of_frames` |

mod common;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use common::{identity, next_close, start_request, test_config, TestServer, MONTHLY, TEAM};
use skyline_client::{Client, ClientError, RpcError};
use skyline_protocol::methods::{TelemetryEvent, GET_FEATURE_TOGGLES, SEND_TELEMETRY_EVENT};
use skyline_protocol::{license_key, msgpack, CloseCode, Request, Status, Value};
use skyline_server::admin::AdminConfig;
use skyline_server::config::TelemetryLimits;
use skyline_server::limits::{HttpLimits, Limit, Refusals};
use skyline_server::{ServerConfig, Services};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for any healthy step on a loaded machine; only a hang
/// reaches it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A short deadline for the server to enforce.
const SHORT: Duration = Duration::from_millis(300);

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

/// Waits (under the hang guard) until `limit` has refused `at_least` times.
async fn refused(refusals: &Refusals, limit: Limit, at_least: u64) {
    guarded(limit.name(), async {
        while refusals.get(limit) < at_least {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Reads until the peer closes; the bytes read before.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn rpc_status(error: &ClientError) -> Option<Status> {
    match error {
        ClientError::Rpc(e) => Some(e.status()),
        _ => None,
    }
}

fn event(name: &str, data: Option<Value>) -> TelemetryEvent {
    TelemetryEvent {
        event: name.into(),
        data,
        event_id: None,
    }
}

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

// --- Hole 2: slowloris on the RPC and admin listeners ---------------------

fn tight_http() -> HttpLimits {
    HttpLimits {
        header_timeout: SHORT,
        keep_alive_timeout: SHORT,
        max_header_bytes: 4096,
        max_connections: 3,
    }
}

/// The admin API on its own listener over `server`'s store, with `http`.
async fn admin_listener(server: &TestServer, http: HttpLimits) -> (SocketAddr, Arc<Refusals>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let refusals = Arc::new(Refusals::default());
    let services = Services {
        identity: Arc::new(identity()),
        store: server.store.clone(),
        blobs: None,
        clock: Arc::new(server.clock.clone()),
        refusals: refusals.clone(),
    };
    let config = AdminConfig {
        http,
        ..AdminConfig::default()
    };
    tokio::spawn(skyline_server::admin::serve(
        listener,
        config,
        services,
        std::future::pending(),
    ));
    (addr, refusals)
}

/// The RPC listener and the admin listener of one server, both with
/// [`tight_http`], and their refusal counters.
async fn both_listeners() -> (TestServer, Vec<(SocketAddr, Arc<Refusals>)>) {
    let config = ServerConfig {
        http: tight_http(),
        ..test_config()
    };
    let server = TestServer::start(config).await;
    let admin = admin_listener(&server, tight_http()).await;
    let listeners = vec![(server.addr, server.refusals.clone()), admin];
    (server, listeners)
}

#[tokio::test]
async fn slow_headers_are_cut_off_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, refusals) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("half a request");
        let answer = guarded("a half-sent request is closed", read_to_close(&mut stream)).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        refused(&refusals, Limit::HttpHeaderTimeout, 1).await;
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, _) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("a request");
        // The answer (a 404 on the RPC listener, the document on the admin
        // one), then nothing: the idle connection is closed.
        let answer = guarded("an idle connection is closed", read_to_close(&mut stream)).await;
        assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
    }
}

#[tokio::test]
async fn oversized_heads_get_431_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, _) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
        for n in 0..200 {
            writeln!(request, "X-Filler-{n}: {}\r", "f".repeat(100)).expect("write");
        }
        request.extend_from_slice(b"\r\n");
        // The server may close before reading it all.
        let _ = stream.write_all(&request).await;
        let answer = guarded("an oversized head is answered", read_to_close(&mut stream)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

#[tokio::test]
async fn http_connections_are_capped_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, refusals) in listeners {
        // Three connections that send nothing hold the three places...
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.expect("connect"));
        }
        // ...so a fourth is closed at once (the kernel accepts it; the
        // server drops it), until the header deadline frees the places.
        let mut over = TcpStream::connect(addr).await.expect("connect");
        let answer = guarded("an extra connection is closed", read_to_close(&mut over)).await;
        assert!(answer.is_empty(), "{answer:?}");
        refused(&refusals, Limit::HttpConnections, 1).await;
        drop(held);
        // Once the places are free, a request is served again.
        let served = guarded("served again", async {
            loop {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let _ = stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await;
                let answer = read_to_close(&mut stream).await;
                if answer.starts_with(b"HTTP/1.1 ") {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(served.starts_with(b"HTTP/1.1 "));
    }
}

// --- Hole 3: slots taken without a license ---------------------------------

#[tokio::test]
async fn no_start_session_within_the_handshake_deadline_closes_1008() {
    let config = ServerConfig {
        handshake_timeout: SHORT,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    // The handshake is done; no start-session follows.
    let mut client = server.connect().await;
    let code = guarded("the silent session is closed", next_close(&mut client)).await;
    assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
    assert_eq!(server.refusals.get(Limit::StartSessionTimeout), 1);
}

/// Sends a WebSocket upgrade as if forwarded for `client` by a trusted
/// proxy on loopback; the response's status code, and the stream (kept
/// open while it is held).
async fn upgrade_as(addr: SocketAddr, client: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         X-Forwarded-For: {client}\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match guarded("upgrade answer", stream.read(&mut byte)).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, stream)
}

#[tokio::test]
async fn connections_per_address_are_capped_counting_an_ipv6_64_as_one() {
    let config = ServerConfig {
        max_connections_per_address: 2,
        handshake_timeout: HANG_GUARD,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    };
    let server = TestServer::start(config).await;
    // Two addresses of one /64 take its two places...
    let (first, _a) = upgrade_as(server.addr, "2001:db8:1:2::1").await;
    let (second, _b) = upgrade_as(server.addr, "2001:db8:1:2:ffff::9").await;
    assert_eq!((first, second), (101, 101));
    // ...so a third address of it is refused, while another /64 and
    // another IPv4 address are not.
    let (third, _) = upgrade_as(server.addr, "2001:db8:1:2:abcd::1").await;
    assert_eq!(third, 503);
    let (elsewhere, _c) = upgrade_as(server.addr, "2001:db8:1:3::1").await;
    assert_eq!(elsewhere, 101);
    let (v4, _d) = upgrade_as(server.addr, "192.0.2.1").await;
    assert_eq!(v4, 101);
    assert_eq!(server.refusals.get(Limit::ConnectionsPerAddress), 1);
    // A place comes back when its connection ends.
    drop(_a);
    let back = guarded("the place comes back", async {
        loop {
            let (status, stream) = upgrade_as(server.addr, "2001:db8:1:2::7").await;
            if status == 101 {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    drop(back);
}

// --- Hole 4: slow readers ---------------------------------------------------

#[tokio::test]
async fn a_client_that_never_reads_is_dropped() {
    let config = ServerConfig {
        write_timeout: SHORT,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    // Large answers fill the socket buffers sooner.
    server
        .set_toggle(
            skyline_server::domain::ToggleScope::Product,
            "banner",
            skyline_protocol::methods::ToggleValue::String("b".repeat(30_000)),
        )
        .await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    // Pipeline requests and never read an answer, until the connection
    // fails: the server stops reading while its send waits, then drops us.
    let ended = guarded("the slow reader is dropped", async {
        loop {
            if let Err(e) = client.send_request(GET_FEATURE_TOGGLES, Value::Nil).await {
                return e;
            }
        }
    })
    .await;
    assert!(
        !matches!(ended, ClientError::Rpc(_)),
        "the connection ended: {ended:?}"
    );
    refused(&server.refusals, Limit::WriteTimeout, 1).await;
}

// --- Hole 5: the failed-key limit -------------------------------------------

#[tokio::test]
async fn concurrent_wrong_keys_cannot_pass_the_limit_together() {
    let config = ServerConfig {
        failed_keys_per_minute: 3,
        ..test_config()
    };
    let server = Arc::new(TestServer::with_catalog(config).await);
    let t = server.clock_now();
    let attempts: Vec<_> = (0..12)
        .map(|n| {
            let server = server.clone();
            tokio::spawn(async move {
                let wrong = license_key::generate().unwrap();
                server
                    .refused_at(t, start_request(&wrong, &format!("SN-{n}")))
                    .await
            })
        })
        .collect();
    let mut invalid = 0;
    let mut limited = 0;
    for attempt in attempts {
        match guarded("a wrong key", attempt).await.expect("task") {
            RpcError::InvalidLicenseKey { .. } => invalid += 1,
            RpcError::RateLimited { .. } => limited += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((invalid, limited), (3, 9));
}

#[tokio::test]
async fn a_bound_device_is_never_locked_out_by_its_neighbours_wrong_keys() {
    let config = ServerConfig {
        failed_keys_per_minute: 2,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let keys = server.create_keys(TEAM, 2).await;
    let t = server.clock_now();
    // A device bound before the neighbour starts guessing.
    let (_, first) = server.session_at(t, start_request(&keys[0], "SN-OK")).await;
    for _ in 0..4 {
        let wrong = license_key::generate().unwrap();
        server.refused_at(t, start_request(&wrong, "SN-X")).await;
    }
    // The address is over its limit: the bound device still starts...
    let again = common::start_request_after(&keys[0], "SN-OK", first.last_login_to_persist);
    server.session_at(t + 60, again).await;
    // ...a new device on a valid key is refused for now, and binds nothing.
    let error = server
        .refused_at(t, start_request(&keys[1], "SN-NEW"))
        .await;
    assert!(matches!(error, RpcError::RateLimited { .. }), "{error:?}");
    assert!(server.license(&keys[1]).await.devices.is_empty());
    assert!(server.refusals.get(Limit::FailedKeys) >= 3);
}

// --- Hole 6: limits keyed by /64, the global handshake budget ---------------

#[tokio::test]
async fn handshake_limits_count_an_ipv6_64_as_one_address() {
    let config = ServerConfig {
        handshakes_per_second: 2,
        handshake_timeout: HANG_GUARD,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    };
    let server = TestServer::start(config).await;
    // Every upgrade from another address of one /64: they share a bucket,
    // so the limit is reached (a refill needs 500 ms without an upgrade).
    let mut held = Vec::new();
    let mut limited = false;
    for n in 1..=200 {
        let (status, stream) = upgrade_as(server.addr, &format!("2001:db8:5:6::{n:x}")).await;
        held.push(stream);
        if status == 429 {
            assert!(n > 2, "the first two pass");
            limited = true;
            break;
        }
        assert_eq!(status, 101);
    }
    assert!(limited, "addresses of one /64 share the limit");
    let (other, _) = upgrade_as(server.addr, "2001:db8:5:7::1").await;
    assert_eq!(other, 101, "another /64 is another client");
}

#[tokio::test]
async fn the_handshake_budget_sheds_new_handshakes_not_open_sessions() {
    let config = ServerConfig {
        handshake_budget_per_second: 3,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let (mut session, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    // A flood of handshakes (from any address): past the budget, 503.
    let mut open = Vec::new();
    let mut shed = false;
    for _ in 0..500 {
        match Client::connect(&server.url, server.pinned).await {
            Ok(client) => open.push(client),
            Err(ClientError::UpgradeRefused { status: 503 }) => {
                shed = true;
                break;
            }
            Err(other) => panic!("unexpected: {other:?}"),
        }
        session
            .get_feature_toggles()
            .await
            .expect("the open session is served");
    }
    assert!(shed, "the budget sheds handshakes");
    session
        .get_feature_toggles()
        .await
        .expect("the open session is still served");
    assert!(server.refusals.get(Limit::HandshakeBudget) >= 1);
}

// --- Hole 7: log and terminal injection ---------------------------------------

#[tokio::test]
async fn control_characters_in_device_fields_are_bad_requests_naming_the_field() {
    let server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    let mut request = start_request(&key, "SN-1");
    request.device_serial_number = "SN\u{1b}[2J\u{1b}[31mpwned".into();
    let error = server.refused_at(t, request).await;
    match &error {
        RpcError::BadRequest { message, .. } => {
            assert!(message.contains("deviceSerialNumber"), "{message}")
        }
        other => panic!("expected BAD_REQUEST, got {other:?}"),
    }
    let mut request = start_request(&key, "SN-1");
    request.cs_product_uuid = "UUID\nforged log line".into();
    match server.refused_at(t, request).await {
        RpcError::BadRequest { message, .. } => {
            assert!(message.contains("csProductUUID"), "{message}")
        }
        other => panic!("expected BAD_REQUEST, got {other:?}"),
    }
    assert!(server.license(&key).await.devices.is_empty());
}

/// Everything logged by this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static INSTALL: Once = Once::new();
    static LOGS: Mutex<Option<Arc<Mutex<Vec<u8>>>>> = Mutex::new(None);
    INSTALL.call_once(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        *LOGS.lock().unwrap() = Some(logs);
    });
    LOGS.lock().unwrap().clone().expect("installed")
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn peer_strings_in_logs_are_escaped_and_cut() {
    let logs = captured_logs();
    let server = TestServer::with_catalog(test_config()).await;
    let mut client = server.connect().await;
    // A first request whose method is 60,000 characters of terminal escapes
    // and forged log lines.
    let method = "\u{1b}]0;owned\u{7}\n2099-01-01 INFO forged\u{1b}[2J".repeat(1_500);
    let request = Request {
        q: 0,
        t: server.clock_now(),
        r: method,
        s: None,
        d: Value::Nil,
    };
    client.raw().send_request(&request).await.expect("send");
    let _ = guarded("answered", client.raw().recv()).await;
    let text = guarded("logged", async {
        loop {
            let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
            if text.contains("request refused") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(!text.contains('\u{1b}'), "a raw escape reached the log");
    assert!(!text.contains('\u{7}'));
    assert!(!text.contains("\n2099-01-01 INFO forged"));
    let line = text
        .lines()
        .find(|l| l.contains("request refused"))
        .expect("the refusal is logged");
    assert!(
        line.len() < 2_000,
        "the logged line is {} bytes",
        line.len()
    );
    assert!(line.contains("\\u{1b}"), "{line}");
}

// --- Hole 8: file modes (the rest is in crates/skyline/tests/hostile.rs) ---

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a directory");
    let data = dir.path().join("new-data-dir");
    let url = format!("sqlite://{}", data.join("db.sqlite").display());
    let store = skyline_server::store::open(&url, None)
        .await
        .expect("open the store");
    store.close().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("db.sqlite")), 0o600, "the database");
    for side in ["db.sqlite-wal", "db.sqlite-shm"] {
        let path = data.join(side);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{side}");
        }
    }
}

// --- Hole 9: secrets in Debug ---------------------------------------------

#[tokio::test]
async fn debug_of_requests_and_results_hides_secrets() {
    let server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let request = start_request(&key, "SN-1");
    let shown = format!("{request:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(shown.contains("SN-1"), "{shown}");
    // The request envelope as the server decodes it.
    let envelope = Request {
        q: 0,
        t: server.clock_now(),
        r: "start-session".into(),
        s: Some("0123abcd-4567ef89".into()),
        d: request.to_value(),
    };
    let decoded = Request::decode(&envelope.encode()).expect("a request");
    let shown = format!("{decoded:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(!shown.contains("0123abcd"), "{shown}");
    // A real session's result.
    let (client, session) = server.session_at(server.clock_now(), request).await;
    let token = session.result.session_token.clone();
    for shown in [
        format!("{:?}", session.result),
        format!("{session:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(&token), "{shown}");
    }
}

// --- Hole 10: frames per connection ---------------------------------------

#[tokio::test]
async fn a_session_key_carries_a_bounded_number_of_frames() {
    let config = ServerConfig {
        // start-session and two more requests, with their answers.
        max_frames_per_connection: 6,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    client.get_feature_toggles().await.expect("frames 3 and 4");
    client.get_feature_toggles().await.expect("frames 5 and 6");
    client
        .send_request(SEND_TELEMETRY_EVENT, event("e", None).to_value())
        .await
        .expect("sent");
    let code = guarded("closed past the cap", next_close(&mut client)).await;
    assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
    assert!(
        server.telemetry().await.is_empty(),
        "the request was not run"
    );
    assert_eq!(server.refusals.get(Limit::FramesPerConnection), 1);
}
