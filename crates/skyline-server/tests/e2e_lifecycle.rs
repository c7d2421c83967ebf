//! The server's data over its life, end to end: bad input of every kind never
//! changes stored data; a restart on the same database keeps everything; a
//! shutdown closes open connections with 1001 and `run` returns.

mod common;

use common::{
    next_close, next_response, start_request, start_request_after, test_config, TestServer, MONTHLY,
};
use skyline_client::{Client, Incoming, RawSocket, TelemetryEvent};
use skyline_protocol::methods::{
    ToggleValue, GET_FEATURE_TOGGLES, SEND_TELEMETRY_EVENT, START_SESSION,
};
use skyline_protocol::{msgpack, CloseCode, Status, Value};
use skyline_server::domain::ToggleScope;
use skyline_server::ServerConfig;

/// The ways a peer can misbehave; each ends with the given close code, or
/// with the connection still open (`None`).
#[derive(Debug, Clone, Copy)]
enum BadInput {
    TamperedFrame,
    ShortFrame,
    NotARequest,
    SkippedQ,
    RepeatedQ,
    ReplayedFrame,
    WrongToken,
    MissingToken,
    OversizedFrame,
    TextFrame,
    BadTelemetryPayload,
    StartSessionAgain,
}

const MAX_MESSAGE: usize = 8 * 1024;

fn telemetry(n: i64) -> Value {
    msgpack::map([
        ("event", Value::from("app.navigation")),
        ("data", msgpack::map([("n", Value::from(n))])),
    ])
}

/// Does `bad` on a client with an open session; returns the close code the
/// server ended the connection with (after the response, if it sends one).
async fn misbehave(client: &mut Client, bad: BadInput) -> Option<CloseCode> {
    let token = client.raw().session_token().map(str::to_owned);
    let q = client.raw().next_q();
    let status = match bad {
        BadInput::TamperedFrame => {
            let request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(1));
            let mut frame = client.raw().session().seal(&request.encode()).unwrap();
            let last = frame.len() - 1;
            frame[last] ^= 0x80;
            client.raw().send_binary(frame).await.unwrap();
            None
        }
        BadInput::ShortFrame => {
            client.raw().send_binary(vec![0; 27]).await.unwrap();
            None
        }
        BadInput::NotARequest => {
            client
                .raw()
                .send_sealed(&msgpack::encode(&telemetry(2)))
                .await
                .unwrap();
            Some(Status::BadRequest)
        }
        BadInput::SkippedQ => {
            let mut request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(3));
            request.q = q + 1;
            client.raw().send_request(&request).await.unwrap();
            Some(Status::IntegrityBreach)
        }
        BadInput::RepeatedQ => {
            let mut request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(4));
            request.q = q - 1;
            client.raw().send_request(&request).await.unwrap();
            Some(Status::IntegrityBreach)
        }
        BadInput::ReplayedFrame => {
            // A good frame goes through once; the very same bytes again are
            // a repeated q.
            let request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(5));
            let frame = client.raw().session().seal(&request.encode()).unwrap();
            client.raw().send_binary(frame.clone()).await.unwrap();
            let first = next_response(client).await;
            assert_eq!(first.status, Status::Ok);
            return misbehave_replay(client, frame).await;
        }
        BadInput::WrongToken => {
            let mut request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(6));
            request.s = Some("00000000-00000000".into());
            assert_ne!(request.s, token);
            client.raw().send_request(&request).await.unwrap();
            Some(Status::InvalidSession)
        }
        BadInput::MissingToken => {
            let mut request = client.raw().request(SEND_TELEMETRY_EVENT, telemetry(7));
            request.s = None;
            client.raw().send_request(&request).await.unwrap();
            Some(Status::InvalidSession)
        }
        BadInput::OversizedFrame => {
            client
                .raw()
                .send_binary(vec![0x42; MAX_MESSAGE + 1])
                .await
                .unwrap();
            None
        }
        BadInput::TextFrame => {
            client.raw().send_text("{\"r\":\"x\"}").await.unwrap();
            None
        }
        BadInput::BadTelemetryPayload => {
            let event = msgpack::map([("event", Value::from("app navigation"))]);
            let request = client.raw().request(SEND_TELEMETRY_EVENT, event);
            client.raw().send_request(&request).await.unwrap();
            let response = next_response(client).await;
            assert_eq!(response.status, Status::BadRequest);
            return None;
        }
        BadInput::StartSessionAgain => {
            let mut request = client.raw().request(
                START_SESSION,
                start_request("BBBBB-BBBBB-BBBBB-BBBBB-BBBBB", "SN-OTHER").to_value(),
            );
            request.s = token;
            client.raw().send_request(&request).await.unwrap();
            let response = next_response(client).await;
            assert_eq!(response.status, Status::BadRequest);
            return None;
        }
    };
    if let Some(status) = status {
        let response = next_response(client).await;
        assert_eq!(response.status, status, "{bad:?}");
    }
    next_close(client).await
}

async fn misbehave_replay(client: &mut Client, frame: Vec<u8>) -> Option<CloseCode> {
    client.raw().send_binary(frame).await.unwrap();
    let response = next_response(client).await;
    assert_eq!(response.status, Status::IntegrityBreach);
    next_close(client).await
}

#[tokio::test]
async fn bad_input_never_changes_stored_data() {
    let config = ServerConfig {
        max_message_bytes: MAX_MESSAGE,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    server
        .set_toggle(
            ToggleScope::Product,
            "ui.theme",
            ToggleValue::String("x".into()),
        )
        .await;
    let t = server.clock_now();
    let cases = [
        (BadInput::TamperedFrame, Some(CloseCode::PROTOCOL_ERROR)),
        (BadInput::ShortFrame, Some(CloseCode::PROTOCOL_ERROR)),
        (BadInput::NotARequest, Some(CloseCode::INVALID_PAYLOAD)),
        (BadInput::SkippedQ, Some(CloseCode::POLICY_VIOLATION)),
        (BadInput::RepeatedQ, Some(CloseCode::POLICY_VIOLATION)),
        (BadInput::ReplayedFrame, Some(CloseCode::POLICY_VIOLATION)),
        (BadInput::WrongToken, Some(CloseCode::POLICY_VIOLATION)),
        (BadInput::MissingToken, Some(CloseCode::POLICY_VIOLATION)),
        (BadInput::OversizedFrame, Some(CloseCode::MESSAGE_TOO_BIG)),
        (BadInput::TextFrame, Some(CloseCode::UNSUPPORTED_DATA)),
        (BadInput::BadTelemetryPayload, None),
        (BadInput::StartSessionAgain, None),
    ];
    for (n, (bad, close)) in cases.into_iter().enumerate() {
        let key = server.create_key(MONTHLY).await;
        let (mut client, _) = server
            .session_at(t, start_request(&key, &format!("SN-{n}")))
            .await;
        // One good event first, so telemetry is not trivially empty.
        client
            .send_telemetry_event(TelemetryEvent {
                event: "app.started".into(),
                data: None,
                event_id: None,
            })
            .await
            .unwrap();
        let before = server.snapshot().await;
        let closed = misbehave(&mut client, bad).await;
        let closed = if close.is_none() {
            assert_eq!(closed, None, "{bad:?}");
            // Still open: end it cleanly, then look.
            client.raw().close(CloseCode::NORMAL, "").await.unwrap();
            None
        } else {
            closed
        };
        assert_eq!(closed, close, "{bad:?}");
        let after = server.snapshot().await;
        if matches!(bad, BadInput::ReplayedFrame) {
            // The first copy was a good request and was stored; only it.
            assert_eq!(after.telemetry.len(), before.telemetry.len() + 1);
            assert_eq!(after.licenses, before.licenses);
            assert_eq!(after.toggles, before.toggles);
            assert_eq!(after.audit_entries, before.audit_entries);
        } else {
            assert_eq!(after, before, "{bad:?} changed stored data");
        }
    }
}

#[tokio::test]
async fn bad_input_before_a_session_binds_nothing() {
    let config = ServerConfig {
        max_message_bytes: MAX_MESSAGE,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let key = server.create_key(MONTHLY).await;
    let before = server.snapshot().await;
    let start = start_request(&key, "SN-1").to_value();

    // A sealed start-session with one flipped bit.
    let mut client = server.connect().await;
    let request = client.raw().request(START_SESSION, start.clone());
    let mut frame = client.raw().session().seal(&request.encode()).unwrap();
    frame[20] ^= 1;
    client.raw().send_binary(frame).await.unwrap();
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::PROTOCOL_ERROR)
    );

    // A start-session at q = 1.
    let mut client = server.connect().await;
    let mut request = client.raw().request(START_SESSION, start.clone());
    request.q = 1;
    client.raw().send_request(&request).await.unwrap();
    assert_eq!(
        next_response(&mut client).await.status,
        Status::IntegrityBreach
    );
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::POLICY_VIOLATION)
    );

    // Another method first.
    let mut client = server.connect().await;
    let request = client.raw().request(GET_FEATURE_TOGGLES, start.clone());
    client.raw().send_request(&request).await.unwrap();
    assert_eq!(
        next_response(&mut client).await.status,
        Status::SessionRequired
    );
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::POLICY_VIOLATION)
    );

    // A start-session payload that is too big for the server.
    let mut client = server.connect().await;
    let mut big = start_request(&key, "SN-1");
    big.cs_product_uuid = "U".repeat(MAX_MESSAGE);
    let request = client.raw().request(START_SESSION, big.to_value());
    client.raw().send_request(&request).await.unwrap();
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    // A text frame instead of the request.
    let mut client = server.connect().await;
    client.raw().send_text("start-session").await.unwrap();
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::UNSUPPORTED_DATA)
    );

    assert_eq!(server.snapshot().await, before);
}

#[tokio::test]
async fn a_restart_on_the_same_database_keeps_everything() {
    let server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    server
        .set_toggle(
            ToggleScope::Product,
            "engine.limits.sendMessage.dailyLimit",
            ToggleValue::Int(150),
        )
        .await;
    let t1 = server.clock_now();
    let (mut client, first) = server.session_at(t1, start_request(&key, "SN-1")).await;
    assert!(first.result.is_activated_now);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.started".into(),
            data: None,
            event_id: None,
        })
        .await
        .unwrap();
    let before = server.snapshot().await;
    // The app goes away (else the server would wait for its close reply).
    drop(client);

    // The server goes down and comes back a day later on the same file.
    let server = server.restart().await;
    server.clock.advance(common::DAY);
    assert_eq!(server.snapshot().await, before);

    // The app presents the last login it persisted.
    let t2 = server.clock_now();
    let (mut client, again) = server
        .session_at(
            t2,
            start_request_after(&key, "SN-1", first.last_login_to_persist),
        )
        .await;
    assert!(!again.result.is_activated_now);
    assert_eq!(again.result.activation_date, first.result.activation_date);
    assert_eq!(again.result.expiry_date, first.result.expiry_date);
    assert_ne!(again.result.session_token, first.result.session_token);
    let toggles = client.get_feature_toggles().await.unwrap();
    assert_eq!(
        toggles.get("engine.limits.sendMessage.dailyLimit"),
        Some(&ToggleValue::Int(150))
    );
    // Another device still cannot take the seat.
    let error = server.refused_at(t2, start_request(&key, "SN-2")).await;
    assert!(
        error.message().contains("October 25, 2024"),
        "{}",
        error.message()
    );
    assert_eq!(server.telemetry().await.len(), 1);
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001_and_run_returns() {
    let mut server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let (mut in_session, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    let mut handshaken = server.connect().await;
    let mut before_hello = RawSocket::connect(&server.url).await.expect("upgrade");

    server.signal_shutdown();
    assert_eq!(
        next_close(&mut in_session).await,
        Some(CloseCode::GOING_AWAY)
    );
    assert_eq!(
        next_close(&mut handshaken).await,
        Some(CloseCode::GOING_AWAY)
    );
    match before_hello.recv().await.expect("a close") {
        Incoming::Close { code, .. } => assert_eq!(code, Some(CloseCode::GOING_AWAY)),
        other => panic!("expected close 1001, got {other:?}"),
    }
    server.join().await.expect("run returns Ok");
}

#[tokio::test]
async fn shutdown_with_no_connections_returns_at_once() {
    let mut server = TestServer::start(test_config()).await;
    server.stop().await.expect("run returns Ok");
}
