//! Signed update downloads (PROTOCOL.md section 7): [`download_update`]
//! fetches the newest release, resumes a broken download, and verifies the
//! file against the pinned identity key before handing it over.
//!
//! ```no_run
//! use skyline_client::{download_update, ClientConfig, IdentityPublicKey, UpdateRequest};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pinned = IdentityPublicKey::from_hex(
//!     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
//! )?;
//! let request = UpdateRequest::new("https://licensing.example.com", "telepower")
//!     .with_platform("windows-x64");
//! let update = download_update(&ClientConfig::default(), &request, pinned, "updates".as_ref())
//!     .await?;
//! println!("version {} saved as {}", update.version, update.path.display());
//! # Ok(())
//! # }
//! ```
//!
//! How it goes:
//!
//! 1. `HEAD /download/{productId}/latest?platform=&channel=` names the
//!    release: version, size, `X-Skyline-Sha256`, `X-Skyline-Signature`, the
//!    file name in `Content-Disposition`. The signature must verify against
//!    the pinned key over the 32-byte digest, or nothing is downloaded.
//! 2. The bytes go to `DEST/.<sha256>.part`. If that file is already there
//!    (a download that broke), only the rest is asked for, with `Range` and
//!    `If-Range`, from `GET /download/{productId}/{version}`.
//! 3. The whole file's SHA-256 must equal the signed digest; otherwise the
//!    file is deleted and the result is [`UpdateError::DigestMismatch`].
//! 4. The verified file is synced and renamed to `DEST/<file name>`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine;
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use skyline_protocol::IdentityPublicKey;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::config::ClientConfig;
use crate::http;

/// Which releases to consider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateChannel {
    /// Stable releases only.
    #[default]
    Stable,
    /// Beta and stable releases, whichever is newer.
    Beta,
}

impl UpdateChannel {
    fn as_str(self) -> &'static str {
        match self {
            UpdateChannel::Stable => "stable",
            UpdateChannel::Beta => "beta",
        }
    }
}

/// Which update to fetch, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    base_url: String,
    product_id: String,
    platform: Option<String>,
    channel: UpdateChannel,
}

impl UpdateRequest {
    /// The newest stable release of `product_id` for every platform from the
    /// server at `base_url` (`https://host[:port][/prefix]`). The RPC URL
    /// works too: `wss://host/ws` means `https://host`.
    pub fn new(base_url: impl Into<String>, product_id: impl Into<String>) -> Self {
        UpdateRequest {
            base_url: base_url.into(),
            product_id: product_id.into(),
            platform: None,
            channel: UpdateChannel::Stable,
        }
    }

    /// Asks for the build for `platform` (e.g. `windows-x64`); an
    /// every-platform release is offered when it is newer.
    pub fn with_platform(mut self, platform: impl Into<String>) -> Self {
        self.platform = Some(platform.into());
        self
    }

    /// Follows `channel` instead of stable.
    pub fn with_channel(mut self, channel: UpdateChannel) -> Self {
        self.channel = channel;
        self
    }

    /// The URL of `/download/{productId}/{which}` with the query.
    fn url(&self, which: &str, channel: bool) -> Result<Url, UpdateError> {
        let mut url =
            Url::parse(&self.base_url).map_err(|e| UpdateError::InvalidUrl(e.to_string()))?;
        let scheme = match url.scheme() {
            "ws" | "http" => "http",
            "wss" | "https" => "https",
            other => {
                return Err(UpdateError::InvalidUrl(format!(
                    "unsupported scheme `{other}`: use http or https"
                )))
            }
        };
        if url.scheme() != scheme {
            url.set_scheme(scheme)
                .map_err(|()| UpdateError::InvalidUrl("cannot use this URL over HTTP".into()))?;
            if url.path().ends_with("/ws") {
                let trimmed = url.path().trim_end_matches("/ws").to_owned();
                url.set_path(&trimmed);
            }
        }
        url.set_query(None);
        url.path_segments_mut()
            .map_err(|_| UpdateError::InvalidUrl("the URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(["download", &self.product_id, which]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(platform) = &self.platform {
                query.append_pair("platform", platform);
            }
            if channel {
                query.append_pair("channel", self.channel.as_str());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }
}

/// A downloaded, verified update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedUpdate {
    /// Where it was saved: the destination directory and the release's file
    /// name.
    pub path: PathBuf,
    /// The release's version.
    pub version: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, verified against the signature.
    pub sha256: [u8; 32],
    /// How many bytes were already there from a broken download (0 for a
    /// fresh one).
    pub resumed_from: u64,
}

/// An update download failed. Whenever verification fails, the downloaded
/// file has been deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The base URL does not parse or is not http(s) (or ws(s)).
    #[error("invalid update URL: {0}")]
    InvalidUrl(String),
    /// TLS failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// HTTP failed (connection reset, malformed response).
    #[error("HTTP failed: {0}")]
    Http(String),
    /// Connecting or waiting took longer than the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error (404 for an unknown product or no
    /// release, …); `code` is its JSON error code when it sent one.
    #[error("the server answered HTTP {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The stable error code, e.g. `UNKNOWN_RELEASE`.
        code: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The server's answer lacks a header the protocol requires, or has a
    /// malformed one.
    #[error("the server's answer has no valid {0} header")]
    BadHeader(&'static str),
    /// The release's signature does not verify against the pinned identity
    /// key: the server (or someone in between) is not who the app trusts.
    /// Nothing was kept.
    #[error("the update's signature does not match the pinned identity key")]
    BadSignature,
    /// The downloaded bytes do not hash to the signed digest (or have the
    /// wrong length): tampered or corrupted. The file was deleted.
    #[error("the downloaded file does not match its signed SHA-256; it was deleted")]
    DigestMismatch,
    /// Reading or writing the destination failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// What `HEAD …/latest` says about the release.
#[derive(Debug)]
struct Announced {
    version: String,
    size: u64,
    sha256: [u8; 32],
    file_name: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, UpdateError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(UpdateError::BadHeader(name))
}

/// The file name in `Content-Disposition: attachment; filename="..."`,
/// reduced to a safe base name.
fn disposition_name(value: &str) -> Option<String> {
    let start = value.find("filename=")? + "filename=".len();
    let rest = value[start..].trim_start();
    let raw = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split(';').next()?.trim(),
    };
    let base = raw.rsplit(['/', '\\']).next()?;
    let safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.').to_owned();
    (!safe.is_empty()).then_some(safe)
}

async fn refuse(
    mut response: hyper::Response<hyper::body::Incoming>,
    limit: Duration,
) -> UpdateError {
    let status = response.status().as_u16();
    let text = http::read_text(response.body_mut(), limit, 4096).await;
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v["error"][name].as_str())
            .map(str::to_owned)
    };
    UpdateError::Status {
        status,
        code: field("code"),
        message: field("message").unwrap_or(text),
    }
}

/// Reads and checks the release headers: the signature over the digest must
/// verify against `pinned`.
fn announced(
    headers: &HeaderMap,
    pinned: &IdentityPublicKey,
    fallback_name: &str,
) -> Result<Announced, UpdateError> {
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(header(headers, "x-skyline-sha256")?, &mut sha256)
        .map_err(|_| UpdateError::BadHeader("x-skyline-sha256"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(header(headers, "x-skyline-signature")?)
        .map_err(|_| UpdateError::BadHeader("x-skyline-signature"))?;
    if !pinned.verify(&sha256, &signature) {
        return Err(UpdateError::BadSignature);
    }
    let size = header(headers, "content-length")?
        .parse()
        .map_err(|_| UpdateError::BadHeader("content-length"))?;
    let version = header(headers, "x-skyline-version")?.to_owned();
    let file_name = headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_name)
        .unwrap_or_else(|| fallback_name.to_owned());
    Ok(Announced {
        version,
        size,
        sha256,
        file_name,
    })
}

/// Downloads the newest release `request` names into `dest_dir` (created if
/// needed), resuming a broken download, and returns it once its SHA-256 and
/// signature verify against `pinned`.
pub async fn download_update(
    config: &ClientConfig,
    request: &UpdateRequest,
    pinned: IdentityPublicKey,
    dest_dir: &Path,
) -> Result<DownloadedUpdate, UpdateError> {
    let limit = config.request_timeout();
    let latest = request.url("latest", true)?;
    let head = http::send(config, Method::HEAD, &latest, &[]).await?;
    if head.status() != StatusCode::OK {
        // A HEAD answer has no body: ask again for the JSON error.
        let answer = http::send(config, Method::GET, &latest, &[]).await?;
        if answer.status() == StatusCode::OK {
            return Err(UpdateError::Http(format!(
                "HEAD answered {} but GET 200",
                head.status().as_u16()
            )));
        }
        return Err(refuse(answer, limit).await);
    }
    let fallback = format!("{}-update", request.product_id);
    let release = announced(head.headers(), &pinned, &fallback)?;
    fs::create_dir_all(dest_dir).await?;
    let part = dest_dir.join(format!(".{}.part", hex::encode(release.sha256)));
    let have = match fs::metadata(&part).await {
        Ok(m) if m.len() <= release.size => m.len(),
        _ => 0,
    };
    let resumed_from = fetch(config, request, &release, &part, have).await?;
    if let Err(e) = verify(&part, &release).await {
        let _ = fs::remove_file(&part).await;
        return Err(e);
    }
    let path = dest_dir.join(&release.file_name);
    fs::rename(&part, &path).await?;
    Ok(DownloadedUpdate {
        path,
        version: release.version,
        size: release.size,
        sha256: release.sha256,
        resumed_from,
    })
}

/// Brings `part` to the release's full length; returns how many bytes were
/// already there and kept.
async fn fetch(
    config: &ClientConfig,
    request: &UpdateRequest,
    release: &Announced,
    part: &Path,
    have: u64,
) -> Result<u64, UpdateError> {
    if have == release.size {
        return Ok(have);
    }
    let tag = format!("\"{}\"", hex::encode(release.sha256));
    let mut headers = Vec::new();
    if have > 0 {
        headers.push(("range", format!("bytes={have}-")));
        headers.push(("if-range", tag));
    }
    let url = request.url(&release.version, false)?;
    let mut response = http::send(config, Method::GET, &url, &headers).await?;
    let kept = match response.status() {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let range = header(response.headers(), "content-range")?;
            if !range.starts_with(&format!("bytes {have}-")) {
                return Err(UpdateError::BadHeader("content-range"));
            }
            have
        }
        StatusCode::OK => 0,
        _ => return Err(refuse(response, config.request_timeout()).await),
    };
    let same = header(response.headers(), "x-skyline-sha256")
        .map(|h| h.eq_ignore_ascii_case(&hex::encode(release.sha256)))?;
    if !same {
        return Err(UpdateError::BadHeader("x-skyline-sha256"));
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(kept > 0)
        .truncate(kept == 0)
        .open(part)
        .await?;
    let mut written = kept;
    while let Some(chunk) = http::next_chunk(response.body_mut(), config.request_timeout()).await? {
        written += chunk.len() as u64;
        if written > release.size {
            drop(file);
            let _ = fs::remove_file(part).await;
            return Err(UpdateError::DigestMismatch);
        }
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(kept)
}

/// Whether `part` is exactly the signed bytes.
async fn verify(part: &Path, release: &Announced) -> Result<(), UpdateError> {
    let mut file = File::open(part).await?;
    let mut hash = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hash.update(&buf[..n]);
    }
    let ok = size == release.size && hash.finish().as_ref() == release.sha256;
    ok.then_some(()).ok_or(UpdateError::DigestMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_http_and_ws_bases() {
        let r = UpdateRequest::new("http://127.0.0.1:7700", "tele power");
        assert_eq!(
            r.url("latest", true).unwrap().as_str(),
            "http://127.0.0.1:7700/download/tele%20power/latest?channel=stable"
        );
        let r = UpdateRequest::new("wss://lic.example.com/ws", "tp")
            .with_platform("win-x64")
            .with_channel(UpdateChannel::Beta);
        assert_eq!(
            r.url("latest", true).unwrap().as_str(),
            "https://lic.example.com/download/tp/latest?platform=win-x64&channel=beta"
        );
        assert_eq!(
            r.url("7.0.3", false).unwrap().as_str(),
            "https://lic.example.com/download/tp/7.0.3?platform=win-x64"
        );
        let r = UpdateRequest::new("https://h/prefix/", "tp");
        assert_eq!(
            r.url("1.0", false).unwrap().as_str(),
            "https://h/prefix/download/tp/1.0"
        );
        assert!(UpdateRequest::new("ftp://h", "tp")
            .url("latest", true)
            .is_err());
    }

    #[test]
    fn file_names_come_from_content_disposition_safely() {
        assert_eq!(
            disposition_name("attachment; filename=\"TelePower-7.0.exe\"").as_deref(),
            Some("TelePower-7.0.exe")
        );
        assert_eq!(
            disposition_name("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            disposition_name("attachment; filename=a b;x").as_deref(),
            Some("a_b")
        );
        assert_eq!(disposition_name("attachment"), None);
        assert_eq!(disposition_name("attachment; filename=\"..\""), None);
    }
}
