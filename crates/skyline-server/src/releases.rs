//! Publishing a release (PROTOCOL.md section 7): store the artifact under
//! its SHA-256, sign its digest with the identity key, record the release
//! ([`RecordRelease`], decided by the domain) in one store transaction.
//! The `skyline release publish` command and the admin API both call
//! [`publish`]; which release a download gets is decided in
//! [`crate::domain::releases`].

use skyline_protocol::IdentityKeyPair;
use tokio::io::AsyncRead;

use crate::blobs::{BlobError, BlobStore};
use crate::domain::releases::{check_publish, RecordRelease};
use crate::domain::{Actor, DomainError, NewRelease, Release, ReleaseChannel};
use crate::store::{Store, StoreError};

/// Largest artifact [`publish`] accepts by default: 4 GiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 4 << 30;

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
    /// Storing the artifact failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Recording the release failed (a bad version, an unknown product, a
    /// duplicate release, …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DomainError> for PublishError {
    fn from(e: DomainError) -> Self {
        PublishError::Store(e.into())
    }
}

/// Validates `request`, stores the artifact from `source`, signs its digest
/// with `identity` and records the release. If recording fails, the stored
/// artifact is removed again unless another release uses the same bytes.
pub async fn publish(
    store: &Store,
    blobs: &dyn BlobStore,
    identity: &IdentityKeyPair,
    by: &Actor,
    request: PublishRequest,
    source: &mut (dyn AsyncRead + Send + Unpin),
    max_size: u64,
) -> Result<Release, PublishError> {
    // Refuse what cannot be recorded before reading a possibly large upload.
    let file_name = check_publish(
        &request.version,
        request.platform.as_deref(),
        request.min_version.as_deref(),
        &request.file_name,
    )?;
    store.list_releases(&request.product_id).await?;
    let stored = blobs.put(source, max_size).await?;
    let release = NewRelease {
        product_id: request.product_id.clone(),
        version: request.version.clone(),
        platform: request.platform.clone(),
        channel: request.channel,
        file_name,
        size: stored.size,
        sha256: stored.sha256,
        signature: identity.sign(&stored.sha256),
    };
    let recorded = store
        .execute(
            RecordRelease {
                release,
                min_version: request.min_version,
            },
            by,
        )
        .await;
    if let Err(e) = recorded {
        if let Ok(false) = store.release_blob_in_use(&stored.sha256).await {
            if let Err(cleanup) = blobs.delete(&stored.sha256).await {
                tracing::warn!(error = %cleanup, "removing an unrecorded artifact failed");
            }
        }
        return Err(e.into());
    }
    store
        .list_releases(&request.product_id)
        .await?
        .into_iter()
        .rev()
        .find(|r| r.version == request.version && r.platform == request.platform)
        .ok_or_else(|| {
            PublishError::Store(StoreError::not_found(crate::domain::releases::describe(
                &request.product_id,
                &request.version,
                request.platform.as_deref(),
            )))
        })
}
