//! The admin HTTP API's refusals: every route without a token, with a wrong
//! or revoked one, and with a read-only one for writes; per-token rate
//! limits; JSON errors with stable codes; failed authentications counted per
//! address in the audit log.

mod http_support;

use http_support::{call, expect, Harness, PRODUCT};
use serde_json::json;
use skyline_server::admin::{route_list, AdminConfig};
use skyline_server::domain::tokens::RevokeAdminToken;
use skyline_server::domain::{Actor, AuditAction, AuditFilter};

/// A concrete path for a route template.
fn concrete(template: &str) -> String {
    template
        .replace("{product_id}", PRODUCT)
        .replace("{key}", "WDGQX-WC2Y3-4R966-TK3H3-HXRB8")
        .replace("{name}", "engine.limit")
        .replace("{version}", "7.0.0")
        .replace("{token_id}", "0123456789abcdef")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_missing_revoked_and_read_only_tokens() {
    let server = Harness::start().await;
    let (revoked, revoked_id) = server.token("gone", false).await;
    let (read_only, _) = server.token("reports", true).await;
    server
        .store
        .execute(RevokeAdminToken { id: revoked_id }, &Actor::cli(0))
        .await
        .unwrap();
    let forged = format!("{}{}", &read_only[..read_only.len() - 4], "0000");
    let routes: Vec<_> = route_list()
        .into_iter()
        .filter(|(_, p)| *p != "/admin/openapi.json")
        .collect();
    assert!(routes.len() >= 24, "{routes:?}");
    for (method, template) in &routes {
        let path = concrete(template);
        let method = method.as_str();
        let body = (method != "GET").then(|| json!({}));
        let missing = call(&server, "", method, &path, body.clone()).await;
        assert_eq!(
            (missing.status, missing.code()),
            (401, "UNAUTHORIZED".into()),
            "{method} {path}"
        );
        assert!(missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer"));
        let wrong = call(&server, &forged, method, &path, body.clone()).await;
        assert_eq!(
            (wrong.status, wrong.code()),
            (401, "UNAUTHORIZED".into()),
            "{method} {path}"
        );
        let old = call(&server, &revoked, method, &path, body.clone()).await;
        assert_eq!(
            (old.status, old.code()),
            (401, "TOKEN_REVOKED".into()),
            "{method} {path}"
        );
        let reader = call(&server, &read_only, method, &path, body).await;
        if method == "GET" {
            assert!(
                ![401, 403].contains(&reader.status),
                "{method} {path}: {}",
                reader.status
            );
        } else {
            assert_eq!(
                (reader.status, reader.code()),
                (403, "READ_ONLY_TOKEN".into()),
                "{method} {path}"
            );
        }
    }
    // Nothing was changed by the refused writes.
    assert_eq!(server.store.list_products().await.unwrap().len(), 1);
    assert!(server
        .store
        .list_releases(PRODUCT)
        .await
        .unwrap()
        .is_empty());
    let audit = server
        .store
        .list_audit(AuditFilter::default())
        .await
        .unwrap();
    assert!(audit
        .iter()
        .any(|r| r.actor == "admin:reports" && r.detail.contains("-> 403")));
    let dir = server.stop().await;
    let dir = dir.path();

    // The refusals were counted per address and flushed at shutdown.
    let url = format!("sqlite://{}", dir.join("skyline.sqlite").display());
    let store = skyline_server::store::open(&url, None).await.unwrap();
    let audit = store.list_audit(AuditFilter::default()).await.unwrap();
    let failed: Vec<_> = audit
        .iter()
        .filter(|r| r.action == AuditAction::AdminAuthFailed)
        .collect();
    assert_eq!(failed.len(), 1, "one entry per address per minute");
    assert_eq!(failed[0].actor, "127.0.0.1");
    let expected = format!("{} since", routes.len() * 3);
    assert!(
        failed[0].detail.starts_with(&expected),
        "{}",
        failed[0].detail
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_rate_limited_one_by_one() {
    let config = AdminConfig {
        requests_per_minute: 3,
        ..AdminConfig::default()
    };
    let server = Harness::start_with(config).await;
    let (busy, _) = server.token("busy", true).await;
    let (calm, _) = server.token("calm", true).await;
    for _ in 0..3 {
        expect(&server, &busy, "GET", "/admin/products", None, 200).await;
    }
    let limited = expect(&server, &busy, "GET", "/admin/products", None, 429).await;
    assert_eq!(limited.code(), "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some());
    expect(&server, &calm, "GET", "/admin/products", None, 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_stable_codes() {
    let server = Harness::start().await;
    let (t, _) = server.token("ops", false).await;
    let t = t.as_str();
    let unknown = expect(&server, t, "GET", "/admin/nothing", None, 404).await;
    assert_eq!(unknown.code(), "NOT_FOUND");
    let method = expect(&server, t, "DELETE", "/admin/products", None, 405).await;
    assert_eq!(method.code(), "METHOD_NOT_ALLOWED");
    let malformed = call(&server, t, "POST", "/admin/products", None).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "BAD_REQUEST".into())
    );
    let version = expect(
        &server,
        t,
        "POST",
        "/admin/products",
        Some(json!({"id": "x", "minVersion": "v1"})),
        400,
    )
    .await;
    assert!(version.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("v1"));
    let duplicate = expect(
        &server,
        t,
        "POST",
        "/admin/products",
        Some(json!({"id": PRODUCT, "minVersion": "1.0"})),
        409,
    )
    .await;
    assert_eq!(duplicate.code(), "CONFLICT");
    let missing = expect(&server, t, "GET", "/admin/products/none", None, 404).await;
    assert_eq!(missing.code(), "NOT_FOUND");
    let not_a_key = expect(&server, t, "GET", "/admin/licenses/not-a-key", None, 400).await;
    assert_eq!(not_a_key.code(), "BAD_REQUEST");
    let unknown_key = expect(
        &server,
        t,
        "GET",
        "/admin/licenses/WDGQX-WC2Y3-4R966-TK3H3-HXRB8",
        None,
        404,
    )
    .await;
    assert_eq!(unknown_key.code(), "NOT_FOUND");
    let count = expect(
        &server,
        t,
        "POST",
        "/admin/licenses",
        Some(json!({"plan": "p", "count": 0})),
        400,
    )
    .await;
    assert!(count.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("count"));
    server.stop().await;
}
