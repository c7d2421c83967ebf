//! Releases (PROTOCOL.md section 7): publishing a signed artifact and
//! choosing which release a download gets.
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | [`publish`], [`select_latest`], [`select_version`], [`sanitize_file_name`] |
//! | [`blobs`] | [`BlobStore`], content-addressed artifact storage; [`FsBlobStore`] |
//!
//! The artifacts are kept in a directory ([`FsBlobStore`], the single-node
//! default) or in the database ([`PgBlobStore`](crate::store::postgres::PgBlobStore),
//! so that several nodes on one PostgreSQL serve every download), as
//! [`ReleaseStorage`] says.
//!
//! Publishing stores the artifact under its SHA-256, signs the 32-byte
//! digest with the identity key, then records the release (and, optionally, a
//! new minimum supported version) in one store transaction. The `skyline
//! release publish` command and the admin API both call [`publish`].

pub mod blobs;

use std::sync::Arc;

use skyline_protocol::version::Version;
use skyline_protocol::IdentityKeyPair;
use tokio::io::AsyncRead;

pub use blobs::{BlobError, BlobReader, BlobStore, FsBlobStore, StoredBlob};

use crate::config::ReleaseStorage;
use crate::store::{Actor, NewRelease, Release, ReleaseChannel, Store, StoreError};

/// Largest artifact [`publish`] accepts by default: 4 GiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// The blob store a [`ReleaseStorage`] names; `None` when releases are off,
/// or when they should be in the database and `store`'s backend keeps no
/// artifacts (said in the log).
pub fn blob_store(storage: &ReleaseStorage, store: &dyn Store) -> Option<Arc<dyn BlobStore>> {
    match storage {
        ReleaseStorage::Off => None,
        ReleaseStorage::Directory(dir) => Some(Arc::new(FsBlobStore::new(dir))),
        ReleaseStorage::Database => {
            let blobs = store.release_blobs();
            if blobs.is_none() {
                tracing::error!(
                    "release artifacts cannot be stored in this database (SQLite keeps them in \
                     a directory): releases are off"
                );
            }
            blobs
        }
    }
}

/// What to publish, besides the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// The product.
    pub product_id: String,
    /// The release's dotted version.
    pub version: String,
    /// Its platform; `None` for every platform.
    pub platform: Option<String>,
    /// Stable or beta.
    pub channel: ReleaseChannel,
    /// The file name downloads are saved under (sanitized here).
    pub file_name: String,
    /// Also set the product's minimum supported version to this.
    pub min_version: Option<String>,
}

/// Publishing failed; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The request makes no sense (a bad version, platform or file name).
    #[error("{0}")]
    Invalid(String),
    /// Storing the artifact failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Recording the release failed (unknown product, duplicate release, …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `name` is a usable platform name: 1 to 64 of `a-z 0-9 . _ -`.
pub fn valid_platform(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// A file name safe to offer in `Content-Disposition` and to save under:
/// the last path component, with every character outside `A-Z a-z 0-9 . _ -
/// +` replaced by `_`, no leading dot, at most 128 characters. `None` when
/// nothing usable is left.
pub fn sanitize_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    let cleaned: String = cleaned.chars().take(128).collect();
    (!cleaned.is_empty() && cleaned.chars().any(|c| c != '_')).then_some(cleaned)
}

/// Validates `request`, stores the artifact from `source`, signs its digest
/// with `identity` and records the release. If recording fails, the stored
/// artifact is removed again unless another release uses the same bytes.
pub async fn publish(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    identity: &IdentityKeyPair,
    by: &Actor,
    request: PublishRequest,
    source: &mut (dyn AsyncRead + Send + Unpin),
    max_size: u64,
) -> Result<Release, PublishError> {
    Version::parse(&request.version).map_err(|e| PublishError::Invalid(e.to_string()))?;
    if let Some(min) = &request.min_version {
        Version::parse(min).map_err(|e| PublishError::Invalid(e.to_string()))?;
    }
    if let Some(platform) = &request.platform {
        if !valid_platform(platform) {
            return Err(PublishError::Invalid(
                "a platform name must be 1 to 64 of a-z, 0-9, `.`, `_` and `-`".into(),
            ));
        }
    }
    let file_name = sanitize_file_name(&request.file_name).ok_or_else(|| {
        PublishError::Invalid(format!(
            "`{}` is not a usable file name",
            request.file_name.chars().take(64).collect::<String>()
        ))
    })?;
    // Refuse an unknown product before reading a possibly large upload.
    store.list_releases(&request.product_id).await?;
    let stored = blobs.put(source, max_size).await?;
    let release = NewRelease {
        product_id: request.product_id,
        version: request.version,
        platform: request.platform,
        channel: request.channel,
        file_name,
        size: stored.size,
        sha256: stored.sha256,
        signature: identity.sign(&stored.sha256),
    };
    match store
        .publish_release(by, release, request.min_version.as_deref())
        .await
    {
        Ok(release) => Ok(release),
        Err(e) => {
            if let Ok(false) = store.release_blob_in_use(&stored.sha256).await {
                if let Err(cleanup) = blobs.delete(&stored.sha256).await {
                    tracing::warn!(error = %cleanup, "removing an unrecorded artifact failed");
                }
            }
            Err(e.into())
        }
    }
}

fn parsed(release: &Release) -> Option<Version> {
    Version::parse(&release.version).ok()
}

/// Whether `release` is for `platform`: a release for every platform fits
/// any; without a platform only those fit.
fn fits(release: &Release, platform: Option<&str>) -> bool {
    match (&release.platform, platform) {
        (None, _) => true,
        (Some(p), Some(wanted)) => p == wanted,
        (Some(_), None) => false,
    }
}

/// Orders candidates: higher version first; at the same version, the
/// platform's own build before the every-platform one.
fn better(a: &Release, b: &Release) -> bool {
    match (parsed(a), parsed(b)) {
        (Some(va), Some(vb)) if va != vb => va > vb,
        _ => a.platform.is_some() && b.platform.is_none(),
    }
}

/// The newest release a client on `platform` following `channel` is
/// offered: not yanked, the highest version by numeric comparison. With a
/// platform, that platform's releases and every-platform releases compete;
/// without one, only every-platform releases. The beta channel also offers
/// stable releases.
pub fn select_latest<'a>(
    releases: &'a [Release],
    platform: Option<&str>,
    channel: ReleaseChannel,
) -> Option<&'a Release> {
    releases
        .iter()
        .filter(|r| !r.yanked && channel.offers(r.channel) && fits(r, platform))
        .filter(|r| parsed(r).is_some())
        .fold(None, |best: Option<&Release>, r| match best {
            Some(b) if !better(r, b) => Some(b),
            _ => Some(r),
        })
}

/// The release with this version (compared numerically, so `7.0` finds
/// `7.0.0`) for `platform`, yanked or not (the caller decides).
pub fn select_version<'a>(
    releases: &'a [Release],
    version: &str,
    platform: Option<&str>,
) -> Option<&'a Release> {
    let wanted = Version::parse(version).ok()?;
    releases
        .iter()
        .filter(|r| fits(r, platform) && parsed(r).as_ref() == Some(&wanted))
        .fold(None, |best: Option<&Release>, r| match best {
            Some(b) if b.platform.is_some() => Some(b),
            _ => Some(r),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, platform: Option<&str>, channel: ReleaseChannel) -> Release {
        Release {
            id: 0,
            product_id: "p".into(),
            version: version.into(),
            platform: platform.map(str::to_owned),
            channel,
            file_name: "f".into(),
            size: 0,
            sha256: [0; 32],
            signature: [0; 64],
            yanked: false,
            published_at: 0,
        }
    }

    #[test]
    fn latest_is_numeric_and_respects_channel_platform_and_yank() {
        use ReleaseChannel::{Beta, Stable};
        let mut all = vec![
            release("7.0.9", None, Stable),
            release("7.0.10", None, Stable),
            release("7.1.0", None, Beta),
            release("7.0.10", Some("win"), Stable),
            release("8.0", Some("mac"), Stable),
        ];
        let pick = |all: &[Release], p, c| {
            select_latest(all, p, c).map(|r| (r.version.clone(), r.platform.clone()))
        };
        assert_eq!(pick(&all, None, Stable), Some(("7.0.10".into(), None)));
        assert_eq!(pick(&all, None, Beta), Some(("7.1.0".into(), None)));
        assert_eq!(
            pick(&all, Some("win"), Stable),
            Some(("7.0.10".into(), Some("win".into())))
        );
        assert_eq!(
            pick(&all, Some("mac"), Stable),
            Some(("8.0".into(), Some("mac".into())))
        );
        all[1].yanked = true;
        all[3].yanked = true;
        assert_eq!(
            pick(&all, Some("win"), Stable),
            Some(("7.0.9".into(), None))
        );
        assert_eq!(select_latest(&all[..0], None, Stable), None);
    }

    #[test]
    fn versions_match_numerically() {
        let all = vec![
            release("7.0.0", None, ReleaseChannel::Stable),
            release("7.0", Some("win"), ReleaseChannel::Stable),
        ];
        assert_eq!(select_version(&all, "7", None).unwrap().version, "7.0.0");
        assert_eq!(
            select_version(&all, "7.0.0", Some("win")).unwrap().version,
            "7.0"
        );
        assert!(select_version(&all, "7.0.1", None).is_none());
        assert!(select_version(&all, "latest", None).is_none());
    }

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(
            sanitize_file_name("a/b/Tele Power 7.0.exe").unwrap(),
            "Tele_Power_7.0.exe"
        );
        assert_eq!(sanitize_file_name("..\\..\\evil\".sh").unwrap(), "evil_.sh");
        assert_eq!(sanitize_file_name("...hidden").unwrap(), "hidden");
        assert_eq!(sanitize_file_name("\"\r\n"), None);
        assert_eq!(sanitize_file_name(""), None);
        assert!(valid_platform("windows-x64"));
        assert!(!valid_platform("Windows x64"));
    }
}
