//! The typed methods of PROTOCOL.md section 6 on [`Client`]: `start-session`,
//! `get-feature-toggles`, `send-telemetry-event`.

use skyline_protocol::methods::{
    FeatureToggles, StartSessionRequest, StartSessionResult, TelemetryEvent, GET_FEATURE_TOGGLES,
    SEND_TELEMETRY_EVENT, START_SESSION,
};
use skyline_protocol::Value;

use crate::client::Client;
use crate::error::ClientError;

/// The outcome of a successful [`Client::start_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSession {
    /// The server's answer: activation and expiry dates, plan, session token.
    pub result: StartSessionResult,
    /// The `t` this `start-session` was sent with. **The app must persist it**
    /// and send it as `lastLoginReportedByClient` in the next `start-session`
    /// from this device: the server checks it against its record (a mismatch is
    /// `INTEGRITY_BREACH` code `LL`). Persist it only after an OK, as here; keep
    /// the previous value after any error.
    pub last_login_to_persist: i64,
}

impl Client {
    /// Sends `start-session` (`q = 0`, `s = nil`, `t` = now from the configured
    /// clock) and keeps the session token for every later request.
    ///
    /// On success, persist [`StartSession::last_login_to_persist`]. Every
    /// non-OK status is [`ClientError::Rpc`], after which the server closes
    /// the connection: reconnect to try again.
    pub async fn start_session(
        &mut self,
        request: StartSessionRequest,
    ) -> Result<StartSession, ClientError> {
        self.check_usable()?;
        if !self.pending.is_empty() {
            return Err(ClientError::InvalidState(
                "pipelined responses are outstanding; read them with read_response first",
            ));
        }
        let limit = self.config().request_timeout();
        let outcome = tokio::time::timeout(limit, self.start_session_now(request)).await;
        self.settle(outcome, limit)
    }

    async fn start_session_now(
        &mut self,
        request: StartSessionRequest,
    ) -> Result<StartSession, ClientError> {
        let t = self.config().now();
        self.send_request_stamped(START_SESSION, request.to_value(), t)
            .await?;
        let (sent, result) = self.read_response_now().await?;
        let result = StartSessionResult::from_value(&result)
            .map_err(|e| ClientError::Protocol(format!("start-session result: {e}")))?;
        Ok(StartSession {
            result,
            last_login_to_persist: sent.t,
        })
    }

    /// `get-feature-toggles`: the product's remote configuration, layered
    /// product → plan → license by the server.
    pub async fn get_feature_toggles(&mut self) -> Result<FeatureToggles, ClientError> {
        let result = self.call(GET_FEATURE_TOGGLES, Value::Nil).await?;
        FeatureToggles::from_value(&result)
            .map_err(|e| ClientError::Protocol(format!("get-feature-toggles result: {e}")))
    }

    /// `send-telemetry-event`: `Ok(())` means the server stored the event durably.
    pub async fn send_telemetry_event(&mut self, event: TelemetryEvent) -> Result<(), ClientError> {
        self.call(SEND_TELEMETRY_EVENT, event.to_value()).await?;
        Ok(())
    }
}
