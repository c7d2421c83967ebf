//! What one connection costs the server and the client: the handshake on each
//! side, sealing and opening frames, and the request/response envelopes.
//!
//! Run: `cargo bench -p skyline-protocol --bench protocol`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use skyline_protocol::methods::{
    FeatureToggles, StartSessionRequest, ToggleValue, GET_FEATURE_TOGGLES, START_SESSION,
};
use skyline_protocol::{
    ClientHandshake, IdentityKeyPair, Request, Response, ServerHandshake, ServerSequencer, Session,
    SessionKey, Value,
};

const TOKEN: &str = "71ee0979-ea57b170";

fn handshake(c: &mut Criterion) {
    let identity = IdentityKeyPair::from_seed(&[0x5a; 32]).unwrap();
    let pinned = identity.public();
    let (_, hello) = ClientHandshake::start().unwrap();

    let mut group = c.benchmark_group("handshake");
    group.bench_function("server respond", |b| {
        b.iter(|| ServerHandshake::respond(&identity, black_box(&hello)).unwrap())
    });
    group.bench_function("client start", |b| {
        b.iter(|| ClientHandshake::start().unwrap())
    });
    group.bench_function("client finish", |b| {
        b.iter_batched(
            || {
                let (client, hello) = ClientHandshake::start().unwrap();
                let reply = ServerHandshake::respond(&identity, &hello).unwrap().reply;
                (client, reply)
            },
            |(client, reply)| client.finish(&pinned, black_box(&reply)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("client start + finish", |b| {
        // The server's reply is made in the setup, for the hello made there;
        // the measured part redoes the client's start with the same fixed
        // key and nonce, then finishes.
        b.iter_batched(
            || {
                let (_, hello) = ClientHandshake::start_fixed(&[0x11; 32], [0x22; 32]);
                ServerHandshake::respond(&identity, &hello).unwrap().reply
            },
            |reply| {
                let (client, hello) = ClientHandshake::start_fixed(&[0x11; 32], [0x22; 32]);
                black_box(hello);
                client.finish(&pinned, black_box(&reply)).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    let session = Session::from_session_key(&SessionKey::from_bytes([0x42; 32]));
    let mut group = c.benchmark_group("frame");
    for (label, size) in [("200 B", 200usize), ("16 KiB", 16 * 1024)] {
        let plaintext = vec![0xa5u8; size];
        let frame = session.seal(&plaintext).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("seal {label}"), |b| {
            b.iter(|| session.seal(black_box(&plaintext)).unwrap())
        });
        group.bench_function(format!("open {label}"), |b| {
            b.iter(|| session.open(black_box(&frame)).unwrap())
        });
        group.bench_function(format!("seal + open {label}"), |b| {
            b.iter(|| {
                let frame = session.seal(black_box(&plaintext)).unwrap();
                session.open(&frame).unwrap()
            })
        });
    }
    group.finish();
}

fn toggles_request() -> Request {
    Request {
        q: 1,
        t: 1_765_529_210,
        r: GET_FEATURE_TOGGLES.into(),
        s: Some(TOKEN.into()),
        d: Value::Nil,
    }
}

fn start_session_request() -> Request {
    let payload = StartSessionRequest {
        product_id: "telepower".into(),
        product_version: "7.0.3".into(),
        language: Some("russian".into()),
        last_login_reported_by_client: Some(1_765_529_203),
        device_serial_number: "ADTFBB4112800098".into(),
        cs_product_uuid: "20240113-E0C2-646E-FDB1-E0C2646EFDB5".into(),
        license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
    };
    Request {
        q: 0,
        t: 1_765_529_203,
        r: START_SESSION.into(),
        s: None,
        d: payload.to_value(),
    }
}

fn envelopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for (label, request) in [
        ("get-feature-toggles", toggles_request()),
        ("start-session", start_session_request()),
    ] {
        let bytes = request.encode();
        group.bench_function(format!("request encode {label}"), |b| {
            b.iter(|| black_box(&request).encode())
        });
        group.bench_function(format!("request decode {label}"), |b| {
            b.iter(|| Request::decode(black_box(&bytes)).unwrap())
        });
        group.bench_function(format!("request encode + decode {label}"), |b| {
            b.iter(|| Request::decode(&black_box(&request).encode()).unwrap())
        });
    }
    group.bench_function("start-session payload from_payload", |b| {
        let request = start_session_request();
        b.iter(|| StartSessionRequest::from_payload(Some(black_box(&request.d))).unwrap())
    });

    let toggles = FeatureToggles(vec![
        (
            "engine.limits.inviteToChannel.dailyLimit".into(),
            ToggleValue::Int(500),
        ),
        (
            "engine.limits.sendMessage.dailyLimit".into(),
            ToggleValue::Int(150),
        ),
        ("ui.newInbox".into(), ToggleValue::Bool(true)),
        ("engine.retry.backoff".into(), ToggleValue::Float(1.5)),
        ("ui.banner".into(), ToggleValue::String("Welcome".into())),
    ]);
    group.bench_function("response encode toggles", |b| {
        b.iter(|| Response::ok(1, black_box(&toggles).to_value()).encode())
    });
    group.bench_function("sequencer on_request toggles", |b| {
        let bytes = toggles_request().encode();
        b.iter_batched(
            || {
                let mut seq = ServerSequencer::new();
                seq.on_request(&start_session_request().encode());
                seq.start_session_finished(Some(TOKEN.into()));
                seq
            },
            |mut seq| seq.on_request(black_box(&bytes)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, handshake, frames, envelopes);
criterion_main!(benches);
