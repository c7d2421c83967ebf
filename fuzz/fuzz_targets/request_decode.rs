//! Request envelopes and the server's sequence rules on arbitrary plaintexts,
//! both on a fresh connection and on one with an open session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyline_protocol::methods::{StartSessionRequest, TelemetryEvent, START_SESSION};
use skyline_protocol::{msgpack, Request, ServerSequencer, Value, Verdict};

const TOKEN: &str = "71ee0979-ea57b170";

fn established() -> ServerSequencer {
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
    assert_eq!(seq.start_session_finished(Some(TOKEN.into())), None);
    seq
}

fuzz_target!(|data: &[u8]| {
    let decoded = Request::decode(data);
    if let Ok(request) = &decoded {
        // Re-encoding is a fixed point (compared as bytes: `d` may hold NaN).
        let encoded = request.encode();
        let again = Request::decode(&encoded).expect("our own encoding must decode");
        assert_eq!(again.encode(), encoded);
        if let Ok(payload) = request.payload() {
            let _ = StartSessionRequest::from_payload(payload.as_ref());
            let _ = TelemetryEvent::from_payload(payload.as_ref());
        }
    }

    let verdict = ServerSequencer::new().on_request(data);
    match (&decoded, &verdict) {
        (Err(_), Verdict::Refuse(r)) => assert!(r.close.is_some()),
        (Err(_), Verdict::Dispatch(_)) => panic!("a malformed envelope was dispatched"),
        (Ok(req), Verdict::Dispatch(d)) => {
            assert_eq!((req.q, req.r.as_str()), (0, START_SESSION));
            assert_eq!(msgpack::encode(&d.d), msgpack::encode(&req.d));
        }
        (Ok(_), Verdict::Refuse(r)) => assert!(r.close.is_some()),
    }

    let mut seq = established();
    if let (Err(_), Verdict::Dispatch(_)) = (&decoded, seq.on_request(data)) {
        panic!("a malformed envelope was dispatched");
    }
});
