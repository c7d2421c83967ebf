//! The server's Ed25519 identity (PROTOCOL.md section 3, "Trust anchor").
//!
//! The private half signs handshake proofs and release digests and never leaves
//! the server; clients pin the 32-byte public half. Neither `Debug` nor any
//! error prints private key material.

use std::fmt;

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not the expected number of hex digits or not hex at all.
    #[error("expected {expected} hex characters")]
    BadHex {
        /// How many hex characters were expected.
        expected: usize,
    },
    /// The bytes do not form a valid key.
    #[error("not a valid Ed25519 key")]
    Invalid,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// The server's Ed25519 identity key pair.
pub struct IdentityKeyPair {
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
}

impl IdentityKeyPair {
    /// A fresh key pair from the system CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| KeyError::Random)?;
        Self::from_seed(&seed)
    }

    /// The key pair whose RFC 8032 private key (seed) is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| KeyError::Invalid)?;
        Ok(IdentityKeyPair {
            seed: Zeroizing::new(*seed),
            pair,
        })
    }

    /// Parses the 64-hex-character seed, as stored in an identity key file.
    pub fn from_seed_hex(text: &str) -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), seed.as_mut())
            .map_err(|_| KeyError::BadHex { expected: 64 })?;
        Self::from_seed(&seed)
    }

    /// The seed as 64 lowercase hex characters, for writing a key file.
    pub fn seed_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.seed.as_ref()))
    }

    /// The public half, which clients pin.
    pub fn public(&self) -> IdentityPublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        IdentityPublicKey(bytes)
    }

    /// A pure Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public())
            .field("private", &"<redacted>")
            .finish()
    }
}

/// The 32-byte Ed25519 public key a client pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityPublicKey(pub [u8; 32]);

impl IdentityPublicKey {
    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| KeyError::BadHex { expected: 64 })?;
        Ok(IdentityPublicKey(bytes))
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `signature` is this key's Ed25519 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublicKey({})", self.to_hex())
    }
}

impl fmt::Display for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_seed() {
        let pair = IdentityKeyPair::from_seed(&[7u8; 32]).unwrap();
        let shown = format!("{pair:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let pair = IdentityKeyPair::generate().unwrap();
        let other = IdentityKeyPair::generate().unwrap();
        let sig = pair.sign(b"proof");
        assert!(pair.public().verify(b"proof", &sig));
        assert!(!pair.public().verify(b"proof!", &sig));
        assert!(!other.public().verify(b"proof", &sig));
    }

    #[test]
    fn seed_hex_round_trips() {
        let pair = IdentityKeyPair::generate().unwrap();
        let again = IdentityKeyPair::from_seed_hex(&pair.seed_hex()).unwrap();
        assert_eq!(pair.public(), again.public());
        assert!(IdentityKeyPair::from_seed_hex("abc").is_err());
        assert!(IdentityPublicKey::from_hex("zz").is_err());
    }
}
