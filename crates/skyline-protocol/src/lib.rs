//! The Skyline RPC protocol, version 1 (`PROTOCOL.md`), with no I/O and no
//! clock: bytes in, bytes and decisions out. The server and the client crates
//! drive it over WebSockets.
//!
//! # Layout
//!
//! | module | PROTOCOL.md | what it holds |
//! | --- | --- | --- |
//! | [`msgpack`] | §2 | the bounded MessagePack decoder, the encoder, typed field getters |
//! | [`identity`] | §3 trust anchor | the server's Ed25519 identity key and the pinned public key |
//! | [`handshake`] | §3 | `client-hello` / `server-hello`, [`ServerHandshake`], [`ClientHandshake`], the session key |
//! | [`frame`] | §4 | [`Session`]: sealing and opening AES-256-GCM frames |
//! | [`envelope`] | §5 | [`Request`] (`q t r s d`) and [`Response`] (`q S e R`) |
//! | [`status`] | §5 statuses, §1 | [`Status`], [`IntegrityCode`], [`CloseCode`] |
//! | [`sequence`] | §5 rules 1–6 | [`ServerSequencer`], the per-connection state machine |
//! | [`methods`] | §6 | one file per method: typed payloads and results |
//! | [`license_key`] | §6 | key normalization and generation |
//! | [`version`] | §6 step 2 | numeric dotted version comparison |
//! | [`dates`] | §6 step 8 | plan durations with calendar-month clamping |
//!
//! Handshake phases are types: a [`Session`] comes only out of a finished
//! handshake, so nothing can be encrypted before it. Key material never
//! appears in `Debug` output.
//!
//! # A client handshake
//!
//! ```
//! use skyline_protocol::{ClientHandshake, IdentityKeyPair, ServerHandshake};
//!
//! // The server's identity; clients ship only `identity.public()`.
//! let identity = IdentityKeyPair::generate()?;
//! let pinned = identity.public();
//!
//! // Client: send `hello` as one binary WebSocket frame.
//! let (client, hello) = ClientHandshake::start()?;
//! // Server: answer it (in real life, across the network).
//! let server = ServerHandshake::respond(&identity, &hello)?;
//! // Client: verify the signature against the pinned key, derive the session.
//! let session = client.finish(&pinned, &server.reply)?;
//!
//! let frame = session.seal(b"\x80")?;
//! assert_eq!(server.session.open(&frame)?, b"\x80");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dates;
pub mod envelope;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod license_key;
pub mod methods;
pub mod msgpack;
pub mod sequence;
pub mod status;
pub mod version;

pub use envelope::{EnvelopeError, Request, Response, ResponseError};
pub use frame::{FrameError, Session, SessionKey};
pub use handshake::{
    bad_handshake_reply, ClientHandshake, ClientHello, HandshakeError, ServerHandshake,
    ServerHandshakeOutcome, ServerHello,
};
pub use identity::{IdentityKeyPair, IdentityPublicKey, KeyError};
pub use rmpv::Value;
pub use sequence::{Refusal, ServerSequencer, Verdict};
pub use status::{CloseCode, IntegrityCode, Status};
