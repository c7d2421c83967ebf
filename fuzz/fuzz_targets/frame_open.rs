//! Opening arbitrary bytes as an encrypted frame under a fixed session key:
//! never a panic, too-short frames say so, and sealing then opening the same
//! bytes as a plaintext gives them back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyline_protocol::frame::MIN_FRAME_LEN;
use skyline_protocol::{FrameError, Session, SessionKey};

fuzz_target!(|data: &[u8]| {
    let session = Session::from_session_key(&SessionKey::from_bytes([0x42; 32]));
    match session.open(data) {
        Err(FrameError::TooShort) => assert!(data.len() < MIN_FRAME_LEN),
        Err(FrameError::Unauthentic) => assert!(data.len() >= MIN_FRAME_LEN),
        Err(FrameError::Random) => panic!("opening uses no randomness"),
        // Forging a GCM tag by chance is out of reach; an accepted frame must
        // at least be one the key could have sealed.
        Ok(plaintext) => {
            let nonce: [u8; 12] = data[..12].try_into().unwrap();
            assert_eq!(session.seal_with_fixed_nonce(nonce, &plaintext), data);
        }
    }
    let mut nonce = [0u8; 12];
    let n = data.len().min(12);
    nonce[..n].copy_from_slice(&data[..n]);
    let frame = session.seal_with_fixed_nonce(nonce, data);
    assert_eq!(frame.len(), data.len() + MIN_FRAME_LEN);
    assert_eq!(session.open(&frame).as_deref(), Ok(data));
});
