//! The `paths` of the admin API's OpenAPI document, one block per area.

use serde_json::{json, Map, Value};

use super::{array_of, json_content, path_param, query_param, required_query, schema_ref, Op};

fn product_id() -> Value {
    path_param("product_id", "The product's id, e.g. `telepower`.")
}

fn key() -> Value {
    path_param(
        "key",
        "A license key, XXXXX-XXXXX-XXXXX-XXXXX-XXXXX (case, spaces and dashes are normalized).",
    )
}

fn since() -> Value {
    query_param(
        "since",
        "Only entries at or after this day (YYYY-MM-DD, UTC) or UNIX time.",
        json!({"type": "string"}),
    )
}

fn limit() -> Value {
    query_param(
        "limit",
        "At most this many rows (1 to 10000, default 1000).",
        json!({"type": "integer", "minimum": 1, "maximum": 10000}),
    )
}

fn platform() -> Value {
    query_param(
        "platform",
        "The platform; absent for the every-platform release.",
        json!({"type": "string"}),
    )
}

pub(super) fn paths() -> Value {
    let mut p = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = p.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    add("/admin/openapi.json", "get", {
        let mut op = Op::new("meta", "This document", json!({"type": "object"})).build(false);
        op["security"] = json!([]);
        if let Some(r) = op["responses"].as_object_mut() {
            r.retain(|status, _| status == "200");
        }
        op
    });
    // Products and plans.
    add(
        "/admin/products",
        "get",
        Op::new("products", "List products", array_of("Product")).build(false),
    );
    add(
        "/admin/products",
        "post",
        Op::new("products", "Create a product", schema_ref("Product"))
            .body(schema_ref("NewProduct"))
            .created()
            .build(true),
    );
    add(
        "/admin/products/{product_id}",
        "get",
        Op::new("products", "Show a product", schema_ref("Product"))
            .params(vec![product_id()])
            .build(false),
    );
    add(
        "/admin/products/{product_id}",
        "patch",
        Op::new(
            "products",
            "Change a product's minimum version or enable/disable it",
            schema_ref("Product"),
        )
        .params(vec![product_id()])
        .body(schema_ref("ProductChange"))
        .build(true),
    );
    add(
        "/admin/plans",
        "get",
        Op::new("plans", "List plans", array_of("Plan"))
            .params(vec![query_param(
                "product",
                "Only this product's plans.",
                json!({"type": "string"}),
            )])
            .build(false),
    );
    add(
        "/admin/plans",
        "post",
        Op::new("plans", "Create a plan", schema_ref("Plan"))
            .body(schema_ref("NewPlan"))
            .created()
            .build(true),
    );
    // Licenses.
    add(
        "/admin/licenses",
        "get",
        Op::new(
            "licenses",
            "List license keys (shown by last group only)",
            array_of("License"),
        )
        .params(vec![query_param(
            "product",
            "Only this product's keys.",
            json!({"type": "string"}),
        )])
        .build(false),
    );
    add(
        "/admin/licenses",
        "post",
        Op::new(
            "licenses",
            "Create license keys in bulk; the keys are returned once",
            schema_ref("CreatedLicenses"),
        )
        .body(schema_ref("NewLicenses"))
        .created()
        .build(true),
    );
    add(
        "/admin/licenses/{key}",
        "get",
        Op::new(
            "licenses",
            "Show a key's plan, dates and devices",
            schema_ref("License"),
        )
        .params(vec![key()])
        .build(false),
    );
    add(
        "/admin/licenses/{key}/revoke",
        "post",
        Op::new("licenses", "Revoke a key", schema_ref("Revoked"))
            .params(vec![key()])
            .build(true),
    );
    add(
        "/admin/licenses/{key}/reset-device",
        "post",
        Op::new(
            "licenses",
            "Clear a device binding or an integrity lock",
            schema_ref("Reset"),
        )
        .params(vec![key()])
        .raw_body(json!({"required": false, "content": json_content(schema_ref("DeviceChoice"))}))
        .build(true),
    );
    add(
        "/admin/licenses/{key}/expiry",
        "put",
        Op::new(
            "licenses",
            "Set the expiry date of an activated key",
            schema_ref("Expiry"),
        )
        .params(vec![key()])
        .body(schema_ref("Expiry"))
        .build(true),
    );
    // Toggles.
    let name = path_param("name", "The toggle's name (percent-encode any `/`).");
    add(
        "/admin/products/{product_id}/toggles",
        "get",
        Op::new(
            "toggles",
            "List a product's toggles at every level",
            array_of("Toggle"),
        )
        .params(vec![product_id()])
        .build(false),
    );
    add(
        "/admin/products/{product_id}/toggles/{name}",
        "put",
        Op::new(
            "toggles",
            "Set a toggle for the product, a plan or a key",
            schema_ref("ToggleSet"),
        )
        .params(vec![product_id(), name.clone()])
        .body(schema_ref("NewToggleValue"))
        .build(true),
    );
    add(
        "/admin/products/{product_id}/toggles/{name}",
        "delete",
        Op::new("toggles", "Remove a toggle value", schema_ref("Removed"))
            .params(vec![
                product_id(),
                name,
                query_param(
                    "plan",
                    "Remove the plan's value.",
                    json!({"type": "string"}),
                ),
                query_param(
                    "license",
                    "Remove the key's value.",
                    json!({"type": "string"}),
                ),
            ])
            .build(true),
    );
    // Releases.
    add(
        "/admin/products/{product_id}/releases",
        "get",
        Op::new(
            "releases",
            "List a product's releases, yanked ones too",
            array_of("Release"),
        )
        .params(vec![product_id()])
        .build(false),
    );
    add("/admin/products/{product_id}/releases", "post", Op::new("releases", "Publish a release: the body is the artifact; it is stored, hashed and signed", schema_ref("Release"))
        .params(vec![product_id(), required_query("version", "The release's dotted version."), platform(),
            query_param("channel", "`stable` (default) or `beta`.", json!({"type": "string", "enum": ["stable", "beta"]})),
            query_param("fileName", "The download's file name (sanitized); default PRODUCT-VERSION[-PLATFORM].", json!({"type": "string"})),
            query_param("minVersion", "Also set the product's minimum supported version.", json!({"type": "string"}))])
        .raw_body(json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}))
        .created().build(true));
    let version = path_param("version", "The version exactly as published.");
    add(
        "/admin/products/{product_id}/releases/{version}/yank",
        "post",
        Op::new(
            "releases",
            "Yank a release: no longer offered or downloadable",
            schema_ref("Release"),
        )
        .params(vec![product_id(), version.clone(), platform()])
        .build(true),
    );
    add(
        "/admin/products/{product_id}/releases/{version}/unyank",
        "post",
        Op::new(
            "releases",
            "Restore a yanked release",
            schema_ref("Release"),
        )
        .params(vec![product_id(), version, platform()])
        .build(true),
    );
    // Telemetry, audit, tokens.
    add(
        "/admin/products/{product_id}/telemetry",
        "get",
        Op::new(
            "telemetry",
            "One page of a product's telemetry, oldest first",
            schema_ref("TelemetryPage"),
        )
        .params(vec![
            product_id(),
            since(),
            query_param(
                "afterId",
                "Only events after this id (the previous page's nextAfterId).",
                json!({"type": "integer"}),
            ),
            limit(),
        ])
        .build(false),
    );
    add(
        "/admin/products/{product_id}/telemetry/export",
        "get",
        Op::new(
            "telemetry",
            "All of a product's telemetry, streamed",
            json!({}),
        )
        .params(vec![
            product_id(),
            since(),
            query_param(
                "format",
                "`jsonl` (default) or `csv`.",
                json!({"type": "string", "enum": ["jsonl", "csv"]}),
            ),
        ])
        .ok_response(json!({"description": "JSON lines or CSV", "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}}}}))
        .build(false),
    );
    add(
        "/admin/audit",
        "get",
        Op::new(
            "audit",
            "Audit entries, oldest first (the newest `limit`)",
            array_of("AuditRecord"),
        )
        .params(vec![
            query_param(
                "license",
                "Only entries about this key.",
                json!({"type": "string"}),
            ),
            since(),
            limit(),
        ])
        .build(false),
    );
    add(
        "/admin/tokens",
        "get",
        Op::new(
            "tokens",
            "List admin tokens (never their secrets)",
            array_of("AdminToken"),
        )
        .build(false),
    );
    add(
        "/admin/tokens/{token_id}/revoke",
        "post",
        Op::new("tokens", "Revoke an admin token", schema_ref("AdminToken"))
            .params(vec![path_param("token_id", "The token's public id.")])
            .build(true),
    );
    Value::Object(p)
}
