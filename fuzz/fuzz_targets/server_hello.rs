//! `server-hello` parsing and the client's check of it against a fixed pinned
//! key: never a panic, and no session without a valid signature.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skyline_protocol::{
    ClientHandshake, HandshakeError, IdentityKeyPair, IdentityPublicKey, ServerHello,
};

fn pinned() -> IdentityPublicKey {
    static PINNED: OnceLock<IdentityPublicKey> = OnceLock::new();
    *PINNED.get_or_init(|| {
        IdentityKeyPair::from_seed(&[0x5a; 32])
            .expect("a valid seed")
            .public()
    })
}

fuzz_target!(|data: &[u8]| {
    let decoded = ServerHello::decode(data);
    if let Ok(hello) = &decoded {
        assert_eq!(ServerHello::decode(&hello.encode()).as_ref(), Ok(hello));
    }
    let (client, _hello) = ClientHandshake::start_fixed(&[0x11; 32], [0x22; 32]);
    match client.finish(&pinned(), data) {
        // Only the holder of the identity seed can sign a proof over our nonce.
        Ok(_) => panic!("a session without the identity key's signature"),
        Err(HandshakeError::Malformed(_) | HandshakeError::Refused(_)) => {
            assert!(decoded.is_err())
        }
        Err(HandshakeError::BadSignature) => assert!(decoded.is_ok()),
        Err(other) => panic!("unexpected client handshake error {other:?}"),
    }
});
