//! PROTOCOL.md sections 4 and 5 against the real server: frames that cannot
//! be opened (close 1002, no reply), the envelope check (`BAD_REQUEST`, 1007),
//! the first-request and sequence rules (`SESSION_REQUIRED`, `INTEGRITY_BREACH`
//! `SQ`, 1008), the session token (`INVALID_SESSION`, 1008), and what keeps a
//! connection open (`start-session` again, unknown methods, payload errors).

mod common;

use common::{next_close, next_response, start_request, TestServer, MONTHLY};
use skyline_client::{Client, ClientError, Incoming, RpcError};
use skyline_protocol::methods::{GET_FEATURE_TOGGLES, START_SESSION};
use skyline_protocol::msgpack;
use skyline_protocol::{CloseCode, IntegrityCode, Request, Status, Value};

/// A server with the catalogue and one monthly key.
async fn fixture() -> (TestServer, String) {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    (server, key)
}

/// A connected client with an open session, on a key of its own (so that
/// every call is a device's first start).
async fn in_session(server: &TestServer) -> Client {
    let key = server.create_key(MONTHLY).await;
    let mut client = server.connect().await;
    client
        .start_session(start_request(&key, "SN-RULES"))
        .await
        .expect("start-session OK");
    client
}

/// Seals `plaintext` as is and sends it.
async fn send_plaintext(client: &mut Client, plaintext: &[u8]) {
    client
        .raw()
        .send_sealed(plaintext)
        .await
        .expect("send a sealed frame");
}

async fn send(client: &mut Client, request: &Request) {
    client
        .raw()
        .send_request(request)
        .await
        .expect("send a request");
}

// --- Section 4: frames --------------------------------------------------------

#[tokio::test]
async fn a_tampered_frame_closes_1002_without_a_reply() {
    let (server, key) = fixture().await;
    for established in [false, true] {
        let mut client = if established {
            in_session(&server).await
        } else {
            server.connect().await
        };
        let request = client
            .raw()
            .request(START_SESSION, start_request(&key, "SN-X").to_value());
        let mut frame = client
            .raw()
            .session()
            .seal(&request.encode())
            .expect("seal");
        let middle = frame.len() / 2;
        frame[middle] ^= 0x01;
        client.raw().send_binary(frame).await.expect("send");
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::PROTOCOL_ERROR),
            "tampered frame (session open: {established})"
        );
    }
}

#[tokio::test]
async fn frames_shorter_than_28_bytes_close_1002_without_a_reply() {
    let (server, _) = fixture().await;
    for len in [0usize, 1, 12, 27] {
        let mut client = server.connect().await;
        client
            .raw()
            .send_binary(vec![0xab; len])
            .await
            .expect("send");
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::PROTOCOL_ERROR),
            "{len}-byte frame"
        );
    }
    // After a session too.
    let mut client = in_session(&server).await;
    client.raw().send_binary(vec![0; 27]).await.expect("send");
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::PROTOCOL_ERROR)
    );
}

#[tokio::test]
async fn a_frame_sealed_under_another_session_closes_1002() {
    let (server, _key) = fixture().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let request = a.raw().request(START_SESSION, Value::Nil);
    let foreign = b
        .raw()
        .session()
        .seal(&request.encode())
        .expect("seal under b");
    a.raw().send_binary(foreign).await.expect("send");
    assert_eq!(next_close(&mut a).await, Some(CloseCode::PROTOCOL_ERROR));
}

// --- Section 5: the first request -----------------------------------------------

#[tokio::test]
async fn another_method_first_is_session_required_then_1008() {
    let (server, _key) = fixture().await;
    let mut client = server.connect().await;
    let request = client.raw().request(GET_FEATURE_TOGGLES, Value::Nil);
    assert_eq!((request.q, request.s.clone()), (0, None));
    send(&mut client, &request).await;
    let response = next_response(&mut client).await;
    assert_eq!(response.status, Status::SessionRequired);
    assert_eq!(response.q, Some(0));
    assert!(response.e.is_some());
    assert_eq!(response.result, Value::Nil);
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::POLICY_VIOLATION)
    );
}

#[tokio::test]
async fn start_session_at_q1_first_is_an_sq_integrity_breach_then_1008() {
    let (server, key) = fixture().await;
    for method in [START_SESSION, GET_FEATURE_TOGGLES] {
        let mut client = server.connect().await;
        let mut request = client
            .raw()
            .request(method, start_request(&key, "SN-Q1").to_value());
        request.q = 1;
        send(&mut client, &request).await;
        let response = next_response(&mut client).await;
        assert_eq!(response.status, Status::IntegrityBreach, "{method}");
        assert_eq!(response.q, Some(1));
        let message = response.e.expect("a message");
        assert_eq!(
            IntegrityCode::find_in(&message),
            Some(IntegrityCode::Sequence),
            "{message}"
        );
        assert!(message.contains("SQ"), "{message}");
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::POLICY_VIOLATION)
        );
    }
    // Nothing was bound by the refused requests.
    assert!(server.license(&key).await.devices.is_empty());
}

// --- Section 5, rule 3: the envelope ---------------------------------------------

/// Sends `plaintext` as the first request of a fresh connection (or after a
/// session); expects `BAD_REQUEST` with `q` and then close 1007.
async fn assert_bad_envelope(client: &mut Client, what: &str, plaintext: &[u8], q: Option<u64>) {
    send_plaintext(client, plaintext).await;
    let response = next_response(client).await;
    assert_eq!(response.status, Status::BadRequest, "{what}");
    assert_eq!(response.q, q, "{what}: q");
    assert!(response.e.is_some(), "{what}: a message");
    assert_eq!(response.result, Value::Nil, "{what}");
    assert_eq!(
        next_close(client).await,
        Some(CloseCode::INVALID_PAYLOAD),
        "{what}"
    );
}

fn envelope(entries: Vec<(&str, Value)>) -> Vec<u8> {
    msgpack::encode(&Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    ))
}

#[tokio::test]
async fn a_plaintext_that_is_not_a_request_is_bad_request_then_1007() {
    let (server, key) = fixture().await;
    let start = start_request(&key, "SN-ENV").to_value();
    let cases: Vec<(&str, Vec<u8>, Option<u64>)> = vec![
        ("an integer", msgpack::encode(&Value::from(1)), None),
        ("not MessagePack", vec![0xc1], None),
        ("an empty plaintext", Vec::new(), None),
        (
            "an array",
            msgpack::encode(&Value::Array(vec![Value::from(0)])),
            None,
        ),
        (
            "no t",
            envelope(vec![
                ("q", Value::from(0)),
                ("r", Value::from(START_SESSION)),
                ("d", start.clone()),
            ]),
            Some(0),
        ),
        (
            "t is a string",
            envelope(vec![
                ("q", Value::from(0)),
                ("t", Value::from("now")),
                ("r", Value::from(START_SESSION)),
                ("d", start.clone()),
            ]),
            Some(0),
        ),
        (
            "no r",
            envelope(vec![
                ("q", Value::from(0)),
                ("t", Value::from(1_700_000_000)),
                ("d", start.clone()),
            ]),
            Some(0),
        ),
        (
            "r is an integer",
            envelope(vec![
                ("q", Value::from(0)),
                ("t", Value::from(1_700_000_000)),
                ("r", Value::from(5)),
            ]),
            Some(0),
        ),
        (
            "q is a string",
            envelope(vec![
                ("q", Value::from("0")),
                ("t", Value::from(1_700_000_000)),
                ("r", Value::from(START_SESSION)),
                ("d", start.clone()),
            ]),
            None,
        ),
        (
            "q is negative",
            envelope(vec![
                ("q", Value::from(-1)),
                ("t", Value::from(1_700_000_000)),
                ("r", Value::from(START_SESSION)),
            ]),
            None,
        ),
        (
            "no q",
            envelope(vec![
                ("t", Value::from(1_700_000_000)),
                ("r", Value::from(START_SESSION)),
            ]),
            None,
        ),
        (
            // Rule 3 comes before rule 2: a wrong q does not make it SQ.
            "no t, and q is not 0",
            envelope(vec![
                ("q", Value::from(5)),
                ("r", Value::from(START_SESSION)),
            ]),
            Some(5),
        ),
    ];
    for (what, plaintext, q) in cases {
        let mut client = server.connect().await;
        assert_bad_envelope(&mut client, what, &plaintext, q).await;
    }

    // After a session: the readable q is echoed, the connection ends.
    let mut client = in_session(&server).await;
    let token = client.raw().session_token().unwrap().to_owned();
    let missing_t = envelope(vec![
        ("q", Value::from(1)),
        ("r", Value::from(GET_FEATURE_TOGGLES)),
        ("s", Value::from(token.as_str())),
    ]);
    assert_bad_envelope(&mut client, "no t after a session", &missing_t, Some(1)).await;
    let mut client = in_session(&server).await;
    assert_bad_envelope(&mut client, "a string after a session", b"\xa3abc", None).await;
}

// --- Section 5, rules 2 and 4: sequence and token ---------------------------------

#[tokio::test]
async fn a_skipped_or_repeated_q_is_an_sq_integrity_breach_then_1008() {
    let (server, _) = fixture().await;
    // (requests that go through first, then the q of the bad one)
    for (ok_before, bad_q) in [(0u64, 2u64), (0, 0), (1, 1), (2, 1), (0, u64::MAX)] {
        let mut client = in_session(&server).await;
        for _ in 0..ok_before {
            client.get_feature_toggles().await.expect("a good request");
        }
        let mut request = client.raw().request(GET_FEATURE_TOGGLES, Value::Nil);
        request.q = bad_q;
        send(&mut client, &request).await;
        let response = next_response(&mut client).await;
        let what = format!("q = {bad_q} after q = {ok_before}");
        assert_eq!(response.status, Status::IntegrityBreach, "{what}");
        assert_eq!(response.q, Some(bad_q), "{what}");
        let message = response.e.expect("a message");
        assert_eq!(
            IntegrityCode::find_in(&message),
            Some(IntegrityCode::Sequence),
            "{what}: {message}"
        );
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::POLICY_VIOLATION),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_invalid_session_then_1008() {
    let (server, _) = fixture().await;
    let wrong = |token: &str| -> Option<Value> {
        // Flip the last hex digit.
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.last_mut().unwrap();
        *last = if *last == '0' { '1' } else { '0' };
        Some(Value::from(chars.into_iter().collect::<String>()))
    };
    type Tamper = Box<dyn Fn(&str) -> Option<Value>>;
    let cases: Vec<(&str, Tamper)> = vec![
        ("a wrong token", Box::new(wrong)),
        ("no token", Box::new(|_: &str| None)),
        ("a nil token", Box::new(|_: &str| Some(Value::Nil))),
        ("an integer token", Box::new(|_: &str| Some(Value::from(7)))),
        (
            "the token with a suffix",
            Box::new(|t: &str| Some(Value::from(format!("{t}0")))),
        ),
    ];
    for (what, tamper) in cases {
        let mut client = in_session(&server).await;
        let token = client.raw().session_token().unwrap().to_owned();
        let mut entries = vec![
            ("q", Value::from(1)),
            ("t", Value::from(1_700_000_000)),
            ("r", Value::from(GET_FEATURE_TOGGLES)),
        ];
        if let Some(s) = tamper(&token) {
            entries.push(("s", s));
        }
        send_plaintext(&mut client, &envelope(entries)).await;
        let response = next_response(&mut client).await;
        assert_eq!(response.status, Status::InvalidSession, "{what}");
        assert_eq!(response.q, Some(1), "{what}");
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::POLICY_VIOLATION),
            "{what}"
        );
    }
}

// --- Section 5, rules 6 to 9: what keeps the connection open ---------------------

#[tokio::test]
async fn start_session_again_is_bad_request_and_the_connection_stays_open() {
    let (server, key) = fixture().await;
    let mut client = in_session(&server).await;
    let token = client.raw().session_token().unwrap().to_owned();
    let mut request = client
        .raw()
        .request(START_SESSION, start_request(&key, "SN-RULES").to_value());
    request.q = 1;
    request.s = Some(token);
    send(&mut client, &request).await;
    let response = next_response(&mut client).await;
    assert_eq!(response.status, Status::BadRequest);
    assert_eq!(response.q, Some(1));
    // Still open: the next request (q = 2) works.
    client.raw().set_next_q(2);
    client
        .get_feature_toggles()
        .await
        .expect("the connection is still open");
}

#[tokio::test]
async fn an_unknown_method_is_unknown_method_and_the_connection_stays_open() {
    let (server, _) = fixture().await;
    let mut client = in_session(&server).await;
    match client.call("get-news", Value::Nil).await {
        Err(ClientError::Rpc(RpcError::UnknownMethod { message })) => {
            assert!(message.contains("get-news"), "{message}")
        }
        other => panic!("expected UNKNOWN_METHOD, got {other:?}"),
    }
    client
        .get_feature_toggles()
        .await
        .expect("the connection is still open");
}

fn bad_request_message(result: Result<Value, ClientError>) -> String {
    match result {
        Err(ClientError::Rpc(RpcError::BadRequest { message })) => message,
        other => panic!("expected BAD_REQUEST, got {other:?}"),
    }
}

#[tokio::test]
async fn payload_errors_name_the_field_and_keep_the_connection_open() {
    let (server, _) = fixture().await;
    let mut client = in_session(&server).await;

    let message = bad_request_message(client.call(GET_FEATURE_TOGGLES, Value::from(5)).await);
    assert!(message.contains("`d`"), "{message}");

    let message = bad_request_message(
        client
            .call("send-telemetry-event", Value::from("app.navigation"))
            .await,
    );
    assert!(message.contains("`d`"), "{message}");

    let event = msgpack::map([
        ("event", Value::from("app navigation")),
        ("data", Value::Nil),
    ]);
    let message = bad_request_message(client.call("send-telemetry-event", event).await);
    assert!(message.contains("`event`"), "{message}");

    let event = msgpack::map([("event", Value::from("app.navigation")), ("data", 3.into())]);
    let message = bad_request_message(client.call("send-telemetry-event", event).await);
    assert!(message.contains("`data`"), "{message}");

    let message = bad_request_message(client.call("send-telemetry-event", Value::Nil).await);
    assert!(message.contains("`d`"), "{message}");

    let message = bad_request_message(
        client
            .call(GET_FEATURE_TOGGLES, Value::Binary(vec![0x01]))
            .await,
    );
    assert!(message.contains("`d`"), "{message}");

    // None of these closed the connection.
    client
        .get_feature_toggles()
        .await
        .expect("the connection is still open");
    assert!(server.telemetry().await.is_empty());
}

#[tokio::test]
async fn a_start_session_payload_error_names_the_field_and_closes_1000() {
    let (server, key) = fixture().await;
    let with = |field: &str, value: Value| {
        let mut d = start_request(&key, "SN-PAYLOAD").to_value();
        if let Value::Map(entries) = &mut d {
            match entries.iter_mut().find(|(k, _)| k.as_str() == Some(field)) {
                Some(entry) => entry.1 = value,
                None => entries.push((Value::from(field), value)),
            }
        }
        d
    };
    let cases = vec![
        ("language", with("language", Value::from(7))),
        ("licenseKey", with("licenseKey", Value::Nil)),
        ("productId", with("productId", Value::from(true))),
        ("deviceSerialNumber", with("deviceSerialNumber", "".into())),
        (
            "lastLoginReportedByClient",
            with("lastLoginReportedByClient", "yesterday".into()),
        ),
        ("d", Value::from("start")),
        ("d", Value::Nil),
    ];
    for (field, payload) in cases {
        let mut client = server.connect().await;
        let message = bad_request_message(client.call(START_SESSION, payload).await);
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
        assert_eq!(
            next_close(&mut client).await,
            Some(CloseCode::NORMAL),
            "{field}: a non-OK start-session closes with 1000"
        );
    }
    assert!(server.license(&key).await.devices.is_empty());
}

#[tokio::test]
async fn a_mistyped_language_is_reported_in_english() {
    let (server, key) = fixture().await;
    let mut d = start_request(&key, "SN-LANG").to_value();
    if let Value::Map(entries) = &mut d {
        for (k, v) in entries.iter_mut() {
            if k.as_str() == Some("language") {
                *v = Value::Array(vec![Value::from("ru")]);
            }
        }
    }
    let mut client = server.connect().await;
    let message = bad_request_message(client.call(START_SESSION, d).await);
    assert!(message.starts_with("Bad request"), "{message}");
    assert!(message.contains("`language`"), "{message}");
}

#[tokio::test]
async fn d_as_bin_holding_a_map_is_accepted() {
    let (server, key) = fixture().await;
    let mut client = server.connect().await;
    // start-session with a pre-encoded payload.
    let d = Value::Binary(msgpack::encode(&start_request(&key, "SN-BIN").to_value()));
    let request = client.raw().request(START_SESSION, d);
    send(&mut client, &request).await;
    let response = next_response(&mut client).await;
    assert_eq!(response.status, Status::Ok, "{:?}", response.e);
    let result = skyline_protocol::methods::StartSessionResult::from_value(&response.result)
        .expect("a start-session result");
    client
        .raw()
        .set_session_token(Some(result.session_token.clone()));
    client.raw().set_next_q(1);

    // A telemetry event the same way.
    let event = msgpack::map([
        ("event", Value::from("app.navigation")),
        (
            "data",
            msgpack::map([("to", Value::from("/account-manager"))]),
        ),
    ]);
    client
        .call(
            "send-telemetry-event",
            Value::Binary(msgpack::encode(&event)),
        )
        .await
        .expect("a bin payload is accepted");
    // And a bin holding nil for a method without a payload.
    client
        .call(
            GET_FEATURE_TOGGLES,
            Value::Binary(msgpack::encode(&Value::Nil)),
        )
        .await
        .expect("a bin holding nil is accepted");

    let rows = server.telemetry().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event, "app.navigation");
    assert_eq!(
        rows[0].data,
        Some(serde_json::json!({"to": "/account-manager"}))
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (server, _) = fixture().await;
    let mut client = in_session(&server).await;
    let calls: Vec<(String, Value)> = (0..20)
        .map(|i| match i % 4 {
            0 => (GET_FEATURE_TOGGLES.to_owned(), Value::Nil),
            3 if i == 11 => ("no-such-method".to_owned(), Value::Nil),
            _ => (
                "send-telemetry-event".to_owned(),
                msgpack::map([
                    ("event", Value::from("pipeline.step")),
                    ("data", msgpack::map([("n", Value::from(i))])),
                ]),
            ),
        })
        .collect();
    let results = client.pipeline(calls).await.expect("all 20 answered");
    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        match (i % 4, i) {
            (_, 11) => assert!(
                matches!(result, Err(RpcError::UnknownMethod { .. })),
                "{i}: {result:?}"
            ),
            (0, _) => assert!(matches!(result, Ok(Value::Map(_))), "{i}: {result:?}"),
            _ => assert_eq!(result, &Ok(Value::Nil), "{i}"),
        }
    }
    // The telemetry events were stored in request order.
    let stored: Vec<i64> = server
        .telemetry()
        .await
        .iter()
        .map(|row| row.data.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (0..20).filter(|i| i % 4 != 0 && *i != 11).collect();
    assert_eq!(stored, expected);

    // Raw pipelining: each response carries its request's q, in order.
    for _ in 0..5 {
        client
            .send_request(GET_FEATURE_TOGGLES, Value::Nil)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        client.read_response().await.expect("in order");
    }
    assert_eq!(client.raw().next_q(), 26);
}

#[tokio::test]
async fn a_text_frame_after_the_handshake_closes_1003() {
    let (server, _) = fixture().await;
    for established in [false, true] {
        let mut client = if established {
            in_session(&server).await
        } else {
            server.connect().await
        };
        client.raw().send_text("hello").await.expect("send text");
        match client.raw().recv().await.expect("a close") {
            Incoming::Close { code, .. } => {
                assert_eq!(code, Some(CloseCode::UNSUPPORTED_DATA), "{established}")
            }
            other => panic!("expected close 1003, got {other:?}"),
        }
    }
}

// --- Section 2: MessagePack conventions --------------------------------------------

#[tokio::test]
async fn unknown_keys_are_ignored() {
    let (server, _) = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let mut client = server.connect().await;
    let mut d = start_request(&key, "SN-FWD").to_value();
    if let Value::Map(entries) = &mut d {
        entries.push((Value::from("screenResolution"), Value::from("1920x1080")));
        entries.push((Value::from(7), Value::from("a non-string key")));
    }
    let request = envelope(vec![
        ("q", Value::from(0)),
        ("t", Value::from(1_700_000_000)),
        ("r", Value::from(START_SESSION)),
        ("s", Value::Nil),
        ("d", d),
        ("x-trace", Value::from("abc")),
    ]);
    send_plaintext(&mut client, &request).await;
    let response = next_response(&mut client).await;
    assert_eq!(response.status, Status::Ok, "{:?}", response.e);
}

/// A request encoded by hand with wide integer and string formats: `q` as
/// int64, `t` as uint64, `r` as str8, `s` as str16, the map as map16.
fn wide_request(q: u64, t: u64, method: &str, token: &str) -> Vec<u8> {
    let mut out = vec![0xde, 0x00, 0x05];
    out.extend_from_slice(&[0xa1, b'q', 0xd3]);
    out.extend_from_slice(&(q as i64).to_be_bytes());
    out.extend_from_slice(&[0xa1, b't', 0xcf]);
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&[0xa1, b'r', 0xd9, method.len() as u8]);
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(&[0xa1, b's', 0xda]);
    out.extend_from_slice(&(token.len() as u16).to_be_bytes());
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(&[0xa1, b'd', 0xc0]);
    out
}

#[tokio::test]
async fn integers_and_strings_of_any_width_are_accepted() {
    let (server, _) = fixture().await;
    let mut client = in_session(&server).await;
    let token = client.raw().session_token().unwrap().to_owned();
    for q in 1..=3 {
        send_plaintext(
            &mut client,
            &wide_request(q, 1_700_000_000, GET_FEATURE_TOGGLES, &token),
        )
        .await;
        let response = next_response(&mut client).await;
        assert_eq!(response.status, Status::Ok, "{:?}", response.e);
        assert_eq!(response.q, Some(q));
    }
}

// --- Localized messages after start-session -----------------------------------------

#[tokio::test]
async fn errors_after_a_russian_start_session_are_in_russian() {
    let (server, _) = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let mut client = server.connect().await;
    let request = skyline_client::StartSessionRequest {
        language: Some("russian".into()),
        ..start_request(&key, "SN-RU")
    };
    client.start_session(request).await.expect("start-session");
    match client.call("get-news", Value::Nil).await {
        Err(ClientError::Rpc(RpcError::UnknownMethod { message })) => {
            assert_eq!(message, "Неизвестный метод: get-news")
        }
        other => panic!("expected UNKNOWN_METHOD, got {other:?}"),
    }
    let mut request = client.raw().request(GET_FEATURE_TOGGLES, Value::Nil);
    request.q += 1;
    send(&mut client, &request).await;
    let response = next_response(&mut client).await;
    assert_eq!(
        response.e.as_deref(),
        Some(
            "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в \
             техническую поддержку с кодом: SQ"
        )
    );
    assert_eq!(
        next_close(&mut client).await,
        Some(CloseCode::POLICY_VIOLATION)
    );
}
