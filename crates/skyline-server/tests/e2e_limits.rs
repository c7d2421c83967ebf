//! PROTOCOL.md section 1 limits against the real server: failed license keys
//! per address (`RATE_LIMITED`), handshakes per address (HTTP 429 at the
//! upgrade), the connection cap (HTTP 503), the message size (close 1009) and
//! the idle timeout (close 1000). Timeouts are tiny and only close codes are
//! asserted; rate limits are chosen so that no refill can matter.

mod common;

use std::time::Duration;

use common::{next_close, start_request, test_config, TestServer, MONTHLY};
use skyline_client::{Client, ClientError, Incoming, RawSocket, RpcError};
use skyline_protocol::license_key;
use skyline_protocol::CloseCode;
use skyline_server::ServerConfig;

#[tokio::test]
async fn failed_keys_from_one_address_are_rate_limited() {
    // 3 per minute: a token comes back every 20 s, far longer than this test.
    let config = ServerConfig {
        failed_keys_per_minute: 3,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    for attempt in 0..3 {
        let wrong = license_key::generate().unwrap();
        let error = server.refused_at(t, start_request(&wrong, "SN-1")).await;
        assert!(
            matches!(error, RpcError::InvalidLicenseKey { .. }),
            "attempt {attempt}: {error:?}"
        );
    }
    // Over the limit: even the right key is refused for now, and the
    // connection ends as after any refused start-session.
    let error = server.refused_at(t, start_request(&key, "SN-1")).await;
    assert!(matches!(error, RpcError::RateLimited { .. }), "{error:?}");
    assert!(!error.message().is_empty());
    let error = server.refused_at(t, start_request(&key, "SN-1")).await;
    assert!(matches!(error, RpcError::RateLimited { .. }), "{error:?}");
    // Nothing was bound.
    assert!(server.license(&key).await.devices.is_empty());
}

#[tokio::test]
async fn successful_starts_do_not_count_as_failed_keys() {
    let config = ServerConfig {
        failed_keys_per_minute: 2,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let keys = server.create_keys(MONTHLY, 5).await;
    let t = server.clock_now();
    for (n, key) in keys.iter().enumerate() {
        server
            .session_at(t, start_request(key, &format!("SN-{n}")))
            .await;
    }
}

#[tokio::test]
async fn too_many_handshakes_from_one_address_get_http_429() {
    // 2 per second: the first two always pass; keep connecting until the
    // bucket is empty (a refill needs 500 ms without a single connection).
    let config = ServerConfig {
        handshakes_per_second: 2,
        ..test_config()
    };
    let server = TestServer::start(config).await;
    let mut open = Vec::new();
    let mut limited = None;
    for attempt in 0..200 {
        match Client::connect(&server.url, server.pinned).await {
            Ok(client) => open.push(client),
            Err(e) => {
                limited = Some((attempt, e));
                break;
            }
        }
    }
    let (attempt, error) = limited.expect("the limit is reached");
    assert!(attempt >= 2, "the first two handshakes pass");
    assert!(matches!(error, ClientError::RateLimited), "{error:?}");
    // The raw socket sees the same refusal.
    let mut raw_limited = false;
    for _ in 0..200 {
        match RawSocket::connect(&server.url).await {
            Ok(_) => {}
            Err(ClientError::RateLimited) => {
                raw_limited = true;
                break;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert!(raw_limited);
}

#[tokio::test]
async fn connections_over_the_cap_get_http_503() {
    let config = ServerConfig {
        max_connections: 2,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let mut first = server.connect().await;
    let _second = server.connect().await;
    let error = Client::connect(&server.url, server.pinned)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(error, ClientError::UpgradeRefused { status: 503 }),
        "{error:?}"
    );
    let error = RawSocket::connect(&server.url)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(error, ClientError::UpgradeRefused { status: 503 }),
        "{error:?}"
    );
    // The connections within the cap work.
    first
        .start_session(start_request(&key, "SN-1"))
        .await
        .expect("start-session");
    first.get_feature_toggles().await.expect("toggles");
}

#[tokio::test]
async fn an_oversized_message_closes_1009() {
    let config = ServerConfig {
        max_message_bytes: 4096,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;

    // In the handshake.
    let mut socket = RawSocket::connect(&server.url).await.expect("upgrade");
    socket.send_binary(vec![0x80; 5000]).await.expect("send");
    match socket.recv().await.expect("a close") {
        Incoming::Close { code, .. } => assert_eq!(code, Some(CloseCode::MESSAGE_TOO_BIG)),
        other => panic!("expected close 1009, got {other:?}"),
    }

    // In a session.
    let key = server.create_key(MONTHLY).await;
    let mut client = server.connect().await;
    client
        .start_session(start_request(&key, "SN-1"))
        .await
        .expect("start-session");
    client
        .raw()
        .send_binary(vec![0u8; 4097])
        .await
        .expect("send");
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    // A message at the limit is read (and, not being a sealed frame, closes 1002).
    let mut client = server.connect().await;
    client
        .raw()
        .send_binary(vec![0u8; 4096])
        .await
        .expect("send");
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::PROTOCOL_ERROR)
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_1000() {
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    // A session started, and no request follows: the server ends the
    // connection. (Before start-session, the handshake deadline applies:
    // see hostile.rs.)
    let mut client = server.connect().await;
    client
        .start_session(start_request(&key, "SN-1"))
        .await
        .expect("start-session");
    assert_eq!(next_close(&mut client).await, Some(CloseCode::NORMAL));
}
