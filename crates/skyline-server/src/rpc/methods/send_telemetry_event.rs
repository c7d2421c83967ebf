//! `send-telemetry-event`: one analytics event, acknowledged only once it is
//! committed to storage, within the limits of
//! [`TelemetryGuard`](crate::telemetry_guard::TelemetryGuard): an event too
//! large once stored is `BAD_REQUEST` naming `data`; over a license's quota,
//! with the commit queue full or the disk low, `RATE_LIMITED` (the
//! connection stays open).

use std::time::Instant;

use skyline_protocol::methods::TelemetryEvent;
use skyline_protocol::msgpack::{FieldError, FieldProblem};
use skyline_protocol::{Request, Status, Value};

use super::{session_license, Reply};
use crate::domain::TelemetryRecord;
use crate::i18n::{self, Message};
use crate::limits::Limit;
use crate::rpc::{ConnectionState, Shared};
use crate::telemetry_guard::{json_len, TelemetryRefusal};

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
    let data = event.data.as_ref().map(crate::store::json_from_msgpack);
    let stored = event.event.len() + data.as_ref().map_or(0, json_len);
    let refusals = &shared.services.refusals;
    let queued = match shared
        .telemetry
        .admit(license.license_id, stored, Instant::now())
    {
        Ok(queued) => queued,
        Err(TelemetryRefusal::TooLarge { stored, max }) => {
            refusals.count(Limit::TelemetryEventSize);
            let error = FieldError::new(
                "data",
                FieldProblem::Invalid(format!(
                    "the event is {stored} bytes once stored; at most {max} are taken"
                )),
            );
            return Reply::bad_request(request.q, &error, state.language);
        }
        Err(TelemetryRefusal::Limited(limit)) => {
            refusals.count(limit);
            tracing::debug!(
                license = license.license_id,
                limit = limit.name(),
                "telemetry refused"
            );
            let text = i18n::message(&Message::RateLimited, state.language);
            return Reply::error(request.q, Status::RateLimited, text);
        }
    };
    let record = TelemetryRecord {
        license_id: license.license_id,
        product_id: license.product_id.clone(),
        event: event.event,
        data,
        client_time: request.t,
        received_at: shared.services.clock.now_unix(),
        event_id: event.event_id,
    };
    let stored = shared.services.store.record_telemetry(record).await;
    drop(queued);
    match stored {
        Ok(()) => Reply::ok(request.q, Value::Nil),
        Err(e) => Reply::internal(request.q, &e, state.language),
    }
}
