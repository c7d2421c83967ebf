//! Encrypted frames under attack (PROTOCOL.md sections 4 and 5): every
//! tampered, truncated, extended or foreign frame fails to open, and a
//! reflected frame is refused by the envelope rules.

use skyline_protocol::frame::MIN_FRAME_LEN;
use skyline_protocol::methods::{FeatureToggles, ToggleValue, GET_FEATURE_TOGGLES, START_SESSION};
use skyline_protocol::{
    ClientHandshake, CloseCode, FrameError, IdentityKeyPair, Request, Response, ServerHandshake,
    ServerSequencer, Session, SessionKey, Status, Value, Verdict,
};

/// Both ends of a real handshake: (client, server).
fn sessions() -> (Session, Session) {
    let identity = IdentityKeyPair::generate().unwrap();
    let (client, hello) = ClientHandshake::start().unwrap();
    let outcome = ServerHandshake::respond(&identity, &hello).unwrap();
    let client = client.finish(&identity.public(), &outcome.reply).unwrap();
    (client, outcome.session)
}

fn toggles_request(q: u64, token: Option<&str>) -> Vec<u8> {
    Request {
        q,
        t: 1_765_529_210,
        r: GET_FEATURE_TOGGLES.into(),
        s: token.map(str::to_owned),
        d: Value::Nil,
    }
    .encode()
}

fn toggles_response(q: u64) -> Vec<u8> {
    let toggles = FeatureToggles(vec![
        (
            "engine.limits.sendMessage.dailyLimit".into(),
            ToggleValue::Int(150),
        ),
        ("ui.beta".into(), ToggleValue::Bool(true)),
    ]);
    Response::ok(q, toggles.to_value()).encode()
}

#[test]
fn both_directions_open_under_the_shared_key() {
    let (client, server) = sessions();
    let request = toggles_request(1, Some("71ee0979-ea57b170"));
    assert_eq!(
        server.open(&client.seal(&request).unwrap()).unwrap(),
        request
    );
    let response = toggles_response(1);
    assert_eq!(
        client.open(&server.seal(&response).unwrap()).unwrap(),
        response
    );
    // Fresh nonces: the same plaintext never seals to the same frame.
    assert_ne!(
        client.seal(&request).unwrap(),
        client.seal(&request).unwrap()
    );
    // An empty plaintext makes the shortest frame.
    let empty = client.seal(b"").unwrap();
    assert_eq!(empty.len(), MIN_FRAME_LEN);
    assert_eq!(server.open(&empty).unwrap(), b"");
}

#[test]
fn every_flipped_byte_fails_to_open() {
    let (client, server) = sessions();
    let frame = client.seal(&toggles_request(1, Some("token"))).unwrap();
    for position in 0..frame.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut tampered = frame.clone();
            tampered[position] ^= mask;
            assert_eq!(
                server.open(&tampered),
                Err(FrameError::Unauthentic),
                "byte {position} ^ {mask:#04x}"
            );
        }
    }
    // The untouched frame still opens: failures changed no state.
    assert!(server.open(&frame).is_ok());
}

#[test]
fn every_truncation_fails_to_open() {
    let (client, server) = sessions();
    let frame = client.seal(&toggles_response(3)).unwrap();
    for len in 0..frame.len() {
        let expected = if len < MIN_FRAME_LEN {
            FrameError::TooShort
        } else {
            FrameError::Unauthentic
        };
        assert_eq!(server.open(&frame[..len]), Err(expected), "length {len}");
        let mut in_place = frame[..len].to_vec();
        assert_eq!(server.open_in_place(&mut in_place), Err(expected));
        // Cutting from the front is no better.
        assert!(
            server.open(&frame[frame.len() - len..]).is_err(),
            "suffix {len}"
        );
    }
}

#[test]
fn extended_frames_fail_to_open() {
    let (client, server) = sessions();
    let frame = client.seal(b"\x80").unwrap();
    for extra in [&[0u8][..], &[0; 16], &frame] {
        let mut longer = frame.clone();
        longer.extend_from_slice(extra);
        assert_eq!(server.open(&longer), Err(FrameError::Unauthentic));
    }
}

#[test]
fn a_frame_from_another_session_fails_to_open() {
    let (client_a, server_a) = sessions();
    let (client_b, server_b) = sessions();
    let plaintext = toggles_request(1, Some("token"));
    let from_a = client_a.seal(&plaintext).unwrap();
    assert_eq!(server_b.open(&from_a), Err(FrameError::Unauthentic));
    assert_eq!(client_b.open(&from_a), Err(FrameError::Unauthentic));
    assert_eq!(server_a.open(&from_a).unwrap(), plaintext);
    // Nor does a known key that is not the session's.
    let stranger = Session::from_session_key(&SessionKey::from_bytes([0; 32]));
    assert_eq!(stranger.open(&from_a), Err(FrameError::Unauthentic));
}

/// A sequencer past a successful start-session, issued `token`.
fn established(token: &str) -> ServerSequencer {
    let mut seq = ServerSequencer::new();
    let start = Request {
        q: 0,
        t: 1,
        r: START_SESSION.into(),
        s: None,
        d: Value::Nil,
    };
    assert!(matches!(
        seq.on_request(&start.encode()),
        Verdict::Dispatch(_)
    ));
    assert_eq!(seq.start_session_finished(Some(token.into())), None);
    seq
}

#[test]
fn a_reflected_response_is_refused_as_a_bad_request() {
    // The same key serves both directions, so an attacker can bounce the
    // server's own frame back at it; it opens, but is not a request map.
    let (_client, server) = sessions();
    let token = "71ee0979-ea57b170";
    for q in [0, 1] {
        let reflected = server.seal(&toggles_response(q)).unwrap();
        let plaintext = server.open(&reflected).unwrap();
        for mut seq in [ServerSequencer::new(), established(token)] {
            match seq.on_request(&plaintext) {
                Verdict::Refuse(refusal) => {
                    assert_eq!(refusal.status, Status::BadRequest);
                    assert_eq!(refusal.close, Some(CloseCode::INVALID_PAYLOAD));
                    assert_eq!(refusal.close.unwrap().0, 1007);
                    // The response's q is readable, so the refusal carries it.
                    assert_eq!(refusal.q, Some(q));
                }
                other => panic!("reflected response dispatched: {other:?}"),
            }
            // After the refusal the connection accepts nothing.
            assert!(matches!(
                seq.on_request(&toggles_request(q + 1, Some(token))),
                Verdict::Refuse(_)
            ));
        }
    }
}

#[test]
fn a_reflected_request_is_not_a_response() {
    let (client, _server) = sessions();
    let reflected = client.seal(&toggles_request(1, Some("token"))).unwrap();
    let plaintext = client.open(&reflected).unwrap();
    assert!(Response::decode(&plaintext).is_err());
    let start = Request {
        q: 0,
        t: 1,
        r: START_SESSION.into(),
        s: None,
        d: Value::Nil,
    };
    assert!(Response::decode(&start.encode()).is_err());
}
