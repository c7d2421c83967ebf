//! The admin HTTP API end to end: every route used with a read-write token,
//! checked against the route list through the token-use audit log, and
//! changes attributed to the token. Refusals are in `admin_auth.rs`.

mod http_support;

use std::collections::BTreeSet;

use http_support::{artifact, expect, get, http, sha256_hex, Harness, PRODUCT};
use serde_json::{json, Value};
use skyline_protocol::license_key;
use skyline_server::admin::route_list;
use skyline_server::clock::Clock;
use skyline_server::domain::start_session::{StartSession, StartSessionOutcome};
use skyline_server::domain::{Actor, AuditAction, AuditFilter, DeviceKey, TelemetryRecord};

/// Binds a device to `key` and activates it, as a client's start-session would.
async fn start_session(server: &Harness, key: &str) {
    let command = StartSession {
        product_id: PRODUCT.into(),
        product_version: "7.0.0".into(),
        license_digest: server.index.digest_typed(key),
        device: DeviceKey {
            serial_number: "SN-1".into(),
            cs_product_uuid: "UUID-1".into(),
        },
        last_login_reported_by_client: None,
        client_time: server.clock.now_unix(),
        session_token: "00000000-00000001".into(),
        over_failed_key_limit: false,
    };
    let by = Actor {
        name: "127.0.0.1".into(),
        at: server.clock.now_unix(),
    };
    let outcome = server.store.execute(command, &by).await.unwrap();
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
            event_id: None,
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
        .filter(|r| r.action == AuditAction::AdminTokenUsed)
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
