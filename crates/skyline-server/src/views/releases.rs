//! Releases and admin API tokens.

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{AdminToken, Release};

/// A release (update download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Release")]
pub struct ReleaseView {
    /// Its id.
    pub id: i64,
    /// The product it updates.
    pub product: String,
    /// Its version, as published.
    pub version: String,
    /// Its platform; null for every platform.
    pub platform: Option<String>,
    /// `stable` or `beta`.
    pub channel: String,
    /// The file name downloads are saved under.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact, lowercase hex.
    pub sha256: String,
    /// Base64 of the Ed25519 signature by the identity key.
    pub signature: String,
    /// Withdrawn: not offered, not downloadable.
    pub yanked: bool,
    /// When it was published, UNIX seconds.
    pub published_at: i64,
}

impl From<&Release> for ReleaseView {
    fn from(r: &Release) -> Self {
        ReleaseView {
            id: r.id,
            product: r.product_id.clone(),
            version: r.version.clone(),
            platform: r.platform.clone(),
            channel: r.channel.as_str().to_owned(),
            file_name: r.file_name.clone(),
            size: r.size,
            sha256: hex::encode(r.sha256),
            signature: base64::engine::general_purpose::STANDARD.encode(r.signature),
            yanked: r.yanked,
            published_at: r.published_at,
        }
    }
}

/// An admin API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "AdminToken")]
pub struct AdminTokenView {
    /// The public id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Whether it may only read.
    pub read_only: bool,
    /// When it was created, UNIX seconds.
    pub created_at: i64,
    /// When it was last used, UNIX seconds.
    pub last_used_at: Option<i64>,
    /// When it was revoked, UNIX seconds.
    pub revoked_at: Option<i64>,
}

impl From<&AdminToken> for AdminTokenView {
    fn from(t: &AdminToken) -> Self {
        AdminTokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            read_only: t.read_only,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token just created, with its text: shown once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedAdminToken {
    /// The token.
    #[serde(flatten)]
    pub view: AdminTokenView,
    /// `sla_<id>_<secret>`, for `Authorization: Bearer`.
    pub token: String,
}
