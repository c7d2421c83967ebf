//! `get-feature-toggles`: the product's toggles, overridden by the plan's,
//! overridden by the license's. Served from the [`ToggleCache`](crate::toggle_cache::ToggleCache)
//! while fresh.

use std::sync::Arc;
use std::time::Instant;

use skyline_protocol::{msgpack, Request, Status};

use super::{session_license, Reply};
use crate::i18n::{self, Message};
use crate::rpc::{ConnectionState, Shared};

pub(super) async fn handle(shared: &Shared, state: &ConnectionState, request: Request) -> Reply {
    // `d` is nil or a map; its keys are ignored (forward compatibility).
    if let Err(e) = request.payload() {
        return Reply::bad_request(request.q, &e, state.language);
    }
    let Some(license) = session_license(state) else {
        let text = i18n::message(&Message::InvalidSession, state.language);
        return Reply::error(request.q, Status::InvalidSession, text);
    };
    let now = Instant::now();
    if let Some(encoded) = shared.toggle_cache.get(license.license_id, now) {
        return Reply::ok_encoded(request.q, encoded);
    }
    match shared
        .services
        .store
        .feature_toggles(license.license_id)
        .await
    {
        Ok(toggles) => {
            let encoded: Arc<[u8]> = msgpack::encode(&toggles.to_value()).into();
            shared
                .toggle_cache
                .put(license.license_id, now, encoded.clone());
            Reply::ok_encoded(request.q, encoded)
        }
        Err(e) => Reply::internal(request.q, &e, state.language),
    }
}
