//! `client-hello` parsing and the server's whole answer to it, with a fixed
//! identity: never a panic, and whatever decodes re-encodes to the same hello.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skyline_protocol::{
    ClientHello, HandshakeError, IdentityKeyPair, ServerHandshake, ServerHello,
};

fn identity() -> &'static IdentityKeyPair {
    static IDENTITY: OnceLock<IdentityKeyPair> = OnceLock::new();
    IDENTITY.get_or_init(|| IdentityKeyPair::from_seed(&[0x5a; 32]).expect("a valid seed"))
}

fuzz_target!(|data: &[u8]| {
    let decoded = ClientHello::decode(data);
    if let Ok(hello) = &decoded {
        assert_eq!(ClientHello::decode(&hello.encode()).as_ref(), Ok(hello));
    }
    match ServerHandshake::respond(identity(), data) {
        Ok(outcome) => {
            let hello = decoded.expect("respond accepted what decode refused");
            let reply = ServerHello::decode(&outcome.reply).expect("our reply decodes");
            let proof = skyline_protocol::handshake::proof(
                &hello.client_ecdh_public,
                &reply.server_ecdh_public,
                &hello.nonce,
                &reply.server_nonce,
            );
            assert!(identity().public().verify(&proof, &reply.signature));
        }
        Err(HandshakeError::Malformed(_)) => assert!(decoded.is_err()),
        Err(HandshakeError::LowOrderKey) => assert!(decoded.is_ok()),
        Err(other) => panic!("unexpected server handshake error {other:?}"),
    }
});
