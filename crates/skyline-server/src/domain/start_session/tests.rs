//! The decision of every step of PROTOCOL.md §6 `start-session`, without a
//! database.

use super::*;
use crate::domain::fixtures::*;
use crate::domain::Product;

fn request() -> StartSession {
    StartSession {
        product_id: "telepower".into(),
        product_version: "7.0.9".into(),
        license_digest: Some([1; 32]),
        device: DeviceKey {
            serial_number: "SN-1".into(),
            cs_product_uuid: "UUID-1".into(),
        },
        last_login_reported_by_client: None,
        client_time: 1_000,
        session_token: "71ee0979-ea57b170".into(),
        over_failed_key_limit: false,
    }
}

fn seen(seats: u32) -> Snapshot {
    Snapshot {
        product: Some(product()),
        license: Some(license(plan(PlanDuration::Months(1), seats))),
        ..Snapshot::default()
    }
}

fn run(request: &StartSession, seen: &Snapshot, today: &str) -> Decision<StartSessionOutcome> {
    request.decide(seen, &cli(today)).unwrap()
}

fn refusal(decision: &Decision<StartSessionOutcome>) -> Refusal {
    match &decision.outcome {
        StartSessionOutcome::Refused(r) => r.clone(),
        other => panic!("accepted: {other:?}"),
    }
}

fn result(decision: &Decision<StartSessionOutcome>) -> StartSessionResult {
    match &decision.outcome {
        StartSessionOutcome::Ok { result, .. } => result.clone(),
        other => panic!("refused: {other:?}"),
    }
}

#[test]
fn step_1_unknown_or_disabled_product() {
    let mut s = seen(1);
    s.product = None;
    assert_eq!(
        refusal(&run(&request(), &s, "2025-01-31")),
        Refusal::UnknownProduct
    );
    s.product = Some(Product {
        enabled: false,
        ..product()
    });
    let refused = run(&request(), &s, "2025-01-31");
    assert_eq!(refusal(&refused), Refusal::UnknownProduct);
    assert!(refused.writes.is_empty());
}

#[test]
fn step_2_outdated_version() {
    let old = StartSession {
        product_version: "7.0.8".into(),
        ..request()
    };
    assert_eq!(
        refusal(&run(&old, &seen(1), "2025-01-31")),
        Refusal::OutdatedVersion {
            minimum: "7.0.9".into()
        }
    );
    let newer = StartSession {
        product_version: "7.0.10".into(),
        ..request()
    };
    result(&run(&newer, &seen(1), "2025-01-31"));
    assert_eq!(outdated_version("7.0.10", "7.0.10"), Ok(None));
    assert!(outdated_version("7.0.10", "seven").unwrap().is_some());
    assert!(outdated_version("nonsense", "7.0.0").is_err());
}

#[test]
fn step_3_unknown_malformed_or_other_products_key() {
    let mut s = seen(1);
    s.license = None;
    assert_eq!(
        refusal(&run(&request(), &s, "2025-01-31")),
        Refusal::InvalidLicenseKey
    );
    let malformed = StartSession {
        license_digest: None,
        ..request()
    };
    assert_eq!(malformed.needs().license, None);
    let mut other = seen(1);
    if let Some(l) = other.license.as_mut() {
        l.plan.product_id = "otherapp".into();
    }
    assert_eq!(
        refusal(&run(&request(), &other, "2025-01-31")),
        Refusal::InvalidLicenseKey
    );
}

#[test]
fn step_4_revoked() {
    let mut s = seen(1);
    if let Some(l) = s.license.as_mut() {
        l.status = LicenseStatus::Revoked;
    }
    assert_eq!(
        refusal(&run(&request(), &s, "2025-01-31")),
        Refusal::LicenseRevoked
    );
}

#[test]
fn step_5_expired_after_the_expiry_day() {
    let mut s = seen(1);
    if let Some(l) = s.license.as_mut() {
        l.activation_date = Some(day("2025-01-31"));
        l.expiry_date = Some(day("2025-02-28"));
    }
    s.devices = vec![device(1, "2025-01-31")];
    result(&run(&request(), &s, "2025-02-28"));
    assert_eq!(
        refusal(&run(&request(), &s, "2025-03-01")),
        Refusal::LicenseExpired {
            expiry: day("2025-02-28")
        }
    );
}

#[test]
fn step_6_seats() {
    // A free seat binds the device, recording this login.
    let first = run(&request(), &seen(1), "2025-01-31");
    result(&first);
    match &first.writes[0] {
        Write::BindDevice { device, .. } => {
            assert_eq!(device.bound_on, day("2025-01-31"));
            assert_eq!(device.last_login, Some(1_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        audited(&first.writes),
        [AuditAction::DeviceBound, AuditAction::LicenseActivated]
    );
    // Every seat taken by others: refused, naming the first binding day.
    let mut full = seen(2);
    if let Some(l) = full.license.as_mut() {
        l.devices_bound = 2;
        l.first_bound_on = Some(day("2024-10-25"));
    }
    let refused = run(&request(), &full, "2025-01-31");
    assert_eq!(
        refusal(&refused),
        Refusal::KeyBoundToAnotherDevice {
            first_bound: day("2024-10-25")
        }
    );
    assert!(refused.writes.is_empty());
    // The 50,000th device costs what the first does: no devices loaded.
    let mut big = seen(100_000);
    if let Some(l) = big.license.as_mut() {
        l.devices_bound = 49_999;
        l.activation_date = Some(day("2025-01-01"));
        l.expiry_date = Some(day("2025-02-01"));
    }
    let decided = run(&request(), &big, "2025-01-31");
    result(&decided);
    match &decided.writes[1] {
        Write::Audit(entry) => assert!(entry.detail.ends_with("seat 50000 of 100000")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn step_7_last_login() {
    let mut s = seen(1);
    if let Some(l) = s.license.as_mut() {
        l.activation_date = Some(day("2025-01-31"));
        l.expiry_date = Some(day("2025-02-28"));
        l.devices_bound = 1;
    }
    s.devices = vec![DeviceBinding {
        last_login: Some(200),
        previous_last_login: Some(100),
        ..device(1, "2025-01-31")
    }];
    let at = |last| StartSession {
        last_login_reported_by_client: last,
        client_time: 300,
        ..request()
    };
    // The recorded one and the one before it are accepted.
    for ok in [Some(200), Some(100)] {
        let decided = run(&at(ok), &s, "2025-02-01");
        assert!(!result(&decided).is_activated_now);
        match &decided.writes[0] {
            Write::UpdateDevice { device, .. } => {
                assert_eq!(device.last_login, Some(300));
                assert_eq!(device.previous_last_login, Some(200));
                // The version and the server's clock, not the client's.
                assert_eq!(device.last_version.as_deref(), Some("7.0.9"));
                assert_eq!(device.last_seen_at, Some(cli("2025-02-01").at));
            }
            other => panic!("{other:?}"),
        }
    }
    // Anything else locks the device.
    let breach = run(&at(Some(150)), &s, "2025-02-01");
    assert_eq!(refusal(&breach), Refusal::IntegrityBreachLastLogin);
    assert!(matches!(
        &breach.writes[0],
        Write::UpdateDevice { device, .. } if device.locked
    ));
    assert_eq!(audited(&breach.writes), [AuditAction::IntegrityBreach]);
    // A locked device is refused whatever it reports, writing nothing.
    s.devices[0].locked = true;
    let locked = run(&at(Some(200)), &s, "2025-02-01");
    assert_eq!(refusal(&locked), Refusal::IntegrityBreachLastLogin);
    assert!(locked.writes.is_empty());
}

#[test]
fn step_7_rule_for_nil_and_zero() {
    let one = DeviceBinding {
        last_login: Some(100),
        ..device(1, "2025-01-01")
    };
    assert!(last_login_matches(&one, Some(100)));
    assert!(last_login_matches(&one, None));
    assert!(last_login_matches(&one, Some(0)));
    assert!(!last_login_matches(&one, Some(99)));
    let two = DeviceBinding {
        previous_last_login: Some(100),
        last_login: Some(200),
        ..one
    };
    assert!(!last_login_matches(&two, None));
    assert!(!last_login_matches(&two, Some(0)));
    assert!(!last_login_matches(&two, Some(150)));
}

#[test]
fn step_8_activation_dates() {
    let decided = run(&request(), &seen(1), "2025-01-31");
    let r = result(&decided);
    assert!(r.is_activated_now);
    assert_eq!(r.activation_date, "2025-01-31");
    // Calendar months clamp to the month's last day.
    assert_eq!(r.expiry_date.as_deref(), Some("2025-02-28"));
    let mut forever = seen(1);
    if let Some(l) = forever.license.as_mut() {
        l.plan.duration = PlanDuration::Perpetual;
    }
    assert_eq!(
        result(&run(&request(), &forever, "2025-01-31")).expiry_date,
        None
    );
}

#[test]
fn step_9_answer() {
    let r = result(&run(&request(), &seen(1), "2025-01-31"));
    assert_eq!(r.session_token, "71ee0979-ea57b170");
    assert_eq!(r.license_plan, "telepower.monthly");
}

#[test]
fn debug_hides_token_and_digest() {
    let shown = format!("{:?}", request());
    assert!(!shown.contains("71ee0979"), "{shown}");
    assert!(!shown.contains("[1, 1"), "{shown}");
    assert!(shown.contains("telepower"));
}

#[test]
fn refusals_map_to_statuses() {
    assert_eq!(
        Refusal::IntegrityBreachLastLogin.status(),
        Status::IntegrityBreach
    );
    assert_eq!(Refusal::UnknownProduct.status(), Status::UnknownProduct);
}

#[test]
fn over_the_failed_key_limit_only_a_bound_device_starts() {
    let limited = StartSession {
        over_failed_key_limit: true,
        ..request()
    };
    // A new device, a wrong key, an unknown product: RATE_LIMITED, and
    // nothing tells whether the key exists.
    let refused = run(&limited, &seen(1), "2025-01-31");
    assert_eq!(refusal(&refused), Refusal::RateLimited);
    assert!(refused.writes.is_empty());
    assert_eq!(Refusal::RateLimited.status(), Status::RateLimited);
    let mut no_key = seen(1);
    no_key.license = None;
    assert_eq!(
        refusal(&run(&limited, &no_key, "2025-01-31")),
        Refusal::RateLimited
    );
    // The device bound to the key goes on through the usual steps.
    let mut bound = seen(1);
    if let Some(l) = bound.license.as_mut() {
        l.activation_date = Some(day("2025-01-31"));
        l.expiry_date = Some(day("2025-02-28"));
        l.devices_bound = 1;
    }
    bound.devices = vec![DeviceBinding {
        serial_number: "SN-1".into(),
        cs_product_uuid: "UUID-1".into(),
        ..device(1, "2025-01-31")
    }];
    assert!(!result(&run(&limited, &bound, "2025-02-01")).is_activated_now);
    // Another device on the same key is still refused.
    let other = StartSession {
        device: DeviceKey {
            serial_number: "SN-2".into(),
            cs_product_uuid: "UUID-2".into(),
        },
        ..limited
    };
    assert_eq!(
        refusal(&run(&other, &bound, "2025-02-01")),
        Refusal::RateLimited
    );
}
