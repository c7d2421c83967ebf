//! PROTOCOL.md section 3 against the real server: the signed handshake, every
//! kind of malformed `client-hello` (`BAD_HANDSHAKE`, then close 1002), a text
//! hello (1003), no hello before the deadline (1008), and a client pinning
//! another identity key.

mod common;

use std::time::Duration;

use common::{start_request, TestServer, MONTHLY};
use skyline_client::{Client, ClientError, Incoming, RawSocket};
use skyline_protocol::msgpack::{self, MapView};
use skyline_protocol::{CloseCode, IdentityKeyPair, Status, Value};

/// The low-order X25519 points of the shared vectors (`lowOrderClientKeys`).
fn low_order_keys() -> Vec<Vec<u8>> {
    let vectors: serde_json::Value = serde_json::from_str(include_str!(
        "../../skyline-protocol/tests/data/handshake.json"
    ))
    .expect("the handshake vectors parse");
    vectors["lowOrderClientKeys"]
        .as_array()
        .expect("lowOrderClientKeys")
        .iter()
        .map(|k| hex::decode(k.as_str().expect("hex")).expect("hex"))
        .collect()
}

fn hello(r: Value, key: Vec<u8>, nonce: Vec<u8>) -> Vec<u8> {
    msgpack::encode(&msgpack::map([
        ("r", r),
        (
            "d",
            msgpack::map([
                ("clientEcdhPublic", Value::Binary(key)),
                ("nonce", Value::Binary(nonce)),
            ]),
        ),
    ]))
}

/// A valid X25519 public key (of a fixed private key), for hellos that are
/// wrong only in some other way.
fn some_public_key() -> Vec<u8> {
    let (_, good) = skyline_protocol::ClientHandshake::start().expect("a client hello");
    let value = msgpack::decode(&good).unwrap();
    let d = MapView::of(&value).unwrap().get("d").unwrap().clone();
    MapView::of(&d)
        .unwrap()
        .bytes::<32>("clientEcdhPublic")
        .unwrap()
        .to_vec()
}

/// Sends `hello` on a fresh socket; the server must answer `BAD_HANDSHAKE`
/// (in plain MessagePack, with a reason) and then close with 1002.
async fn assert_bad_handshake(server: &TestServer, what: &str, hello: Vec<u8>) {
    let mut socket = RawSocket::connect(&server.url).await.expect("upgrade");
    socket.send_binary(hello).await.expect("send the hello");
    let reply = match socket.recv().await.expect("a reply") {
        Incoming::Binary(reply) => reply,
        other => panic!("{what}: expected a BAD_HANDSHAKE reply, got {other:?}"),
    };
    let reply = msgpack::decode(&reply).expect("a plain MessagePack reply");
    let reply = MapView::of(&reply).expect("a map");
    assert_eq!(
        reply.str("S").unwrap(),
        Status::BadHandshake.as_str(),
        "{what}"
    );
    assert!(
        !reply.str("e").expect("a reason").is_empty(),
        "{what}: the reason is given"
    );
    assert!(reply.get("R").is_none(), "{what}: R is nil");
    match socket.recv().await.expect("a close") {
        Incoming::Close { code, .. } => {
            assert_eq!(code, Some(CloseCode::PROTOCOL_ERROR), "{what}")
        }
        other => panic!("{what}: expected close 1002, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_handshake_opens_an_encrypted_session() {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let mut client = Client::connect(&server.url, server.pinned)
        .await
        .expect("the signed handshake verifies");
    let started = client
        .start_session(start_request(&key, "SN-HELLO"))
        .await
        .expect("start-session over the encrypted session");
    assert!(started.result.is_activated_now);
    assert!(client.has_session());
    client.close().await.expect("a clean close");
}

#[tokio::test]
async fn malformed_hellos_get_bad_handshake_and_close_1002() {
    let server = TestServer::start(common::test_config()).await;
    let nonce = vec![7u8; 32];
    let good_key = some_public_key();

    assert_bad_handshake(
        &server,
        "not a map",
        msgpack::encode(&Value::Array(vec![Value::from(1), Value::from(2)])),
    )
    .await;
    assert_bad_handshake(&server, "not MessagePack", vec![0xc1, 0x00, 0x01]).await;
    assert_bad_handshake(&server, "empty message", Vec::new()).await;
    assert_bad_handshake(
        &server,
        "r is not client-hello",
        hello(Value::from("server-hello"), good_key.clone(), nonce.clone()),
    )
    .await;
    assert_bad_handshake(
        &server,
        "r is not a string",
        hello(Value::from(1), good_key.clone(), nonce.clone()),
    )
    .await;
    assert_bad_handshake(
        &server,
        "31-byte key",
        hello(
            Value::from("client-hello"),
            good_key[..31].to_vec(),
            nonce.clone(),
        ),
    )
    .await;
    assert_bad_handshake(
        &server,
        "31-byte nonce",
        hello(Value::from("client-hello"), good_key.clone(), vec![7u8; 31]),
    )
    .await;
    assert_bad_handshake(
        &server,
        "no d",
        msgpack::encode(&msgpack::map([("r", Value::from("client-hello"))])),
    )
    .await;
    for key in low_order_keys() {
        let what = format!("low-order key {}", hex::encode(&key));
        assert_bad_handshake(
            &server,
            &what,
            hello(Value::from("client-hello"), key, nonce.clone()),
        )
        .await;
    }
}

#[tokio::test]
async fn a_text_hello_is_closed_with_1003() {
    let server = TestServer::start(common::test_config()).await;
    let mut socket = RawSocket::connect(&server.url).await.expect("upgrade");
    socket
        .send_text(r#"{"r":"client-hello"}"#)
        .await
        .expect("send text");
    match socket.recv().await.expect("a close") {
        Incoming::Close { code, .. } => assert_eq!(code, Some(CloseCode::UNSUPPORTED_DATA)),
        other => panic!("expected close 1003 and nothing before it, got {other:?}"),
    }
}

#[tokio::test]
async fn no_hello_before_the_deadline_is_closed_with_1008() {
    let config = skyline_server::ServerConfig {
        handshake_timeout: Duration::from_millis(200),
        ..common::test_config()
    };
    let server = TestServer::start(config).await;
    let mut socket = RawSocket::connect(&server.url).await.expect("upgrade");
    // Send nothing; the server's deadline ends the connection.
    match socket.recv().await.expect("a close") {
        Incoming::Close { code, .. } => assert_eq!(code, Some(CloseCode::POLICY_VIOLATION)),
        other => panic!("expected close 1008, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_pinning_another_key_refuses_the_server() {
    let server = TestServer::start(common::test_config()).await;
    let other = IdentityKeyPair::from_seed(&[0x11; 32]).unwrap().public();
    let error = Client::connect(&server.url, other)
        .await
        .expect_err("the signature cannot verify against another key");
    assert!(
        matches!(error, ClientError::ServerIdentityMismatch),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_raw_handshake_then_the_client_works() {
    // RawSocket::handshake is what Client::connect does, in two steps.
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let socket = RawSocket::connect(&server.url).await.expect("upgrade");
    let mut client = socket.handshake(server.pinned).await.expect("handshake");
    client
        .start_session(start_request(&key, "SN-RAW"))
        .await
        .expect("start-session");
    // The client closes; the server answers the close.
    client
        .raw()
        .close(CloseCode::NORMAL, "")
        .await
        .expect("close");
}
