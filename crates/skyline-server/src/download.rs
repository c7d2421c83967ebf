//! Update downloads (PROTOCOL.md section 7) on the main listener:
//!
//! - `GET|HEAD /download/{productId}/latest?platform=&channel=`: the newest
//!   release that is not yanked ([`select_latest`]);
//! - `GET|HEAD /download/{productId}/{version}?platform=`: one version.
//!
//! The file is streamed from the [`BlobStore`] (a directory or the
//! database, as the [`Deployment`](crate::deployment::Deployment) decided), never read
//! whole, with
//! `Content-Disposition: attachment; filename="..."`, `Content-Length`,
//! `ETag` (the SHA-256 in quotes), `Accept-Ranges: bytes` and the
//! `X-Skyline-Sha256` / `X-Skyline-Signature` headers the client verifies.
//! `Range` gives 206 (one range; several are answered with the whole file),
//! an unsatisfiable one 416; `If-None-Match` gives 304; `If-Range` with
//! another ETag gives the whole file. Errors are JSON ([`ApiError`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use crate::api_error::ApiError;
use crate::blobs::BlobStore;
use crate::domain::releases::{select_latest, select_version};
use crate::domain::{DomainError, Release, ReleaseChannel};
use crate::store::{Store, StoreError};
use crate::Services;

/// The release's SHA-256, lowercase hex.
pub const SHA256_HEADER: &str = "x-skyline-sha256";
/// Base64 (standard) of the Ed25519 signature over the 32-byte digest.
pub const SIGNATURE_HEADER: &str = "x-skyline-signature";
/// The release's version.
pub const VERSION_HEADER: &str = "x-skyline-version";

/// Bytes per chunk of a streamed download.
const STREAM_CHUNK: usize = 64 * 1024;

/// What the download routes work with.
#[derive(Clone)]
pub(crate) struct Downloads {
    store: Store,
    blobs: Option<Arc<dyn BlobStore>>,
    /// Cancelled at shutdown: streams still running end there (the client
    /// resumes later), so a large download cannot hold the server up.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

/// The download routes, to merge into the main router.
pub(crate) fn routes<S>(services: &Services, shutdown: CancellationToken) -> Router<S> {
    let state = Arc::new(Downloads {
        store: services.store.clone(),
        blobs: services.blobs.clone(),
        shutdown,
    });
    Router::new()
        .route("/download/{product_id}/{version}", get(download))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    platform: Option<String>,
    channel: Option<String>,
}

async fn download(
    State(downloads): State<Arc<Downloads>>,
    Path((product_id, version)): Path<(String, String)>,
    query: Result<Query<DownloadQuery>, QueryRejection>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    match find(&downloads, &product_id, &version, &query).await {
        Ok(release) => serve(&downloads, &release, method == Method::HEAD, &headers).await,
        Err(e) => e.into_response(),
    }
}

/// The release a download names.
async fn find(
    downloads: &Downloads,
    product_id: &str,
    version: &str,
    query: &DownloadQuery,
) -> Result<Release, ApiError> {
    let channel = match query.channel.as_deref() {
        None | Some("") => ReleaseChannel::Stable,
        Some(text) => ReleaseChannel::parse(text)
            .ok_or_else(|| ApiError::bad_request("`channel` must be `stable` or `beta`"))?,
    };
    let platform = query.platform.as_deref().filter(|p| !p.is_empty());
    let unknown_product = || {
        ApiError::not_found(
            "UNKNOWN_PRODUCT",
            format!("no product `{product_id}` is served here"),
        )
    };
    let products = downloads
        .store
        .list_products()
        .await
        .map_err(ApiError::from_store)?;
    if !products.iter().any(|p| p.id == product_id && p.enabled) {
        return Err(unknown_product());
    }
    let all = downloads
        .store
        .list_releases(product_id)
        .await
        .map_err(|e| match e {
            StoreError::Domain(DomainError::NotFound { .. }) => unknown_product(),
            other => ApiError::from_store(other),
        })?;
    if version == "latest" {
        return select_latest(&all, platform, channel)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(
                    "UNKNOWN_RELEASE",
                    format!(
                        "`{product_id}` has no {} release{}",
                        channel.as_str(),
                        platform.map(|p| format!(" for {p}")).unwrap_or_default()
                    ),
                )
            });
    }
    let release = select_version(&all, version, platform).ok_or_else(|| {
        ApiError::not_found(
            "UNKNOWN_RELEASE",
            format!("`{product_id}` has no release {version}"),
        )
    })?;
    if release.yanked {
        return Err(ApiError::new(
            StatusCode::GONE,
            "RELEASE_YANKED",
            format!("release {version} of `{product_id}` was withdrawn"),
        ));
    }
    Ok(release.clone())
}

/// The headers every answer about `release` carries.
fn release_headers(release: &Release) -> Vec<(HeaderName, String)> {
    let signature = base64::engine::general_purpose::STANDARD.encode(release.signature);
    vec![
        (header::ETAG, etag(release)),
        (header::ACCEPT_RANGES, "bytes".into()),
        (header::CACHE_CONTROL, "no-cache".into()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", release.file_name),
        ),
        (
            HeaderName::from_static(SHA256_HEADER),
            hex::encode(release.sha256),
        ),
        (HeaderName::from_static(SIGNATURE_HEADER), signature),
        (
            HeaderName::from_static(VERSION_HEADER),
            release.version.clone(),
        ),
    ]
}

fn etag(release: &Release) -> String {
    format!("\"{}\"", hex::encode(release.sha256))
}

/// Builds the answer: 304, 416, 206 or 200, streaming the bytes unless `head`.
async fn serve(
    downloads: &Downloads,
    release: &Release,
    head: bool,
    headers: &HeaderMap,
) -> Response {
    let tag = etag(release);
    let mut builder = Response::builder();
    for (name, value) in release_headers(release) {
        // Every value is ASCII: hex, base64, a sanitized name or a version.
        if let Ok(value) = HeaderValue::from_str(&value) {
            builder = builder.header(name, value);
        }
    }
    if if_none_match(headers, &tag) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_else(|e| ApiError::internal(&e).into_response());
    }
    let size = release.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) if if_range_allows(headers, &tag) => parse_range(text, size),
        _ => ByteRange::Full,
    };
    let (status, offset, len) = match range {
        ByteRange::Full => (StatusCode::OK, 0, size),
        ByteRange::Part { first, last } => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{size}"),
            );
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        ByteRange::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_NOT_SATISFIABLE",
                format!("the file has {size} bytes"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let builder = builder
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len);
    let body = if head {
        Body::empty()
    } else {
        let Some(blobs) = &downloads.blobs else {
            return ApiError::internal(&"a release is recorded but release storage is off")
                .into_response();
        };
        match blobs.open(&release.sha256, offset, len).await {
            Ok(reader) => Body::from_stream(
                ReaderStream::with_capacity(reader, STREAM_CHUNK)
                    .take_until(downloads.shutdown.clone().cancelled_owned()),
            ),
            Err(e) => return ApiError::from_blob(e).into_response(),
        }
    };
    builder
        .body(body)
        .unwrap_or_else(|e| ApiError::internal(&e).into_response())
}

/// Whether `If-None-Match` names `tag` (weak comparison) or is `*`.
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Whether a `Range` may be honoured: no `If-Range`, or one naming `tag`.
fn if_range_allows(headers: &HeaderMap, tag: &str) -> bool {
    match headers.get(header::IF_RANGE) {
        None => true,
        Some(v) => v.to_str().map(|t| t.trim() == tag).unwrap_or(false),
    }
}

/// What a `Range` header asks of a file of some size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// The whole file (no usable range, or several ranges).
    Full,
    /// Bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// Nothing of the file is in the range: 416.
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size` bytes. A
/// header of another unit, a malformed one or a list of ranges is ignored
/// (the whole file is sent), as RFC 9110 allows.
fn parse_range(text: &str, size: u64) -> ByteRange {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (number(start), number(end), end.trim().is_empty()) {
        (Some(first), _, true) => {
            if first < size {
                ByteRange::Part {
                    first,
                    last: size - 1,
                }
            } else {
                ByteRange::Unsatisfiable
            }
        }
        (Some(first), Some(last), false) if first <= last => {
            if first < size {
                ByteRange::Part {
                    first,
                    last: last.min(size - 1),
                }
            } else {
                ByteRange::Unsatisfiable
            }
        }
        (None, Some(suffix), false) if start.trim().is_empty() => {
            if suffix == 0 || size == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    first: size - suffix.min(size),
                    last: size - 1,
                }
            }
        }
        _ => ByteRange::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use ByteRange::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part { first: 0, last: 9 });
        assert_eq!(
            parse_range("bytes=90-", 100),
            Part {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            parse_range("bytes=90-500", 100),
            Part {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            Part {
                first: 90,
                last: 99
            }
        );
        assert_eq!(parse_range("bytes=-500", 100), Part { first: 0, last: 99 });
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-0", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=x-1", 100), Full);
    }

    #[test]
    fn conditional_headers() {
        let tag = "\"abc\"";
        let mut headers = HeaderMap::new();
        assert!(!if_none_match(&headers, tag));
        assert!(if_range_allows(&headers, tag));
        headers.insert(header::IF_NONE_MATCH, "\"x\", W/\"abc\"".parse().unwrap());
        assert!(if_none_match(&headers, tag));
        headers.insert(header::IF_RANGE, "\"other\"".parse().unwrap());
        assert!(!if_range_allows(&headers, tag));
        headers.insert(header::IF_RANGE, tag.parse().unwrap());
        assert!(if_range_allows(&headers, tag));
    }
}
