//! The typed method payloads and results on arbitrary decoded values: never a
//! panic, and whatever they accept survives to_value → from_value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyline_protocol::methods::{
    FeatureToggles, StartSessionRequest, StartSessionResult, TelemetryEvent,
};
use skyline_protocol::msgpack;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = msgpack::decode(data) else {
        return;
    };
    if let Ok(request) = StartSessionRequest::from_payload(Some(&value)) {
        assert_eq!(
            StartSessionRequest::from_payload(Some(&request.to_value())),
            Ok(request.clone())
        );
        let _ = request.language();
        let _ = skyline_protocol::license_key::normalize(&request.license_key);
        let _ = skyline_protocol::version::Version::parse(&request.product_version);
    }
    if let Ok(event) = TelemetryEvent::from_payload(Some(&value)) {
        let again = TelemetryEvent::from_payload(Some(&event.to_value())).expect("re-reads");
        assert_eq!(
            msgpack::encode(&again.to_value()),
            msgpack::encode(&event.to_value())
        );
    }
    if let Ok(result) = StartSessionResult::from_value(&value) {
        assert_eq!(
            StartSessionResult::from_value(&result.to_value()),
            Ok(result.clone())
        );
    }
    if let Ok(toggles) = FeatureToggles::from_value(&value) {
        let again = FeatureToggles::from_value(&toggles.to_value()).expect("re-reads");
        assert_eq!(
            msgpack::encode(&again.to_value()),
            msgpack::encode(&toggles.to_value())
        );
    }
});
