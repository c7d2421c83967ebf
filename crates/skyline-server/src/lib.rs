//! The Skyline server: the WebSocket endpoint that speaks `PROTOCOL.md`, its
//! licensing rules, storage, update downloads and the admin API.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`domain`] | every business rule, decided once over plain data: start-session, seats, toggles, catalog, releases, audit actions |
//! | [`store`] | [`store::Store`]: commands run as load → decide → apply in one transaction, over SQLite or PostgreSQL ([`store::Backend`]) |
//! | [`deployment`] | [`deployment::Deployment::open`]: identity key, database, license index, release storage — the one way in |
//! | [`views`] | the JSON shapes the CLI (`--json`), the admin API and its OpenAPI document show |
//! | [`rpc`] | PROTOCOL.md over WebSocket: [`run`], one task per connection, one file per method |
//! | [`download`] | `GET/HEAD /download/{productId}/latest` and `/{version}`: signed, resumable update downloads |
//! | [`admin`] | the admin HTTP API on its own listener: bearer tokens, JSON, OpenAPI at `/admin/openapi.json` |
//! | [`api_error`] | the JSON error of the HTTP endpoints, with stable codes |
//! | [`releases`] | publishing: store the artifact, sign it, record the release |
//! | [`blobs`] | [`blobs::BlobStore`]: artifacts by digest, in a directory or in the database |
//! | [`security`] | flood-proof audit entries for bad handshakes, wrong keys, bad admin tokens |
//! | [`i18n`] | Russian and English messages, dates in words |
//! | [`license_index`] | keyed digests of license keys, so a leaked database leaks no usable key |
//! | [`rate_limit`] | per-address token buckets |
//! | [`config`] | [`config::ServerConfig`], built by the binary and passed down |
//! | [`clock`] | the injectable wall clock |
//! | [`toggle_cache`] | feature toggles kept encoded in memory for a short time |
//! | [`tls`] | optional rustls listener for `wss://` |
//! | [`files`] | private files and directories: data directory 0700, database and dumps 0600, exposed identity keys refused |
//! | [`http`] | the accept loop of both HTTP listeners: header and keep-alive timeouts, head size (431), connection cap |
//! | [`limits`] | hostile-peer limits: address keys (IPv6 /64), per-address connection slots, handshake budget, [`limits::Refusals`] counted per limit |
//! | `telemetry_guard` | per-license telemetry quotas, stored event size, commit queue bound, low-disk watermark |
//! | [`sanitize`] | peer-supplied text made safe for logs and terminals |
//!
//! Dependencies run one way: front doors (`rpc`, `admin`, `download`, the
//! binary's CLI) → `store` → `domain`. The wire protocol itself (handshake,
//! frames, envelopes, statuses, sequence rules) lives in the
//! `skyline-protocol` crate; this crate does the I/O.

pub mod admin;
pub mod api_error;
pub mod blobs;
pub mod clock;
pub mod config;
pub mod deployment;
pub mod domain;
pub mod download;
pub mod files;
pub mod http;
pub mod i18n;
pub mod license_index;
pub mod limits;
pub mod rate_limit;
pub mod releases;
pub mod rpc;
pub mod sanitize;
pub mod security;
pub mod store;
mod telemetry_guard;
pub mod tls;
pub mod toggle_cache;
pub mod views;

pub use config::ServerConfig;
pub use rpc::server::{run, PeerAddr, Services};
