//! [`AuditAction`]: every kind of audit entry, one closed enum, and the
//! texts of the entries decisions write.

use skyline_protocol::dates;

/// What an audit entry records. The stored spelling ([`AuditAction::as_str`])
/// is stable: it is what `skyline audit` and the admin API show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A device was bound to a key (a seat taken).
    DeviceBound,
    /// A key was activated for the first time.
    LicenseActivated,
    /// A last-login mismatch; the device is now locked.
    IntegrityBreach,
    /// A key was revoked.
    LicenseRevoked,
    /// A device binding was reset by an operator.
    DeviceReset,
    /// An operator set a key's expiry date.
    ExpirySet,
    /// Keys were created.
    LicensesCreated,
    /// A product was created.
    ProductCreated,
    /// A product's minimum version changed.
    ProductUpdated,
    /// A product was enabled.
    ProductEnabled,
    /// A product was disabled.
    ProductDisabled,
    /// A plan was created.
    PlanCreated,
    /// A toggle value was set.
    ToggleSet,
    /// A toggle value was removed.
    ToggleRemoved,
    /// A release was published.
    ReleasePublished,
    /// A release was yanked (withdrawn from downloads).
    ReleaseYanked,
    /// A yanked release was restored.
    ReleaseUnyanked,
    /// An admin API token was created.
    AdminTokenCreated,
    /// An admin API token was revoked.
    AdminTokenRevoked,
    /// An admin API token was used (one entry per request).
    AdminTokenUsed,
    /// Admin API requests with a missing, unknown or revoked token, counted
    /// per client address per minute.
    AdminAuthFailed,
    /// Malformed `client-hello`s, counted per client address per minute.
    BadHandshakes,
    /// Upgrades refused by the handshake rate limit, counted per client
    /// address per minute.
    HandshakesRateLimited,
    /// `INVALID_LICENSE_KEY` answers, counted per client address per minute.
    InvalidLicenseKeys,
}

impl AuditAction {
    /// Every action, in the order above.
    pub const ALL: [AuditAction; 24] = [
        AuditAction::DeviceBound,
        AuditAction::LicenseActivated,
        AuditAction::IntegrityBreach,
        AuditAction::LicenseRevoked,
        AuditAction::DeviceReset,
        AuditAction::ExpirySet,
        AuditAction::LicensesCreated,
        AuditAction::ProductCreated,
        AuditAction::ProductUpdated,
        AuditAction::ProductEnabled,
        AuditAction::ProductDisabled,
        AuditAction::PlanCreated,
        AuditAction::ToggleSet,
        AuditAction::ToggleRemoved,
        AuditAction::ReleasePublished,
        AuditAction::ReleaseYanked,
        AuditAction::ReleaseUnyanked,
        AuditAction::AdminTokenCreated,
        AuditAction::AdminTokenRevoked,
        AuditAction::AdminTokenUsed,
        AuditAction::AdminAuthFailed,
        AuditAction::BadHandshakes,
        AuditAction::HandshakesRateLimited,
        AuditAction::InvalidLicenseKeys,
    ];

    /// The stored spelling, e.g. `device-bound`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::DeviceBound => "device-bound",
            AuditAction::LicenseActivated => "license-activated",
            AuditAction::IntegrityBreach => "integrity-breach",
            AuditAction::LicenseRevoked => "license-revoked",
            AuditAction::DeviceReset => "device-reset",
            AuditAction::ExpirySet => "expiry-set",
            AuditAction::LicensesCreated => "licenses-created",
            AuditAction::ProductCreated => "product-created",
            AuditAction::ProductUpdated => "product-updated",
            AuditAction::ProductEnabled => "product-enabled",
            AuditAction::ProductDisabled => "product-disabled",
            AuditAction::PlanCreated => "plan-created",
            AuditAction::ToggleSet => "toggle-set",
            AuditAction::ToggleRemoved => "toggle-removed",
            AuditAction::ReleasePublished => "release-published",
            AuditAction::ReleaseYanked => "release-yanked",
            AuditAction::ReleaseUnyanked => "release-unyanked",
            AuditAction::AdminTokenCreated => "admin-token-created",
            AuditAction::AdminTokenRevoked => "admin-token-revoked",
            AuditAction::AdminTokenUsed => "admin-token-used",
            AuditAction::AdminAuthFailed => "admin-auth-failed",
            AuditAction::BadHandshakes => "bad-handshakes",
            AuditAction::HandshakesRateLimited => "handshakes-rate-limited",
            AuditAction::InvalidLicenseKeys => "invalid-license-keys",
        }
    }

    /// Reads the stored spelling; `None` for one this build does not know.
    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A UNIX time for an audit text, or "none".
pub(crate) fn show_time(time: Option<i64>) -> String {
    time.map_or("none".into(), |t| t.to_string())
}

/// A date for an audit text, or "never".
pub(crate) fn show_date(date: Option<chrono::NaiveDate>) -> String {
    date.map_or("never".into(), dates::format_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_spellings_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            assert!(seen.insert(action.as_str()), "{action} twice");
        }
        assert_eq!(AuditAction::parse("rate-limited"), None);
    }
}
