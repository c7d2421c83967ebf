//! The server's per-connection request rules (PROTOCOL.md section 5, rules 1
//! to 6) as a state machine: each decrypted plaintext goes in, and out comes
//! either a request to dispatch or a refusal with the status to answer and
//! whether to close.

use crate::envelope::Request;
use crate::methods::START_SESSION;
use crate::status::{CloseCode, IntegrityCode, Status};

/// What to do with one incoming request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Run the method. After `start-session`, report its outcome with
    /// [`ServerSequencer::start_session_finished`] before the next request.
    Dispatch(Request),
    /// Answer with a refusal and maybe close.
    Refuse(Refusal),
}

/// A request refused by the envelope or sequence rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `q` to answer with (nil when it could not be read).
    pub q: Option<u64>,
    /// The status to answer.
    pub status: Status,
    /// The code for an `INTEGRITY_BREACH`.
    pub integrity: Option<IntegrityCode>,
    /// Details for the log and, for `BAD_REQUEST`, for the message.
    pub detail: String,
    /// Close the connection with this code after answering.
    pub close: Option<CloseCode>,
}

#[derive(Debug)]
enum Phase {
    /// No request yet.
    AwaitingStartSession,
    /// `start-session` dispatched, outcome not yet reported.
    StartingSession,
    /// A session is open under `token`; `last_q` was the previous request's `q`.
    Established { token: String, last_q: u64 },
    /// The connection must close; nothing more is accepted.
    Closed,
}

/// The per-connection state of rules 1 to 6.
#[derive(Debug)]
pub struct ServerSequencer {
    phase: Phase,
}

impl Default for ServerSequencer {
    fn default() -> Self {
        ServerSequencer::new()
    }
}

impl ServerSequencer {
    /// A connection that has just finished its handshake.
    pub fn new() -> Self {
        ServerSequencer {
            phase: Phase::AwaitingStartSession,
        }
    }

    /// Whether a session token has been issued on this connection.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established { .. })
    }

    /// Applies rules 3, 1, 2, 4 and 6 to one decrypted plaintext.
    pub fn on_request(&mut self, plaintext: &[u8]) -> Verdict {
        let request = match Request::decode(plaintext) {
            Ok(r) => r,
            Err(e) => {
                self.phase = Phase::Closed;
                return refuse(
                    e.q,
                    Status::BadRequest,
                    None,
                    e.reason,
                    CloseCode::INVALID_PAYLOAD,
                );
            }
        };
        match &mut self.phase {
            Phase::AwaitingStartSession => {
                if request.q != 0 {
                    self.phase = Phase::Closed;
                    return sequence_breach(request.q, "the first request must have q = 0");
                }
                if request.r != START_SESSION {
                    self.phase = Phase::Closed;
                    let detail = format!("first request is `{}`", request.r);
                    return refuse(
                        Some(0),
                        Status::SessionRequired,
                        None,
                        detail,
                        CloseCode::POLICY_VIOLATION,
                    );
                }
                self.phase = Phase::StartingSession;
                Verdict::Dispatch(request)
            }
            Phase::Established { token, last_q } => {
                if last_q.checked_add(1) != Some(request.q) {
                    let detail = format!("q = {} after q = {}", request.q, last_q);
                    self.phase = Phase::Closed;
                    return sequence_breach(request.q, &detail);
                }
                *last_q = request.q;
                let token_matches = request
                    .s
                    .as_deref()
                    .is_some_and(|s| constant_time_eq(s.as_bytes(), token.as_bytes()));
                if !token_matches {
                    self.phase = Phase::Closed;
                    return refuse(
                        Some(request.q),
                        Status::InvalidSession,
                        None,
                        "session token does not match".into(),
                        CloseCode::POLICY_VIOLATION,
                    );
                }
                if request.r == START_SESSION {
                    return Verdict::Refuse(Refusal {
                        q: Some(request.q),
                        status: Status::BadRequest,
                        integrity: None,
                        detail: "start-session is only allowed as the first request".into(),
                        close: None,
                    });
                }
                Verdict::Dispatch(request)
            }
            Phase::StartingSession | Phase::Closed => {
                // The server reports start-session's outcome before reading the
                // next request, and stops reading after a close; reaching this
                // means the caller broke that contract. Refuse and close.
                self.phase = Phase::Closed;
                refuse(
                    Some(request.q),
                    Status::InvalidSession,
                    None,
                    "no open session on this connection".into(),
                    CloseCode::POLICY_VIOLATION,
                )
            }
        }
    }

    /// Reports the outcome of the dispatched `start-session`: the issued token
    /// on `OK`, or `None`, after which the connection closes with 1000 (rule 5).
    pub fn start_session_finished(&mut self, token: Option<String>) -> Option<CloseCode> {
        match token {
            Some(token) => {
                self.phase = Phase::Established { token, last_q: 0 };
                None
            }
            None => {
                self.phase = Phase::Closed;
                Some(CloseCode::NORMAL)
            }
        }
    }
}

fn refuse(
    q: Option<u64>,
    status: Status,
    integrity: Option<IntegrityCode>,
    detail: String,
    close: CloseCode,
) -> Verdict {
    Verdict::Refuse(Refusal {
        q,
        status,
        integrity,
        detail,
        close: Some(close),
    })
}

fn sequence_breach(q: u64, detail: &str) -> Verdict {
    refuse(
        Some(q),
        Status::IntegrityBreach,
        Some(IntegrityCode::Sequence),
        detail.to_owned(),
        CloseCode::POLICY_VIOLATION,
    )
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn request(q: u64, r: &str, s: Option<&str>) -> Vec<u8> {
        Request {
            q,
            t: 1,
            r: r.into(),
            s: s.map(str::to_owned),
            d: Value::Nil,
        }
        .encode()
    }

    fn refusal(v: Verdict) -> Refusal {
        match v {
            Verdict::Refuse(r) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn established() -> ServerSequencer {
        let mut seq = ServerSequencer::new();
        assert!(matches!(
            seq.on_request(&request(0, START_SESSION, None)),
            Verdict::Dispatch(_)
        ));
        assert_eq!(seq.start_session_finished(Some("aaaa-bbbb".into())), None);
        seq
    }

    #[test]
    fn first_request_must_be_start_session_at_q0() {
        let r =
            refusal(ServerSequencer::new().on_request(&request(0, "get-feature-toggles", None)));
        assert_eq!(r.status, Status::SessionRequired);
        assert_eq!(r.close, Some(CloseCode::POLICY_VIOLATION));
        let r = refusal(ServerSequencer::new().on_request(&request(1, START_SESSION, None)));
        assert_eq!(r.status, Status::IntegrityBreach);
        assert_eq!(r.integrity, Some(IntegrityCode::Sequence));
    }

    #[test]
    fn envelope_check_comes_first() {
        let r = refusal(ServerSequencer::new().on_request(&[0x80]));
        assert_eq!(r.status, Status::BadRequest);
        assert_eq!(r.q, None);
        assert_eq!(r.close, Some(CloseCode::INVALID_PAYLOAD));
    }

    #[test]
    fn sequence_and_token_rules() {
        let mut seq = established();
        assert!(matches!(
            seq.on_request(&request(1, "m", Some("aaaa-bbbb"))),
            Verdict::Dispatch(_)
        ));
        let r = refusal(seq.on_request(&request(2, START_SESSION, Some("aaaa-bbbb"))));
        assert_eq!((r.status, r.close), (Status::BadRequest, None));
        let r = refusal(seq.on_request(&request(2, "m", Some("aaaa-bbbb"))));
        assert_eq!(r.integrity, Some(IntegrityCode::Sequence));

        let mut seq = established();
        let r = refusal(seq.on_request(&request(1, "m", Some("aaaa-bbbc"))));
        assert_eq!(r.status, Status::InvalidSession);
        let mut seq = established();
        let r = refusal(seq.on_request(&request(1, "m", None)));
        assert_eq!(r.status, Status::InvalidSession);
    }

    #[test]
    fn failed_start_session_closes_normally() {
        let mut seq = ServerSequencer::new();
        seq.on_request(&request(0, START_SESSION, None));
        assert_eq!(seq.start_session_finished(None), Some(CloseCode::NORMAL));
        assert!(!seq.is_established());
    }
}
