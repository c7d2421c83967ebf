//! The handshake under attack (PROTOCOL.md section 3): every malformed
//! `client-hello` variant is refused as `Malformed`, a tampered or foreign
//! `server-hello` never yields a session, and a `BAD_HANDSHAKE` reply is
//! reported as `Refused`.

use skyline_protocol::{
    bad_handshake_reply, msgpack, ClientHandshake, ClientHello, HandshakeError, IdentityKeyPair,
    ServerHandshake, ServerHello, Status, Value,
};

const SEED: [u8; 32] = [0x5a; 32];

fn identity() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&SEED).unwrap()
}

fn bin(n: usize) -> Value {
    Value::Binary(vec![0x09; n])
}

/// A real X25519 public key, so a hello built around it gets past the agreement.
fn good_client_key() -> Value {
    let (_, hello) = ClientHandshake::start().unwrap();
    Value::Binary(
        ClientHello::decode(&hello)
            .unwrap()
            .client_ecdh_public
            .to_vec(),
    )
}

fn client_hello_with(r: Option<Value>, d: Option<Value>) -> Vec<u8> {
    let mut entries = Vec::new();
    if let Some(r) = r {
        entries.push((Value::from("r"), r));
    }
    if let Some(d) = d {
        entries.push((Value::from("d"), d));
    }
    msgpack::encode(&Value::Map(entries))
}

fn d_with(key: Option<Value>, nonce: Option<Value>) -> Value {
    let mut entries = Vec::new();
    if let Some(key) = key {
        entries.push((Value::from("clientEcdhPublic"), key));
    }
    if let Some(nonce) = nonce {
        entries.push((Value::from("nonce"), nonce));
    }
    Value::Map(entries)
}

fn hello_r() -> Option<Value> {
    Some(Value::from("client-hello"))
}

/// Every way a client hello can be malformed, named.
fn malformed_client_hellos() -> Vec<(String, Vec<u8>)> {
    let good_d = || d_with(Some(good_client_key()), Some(bin(32)));
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty input".into(), vec![]),
        ("reserved marker".into(), vec![0xc1]),
        ("an integer".into(), msgpack::encode(&Value::from(7))),
        ("nil".into(), msgpack::encode(&Value::Nil)),
        (
            "a string".into(),
            msgpack::encode(&Value::from("client-hello")),
        ),
        (
            "an array".into(),
            msgpack::encode(&Value::Array(vec![Value::from("client-hello"), good_d()])),
        ),
        ("bin holding a hello".into(), {
            let inner = client_hello_with(hello_r(), Some(good_d()));
            msgpack::encode(&Value::Binary(inner))
        }),
        ("empty map".into(), client_hello_with(None, None)),
        ("r missing".into(), client_hello_with(None, Some(good_d()))),
        (
            "r nil".into(),
            client_hello_with(Some(Value::Nil), Some(good_d())),
        ),
        (
            "r is another method".into(),
            client_hello_with(Some(Value::from("start-session")), Some(good_d())),
        ),
        (
            "r is server-hello".into(),
            client_hello_with(Some(Value::from("server-hello")), Some(good_d())),
        ),
        (
            "r differs in case".into(),
            client_hello_with(Some(Value::from("Client-Hello")), Some(good_d())),
        ),
        (
            "r an integer".into(),
            client_hello_with(Some(Value::from(1)), Some(good_d())),
        ),
        (
            "r a bin".into(),
            client_hello_with(
                Some(Value::Binary(b"client-hello".to_vec())),
                Some(good_d()),
            ),
        ),
        ("d missing".into(), client_hello_with(hello_r(), None)),
        (
            "d nil".into(),
            client_hello_with(hello_r(), Some(Value::Nil)),
        ),
        (
            "d an array".into(),
            client_hello_with(hello_r(), Some(Value::Array(vec![bin(32), bin(32)]))),
        ),
        (
            "d a bin holding the map".into(),
            client_hello_with(hello_r(), Some(Value::Binary(msgpack::encode(&good_d())))),
        ),
        (
            "d a string".into(),
            client_hello_with(hello_r(), Some(Value::from("d"))),
        ),
        (
            "d empty".into(),
            client_hello_with(hello_r(), Some(d_with(None, None))),
        ),
        (
            "key missing".into(),
            client_hello_with(hello_r(), Some(d_with(None, Some(bin(32))))),
        ),
        (
            "nonce missing".into(),
            client_hello_with(hello_r(), Some(d_with(Some(good_client_key()), None))),
        ),
        (
            "key nil".into(),
            client_hello_with(hello_r(), Some(d_with(Some(Value::Nil), Some(bin(32))))),
        ),
    ];
    for len in [0, 1, 31, 33, 64] {
        cases.push((
            format!("key of {len} bytes"),
            client_hello_with(hello_r(), Some(d_with(Some(bin(len)), Some(bin(32))))),
        ));
        cases.push((
            format!("nonce of {len} bytes"),
            client_hello_with(
                hello_r(),
                Some(d_with(Some(good_client_key()), Some(bin(len)))),
            ),
        ));
    }
    let key_as_string = Value::from("a".repeat(32));
    cases.push((
        "key as a 32-char string".into(),
        client_hello_with(hello_r(), Some(d_with(Some(key_as_string), Some(bin(32))))),
    ));
    cases.push((
        "nonce as a 32-char string".into(),
        client_hello_with(
            hello_r(),
            Some(d_with(
                Some(good_client_key()),
                Some(Value::from("n".repeat(32))),
            )),
        ),
    ));
    cases.push((
        "key as an array of 32 ints".into(),
        client_hello_with(
            hello_r(),
            Some(d_with(
                Some(Value::Array(vec![Value::from(9); 32])),
                Some(bin(32)),
            )),
        ),
    ));
    cases.push((
        "nonce as an integer".into(),
        client_hello_with(
            hello_r(),
            Some(d_with(Some(good_client_key()), Some(Value::from(32)))),
        ),
    ));
    cases.push((
        "key as an ext".into(),
        client_hello_with(
            hello_r(),
            Some(d_with(Some(Value::Ext(0, vec![9; 32])), Some(bin(32)))),
        ),
    ));

    // A good hello with something after it, or cut anywhere.
    let good = client_hello_with(hello_r(), Some(good_d()));
    for tail in [&[0x00][..], &[0xc0], &[0x80], &good] {
        let mut bytes = good.clone();
        bytes.extend_from_slice(tail);
        cases.push((format!("trailing {} bytes", tail.len()), bytes));
    }
    for len in 0..good.len() {
        cases.push((format!("truncated to {len} bytes"), good[..len].to_vec()));
    }
    cases
}

#[test]
fn every_malformed_client_hello_is_refused_as_malformed() {
    let identity = identity();
    let cases = malformed_client_hellos();
    assert!(cases.len() > 100, "{} cases", cases.len());
    for (name, bytes) in &cases {
        match ClientHello::decode(bytes) {
            Err(HandshakeError::Malformed(reason)) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: ClientHello::decode gave {other:?}"),
        }
        match ServerHandshake::respond(&identity, bytes) {
            Err(HandshakeError::Malformed(reason)) => {
                // The reason goes back to the client in a BAD_HANDSHAKE reply.
                let reply = msgpack::decode(&bad_handshake_reply(&reason)).unwrap();
                let map = reply.as_map().unwrap();
                assert_eq!(map[0], (Value::from("S"), Value::from("BAD_HANDSHAKE")));
                assert_eq!(map[1], (Value::from("e"), Value::from(reason.as_str())));
                assert_eq!(map[2], (Value::from("R"), Value::Nil));
            }
            Err(other) => panic!("{name}: respond gave {other:?}"),
            Ok(_) => panic!("{name}: respond accepted a malformed hello"),
        }
    }
}

#[test]
fn a_well_formed_hello_with_extra_keys_and_any_key_order_is_accepted() {
    let identity = identity();
    let (client, hello) = ClientHandshake::start().unwrap();
    let parsed = ClientHello::decode(&hello).unwrap();
    let reordered = msgpack::encode(&Value::Map(vec![
        (Value::from("future"), Value::from(1)),
        (
            Value::from("d"),
            Value::Map(vec![
                (Value::from("nonce"), Value::Binary(parsed.nonce.to_vec())),
                (Value::from("extra"), Value::Array(vec![])),
                (
                    Value::from("clientEcdhPublic"),
                    Value::Binary(parsed.client_ecdh_public.to_vec()),
                ),
            ]),
        ),
        (Value::from("r"), Value::from("client-hello")),
    ]));
    assert_eq!(ClientHello::decode(&reordered), Ok(parsed));
    let outcome = ServerHandshake::respond(&identity, &reordered).unwrap();
    let session = client.finish(&identity.public(), &outcome.reply).unwrap();
    let frame = session.seal(b"\x80").unwrap();
    assert_eq!(outcome.session.open(&frame).unwrap(), b"\x80");
}

/// A fresh client and the server's genuine reply to it.
fn genuine_exchange() -> (ClientHandshake, ServerHello, IdentityKeyPair) {
    let identity = identity();
    let (client, hello) = ClientHandshake::start().unwrap();
    let outcome = ServerHandshake::respond(&identity, &hello).unwrap();
    (
        client,
        ServerHello::decode(&outcome.reply).unwrap(),
        identity,
    )
}

#[test]
fn a_flipped_signature_bit_is_a_bad_signature() {
    for byte in 0..64 {
        for bit in [0, 3, 7] {
            let (client, mut reply, identity) = genuine_exchange();
            reply.signature[byte] ^= 1 << bit;
            assert_eq!(
                client
                    .finish(&identity.public(), &reply.encode())
                    .unwrap_err(),
                HandshakeError::BadSignature,
                "signature byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn tampering_with_signed_fields_is_a_bad_signature() {
    // The signature covers the server's key and nonce.
    for field in 0..2 {
        for byte in [0, 17, 31] {
            let (client, mut reply, identity) = genuine_exchange();
            match field {
                0 => reply.server_ecdh_public[byte] ^= 0x40,
                _ => reply.server_nonce[byte] ^= 0x01,
            }
            assert_eq!(
                client
                    .finish(&identity.public(), &reply.encode())
                    .unwrap_err(),
                HandshakeError::BadSignature,
                "field {field} byte {byte}"
            );
        }
    }
}

#[test]
fn another_pinned_key_is_a_bad_signature() {
    let (client, reply, _) = genuine_exchange();
    let other = IdentityKeyPair::from_seed(&[0x11; 32]).unwrap().public();
    assert_eq!(
        client.finish(&other, &reply.encode()).unwrap_err(),
        HandshakeError::BadSignature
    );
}

#[test]
fn a_replayed_server_hello_is_a_bad_signature() {
    // A genuine reply to another client's hello (another nonce) is useless.
    let (_, old_reply, identity) = genuine_exchange();
    let (client, _) = ClientHandshake::start().unwrap();
    assert_eq!(
        client
            .finish(&identity.public(), &old_reply.encode())
            .unwrap_err(),
        HandshakeError::BadSignature
    );
}

#[test]
fn a_signed_low_order_server_key_is_refused() {
    // Even with a valid signature (a compromised or buggy server), an all-zero
    // shared secret aborts the handshake.
    let identity = identity();
    let (client, hello) = ClientHandshake::start().unwrap();
    let hello = ClientHello::decode(&hello).unwrap();
    let server_ecdh_public = [0u8; 32];
    let server_nonce = [7u8; 32];
    let proof = skyline_protocol::handshake::proof(
        &hello.client_ecdh_public,
        &server_ecdh_public,
        &hello.nonce,
        &server_nonce,
    );
    let reply = ServerHello {
        server_ecdh_public,
        signature: identity.sign(&proof),
        server_nonce,
    };
    assert_eq!(
        client
            .finish(&identity.public(), &reply.encode())
            .unwrap_err(),
        HandshakeError::LowOrderKey
    );
}

fn server_hello_with(s: Value, r: Option<Value>) -> Vec<u8> {
    let mut entries = vec![(Value::from("S"), s), (Value::from("e"), Value::Nil)];
    if let Some(r) = r {
        entries.push((Value::from("R"), r));
    }
    msgpack::encode(&Value::Map(entries))
}

fn r_with(key: usize, signature: usize, nonce: usize) -> Value {
    msgpack::map([
        ("serverEcdhPublic", bin(key)),
        ("signature", bin(signature)),
        ("serverNonce", bin(nonce)),
    ])
}

#[test]
fn a_malformed_server_hello_is_malformed() {
    let ok = || Value::from("OK");
    let mut cases = vec![
        ("empty".to_owned(), vec![]),
        ("not a map".into(), msgpack::encode(&Value::from(1))),
        (
            "S missing".into(),
            msgpack::encode(&msgpack::map([("R", r_with(32, 64, 32))])),
        ),
        (
            "S an integer".into(),
            server_hello_with(Value::from(0), Some(r_with(32, 64, 32))),
        ),
        ("R missing".into(), server_hello_with(ok(), None)),
        ("R nil".into(), server_hello_with(ok(), Some(Value::Nil))),
        (
            "R an array".into(),
            server_hello_with(ok(), Some(Value::Array(vec![]))),
        ),
        (
            "key as a string".into(),
            server_hello_with(
                ok(),
                Some(msgpack::map([
                    ("serverEcdhPublic", Value::from("k".repeat(32))),
                    ("signature", bin(64)),
                    ("serverNonce", bin(32)),
                ])),
            ),
        ),
    ];
    for (key, signature, nonce) in [
        (31, 64, 32),
        (33, 64, 32),
        (0, 64, 32),
        (32, 63, 32),
        (32, 65, 32),
        (32, 32, 32),
        (32, 64, 31),
        (32, 64, 33),
        (32, 64, 12),
    ] {
        cases.push((
            format!("lengths {key}/{signature}/{nonce}"),
            server_hello_with(ok(), Some(r_with(key, signature, nonce))),
        ));
    }
    let (client_template, reply, _) = genuine_exchange();
    drop(client_template);
    let good = reply.encode();
    let mut trailing = good.clone();
    trailing.push(0xc0);
    cases.push(("trailing byte".into(), trailing));
    for len in 0..good.len() {
        cases.push((format!("truncated to {len}"), good[..len].to_vec()));
    }

    let identity = identity();
    for (name, bytes) in &cases {
        assert!(
            matches!(
                ServerHello::decode(bytes),
                Err(HandshakeError::Malformed(_))
            ),
            "{name}: {:?}",
            ServerHello::decode(bytes)
        );
        let (client, _) = ClientHandshake::start().unwrap();
        assert!(
            matches!(
                client.finish(&identity.public(), bytes),
                Err(HandshakeError::Malformed(_))
            ),
            "{name}"
        );
    }
}

#[test]
fn a_bad_handshake_reply_is_refused_with_its_reason() {
    let identity = identity();
    let (client, _) = ClientHandshake::start().unwrap();
    let reply = bad_handshake_reply("field `nonce`: expected 32 bytes, got 31");
    match client.finish(&identity.public(), &reply) {
        Err(HandshakeError::Refused(reason)) => {
            assert!(reason.starts_with("BAD_HANDSHAKE"), "{reason}");
            assert!(reason.contains("expected 32 bytes"), "{reason}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    // Any other non-OK status refuses too, with or without a message.
    for status in Status::ALL.into_iter().filter(|s| *s != Status::Ok) {
        let (client, _) = ClientHandshake::start().unwrap();
        let reply = server_hello_with(Value::from(status.as_str()), Some(Value::Nil));
        match client.finish(&identity.public(), &reply) {
            Err(HandshakeError::Refused(reason)) => {
                assert!(reason.starts_with(status.as_str()), "{reason}")
            }
            other => panic!("{status}: expected Refused, got {other:?}"),
        }
    }
}

#[test]
fn debug_output_shows_no_key_material() {
    let (client, hello) = ClientHandshake::start().unwrap();
    let identity = identity();
    let outcome = ServerHandshake::respond(&identity, &hello).unwrap();
    let shown = format!("{client:?} {outcome:?} {identity:?}");
    assert!(!shown.contains(&hex::encode(SEED)), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}
