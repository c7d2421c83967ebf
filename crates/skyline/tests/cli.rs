//! The operator CLI, run as the real binary in a temporary data directory:
//! keygen, products, plans, license keys, toggles, telemetry export, the
//! audit log, `--json` output, and errors (exit code 1 with a message).

mod common;

use common::{fails, json, ok, start_request, Server};
use serde_json::Value as Json;
use skyline_client::TelemetryEvent;
use skyline_protocol::license_key;

const PRODUCT: &str = "telepower";
const MONTHLY: &str = "telepower.licensePlan.release.monthly";
const DAYS: &str = "telepower.licensePlan.trial";
const FOREVER: &str = "telepower.licensePlan.perpetual";

fn is_key(text: &str) -> bool {
    license_key::normalize(text).as_deref() == Some(text)
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("identity.key");
    let path_arg = path.to_str().unwrap();
    let out = ok(dir.path(), &["keygen", "--out", path_arg]);
    let public = out.lines().last().expect("a last line");
    assert_eq!(public.len(), 64, "{out}");
    assert!(
        public
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{public}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let written = std::fs::read(&path).unwrap();

    let error = fails(dir.path(), &["keygen", "--out", path_arg]);
    assert!(error.contains("already exists"), "{error}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        written,
        "the key is untouched"
    );

    // --json: the path and the public key.
    let other = dir.path().join("other.key");
    let printed = json(dir.path(), &["keygen", "--out", other.to_str().unwrap()]);
    let public = printed["publicKey"].as_str().expect("publicKey");
    assert_eq!(public.len(), 64);

    // A server started with that key prints the same public key.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(&other, data.join("identity.key")).unwrap();
    let server = Server::start(&data);
    assert_eq!(server.pinned.to_hex(), public);
    assert!(server.terminate().success());
}

#[test]
fn products_plans_and_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Products.
    let out = ok(d, &["product", "create", PRODUCT, "--min-version", "7.0.3"]);
    assert!(out.contains(PRODUCT) && out.contains("7.0.3"), "{out}");
    let out = ok(
        d,
        &["product", "update", PRODUCT, "--min-version", "7.0.10"],
    );
    assert!(out.contains("7.0.10"), "{out}");
    ok(
        d,
        &["product", "create", "otherapp", "--min-version", "1.0"],
    );
    let out = ok(d, &["product", "disable", "otherapp"]);
    assert!(out.contains("disabled"), "{out}");
    let list = ok(d, &["product", "list"]);
    assert!(
        list.contains("otherapp") && list.contains("disabled"),
        "{list}"
    );
    let products = json(d, &["product", "list"]);
    assert_eq!(
        products,
        serde_json::json!([
            {"id": "otherapp", "minVersion": "1.0", "enabled": false},
            {"id": PRODUCT, "minVersion": "7.0.10", "enabled": true},
        ])
    );
    let enabled = json(d, &["product", "enable", "otherapp"]);
    assert_eq!(enabled["enabled"], Json::Bool(true));

    // Plans: months, days, perpetual; seats.
    let out = ok(
        d,
        &[
            "plan",
            "create",
            MONTHLY,
            "--product",
            PRODUCT,
            "--months",
            "1",
        ],
    );
    assert!(out.contains("1 month") && out.contains("1 device"), "{out}");
    let plan = json(
        d,
        &[
            "plan",
            "create",
            DAYS,
            "--product",
            PRODUCT,
            "--days",
            "14",
            "--devices",
            "3",
        ],
    );
    assert_eq!(plan["days"], 14);
    assert_eq!(plan["devices"], 3);
    let plan = json(
        d,
        &[
            "plan",
            "create",
            FOREVER,
            "--product",
            PRODUCT,
            "--perpetual",
        ],
    );
    assert_eq!(plan["perpetual"], true);
    let plans = json(d, &["plan", "list", "--product", PRODUCT]);
    assert_eq!(plans.as_array().unwrap().len(), 3);
    let text = ok(d, &["plan", "list"]);
    assert!(
        text.contains("14 days") && text.contains("perpetual"),
        "{text}"
    );

    // Keys: three printed, one per line, each a normalized key.
    let out = ok(d, &["license", "create", "--plan", MONTHLY, "--count", "3"]);
    let keys: Vec<&str> = out.lines().collect();
    assert_eq!(keys.len(), 3, "{out}");
    assert!(keys.iter().all(|k| is_key(k)), "{out}");
    let created = json(d, &["license", "create", "--plan", FOREVER]);
    let forever_key = created["keys"][0].as_str().unwrap().to_owned();
    assert!(is_key(&forever_key));

    let listed = json(d, &["license", "list", "--product", PRODUCT]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4);
    for entry in listed {
        let suffix = entry["key"].as_str().unwrap();
        assert!(suffix.starts_with('…'), "{suffix}");
        // The list never shows a whole key.
        assert!(!keys.iter().any(|k| suffix.contains(k)));
    }
    let text = ok(d, &["license", "list"]);
    assert!(text.contains(MONTHLY), "{text}");
    assert!(!keys.iter().any(|k| text.contains(k)), "{text}");

    // Show: typed in any case, with spaces.
    let typed = keys[0].replace('-', " ").to_lowercase();
    let shown = json(d, &["license", "show", &typed]);
    assert_eq!(shown["plan"], MONTHLY);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["activationDate"], Json::Null);
    assert_eq!(shown["devices"], serde_json::json!([]));
    let text = ok(d, &["license", "show", keys[0]]);
    assert!(
        text.contains("not yet") && text.contains("none bound"),
        "{text}"
    );

    // Revoke.
    let out = ok(d, &["license", "revoke", keys[1]]);
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(json(d, &["license", "show", keys[1]])["status"], "revoked");

    // Toggles at three layers.
    let out = ok(
        d,
        &[
            "toggle",
            "set",
            "engine.limits.sendMessage.dailyLimit",
            "150",
            "--product",
            PRODUCT,
        ],
    );
    assert!(out.contains("= 150"), "{out}");
    ok(
        d,
        &[
            "toggle",
            "set",
            "engine.limits.inviteToChannel.dailyLimit",
            "500",
            "--product",
            PRODUCT,
            "--plan",
            MONTHLY,
        ],
    );
    ok(
        d,
        &[
            "toggle",
            "set",
            "ui.ratio",
            "0.5",
            "--product",
            PRODUCT,
            "--license",
            keys[0],
        ],
    );
    ok(
        d,
        &["toggle", "set", "ui.beta", "true", "--product", PRODUCT],
    );
    ok(
        d,
        &["toggle", "set", "ui.theme", "dark", "--product", PRODUCT],
    );
    let toggles = json(d, &["toggle", "list", "--product", PRODUCT]);
    let rows = toggles.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{toggles}");
    let find = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(find("engine.limits.sendMessage.dailyLimit")["value"], 150);
    // The same JSON as the admin API's (`skyline_server::views::ToggleView`).
    assert_eq!(
        find("engine.limits.sendMessage.dailyLimit")["scope"],
        "product"
    );
    let plan_row = find("engine.limits.inviteToChannel.dailyLimit");
    assert_eq!(plan_row["scope"], "plan");
    assert_eq!(plan_row["plan"], MONTHLY);
    assert_eq!(find("ui.ratio")["value"], 0.5);
    assert_eq!(find("ui.ratio")["scope"], "license");
    assert!(find("ui.ratio")["key"].as_str().unwrap().starts_with("…-"));
    assert_eq!(find("ui.beta")["value"], true);
    assert_eq!(find("ui.theme")["value"], "dark");
    let text = ok(d, &["toggle", "list", "--product", PRODUCT]);
    assert!(text.contains("ui.theme") && text.contains("dark"), "{text}");

    // The audit log records the operator's changes.
    let audit = json(d, &["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for expected in [
        "product-created",
        "product-updated",
        "product-disabled",
        "product-enabled",
        "plan-created",
        "licenses-created",
        "license-revoked",
        "toggle-set",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let about_one_key = json(d, &["audit", "--license", keys[1]]);
    assert!(about_one_key
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == "license-revoked"));
    let text = ok(d, &["audit", "--since", "2000-01-01"]);
    assert!(text.contains("product-created"), "{text}");
    assert!(
        !keys.iter().any(|k| text.contains(k)),
        "no whole key in the audit log"
    );
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = common::catalogue(d, PRODUCT, MONTHLY, 1, 1);
    let key = keys[0].as_str();

    let e = fails(d, &["license", "create", "--plan", "no-such-plan"]);
    assert!(e.contains("no-such-plan") && e.contains("not found"), "{e}");
    let e = fails(d, &["license", "create", "--plan", MONTHLY, "--count", "0"]);
    assert!(e.contains("--count"), "{e}");
    let e = fails(d, &["license", "set-expiry", key, "2025-13-01"]);
    assert!(e.contains("2025-13-01") && e.contains("YYYY-MM-DD"), "{e}");
    let e = fails(d, &["license", "set-expiry", key, "2030-01-01"]);
    assert!(!e.is_empty(), "a key never activated has no expiry to set");
    let e = fails(d, &["license", "show", "not-a-key"]);
    assert!(e.contains("not a license key"), "{e}");
    let unknown = license_key::generate().unwrap();
    let e = fails(d, &["license", "show", &unknown]);
    assert!(e.contains("not found"), "{e}");
    assert!(!e.contains(&unknown), "the key is not echoed back: {e}");
    let e = fails(d, &["license", "revoke", "ABCDE"]);
    assert!(e.contains("not a license key"), "{e}");
    let e = fails(d, &["license", "reset-device", key]);
    assert!(e.contains("no device"), "{e}");
    let e = fails(d, &["product", "create", PRODUCT, "--min-version", "1.0.0"]);
    assert!(e.contains("already exists"), "{e}");
    let e = fails(d, &["product", "create", "x", "--min-version", "one"]);
    assert!(!e.is_empty());
    let e = fails(d, &["product", "disable", "no-such-product"]);
    assert!(e.contains("not found"), "{e}");
    let e = fails(
        d,
        &[
            "plan",
            "create",
            "p2",
            "--product",
            "no-such-product",
            "--months",
            "1",
        ],
    );
    assert!(!e.is_empty());
    let e = fails(d, &["plan", "create", "p3", "--product", PRODUCT]);
    assert!(e.contains("--months") || e.contains("duration"), "{e}");
    let e = fails(
        d,
        &[
            "telemetry",
            "export",
            "--product",
            PRODUCT,
            "--since",
            "yesterday",
        ],
    );
    assert!(e.contains("yesterday"), "{e}");

    // A usage error is clap's (exit code 2), with a message too.
    let output = common::run(
        d,
        &[
            "plan",
            "create",
            "p4",
            "--product",
            PRODUCT,
            "--months",
            "1",
            "--days",
            "2",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(!output.stderr.is_empty());
}

/// The documented deployment: a key made with `keygen --out`, the catalogue
/// made with `--database` alone (no identity key anywhere), the server given
/// both. No command but `keygen` and `serve` makes an identity key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_needs_only_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secrets").join("id.key");
    let database = format!(
        "sqlite://{}",
        dir.path().join("db").join("skyline.sqlite").display()
    );
    let data = dir.path().join("data");
    let made = json(&data, &["keygen", "--out", key_file.to_str().unwrap()]);
    let public = made["publicKey"].as_str().unwrap().to_owned();

    let with_db = |args: &[&str]| {
        let mut all = vec!["--database", database.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: &[&str]| {
        let args = with_db(args);
        ok(&data, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run(&["product", "create", PRODUCT, "--min-version", "1.0.0"]);
    run(&[
        "plan",
        "create",
        MONTHLY,
        "--product",
        PRODUCT,
        "--months",
        "1",
    ]);
    let keys = run(&["license", "create", "--plan", MONTHLY, "--count", "2"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2);
    run(&["license", "show", keys[0]]);
    assert!(
        !data.join("identity.key").exists(),
        "an operator command made an identity key"
    );

    let server = Server::start_with(
        &data,
        &[
            "--database",
            &database,
            "--identity",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(server.pinned.to_hex(), public);
    let mut client = server.connect().await;
    let started = client
        .start_session(start_request(PRODUCT, keys[0], "SN-1", None))
        .await
        .expect("start-session OK on a key the CLI made without the identity key");
    assert!(started.result.is_activated_now);
    assert!(!data.join("identity.key").exists());
    let status = server.terminate();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_then_operator_commands_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let keys = common::catalogue(&d, PRODUCT, MONTHLY, 1, 2);
    let server = Server::start(&d);

    // An app activates the first key and sends telemetry.
    let mut client = server.connect().await;
    let started = client
        .start_session(start_request(PRODUCT, &keys[0], "SN-1", None))
        .await
        .expect("start-session");
    assert!(started.result.is_activated_now);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.navigation".into(),
            data: Some(skyline_protocol::msgpack::map([(
                "to",
                skyline_protocol::Value::from("/account-manager, \"main\""),
            )])),
            event_id: None,
        })
        .await
        .unwrap();
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.started".into(),
            data: None,
            event_id: None,
        })
        .await
        .unwrap();
    client.close().await.unwrap();

    // The CLI debugging client, against the same server.
    let out = ok(
        &d,
        &[
            "client",
            "start-session",
            "--url",
            &server.url,
            "--identity-public",
            &server.pinned.to_hex(),
            "--product",
            PRODUCT,
            "--product-version",
            "1.0.0",
            "--key",
            &keys[1],
            "--toggles",
        ],
    );
    assert!(out.starts_with("OK"), "{out}");
    let refused = common::run(
        &d,
        &[
            "client",
            "start-session",
            "--url",
            &server.url,
            "--identity-public",
            &server.pinned.to_hex(),
            "--product",
            PRODUCT,
            "--product-version",
            "1.0.0",
            "--key",
            &keys[0],
            "--serial",
            "SN-OTHER",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("KEY_BOUND_TO_ANOTHER_DEVICE"));

    // Operators see the binding, the dates and the events.
    let shown = json(&d, &["license", "show", &keys[0]]);
    let devices = shown["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["serialNumber"], "SN-1");
    assert_eq!(devices[0]["lastLogin"], started.last_login_to_persist);
    assert_eq!(shown["activationDate"], started.result.activation_date);
    let text = ok(&d, &["license", "show", &keys[0]]);
    assert!(text.contains("SN-1"), "{text}");

    let rows = common::exported_telemetry(&d, PRODUCT);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["event"], "app.navigation");
    assert_eq!(rows[0]["data"]["to"], "/account-manager, \"main\"");
    assert_eq!(rows[0]["licenseId"], shown["id"]);
    assert_eq!(rows[1]["event"], "app.started");
    assert_eq!(rows[1]["data"], Json::Null);
    let csv = ok(
        &d,
        &[
            "telemetry",
            "export",
            "--product",
            PRODUCT,
            "--format",
            "csv",
        ],
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,license_id,event,client_time,received_at,data");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].contains(",app.navigation,"), "{csv}");
    // The JSON with a comma and quotes is one quoted CSV field.
    assert!(
        lines[1].ends_with(r#""{""to"":""/account-manager, \""main\""""}""#),
        "{csv}"
    );
    let later = ok(
        &d,
        &[
            "telemetry",
            "export",
            "--product",
            PRODUCT,
            "--since",
            "2999-01-01",
        ],
    );
    assert!(later.is_empty(), "{later}");

    // Expiry and device reset.
    let set = json(&d, &["license", "set-expiry", &keys[0], "2031-12-31"]);
    assert_eq!(set["expiryDate"], "2031-12-31");
    assert_eq!(
        json(&d, &["license", "show", &keys[0]])["expiryDate"],
        "2031-12-31"
    );
    let e = fails(
        &d,
        &["license", "reset-device", &keys[0], "--device", "SN-NOPE"],
    );
    assert!(e.contains("SN-NOPE"), "{e}");
    let out = ok(
        &d,
        &["license", "reset-device", &keys[0], "--device", "SN-1"],
    );
    assert!(out.contains("reset 1 device binding"), "{out}");
    assert_eq!(
        json(&d, &["license", "show", &keys[0]])["devices"],
        serde_json::json!([])
    );

    // Now another device can take the seat.
    let mut client = server.connect().await;
    let again = client
        .start_session(start_request(PRODUCT, &keys[0], "SN-2", None))
        .await
        .expect("the seat is free again");
    assert!(!again.result.is_activated_now);
    assert_eq!(again.result.expiry_date.as_deref(), Some("2031-12-31"));
    client.close().await.unwrap();

    let audit = json(&d, &["audit", "--license", &keys[0]]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for expected in [
        "device-bound",
        "license-activated",
        "expiry-set",
        "device-reset",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(server.terminate().success());
}
