//! `start-session`: activates or validates a license key for a device
//! (PROTOCOL.md section 6). The decision is the domain's
//! ([`StartSession`]), made in one storage transaction; this file builds the
//! command from the request and turns its outcome into a reply.

use std::time::Instant;

use skyline_protocol::methods::StartSessionRequest;
use skyline_protocol::{license_key, IntegrityCode, Request, Status};

use super::Reply;
use crate::domain::start_session::{Refusal, StartSession, StartSessionOutcome};
use crate::domain::{Actor, AuditAction, DeviceKey};
use crate::i18n::{self, Message};
use crate::limits::{address_key, Limit};
use crate::rpc::{ConnectionState, SessionLicense, Shared};

/// A session token: 64 random bits printed `xxxxxxxx-xxxxxxxx`.
fn new_session_token() -> Option<String> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    let hex = hex::encode(bytes);
    Some(format!("{}-{}", &hex[..8], &hex[8..]))
}

/// The localized message of a refusal.
fn refusal_message(refusal: &Refusal) -> Message<'_> {
    match refusal {
        Refusal::UnknownProduct => Message::UnknownProduct,
        Refusal::OutdatedVersion { minimum } => Message::OutdatedVersion(minimum),
        Refusal::InvalidLicenseKey => Message::InvalidLicenseKey,
        Refusal::LicenseRevoked => Message::LicenseRevoked,
        Refusal::LicenseExpired { expiry } => Message::LicenseExpired(*expiry),
        Refusal::KeyBoundToAnotherDevice { first_bound } => {
            Message::KeyBoundToAnotherDevice(*first_bound)
        }
        Refusal::IntegrityBreachLastLogin => Message::IntegrityBreach(IntegrityCode::LastLogin),
        Refusal::RateLimited => Message::RateLimited,
    }
}

pub(super) async fn handle(
    shared: &Shared,
    state: &mut ConnectionState,
    request: Request,
) -> (Reply, Option<String>) {
    let q = request.q;
    let payload = match request.payload() {
        Ok(p) => p,
        Err(e) => return (Reply::bad_request(q, &e, state.language), None),
    };
    let start = match StartSessionRequest::from_payload(payload.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            // Write the error in the requested language where it can be read.
            if let Some(lang) = payload
                .as_ref()
                .and_then(skyline_protocol::msgpack::MapView::of)
                .and_then(|m| m.opt_str("language").ok().flatten())
            {
                state.language = skyline_protocol::methods::Language::parse(lang);
            }
            return (Reply::bad_request(q, &e, state.language), None);
        }
    };
    state.language = start.language();
    let language = state.language;
    // The failed-key token is taken before the lookup, atomically, so that
    // concurrent wrong keys cannot all pass one check; it is given back
    // unless the key turns out wrong. Over the limit, the domain still lets
    // a device already bound to the key in.
    let now = Instant::now();
    let address = address_key(state.client);
    let took_token = shared.failed_key_limiter.try_acquire(address, now);
    let give_back = || {
        if took_token {
            shared.failed_key_limiter.refund(address, now);
        }
    };
    let Some(token) = new_session_token() else {
        give_back();
        let text = i18n::message(&Message::InternalError, language);
        return (Reply::error(q, Status::InternalError, text), None);
    };
    let store = &shared.services.store;
    let command = StartSession {
        license_digest: license_key::normalize(&start.license_key)
            .map(|key| store.license_index().digest(&key)),
        product_id: start.product_id,
        product_version: start.product_version,
        device: DeviceKey {
            serial_number: start.device_serial_number,
            cs_product_uuid: start.cs_product_uuid,
        },
        last_login_reported_by_client: start.last_login_reported_by_client,
        client_time: request.t,
        session_token: token.clone(),
        over_failed_key_limit: !took_token,
    };
    let product_id = command.product_id.clone();
    let by = Actor {
        name: state.client.to_string(),
        at: shared.services.clock.now_unix(),
    };
    match store.execute(command, &by).await {
        Ok(StartSessionOutcome::Ok { result, license_id }) => {
            give_back();
            state.license = Some(SessionLicense {
                license_id,
                product_id,
            });
            (Reply::ok(q, result.to_value()), Some(token))
        }
        Ok(StartSessionOutcome::Refused(refusal)) => {
            match refusal {
                // The token taken stays taken: this is a failed key.
                Refusal::InvalidLicenseKey => shared
                    .security
                    .record(AuditAction::InvalidLicenseKeys, state.client),
                Refusal::RateLimited => {
                    shared.services.refusals.count(Limit::FailedKeys);
                    tracing::info!(client = %state.client, "failed license key limit exceeded");
                }
                _ => give_back(),
            }
            if refusal == Refusal::IntegrityBreachLastLogin {
                tracing::warn!(client = %state.client, "start-session refused: last-login integrity breach");
            }
            let status = refusal.status();
            tracing::info!(client = %state.client, %status, "start-session refused");
            let text = i18n::message(&refusal_message(&refusal), language);
            (Reply::error(q, status, text), None)
        }
        Err(e) => {
            give_back();
            (Reply::internal(q, &e, language), None)
        }
    }
}
