//! The handshake of PROTOCOL.md section 3, on both sides, as types.
//!
//! Server: [`ServerHandshake::respond`] takes the `client-hello` bytes and gives
//! the `server-hello` bytes plus the [`Session`]. Client: [`ClientHandshake::start`]
//! gives the `client-hello` bytes and a [`ClientHandshake`] that only
//! [`ClientHandshake::finish`] can turn into a [`Session`], after the signature
//! over the proof has been checked against the pinned identity key.

use std::fmt;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::hkdf;
use rmpv::Value;
use zeroize::Zeroizing;

use crate::frame::{Session, SessionKey};
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::msgpack::{self, FieldError, MapView};
use crate::status::Status;

/// The HKDF `info` of the session key.
pub const SESSION_KEY_INFO: &[u8] = b"skyline/v1 session key";
/// The method name of the first message.
pub const CLIENT_HELLO: &str = "client-hello";
/// Bytes of each nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes of the proof: both ephemeral public keys and both nonces.
pub const PROOF_LEN: usize = 128;

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's message is not a well-formed hello; the reason is safe to
    /// send back in a `BAD_HANDSHAKE` reply.
    #[error("malformed hello: {0}")]
    Malformed(String),
    /// The peer's ephemeral key is of low order (the shared secret is all zero).
    #[error("low-order ephemeral public key")]
    LowOrderKey,
    /// The server's signature does not verify against the pinned identity key:
    /// a man-in-the-middle, or the wrong key pinned.
    #[error("server signature does not match the pinned identity key")]
    BadSignature,
    /// The server refused our hello with `BAD_HANDSHAKE` and this reason.
    #[error("server refused the handshake: {0}")]
    Refused(String),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

impl HandshakeError {
    fn malformed(reason: impl fmt::Display) -> Self {
        HandshakeError::Malformed(reason.to_string())
    }
}

impl From<FieldError> for HandshakeError {
    fn from(e: FieldError) -> Self {
        HandshakeError::malformed(e)
    }
}

/// `{"r": "client-hello", "d": {"clientEcdhPublic": bin32, "nonce": bin32}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The client's ephemeral X25519 public key.
    pub client_ecdh_public: [u8; 32],
    /// `clientNonce`.
    pub nonce: [u8; NONCE_LEN],
}

impl ClientHello {
    /// The plain MessagePack bytes of this hello.
    pub fn encode(&self) -> Vec<u8> {
        msgpack::encode(&msgpack::map([
            ("r", Value::from(CLIENT_HELLO)),
            (
                "d",
                msgpack::map([
                    (
                        "clientEcdhPublic",
                        Value::Binary(self.client_ecdh_public.to_vec()),
                    ),
                    ("nonce", Value::Binary(self.nonce.to_vec())),
                ]),
            ),
        ]))
    }

    /// Parses a hello; every malformed variant is refused with a reason.
    pub fn decode(bytes: &[u8]) -> Result<Self, HandshakeError> {
        let value = msgpack::decode(bytes).map_err(HandshakeError::malformed)?;
        let top = MapView::of(&value).ok_or_else(|| HandshakeError::malformed("not a map"))?;
        if top.str("r")? != CLIENT_HELLO {
            return Err(HandshakeError::malformed("`r` is not client-hello"));
        }
        let d = top
            .get("d")
            .ok_or_else(|| HandshakeError::malformed("field `d`: missing"))?;
        let d =
            MapView::of(d).ok_or_else(|| HandshakeError::malformed("field `d`: expected a map"))?;
        Ok(ClientHello {
            client_ecdh_public: d.bytes::<32>("clientEcdhPublic")?,
            nonce: d.bytes::<NONCE_LEN>("nonce")?,
        })
    }
}

/// The server's answer: `{"S": "OK", "e": nil, "R": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The server's ephemeral X25519 public key.
    pub server_ecdh_public: [u8; 32],
    /// Ed25519 signature over the proof.
    pub signature: [u8; 64],
    /// `serverNonce`.
    pub server_nonce: [u8; NONCE_LEN],
}

impl ServerHello {
    /// The plain MessagePack bytes of this reply.
    pub fn encode(&self) -> Vec<u8> {
        msgpack::encode(&msgpack::map([
            ("S", Value::from(Status::Ok.as_str())),
            ("e", Value::Nil),
            (
                "R",
                msgpack::map([
                    (
                        "serverEcdhPublic",
                        Value::Binary(self.server_ecdh_public.to_vec()),
                    ),
                    ("signature", Value::Binary(self.signature.to_vec())),
                    ("serverNonce", Value::Binary(self.server_nonce.to_vec())),
                ]),
            ),
        ]))
    }

    /// Parses the server's reply; a `BAD_HANDSHAKE` reply is
    /// [`HandshakeError::Refused`] with the server's reason.
    pub fn decode(bytes: &[u8]) -> Result<Self, HandshakeError> {
        let value = msgpack::decode(bytes).map_err(HandshakeError::malformed)?;
        let top = MapView::of(&value).ok_or_else(|| HandshakeError::malformed("not a map"))?;
        let status = top.str("S")?;
        if status != Status::Ok.as_str() {
            let reason = top.opt_str("e")?.unwrap_or("no reason given");
            return Err(HandshakeError::Refused(format!("{status}: {reason}")));
        }
        let r = top
            .get("R")
            .ok_or_else(|| HandshakeError::malformed("field `R`: missing"))?;
        let r =
            MapView::of(r).ok_or_else(|| HandshakeError::malformed("field `R`: expected a map"))?;
        Ok(ServerHello {
            server_ecdh_public: r.bytes::<32>("serverEcdhPublic")?,
            signature: r.bytes::<64>("signature")?,
            server_nonce: r.bytes::<NONCE_LEN>("serverNonce")?,
        })
    }
}

/// The reply to a malformed hello: `{"S": "BAD_HANDSHAKE", "e": reason, "R": nil}`.
/// The server closes with 1002 after sending it.
pub fn bad_handshake_reply(reason: &str) -> Vec<u8> {
    msgpack::encode(&msgpack::map([
        ("S", Value::from(Status::BadHandshake.as_str())),
        ("e", Value::from(reason)),
        ("R", Value::Nil),
    ]))
}

/// `clientEcdhPublic || serverEcdhPublic || clientNonce || serverNonce`.
pub fn proof(
    client_ecdh_public: &[u8; 32],
    server_ecdh_public: &[u8; 32],
    client_nonce: &[u8; NONCE_LEN],
    server_nonce: &[u8; NONCE_LEN],
) -> [u8; PROOF_LEN] {
    let mut out = [0u8; PROOF_LEN];
    out[..32].copy_from_slice(client_ecdh_public);
    out[32..64].copy_from_slice(server_ecdh_public);
    out[64..96].copy_from_slice(client_nonce);
    out[96..].copy_from_slice(server_nonce);
    out
}

/// An ephemeral X25519 key pair, used once.
struct Ephemeral {
    private: PrivateKey,
    public: [u8; 32],
}

impl Ephemeral {
    fn generate() -> Result<Self, HandshakeError> {
        let private = PrivateKey::generate(&X25519).map_err(|_| HandshakeError::Random)?;
        Self::from_private(private)
    }

    #[cfg(feature = "test-vectors")]
    fn from_bytes(bytes: &[u8; 32]) -> Self {
        let private =
            PrivateKey::from_private_key(&X25519, bytes).expect("32 bytes are an X25519 key");
        Self::from_private(private).expect("public key of a valid private key")
    }

    fn from_private(private: PrivateKey) -> Result<Self, HandshakeError> {
        let computed = private
            .compute_public_key()
            .map_err(|_| HandshakeError::Random)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(computed.as_ref());
        Ok(Ephemeral { private, public })
    }

    /// X25519 with the peer's key; an all-zero result (low-order peer key) is refused.
    fn agree(&self, peer_public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
        let peer = UnparsedPublicKey::new(&X25519, peer_public);
        let shared = agreement::agree(&self.private, peer, HandshakeError::LowOrderKey, |s| {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(s);
            Ok(out)
        })?;
        // AWS-LC refuses an all-zero result itself; check again without
        // branching on the secret's bytes.
        if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
            return Err(HandshakeError::LowOrderKey);
        }
        Ok(shared)
    }
}

/// `HKDF-SHA256(salt = clientNonce || serverNonce, ikm = shared, info, 32)`.
pub(crate) fn derive_session_key(
    shared: &[u8; 32],
    client_nonce: &[u8; NONCE_LEN],
    server_nonce: &[u8; NONCE_LEN],
) -> SessionKey {
    let mut salt = [0u8; 2 * NONCE_LEN];
    salt[..NONCE_LEN].copy_from_slice(client_nonce);
    salt[NONCE_LEN..].copy_from_slice(server_nonce);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
    let info = [SESSION_KEY_INFO];
    let okm = prk
        .expand(&info, hkdf::HKDF_SHA256)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut key = Zeroizing::new([0u8; 32]);
    okm.fill(key.as_mut()).expect("output length matches");
    SessionKey(key)
}

/// The server side of the handshake. It holds no state: one call answers one
/// hello and yields the session.
#[derive(Debug)]
pub struct ServerHandshake;

/// What the server sends back and keeps after a successful hello.
#[derive(Debug)]
pub struct ServerHandshakeOutcome {
    /// The plain MessagePack `server-hello` to send.
    pub reply: Vec<u8>,
    /// The encrypted session for every later frame.
    pub session: Session,
}

impl ServerHandshake {
    /// Answers a `client-hello` with fresh ephemeral keys and nonce. On error the
    /// caller sends [`bad_handshake_reply`] with the error's text and closes 1002.
    pub fn respond(
        identity: &IdentityKeyPair,
        client_hello: &[u8],
    ) -> Result<ServerHandshakeOutcome, HandshakeError> {
        let hello = ClientHello::decode(client_hello)?;
        let ephemeral = Ephemeral::generate()?;
        let mut server_nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut server_nonce).map_err(|_| HandshakeError::Random)?;
        Self::respond_with(identity, &hello, &ephemeral, server_nonce).map(|(o, _)| o)
    }

    /// Answers with a fixed ephemeral private key and nonce, and also returns the
    /// session key. Only for replaying test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn respond_fixed(
        identity: &IdentityKeyPair,
        client_hello: &[u8],
        server_ecdh_private: &[u8; 32],
        server_nonce: [u8; NONCE_LEN],
    ) -> Result<(ServerHandshakeOutcome, SessionKey), HandshakeError> {
        let hello = ClientHello::decode(client_hello)?;
        let ephemeral = Ephemeral::from_bytes(server_ecdh_private);
        Self::respond_with(identity, &hello, &ephemeral, server_nonce)
    }

    fn respond_with(
        identity: &IdentityKeyPair,
        hello: &ClientHello,
        ephemeral: &Ephemeral,
        server_nonce: [u8; NONCE_LEN],
    ) -> Result<(ServerHandshakeOutcome, SessionKey), HandshakeError> {
        let shared = ephemeral.agree(&hello.client_ecdh_public)?;
        let proof = proof(
            &hello.client_ecdh_public,
            &ephemeral.public,
            &hello.nonce,
            &server_nonce,
        );
        let reply = ServerHello {
            server_ecdh_public: ephemeral.public,
            signature: identity.sign(&proof),
            server_nonce,
        }
        .encode();
        let key = derive_session_key(&shared, &hello.nonce, &server_nonce);
        let session = Session::new(&key);
        Ok((ServerHandshakeOutcome { reply, session }, key))
    }
}

/// The client side after sending `client-hello`, waiting for the server's reply.
pub struct ClientHandshake {
    ephemeral: Ephemeral,
    nonce: [u8; NONCE_LEN],
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("client_ecdh_public", &hex::encode(self.ephemeral.public))
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake with a fresh ephemeral key and nonce; send the
    /// returned bytes as one binary frame.
    pub fn start() -> Result<(Self, Vec<u8>), HandshakeError> {
        let ephemeral = Ephemeral::generate()?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| HandshakeError::Random)?;
        Ok(Self::with(ephemeral, nonce))
    }

    /// Starts with a fixed ephemeral private key and nonce. Only for replaying
    /// test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn start_fixed(client_ecdh_private: &[u8; 32], nonce: [u8; NONCE_LEN]) -> (Self, Vec<u8>) {
        Self::with(Ephemeral::from_bytes(client_ecdh_private), nonce)
    }

    fn with(ephemeral: Ephemeral, nonce: [u8; NONCE_LEN]) -> (Self, Vec<u8>) {
        let hello = ClientHello {
            client_ecdh_public: ephemeral.public,
            nonce,
        }
        .encode();
        (ClientHandshake { ephemeral, nonce }, hello)
    }

    /// Checks the server's reply against the pinned identity key and derives
    /// the session. A bad signature is [`HandshakeError::BadSignature`]: the
    /// caller must not send anything on that connection.
    pub fn finish(
        self,
        pinned: &IdentityPublicKey,
        server_hello: &[u8],
    ) -> Result<Session, HandshakeError> {
        self.finish_with_key(pinned, server_hello).map(|(s, _)| s)
    }

    /// Like [`finish`](Self::finish), also returning the session key. Only for
    /// replaying test vectors.
    #[cfg(feature = "test-vectors")]
    pub fn finish_exposing_key(
        self,
        pinned: &IdentityPublicKey,
        server_hello: &[u8],
    ) -> Result<(Session, SessionKey), HandshakeError> {
        self.finish_with_key(pinned, server_hello)
    }

    fn finish_with_key(
        self,
        pinned: &IdentityPublicKey,
        server_hello: &[u8],
    ) -> Result<(Session, SessionKey), HandshakeError> {
        let hello = ServerHello::decode(server_hello)?;
        let proof = proof(
            &self.ephemeral.public,
            &hello.server_ecdh_public,
            &self.nonce,
            &hello.server_nonce,
        );
        if !pinned.verify(&proof, &hello.signature) {
            return Err(HandshakeError::BadSignature);
        }
        let shared = self.ephemeral.agree(&hello.server_ecdh_public)?;
        let key = derive_session_key(&shared, &self.nonce, &hello.server_nonce);
        Ok((Session::new(&key), key))
    }
}
