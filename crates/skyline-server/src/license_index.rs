//! The license index: how the store finds a license key without keeping it.
//!
//! The database never holds a raw license key, only its HMAC-SHA256 digest
//! under a random 32-byte secret kept in the database itself (the setting
//! `license_index_secret`), and the key's last group for display
//! (`…-HXRB8`). Generated keys carry about 114 bits of entropy, so a leaked
//! database (secret included) still cannot be turned back into working keys;
//! a user's key is looked up by computing the same digest from what they
//! typed. Because the secret lives with the data, every command that opens
//! the database can find keys, and the identity key can be replaced.
//!
//! Databases made before this scheme indexed keys under a secret derived from
//! the identity key ([`LicenseIndex::from_identity`]) and recorded only a
//! check of it (`license_index_check`). [`settle`] decides, when a database
//! is opened, which secret it uses, and whether that secret must be stored
//! now (a new database, or an old one opened once with its identity key).

use std::fmt;

use aws_lc_rs::{hkdf, hmac};
use skyline_protocol::{license_key, IdentityKeyPair};
use zeroize::Zeroizing;

use crate::domain::NewLicense;

/// The HKDF `info` that derived the index secret from the identity seed in
/// databases made before the secret was kept in the database.
pub const INDEX_KEY_INFO: &[u8] = b"skyline/v1 license key index";

/// The setting that holds the index secret, lowercase hex.
pub const SECRET_SETTING: &str = "license_index_secret";

/// The setting older databases hold instead: a check of the secret.
pub const LEGACY_CHECK_SETTING: &str = "license_index_check";

/// The text whose digest is the legacy check.
const INDEX_CHECK_TEXT: &str = "skyline/v1 license index check";

/// A license key's digest: HMAC-SHA256 of the normalized key.
pub type LicenseDigest = [u8; 32];

/// Why a [`LicenseIndex`] could not be built or settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseIndexError {
    /// The identity seed could not be turned into a secret.
    #[error("could not derive the license index key from the identity seed")]
    Derivation,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The stored secret is not 64 hex digits.
    #[error("the stored license index secret is malformed")]
    Malformed,
    /// An older database, and no identity key to find its keys with.
    #[error(
        "this database was made by an earlier Skyline, which indexed license keys with the \
         identity key: open it once with that key (`--identity FILE`, for example \
         `skyline --identity FILE migrate`); from then on no command needs it"
    )]
    IdentityNeeded,
    /// An older database, opened with another identity key.
    #[error(
        "this database's license keys were indexed with another identity key: open it once \
         with the identity key it was created with (`--identity FILE`)"
    )]
    OtherIdentity,
}

/// The HMAC-SHA256 keyed index of normalized license keys.
///
/// `Debug` never shows the secret.
#[derive(Clone)]
pub struct LicenseIndex {
    key: hmac::Key,
    secret: Zeroizing<[u8; 32]>,
}

impl LicenseIndex {
    /// The index an older database used: its secret is HKDF-SHA256 of the
    /// identity seed (no salt, info [`INDEX_KEY_INFO`]).
    pub fn from_identity(identity: &IdentityKeyPair) -> Result<Self, LicenseIndexError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(identity.seed_hex().as_str(), seed.as_mut())
            .map_err(|_| LicenseIndexError::Derivation)?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(seed.as_ref());
        let mut secret = Zeroizing::new([0u8; 32]);
        prk.expand(&[INDEX_KEY_INFO], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(secret.as_mut()))
            .map_err(|_| LicenseIndexError::Derivation)?;
        Ok(Self::from_secret(*secret))
    }

    /// An index with an explicit 32-byte secret.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        LicenseIndex {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()),
            secret,
        }
    }

    /// An index with a fresh random secret, for a new database.
    pub fn generate() -> Result<Self, LicenseIndexError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(secret.as_mut()).map_err(|_| LicenseIndexError::Random)?;
        Ok(Self::from_secret(*secret))
    }

    /// Reads a stored secret (64 hex digits).
    pub fn from_stored(hex_secret: &str) -> Result<Self, LicenseIndexError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_secret.trim(), secret.as_mut())
            .map_err(|_| LicenseIndexError::Malformed)?;
        Ok(Self::from_secret(*secret))
    }

    /// The secret as the database stores it (lowercase hex).
    pub fn stored_form(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.secret.as_ref()))
    }

    /// The check older databases kept of their secret.
    pub fn legacy_check(&self) -> String {
        hex::encode(self.digest(INDEX_CHECK_TEXT))
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

    /// `count` new random keys: the keys to hand out, and what the store
    /// keeps of them.
    pub fn generate_keys(
        &self,
        count: usize,
    ) -> Result<(Vec<Zeroizing<String>>, Vec<NewLicense>), LicenseIndexError> {
        let mut keys = Vec::with_capacity(count);
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let key =
                Zeroizing::new(license_key::generate().map_err(|_| LicenseIndexError::Random)?);
            records.push(NewLicense {
                digest: self.digest(&key),
                last_group: license_key::last_group(&key).to_owned(),
            });
            keys.push(key);
        }
        Ok((keys, records))
    }
}

impl fmt::Debug for LicenseIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseIndex")
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The index a database uses, as [`settle`] decided it.
#[derive(Debug)]
pub struct Settled {
    /// The index.
    pub index: LicenseIndex,
    /// The database does not hold this secret yet: store it (in the same
    /// transaction that read the settings).
    pub store_secret: bool,
}

/// Decides which index a database uses, from its settings: the stored
/// secret; else, for an older database (a legacy check only), the secret
/// derived from its identity key (`legacy`), which must match the check;
/// else, for a new database, a fresh random secret.
pub fn settle(
    stored_secret: Option<&str>,
    legacy_check: Option<&str>,
    legacy: Option<&LicenseIndex>,
) -> Result<Settled, LicenseIndexError> {
    if let Some(secret) = stored_secret {
        return Ok(Settled {
            index: LicenseIndex::from_stored(secret)?,
            store_secret: false,
        });
    }
    let index = match (legacy_check, legacy) {
        (None, _) => LicenseIndex::generate()?,
        (Some(_), None) => return Err(LicenseIndexError::IdentityNeeded),
        (Some(check), Some(legacy)) if legacy.legacy_check() == check => legacy.clone(),
        (Some(_), Some(_)) => return Err(LicenseIndexError::OtherIdentity),
    };
    Ok(Settled {
        index,
        store_secret: true,
    })
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
    fn legacy_derivation_matches_rfc5869() {
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
    fn stored_secrets_round_trip() {
        let index = LicenseIndex::generate().unwrap();
        let back = LicenseIndex::from_stored(&index.stored_form()).unwrap();
        assert_eq!(back.digest(KEY), index.digest(KEY));
        assert_ne!(
            LicenseIndex::generate().unwrap().digest(KEY),
            index.digest(KEY)
        );
        assert!(LicenseIndex::from_stored("abc").is_err());
    }

    #[test]
    fn settling_covers_new_stored_and_older_databases() {
        let fresh = settle(None, None, None).unwrap();
        assert!(fresh.store_secret);
        let stored = fresh.index.stored_form();
        let reopened = settle(Some(&stored), None, None).unwrap();
        assert!(!reopened.store_secret);
        assert_eq!(reopened.index.digest(KEY), fresh.index.digest(KEY));

        let identity = IdentityKeyPair::from_seed(&[7; 32]).unwrap();
        let legacy = LicenseIndex::from_identity(&identity).unwrap();
        let check = legacy.legacy_check();
        assert_eq!(
            settle(None, Some(&check), None).unwrap_err(),
            LicenseIndexError::IdentityNeeded
        );
        let other =
            LicenseIndex::from_identity(&IdentityKeyPair::from_seed(&[8; 32]).unwrap()).unwrap();
        assert_eq!(
            settle(None, Some(&check), Some(&other)).unwrap_err(),
            LicenseIndexError::OtherIdentity
        );
        let migrated = settle(None, Some(&check), Some(&legacy)).unwrap();
        assert!(migrated.store_secret);
        assert_eq!(migrated.index.digest(KEY), legacy.digest(KEY));
    }

    #[test]
    fn generated_keys_are_indexed_and_debug_hides_the_secret() {
        let index = LicenseIndex::from_secret([0xab; 32]);
        let (keys, records) = index.generate_keys(3).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(index.digest_typed(&keys[1]), Some(records[1].digest));
        let shown = format!("{index:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("abab"));
    }
}
