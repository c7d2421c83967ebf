//! The store suite: every rule of PROTOCOL.md §6 and the operator path,
//! written once against `Store` and run for each backend by the
//! `suite!` list at the bottom. A backend is a database URL the suite can
//! open and reopen; a PostgreSQL backend adds one constructor and one line.

mod store_ops;

use std::sync::Arc;

use chrono::NaiveDate;
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::license_key;
use skyline_protocol::methods::{StartSessionResult, ToggleValue};
use skyline_server::domain::start_session::{Refusal, StartSessionOutcome};
use skyline_server::domain::{
    Actor, AuditAction, AuditEntry, AuditFilter, DomainError, LicenseStatus, NewAdminToken,
    NewLicense, NewRelease, Plan, ReleaseChannel, ReleaseRef, TelemetryQuery, TelemetryRecord,
    ToggleLayer, ToggleScope,
};
use skyline_server::license_index::{LicenseDigest, LicenseIndex};
use skyline_server::store::{self, DumpRecord, Store, StoreError};
use skyline_testkit::postgres::TestDatabase;
use store_ops::{Ops, StartSessionCommand};
use tokio::io::AsyncReadExt;

// --- Backends -----------------------------------------------------------------

/// A database the suite can open, close and open again.
struct Backend {
    url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres_database: Option<TestDatabase<'static>>,
}

impl Backend {
    fn kind(&self) -> &'static str {
        if self._postgres_database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    async fn open(&self) -> Store {
        store::open(&self.url, None).await.expect("open the store")
    }

    /// Runs SQL on the database directly, behind the store's back (to make
    /// it look as an earlier version left it).
    async fn run_sql(&self, statements: &[String]) {
        if self._postgres_database.is_some() {
            let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .expect("connect to PostgreSQL");
            let driver = tokio::spawn(connection);
            for sql in statements {
                client.batch_execute(sql).await.expect("run the SQL");
            }
            drop(client);
            let _ = driver.await;
        } else {
            let path = self.url.trim_start_matches("sqlite://").to_owned();
            let statements = statements.to_vec();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
                for sql in &statements {
                    conn.execute_batch(sql).expect("run the SQL");
                }
            })
            .await
            .unwrap();
        }
    }
}

/// SQLite on a fresh temporary file, in a directory the store must create.
fn sqlite() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("skyline.db");
    Some(Backend {
        url: format!("sqlite://{}", path.display()),
        _sqlite_dir: Some(dir),
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
        _sqlite_dir: None,
        _postgres_database: Some(database),
    })
}

// --- Fixture ------------------------------------------------------------------

const PRODUCT: &str = "telepower";
const MONTHLY: &str = "telepower.licensePlan.release.monthly";
const DUO: &str = "telepower.licensePlan.duo";
const FOREVER: &str = "telepower.licensePlan.perpetual";
const OTHER: &str = "otherapp";
const OTHER_PLAN: &str = "otherapp.plan";

fn index() -> LicenseIndex {
    LicenseIndex::from_secret([42; 32])
}

fn cli() -> Actor {
    Actor::cli(1_700_000_000)
}

fn day(text: &str) -> NaiveDate {
    skyline_protocol::dates::parse_date(text).unwrap()
}

/// `telepower` (min 7.0.9) with three plans, and `otherapp` with one.
async fn setup(store: &Store) {
    store
        .create_product(&cli(), PRODUCT, "7.0.9")
        .await
        .unwrap();
    store.create_product(&cli(), OTHER, "1.0").await.unwrap();
    for (id, product, duration, seats) in [
        (MONTHLY, PRODUCT, PlanDuration::Months(1), 1),
        (DUO, PRODUCT, PlanDuration::Days(30), 2),
        (FOREVER, PRODUCT, PlanDuration::Perpetual, 1),
        (OTHER_PLAN, OTHER, PlanDuration::Months(12), 1),
    ] {
        let plan = Plan {
            id: id.into(),
            product_id: product.into(),
            duration,
            seats,
        };
        store.create_plan(&cli(), plan).await.unwrap();
    }
}

/// A fresh key of `plan`, as its digest.
async fn new_key(store: &Store, plan: &str) -> LicenseDigest {
    let key = license_key::generate().unwrap();
    let digest = store.license_index().digest(&key);
    let new = NewLicense {
        digest,
        last_group: license_key::last_group(&key).into(),
    };
    assert_eq!(
        store
            .create_licenses(&cli(), plan, vec![new])
            .await
            .unwrap(),
        1
    );
    digest
}

/// A first start of device `SN-1` on 2025-01-31.
fn start(digest: LicenseDigest) -> StartSessionCommand {
    StartSessionCommand {
        product_id: PRODUCT.into(),
        product_version: "7.0.9".into(),
        license_digest: Some(digest),
        device_serial_number: "SN-1".into(),
        cs_product_uuid: "UUID-1".into(),
        last_login_reported_by_client: None,
        client_time: 1_000,
        today: day("2025-01-31"),
        session_token: "71ee0979-ea57b170".into(),
        source: Some("192.0.2.7:4000".into()),
    }
}

/// `command` from another device.
fn device(n: u32, command: StartSessionCommand) -> StartSessionCommand {
    StartSessionCommand {
        device_serial_number: format!("SN-{n}"),
        cs_product_uuid: format!("UUID-{n}"),
        ..command
    }
}

/// `command` reporting `last` and sent at `t`.
fn login(last: Option<i64>, t: i64, command: StartSessionCommand) -> StartSessionCommand {
    StartSessionCommand {
        last_login_reported_by_client: last,
        client_time: t,
        ..command
    }
}

async fn ok(store: &Store, command: StartSessionCommand) -> StartSessionResult {
    match store.start_session(command).await.unwrap() {
        StartSessionOutcome::Ok { result, .. } => result,
        StartSessionOutcome::Refused(r) => panic!("refused: {r:?}"),
    }
}

async fn refused(store: &Store, command: StartSessionCommand) -> Refusal {
    match store.start_session(command).await.unwrap() {
        StartSessionOutcome::Refused(r) => r,
        StartSessionOutcome::Ok { result, .. } => panic!("accepted: {result:?}"),
    }
}

async fn audit_actions(store: &Store, digest: Option<LicenseDigest>) -> Vec<AuditAction> {
    let filter = AuditFilter {
        license: digest,
        ..AuditFilter::default()
    };
    let records = store.list_audit(filter).await.unwrap();
    records.into_iter().map(|r| r.action).collect()
}

// --- Steps 1–5 --------------------------------------------------------------------

async fn unknown_or_disabled_product(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let unknown = StartSessionCommand {
        product_id: "nosuch".into(),
        ..start(key)
    };
    assert_eq!(refused(&store, unknown).await, Refusal::UnknownProduct);

    store
        .set_product_enabled(&cli(), PRODUCT, false)
        .await
        .unwrap();
    assert_eq!(refused(&store, start(key)).await, Refusal::UnknownProduct);
    let enabled = store
        .set_product_enabled(&cli(), PRODUCT, true)
        .await
        .unwrap();
    assert!(enabled.enabled);
    ok(&store, start(key)).await;
}

async fn outdated_version(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    store
        .set_min_version(&cli(), PRODUCT, "7.0.10")
        .await
        .unwrap();
    let minimum = "7.0.10".to_string();
    for old in ["7.0.9", "7.0", "6.99.99", "not-a-version", ""] {
        let command = StartSessionCommand {
            product_version: old.into(),
            ..start(key)
        };
        let refusal = refused(&store, command).await;
        assert_eq!(
            refusal,
            Refusal::OutdatedVersion {
                minimum: minimum.clone()
            },
            "{old}"
        );
    }
    // Outdated is decided before the key is even looked at.
    let command = StartSessionCommand {
        product_version: "7.0.9".into(),
        license_digest: None,
        ..start(key)
    };
    assert!(matches!(
        refused(&store, command).await,
        Refusal::OutdatedVersion { .. }
    ));
    let mut last = None;
    for (t, new) in (1_000..).zip(["7.0.10", "7.0.10.0", "7.1"]) {
        let command = StartSessionCommand {
            product_version: new.into(),
            ..login(last, t, start(key))
        };
        ok(&store, command).await;
        last = Some(t);
    }
    let bad = store.set_min_version(&cli(), PRODUCT, "seven").await;
    assert!(
        matches!(bad, Err(StoreError::Domain(DomainError::Invalid(_)))),
        "{bad:?}"
    );
}

async fn invalid_license_key(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let other_key = new_key(&store, OTHER_PLAN).await;
    let malformed = StartSessionCommand {
        license_digest: None,
        ..start(other_key)
    };
    assert_eq!(refused(&store, malformed).await, Refusal::InvalidLicenseKey);
    let unknown = index().digest("BBBBB-BBBBB-BBBBB-BBBBB-BBBBB");
    assert_eq!(
        refused(&store, start(unknown)).await,
        Refusal::InvalidLicenseKey
    );
    // A real key, but of another product.
    assert_eq!(
        refused(&store, start(other_key)).await,
        Refusal::InvalidLicenseKey
    );
}

async fn revoked(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    ok(&store, start(key)).await;
    store.revoke_license(&cli(), &key).await.unwrap();
    let again = login(Some(1_000), 2_000, start(key));
    assert_eq!(refused(&store, again).await, Refusal::LicenseRevoked);
    assert_eq!(
        store.find_license(&key).await.unwrap().status,
        LicenseStatus::Revoked
    );
    // Never activated, revoked: refused too.
    let fresh = new_key(&store, MONTHLY).await;
    store.revoke_license(&cli(), &fresh).await.unwrap();
    assert_eq!(refused(&store, start(fresh)).await, Refusal::LicenseRevoked);
}

async fn expiry_and_first_activation(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    // 2025-01-31 + 1 month clamps to 2025-02-28.
    let first = ok(&store, start(key)).await;
    assert!(first.is_activated_now);
    assert_eq!(first.activation_date, "2025-01-31");
    assert_eq!(first.expiry_date.as_deref(), Some("2025-02-28"));
    assert_eq!(first.license_plan, MONTHLY);
    assert_eq!(first.session_token, "71ee0979-ea57b170");

    // The expiry day itself is still valid; dates do not move.
    let on_expiry = StartSessionCommand {
        today: day("2025-02-28"),
        ..login(Some(1_000), 2_000, start(key))
    };
    let second = ok(&store, on_expiry).await;
    assert!(!second.is_activated_now);
    assert_eq!(second.activation_date, "2025-01-31");
    assert_eq!(second.expiry_date.as_deref(), Some("2025-02-28"));

    let after = StartSessionCommand {
        today: day("2025-03-01"),
        ..login(Some(2_000), 3_000, start(key))
    };
    assert_eq!(
        refused(&store, after).await,
        Refusal::LicenseExpired {
            expiry: day("2025-02-28")
        }
    );

    let info = store.find_license(&key).await.unwrap();
    assert_eq!(info.activation_date, Some(day("2025-01-31")));
    assert_eq!(info.expiry_date, Some(day("2025-02-28")));

    let perpetual = new_key(&store, FOREVER).await;
    let forever = ok(&store, start(perpetual)).await;
    assert!(forever.is_activated_now);
    assert_eq!(forever.expiry_date, None);
    let far = StartSessionCommand {
        today: day("2099-12-31"),
        ..login(Some(1_000), 2_000, start(perpetual))
    };
    assert_eq!(ok(&store, far).await.expiry_date, None);

    let days = new_key(&store, DUO).await;
    let thirty = ok(&store, start(days)).await;
    assert_eq!(thirty.expiry_date.as_deref(), Some("2025-03-02"));
}

async fn set_expiry(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let never_activated = store.set_expiry(&cli(), &key, day("2025-06-01")).await;
    assert!(
        matches!(
            never_activated,
            Err(StoreError::Domain(DomainError::Invalid(_)))
        ),
        "{never_activated:?}"
    );

    ok(&store, start(key)).await;
    store
        .set_expiry(&cli(), &key, day("2025-03-10"))
        .await
        .unwrap();
    let later = StartSessionCommand {
        today: day("2025-03-10"),
        ..login(Some(1_000), 2_000, start(key))
    };
    assert_eq!(
        ok(&store, later).await.expiry_date.as_deref(),
        Some("2025-03-10")
    );
    let after = StartSessionCommand {
        today: day("2025-03-11"),
        ..login(Some(2_000), 3_000, start(key))
    };
    assert_eq!(
        refused(&store, after).await,
        Refusal::LicenseExpired {
            expiry: day("2025-03-10")
        }
    );
    let unknown = index().digest("BBBBB-BBBBB-BBBBB-BBBBB-BBBBB");
    let missing = store.set_expiry(&cli(), &unknown, day("2025-03-10")).await;
    assert!(matches!(
        missing,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));
    assert!(audit_actions(&store, Some(key))
        .await
        .contains(&AuditAction::ExpirySet));
}

// --- Step 6: seats --------------------------------------------------------------------

async fn one_seat(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let first = StartSessionCommand {
        today: day("2024-10-25"),
        ..start(key)
    };
    ok(&store, first).await;
    let second = StartSessionCommand {
        today: day("2024-11-01"),
        ..device(2, start(key))
    };
    let bound = Refusal::KeyBoundToAnotherDevice {
        first_bound: day("2024-10-25"),
    };
    assert_eq!(refused(&store, second).await, bound);
    // The same serial number with another UUID is another device.
    let other_uuid = StartSessionCommand {
        cs_product_uuid: "UUID-9".into(),
        today: day("2024-11-01"),
        ..start(key)
    };
    assert_eq!(refused(&store, other_uuid).await, bound);
    let devices = store.find_license(&key).await.unwrap().devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].serial_number, "SN-1");
    assert_eq!(devices[0].bound_on, day("2024-10-25"));
}

async fn two_seats(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, DUO).await;
    let a = StartSessionCommand {
        today: day("2025-01-10"),
        ..start(key)
    };
    let b = StartSessionCommand {
        today: day("2025-01-12"),
        ..device(2, start(key))
    };
    assert!(ok(&store, a).await.is_activated_now);
    assert!(!ok(&store, b).await.is_activated_now);
    let c = StartSessionCommand {
        today: day("2025-01-13"),
        ..device(3, start(key))
    };
    assert_eq!(
        refused(&store, c).await,
        Refusal::KeyBoundToAnotherDevice {
            first_bound: day("2025-01-10")
        }
    );
    // The bound devices keep working.
    let a_again = StartSessionCommand {
        today: day("2025-01-14"),
        ..login(Some(1_000), 2_000, start(key))
    };
    ok(&store, a_again).await;
}

async fn seat_race(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    for (plan, seats) in [(MONTHLY, 1), (DUO, 2)] {
        let key = new_key(&store, plan).await;
        let racers: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.start_session(device(n, start(key))).await })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap().unwrap() {
                StartSessionOutcome::Ok { .. } => winners += 1,
                StartSessionOutcome::Refused(r) => {
                    assert!(
                        matches!(r, Refusal::KeyBoundToAnotherDevice { .. }),
                        "{r:?}"
                    )
                }
            }
        }
        assert_eq!(winners, seats, "{plan}");
        assert_eq!(store.find_license(&key).await.unwrap().devices.len(), seats);
    }
}

// --- Step 7: last login -------------------------------------------------------------------

async fn last_login_current_and_previous(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, FOREVER).await;
    ok(&store, login(None, 100, start(key))).await;
    // One recorded login: the one before it is "none", so nil is accepted.
    ok(&store, login(None, 200, start(key))).await;
    // Recorded 200, before it 100: the response to 200 was lost.
    ok(&store, login(Some(100), 300, start(key))).await;
    // Recorded 300, before it 200: the current one.
    ok(&store, login(Some(300), 400, start(key))).await;
    let devices = store.find_license(&key).await.unwrap().devices;
    assert_eq!(devices[0].last_login, Some(400));
    assert_eq!(devices[0].previous_last_login, Some(300));
    // The app's version and the server's clock (noon of `today`), not `t`.
    assert_eq!(devices[0].last_version.as_deref(), Some("7.0.9"));
    assert_eq!(
        devices[0].last_seen_at,
        Some(store_ops::noon(day("2025-01-31")))
    );

    // 0 means "none" too.
    let zero = new_key(&store, FOREVER).await;
    ok(&store, login(Some(0), 100, start(zero))).await;
    ok(&store, login(Some(0), 200, start(zero))).await;
}

async fn breach_locks_until_reset(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, FOREVER).await;
    ok(&store, login(None, 100, start(key))).await;
    ok(&store, login(Some(100), 200, start(key))).await;
    // Neither 200 nor 100.
    let wrong = login(Some(150), 300, start(key));
    assert_eq!(
        refused(&store, wrong).await,
        Refusal::IntegrityBreachLastLogin
    );
    // Locked: even the right value is refused, and nothing else changed.
    let right = login(Some(200), 300, start(key));
    assert_eq!(
        refused(&store, right.clone()).await,
        Refusal::IntegrityBreachLastLogin
    );
    let info = store.find_license(&key).await.unwrap();
    assert!(info.devices[0].locked);
    assert_eq!(info.devices[0].last_login, Some(200));
    let actions = audit_actions(&store, Some(key)).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::IntegrityBreach)
            .count(),
        1
    );

    // The lock survives a restart.
    store.close().await;
    drop(store);
    let store = backend.open().await;
    assert_eq!(
        refused(&store, right).await,
        Refusal::IntegrityBreachLastLogin
    );

    // Reset: the device binds again as new, on the day of its next start.
    assert_eq!(
        store
            .reset_device(&cli(), &key, Some("SN-1"))
            .await
            .unwrap(),
        1
    );
    assert!(store.find_license(&key).await.unwrap().devices.is_empty());
    let fresh = StartSessionCommand {
        today: day("2025-02-05"),
        ..login(None, 400, start(key))
    };
    assert!(!ok(&store, fresh).await.is_activated_now);
    let device = &store.find_license(&key).await.unwrap().devices[0];
    assert_eq!((device.locked, device.bound_on), (false, day("2025-02-05")));
    assert_eq!(
        (device.last_login, device.previous_last_login),
        (Some(400), None)
    );
    assert!(audit_actions(&store, Some(key))
        .await
        .contains(&AuditAction::DeviceReset));
}

async fn reset_frees_seats(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, DUO).await;
    ok(&store, start(key)).await;
    ok(&store, device(2, start(key))).await;
    assert_eq!(
        store
            .reset_device(&cli(), &key, Some("SN-404"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.reset_device(&cli(), &key, None).await.unwrap(), 2);
    ok(&store, device(3, start(key))).await;
}

// --- Toggles, telemetry, audit ----------------------------------------------------------------

async fn toggles_layering(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let mine = new_key(&store, MONTHLY).await;
    let same_plan = new_key(&store, MONTHLY).await;
    let other_plan = new_key(&store, FOREVER).await;
    let set = |scope: ToggleScope, name: &'static str, value: ToggleValue| {
        let store = store.clone();
        async move { store.set_toggle(&cli(), PRODUCT, scope, name, value).await }
    };
    set(ToggleScope::Product, "limit", ToggleValue::Int(100))
        .await
        .unwrap();
    set(ToggleScope::Product, "beta", ToggleValue::Bool(false))
        .await
        .unwrap();
    set(
        ToggleScope::Product,
        "motd",
        ToggleValue::String("hi".into()),
    )
    .await
    .unwrap();
    set(
        ToggleScope::Plan(MONTHLY.into()),
        "limit",
        ToggleValue::Int(200),
    )
    .await
    .unwrap();
    set(
        ToggleScope::Plan(MONTHLY.into()),
        "ratio",
        ToggleValue::Float(0.5),
    )
    .await
    .unwrap();
    set(ToggleScope::License(mine), "limit", ToggleValue::Int(1))
        .await
        .unwrap();
    // Setting again replaces.
    set(ToggleScope::License(mine), "limit", ToggleValue::Int(300))
        .await
        .unwrap();

    let license_id = |digest| {
        let store = store.clone();
        async move { store.find_license(&digest).await.unwrap().id }
    };
    let toggles = store.feature_toggles(license_id(mine).await).await.unwrap();
    let names: Vec<_> = toggles.0.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["beta", "limit", "motd", "ratio"]);
    assert_eq!(toggles.get("limit"), Some(&ToggleValue::Int(300)));
    assert_eq!(toggles.get("ratio"), Some(&ToggleValue::Float(0.5)));
    assert_eq!(toggles.get("motd"), Some(&ToggleValue::String("hi".into())));
    let plan_level = store
        .feature_toggles(license_id(same_plan).await)
        .await
        .unwrap();
    assert_eq!(plan_level.get("limit"), Some(&ToggleValue::Int(200)));
    let product_level = store
        .feature_toggles(license_id(other_plan).await)
        .await
        .unwrap();
    assert_eq!(product_level.get("limit"), Some(&ToggleValue::Int(100)));
    assert_eq!(product_level.get("ratio"), None);

    let listed = store.list_toggles(PRODUCT).await.unwrap();
    assert_eq!(listed.len(), 6);
    assert_eq!(listed[0].layer, ToggleLayer::Product);
    assert_eq!(listed[3].layer, ToggleLayer::Plan(MONTHLY.into()));
    assert!(
        matches!(&listed[5].layer, ToggleLayer::License { key_suffix, .. } if key_suffix.starts_with("…-"))
    );

    assert!(store
        .remove_toggle(&cli(), PRODUCT, ToggleScope::License(mine), "limit")
        .await
        .unwrap());
    let toggles = store.feature_toggles(license_id(mine).await).await.unwrap();
    assert_eq!(toggles.get("limit"), Some(&ToggleValue::Int(200)));

    // Scopes must belong to the product.
    let foreign = set(
        ToggleScope::Plan(OTHER_PLAN.into()),
        "x",
        ToggleValue::Int(1),
    )
    .await;
    assert!(
        matches!(
            foreign,
            Err(StoreError::Domain(DomainError::NotFound { .. }))
        ),
        "{foreign:?}"
    );
    let missing = store.feature_toggles(999_999).await;
    assert!(matches!(
        missing,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));
    assert!(audit_actions(&store, None)
        .await
        .contains(&AuditAction::ToggleSet));
}

fn event(license_id: i64, n: i64) -> TelemetryRecord {
    TelemetryRecord {
        license_id,
        product_id: PRODUCT.into(),
        event: "app.navigation".into(),
        data: (n % 2 == 0).then(|| serde_json::json!({"to": "/account-manager", "n": n})),
        client_time: 1_000 + n,
        received_at: 2_000 + n,
        event_id: None,
    }
}

/// PROTOCOL.md 1.1 `eventId`: an event is stored once per (license, id),
/// however often and however concurrently it is sent; events without an id
/// are stored every time.
async fn event_ids_store_an_event_once(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let other = new_key(&store, MONTHLY).await;
    let license = store.find_license(&key).await.unwrap().id;
    let other_license = store.find_license(&other).await.unwrap().id;
    let with_id = |license_id, n, id: &str| TelemetryRecord {
        event_id: Some(id.into()),
        ..event(license_id, n)
    };
    // Sent again after a lost answer, and many times at once: one event.
    store
        .record_telemetry(with_id(license, 1, "e-1"))
        .await
        .unwrap();
    store
        .record_telemetry(with_id(license, 1, "e-1"))
        .await
        .unwrap();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_telemetry(with_id(license, 2, "e-2")).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    // The same id from another license is another event; no id: every time.
    store
        .record_telemetry(with_id(other_license, 3, "e-1"))
        .await
        .unwrap();
    store.record_telemetry(event(license, 4)).await.unwrap();
    store.record_telemetry(event(license, 4)).await.unwrap();
    // An unknown license is refused, id or not, and claims nothing.
    let unknown = store
        .record_telemetry(with_id(license + 1_000, 5, "e-5"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");

    let rows = store
        .export_telemetry(TelemetryQuery {
            product_id: PRODUCT.into(),
            since: None,
            after_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    let ids: Vec<(i64, Option<&str>)> = rows
        .iter()
        .map(|r| (r.license_id, r.event_id.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            (license, Some("e-1")),
            (license, Some("e-2")),
            (other_license, Some("e-1")),
            (license, None),
            (license, None),
        ],
        "{}",
        backend.kind()
    );
    // A restart remembers the ids.
    store.close().await;
    drop(store);
    let store = backend.open().await;
    store
        .record_telemetry(with_id(license, 1, "e-1"))
        .await
        .unwrap();
    let after = store
        .export_telemetry(TelemetryQuery {
            product_id: PRODUCT.into(),
            since: None,
            after_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 5);
}

async fn telemetry_is_durable(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let license_id = store.find_license(&key).await.unwrap().id;
    let writers: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.record_telemetry(event(license_id, n)).await })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    // Dropped without `close`: every acknowledged event is already committed.
    drop(store);
    let store = backend.open().await;
    let mut rows = Vec::new();
    let mut after_id = None;
    loop {
        let query = TelemetryQuery {
            product_id: PRODUCT.into(),
            since: None,
            after_id,
            limit: 16,
        };
        let page = store.export_telemetry(query).await.unwrap();
        let Some(last) = page.last() else { break };
        after_id = Some(last.id);
        rows.extend(page);
    }
    assert_eq!(rows.len(), 50);
    let mut ns: Vec<i64> = rows.iter().map(|r| r.client_time - 1_000).collect();
    ns.sort();
    assert_eq!(ns, (0..50).collect::<Vec<_>>());
    for row in &rows {
        let n = row.client_time - 1_000;
        assert_eq!(row.received_at, 2_000 + n);
        assert_eq!(row.license_id, license_id);
        assert_eq!(row.data, event(license_id, n).data);
    }
    let since = TelemetryQuery {
        product_id: PRODUCT.into(),
        since: Some(2_040),
        after_id: None,
        limit: 1_000,
    };
    assert_eq!(store.export_telemetry(since).await.unwrap().len(), 10);
    let unknown_license = store.record_telemetry(event(999_999, 1)).await;
    assert!(matches!(
        unknown_license,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));
}

/// A reader paging by id while eight writers send events sees every event
/// exactly once: ids become visible in order.
async fn paging_while_writing_skips_nothing(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let license_id = store.find_license(&key).await.unwrap().id;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..100 {
                    store
                        .record_telemetry(event(license_id, w * 100 + n))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let query = TelemetryQuery {
                    product_id: PRODUCT.into(),
                    since: None,
                    after_id: seen.last().copied(),
                    limit: 7,
                };
                let page = store.export_telemetry(query).await.unwrap();
                if page.is_empty() && finished {
                    return seen;
                }
                seen.extend(page.iter().map(|row| row.id));
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let seen = reader.await.unwrap();
    assert_eq!(seen.len(), 800, "events skipped by a paging reader");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

async fn a_failing_job_does_not_fail_its_group(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let existing = new_key(&store, MONTHLY).await;
    let license_id = store.find_license(&existing).await.unwrap().id;
    let fresh = index().digest("CCCCC-CCCCC-CCCCC-CCCCC-CCCCC");
    // Sent together, these share group commits; the duplicate fails after
    // inserting `fresh`, which must be rolled back alone.
    let bad_batch = vec![
        NewLicense {
            digest: fresh,
            last_group: "CCCCC".into(),
        },
        NewLicense {
            digest: existing,
            last_group: "DDDDD".into(),
        },
    ];
    let mut tasks = Vec::new();
    for n in 0..40 {
        let sender = store.clone();
        tasks.push(tokio::spawn(async move {
            sender
                .record_telemetry(event(license_id, n))
                .await
                .map(|_| 0)
        }));
        if n == 20 {
            let store = store.clone();
            let bad_batch = bad_batch.clone();
            tasks.push(tokio::spawn(async move {
                store.create_licenses(&cli(), MONTHLY, bad_batch).await
            }));
        }
    }
    let results: Vec<_> = join_all(tasks).await;
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    let conflict = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(
        matches!(conflict, StoreError::Domain(DomainError::Conflict { .. })),
        "{conflict:?}"
    );
    assert!(!conflict.to_string().contains("CCCCC-"), "{conflict}");
    let not_created = store.find_license(&fresh).await;
    assert!(matches!(
        not_created,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));
    let query = TelemetryQuery {
        product_id: PRODUCT.into(),
        since: None,
        after_id: None,
        limit: 1_000,
    };
    assert_eq!(store.export_telemetry(query).await.unwrap().len(), 40);
}

async fn join_all(
    tasks: Vec<tokio::task::JoinHandle<Result<usize, StoreError>>>,
) -> Vec<Result<usize, StoreError>> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn audit_log(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    ok(&store, start(key)).await;
    store.revoke_license(&cli(), &key).await.unwrap();
    let entry = AuditEntry {
        actor: Actor {
            name: "rpc".into(),
            at: 1_800_000_000,
        },
        action: AuditAction::AdminTokenUsed,
        product_id: Some(PRODUCT.into()),
        license: Some(key),
        detail: "checked by support".into(),
    };
    store.append_audit(entry).await.unwrap();

    let all = audit_actions(&store, None).await;
    for expected in [
        AuditAction::ProductCreated,
        AuditAction::PlanCreated,
        AuditAction::LicensesCreated,
        AuditAction::DeviceBound,
        AuditAction::LicenseActivated,
        AuditAction::LicenseRevoked,
    ] {
        assert!(all.contains(&expected), "{expected:?} in {all:?}");
    }
    let filter = AuditFilter {
        license: Some(key),
        ..AuditFilter::default()
    };
    let mine = store.list_audit(filter).await.unwrap();
    let actions: Vec<_> = mine.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::DeviceBound,
            AuditAction::LicenseActivated,
            AuditAction::LicenseRevoked,
            AuditAction::AdminTokenUsed
        ]
    );
    assert_eq!(mine[0].actor, "192.0.2.7:4000");
    assert_eq!(mine[0].at, store_ops::noon(day("2025-01-31")));
    assert_eq!(mine[2].actor, "cli");
    assert!(mine[0].key_suffix.as_deref().unwrap().starts_with("…-"));
    let recent = AuditFilter {
        since: Some(1_800_000_000),
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(recent).await.unwrap().len(), 1);
    let newest_two = AuditFilter {
        limit: Some(2),
        ..AuditFilter::default()
    };
    let newest = store.list_audit(newest_two).await.unwrap();
    assert_eq!(newest.len(), 2);
    assert!(newest[0].id < newest[1].id);
    assert_eq!(newest[1].action, AuditAction::AdminTokenUsed);
}

// --- Operator path and persistence ------------------------------------------------------------

async fn operator_records(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let products = store.list_products().await.unwrap();
    let ids: Vec<_> = products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [OTHER, PRODUCT]);
    assert_eq!(products[1].min_version, "7.0.9");
    let plans = store.list_plans(Some(PRODUCT)).await.unwrap();
    assert_eq!(plans.len(), 3);
    let duo = plans.iter().find(|p| p.id == DUO).unwrap();
    assert_eq!((duo.duration, duo.seats), (PlanDuration::Days(30), 2));
    assert_eq!(store.list_plans(None).await.unwrap().len(), 4);

    let dup = store.create_product(&cli(), PRODUCT, "1.0").await;
    assert!(
        matches!(dup, Err(StoreError::Domain(DomainError::Conflict { .. }))),
        "{dup:?}"
    );
    let zero_seats = Plan {
        id: "p0".into(),
        product_id: PRODUCT.into(),
        duration: PlanDuration::Months(1),
        seats: 0,
    };
    let refused_plan = store.create_plan(&cli(), zero_seats).await;
    assert!(matches!(
        refused_plan,
        Err(StoreError::Domain(DomainError::Invalid(_)))
    ));
    let orphan = Plan {
        id: "p1".into(),
        product_id: "nosuch".into(),
        duration: PlanDuration::Perpetual,
        seats: 1,
    };
    let no_product = store.create_plan(&cli(), orphan).await;
    assert!(matches!(
        no_product,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));
    let no_plan = store.create_licenses(&cli(), "nosuch", Vec::new()).await;
    assert!(matches!(
        no_plan,
        Err(StoreError::Domain(DomainError::NotFound { .. }))
    ));

    let keys: Vec<NewLicense> = (0..100)
        .map(|_| {
            let key = license_key::generate().unwrap();
            NewLicense {
                digest: index().digest(&key),
                last_group: license_key::last_group(&key).into(),
            }
        })
        .collect();
    let last_group = keys[7].last_group.clone();
    let digest = keys[7].digest;
    assert_eq!(
        store.create_licenses(&cli(), MONTHLY, keys).await.unwrap(),
        100
    );
    let other = new_key(&store, OTHER_PLAN).await;
    let info = store.find_license(&digest).await.unwrap();
    assert_eq!(info.key_suffix, format!("…-{last_group}"));
    assert_eq!(
        (info.product_id.as_str(), info.plan_id.as_str()),
        (PRODUCT, MONTHLY)
    );
    assert_eq!(
        (info.status, info.activation_date),
        (LicenseStatus::Active, None)
    );
    ok(&store, start(digest)).await;
    let listed = store.list_licenses(Some(PRODUCT)).await.unwrap();
    assert_eq!(listed.len(), 100);
    let bound = listed.iter().find(|l| l.id == info.id).unwrap();
    assert_eq!(bound.devices.len(), 1);
    assert_eq!(store.list_licenses(None).await.unwrap().len(), 101);
    assert_eq!(
        store.list_licenses(Some(OTHER)).await.unwrap()[0].id,
        store.find_license(&other).await.unwrap().id
    );
}

async fn data_survives_reopen(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    ok(&store, start(key)).await;
    store.close().await;
    // A closed store refuses work instead of losing it.
    assert!(store.list_products().await.is_err());
    assert!(store.revoke_license(&cli(), &key).await.is_err());
    drop(store);

    let store = backend.open().await;
    assert_eq!(store.list_products().await.unwrap().len(), 2);
    let info = store.find_license(&key).await.unwrap();
    assert_eq!(info.devices[0].last_login, Some(1_000));
    assert_eq!(info.status, LicenseStatus::Active);
    let again = ok(&store, login(Some(1_000), 2_000, start(key))).await;
    assert_eq!(again.expiry_date.as_deref(), Some("2025-02-28"));
    // The index secret lives in the database: an identity key given at
    // open changes nothing.
    let digest = store
        .license_index()
        .digest("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA");
    drop(store);
    let other = LicenseIndex::from_secret([7; 32]);
    let again = store::open(&backend.url, Some(&other)).await.unwrap();
    assert_eq!(
        again
            .license_index()
            .digest("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"),
        digest
    );
    again.close().await;
}

/// What a database made before the index secret moved into it holds: keys
/// digested under a secret derived from the identity key, and only a check
/// of that secret. It opens once with its identity key, and then without.
async fn an_older_database_needs_its_identity_key_once(backend: Backend) {
    let identity = skyline_protocol::IdentityKeyPair::from_seed(&[9; 32]).unwrap();
    let legacy = LicenseIndex::from_identity(&identity).unwrap();
    let store = backend.open().await;
    setup(&store).await;
    let key = license_key::generate().unwrap();
    let new = NewLicense {
        digest: legacy.digest(&key),
        last_group: license_key::last_group(&key).into(),
    };
    store
        .create_licenses(&cli(), MONTHLY, vec![new])
        .await
        .unwrap();
    store.close().await;
    drop(store);
    backend
        .run_sql(&[
            "DELETE FROM settings".to_owned(),
            format!(
                "INSERT INTO settings (name, value) VALUES ('license_index_check', '{}')",
                legacy.legacy_check()
            ),
        ])
        .await;

    let without = store::open(&backend.url, None).await;
    let err = without.expect_err("the identity key is needed");
    assert!(err.to_string().contains("--identity"), "{err}");
    let other = LicenseIndex::from_identity(
        &skyline_protocol::IdentityKeyPair::from_seed(&[8; 32]).unwrap(),
    )
    .unwrap();
    let wrong = store::open(&backend.url, Some(&other)).await;
    let err = wrong.expect_err("another identity key is refused");
    assert!(err.to_string().contains("another identity key"), "{err}");

    let migrated = store::open(&backend.url, Some(&legacy)).await.unwrap();
    let digest = migrated.license_index().digest_typed(&key).unwrap();
    ok(&migrated, start(digest)).await;
    migrated.close().await;
    drop(migrated);
    // From now on the database finds its keys without the identity key.
    let later = backend.open().await;
    let digest = later.license_index().digest_typed(&key).unwrap();
    assert_eq!(later.find_license(&digest).await.unwrap().devices.len(), 1);
    later.close().await;
}

/// A key's seat count follows its bindings through resets, so step 6 never
/// counts devices.
async fn seat_counts_follow_bindings(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, DUO).await;
    let a = StartSessionCommand {
        today: day("2025-01-10"),
        ..start(key)
    };
    ok(&store, a).await;
    let b = StartSessionCommand {
        today: day("2025-01-12"),
        ..device(2, start(key))
    };
    ok(&store, b).await;
    // Releasing the older device frees a seat; the key is now first bound
    // on the other device's day.
    assert_eq!(
        store
            .reset_device(&cli(), &key, Some("SN-1"))
            .await
            .unwrap(),
        1
    );
    let c = StartSessionCommand {
        today: day("2025-01-20"),
        ..device(3, start(key))
    };
    ok(&store, c).await;
    let d = StartSessionCommand {
        today: day("2025-01-21"),
        ..device(4, start(key))
    };
    assert_eq!(
        refused(&store, d.clone()).await,
        Refusal::KeyBoundToAnotherDevice {
            first_bound: day("2025-01-12")
        }
    );
    assert_eq!(store.reset_device(&cli(), &key, None).await.unwrap(), 2);
    ok(&store, d).await;
    assert_eq!(store.find_license(&key).await.unwrap().devices.len(), 1);
}

/// 64 concurrent senders; prints events/s. Run with
/// `cargo test --release --test store_suite -- --ignored --nocapture`.
async fn telemetry_throughput(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let key = new_key(&store, MONTHLY).await;
    let license_id = store.find_license(&key).await.unwrap().id;
    let (senders, each) = (64, 2_000);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|s| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..each {
                    store
                        .record_telemetry(event(license_id, s * each + n))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (senders * each) as f64 / started.elapsed().as_secs_f64();
    println!(
        "telemetry ({}): {rate:.0} events/s committed",
        backend.kind()
    );
}

/// 64 concurrent devices, each on its own key, each starting 200 sessions
/// in a row (the first binds and activates); prints start-sessions/s.
async fn start_session_throughput(backend: Backend) {
    let store = backend.open().await;
    setup(&store).await;
    let (devices, each) = (64, 200);
    let mut keys = Vec::new();
    for _ in 0..devices {
        keys.push(new_key(&store, FOREVER).await);
    }
    let started = std::time::Instant::now();
    let tasks: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = None;
                for t in 1..=each {
                    ok(&store, login(last, t, start(key))).await;
                    last = Some(t);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (devices * each) as f64 / started.elapsed().as_secs_f64();
    println!(
        "start-session ({}): {rate:.0} sessions/s committed",
        backend.kind()
    );
}

// --- Export and import ------------------------------------------------------------------------

/// Every record of `store`, as `export_dump` streams them.
async fn dump(store: &Store) -> Vec<DumpRecord> {
    let (out, mut records) = tokio::sync::mpsc::channel(64);
    let exporter = {
        let store = store.clone();
        tokio::spawn(async move { store.export_dump(out).await })
    };
    let mut all = Vec::new();
    while let Some(record) = records.recv().await {
        all.push(record);
    }
    exporter.await.unwrap().unwrap();
    all
}

/// Feeds `records` to `import_dump`.
async fn import(store: &Store, records: Vec<DumpRecord>) -> Result<store::DumpCounts, StoreError> {
    let (input, received) = tokio::sync::mpsc::channel(64);
    let importer = {
        let store = store.clone();
        tokio::spawn(async move { store.import_dump(received).await })
    };
    for record in records {
        if input.send(record).await.is_err() {
            break;
        }
    }
    drop(input);
    importer.await.unwrap()
}

/// A deployment with something in every table: devices with last logins
/// and a lock, toggles at every layer, telemetry, audit.
async fn populate(store: &Store) -> LicenseDigest {
    setup(store).await;
    let duo = new_key(store, DUO).await;
    ok(store, login(None, 100, start(duo))).await;
    ok(store, login(Some(100), 200, start(duo))).await;
    ok(store, device(2, start(duo))).await;
    let locked = new_key(store, FOREVER).await;
    ok(store, start(locked)).await;
    refused(store, login(Some(5), 2_000, start(locked))).await;
    let revoked = new_key(store, MONTHLY).await;
    store.revoke_license(&cli(), &revoked).await.unwrap();
    new_key(store, OTHER_PLAN).await;
    let scopes = [
        (ToggleScope::Product, ToggleValue::Int(100)),
        (ToggleScope::Plan(DUO.into()), ToggleValue::Float(0.25)),
        (
            ToggleScope::License(duo),
            ToggleValue::String("x\ty".into()),
        ),
    ];
    for (scope, value) in scopes {
        store
            .set_toggle(&cli(), PRODUCT, scope, "limit", value)
            .await
            .unwrap();
    }
    let license_id = store.find_license(&duo).await.unwrap().id;
    for n in 0..30 {
        let record = TelemetryRecord {
            event_id: (n % 3 == 0).then(|| format!("evt-{n}")),
            ..event(license_id, n)
        };
        store.record_telemetry(record).await.unwrap();
    }
    publish_artifacts(store).await;
    let token = NewAdminToken {
        id: "00aa11bb22cc33dd".into(),
        name: "billing".into(),
        read_only: true,
        secret_hash: [5; 32],
    };
    store.create_admin_token(&cli(), token).await.unwrap();
    let used = AuditEntry {
        actor: Actor {
            name: "admin:billing".into(),
            at: 1_700_000_100,
        },
        action: AuditAction::AdminTokenUsed,
        product_id: None,
        license: None,
        detail: "GET /admin/products -> 200".into(),
    };
    store
        .record_admin_token_use("00aa11bb22cc33dd", used)
        .await
        .unwrap();
    duo
}

/// The artifacts [`publish_artifacts`] records: one of several database
/// chunks, one empty.
fn artifacts() -> [Vec<u8>; 2] {
    let big = (0..1_300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    [big, Vec::new()]
}

/// Two releases of [`artifacts`]; where the store keeps artifacts, their
/// bytes are stored there too. The second is a yanked beta for `win`.
async fn publish_artifacts(store: &Store) {
    for (n, bytes) in artifacts().iter().enumerate() {
        let digest: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
            .as_ref()
            .try_into()
            .unwrap();
        if let Some(blobs) = store.release_blobs() {
            let stored = blobs.put(&mut &bytes[..], u64::MAX).await.unwrap();
            assert_eq!(stored.sha256, digest);
        }
        let (version, platform, channel) = match n {
            0 => ("7.1.0", None, ReleaseChannel::Stable),
            _ => ("7.2.0", Some("win".to_owned()), ReleaseChannel::Beta),
        };
        let release = NewRelease {
            product_id: PRODUCT.into(),
            version: version.into(),
            platform: platform.clone(),
            channel,
            file_name: format!("TelePower-{version}.exe"),
            size: bytes.len() as u64,
            sha256: digest,
            signature: [n as u8 + 1; 64],
        };
        store.publish_release(&cli(), release, None).await.unwrap();
        if n == 1 {
            let target = ReleaseRef {
                product_id: PRODUCT.into(),
                version: version.into(),
                platform,
            };
            store
                .set_release_yanked(&cli(), &target, true)
                .await
                .unwrap();
        }
    }
}

/// `records` as `skyline import` hands them to a store that keeps no
/// artifacts: without `releaseBlob` records, the end count adjusted.
fn without_artifacts(records: &[DumpRecord]) -> Vec<DumpRecord> {
    let kept: Vec<DumpRecord> = records
        .iter()
        .filter(|r| !matches!(r, DumpRecord::ReleaseBlob { .. } | DumpRecord::End { .. }))
        .cloned()
        .collect();
    let end = DumpRecord::End {
        records: kept.len() as u64,
    };
    kept.into_iter().chain([end]).collect()
}

/// Every release and token of `copy` equals `source`'s, and new ones get
/// fresh ids.
async fn same_releases_and_tokens(source: &Store, copy: &Store) {
    let releases = source.list_releases(PRODUCT).await.unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(copy.list_releases(PRODUCT).await.unwrap(), releases);
    assert_eq!(
        copy.list_admin_tokens().await.unwrap(),
        source.list_admin_tokens().await.unwrap()
    );
    let found = copy.find_admin_token("00aa11bb22cc33dd").await.unwrap();
    assert_eq!(found.map(|t| t.secret_hash), Some([5; 32]));
    let next = NewRelease {
        product_id: PRODUCT.into(),
        version: "8.0".into(),
        platform: None,
        channel: ReleaseChannel::Stable,
        file_name: "TelePower-8.0.exe".into(),
        size: 0,
        sha256: [0; 32],
        signature: [0; 64],
    };
    let published = copy.publish_release(&cli(), next, None).await.unwrap();
    assert!(published.id > releases[1].id);
}

async fn dump_round_trip(backend: Backend) {
    let source = backend.open().await;
    let duo = populate(&source).await;
    let exported = dump(&source).await;
    let kinds: Vec<&str> = exported.iter().map(DumpRecord::kind).collect();
    let keeps_artifacts = source.release_blobs().is_some();
    for kind in DumpRecord::ORDER {
        // A store whose artifacts are files exports none (`skyline export`
        // adds them from the directory).
        let expected = kind != "releaseBlob" || keeps_artifacts;
        assert_eq!(kinds.contains(&kind), expected, "{kind} in {kinds:?}");
    }
    assert_eq!(
        exported.last(),
        Some(&DumpRecord::End {
            records: exported.len() as u64 - 1
        })
    );

    // A database with data refuses an import, and is left as it was.
    let refused_import = import(&source, exported.clone()).await;
    assert!(
        matches!(&refused_import, Err(StoreError::Dump(m)) if m.contains("not empty")),
        "{refused_import:?}"
    );

    // Into a new SQLite database: a truncated dump imports nothing, a
    // whole one everything, and the copy exports the same records.
    let copy_backend = sqlite().unwrap();
    let copy = copy_backend.open().await;
    let portable = without_artifacts(&exported);
    let truncated = portable[..portable.len() - 1].to_vec();
    let err = import(&copy, truncated).await.unwrap_err();
    assert!(err.to_string().contains("end record"), "{err}");
    assert!(copy.list_products().await.unwrap().is_empty());
    if keeps_artifacts {
        // SQLite keeps artifacts in a directory: it refuses them here.
        let err = import(&copy, exported.clone()).await.unwrap_err();
        assert!(err.to_string().contains("no release artifacts"), "{err}");
        assert!(copy.list_products().await.unwrap().is_empty());
    }
    let counts = import(&copy, portable.clone()).await.unwrap();
    assert_eq!(counts.telemetry, 30);
    assert_eq!((counts.releases, counts.admin_tokens), (2, 1));
    assert_eq!(counts.total(), portable.len() as u64 - 1);
    assert_eq!(dump(&copy).await, portable);
    same_releases_and_tokens(&source, &copy).await;
    if keeps_artifacts {
        artifacts_move_with_the_dump(&source, &exported).await;
    }

    // The copy works: the lock held, last logins kept, ids continue.
    let info = copy.find_license(&duo).await.unwrap();
    assert_eq!(info.devices.len(), 2);
    assert_eq!(
        (
            info.devices[0].last_login,
            info.devices[0].previous_last_login
        ),
        (Some(200), Some(100))
    );
    ok(&copy, login(Some(100), 300, start(duo))).await;
    let fresh = new_key(&copy, MONTHLY).await;
    assert!(copy.find_license(&fresh).await.unwrap().id > info.id);
    copy.record_telemetry(event(info.id, 99)).await.unwrap();
    // The copy remembers the event ids it imported: a resent event is not
    // stored again.
    let before = copy
        .export_telemetry(TelemetryQuery {
            product_id: PRODUCT.into(),
            since: None,
            after_id: None,
            limit: 1_000,
        })
        .await
        .unwrap()
        .len();
    let resent = TelemetryRecord {
        event_id: Some("evt-3".into()),
        ..event(info.id, 3)
    };
    copy.record_telemetry(resent).await.unwrap();
    let after = copy
        .export_telemetry(TelemetryQuery {
            product_id: PRODUCT.into(),
            since: None,
            after_id: None,
            limit: 1_000,
        })
        .await
        .unwrap()
        .len();
    assert_eq!(after, before);

    // The copy took the dump's license index secret: reopened, it finds
    // keys as typed, as the source does.
    copy.close().await;
    drop(copy);
    let reopened = copy_backend.open().await;
    assert_eq!(
        reopened
            .license_index()
            .digest("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"),
        source
            .license_index()
            .digest("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA")
    );
    reopened.close().await;

    // A dump from an earlier version, which named its index by a check only,
    // is refused by the store (`skyline import` adds the secret first).
    let older: Vec<DumpRecord> = exported
        .iter()
        .map(|r| match r {
            DumpRecord::Setting { name, value } if name == "license_index_secret" => {
                DumpRecord::Setting {
                    name: "license_index_check".into(),
                    value: value.clone(),
                }
            }
            other => other.clone(),
        })
        .collect();
    let other_backend = sqlite().unwrap();
    let other = other_backend.open().await;
    let err = import(&other, older).await.unwrap_err();
    assert!(err.to_string().contains("identity key"), "{err}");
    assert!(other.list_products().await.unwrap().is_empty());
}

/// Into a new database of a backend that keeps artifacts: everything, the
/// artifacts too, and the copy exports the same records; a damaged artifact
/// imports nothing.
async fn artifacts_move_with_the_dump(source: &Store, exported: &[DumpRecord]) {
    let twin_backend = postgres().unwrap();
    let twin = twin_backend.open().await;

    let mut damaged = exported.to_vec();
    let piece = damaged
        .iter_mut()
        .find_map(|r| match r {
            DumpRecord::ReleaseBlob { offset, data, .. } if *offset > 0 => Some(data),
            _ => None,
        })
        .unwrap();
    *piece = piece.replacen('A', "B", 1).replacen('Q', "R", 1);
    let err = import(&twin, damaged).await.unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
    assert!(twin.list_products().await.unwrap().is_empty());

    let counts = import(&twin, exported.to_vec()).await.unwrap();
    assert_eq!(counts.artifacts, 2);
    assert_eq!(dump(&twin).await, exported);
    same_releases_and_tokens(source, &twin).await;
    let blobs = twin.release_blobs().unwrap();
    for bytes in artifacts() {
        let digest: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
            .as_ref()
            .try_into()
            .unwrap();
        let mut back = Vec::new();
        blobs
            .open(&digest, 0, bytes.len() as u64)
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert!(back == bytes, "artifact of {} bytes", bytes.len());
    }
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

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "throughput measurement; run in release"]
            async fn telemetry_throughput() {
                if let Some(backend) = super::$backend() {
                    super::telemetry_throughput(backend).await
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "throughput measurement; run in release"]
            async fn start_session_throughput() {
                if let Some(backend) = super::$backend() {
                    super::start_session_throughput(backend).await
                }
            }
        }
    };
}

/// Every test of the suite, for one backend.
macro_rules! suite_for {
    ($backend:ident) => {
        suite!($backend:
            unknown_or_disabled_product,
            outdated_version,
            invalid_license_key,
            revoked,
            expiry_and_first_activation,
            set_expiry,
            one_seat,
            two_seats,
            seat_race,
            last_login_current_and_previous,
            breach_locks_until_reset,
            reset_frees_seats,
            toggles_layering,
            telemetry_is_durable,
            event_ids_store_an_event_once,
            paging_while_writing_skips_nothing,
            a_failing_job_does_not_fail_its_group,
            audit_log,
            operator_records,
            data_survives_reopen,
            an_older_database_needs_its_identity_key_once,
            seat_counts_follow_bindings,
            dump_round_trip,
        );
    };
}

suite_for!(sqlite);
suite_for!(postgres);
