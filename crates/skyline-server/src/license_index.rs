//! The license index: how the store finds a license key without keeping it.
//!
//! The database never holds a raw license key, only its HMAC-SHA256 digest
//! under a secret derived from the server's identity seed, and the key's last
//! group for display (`…-HXRB8`). A stolen database therefore cannot be turned
//! back into working keys, and a user's key is looked up by computing the same
//! digest from what they typed.

use std::fmt;

use aws_lc_rs::{hkdf, hmac};
use skyline_protocol::{license_key, IdentityKeyPair};
use zeroize::Zeroizing;

/// The HKDF `info` that derives the index secret from the identity seed.
pub const INDEX_KEY_INFO: &[u8] = b"skyline/v1 license key index";

/// A license key's digest: HMAC-SHA256 of the normalized key.
pub type LicenseDigest = [u8; 32];

/// Why a [`LicenseIndex`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not derive the license index key from the identity seed")]
pub struct LicenseIndexError;

/// The HMAC-SHA256 keyed index of normalized license keys.
///
/// `Debug` never shows the secret.
#[derive(Clone)]
pub struct LicenseIndex {
    key: hmac::Key,
}

impl LicenseIndex {
    /// The index of a server: its secret is HKDF-SHA256 of the identity seed
    /// (no salt, info [`INDEX_KEY_INFO`]), so replacing the identity key
    /// makes every stored key unfindable (the store detects that at open).
    pub fn from_identity(identity: &IdentityKeyPair) -> Result<Self, LicenseIndexError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(identity.seed_hex().as_str(), seed.as_mut())
            .map_err(|_| LicenseIndexError)?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(seed.as_ref());
        let mut secret = Zeroizing::new([0u8; 32]);
        prk.expand(&[INDEX_KEY_INFO], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(secret.as_mut()))
            .map_err(|_| LicenseIndexError)?;
        Ok(Self::from_secret(*secret))
    }

    /// An index with an explicit 32-byte secret (tests, tools).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        LicenseIndex {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()),
        }
    }

    /// The digest of a normalized key (see [`license_key::normalize`]).
    pub fn digest(&self, normalized_key: &str) -> LicenseDigest {
        let tag = hmac::sign(&self.key, normalized_key.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The digest of a key as the user typed it; `None` when it is not even
    /// well-formed (start-session then answers `INVALID_LICENSE_KEY`).
    pub fn digest_typed(&self, typed_key: &str) -> Option<LicenseDigest> {
        license_key::normalize(typed_key).map(|key| self.digest(&key))
    }
}

impl fmt::Debug for LicenseIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseIndex")
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WDGQX-WC2Y3-4R966-TK3H3-HXRB8";

    #[test]
    fn typed_keys_normalize_to_one_digest() {
        let index = LicenseIndex::from_secret([1; 32]);
        let expected = index.digest(KEY);
        assert_eq!(
            index.digest_typed("wdgqx wc2y3 4r966 tk3h3 hxrb8"),
            Some(expected)
        );
        assert_eq!(
            index.digest_typed("WDGQXWC2Y34R966TK3H3HXRB8"),
            Some(expected)
        );
        assert_eq!(index.digest_typed("WDGQX-WC2Y3"), None);
        assert_ne!(LicenseIndex::from_secret([2; 32]).digest(KEY), expected);
    }

    #[test]
    fn identity_derivation_is_deterministic_and_separate() {
        let identity = IdentityKeyPair::from_seed(&[7; 32]).unwrap();
        let a = LicenseIndex::from_identity(&identity).unwrap();
        let b = LicenseIndex::from_identity(&identity).unwrap();
        assert_eq!(a.digest(KEY), b.digest(KEY));
        // The seed itself is not the index secret.
        assert_ne!(
            a.digest(KEY),
            LicenseIndex::from_secret([7; 32]).digest(KEY)
        );
        let other = IdentityKeyPair::from_seed(&[8; 32]).unwrap();
        assert_ne!(
            LicenseIndex::from_identity(&other).unwrap().digest(KEY),
            a.digest(KEY)
        );
    }

    #[test]
    fn identity_derivation_matches_rfc5869() {
        // Computed independently: HKDF-SHA256(salt = none, ikm = seed of 0x07s,
        // info = INDEX_KEY_INFO), then HMAC-SHA256 of the normalized key.
        let identity = IdentityKeyPair::from_seed(&[7; 32]).unwrap();
        let digest = LicenseIndex::from_identity(&identity).unwrap().digest(KEY);
        assert_eq!(
            hex::encode(digest),
            "b922414fe42b23627e2ad1ff67d583f1ef065c6481e46a0b09f781adcf5d8b76"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", LicenseIndex::from_secret([0xab; 32]));
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("abab"));
    }
}
