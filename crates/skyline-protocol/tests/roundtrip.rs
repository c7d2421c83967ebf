//! Property tests: every encoder and decoder pair round-trips, our encoder's
//! output is a fixed point of decode → encode, the decoders never panic, and
//! the rule helpers behave as orderings and normalizations should.

use std::cmp::Ordering;

use proptest::collection::vec;
use proptest::prelude::*;
use skyline_protocol::version::Version;
use skyline_protocol::{
    license_key, msgpack, ClientHello, Request, Response, ServerHello, Session, SessionKey, Status,
    Value,
};

/// Any MessagePack scalar, integers in every width and sign, floats in both
/// widths (`nan` decides whether NaN may appear: NaN != NaN defeats `==`).
fn scalar(nan: bool) -> BoxedStrategy<Value> {
    let f32s = if nan {
        prop::num::f32::ANY.boxed()
    } else {
        (prop::num::f32::ANY)
            .prop_filter("not NaN", |f| !f.is_nan())
            .boxed()
    };
    let f64s = if nan {
        prop::num::f64::ANY.boxed()
    } else {
        (prop::num::f64::ANY)
            .prop_filter("not NaN", |f| !f.is_nan())
            .boxed()
    };
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Boolean),
        any::<u8>().prop_map(Value::from),
        any::<u16>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i8>().prop_map(Value::from),
        any::<i16>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-40i64..300).prop_map(Value::from),
        f32s.prop_map(Value::F32),
        f64s.prop_map(Value::F64),
        ".{0,40}".prop_map(Value::from),
        "[a-z]{28,40}".prop_map(Value::from),
        vec(any::<u8>(), 0..80).prop_map(Value::Binary),
        (any::<i8>(), vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
    ]
    .boxed()
}

/// Nested arrays and maps of scalars; map keys are strings or any scalar.
fn value(nan: bool) -> BoxedStrategy<Value> {
    scalar(nan)
        .prop_recursive(5, 96, 10, move |inner| {
            let key = prop_oneof![3 => "[a-zA-Z._]{0,12}".prop_map(Value::from), 1 => scalar(nan)];
            prop_oneof![
                vec(inner.clone(), 0..10).prop_map(Value::Array),
                vec((key, inner), 0..10).prop_map(Value::Map),
            ]
        })
        .boxed()
}

/// A payload `d`: a map with string keys (as the protocol's are), nil, or a bin.
fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => vec(("[a-zA-Z]{1,24}".prop_map(Value::from), value(false)), 0..8).prop_map(Value::Map),
        1 => Just(Value::Nil),
        1 => vec(any::<u8>(), 0..40).prop_map(Value::Binary),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        any::<u64>(),
        any::<i64>(),
        ".{0,30}",
        proptest::option::of("[0-9a-f]{8}-[0-9a-f]{8}|.{0,20}"),
        payload(),
    )
        .prop_map(|(q, t, r, s, d)| Request { q, t, r, s, d })
}

fn response() -> impl Strategy<Value = Response> {
    (
        proptest::option::of(any::<u64>()),
        prop::sample::select(Status::ALL.to_vec()),
        proptest::option::of(".{0,60}"),
        value(false),
    )
        .prop_map(|(q, status, e, result)| Response {
            q,
            status,
            e,
            result,
        })
}

/// `n` in the given MessagePack integer marker, big-endian.
fn int_with_marker(marker: u8, width: usize, bits: u64) -> Vec<u8> {
    let mut out = vec![marker];
    out.extend_from_slice(&bits.to_be_bytes()[8 - width..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(request in request()) {
        prop_assert_eq!(Request::decode(&request.encode()), Ok(request));
    }

    #[test]
    fn responses_round_trip(response in response()) {
        prop_assert_eq!(Response::decode(&response.encode()), Ok(response));
    }

    #[test]
    fn values_round_trip(v in value(false)) {
        prop_assert_eq!(msgpack::decode(&msgpack::encode(&v)), Ok(v));
    }

    #[test]
    fn canonical_bytes_are_a_fixed_point(v in value(true)) {
        // Our encoder's output (NaN payloads included) decodes and re-encodes
        // to exactly the same bytes.
        let canonical = msgpack::encode(&v);
        let decoded = msgpack::decode(&canonical).unwrap();
        prop_assert_eq!(msgpack::encode(&decoded), canonical);
    }

    #[test]
    fn integers_of_every_width_read_the_same(n in any::<i64>()) {
        // "Integers may use any MessagePack integer width" (section 2).
        let expected = Value::from(n);
        let bits = n as u64;
        let mut forms = vec![msgpack::encode(&expected), int_with_marker(0xd3, 8, bits)];
        if let Ok(v) = i32::try_from(n) { forms.push(int_with_marker(0xd2, 4, v as u32 as u64)); }
        if let Ok(v) = i16::try_from(n) { forms.push(int_with_marker(0xd1, 2, v as u16 as u64)); }
        if let Ok(v) = i8::try_from(n) { forms.push(int_with_marker(0xd0, 1, v as u8 as u64)); }
        if n >= 0 {
            forms.push(int_with_marker(0xcf, 8, bits));
            if n <= i64::from(u32::MAX) { forms.push(int_with_marker(0xce, 4, bits)); }
            if n <= i64::from(u16::MAX) { forms.push(int_with_marker(0xcd, 2, bits)); }
            if n <= i64::from(u8::MAX) { forms.push(int_with_marker(0xcc, 1, bits)); }
        }
        for form in forms {
            prop_assert_eq!(msgpack::decode(&form), Ok(expected.clone()), "{:02x?}", form);
        }
    }

    #[test]
    fn hellos_round_trip(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 32]>(),
        signature in vec(any::<u8>(), 64),
    ) {
        let client = ClientHello { client_ecdh_public: key, nonce };
        prop_assert_eq!(ClientHello::decode(&client.encode()), Ok(client));
        let server = ServerHello {
            server_ecdh_public: key,
            signature: signature.try_into().unwrap(),
            server_nonce: nonce,
        };
        prop_assert_eq!(ServerHello::decode(&server.encode()), Ok(server));
    }

    #[test]
    fn seal_then_open_round_trips(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        plaintext in vec(any::<u8>(), 0..2048),
    ) {
        let session = Session::from_session_key(&SessionKey::from_bytes(key));
        let frame = session.seal(&plaintext).unwrap();
        prop_assert_eq!(frame.len(), plaintext.len() + 28);
        prop_assert_eq!(session.open(&frame).unwrap(), plaintext.clone());
        let fixed = session.seal_with_fixed_nonce(nonce, &plaintext);
        prop_assert_eq!(&fixed[..12], &nonce[..]);
        prop_assert_eq!(session.open(&fixed).unwrap(), plaintext);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = msgpack::decode(&bytes);
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let _ = ClientHello::decode(&bytes);
        let _ = ServerHello::decode(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_damaged_messages(
        v in value(true),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        mask in 1u8..,
    ) {
        let bytes = msgpack::encode(&v);
        let _ = msgpack::decode(&bytes[..cut.index(bytes.len() + 1)]);
        let mut flipped = bytes.clone();
        let at = flip.index(flipped.len());
        flipped[at] ^= mask;
        if let Ok(value) = msgpack::decode(&flipped) {
            // Whatever still decodes is a value we can encode and read back.
            let again = msgpack::encode(&value);
            prop_assert_eq!(msgpack::encode(&msgpack::decode(&again).unwrap()), again);
        }
        let _ = Request::decode(&flipped);
        let _ = Response::decode(&flipped);
    }

    #[test]
    fn license_key_normalize_is_idempotent(input in "[A-Za-z0-9 \t-]{0,40}|.{0,40}") {
        if let Some(normalized) = license_key::normalize(&input) {
            prop_assert_eq!(license_key::normalize(&normalized), Some(normalized.clone()));
            prop_assert_eq!(normalized.len(), 29);
            prop_assert!(normalized.bytes().all(|b| b == b'-' || b.is_ascii_digit() || b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn any_spelling_of_a_key_normalizes_to_it(
        chars in vec(prop::sample::select(license_key::ALPHABET.to_vec()), 25),
        separators in vec(prop::sample::select(vec!["", "-", " ", "--", " - "]), 25),
        lower in vec(any::<bool>(), 25),
    ) {
        let canonical = license_key::normalize(&String::from_utf8(chars.clone()).unwrap()).unwrap();
        let mut typed = String::new();
        for ((c, sep), lower) in chars.iter().zip(&separators).zip(&lower) {
            typed.push_str(sep);
            let c = *c as char;
            typed.push(if *lower { c.to_ascii_lowercase() } else { c });
        }
        prop_assert_eq!(license_key::normalize(&typed), Some(canonical));
    }

    #[test]
    fn version_ordering_is_consistent(
        a in vec(0u64..12, 1..5),
        b in vec(0u64..12, 1..5),
        c in vec(0u64..12, 1..5),
        zeros in 0usize..3,
    ) {
        let text = |parts: &[u64]| parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
        let (va, vb, vc) = (
            Version::parse(&text(&a)).unwrap(),
            Version::parse(&text(&b)).unwrap(),
            Version::parse(&text(&c)).unwrap(),
        );
        // Antisymmetric, and equality agrees with the ordering.
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        prop_assert_eq!(va == vb, va.cmp(&vb) == Ordering::Equal);
        prop_assert_eq!(va.cmp(&va), Ordering::Equal);
        // Transitive.
        if va <= vb && vb <= vc {
            prop_assert!(va <= vc, "{} <= {} <= {}", va, vb, vc);
        }
        if va < vb && vb < vc {
            prop_assert!(va < vc);
        }
        // Trailing zeros do not matter.
        let mut padded = a.clone();
        padded.extend(std::iter::repeat_n(0, zeros));
        if padded.len() <= skyline_protocol::version::MAX_COMPONENTS {
            prop_assert_eq!(Version::parse(&text(&padded)).unwrap(), va.clone());
        }
        // The ordering is the numeric one, component by component.
        let pad = |v: &[u64]| { let mut v = v.to_vec(); v.resize(8, 0); v };
        prop_assert_eq!(va.cmp(&vb), pad(&a).cmp(&pad(&b)));
    }
}
