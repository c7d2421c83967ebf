//! What only the PostgreSQL backend has: connection errors that name the
//! server and never the password, and migrations that several nodes may run
//! at once. (Everything else is the shared store suite, `store_suite.rs`.)

use skyline_server::license_index::LicenseIndex;
use skyline_server::store::{self, StoreError};
use skyline_testkit::postgres::{self, PASSWORD, USER};

fn index() -> LicenseIndex {
    LicenseIndex::from_secret([42; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_missing_databases_are_explained() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();

    let wrong = server.url_for(USER, "not-the-password", &database.name);
    let err = store::open(&wrong, index())
        .await
        .err()
        .unwrap()
        .to_string();
    let at = format!("127.0.0.1:{}", server.port());
    assert!(
        err.contains(&format!(
            "PostgreSQL at {at} refused the credentials of user `{USER}`"
        )),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");

    let missing = server.url_for(USER, PASSWORD, "no_such_database");
    let err = store::open(&missing, index())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no database `no_such_database`"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let bad = store::open("postgres://h/db?pool_size=none", index()).await;
    assert!(
        matches!(bad, Err(StoreError::Invalid(_))),
        "{:?}",
        bad.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(server) = postgres::shared() else {
        return;
    };
    let database = server.create_database();
    let opening: Vec<_> = (0..6)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { store::open(&url, index()).await })
        })
        .collect();
    for node in opening {
        let store = node.await.unwrap().expect("every node opens the database");
        assert_eq!(store.schema_version().await.unwrap(), 1);
        store.close().await;
    }
    assert_eq!(store::migrate(&database.url, index()).await.unwrap(), 1);
    // Another identity key is refused, by `migrate` as by `open`.
    let other = LicenseIndex::from_secret([7; 32]);
    let err = store::migrate(&database.url, other).await.unwrap_err();
    assert!(err.to_string().contains("another identity key"), "{err}");
}
