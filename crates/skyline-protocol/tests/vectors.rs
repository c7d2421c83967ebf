//! Replays every shared test vector (`tests/data/`, computed by an independent
//! implementation) byte for byte, with the fixed ephemeral keys and nonces of
//! the `test-vectors` feature.

mod common;

use std::cmp::Ordering;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use serde::Deserialize;
use skyline_protocol::dates::{parse_date, PlanDuration};
use skyline_protocol::handshake::proof;
use skyline_protocol::methods::{
    FeatureToggles, StartSessionRequest, StartSessionResult, TelemetryEvent, ToggleValue,
};
use skyline_protocol::{
    license_key, msgpack, version, ClientHandshake, ClientHello, HandshakeError, IdentityKeyPair,
    Request, Response, ServerHandshake, ServerHello, Session, SessionKey, Status, Value,
};

use common::{field, unhex, unhex_array, OrderedJson};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HandshakeFile {
    cases: Vec<HandshakeCase>,
    low_order_client_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HandshakeCase {
    name: String,
    identity_seed: String,
    identity_public: String,
    client_ecdh_private: String,
    client_ecdh_public: String,
    server_ecdh_private: String,
    server_ecdh_public: String,
    client_nonce: String,
    server_nonce: String,
    proof: String,
    signature: String,
    shared_secret: String,
    session_key: String,
    client_hello_msgpack: String,
    server_hello_msgpack: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FramesFile {
    cases: Vec<FrameCase>,
    must_fail: Vec<MustFailFrame>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FrameCase {
    name: String,
    session_key: String,
    nonce: String,
    plaintext_msgpack: String,
    plaintext_json: OrderedJson,
    frame: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MustFailFrame {
    name: String,
    session_key: String,
    frame: String,
    must_fail: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulesFile {
    expiry: Vec<ExpiryCase>,
    license_keys: Vec<LicenseKeyCase>,
    versions: Vec<VersionCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpiryCase {
    activation_date: String,
    months: u32,
    expiry_date: String,
}

#[derive(Deserialize)]
struct LicenseKeyCase {
    input: String,
    normalized: Option<String>,
}

#[derive(Deserialize)]
struct VersionCase {
    a: String,
    b: String,
    cmp: i8,
}

fn handshake_file() -> HandshakeFile {
    serde_json::from_str(common::HANDSHAKE_JSON).expect("handshake.json parses")
}

fn frames_file() -> FramesFile {
    serde_json::from_str(common::FRAMES_JSON).expect("frames.json parses")
}

fn rules_file() -> RulesFile {
    serde_json::from_str(common::RULES_JSON).expect("rules.json parses")
}

#[test]
fn handshake_vectors_replay_byte_for_byte() {
    let file = handshake_file();
    assert!(!file.cases.is_empty());
    for case in &file.cases {
        let name = &case.name;
        let identity = IdentityKeyPair::from_seed(&unhex_array(&case.identity_seed)).unwrap();
        assert_eq!(
            identity.public().0,
            unhex_array::<32>(&case.identity_public),
            "{name}: identity public key"
        );

        // Client: the hello is pinned byte for byte.
        let client_nonce = unhex_array::<32>(&case.client_nonce);
        let (client, hello) =
            ClientHandshake::start_fixed(&unhex_array(&case.client_ecdh_private), client_nonce);
        assert_eq!(
            hex::encode(&hello),
            case.client_hello_msgpack,
            "{name}: client-hello"
        );
        let parsed = ClientHello::decode(&hello).unwrap();
        assert_eq!(
            hex::encode(parsed.client_ecdh_public),
            case.client_ecdh_public
        );
        assert_eq!(parsed.nonce, client_nonce);

        // Server: the reply and the session key.
        let server_nonce = unhex_array::<32>(&case.server_nonce);
        let (outcome, server_key) = ServerHandshake::respond_fixed(
            &identity,
            &hello,
            &unhex_array(&case.server_ecdh_private),
            server_nonce,
        )
        .unwrap();
        assert_eq!(
            hex::encode(&outcome.reply),
            case.server_hello_msgpack,
            "{name}: server-hello"
        );
        assert_eq!(
            hex::encode(server_key.bytes()),
            case.session_key,
            "{name}: server's session key"
        );

        // The server hello's parts, the proof and the signature.
        let reply = ServerHello::decode(&outcome.reply).unwrap();
        assert_eq!(
            hex::encode(reply.server_ecdh_public),
            case.server_ecdh_public
        );
        assert_eq!(reply.server_nonce, server_nonce);
        assert_eq!(hex::encode(reply.signature), case.signature, "{name}");
        let computed_proof = proof(
            &parsed.client_ecdh_public,
            &reply.server_ecdh_public,
            &client_nonce,
            &server_nonce,
        );
        assert_eq!(hex::encode(computed_proof), case.proof, "{name}: proof");
        assert_eq!(
            hex::encode(identity.sign(&computed_proof)),
            case.signature,
            "{name}: signature"
        );
        assert!(identity.public().verify(&computed_proof, &reply.signature));

        // The shared secret, from both sides, with the primitive directly
        // (the crate never exposes it).
        for (private, peer) in [
            (&case.client_ecdh_private, &case.server_ecdh_public),
            (&case.server_ecdh_private, &case.client_ecdh_public),
        ] {
            let private = PrivateKey::from_private_key(&X25519, &unhex(private)).unwrap();
            let peer_bytes = unhex(peer);
            let shared = agreement::agree(
                &private,
                UnparsedPublicKey::new(&X25519, &peer_bytes),
                (),
                |s| Ok(hex::encode(s)),
            )
            .unwrap();
            assert_eq!(shared, case.shared_secret, "{name}: shared secret");
        }

        // Client: verifies against the pinned key and derives the same key.
        let (client_session, client_key) = client
            .finish_exposing_key(&identity.public(), &outcome.reply)
            .unwrap();
        assert_eq!(
            hex::encode(client_key.bytes()),
            case.session_key,
            "{name}: client's session key"
        );

        // The two sessions talk to each other.
        let frame = client_session.seal(b"\x80").unwrap();
        assert_eq!(outcome.session.open(&frame).unwrap(), b"\x80");
        let frame = outcome.session.seal(b"\x81\xa1q\x00").unwrap();
        assert_eq!(client_session.open(&frame).unwrap(), b"\x81\xa1q\x00");
    }
}

#[test]
fn low_order_client_keys_are_refused() {
    let file = handshake_file();
    assert!(!file.low_order_client_keys.is_empty());
    let case = &file.cases[0];
    let identity = IdentityKeyPair::from_seed(&unhex_array(&case.identity_seed)).unwrap();
    for key in &file.low_order_client_keys {
        let hello = ClientHello {
            client_ecdh_public: unhex_array(key),
            nonce: unhex_array(&case.client_nonce),
        }
        .encode();
        let refused = |result: Result<_, HandshakeError>| match result {
            Err(HandshakeError::LowOrderKey | HandshakeError::Malformed(_)) => {}
            Err(other) => panic!("{key}: unexpected error {other:?}"),
            Ok(_) => panic!("{key}: low-order key accepted"),
        };
        refused(ServerHandshake::respond(&identity, &hello).map(|_| ()));
        refused(
            ServerHandshake::respond_fixed(
                &identity,
                &hello,
                &unhex_array(&case.server_ecdh_private),
                unhex_array(&case.server_nonce),
            )
            .map(|_| ()),
        );
    }
}

/// The request or response the JSON describes, built field by field.
enum Plaintext {
    Request(Request),
    Response(Response),
}

fn plaintext_from_json(json: &Value) -> Plaintext {
    let q = field(json, "q").as_u64();
    let opt_string = |v: &Value| v.as_str().map(str::to_owned);
    if field(json, "r").is_str() {
        Plaintext::Request(Request {
            q: q.expect("a request's q"),
            t: field(json, "t").as_i64().expect("a request's t"),
            r: field(json, "r").as_str().unwrap().to_owned(),
            s: opt_string(field(json, "s")),
            d: field(json, "d").clone(),
        })
    } else {
        Plaintext::Response(Response {
            q,
            status: Status::parse(field(json, "S").as_str().unwrap()).expect("a known status"),
            e: opt_string(field(json, "e")),
            result: field(json, "R").clone(),
        })
    }
}

#[test]
fn frame_vectors_replay_byte_for_byte() {
    let file = frames_file();
    assert!(!file.cases.is_empty());
    let (mut requests, mut responses) = (0, 0);
    for case in &file.cases {
        let name = &case.name;
        let plaintext = unhex(&case.plaintext_msgpack);

        // The envelope, built from the JSON, encodes to exactly these bytes and
        // decodes back to itself.
        match plaintext_from_json(&case.plaintext_json.0) {
            Plaintext::Request(request) => {
                requests += 1;
                assert_eq!(
                    hex::encode(request.encode()),
                    case.plaintext_msgpack,
                    "{name}: encode"
                );
                assert_eq!(Request::decode(&plaintext).unwrap(), request, "{name}");
                assert!(Response::decode(&plaintext).is_err(), "{name}");
            }
            Plaintext::Response(response) => {
                responses += 1;
                assert_eq!(
                    hex::encode(response.encode()),
                    case.plaintext_msgpack,
                    "{name}: encode"
                );
                assert_eq!(Response::decode(&plaintext).unwrap(), response, "{name}");
                assert!(Request::decode(&plaintext).is_err(), "{name}");
            }
        }
        // The generic codec agrees with the JSON too.
        assert_eq!(msgpack::decode(&plaintext).unwrap(), case.plaintext_json.0);
        assert_eq!(msgpack::encode(&case.plaintext_json.0), plaintext);

        // The frame: sealed with the fixed nonce, and opened.
        let key = SessionKey::from_bytes(unhex_array(&case.session_key));
        let session = Session::from_session_key(&key);
        let frame = session.seal_with_fixed_nonce(unhex_array(&case.nonce), &plaintext);
        assert_eq!(hex::encode(&frame), case.frame, "{name}: frame");
        assert_eq!(
            session.open(&unhex(&case.frame)).unwrap(),
            plaintext,
            "{name}"
        );
        let mut in_place = unhex(&case.frame);
        assert_eq!(
            session.open_in_place(&mut in_place).unwrap(),
            &plaintext[..]
        );
    }
    assert!(requests > 0 && responses > 0);
}

#[test]
fn must_fail_frames_do_not_open() {
    let file = frames_file();
    assert!(!file.must_fail.is_empty());
    for case in &file.must_fail {
        assert!(case.must_fail);
        let session =
            Session::from_session_key(&SessionKey::from_bytes(unhex_array(&case.session_key)));
        assert!(session.open(&unhex(&case.frame)).is_err(), "{}", case.name);
    }
}

fn frame_case(name: &str) -> FrameCase {
    frames_file()
        .cases
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no frame vector {name}"))
}

fn request_of(name: &str) -> Request {
    Request::decode(&unhex(&frame_case(name).plaintext_msgpack)).unwrap()
}

fn response_of(name: &str) -> Response {
    Response::decode(&unhex(&frame_case(name).plaintext_msgpack)).unwrap()
}

#[test]
fn start_session_request_payload() {
    let request = request_of("start-session-request");
    let payload = request.payload().unwrap();
    let start = StartSessionRequest::from_payload(payload.as_ref()).unwrap();
    assert_eq!(
        start,
        StartSessionRequest {
            product_id: "telepower".into(),
            product_version: "7.0.3".into(),
            language: Some("russian".into()),
            last_login_reported_by_client: Some(1_765_529_203),
            device_serial_number: "ADTFBB4112800098".into(),
            cs_product_uuid: "20240113-E0C2-646E-FDB1-E0C2646EFDB5".into(),
            license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
        }
    );
    assert_eq!(
        start.language(),
        skyline_protocol::methods::Language::Russian
    );
    // The typed payload writes the keys in the vector's order.
    assert_eq!(
        msgpack::encode(&start.to_value()),
        msgpack::encode(&request.d)
    );
    // The same payload pre-encoded as a `bin` (PROTOCOL.md section 5) reads the same.
    let mut pre_encoded = request.clone();
    pre_encoded.d = Value::Binary(msgpack::encode(&request.d));
    assert_eq!(
        StartSessionRequest::from_payload(pre_encoded.payload().unwrap().as_ref()),
        Ok(start)
    );
}

#[test]
fn start_session_result_payload() {
    let response = response_of("start-session-response");
    assert_eq!(response.status, Status::Ok);
    assert_eq!(response.e, None);
    let result = StartSessionResult::from_value(&response.result).unwrap();
    assert_eq!(
        result,
        StartSessionResult {
            is_activated_now: true,
            activation_date: "2024-12-25".into(),
            license_plan: "telepower.licensePlan.release.monthly".into(),
            expiry_date: Some("2025-01-25".into()),
            session_token: "71ee0979-ea57b170".into(),
        }
    );
    assert_eq!(
        msgpack::encode(&result.to_value()),
        msgpack::encode(&response.result)
    );
}

#[test]
fn telemetry_event_payload() {
    let request = request_of("telemetry-request");
    assert_eq!(request.s.as_deref(), Some("71ee0979-ea57b170"));
    let payload = request.payload().unwrap();
    let event = TelemetryEvent::from_payload(payload.as_ref()).unwrap();
    assert_eq!(event.event, "app.navigation");
    assert_eq!(
        event.data,
        Some(msgpack::map([("to", Value::from("/account-manager"))]))
    );
    assert_eq!(
        msgpack::encode(&event.to_value()),
        msgpack::encode(&request.d)
    );
}

#[test]
fn feature_toggles_payload() {
    let response = response_of("toggles-response");
    let toggles = FeatureToggles::from_value(&response.result).unwrap();
    assert_eq!(
        toggles,
        FeatureToggles(vec![
            (
                "engine.limits.inviteToChannel.dailyLimit".into(),
                ToggleValue::Int(500)
            ),
            (
                "engine.limits.sendMessage.dailyLimit".into(),
                ToggleValue::Int(150)
            ),
        ])
    );
    assert_eq!(
        toggles.get("engine.limits.sendMessage.dailyLimit"),
        Some(&ToggleValue::Int(150))
    );
    assert_eq!(
        Response::ok(1, toggles.to_value()).encode(),
        unhex(&frame_case("toggles-response").plaintext_msgpack)
    );
}

#[test]
fn license_key_vectors() {
    let file = rules_file();
    assert!(!file.license_keys.is_empty());
    for case in &file.license_keys {
        assert_eq!(
            license_key::normalize(&case.input),
            case.normalized,
            "{:?}",
            case.input
        );
    }
}

#[test]
fn version_vectors_both_ways() {
    let file = rules_file();
    assert!(!file.versions.is_empty());
    for case in &file.versions {
        let expected = case.cmp.cmp(&0);
        assert_eq!(
            version::compare(&case.a, &case.b),
            Ok(expected),
            "{} vs {}",
            case.a,
            case.b
        );
        assert_eq!(
            version::compare(&case.b, &case.a),
            Ok(expected.reverse()),
            "{} vs {}",
            case.b,
            case.a
        );
        assert_eq!(version::compare(&case.a, &case.a), Ok(Ordering::Equal));
    }
}

#[test]
fn expiry_vectors() {
    let file = rules_file();
    assert!(!file.expiry.is_empty());
    for case in &file.expiry {
        let activation = parse_date(&case.activation_date).unwrap();
        let expiry = PlanDuration::Months(case.months).expiry(activation);
        assert_eq!(
            expiry,
            Some(parse_date(&case.expiry_date).unwrap()),
            "{} + {} months",
            case.activation_date,
            case.months
        );
        assert_eq!(
            skyline_protocol::dates::format_date(expiry.unwrap()),
            case.expiry_date
        );
    }
}
