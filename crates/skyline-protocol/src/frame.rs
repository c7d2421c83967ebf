//! Encrypted frames (PROTOCOL.md section 4):
//! `nonce (12) || AES-256-GCM ciphertext || tag (16)`, empty associated data.
//!
//! A [`Session`] exists only as the result of a finished handshake (or, behind
//! the `test-vectors` feature, from a known session key), so nothing can be
//! encrypted before the handshake is done. Failures to open are deliberately
//! opaque: nothing in a forged frame can be trusted, not even its length.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

/// Bytes of the per-frame nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM tag.
pub const TAG_LEN: usize = 16;
/// The shortest well-formed frame: a nonce and a tag around an empty plaintext.
pub const MIN_FRAME_LEN: usize = NONCE_LEN + TAG_LEN;

/// A frame that cannot be opened. Carries no detail on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than [`MIN_FRAME_LEN`] bytes.
    #[error("frame too short")]
    TooShort,
    /// Authentication failed: wrong key, tampered or truncated.
    #[error("frame failed authentication")]
    Unauthentic,
    /// The system random generator failed while sealing.
    #[error("the system random generator failed")]
    Random,
}

/// The 32-byte session key both sides derive in the handshake.
#[derive(Clone)]
pub struct SessionKey(pub(crate) Zeroizing<[u8; 32]>);

impl SessionKey {
    /// Wraps raw key bytes. Only for replaying test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionKey(Zeroizing::new(bytes))
    }

    /// The raw key bytes. Only for checking test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn bytes(&self) -> [u8; 32] {
        *self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// An established encrypted session: seals and opens frames under the
/// session key. The same key serves both directions, as the protocol says.
pub struct Session {
    key: LessSafeKey,
}

impl Session {
    pub(crate) fn new(key: &SessionKey) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key.0.as_ref()).expect("a 32-byte AES-256 key");
        Session {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A session on a known key. Only for replaying test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn from_session_key(key: &SessionKey) -> Self {
        Session::new(key)
    }

    /// Seals `plaintext` under a fresh random nonce (AWS-LC's CSPRNG, seeded
    /// from the operating system) and returns the whole frame.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| FrameError::Random)?;
        Ok(self.seal_with_nonce(nonce, plaintext))
    }

    /// Seals under a caller-chosen nonce. Reusing a nonce under one key breaks
    /// AES-GCM, so this exists only for replaying test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn seal_with_fixed_nonce(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        self.seal_with_nonce(nonce, plaintext)
    }

    fn seal_with_nonce(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(MIN_FRAME_LEN + plaintext.len());
        frame.extend_from_slice(&nonce);
        frame.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut frame[NONCE_LEN..],
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        frame.extend_from_slice(tag.as_ref());
        frame
    }

    /// Opens a frame and returns its plaintext.
    pub fn open(&self, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut buf = frame.to_vec();
        let len = self.open_in_place(&mut buf)?.len();
        buf.drain(..NONCE_LEN);
        buf.truncate(len);
        Ok(buf)
    }

    /// Opens a frame in place; the plaintext is the returned slice of `frame`.
    pub fn open_in_place<'a>(&self, frame: &'a mut [u8]) -> Result<&'a mut [u8], FrameError> {
        if frame.len() < MIN_FRAME_LEN {
            return Err(FrameError::TooShort);
        }
        let (nonce, sealed) = frame.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| FrameError::TooShort)?;
        self.key
            .open_in_place(nonce, Aad::empty(), sealed)
            .map_err(|_| FrameError::Unauthentic)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session { key: <redacted> }")
    }
}
