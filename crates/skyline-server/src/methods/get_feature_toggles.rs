//! `get-feature-toggles`: the product's toggles, overridden by the plan's,
//! overridden by the license's.

use skyline_protocol::{Request, Status};

use super::{session_license, Reply};
use crate::connection::ConnectionState;
use crate::i18n::{self, Message};
use crate::server::Shared;

pub(super) async fn handle(shared: &Shared, state: &ConnectionState, request: Request) -> Reply {
    // `d` is nil or a map; its keys are ignored (forward compatibility).
    if let Err(e) = request.payload() {
        return Reply::bad_request(request.q, &e, state.language);
    }
    let Some(license) = session_license(state) else {
        let text = i18n::message(&Message::InvalidSession, state.language);
        return Reply::error(request.q, Status::InvalidSession, text);
    };
    match shared
        .services
        .store
        .feature_toggles(license.license_id)
        .await
    {
        Ok(toggles) => Reply::ok(request.q, toggles.to_value()),
        Err(e) => Reply::internal(request.q, &e, state.language),
    }
}
