//! Releases: the metadata of published update artifacts (the files live in a
//! `BlobStore`, see `crate::releases`).

use rusqlite::{params, Connection, OptionalExtension, Row};
use skyline_protocol::version::Version;

use super::{backend_error, journal, operator, rows};
use crate::store::{
    Actor, AuditAction, NewRelease, Release, ReleaseChannel, ReleaseRef, Sha256Digest, StoreError,
};

/// The columns [`release_row`] reads.
const RELEASE_SELECT: &str = "SELECT id, product_id, version, platform, channel, file_name, \
     size, sha256, signature, yanked, published_at FROM releases";

fn release_row(row: &Row<'_>) -> rusqlite::Result<Release> {
    let platform: String = row.get(3)?;
    let channel: String = row.get(4)?;
    let size: i64 = row.get(6)?;
    let sha256: Vec<u8> = row.get(7)?;
    let signature: Vec<u8> = row.get(8)?;
    let bad = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            format!("stored release {what} is malformed").into(),
        )
    };
    Ok(Release {
        id: row.get(0)?,
        product_id: row.get(1)?,
        version: row.get(2)?,
        platform: (!platform.is_empty()).then_some(platform),
        channel: ReleaseChannel::parse(&channel).ok_or_else(|| bad("channel"))?,
        file_name: row.get(5)?,
        size: u64::try_from(size).map_err(|_| bad("size"))?,
        sha256: sha256.try_into().map_err(|_| bad("digest"))?,
        signature: signature.try_into().map_err(|_| bad("signature"))?,
        yanked: row.get(9)?,
        published_at: row.get(10)?,
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
pub(super) fn publish_release(
    conn: &Connection,
    by: &Actor,
    release: &NewRelease,
    min_version: Option<&str>,
) -> Result<Release, StoreError> {
    let new_version = version(&release.version)?;
    if rows::product(conn, &release.product_id)?.is_none() {
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
    for existing in list_releases(conn, &release.product_id)? {
        if existing.platform.as_deref().unwrap_or("") == platform
            && version(&existing.version)? == new_version
        {
            return Err(StoreError::conflict(what));
        }
    }
    let size = i64::try_from(release.size)
        .map_err(|_| StoreError::Invalid("the artifact is too large".into()))?;
    conn.execute(
        "INSERT INTO releases (product_id, version, platform, channel, file_name, size, \
         sha256, signature, yanked, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
        params![
            release.product_id,
            release.version,
            platform,
            release.channel.as_str(),
            release.file_name,
            size,
            &release.sha256[..],
            &release.signature[..],
            by.at,
        ],
    )
    .map_err(backend_error)?;
    let id = conn.last_insert_rowid();
    let detail = format!(
        "{what}, {} channel, {} ({} bytes, sha256 {})",
        release.channel.as_str(),
        release.file_name,
        release.size,
        hex::encode(release.sha256)
    );
    journal::audit(
        conn,
        by,
        &AuditAction::named(AuditAction::RELEASE_PUBLISHED),
        Some(&release.product_id),
        None,
        &detail,
    )?;
    if let Some(min) = min_version {
        if version(min)? > new_version {
            return Err(StoreError::Invalid(format!(
                "the minimum supported version {min} would be newer than the release {}",
                release.version
            )));
        }
        operator::set_min_version(conn, by, &release.product_id, min)?;
    }
    release_by_id(conn, id)
}

fn release_by_id(conn: &Connection, id: i64) -> Result<Release, StoreError> {
    conn.prepare_cached(&format!("{RELEASE_SELECT} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], release_row))
        .map_err(backend_error)
}

/// [`Store::list_releases`](crate::store::Store::list_releases).
pub(super) fn list_releases(
    conn: &Connection,
    product_id: &str,
) -> Result<Vec<Release>, StoreError> {
    if rows::product(conn, product_id)?.is_none() {
        return Err(StoreError::not_found(format!("product `{product_id}`")));
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "{RELEASE_SELECT} WHERE product_id = ?1 ORDER BY id"
        ))
        .map_err(backend_error)?;
    let releases = stmt
        .query_map([product_id], release_row)
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(releases)
}

/// [`Store::set_release_yanked`](crate::store::Store::set_release_yanked).
pub(super) fn set_release_yanked(
    conn: &Connection,
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
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM releases WHERE product_id = ?1 AND version = ?2 AND platform = ?3",
            params![release.product_id, release.version, platform],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend_error)?;
    let id = id.ok_or_else(|| StoreError::not_found(what.clone()))?;
    conn.execute(
        "UPDATE releases SET yanked = ?2 WHERE id = ?1",
        params![id, yanked],
    )
    .map_err(backend_error)?;
    let action = if yanked {
        AuditAction::RELEASE_YANKED
    } else {
        AuditAction::RELEASE_UNYANKED
    };
    journal::audit(
        conn,
        by,
        &AuditAction::named(action),
        Some(&release.product_id),
        None,
        &what,
    )?;
    release_by_id(conn, id)
}

/// [`Store::release_blob_in_use`](crate::store::Store::release_blob_in_use).
pub(super) fn release_blob_in_use(
    conn: &Connection,
    sha256: &Sha256Digest,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM releases WHERE sha256 = ?1)",
        [&sha256[..]],
        |r| r.get(0),
    )
    .map_err(backend_error)
}
