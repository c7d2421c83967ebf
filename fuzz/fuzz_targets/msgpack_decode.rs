//! The bounded MessagePack decoder on arbitrary bytes: it must never panic,
//! and whatever it accepts must survive encode → decode unchanged (compared
//! as bytes, so NaN payloads and float widths are checked too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyline_protocol::msgpack;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = msgpack::decode(data) else {
        return;
    };
    let canonical = msgpack::encode(&value);
    let again = msgpack::decode(&canonical).expect("our own encoding must decode");
    assert_eq!(msgpack::encode(&again), canonical);
});
