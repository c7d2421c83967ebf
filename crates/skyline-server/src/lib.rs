//! The Skyline server: the WebSocket endpoint that speaks `PROTOCOL.md`, the
//! RPC methods, and storage.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`server`] | [`server::run`]: the HTTP listener, `/ws` upgrade, limits, graceful shutdown |
//! | [`connection`] (private) | one connection: handshake deadline, frames, sequencer, close codes |
//! | `echo` (private) | benchmark-only `/echo` and `/echo-sealed`, behind [`ServerConfig::echo_endpoint`] |
//! | [`download`] | `GET/HEAD /download/{productId}/latest` and `/{version}`: signed, resumable update downloads |
//! | [`admin`] | the admin HTTP API on its own listener: bearer tokens, JSON, OpenAPI at `/admin/openapi.json` |
//! | [`api_error`] | the JSON error of the HTTP endpoints, with stable codes |
//! | [`releases`] | publishing signed artifacts, choosing the latest; [`releases::BlobStore`] (a directory, or the database) |
//! | [`security`] | flood-proof audit entries for bad handshakes, wrong keys, bad admin tokens |
//! | `methods` (private) | one file per RPC method; outcome → status + localized message |
//! | [`i18n`] | Russian and English messages, dates in words |
//! | [`store`] | the [`store::Store`] trait and its SQLite and PostgreSQL backends, chosen by database URL |
//! | [`license_index`] | HMAC index of license keys, so a leaked database leaks no usable key |
//! | [`rate_limit`] | per-address token buckets |
//! | [`config`] | [`config::ServerConfig`], built by the binary and passed down |
//! | [`clock`] | the injectable wall clock |
//! | [`toggle_cache`] | feature toggles kept encoded in memory for a short time |
//! | [`tls`] | optional rustls listener for `wss://` |
//!
//! The wire protocol itself (handshake, frames, envelopes, statuses, sequence
//! rules) lives in the `skyline-protocol` crate; this crate does the I/O.

pub mod admin;
pub mod api_error;
pub mod clock;
pub mod config;
mod connection;
pub mod download;
mod echo;
pub mod i18n;
pub mod license_index;
mod methods;
pub mod rate_limit;
pub mod releases;
pub mod security;
pub mod server;
pub mod store;
pub mod tls;
pub mod toggle_cache;

pub use config::{ReleaseStorage, ServerConfig};
pub use server::{run, PeerAddr, Services};
