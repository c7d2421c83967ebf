//! `send-telemetry-event`: one analytics event, acknowledged only once it is
//! committed to storage.

use skyline_protocol::methods::TelemetryEvent;
use skyline_protocol::{Request, Status, Value};

use super::{session_license, Reply};
use crate::domain::TelemetryRecord;
use crate::i18n::{self, Message};
use crate::rpc::{ConnectionState, Shared};

pub(super) async fn handle(shared: &Shared, state: &ConnectionState, request: Request) -> Reply {
    let payload = match request.payload() {
        Ok(p) => p,
        Err(e) => return Reply::bad_request(request.q, &e, state.language),
    };
    let event = match TelemetryEvent::from_payload(payload.as_ref()) {
        Ok(event) => event,
        Err(e) => return Reply::bad_request(request.q, &e, state.language),
    };
    let Some(license) = session_license(state) else {
        let text = i18n::message(&Message::InvalidSession, state.language);
        return Reply::error(request.q, Status::InvalidSession, text);
    };
    let record = TelemetryRecord {
        license_id: license.license_id,
        product_id: license.product_id.clone(),
        event: event.event,
        data: event.data.as_ref().map(crate::store::json_from_msgpack),
        client_time: request.t,
        received_at: shared.services.clock.now_unix(),
        event_id: event.event_id,
    };
    match shared.services.store.record_telemetry(record).await {
        Ok(()) => Reply::ok(request.q, Value::Nil),
        Err(e) => Reply::internal(request.q, &e, state.language),
    }
}
