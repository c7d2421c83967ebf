//! Releases: the metadata of published update artifacts (the bytes live in
//! a `BlobStore`: with this backend, usually [`super::blobs`]).
//!
//! Publishing locks the product's row first, so two nodes publishing `7.0`
//! and `7.0.0` of one product at once run one after the other and the
//! second sees the first (the numeric duplicate check is not a constraint).

use deadpool_postgres::{GenericClient, Transaction};
use skyline_protocol::version::Version;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::rows::{self, get};
use super::{journal, operator, pg_error};
use crate::store::{
    Actor, AuditAction, NewRelease, Release, ReleaseChannel, ReleaseRef, Sha256Digest, StoreError,
};

/// The columns [`release_row`] reads.
const RELEASE_SELECT: &str = "SELECT id, product_id, version, platform, channel, file_name, \
     size, sha256, signature, yanked, published_at FROM releases";

fn release_row(row: &Row) -> Result<Release, StoreError> {
    let bad = |what: &str| StoreError::Backend(format!("stored release {what} is malformed"));
    let platform: String = get(row, 3)?;
    let size: i64 = get(row, 6)?;
    let sha256: &[u8] = get(row, 7)?;
    let signature: &[u8] = get(row, 8)?;
    Ok(Release {
        id: get(row, 0)?,
        product_id: get(row, 1)?,
        version: get(row, 2)?,
        platform: (!platform.is_empty()).then_some(platform),
        channel: ReleaseChannel::parse(get(row, 4)?).ok_or_else(|| bad("channel"))?,
        file_name: get(row, 5)?,
        size: u64::try_from(size).map_err(|_| bad("size"))?,
        sha256: sha256.try_into().map_err(|_| bad("digest"))?,
        signature: signature.try_into().map_err(|_| bad("signature"))?,
        yanked: get(row, 9)?,
        published_at: get(row, 10)?,
    })
}

fn version(text: &str) -> Result<Version, StoreError> {
    Version::parse(text).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn describe(product_id: &str, version: &str, platform: Option<&str>) -> String {
    match platform {
        Some(p) => format!("release {version} of `{product_id}` for {p}"),
        None => format!("release {version} of `{product_id}`"),
    }
}

/// [`Store::publish_release`](crate::store::Store::publish_release).
pub(super) async fn publish_release(
    tx: &Transaction<'_>,
    by: &Actor,
    release: &NewRelease,
    min_version: Option<&str>,
) -> Result<Release, StoreError> {
    let new_version = version(&release.version)?;
    let locked = rows::query_opt(
        tx,
        "SELECT id FROM products WHERE id = $1 FOR NO KEY UPDATE",
        &[&release.product_id],
    )
    .await
    .map_err(pg_error)?;
    if locked.is_none() {
        return Err(StoreError::not_found(format!(
            "product `{}`",
            release.product_id
        )));
    }
    let platform = release.platform.as_deref().unwrap_or("");
    let what = describe(
        &release.product_id,
        &release.version,
        release.platform.as_deref(),
    );
    // `7.0` and `7.0.0` are the same version: refuse both, not only the text.
    for existing in list_releases(tx, &release.product_id).await? {
        if existing.platform.as_deref().unwrap_or("") == platform
            && version(&existing.version)? == new_version
        {
            return Err(StoreError::conflict(what));
        }
    }
    let size = i64::try_from(release.size)
        .map_err(|_| StoreError::Invalid("the artifact is too large".into()))?;
    let row = rows::query_opt(
        tx,
        "INSERT INTO releases (product_id, version, platform, channel, file_name, size, \
         sha256, signature, yanked, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9) RETURNING id",
        &[
            &release.product_id,
            &release.version,
            &platform,
            &release.channel.as_str(),
            &release.file_name,
            &size,
            &&release.sha256[..],
            &&release.signature[..],
            &by.at,
        ],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::conflict(what.clone())
        } else {
            pg_error(e)
        }
    })?
    .ok_or_else(|| StoreError::Backend("the new release has no id".into()))?;
    let id: i64 = get(&row, 0)?;
    let detail = format!(
        "{what}, {} channel, {} ({} bytes, sha256 {})",
        release.channel.as_str(),
        release.file_name,
        release.size,
        hex::encode(release.sha256)
    );
    journal::audit(
        tx,
        by,
        &AuditAction::named(AuditAction::RELEASE_PUBLISHED),
        Some(&release.product_id),
        None,
        &detail,
    )
    .await?;
    if let Some(min) = min_version {
        if version(min)? > new_version {
            return Err(StoreError::Invalid(format!(
                "the minimum supported version {min} would be newer than the release {}",
                release.version
            )));
        }
        operator::set_min_version(tx, by, &release.product_id, min).await?;
    }
    release_by_id(tx, id).await
}

async fn release_by_id<C: GenericClient>(c: &C, id: i64) -> Result<Release, StoreError> {
    let sql = format!("{RELEASE_SELECT} WHERE id = $1");
    let row = rows::query_opt(c, &sql, &[&id])
        .await
        .map_err(pg_error)?
        .ok_or_else(|| StoreError::not_found("release"))?;
    release_row(&row)
}

/// [`Store::list_releases`](crate::store::Store::list_releases).
pub(super) async fn list_releases<C: GenericClient>(
    c: &C,
    product_id: &str,
) -> Result<Vec<Release>, StoreError> {
    if rows::product(c, product_id).await?.is_none() {
        return Err(StoreError::not_found(format!("product `{product_id}`")));
    }
    let sql = format!("{RELEASE_SELECT} WHERE product_id = $1 ORDER BY id");
    rows::query(c, &sql, &[&product_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(release_row)
        .collect()
}

/// [`Store::set_release_yanked`](crate::store::Store::set_release_yanked).
pub(super) async fn set_release_yanked(
    tx: &Transaction<'_>,
    by: &Actor,
    release: &ReleaseRef,
    yanked: bool,
) -> Result<Release, StoreError> {
    let platform = release.platform.as_deref().unwrap_or("");
    let what = describe(
        &release.product_id,
        &release.version,
        release.platform.as_deref(),
    );
    let id: i64 = rows::query_opt(
        tx,
        "UPDATE releases SET yanked = $4 \
         WHERE product_id = $1 AND version = $2 AND platform = $3 RETURNING id",
        &[&release.product_id, &release.version, &platform, &yanked],
    )
    .await
    .map_err(pg_error)?
    .map(|row| get(&row, 0))
    .transpose()?
    .ok_or_else(|| StoreError::not_found(what.clone()))?;
    let action = if yanked {
        AuditAction::RELEASE_YANKED
    } else {
        AuditAction::RELEASE_UNYANKED
    };
    journal::audit(
        tx,
        by,
        &AuditAction::named(action),
        Some(&release.product_id),
        None,
        &what,
    )
    .await?;
    release_by_id(tx, id).await
}

/// [`Store::release_blob_in_use`](crate::store::Store::release_blob_in_use).
pub(super) async fn release_blob_in_use<C: GenericClient>(
    c: &C,
    sha256: &Sha256Digest,
) -> Result<bool, StoreError> {
    let row = rows::query_opt(
        c,
        "SELECT EXISTS (SELECT 1 FROM releases WHERE sha256 = $1)",
        &[&&sha256[..]],
    )
    .await
    .map_err(pg_error)?
    .ok_or_else(|| StoreError::Backend("EXISTS returned no row".into()))?;
    get(&row, 0)
}
