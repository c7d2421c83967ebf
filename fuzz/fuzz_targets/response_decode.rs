//! Response envelopes on arbitrary plaintexts (what a client reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyline_protocol::methods::{FeatureToggles, StartSessionResult};
use skyline_protocol::Response;

fuzz_target!(|data: &[u8]| {
    let Ok(response) = Response::decode(data) else {
        return;
    };
    let encoded = response.encode();
    let again = Response::decode(&encoded).expect("our own encoding must decode");
    assert_eq!(again.encode(), encoded);
    assert_eq!(
        (again.q, again.status, &again.e),
        (response.q, response.status, &response.e)
    );
    let _ = StartSessionResult::from_value(&response.result);
    let _ = FeatureToggles::from_value(&response.result);
});
