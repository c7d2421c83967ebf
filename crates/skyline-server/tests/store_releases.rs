//! The release and admin-token methods of the `Store` trait, written
//! against `Arc<dyn Store>` so that every backend can run them. SQLite runs
//! them here; the PostgreSQL backend adds a test per function once it
//! implements these methods.

use std::sync::Arc;

use skyline_server::license_index::LicenseIndex;
use skyline_server::store::{
    sqlite, Actor, AuditAction, AuditEntry, AuditFilter, NewAdminToken, NewRelease, ReleaseChannel,
    ReleaseRef, Store, StoreError,
};

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        sqlite::SqliteStore::open(
            dir.path().join("s.db"),
            sqlite::SqliteOptions::default(),
            LicenseIndex::from_secret([3; 32]),
        )
        .await
        .unwrap(),
    )
}

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

async fn releases_round_trip(store: Arc<dyn Store>) {
    let by = Actor::cli(1_000);
    let missing = store.list_releases("tp").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
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
    assert!(matches!(again, StoreError::Conflict { .. }), "{again}");
    let too_new = store
        .publish_release(&by, release("1.2", None, 4), Some("2.0"))
        .await
        .unwrap_err();
    assert!(matches!(too_new, StoreError::Invalid(_)), "{too_new}");
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
    assert!(matches!(unknown, StoreError::NotFound { .. }));

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
    let count = |a: &str| audit.iter().filter(|r| r.action.as_str() == a).count();
    assert_eq!(count(AuditAction::RELEASE_PUBLISHED), 2);
    assert_eq!(count(AuditAction::RELEASE_YANKED), 1);
    assert_eq!(count(AuditAction::RELEASE_UNYANKED), 1);
    store.close().await;
}

async fn admin_tokens_round_trip(store: Arc<dyn Store>) {
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
    assert!(matches!(twice, StoreError::Conflict { .. }));
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
        action: AuditAction::named(AuditAction::ADMIN_TOKEN_USED),
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
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            AuditAction::ADMIN_TOKEN_CREATED,
            AuditAction::ADMIN_TOKEN_USED,
            AuditAction::ADMIN_TOKEN_REVOKED
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_releases() {
    let dir = tempfile::tempdir().unwrap();
    releases_round_trip(sqlite_store(&dir).await).await;
}

#[tokio::test]
async fn sqlite_admin_tokens() {
    let dir = tempfile::tempdir().unwrap();
    admin_tokens_round_trip(sqlite_store(&dir).await).await;
}
