//! [`ClientConfig`]: timeouts, the message size limit, extra TLS roots and the
//! clock that stamps `t` on every request.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use skyline_protocol::IdentityPublicKey;

use crate::client::Client;
use crate::error::ClientError;

/// Default for [`ClientConfig::with_connect_timeout`]: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ClientConfig::with_request_timeout`]: 30 seconds.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`ClientConfig::with_max_message_size`]: 64 KiB, the server's default.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

type ClockFn = dyn Fn() -> i64 + Send + Sync;

/// How a [`Client`] connects and how long it waits.
///
/// Built with `ClientConfig::default()` and the `with_*` methods, then used
/// through [`ClientConfig::connect`]:
///
/// ```
/// use std::time::Duration;
/// use skyline_client::ClientConfig;
///
/// let config = ClientConfig::default()
///     .with_connect_timeout(Duration::from_secs(5))
///     .with_request_timeout(Duration::from_secs(15));
/// assert_eq!(config.max_message_size(), 64 * 1024);
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    connect_timeout: Duration,
    request_timeout: Duration,
    max_message_size: usize,
    extra_roots: Vec<CertificateDer<'static>>,
    clock: Option<Arc<ClockFn>>,
    local_addr: Option<IpAddr>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            extra_roots: Vec::new(),
            clock: None,
            local_addr: None,
        }
    }
}

impl ClientConfig {
    /// The defaults: 10 s to connect, 30 s per request, 64 KiB messages, the
    /// Mozilla (webpki) roots, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long [`connect`](Self::connect) may take in all: TCP, TLS, the
    /// WebSocket upgrade and the signed handshake.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may wait for its response (and a raw `recv` for
    /// its message). A request that times out leaves the connection unusable:
    /// a late response would be out of order.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest message accepted from the server, in bytes; anything larger
    /// is refused with [`ClientError::MessageTooBig`].
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Also trusts the certificate(s) in `pem` as TLS roots for `wss://`, on top
    /// of the webpki roots: for servers with a private CA or a self-signed
    /// certificate. Every `CERTIFICATE` block in `pem` is added; other blocks
    /// are ignored.
    pub fn with_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Result<Self, ClientError> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_ref()) {
            let cert = cert.map_err(|e| ClientError::InvalidCertificate(e.to_string()))?;
            // Check now that it is a usable trust anchor, not at connect time.
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| ClientError::InvalidCertificate(e.to_string()))?;
            self.extra_roots.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(ClientError::InvalidCertificate(
                "no CERTIFICATE block in the PEM text".into(),
            ));
        }
        Ok(self)
    }

    /// Replaces the system clock that stamps each request's `t` (UTC UNIX
    /// seconds). For tests and for apps that keep their own trusted time.
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Binds the client's end of the TCP connection to `ip` (port chosen by
    /// the system) before connecting, instead of letting the system pick the
    /// source address. A load generator spreads its connections over several
    /// loopback addresses (127.0.0.2, 127.0.0.3, …) this way to get past the
    /// ephemeral port range of one address. `ip` must be of the same family as
    /// the server's address.
    pub fn with_local_addr(mut self, ip: IpAddr) -> Self {
        self.local_addr = Some(ip);
        self
    }

    /// See [`with_local_addr`](Self::with_local_addr).
    pub fn local_addr(&self) -> Option<IpAddr> {
        self.local_addr
    }

    /// See [`with_connect_timeout`](Self::with_connect_timeout).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// See [`with_request_timeout`](Self::with_request_timeout).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// See [`with_max_message_size`](Self::with_max_message_size).
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The current time as the client reports it in `t`: UTC UNIX seconds
    /// from the injected clock, else from the system clock.
    pub fn now(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    /// Connects to `url` (`ws://` or `wss://`, e.g. `wss://host/ws`) and
    /// completes the handshake against the `pinned` identity key.
    /// See [`Client::connect`].
    pub async fn connect(
        &self,
        url: &str,
        pinned: IdentityPublicKey,
    ) -> Result<Client, ClientError> {
        Client::connect_with(url, pinned, self.clone()).await
    }

    /// The rustls configuration for `wss://`: the webpki roots plus the extra ones.
    pub(crate) fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &self.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| ClientError::InvalidCertificate(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("extra_roots", &self.extra_roots.len())
            .field("local_addr", &self.local_addr)
            .field(
                "clock",
                &if self.clock.is_some() {
                    "injected"
                } else {
                    "system"
                },
            )
            .finish()
    }
}
