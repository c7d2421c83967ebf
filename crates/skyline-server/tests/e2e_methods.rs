//! PROTOCOL.md section 6 after `start-session`, against the real server:
//! `get-feature-toggles` layering (product < plan < license) with every value
//! type, and `send-telemetry-event` stored before it is acknowledged.

mod common;

use common::{start_request, TestServer, MONTHLY, PERPETUAL};
use skyline_client::TelemetryEvent;
use skyline_protocol::methods::{FeatureToggles, ToggleValue};
use skyline_protocol::{msgpack, Value};
use skyline_server::domain::toggles::RemoveToggle;
use skyline_server::domain::ToggleScope;

const INVITE: &str = "engine.limits.inviteToChannel.dailyLimit";
const SEND: &str = "engine.limits.sendMessage.dailyLimit";
const RATIO: &str = "engine.limits.backoffRatio";
const DESIGN: &str = "ui.newDesign";
const THEME: &str = "ui.theme";

fn sorted(toggles: FeatureToggles) -> Vec<(String, ToggleValue)> {
    let mut entries = toggles.0;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

fn entries(list: &[(&str, ToggleValue)]) -> Vec<(String, ToggleValue)> {
    let mut entries: Vec<(String, ToggleValue)> = list
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

#[tokio::test]
async fn feature_toggles_layer_product_then_plan_then_license() {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let sibling = server.create_key(MONTHLY).await;
    let other_plan = server.create_key(PERPETUAL).await;

    // Before any toggle: an empty map.
    let t = server.clock_now();
    let (mut client, _) = server.session_at(t, start_request(&key, "SN-1")).await;
    assert_eq!(client.get_feature_toggles().await.unwrap().0, Vec::new());

    // Product defaults, of every type.
    server
        .set_toggle(ToggleScope::Product, INVITE, ToggleValue::Int(100))
        .await;
    server
        .set_toggle(ToggleScope::Product, SEND, ToggleValue::Int(150))
        .await;
    server
        .set_toggle(ToggleScope::Product, RATIO, ToggleValue::Float(1.5))
        .await;
    server
        .set_toggle(ToggleScope::Product, DESIGN, ToggleValue::Bool(false))
        .await;
    server
        .set_toggle(
            ToggleScope::Product,
            THEME,
            ToggleValue::String("light".into()),
        )
        .await;
    // The monthly plan overrides two of them.
    server
        .set_toggle(
            ToggleScope::Plan(MONTHLY.into()),
            INVITE,
            ToggleValue::Int(500),
        )
        .await;
    server
        .set_toggle(
            ToggleScope::Plan(MONTHLY.into()),
            RATIO,
            ToggleValue::Float(0.25),
        )
        .await;
    // One key overrides the plan and the product.
    server
        .set_toggle(
            ToggleScope::License(server.digest(&key)),
            RATIO,
            ToggleValue::Float(2.75),
        )
        .await;
    server
        .set_toggle(
            ToggleScope::License(server.digest(&key)),
            DESIGN,
            ToggleValue::Bool(true),
        )
        .await;
    server
        .set_toggle(
            ToggleScope::License(server.digest(&key)),
            THEME,
            ToggleValue::String("dark".into()),
        )
        .await;

    // The open session sees the new values (they are read per request).
    let toggles = sorted(client.get_feature_toggles().await.unwrap());
    assert_eq!(
        toggles,
        entries(&[
            (INVITE, ToggleValue::Int(500)),
            (SEND, ToggleValue::Int(150)),
            (RATIO, ToggleValue::Float(2.75)),
            (DESIGN, ToggleValue::Bool(true)),
            (THEME, ToggleValue::String("dark".into())),
        ])
    );

    // Another key of the same plan: product and plan only.
    let (mut client, _) = server.session_at(t, start_request(&sibling, "SN-2")).await;
    assert_eq!(
        sorted(client.get_feature_toggles().await.unwrap()),
        entries(&[
            (INVITE, ToggleValue::Int(500)),
            (SEND, ToggleValue::Int(150)),
            (RATIO, ToggleValue::Float(0.25)),
            (DESIGN, ToggleValue::Bool(false)),
            (THEME, ToggleValue::String("light".into())),
        ])
    );

    // A key of another plan: the product's defaults.
    let (mut client, _) = server
        .session_at(t, start_request(&other_plan, "SN-3"))
        .await;
    let toggles = client.get_feature_toggles().await.unwrap();
    assert_eq!(
        sorted(toggles.clone()),
        entries(&[
            (INVITE, ToggleValue::Int(100)),
            (SEND, ToggleValue::Int(150)),
            (RATIO, ToggleValue::Float(1.5)),
            (DESIGN, ToggleValue::Bool(false)),
            (THEME, ToggleValue::String("light".into())),
        ])
    );
    // On the wire: integers, floats, booleans and strings as such.
    assert_eq!(toggles.get(SEND).unwrap().to_value(), Value::from(150));
    assert!(matches!(
        toggles.get(RATIO).unwrap().to_value(),
        Value::F64(_)
    ));

    // An empty map as `d` is accepted too.
    let raw = client
        .call(
            skyline_protocol::methods::GET_FEATURE_TOGGLES,
            Value::Map(Vec::new()),
        )
        .await
        .unwrap();
    assert_eq!(FeatureToggles::from_value(&raw).unwrap(), toggles);

    // Removing the license override falls back to the plan's value.
    let remove = RemoveToggle {
        product_id: common::PRODUCT.into(),
        scope: ToggleScope::License(server.digest(&key)),
        name: RATIO.into(),
    };
    server
        .store
        .execute(remove, &common::operator(&server.clock))
        .await
        .unwrap();
    let (mut client, _) = server
        .session_at(t + 1, common::start_request_after(&key, "SN-1", t))
        .await;
    let toggles = client.get_feature_toggles().await.unwrap();
    assert_eq!(toggles.get(RATIO), Some(&ToggleValue::Float(0.25)));
}

#[tokio::test]
async fn telemetry_is_stored_when_acknowledged() {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let license_id = server.license(&key).await.id;
    let t = server.clock_now() - 30;
    let (mut client, _) = server.session_at(t, start_request(&key, "SN-1")).await;

    server.clock.advance(5);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.navigation".into(),
            data: Some(msgpack::map([("to", Value::from("/account-manager"))])),
            event_id: None,
        })
        .await
        .expect("OK");
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.started".into(),
            data: None,
            event_id: None,
        })
        .await
        .expect("OK");
    let nested = msgpack::map([
        ("count", Value::from(3)),
        ("ratio", Value::F64(0.5)),
        ("ok", Value::Boolean(true)),
        (
            "tags",
            Value::Array(vec![Value::from("a"), Value::from("b")]),
        ),
        ("blob", Value::Binary(vec![0xde, 0xad])),
    ]);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "A-z_0.9:/x-y".into(),
            data: Some(nested),
            event_id: None,
        })
        .await
        .expect("every allowed character");

    let rows = server.telemetry().await;
    assert_eq!(rows.len(), 3);
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(rows[0].event, "app.navigation");
    assert_eq!(
        rows[0].data,
        Some(serde_json::json!({"to": "/account-manager"}))
    );
    assert_eq!(rows[0].license_id, license_id);
    assert_eq!(rows[0].client_time, t, "the request's t");
    assert_eq!(rows[0].received_at, t + 35, "the server's clock");
    assert_eq!(rows[1].event, "app.started");
    assert_eq!(rows[1].data, None);
    assert_eq!(
        rows[2].data,
        Some(serde_json::json!({
            "count": 3, "ratio": 0.5, "ok": true, "tags": ["a", "b"], "blob": "dead"
        }))
    );
}

#[tokio::test]
async fn oversized_or_malformed_telemetry_is_refused_and_not_stored() {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    let too_big = msgpack::map([("blob", Value::from("x".repeat(17 * 1024)))]);
    for (event, data) in [
        ("big".to_owned(), Some(too_big)),
        ("x".repeat(129), None),
        (String::new(), None),
        ("has space".to_owned(), None),
        ("кириллица".to_owned(), None),
    ] {
        let error = client
            .send_telemetry_event(TelemetryEvent {
                event,
                data,
                event_id: None,
            })
            .await
            .expect_err("refused");
        assert_eq!(
            error.rpc().map(|e| e.status()),
            Some(skyline_protocol::Status::BadRequest),
            "{error:?}"
        );
    }
    assert!(server.telemetry().await.is_empty());
    client
        .send_telemetry_event(TelemetryEvent {
            event: "x".repeat(128),
            data: None,
            event_id: None,
        })
        .await
        .expect("128 characters is the limit");
    assert_eq!(server.telemetry().await.len(), 1);
}

/// PROTOCOL.md 1.1: an event sent again with the same `eventId` (a lost
/// answer, an offline queue flushed after a crash) gets `OK` and is stored
/// once; a malformed id is `BAD_REQUEST` naming the field.
#[tokio::test]
async fn an_event_id_stores_a_resent_event_once() {
    let server = TestServer::with_catalog(common::test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let (mut client, _) = server
        .session_at(server.clock_now(), start_request(&key, "SN-1"))
        .await;
    let event = |id: &str| TelemetryEvent {
        event: "app.navigation".into(),
        data: Some(msgpack::map([("to", Value::from("/account-manager"))])),
        event_id: Some(id.into()),
    };
    for _ in 0..3 {
        client
            .send_telemetry_event(event("0f6c2b9e-4d1a-4c8e-9a51-000000000001"))
            .await
            .expect("OK every time");
    }
    // Pipelined repeats, in flight together.
    let repeats: Vec<_> = (0..8)
        .map(|_| event("0f6c2b9e-4d1a-4c8e-9a51-000000000002"))
        .collect();
    let answers = client
        .pipeline(
            repeats
                .iter()
                .map(|e| {
                    (
                        skyline_protocol::methods::SEND_TELEMETRY_EVENT.to_owned(),
                        e.to_value(),
                    )
                })
                .collect(),
        )
        .await
        .unwrap();
    assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
    // A new session (a reconnect) remembers them too.
    drop(client);
    let (mut again, _) = server
        .session_at(
            server.clock_now() + 1,
            common::start_request_after(&key, "SN-1", server.clock_now()),
        )
        .await;
    again
        .send_telemetry_event(event("0f6c2b9e-4d1a-4c8e-9a51-000000000001"))
        .await
        .unwrap();
    let rows = server.telemetry().await;
    let ids: Vec<_> = rows.iter().map(|r| r.event_id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("0f6c2b9e-4d1a-4c8e-9a51-000000000001"),
            Some("0f6c2b9e-4d1a-4c8e-9a51-000000000002")
        ]
    );

    let bad = again
        .send_telemetry_event(event("not valid"))
        .await
        .expect_err("refused");
    let rpc = bad.rpc().expect("a status");
    assert_eq!(rpc.status(), skyline_protocol::Status::BadRequest);
    assert!(rpc.message().contains("eventId"), "{rpc:?}");
    assert_eq!(server.telemetry().await.len(), 2);
}
