//! Releases (update downloads) and admin API tokens.

use std::fmt;

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// A release channel: `stable` or `beta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReleaseChannel {
    /// What every user gets.
    #[default]
    Stable,
    /// Early builds for users who opt in; the beta channel also offers stable
    /// releases.
    Beta,
}

impl ReleaseChannel {
    /// `stable` or `beta`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseChannel::Stable => "stable",
            ReleaseChannel::Beta => "beta",
        }
    }

    /// Reads `stable` or `beta` (case-insensitive).
    pub fn parse(text: &str) -> Option<ReleaseChannel> {
        match text.to_ascii_lowercase().as_str() {
            "stable" => Some(ReleaseChannel::Stable),
            "beta" => Some(ReleaseChannel::Beta),
            _ => None,
        }
    }

    /// Whether a client following `self` is offered a release of `release`.
    pub fn offers(self, release: ReleaseChannel) -> bool {
        self == ReleaseChannel::Beta || release == ReleaseChannel::Stable
    }
}

/// A release to record: the artifact is already stored under its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    /// The product it updates.
    pub product_id: String,
    /// Its dotted version.
    pub version: String,
    /// The platform it is built for (`windows-x64`, …); `None` for every
    /// platform.
    pub platform: Option<String>,
    /// Stable or beta.
    pub channel: ReleaseChannel,
    /// The file name offered in `Content-Disposition` (already sanitized).
    pub file_name: String,
    /// The artifact's size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact: its blob name.
    pub sha256: Sha256Digest,
    /// Ed25519 signature by the identity key over the 32-byte digest.
    pub signature: [u8; 64],
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Increasing id.
    pub id: i64,
    /// The product it updates.
    pub product_id: String,
    /// Its dotted version.
    pub version: String,
    /// Its platform; `None` for every platform.
    pub platform: Option<String>,
    /// Stable or beta.
    pub channel: ReleaseChannel,
    /// The file name offered to downloads.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact.
    pub sha256: Sha256Digest,
    /// Ed25519 signature over [`Release::sha256`].
    pub signature: [u8; 64],
    /// Withdrawn: never offered as the latest, not downloadable.
    pub yanked: bool,
    /// When it was published, UNIX seconds.
    pub published_at: i64,
}

/// Which release an operator means: product, version and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// The product.
    pub product_id: String,
    /// The version, exactly as published.
    pub version: String,
    /// The platform; `None` for the every-platform release.
    pub platform: Option<String>,
}

/// A new admin API token: the caller generates the id and secret and passes
/// only the secret's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAdminToken {
    /// The public id, the lookup key (part of the token text).
    pub id: String,
    /// A name for people, e.g. `billing`.
    pub name: String,
    /// Refused for every request that changes something.
    pub read_only: bool,
    /// SHA-256 of the token's secret part.
    pub secret_hash: Sha256Digest,
}

impl fmt::Debug for NewAdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdminToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("read_only", &self.read_only)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// An admin API token as operators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// The public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it may only read.
    pub read_only: bool,
    /// When it was created, UNIX seconds.
    pub created_at: i64,
    /// When it was last used, if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<i64>,
}

/// An admin token with the hash its secret is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenCredential {
    /// The token.
    pub token: AdminToken,
    /// SHA-256 of its secret part.
    pub secret_hash: Sha256Digest,
}

impl fmt::Debug for AdminTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminTokenCredential")
            .field("token", &self.token)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_offer() {
        assert_eq!(ReleaseChannel::parse("BETA"), Some(ReleaseChannel::Beta));
        assert_eq!(ReleaseChannel::parse("nightly"), None);
        assert!(ReleaseChannel::Beta.offers(ReleaseChannel::Stable));
        assert!(!ReleaseChannel::Stable.offers(ReleaseChannel::Beta));
    }

    #[test]
    fn token_debug_hides_the_hash() {
        let token = NewAdminToken {
            id: "id".into(),
            name: "billing".into(),
            read_only: true,
            secret_hash: [0xcd; 32],
        };
        assert!(!format!("{token:?}").contains("cdcd"));
    }
}
