//! PROTOCOL.md section 6, `start-session`, against the real server: every
//! status in the order the server decides them, the last-login rule with its
//! lock and reset, activation and expiry dates under a [`ManualClock`], the
//! session token, seats (including eight devices racing for one), and the
//! localized messages.
//!
//! [`ManualClock`]: skyline_server::clock::ManualClock

mod common;

use common::store_ops::Ops;

use std::sync::Arc;

use common::{
    assert_token_format, day, next_response, noon, operator, start_request, start_request_after,
    TestServer, MONTHLY, PERPETUAL, PRODUCT, TEAM,
};
use skyline_client::{ClientError, RpcError, StartSessionRequest};
use skyline_protocol::methods::{Language, START_SESSION};
use skyline_protocol::msgpack::MapView;
use skyline_protocol::{license_key, IntegrityCode, Status, Value};
use skyline_server::domain::{AuditAction, AuditFilter};
use skyline_server::i18n::{self, Message};

async fn fixture() -> TestServer {
    TestServer::with_catalog(common::test_config()).await
}

fn russian(request: StartSessionRequest) -> StartSessionRequest {
    StartSessionRequest {
        language: Some("ru".into()),
        ..request
    }
}

// --- Steps 1 to 5: product, version, key, revocation, expiry -------------------

#[tokio::test]
async fn unknown_and_disabled_products_are_unknown_product() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();

    let unknown = StartSessionRequest {
        product_id: "no-such-product".into(),
        ..start_request(&key, "SN-1")
    };
    let error = server.refused_at(t, unknown).await;
    assert!(
        matches!(error, RpcError::UnknownProduct { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.message(),
        i18n::message(&Message::UnknownProduct, Language::English)
    );

    server
        .store
        .set_product_enabled(&operator(&server.clock), PRODUCT, false)
        .await
        .unwrap();
    let error = server.refused_at(t, start_request(&key, "SN-1")).await;
    assert!(
        matches!(error, RpcError::UnknownProduct { .. }),
        "{error:?}"
    );

    server
        .store
        .set_product_enabled(&operator(&server.clock), PRODUCT, true)
        .await
        .unwrap();
    server.session_at(t, start_request(&key, "SN-1")).await;
}

#[tokio::test]
async fn an_older_version_is_outdated_by_numeric_comparison() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    server
        .store
        .set_min_version(&operator(&server.clock), PRODUCT, "7.0.10")
        .await
        .unwrap();

    for old in ["7.0.9", "7.0.3", "6.99.99", "7"] {
        let request = StartSessionRequest {
            product_version: old.into(),
            ..start_request(&key, "SN-1")
        };
        let error = server.refused_at(t, request).await;
        assert!(
            matches!(error, RpcError::OutdatedVersion { .. }),
            "{old}: {error:?}"
        );
        assert!(error.message().contains("7.0.10"), "{}", error.message());
    }
    assert!(server.license(&key).await.devices.is_empty());

    let request = StartSessionRequest {
        product_version: "7.0.10".into(),
        ..start_request(&key, "SN-1")
    };
    let (_client, started) = server.session_at(t, request).await;
    let request = StartSessionRequest {
        product_version: "7.1".into(),
        ..start_request_after(&key, "SN-1", t)
    };
    server.session_at(t + 1, request).await;
    assert!(started.result.is_activated_now);
}

#[tokio::test]
async fn unknown_malformed_and_foreign_keys_are_invalid_license_key() {
    let server = fixture().await;
    server.create_product("otherapp", "1.0").await;
    server
        .create_plan(
            "otherapp.plan",
            "otherapp",
            skyline_protocol::dates::PlanDuration::Months(1),
            1,
        )
        .await;
    let foreign = server.create_key("otherapp.plan").await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();

    let unknown = license_key::generate().unwrap();
    // Whatever its length (PROTOCOL.md §6 step 3: a typo, not a protocol
    // error), up to what a message can carry.
    let long = format!("{key}{}", "-X".repeat(100));
    let huge = "WDGQX ".repeat(5_000);
    for typed in [
        unknown.as_str(),
        "hello",
        "",
        "WDGQX-WC2Y3-4R966-TK3H3",
        "WDGQX-WC2Y3-4R966-TK3H3-HXRB!",
        long.as_str(),
        huge.as_str(),
        foreign.as_str(),
    ] {
        let error = server.refused_at(t, start_request(typed, "SN-1")).await;
        assert!(
            matches!(error, RpcError::InvalidLicenseKey { .. }),
            "{typed:?}: {error:?}"
        );
    }
    assert!(server.license(&foreign).await.devices.is_empty());

    // Case, spaces and dashes do not matter.
    let typed = key.replace('-', " ").to_lowercase();
    let (_client, started) = server.session_at(t, start_request(&typed, "SN-1")).await;
    assert!(started.result.is_activated_now);
}

#[tokio::test]
async fn a_revoked_key_is_license_revoked() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    server.session_at(t, start_request(&key, "SN-1")).await;
    server
        .store
        .revoke_license(&operator(&server.clock), &server.digest(&key))
        .await
        .unwrap();
    let error = server
        .refused_at(t + 1, start_request_after(&key, "SN-1", t))
        .await;
    assert!(
        matches!(error, RpcError::LicenseRevoked { .. }),
        "{error:?}"
    );
    // Never activated keys too.
    let fresh = server.create_key(MONTHLY).await;
    server
        .store
        .revoke_license(&operator(&server.clock), &server.digest(&fresh))
        .await
        .unwrap();
    let error = server.refused_at(t, start_request(&fresh, "SN-2")).await;
    assert!(
        matches!(error, RpcError::LicenseRevoked { .. }),
        "{error:?}"
    );
    assert!(server.license(&fresh).await.activation_date.is_none());
}

#[tokio::test]
async fn a_key_is_expired_the_day_after_its_expiry_date() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    // Activated 2024-10-25: expires 2024-11-25.
    let t1 = noon(2024, 10, 25);
    server.clock.set(t1);
    let (_c, started) = server.session_at(t1, start_request(&key, "SN-1")).await;
    assert_eq!(started.result.expiry_date.as_deref(), Some("2024-11-25"));

    // The expiry day itself is still valid.
    let t2 = noon(2024, 11, 25) + 11 * 3600;
    server.clock.set(t2);
    server
        .session_at(t2, start_request_after(&key, "SN-1", t1))
        .await;

    // The next day (UTC) it is not.
    let t3 = noon(2024, 11, 26) - 12 * 3600;
    server.clock.set(t3);
    let error = server
        .refused_at(t3, start_request_after(&key, "SN-1", t2))
        .await;
    assert!(
        matches!(error, RpcError::LicenseExpired { .. }),
        "{error:?}"
    );
    assert!(
        error.message().contains("November 25, 2024"),
        "{}",
        error.message()
    );
    let error = server
        .refused_at(t3, russian(start_request_after(&key, "SN-1", t2)))
        .await;
    assert!(
        error.message().contains("25 ноября 2024 года"),
        "{}",
        error.message()
    );

    // An operator extends it; the device's last login is still t2.
    server
        .store
        .set_expiry(
            &operator(&server.clock),
            &server.digest(&key),
            day(2025, 1, 1),
        )
        .await
        .unwrap();
    let (_c, started) = server
        .session_at(t3, start_request_after(&key, "SN-1", t2))
        .await;
    assert_eq!(started.result.expiry_date.as_deref(), Some("2025-01-01"));
    assert!(!started.result.is_activated_now);
}

// --- Step 6: seats ------------------------------------------------------------------

#[tokio::test]
async fn a_taken_seat_names_the_first_binding_date_in_words() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t = noon(2024, 10, 25);
    server.clock.set(t);
    server.session_at(t, start_request(&key, "SN-FIRST")).await;

    // Weeks later another device tries; the message names 25 October 2024.
    let later = noon(2024, 11, 14);
    server.clock.set(later);
    let error = server
        .refused_at(later, russian(start_request(&key, "SN-SECOND")))
        .await;
    assert!(
        matches!(error, RpcError::KeyBoundToAnotherDevice { .. }),
        "{error:?}"
    );
    assert!(
        error.message().contains("25 октября 2024 года"),
        "{}",
        error.message()
    );
    assert_eq!(
        error.message(),
        i18n::message(
            &Message::KeyBoundToAnotherDevice(day(2024, 10, 25)),
            Language::Russian
        )
    );

    let error = server
        .refused_at(later, start_request(&key, "SN-SECOND"))
        .await;
    assert!(
        error.message().contains("October 25, 2024"),
        "{}",
        error.message()
    );
    assert_eq!(
        error.message(),
        i18n::message(
            &Message::KeyBoundToAnotherDevice(day(2024, 10, 25)),
            Language::English
        )
    );

    // The same serial with another csProductUUID is another device.
    let other_board = StartSessionRequest {
        cs_product_uuid: "ANOTHER-BOARD".into(),
        ..start_request(&key, "SN-FIRST")
    };
    let error = server.refused_at(later, other_board).await;
    assert!(
        matches!(error, RpcError::KeyBoundToAnotherDevice { .. }),
        "{error:?}"
    );
    assert_eq!(server.license(&key).await.devices.len(), 1);
}

#[tokio::test]
async fn a_plan_with_four_seats_binds_four_devices() {
    let server = fixture().await;
    let key = server.create_key(TEAM).await;
    let t = server.clock_now();
    for n in 0..4 {
        let (_c, started) = server
            .session_at(t, start_request(&key, &format!("SN-{n}")))
            .await;
        assert_eq!(started.result.is_activated_now, n == 0);
    }
    let error = server.refused_at(t, start_request(&key, "SN-4")).await;
    assert!(
        matches!(error, RpcError::KeyBoundToAnotherDevice { .. }),
        "{error:?}"
    );
    // A bound device still gets in.
    server
        .session_at(t + 1, start_request_after(&key, "SN-2", t))
        .await;
    assert_eq!(server.license(&key).await.devices.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_devices_racing_for_one_seat_one_wins() {
    let server = Arc::new(fixture().await);
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let server = server.clone();
        let key = key.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = server.connect_at(t).await;
            // Every device has its connection before any asks for the seat.
            barrier.wait().await;
            client
                .start_session(start_request(&key, &format!("SN-RACE-{n}")))
                .await
        }));
    }
    let mut ok = 0;
    let mut bound = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(started) => {
                ok += 1;
                assert!(started.result.is_activated_now);
            }
            Err(ClientError::Rpc(RpcError::KeyBoundToAnotherDevice { .. })) => bound += 1,
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!((ok, bound), (1, 7));
    assert_eq!(server.license(&key).await.devices.len(), 1);
}

// --- Step 7: the last login -----------------------------------------------------------

#[tokio::test]
async fn a_wrong_last_login_is_an_ll_breach_that_locks_the_device_until_reset() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t1 = server.clock_now();
    server.session_at(t1, start_request(&key, "SN-1")).await;

    // A wrong last login, in Russian: the exact text, code LL.
    let error = server
        .refused_at(t1 + 60, russian(start_request_after(&key, "SN-1", t1 - 1)))
        .await;
    match &error {
        RpcError::IntegrityBreach { code, message } => {
            assert_eq!(*code, Some(IntegrityCode::LastLogin));
            assert_eq!(
                message,
                "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в \
                 техническую поддержку с кодом: LL"
            );
        }
        other => panic!("expected INTEGRITY_BREACH, got {other:?}"),
    }
    let license = server.license(&key).await;
    assert!(license.devices[0].locked);
    assert_eq!(
        license.devices[0].last_login,
        Some(t1),
        "nothing else changed"
    );
    let breaches = server
        .store
        .list_audit(AuditFilter {
            license: Some(server.digest(&key)),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == AuditAction::IntegrityBreach)
        .count();
    assert_eq!(breaches, 1, "the breach is in the audit log");

    // The lock persists: even the right last login is refused now, in English too.
    for reported in [Some(t1), None] {
        let request = StartSessionRequest {
            last_login_reported_by_client: reported,
            ..start_request(&key, "SN-1")
        };
        let error = server.refused_at(t1 + 120, request).await;
        match &error {
            RpcError::IntegrityBreach { code, message } => {
                assert_eq!(*code, Some(IntegrityCode::LastLogin));
                assert!(message.ends_with("LL"), "{message}");
            }
            other => panic!("expected INTEGRITY_BREACH, got {other:?}"),
        }
    }

    // An operator resets the device: it binds again as a new device.
    let reset = server
        .store
        .reset_device(&operator(&server.clock), &server.digest(&key), Some("SN-1"))
        .await
        .unwrap();
    assert_eq!(reset, 1);
    let (mut client, started) = server
        .session_at(t1 + 180, start_request(&key, "SN-1"))
        .await;
    assert!(!started.result.is_activated_now, "activated once, long ago");
    client
        .get_feature_toggles()
        .await
        .expect("a working session");
    let license = server.license(&key).await;
    assert_eq!(license.devices.len(), 1);
    assert!(!license.devices[0].locked);
    assert_eq!(license.devices[0].last_login, Some(t1 + 180));
}

#[tokio::test]
async fn a_lost_response_does_not_lock_the_user_out() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t1 = server.clock_now();
    server.session_at(t1, start_request(&key, "SN-1")).await;

    // One recorded login: the one before it is "none", so nil or 0 is accepted.
    server
        .session_at(t1 + 10, start_request_after(&key, "SN-1", 0))
        .await;
    // Now last = t1 + 10, previous = t1. The answer to that start "was lost":
    // the app still holds t1, which is accepted as the previous login.
    server
        .session_at(t1 + 20, start_request_after(&key, "SN-1", t1))
        .await;
    // last = t1 + 20, previous = t1 + 10. Both are accepted; older ones are not.
    server
        .session_at(t1 + 30, start_request_after(&key, "SN-1", t1 + 10))
        .await;
    let device = &server.license(&key).await.devices[0];
    assert_eq!(
        (device.last_login, device.previous_last_login),
        (Some(t1 + 30), Some(t1 + 20))
    );
    let error = server
        .refused_at(t1 + 40, start_request_after(&key, "SN-1", t1 + 10))
        .await;
    assert!(
        matches!(
            error,
            RpcError::IntegrityBreach {
                code: Some(IntegrityCode::LastLogin),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_first_start_of_a_known_device_without_last_login_is_a_breach() {
    // After two logins, "none" is neither the last nor the one before it.
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t1 = server.clock_now();
    server.session_at(t1, start_request(&key, "SN-1")).await;
    server
        .session_at(t1 + 10, start_request_after(&key, "SN-1", t1))
        .await;
    let error = server
        .refused_at(t1 + 20, start_request(&key, "SN-1"))
        .await;
    assert!(
        matches!(error, RpcError::IntegrityBreach { .. }),
        "{error:?}"
    );
}

// --- Steps 8 and 9: dates and the token -------------------------------------------------

#[tokio::test]
async fn first_activation_fixes_the_dates_and_months_clamp() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t1 = noon(2025, 1, 31);
    server.clock.set(t1);
    let (_c, first) = server.session_at(t1, start_request(&key, "SN-1")).await;
    assert!(first.result.is_activated_now);
    assert_eq!(first.result.activation_date, "2025-01-31");
    assert_eq!(first.result.expiry_date.as_deref(), Some("2025-02-28"));
    assert_eq!(first.result.license_plan, MONTHLY);
    assert_eq!(first.last_login_to_persist, t1);

    // Days later, the dates do not move.
    let t2 = noon(2025, 2, 10);
    server.clock.set(t2);
    let (_c, second) = server
        .session_at(t2, start_request_after(&key, "SN-1", t1))
        .await;
    assert!(!second.result.is_activated_now);
    assert_eq!(second.result.activation_date, "2025-01-31");
    assert_eq!(second.result.expiry_date.as_deref(), Some("2025-02-28"));

    let stored = server.license(&key).await;
    assert_eq!(stored.activation_date, Some(day(2025, 1, 31)));
    assert_eq!(stored.expiry_date, Some(day(2025, 2, 28)));

    // A leap year clamps to the 29th; a day plan adds days.
    let leap = server.create_key(MONTHLY).await;
    let t3 = noon(2024, 1, 31);
    server.clock.set(t3);
    let (_c, started) = server.session_at(t3, start_request(&leap, "SN-2")).await;
    assert_eq!(started.result.expiry_date.as_deref(), Some("2024-02-29"));
    let team = server.create_key(TEAM).await;
    let (_c, started) = server.session_at(t3, start_request(&team, "SN-3")).await;
    assert_eq!(started.result.expiry_date.as_deref(), Some("2024-03-01"));
}

#[tokio::test]
async fn a_perpetual_plan_has_no_expiry_date() {
    let server = fixture().await;
    let key = server.create_key(PERPETUAL).await;
    let t = server.clock_now();
    let (_c, started) = server.session_at(t, start_request(&key, "SN-1")).await;
    assert!(started.result.is_activated_now);
    assert_eq!(started.result.activation_date, "2024-10-25");
    assert_eq!(started.result.expiry_date, None);
    assert_eq!(started.result.license_plan, PERPETUAL);
    // Decades later it still works.
    let later = noon(2060, 1, 1);
    server.clock.set(later);
    let (_c, started) = server
        .session_at(later, start_request_after(&key, "SN-1", t))
        .await;
    assert_eq!(started.result.expiry_date, None);
}

#[tokio::test]
async fn session_tokens_are_lowercase_hex_pairs_and_differ() {
    let server = fixture().await;
    let key = server.create_key(TEAM).await;
    let t = server.clock_now();
    let mut tokens = std::collections::HashSet::new();
    for n in 0..4 {
        let (_c, started) = server
            .session_at(t, start_request(&key, &format!("SN-{n}")))
            .await;
        assert_token_format(&started.result.session_token);
        tokens.insert(started.result.session_token);
    }
    assert_eq!(tokens.len(), 4);
}

#[tokio::test]
async fn the_result_map_has_each_key_once() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let mut client = server.connect().await;
    let request = client
        .raw()
        .request(START_SESSION, start_request(&key, "SN-1").to_value());
    client.raw().send_request(&request).await.unwrap();
    let response = next_response(&mut client).await;
    assert_eq!(response.status, Status::Ok);
    assert_eq!(response.e, None);
    let entries = MapView::of(&response.result).expect("R is a map").entries();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "isActivatedNow",
            "activationDate",
            "licensePlan",
            "expiryDate",
            "sessionToken"
        ]
    );
    let r = MapView::of(&response.result).unwrap();
    assert_eq!(r.get("isActivatedNow"), Some(&Value::Boolean(true)));
    assert_eq!(r.str("activationDate").unwrap(), "2024-10-25");
    assert_eq!(r.str("expiryDate").unwrap(), "2024-11-25");
}

// --- Localized messages ---------------------------------------------------------------

#[tokio::test]
async fn messages_follow_the_language_and_fall_back_to_english() {
    let server = fixture().await;
    let t = server.clock_now();
    let unknown_key = license_key::generate().unwrap();
    let english = i18n::message(&Message::InvalidLicenseKey, Language::English);
    let russian_text = i18n::message(&Message::InvalidLicenseKey, Language::Russian);
    assert_ne!(english, russian_text);
    for (language, expected) in [
        (Some("ru"), &russian_text),
        (Some("russian"), &russian_text),
        (Some("RU"), &russian_text),
        (Some("en"), &english),
        (Some("english"), &english),
        (Some("klingon"), &english),
        (Some(""), &english),
        (None, &english),
    ] {
        let request = StartSessionRequest {
            language: language.map(str::to_owned),
            ..start_request(&unknown_key, "SN-1")
        };
        let error = server.refused_at(t, request).await;
        assert_eq!(error.message(), expected.as_str(), "{language:?}");
    }
}

#[tokio::test]
async fn the_english_integrity_breach_names_its_code() {
    let server = fixture().await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    server.session_at(t, start_request(&key, "SN-1")).await;
    let request = StartSessionRequest {
        language: Some("klingon".into()),
        ..start_request_after(&key, "SN-1", 12345)
    };
    let error = server.refused_at(t + 1, request).await;
    assert_eq!(
        error.message(),
        i18n::message(
            &Message::IntegrityBreach(IntegrityCode::LastLogin),
            Language::English
        )
    );
    assert!(error.message().ends_with("LL"));
}

// --- The order of the steps -------------------------------------------------------------

#[tokio::test]
async fn the_first_failing_step_decides_the_status() {
    let server = fixture().await;
    let t = noon(2024, 10, 25);
    server.clock.set(t);
    let revoked = server.create_key(MONTHLY).await;
    let expired = server.create_key(MONTHLY).await;
    let taken = server.create_key(MONTHLY).await;
    server.session_at(t, start_request(&expired, "SN-E")).await;
    server.session_at(t, start_request(&taken, "SN-T")).await;
    server
        .store
        .revoke_license(&operator(&server.clock), &server.digest(&revoked))
        .await
        .unwrap();
    // Two months later `expired` and `taken` are past their expiry.
    let later = noon(2024, 12, 26);
    server.clock.set(later);
    server
        .store
        .set_min_version(&operator(&server.clock), PRODUCT, "7.0.10")
        .await
        .unwrap();
    let old = |key: &str, serial: &str| StartSessionRequest {
        product_version: "7.0.9".into(),
        ..start_request(key, serial)
    };
    let current = |key: &str, serial: &str| StartSessionRequest {
        product_version: "7.0.10".into(),
        ..start_request(key, serial)
    };

    // Unknown product before anything else.
    let request = StartSessionRequest {
        product_id: "nope".into(),
        ..old("garbage", "SN-X")
    };
    let error = server.refused_at(later, request).await;
    assert_eq!(error.status(), Status::UnknownProduct);
    // Outdated before a bad key.
    let error = server.refused_at(later, old("garbage", "SN-X")).await;
    assert_eq!(error.status(), Status::OutdatedVersion);
    // A bad key.
    let error = server.refused_at(later, current("garbage", "SN-X")).await;
    assert_eq!(error.status(), Status::InvalidLicenseKey);
    // Revoked.
    let error = server.refused_at(later, current(&revoked, "SN-X")).await;
    assert_eq!(error.status(), Status::LicenseRevoked);
    // Expired before the seat check, even for another device.
    let error = server.refused_at(later, current(&taken, "SN-OTHER")).await;
    assert_eq!(error.status(), Status::LicenseExpired);
    // Expired before the last-login check, even with a wrong last login.
    let request = StartSessionRequest {
        last_login_reported_by_client: Some(1),
        ..current(&expired, "SN-E")
    };
    let error = server.refused_at(later, request).await;
    assert_eq!(error.status(), Status::LicenseExpired);
    // None of it locked the device.
    assert!(!server.license(&expired).await.devices[0].locked);
}
