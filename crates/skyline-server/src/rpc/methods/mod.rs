//! The RPC methods of PROTOCOL.md section 6, one file each, and the one place
//! that turns a method's outcome into a status, a localized message and a
//! close decision.

mod get_feature_toggles;
mod send_telemetry_event;
mod start_session;

use skyline_protocol::methods::{
    Language, GET_FEATURE_TOGGLES, SEND_TELEMETRY_EVENT, START_SESSION,
};
use skyline_protocol::msgpack::FieldError;
use skyline_protocol::{CloseCode, Refusal, Request, Response, Status};

use std::sync::Arc;

use crate::i18n::{self, Message};
use crate::rpc::{ConnectionState, SessionLicense, Shared};
use crate::store::StoreError;

/// What to send back for one request, and whether to close afterwards.
#[derive(Debug)]
pub(crate) struct Reply {
    pub response: Response,
    /// An `OK` result already encoded (from a cache); then `response.result`
    /// is nil and this is sent as `R`.
    pub encoded_result: Option<Arc<[u8]>>,
    pub close: Option<CloseCode>,
}

impl Reply {
    fn ok(q: u64, result: skyline_protocol::Value) -> Self {
        Reply {
            response: Response::ok(q, result),
            encoded_result: None,
            close: None,
        }
    }

    fn ok_encoded(q: u64, result: Arc<[u8]>) -> Self {
        Reply {
            response: Response::ok(q, skyline_protocol::Value::Nil),
            encoded_result: Some(result),
            close: None,
        }
    }

    pub(crate) fn refused(response: Response, close: Option<CloseCode>) -> Self {
        Reply {
            response,
            encoded_result: None,
            close,
        }
    }

    fn error(q: u64, status: Status, text: String) -> Self {
        Reply::refused(Response::error(Some(q), status, text), None)
    }

    /// The response plaintext.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match (&self.encoded_result, self.response.q) {
            (Some(result), Some(q)) => Response::encode_ok_with_encoded_result(q, result),
            _ => self.response.encode(),
        }
    }

    fn bad_request(q: u64, error: &FieldError, language: Language) -> Self {
        let detail = error.to_string();
        Reply::error(
            q,
            Status::BadRequest,
            i18n::message(&Message::BadRequest(&detail), language),
        )
    }

    fn internal(q: u64, error: &StoreError, language: Language) -> Self {
        tracing::error!(%error, "storage failed");
        Reply::error(
            q,
            Status::InternalError,
            i18n::message(&Message::InternalError, language),
        )
    }
}

/// Runs one dispatched request. For `start-session`, also returns the issued
/// session token on success.
pub(crate) async fn dispatch(
    shared: &Shared,
    state: &mut ConnectionState,
    request: Request,
) -> (Reply, Option<String>) {
    match request.r.as_str() {
        START_SESSION => start_session::handle(shared, state, request).await,
        GET_FEATURE_TOGGLES => (
            get_feature_toggles::handle(shared, state, request).await,
            None,
        ),
        SEND_TELEMETRY_EVENT => (
            send_telemetry_event::handle(shared, state, request).await,
            None,
        ),
        other => {
            let text = i18n::message(&Message::UnknownMethod(other), state.language);
            (Reply::error(request.q, Status::UnknownMethod, text), None)
        }
    }
}

/// The localized message for a refusal by the sequence rules.
pub(crate) fn refusal_message(refusal: &Refusal, language: Language) -> String {
    let what = match refusal.status {
        Status::SessionRequired => Message::SessionRequired,
        Status::InvalidSession => Message::InvalidSession,
        Status::BadRequest => Message::BadRequest(&refusal.detail),
        _ => Message::InternalError,
    };
    i18n::message(&what, language)
}

/// The session a non-`start-session` method runs in. The sequencer only
/// dispatches such methods after a successful `start-session`.
fn session_license(state: &ConnectionState) -> Option<&SessionLicense> {
    state.license.as_ref()
}
