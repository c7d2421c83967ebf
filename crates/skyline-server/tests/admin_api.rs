//! The admin HTTP API end to end: every route used with a read-write token
//! (checked against the route list through the audit log), every route
//! refused without a token, with a revoked one, and with a read-only one for
//! writes; rate limits; JSON errors; the token-use audit.

mod http_support;

use std::collections::BTreeSet;

use http_support::{artifact, get, http, sha256_hex, Harness, Reply, PRODUCT};
use serde_json::{json, Value};
use skyline_protocol::license_key;
use skyline_server::admin::{route_list, AdminConfig};
use skyline_server::clock::Clock;
use skyline_server::store::{
    AuditAction, AuditFilter, StartSessionCommand, StartSessionOutcome, TelemetryRecord,
};

/// A request to the admin API with `token` (none when empty).
async fn call(
    server: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/json")];
    if !token.is_empty() {
        headers.push(("authorization", bearer.as_str()));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    http(method, &format!("{}{path}", server.admin), &headers, body).await
}

/// `call`, asserting the status.
async fn expect(
    server: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Reply {
    let reply = call(server, token, method, path, body).await;
    assert_eq!(
        reply.status,
        status,
        "{method} {path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
}

/// Binds a device to `key` and activates it, as a client's start-session would.
async fn start_session(server: &Harness, key: &str) {
    let command = StartSessionCommand {
        product_id: PRODUCT.into(),
        product_version: "7.0.0".into(),
        license_digest: server.index.digest_typed(key),
        device_serial_number: "SN-1".into(),
        cs_product_uuid: "UUID-1".into(),
        last_login_reported_by_client: None,
        client_time: server.clock.now_unix(),
        today: server.clock.today(),
        now: server.clock.now_unix(),
        session_token: "00000000-00000001".into(),
        source: Some("127.0.0.1".into()),
    };
    let outcome = server.store.start_session(command).await.unwrap();
    assert!(
        matches!(outcome, StartSessionOutcome::Ok { .. }),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_with_a_read_write_token() {
    let server = Harness::start().await;
    let (rw, _) = server.token("billing", false).await;
    let (_, other_id) = server.token("old", true).await;
    let t = rw.as_str();

    // Products and plans.
    let doc = get(&format!("{}/admin/openapi.json", server.admin), &[]).await;
    assert_eq!(doc.status, 200);
    let created = expect(
        &server,
        t,
        "POST",
        "/admin/products",
        Some(json!({"id": "shop", "minVersion": "1.0"})),
        201,
    )
    .await;
    assert_eq!(
        created.json(),
        json!({"id": "shop", "minVersion": "1.0", "enabled": true})
    );
    let products = expect(&server, t, "GET", "/admin/products", None, 200)
        .await
        .json();
    assert_eq!(products.as_array().unwrap().len(), 2);
    expect(&server, t, "GET", "/admin/products/shop", None, 200).await;
    let changed = expect(
        &server,
        t,
        "PATCH",
        "/admin/products/shop",
        Some(json!({"minVersion": "1.1", "enabled": false})),
        200,
    )
    .await;
    assert_eq!(changed.json()["enabled"], json!(false));
    let plan = json!({"id": "tp.monthly", "product": PRODUCT, "months": 1, "devices": 2});
    expect(&server, t, "POST", "/admin/plans", Some(plan), 201).await;
    let plans = expect(
        &server,
        t,
        "GET",
        "/admin/plans?product=telepower",
        None,
        200,
    )
    .await;
    assert_eq!(plans.json()[0]["devices"], json!(2));

    // Licenses: bulk create returns the keys once.
    let keys = expect(
        &server,
        t,
        "POST",
        "/admin/licenses",
        Some(json!({"plan": "tp.monthly", "count": 3})),
        201,
    )
    .await
    .json();
    let keys: Vec<String> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| license_key::normalize(k).is_some()));
    let listed = expect(
        &server,
        t,
        "GET",
        "/admin/licenses?product=telepower",
        None,
        200,
    )
    .await
    .json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(&keys[0]),
        "keys are never listed"
    );
    start_session(&server, &keys[0]).await;
    let shown = expect(
        &server,
        t,
        "GET",
        &format!("/admin/licenses/{}", keys[0]),
        None,
        200,
    )
    .await
    .json();
    assert_eq!(shown["devices"].as_array().unwrap().len(), 1);
    expect(
        &server,
        t,
        "PUT",
        &format!("/admin/licenses/{}/expiry", keys[0]),
        Some(json!({"expiryDate": "2030-01-01"})),
        200,
    )
    .await;
    let reset = expect(
        &server,
        t,
        "POST",
        &format!("/admin/licenses/{}/reset-device", keys[0]),
        None,
        200,
    )
    .await;
    assert_eq!(reset.json(), json!({"reset": 1}));
    expect(
        &server,
        t,
        "POST",
        &format!("/admin/licenses/{}/revoke", keys[1]),
        None,
        200,
    )
    .await;
    let revoked = expect(
        &server,
        t,
        "GET",
        &format!("/admin/licenses/{}", keys[1]),
        None,
        200,
    )
    .await;
    assert_eq!(revoked.json()["status"], json!("revoked"));

    // Toggles.
    expect(
        &server,
        t,
        "PUT",
        "/admin/products/telepower/toggles/engine.limit",
        Some(json!({"value": 500})),
        200,
    )
    .await;
    expect(
        &server,
        t,
        "PUT",
        "/admin/products/telepower/toggles/beta.ui",
        Some(json!({"value": true, "plan": "tp.monthly"})),
        200,
    )
    .await;
    let toggles = expect(
        &server,
        t,
        "GET",
        "/admin/products/telepower/toggles",
        None,
        200,
    )
    .await
    .json();
    assert_eq!(toggles.as_array().unwrap().len(), 2, "{toggles}");
    expect(
        &server,
        t,
        "DELETE",
        "/admin/products/telepower/toggles/engine.limit",
        None,
        200,
    )
    .await;

    // Releases: the upload body is the artifact; it is then downloadable.
    let bytes = artifact(70_000, 5);
    let auth = format!("Bearer {rw}");
    let upload = http(
        "POST",
        &format!("{}/admin/products/telepower/releases?version=7.3.0&platform=windows-x64&fileName=TP%20Setup.exe&minVersion=7.1", server.admin),
        &[("authorization", auth.as_str()), ("content-type", "application/octet-stream")],
        bytes.clone(),
    )
    .await;
    assert_eq!(
        upload.status,
        201,
        "{}",
        String::from_utf8_lossy(&upload.body)
    );
    let release = upload.json();
    assert_eq!(release["sha256"], json!(sha256_hex(&bytes)));
    assert_eq!(release["fileName"], json!("TP_Setup.exe"));
    let download = get(
        &format!(
            "{}/download/telepower/latest?platform=windows-x64",
            server.base
        ),
        &[],
    )
    .await;
    assert_eq!(download.body, bytes);
    assert_eq!(
        server
            .store
            .list_products()
            .await
            .unwrap()
            .iter()
            .find(|p| p.id == PRODUCT)
            .unwrap()
            .min_version,
        "7.1"
    );
    let releases = expect(
        &server,
        t,
        "GET",
        "/admin/products/telepower/releases",
        None,
        200,
    )
    .await
    .json();
    assert_eq!(releases.as_array().unwrap().len(), 1);
    let yanked = expect(
        &server,
        t,
        "POST",
        "/admin/products/telepower/releases/7.3.0/yank?platform=windows-x64",
        None,
        200,
    )
    .await;
    assert_eq!(yanked.json()["yanked"], json!(true));
    let gone = get(
        &format!(
            "{}/download/telepower/latest?platform=windows-x64",
            server.base
        ),
        &[],
    )
    .await;
    assert_eq!(gone.status, 404);
    expect(
        &server,
        t,
        "POST",
        "/admin/products/telepower/releases/7.3.0/unyank?platform=windows-x64",
        None,
        200,
    )
    .await;

    // Telemetry: a page, then the streamed export in both formats.
    let license_id = server
        .store
        .find_license(&server.index.digest_typed(&keys[0]).unwrap())
        .await
        .unwrap()
        .id;
    for n in 0..3 {
        let record = TelemetryRecord {
            license_id,
            product_id: PRODUCT.into(),
            event: "app.started".into(),
            data: Some(json!({"n": n, "text": "a,b"})),
            client_time: 100 + n,
            received_at: server.clock.now_unix(),
        };
        server.store.record_telemetry(record).await.unwrap();
    }
    let page = expect(
        &server,
        t,
        "GET",
        "/admin/products/telepower/telemetry?limit=2",
        None,
        200,
    )
    .await
    .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let after = page["nextAfterId"].as_i64().unwrap();
    let rest = expect(
        &server,
        t,
        "GET",
        &format!("/admin/products/telepower/telemetry?afterId={after}&since=2020-01-01"),
        None,
        200,
    )
    .await
    .json();
    assert_eq!(
        (
            rest["events"].as_array().unwrap().len(),
            &rest["nextAfterId"]
        ),
        (1, &Value::Null)
    );
    let jsonl = expect(
        &server,
        t,
        "GET",
        "/admin/products/telepower/telemetry/export",
        None,
        200,
    )
    .await;
    assert_eq!(jsonl.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(String::from_utf8(jsonl.body).unwrap().lines().count(), 3);
    let csv = expect(
        &server,
        t,
        "GET",
        "/admin/products/telepower/telemetry/export?format=csv",
        None,
        200,
    )
    .await;
    let csv = String::from_utf8(csv.body).unwrap();
    assert!(
        csv.starts_with("id,license_id,event,client_time,received_at,data\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4);

    // The audit log, by key and by time.
    let by_key = expect(
        &server,
        t,
        "GET",
        &format!("/admin/audit?license={}", keys[0]),
        None,
        200,
    )
    .await
    .json();
    let actions: Vec<&str> = by_key
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"device-bound") && actions.contains(&"device-reset"),
        "{actions:?}"
    );
    let newest = expect(
        &server,
        t,
        "GET",
        "/admin/audit?since=2020-01-01&limit=5",
        None,
        200,
    )
    .await
    .json();
    assert_eq!(newest.as_array().unwrap().len(), 5);

    // Tokens: listed without secrets, revocable.
    let tokens = expect(&server, t, "GET", "/admin/tokens", None, 200).await;
    assert!(
        !String::from_utf8_lossy(&tokens.body).contains(&rw[20..]),
        "no secret is listed"
    );
    assert_eq!(tokens.json().as_array().unwrap().len(), 2);
    let gone = expect(
        &server,
        t,
        "POST",
        &format!("/admin/tokens/{other_id}/revoke"),
        None,
        200,
    )
    .await;
    assert!(gone.json()["revokedAt"].is_i64());

    // Every route of the router was used successfully: the audit log says so.
    let audit = server
        .store
        .list_audit(AuditFilter::default())
        .await
        .unwrap();
    let mut used: BTreeSet<(String, String)> = audit
        .iter()
        .filter(|r| r.action.as_str() == AuditAction::ADMIN_TOKEN_USED)
        .filter_map(|r| {
            let (route, rest) = r.detail.split_once(" -> ")?;
            let (method, template) = route.split_once(' ')?;
            rest.starts_with('2')
                .then(|| (method.to_owned(), template.to_owned()))
        })
        .collect();
    used.insert(("GET".into(), "/admin/openapi.json".into()));
    let all: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    assert_eq!(used, all, "every admin route used with a valid token");
    // Changes are attributed to the token's name.
    assert!(audit
        .iter()
        .any(|r| r.actor == "admin:billing" && r.action.as_str() == "product-created"));
    server.stop().await;
}

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
        .revoke_admin_token(&skyline_server::store::Actor::cli(0), &revoked_id)
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
    let store = skyline_server::store::sqlite::SqliteStore::open(
        dir.join("skyline.sqlite"),
        skyline_server::store::sqlite::SqliteOptions::default(),
        skyline_server::license_index::LicenseIndex::from_identity(
            &skyline_protocol::IdentityKeyPair::from_seed(&http_support::IDENTITY_SEED).unwrap(),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    use skyline_server::store::Store;
    let audit = store.list_audit(AuditFilter::default()).await.unwrap();
    let failed: Vec<_> = audit
        .iter()
        .filter(|r| r.action.as_str() == AuditAction::ADMIN_AUTH_FAILED)
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
