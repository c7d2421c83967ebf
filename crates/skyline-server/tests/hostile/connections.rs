//! Holes 3, 4, 6 and 10: slots taken without a license, slow readers,
//! limits keyed by /64 and the server-wide handshake budget, frames per
//! session key.

use super::*;

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
