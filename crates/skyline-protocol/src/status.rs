//! Statuses and close codes: PROTOCOL.md section 5, "Statuses", and section 1.

use std::fmt;

/// The `S` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok,
    /// Malformed `client-hello`.
    BadHandshake,
    /// Malformed envelope or payload.
    BadRequest,
    /// The first request is not `start-session`.
    SessionRequired,
    /// Wrong session token.
    InvalidSession,
    /// No such method.
    UnknownMethod,
    /// `productId` not known or disabled.
    UnknownProduct,
    /// `productVersion` older than the product's minimum supported version.
    OutdatedVersion,
    /// No such key for this product.
    InvalidLicenseKey,
    /// Key revoked or suspended by an operator.
    LicenseRevoked,
    /// Today (UTC) is after the expiry date.
    LicenseExpired,
    /// All device seats of the key are taken by other devices.
    KeyBoundToAnotherDevice,
    /// Tampering detected; the message carries an [`IntegrityCode`].
    IntegrityBreach,
    /// Too many requests or attempts.
    RateLimited,
    /// Server fault; nothing was changed.
    InternalError,
}

impl Status {
    /// Every status, in the order of PROTOCOL.md's table.
    pub const ALL: [Status; 15] = [
        Status::Ok,
        Status::BadHandshake,
        Status::BadRequest,
        Status::SessionRequired,
        Status::InvalidSession,
        Status::UnknownMethod,
        Status::UnknownProduct,
        Status::OutdatedVersion,
        Status::InvalidLicenseKey,
        Status::LicenseRevoked,
        Status::LicenseExpired,
        Status::KeyBoundToAnotherDevice,
        Status::IntegrityBreach,
        Status::RateLimited,
        Status::InternalError,
    ];

    /// The wire spelling, e.g. `KEY_BOUND_TO_ANOTHER_DEVICE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadHandshake => "BAD_HANDSHAKE",
            Status::BadRequest => "BAD_REQUEST",
            Status::SessionRequired => "SESSION_REQUIRED",
            Status::InvalidSession => "INVALID_SESSION",
            Status::UnknownMethod => "UNKNOWN_METHOD",
            Status::UnknownProduct => "UNKNOWN_PRODUCT",
            Status::OutdatedVersion => "OUTDATED_VERSION",
            Status::InvalidLicenseKey => "INVALID_LICENSE_KEY",
            Status::LicenseRevoked => "LICENSE_REVOKED",
            Status::LicenseExpired => "LICENSE_EXPIRED",
            Status::KeyBoundToAnotherDevice => "KEY_BOUND_TO_ANOTHER_DEVICE",
            Status::IntegrityBreach => "INTEGRITY_BREACH",
            Status::RateLimited => "RATE_LIMITED",
            Status::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Parses the wire spelling; `None` for a status this version does not know.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code an `INTEGRITY_BREACH` message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityCode {
    /// `LL`: the client's last login does not match the server's record.
    LastLogin,
    /// `SQ`: a sequence number out of order.
    Sequence,
}

impl IntegrityCode {
    /// The two-letter code, `LL` or `SQ`.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrityCode::LastLogin => "LL",
            IntegrityCode::Sequence => "SQ",
        }
    }

    /// Finds the code named at the end of an `INTEGRITY_BREACH` message.
    pub fn find_in(message: &str) -> Option<IntegrityCode> {
        let tail = message.trim_end().trim_end_matches('.');
        if tail.ends_with("LL") {
            Some(IntegrityCode::LastLogin)
        } else if tail.ends_with("SQ") {
            Some(IntegrityCode::Sequence)
        } else {
            None
        }
    }
}

impl fmt::Display for IntegrityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WebSocket close code (RFC 6455 section 7.4) as PROTOCOL.md uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure (idle timeout, a failed `start-session`).
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the server is shutting down.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error (bad handshake, a frame that fails authentication).
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a text frame.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: a plaintext that is not a request map.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation (sequence, session, handshake deadline).
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message larger than the configured maximum.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_its_spelling() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("NOPE"), None);
    }

    #[test]
    fn integrity_code_is_found_at_the_end_of_a_message() {
        let ru = "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в техническую поддержку с кодом: LL";
        assert_eq!(IntegrityCode::find_in(ru), Some(IntegrityCode::LastLogin));
        assert_eq!(
            IntegrityCode::find_in("Integrity breach, code: SQ."),
            Some(IntegrityCode::Sequence)
        );
        assert_eq!(IntegrityCode::find_in("nothing"), None);
    }
}
