//! The release and admin-token methods of the `Store` trait, and the
//! release artifact storage each backend is deployed with, written once
//! against `Store` / `Arc<dyn BlobStore>` and run for SQLite and
//! PostgreSQL by the `suite!` list at the bottom, as `store_suite.rs` does.
//! The PostgreSQL tests use the throwaway server of `skyline-testkit`:
//! skipped loudly where PostgreSQL is not installed, never under `CI=true`.

mod store_ops;

use std::sync::Arc;

use aws_lc_rs::digest;
use skyline_server::blobs::{BlobError, BlobStore, FsBlobStore};
use skyline_server::domain::{
    Actor, AuditAction, AuditEntry, AuditFilter, DomainError, NewAdminToken, NewRelease,
    ReleaseChannel, ReleaseRef,
};
use skyline_server::store::{self, Store, StoreError};
use skyline_testkit::postgres::TestDatabase;
use store_ops::Ops;
use tokio::io::AsyncReadExt;

// --- Backends -----------------------------------------------------------------

/// A database (and, for SQLite, a releases directory) a test can open as
/// often as it likes, as several nodes would.
struct Backend {
    url: String,
    dir: tempfile::TempDir,
    _postgres_database: Option<TestDatabase<'static>>,
}

impl Backend {
    async fn open(&self) -> Store {
        store::open(&self.url, None).await.expect("open the store")
    }

    /// Where this backend's deployments keep artifacts: in the database
    /// (PostgreSQL), or in a releases directory (SQLite).
    fn blobs(&self, store: &Store) -> Arc<dyn BlobStore> {
        store
            .release_blobs()
            .unwrap_or_else(|| Arc::new(FsBlobStore::new(self.dir.path().join("releases"))))
    }
}

/// SQLite on a fresh temporary file.
fn sqlite() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    Some(Backend {
        url: format!("sqlite://{}", dir.path().join("s.db").display()),
        dir,
        _postgres_database: None,
    })
}

/// A fresh database on this test binary's throwaway PostgreSQL server;
/// `None` (the test is skipped, loudly) where PostgreSQL is not installed
/// and CI is not set.
fn postgres() -> Option<Backend> {
    let database = skyline_testkit::postgres::shared()?.create_database();
    Some(Backend {
        url: database.url.clone(),
        dir: tempfile::tempdir().unwrap(),
        _postgres_database: Some(database),
    })
}

// --- Releases and admin tokens ----------------------------------------------------

fn release(version: &str, platform: Option<&str>, sha: u8) -> NewRelease {
    NewRelease {
        product_id: "tp".into(),
        version: version.into(),
        platform: platform.map(str::to_owned),
        channel: ReleaseChannel::Stable,
        file_name: "tp.exe".into(),
        size: 42,
        sha256: [sha; 32],
        signature: [sha; 64],
    }
}

async fn releases_round_trip(backend: Backend) {
    let store = backend.open().await;
    let by = Actor::cli(1_000);
    let missing = store.list_releases("tp").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::Domain(DomainError::NotFound { .. })),
        "{missing}"
    );
    store.create_product(&by, "tp", "1.0").await.unwrap();
    assert!(store.list_releases("tp").await.unwrap().is_empty());

    let first = store
        .publish_release(&by, release("1.1", None, 1), None)
        .await
        .unwrap();
    assert_eq!(
        (
            first.version.as_str(),
            first.size,
            first.yanked,
            first.published_at
        ),
        ("1.1", 42, false, 1_000)
    );
    assert_eq!((first.sha256, first.signature), ([1; 32], [1; 64]));
    // Another platform of the same version is another release; the same
    // version (numerically) for the same platform is a conflict.
    store
        .publish_release(&by, release("1.1", Some("win"), 2), Some("1.1"))
        .await
        .unwrap();
    assert_eq!(store.list_products().await.unwrap()[0].min_version, "1.1");
    let again = store
        .publish_release(&by, release("1.1.0", None, 3), None)
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::Domain(DomainError::Conflict { .. })),
        "{again}"
    );
    let too_new = store
        .publish_release(&by, release("1.2", None, 4), Some("2.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(too_new, StoreError::Domain(DomainError::Invalid(_))),
        "{too_new}"
    );
    let unknown = store
        .publish_release(
            &by,
            NewRelease {
                product_id: "nope".into(),
                ..release("1.0", None, 5)
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        unknown,
        StoreError::Domain(DomainError::NotFound { .. })
    ));

    let all = store.list_releases("tp").await.unwrap();
    assert_eq!(all.len(), 2, "failed publishes leave nothing: {all:?}");
    assert_eq!(all[1].platform.as_deref(), Some("win"));
    assert!(store.release_blob_in_use(&[2; 32]).await.unwrap());
    assert!(!store.release_blob_in_use(&[4; 32]).await.unwrap());

    let target = ReleaseRef {
        product_id: "tp".into(),
        version: "1.1".into(),
        platform: Some("win".into()),
    };
    assert!(
        store
            .set_release_yanked(&by, &target, true)
            .await
            .unwrap()
            .yanked
    );
    assert!(
        !store
            .set_release_yanked(&by, &target, false)
            .await
            .unwrap()
            .yanked
    );
    let nothing = ReleaseRef {
        version: "9".into(),
        ..target
    };
    assert!(store.set_release_yanked(&by, &nothing, true).await.is_err());

    let audit = store.list_audit(AuditFilter::default()).await.unwrap();
    let count = |a: AuditAction| audit.iter().filter(|r| r.action == a).count();
    assert_eq!(count(AuditAction::ReleasePublished), 2);
    assert_eq!(count(AuditAction::ReleaseYanked), 1);
    assert_eq!(count(AuditAction::ReleaseUnyanked), 1);
    store.close().await;
}

async fn admin_tokens_round_trip(backend: Backend) {
    let store = backend.open().await;
    let by = Actor::cli(500);
    let token = NewAdminToken {
        id: "0011223344556677".into(),
        name: "billing".into(),
        read_only: true,
        secret_hash: [9; 32],
    };
    let created = store.create_admin_token(&by, token.clone()).await.unwrap();
    assert_eq!(
        (
            created.read_only,
            created.created_at,
            created.last_used_at,
            created.revoked_at
        ),
        (true, 500, None, None)
    );
    let twice = store.create_admin_token(&by, token).await.unwrap_err();
    assert!(matches!(
        twice,
        StoreError::Domain(DomainError::Conflict { .. })
    ));
    let found = store
        .find_admin_token("0011223344556677")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.secret_hash, [9; 32]);
    assert!(store.find_admin_token("ffff").await.unwrap().is_none());

    let use_entry = AuditEntry {
        actor: Actor {
            name: "admin:billing".into(),
            at: 600,
        },
        action: AuditAction::AdminTokenUsed,
        product_id: None,
        license: None,
        detail: "GET /admin/products -> 200".into(),
    };
    store
        .record_admin_token_use("0011223344556677", use_entry)
        .await
        .unwrap();
    let listed = store.list_admin_tokens().await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(600));

    let revoked = store
        .revoke_admin_token(&Actor::cli(700), "0011223344556677")
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(700));
    let again = store
        .revoke_admin_token(&Actor::cli(800), "0011223344556677")
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(700), "the first revocation stands");
    assert!(store.revoke_admin_token(&by, "nope").await.is_err());
    let bad_name = NewAdminToken {
        id: "8899".into(),
        name: String::new(),
        read_only: false,
        secret_hash: [0; 32],
    };
    assert!(store.create_admin_token(&by, bad_name).await.is_err());

    let audit = store.list_audit(AuditFilter::default()).await.unwrap();
    let actions: Vec<AuditAction> = audit.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::AdminTokenCreated,
            AuditAction::AdminTokenUsed,
            AuditAction::AdminTokenRevoked
        ]
    );
    store.close().await;
}

/// Two nodes publishing the same version (`2.0` and `2.0.0`) at once: one
/// wins, the other is a conflict, and one release is recorded.
async fn racing_publishes_of_one_version(backend: Backend) {
    let (first, second) = (backend.open().await, backend.open().await);
    let by = Actor::cli(1_000);
    first.create_product(&by, "tp", "1.0").await.unwrap();
    for round in 0..5u8 {
        let (a, b) = (first.clone(), second.clone());
        let version = format!("2.{round}");
        let (one, other) = tokio::join!(
            tokio::spawn({
                let version = version.clone();
                async move {
                    a.publish_release(&Actor::cli(1), release(&version, None, 1), None)
                        .await
                }
            }),
            tokio::spawn(async move {
                let version = format!("{version}.0");
                b.publish_release(&Actor::cli(1), release(&version, None, 2), None)
                    .await
            }),
        );
        let outcomes = [one.unwrap(), other.unwrap()];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Err(StoreError::Domain(DomainError::Conflict { .. })))),
            "{outcomes:?}"
        );
    }
    assert_eq!(second.list_releases("tp").await.unwrap().len(), 5);
    first.close().await;
    second.close().await;
}

// --- Artifact storage ----------------------------------------------------------------

fn sha256(bytes: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .unwrap()
}

/// Deterministic bytes that differ from one position to the next.
fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn read(blobs: &Arc<dyn BlobStore>, sha: &[u8; 32], offset: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    blobs
        .open(sha, offset, len)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

/// Stored whole, read back in ranges (across the database's 1 MiB chunk
/// boundaries too), one copy of the same bytes, oversized uploads and
/// deletions leave nothing behind, and another node reads what one stored.
async fn artifacts_stored_read_and_deleted(backend: Backend) {
    let store = backend.open().await;
    let blobs = backend.blobs(&store);
    let body = bytes(2 * 1024 * 1024 + 12_345, 7);
    let stored = blobs.put(&mut &body[..], u64::MAX).await.unwrap();
    assert_eq!(stored.size, body.len() as u64);
    assert_eq!(stored.sha256, sha256(&body));
    assert_eq!(blobs.put(&mut &body[..], u64::MAX).await.unwrap(), stored);

    assert_eq!(read(&blobs, &stored.sha256, 0, stored.size).await, body);
    let mib = 1024 * 1024;
    for (offset, len) in [(0, 1), (mib - 10, 20), (mib, mib), (2 * mib + 12_000, 345)] {
        let part = read(&blobs, &stored.sha256, offset, len).await;
        let (start, end) = (offset as usize, (offset + len) as usize);
        assert_eq!(part, &body[start..end], "{offset}+{len}");
    }
    assert!(matches!(
        blobs.open(&stored.sha256, stored.size - 1, 2).await,
        Err(BlobError::Missing)
    ));
    assert!(matches!(
        blobs.open(&[9; 32], 0, 0).await,
        Err(BlobError::Missing)
    ));

    // Another node (another store on the same database) reads it too.
    let other = backend.open().await;
    let other_blobs = backend.blobs(&other);
    assert_eq!(
        read(&other_blobs, &stored.sha256, mib - 3, 6).await,
        &body[mib as usize - 3..mib as usize + 3]
    );

    // An empty artifact is an artifact.
    let empty = blobs.put(&mut &b""[..], 10).await.unwrap();
    assert_eq!((empty.size, empty.sha256), (0, sha256(b"")));
    assert!(read(&blobs, &empty.sha256, 0, 0).await.is_empty());

    // Too large: refused, and nothing of it kept.
    let large = bytes(1024 * 1024 + 1, 9);
    let err = blobs.put(&mut &large[..], 1024 * 1024).await.unwrap_err();
    assert!(matches!(err, BlobError::TooLarge { limit } if limit == 1024 * 1024));
    assert!(matches!(
        blobs.open(&sha256(&large), 0, 0).await,
        Err(BlobError::Missing)
    ));
    assert!(blobs
        .put(&mut &large[..1024 * 1024], 1024 * 1024)
        .await
        .is_ok());

    blobs.delete(&stored.sha256).await.unwrap();
    blobs.delete(&stored.sha256).await.unwrap();
    assert!(matches!(
        other_blobs.open(&stored.sha256, 0, 1).await,
        Err(BlobError::Missing)
    ));
    store.close().await;
    other.close().await;
}

// --- Instantiation ------------------------------------------------------------------------

macro_rules! suite {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(backend) = super::$backend() {
                        super::$test(backend).await
                    }
                }
            )*
        }
    };
}

/// Every test of this file, for one backend.
macro_rules! suite_for {
    ($backend:ident) => {
        suite!($backend:
            releases_round_trip,
            admin_tokens_round_trip,
            racing_publishes_of_one_version,
            artifacts_stored_read_and_deleted,
        );
    };
}

suite_for!(sqlite);
suite_for!(postgres);
