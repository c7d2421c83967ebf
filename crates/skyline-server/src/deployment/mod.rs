//! [`Deployment::open`]: the one way into a Skyline deployment for every
//! command — `serve`, the operator commands, export, import, migrate and the
//! load tool. It reads (or, for `serve` only, creates) the identity key,
//! opens and migrates the database, settles its license index, and decides
//! once where release artifacts live.
//!
//! | module | what it holds |
//! | --- | --- |
//! | this file | [`DeploymentSettings`], [`IdentityUse`], [`Deployment`], [`ReleaseStorage`] |
//! | [`identity`] | the identity key file: read, or create with mode 0600 |
//!
//! Flags, environment and the config file are the binary's business: it
//! resolves them into [`DeploymentSettings`] and passes them down.

pub mod identity;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skyline_protocol::IdentityKeyPair;

use crate::blobs::{BlobStore, FsBlobStore};
use crate::clock::Clock;
use crate::license_index::LicenseIndex;
use crate::store::{self, Store, StoreError};
use crate::Services;

pub use identity::IdentityError;

/// Where a deployment is, as the binary resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSettings {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The identity key file.
    pub identity_path: PathBuf,
    /// Whether that path is the default one (`DATA_DIR/identity.key`) rather
    /// than one the operator named: only the default is ever created.
    pub identity_is_default: bool,
    /// A releases directory the operator named; `None`: the default.
    pub releases_dir: Option<PathBuf>,
    /// The releases directory when none is named and the database keeps no
    /// artifacts (`DATA_DIR/releases`).
    pub default_releases_dir: PathBuf,
    /// Use an identity key others may read (with a warning) instead of
    /// refusing it.
    pub allow_exposed_identity: bool,
}

/// What a command needs of the identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityUse {
    /// Nothing: it signs nothing. The key is read if it is there (a database
    /// made by an earlier version needs it once to settle its index), and
    /// never created.
    Optional,
    /// It signs (`release publish`): the key must be readable.
    Required,
    /// `serve`: read it, or create it at the default path if it is missing.
    CreateIfMissing,
}

/// Where release artifacts (update downloads) are kept, decided once by
/// [`Deployment::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStorage {
    /// Content-addressed files in this directory (`DIR/<sha256 hex>`),
    /// created on the first publish. The default with SQLite is
    /// `DATA_DIR/releases`; several nodes would have to share it.
    Directory(PathBuf),
    /// In the database itself, so that every node on it serves every
    /// artifact (PostgreSQL's default).
    Database,
}

impl std::fmt::Display for ReleaseStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReleaseStorage::Directory(dir) => write!(f, "the directory {}", dir.display()),
            ReleaseStorage::Database => f.write_str("the database"),
        }
    }
}

/// Opening a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The identity key could not be read or created.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The database could not be opened (its URL shown without a password).
    #[error("cannot open database {database}: {source}")]
    Database {
        /// The database URL, password redacted.
        database: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// An open deployment: its store, its identity key (when read), where its
/// release artifacts live.
#[derive(Debug)]
pub struct Deployment {
    /// The database.
    pub store: Store,
    /// The identity key, if it was read or created.
    pub identity: Option<Arc<IdentityKeyPair>>,
    /// Whether the identity key was created just now.
    pub identity_created: bool,
    /// Where release artifacts live.
    pub releases: ReleaseStorage,
    /// The artifacts themselves.
    pub blobs: Arc<dyn BlobStore>,
    settings: DeploymentSettings,
}

impl Deployment {
    /// Opens the deployment `settings` names, with the identity key as
    /// `identity` says.
    pub async fn open(
        settings: &DeploymentSettings,
        identity: IdentityUse,
    ) -> Result<Deployment, DeploymentError> {
        let path = &settings.identity_path;
        let (pair, created) = match identity {
            IdentityUse::CreateIfMissing => {
                let (pair, created) = identity::load_or_create(
                    path,
                    settings.identity_is_default,
                    settings.allow_exposed_identity,
                )?;
                (Some(pair), created)
            }
            IdentityUse::Required => (
                Some(identity::load_checked(
                    path,
                    settings.allow_exposed_identity,
                )?),
                false,
            ),
            IdentityUse::Optional if path.exists() => (
                Some(identity::load_checked(
                    path,
                    settings.allow_exposed_identity,
                )?),
                false,
            ),
            IdentityUse::Optional => (None, false),
        };
        let legacy = pair
            .as_ref()
            .and_then(|pair| LicenseIndex::from_identity(pair).ok());
        let store = store::open(&settings.database_url, legacy.as_ref())
            .await
            .map_err(|source| DeploymentError::Database {
                database: redact_url(&settings.database_url),
                source,
            })?;
        let (releases, blobs): (ReleaseStorage, Arc<dyn BlobStore>) =
            match (&settings.releases_dir, store.release_blobs()) {
                (Some(dir), _) => (
                    ReleaseStorage::Directory(dir.clone()),
                    Arc::new(FsBlobStore::new(dir)),
                ),
                (None, Some(blobs)) => (ReleaseStorage::Database, blobs),
                (None, None) => (
                    ReleaseStorage::Directory(settings.default_releases_dir.clone()),
                    Arc::new(FsBlobStore::new(&settings.default_releases_dir)),
                ),
            };
        Ok(Deployment {
            store,
            identity: pair.map(Arc::new),
            identity_created: created,
            releases,
            blobs,
            settings: settings.clone(),
        })
    }

    /// The identity key, for a command that signs; a clear error when the
    /// deployment was opened without it.
    pub fn identity(&self) -> Result<Arc<IdentityKeyPair>, IdentityError> {
        match &self.identity {
            Some(pair) => Ok(pair.clone()),
            None => Err(IdentityError::Missing {
                path: self.settings.identity_path.clone(),
            }),
        }
    }

    /// The identity key file's path.
    pub fn identity_path(&self) -> &Path {
        &self.settings.identity_path
    }

    /// The database URL, password redacted.
    pub fn database(&self) -> String {
        redact_url(&self.settings.database_url)
    }

    /// The directory of the SQLite database file (whose disk the telemetry
    /// watermark watches); `None` with PostgreSQL.
    pub fn database_dir(&self) -> Option<PathBuf> {
        match crate::store::DatabaseUrl::parse(&self.settings.database_url).ok()? {
            crate::store::DatabaseUrl::Sqlite { path, .. } => {
                let path = Path::new(&path);
                Some(match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                    _ => PathBuf::from("."),
                })
            }
            crate::store::DatabaseUrl::Postgres(_) => None,
        }
    }

    /// What the server runs with.
    pub fn services(&self, clock: Arc<dyn Clock>) -> Result<Services, IdentityError> {
        Ok(Services {
            identity: self.identity()?,
            store: self.store.clone(),
            blobs: Some(self.blobs.clone()),
            clock,
            refusals: Default::default(),
        })
    }

    /// Finishes queued writes and closes the database.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// A database URL fit to print: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact_url("postgres://sky:secret@db:5432/skyline"),
            "postgres://sky:***@db:5432/skyline"
        );
        assert_eq!(
            redact_url("sqlite://data/x.sqlite"),
            "sqlite://data/x.sqlite"
        );
    }

    fn settings(dir: &Path) -> DeploymentSettings {
        DeploymentSettings {
            database_url: format!("sqlite://{}", dir.join("db.sqlite").display()),
            identity_path: dir.join("identity.key"),
            identity_is_default: true,
            releases_dir: None,
            default_releases_dir: dir.join("releases"),
            allow_exposed_identity: false,
        }
    }

    #[tokio::test]
    async fn only_serve_creates_an_identity_key() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let operator = Deployment::open(&settings, IdentityUse::Optional)
            .await
            .unwrap();
        assert!(operator.identity.is_none());
        assert!(!settings.identity_path.exists());
        let err = operator.identity().unwrap_err().to_string();
        assert!(err.contains("identity.key"), "{err}");
        operator.close().await;
        let signer = Deployment::open(&settings, IdentityUse::Required).await;
        assert!(signer.is_err());
        let server = Deployment::open(&settings, IdentityUse::CreateIfMissing)
            .await
            .unwrap();
        assert!(server.identity_created);
        assert_eq!(
            server.releases,
            ReleaseStorage::Directory(dir.path().join("releases"))
        );
        server.close().await;
    }
}
