//! The admin API's OpenAPI document: served without a token, valid OpenAPI
//! 3.0 (it deserializes into the `openapiv3` model, and every `$ref`
//! resolves), and it documents exactly the routes the router serves, with
//! every path parameter declared.

mod http_support;

use std::collections::BTreeSet;

use http_support::{get, Harness};
use openapiv3::{OpenAPI, Parameter, ReferenceOr};
use serde_json::Value;
use skyline_server::admin::{openapi, route_list};

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_and_matches_the_router() {
    let raw = openapi::document();
    let doc: OpenAPI = serde_json::from_value(raw.clone()).expect("a valid OpenAPI 3 document");
    assert!(doc.openapi.starts_with("3.0."), "{}", doc.openapi);
    assert!(doc
        .components
        .as_ref()
        .unwrap()
        .security_schemes
        .contains_key("bearerAuth"));

    let mut targets = Vec::new();
    refs(raw, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(raw.pointer(pointer).is_some(), "dangling $ref {target}");
    }

    let mut documented = BTreeSet::new();
    for (path, item) in doc.paths.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            panic!("{path} is a reference")
        };
        let placeholders: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        for (method, op) in item.iter() {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(op.summary.is_some(), "{method} {path} has no summary");
            assert!(!op.responses.responses.is_empty(), "{method} {path}");
            let declared: BTreeSet<String> = op
                .parameters
                .iter()
                .filter_map(|p| match p {
                    ReferenceOr::Item(Parameter::Path { parameter_data, .. }) => {
                        Some(parameter_data.name.clone())
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(declared, placeholders, "{method} {path}: path parameters");
        }
    }
    let served: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    assert_eq!(documented, served, "documented routes == routed routes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_without_a_token() {
    let server = Harness::start().await;
    let reply = get(&format!("{}/admin/openapi.json", server.admin), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(&reply.json(), openapi::document());
    server.stop().await;
}
