//! A minimal HTTP/1.1 client for update downloads: one request per
//! connection over tokio (plain) or tokio-rustls (`https`), driven by
//! hyper's connection-level client.
//!
//! Why not reqwest: the workspace already builds hyper (under axum and
//! tungstenite's `http` types), tokio-rustls and the rustls configuration of
//! [`ClientConfig`]; hyper's `client::conn::http1` adds only its client half,
//! while reqwest would bring its own connection pool, TLS set-up and a
//! dozen crates for two requests per update. Redirects are not followed.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use crate::config::ClientConfig;
use crate::update::UpdateError;

/// Any byte stream a request can go over.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(config: &ClientConfig, url: &Url) -> Result<Box<dyn Stream>, UpdateError> {
    let host = url
        .host_str()
        .ok_or_else(|| UpdateError::InvalidUrl("the URL has no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| UpdateError::InvalidUrl("the URL has no port".into()))?;
    // An IPv6 literal comes bracketed in the URL.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, port)).await?;
    tcp.set_nodelay(true)?;
    match url.scheme() {
        "http" => Ok(Box::new(tcp)),
        "https" => {
            let tls = config
                .tls_config()
                .map_err(|e| UpdateError::Tls(e.to_string()))?;
            let name = ServerName::try_from(bare.to_owned())
                .map_err(|e| UpdateError::InvalidUrl(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| UpdateError::Tls(e.to_string()))?;
            Ok(Box::new(stream))
        }
        other => Err(UpdateError::InvalidUrl(format!(
            "unsupported scheme `{other}`: use http or https"
        ))),
    }
}

/// Sends one request (no body) with `headers` and returns the response head
/// with its streaming body. Connecting counts against the connect timeout,
/// waiting for the response head against the request timeout.
pub(crate) async fn send(
    config: &ClientConfig,
    method: hyper::Method,
    url: &Url,
    headers: &[(&str, String)],
) -> Result<Response<Incoming>, UpdateError> {
    let connect_limit = config.connect_timeout();
    let stream = tokio::time::timeout(connect_limit, connect(config, url))
        .await
        .map_err(|_| UpdateError::Timeout(connect_limit))??;
    let (mut sender, connection) =
        tokio::time::timeout(connect_limit, http1::handshake(TokioIo::new(stream)))
            .await
            .map_err(|_| UpdateError::Timeout(connect_limit))?
            .map_err(|e| UpdateError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "update download connection ended");
        }
    });
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("skyline-client/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| UpdateError::Http(e.to_string()))?;
    let limit = config.request_timeout();
    tokio::time::timeout(limit, sender.send_request(request))
        .await
        .map_err(|_| UpdateError::Timeout(limit))?
        .map_err(|e| UpdateError::Http(e.to_string()))
}

/// The next chunk of a body, `None` at its end; waiting for it counts
/// against `limit`.
pub(crate) async fn next_chunk(
    body: &mut Incoming,
    limit: Duration,
) -> Result<Option<Bytes>, UpdateError> {
    use http_body_util::BodyExt;
    loop {
        let frame = tokio::time::timeout(limit, body.frame())
            .await
            .map_err(|_| UpdateError::Timeout(limit))?;
        match frame {
            None => return Ok(None),
            Some(Err(e)) => return Err(UpdateError::Http(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
                // Trailers: nothing to keep.
            }
        }
    }
}

/// Reads a whole (small) body, at most `max` bytes, as text: for errors.
pub(crate) async fn read_text(body: &mut Incoming, limit: Duration, max: usize) -> String {
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = next_chunk(body, limit).await {
        text.extend_from_slice(&chunk);
        if text.len() > max {
            text.truncate(max);
            break;
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}
