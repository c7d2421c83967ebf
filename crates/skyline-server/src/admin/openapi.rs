//! The OpenAPI 3.0 document of the admin API, served at
//! `/admin/openapi.json` without a token. A test checks that it parses as
//! OpenAPI 3, that every `$ref` resolves, and that it documents exactly the
//! routes the router serves ([`super::route_list`]).

use std::sync::OnceLock;

use axum::Json;
use serde_json::{json, Map, Value};

/// Serves [`document`].
pub(crate) async fn serve() -> Json<Value> {
    Json(document().clone())
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string"}})
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": schema})
}

fn required_query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": true, "description": description,
           "schema": {"type": "string"}})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// One operation: summary, tag, parameters, optional JSON body, the success
/// status and schema; the error responses every authenticated route has are
/// added, plus 403 for writes.
struct Op {
    summary: &'static str,
    tag: &'static str,
    params: Vec<Value>,
    body: Option<Value>,
    status: &'static str,
    ok: Value,
}

impl Op {
    fn new(tag: &'static str, summary: &'static str, ok: Value) -> Op {
        Op {
            summary,
            tag,
            params: Vec::new(),
            body: None,
            status: "200",
            ok: json!({"description": "OK", "content": json_content(ok)}),
        }
    }

    fn params(mut self, params: Vec<Value>) -> Op {
        self.params = params;
        self
    }

    fn body(mut self, schema: Value) -> Op {
        self.body = Some(json!({"required": true, "content": json_content(schema)}));
        self
    }

    fn raw_body(mut self, body: Value) -> Op {
        self.body = Some(body);
        self
    }

    fn created(mut self) -> Op {
        self.status = "201";
        self.ok["description"] = json!("Created");
        self
    }

    fn ok_response(mut self, response: Value) -> Op {
        self.ok = response;
        self
    }

    fn build(self, write: bool) -> Value {
        let error =
            |d: &str| json!({"description": d, "content": json_content(schema_ref("Error"))});
        let mut responses = Map::new();
        responses.insert(self.status.into(), self.ok);
        responses.insert("400".into(), error("Malformed request (BAD_REQUEST)"));
        responses.insert(
            "401".into(),
            error("Missing, unknown or revoked token (UNAUTHORIZED, TOKEN_REVOKED)"),
        );
        if write {
            responses.insert("403".into(), error("Read-only token (READ_ONLY_TOKEN)"));
            responses.insert("409".into(), error("Already exists (CONFLICT)"));
        }
        responses.insert("404".into(), error("Not found (NOT_FOUND)"));
        responses.insert(
            "429".into(),
            error("Over the token's rate limit (RATE_LIMITED)"),
        );
        responses.insert("500".into(), error("Server fault (INTERNAL_ERROR)"));
        let mut op = json!({"summary": self.summary, "tags": [self.tag],
                            "parameters": self.params, "responses": responses});
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op
    }
}

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

fn paths() -> Value {
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
        Op::new(
            "licenses",
            "Revoke a key",
            json!({"type": "object", "properties": {"revoked": {"type": "boolean"}}}),
        )
        .params(vec![key()])
        .build(true),
    );
    add(
        "/admin/licenses/{key}/reset-device",
        "post",
        Op::new(
            "licenses",
            "Clear a device binding or an integrity lock",
            json!({"type": "object", "properties": {"reset": {"type": "integer"}}}),
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
        Op::new(
            "toggles",
            "Remove a toggle value",
            json!({"type": "object", "properties": {"removed": {"type": "boolean"}}}),
        )
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

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn schemas() -> Value {
    let s = json!({"type": "string"});
    let ns = json!({"type": "string", "nullable": true});
    let i = json!({"type": "integer", "format": "int64"});
    let ni = json!({"type": "integer", "format": "int64", "nullable": true});
    let b = json!({"type": "boolean"});
    let scalar = json!({"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "string"}]});
    json!({
        "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({
            "code": {"type": "string", "description": "Stable, e.g. NOT_FOUND, UNAUTHORIZED, READ_ONLY_TOKEN"},
            "message": s}))})),
        "Product": object(&["id", "minVersion", "enabled"], json!({"id": s, "minVersion": s, "enabled": b})),
        "NewProduct": object(&["id", "minVersion"], json!({"id": s, "minVersion": s})),
        "ProductChange": object(&[], json!({"minVersion": s, "enabled": b})),
        "Plan": object(&["id", "product", "perpetual", "devices"], json!({"id": s, "product": s,
            "months": ni, "days": ni, "perpetual": b, "devices": i})),
        "NewPlan": object(&["id", "product"], json!({"id": s, "product": s, "months": i, "days": i,
            "perpetual": b, "devices": {"type": "integer", "minimum": 1, "default": 1}})),
        "Device": object(&["serialNumber", "csProductUUID", "boundOn", "locked"], json!({
            "serialNumber": s, "csProductUUID": s, "boundOn": {"type": "string", "format": "date"},
            "lastLogin": ni, "previousLastLogin": ni, "locked": b})),
        "License": object(&["id", "product", "plan", "key", "status", "devices"], json!({
            "id": i, "product": s, "plan": s, "key": {"type": "string", "description": "…-HXRB8: the last group only"},
            "status": {"type": "string", "enum": ["active", "revoked"]},
            "activationDate": {"type": "string", "format": "date", "nullable": true},
            "expiryDate": {"type": "string", "format": "date", "nullable": true},
            "devices": array_of("Device")})),
        "NewLicenses": object(&["plan"], json!({"plan": s, "count": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}})),
        "CreatedLicenses": object(&["plan", "keys"], json!({"plan": s, "keys": {"type": "array", "items": s}})),
        "DeviceChoice": object(&[], json!({"device": {"type": "string", "description": "A serial number; absent: every device"}})),
        "Expiry": object(&["expiryDate"], json!({"expiryDate": {"type": "string", "format": "date"}})),
        "Toggle": object(&["scope", "name", "value"], json!({
            "scope": {"type": "string", "enum": ["product", "plan", "license"]},
            "plan": s, "licenseId": i, "key": s, "name": s, "value": scalar})),
        "NewToggleValue": object(&["value"], json!({"value": scalar, "plan": s,
            "license": {"type": "string", "description": "A license key"}})),
        "ToggleSet": object(&["name", "value"], json!({"name": s, "value": scalar})),
        "Release": object(&["id", "product", "version", "channel", "fileName", "size", "sha256", "signature", "yanked", "publishedAt"], json!({
            "id": i, "product": s, "version": s, "platform": ns,
            "channel": {"type": "string", "enum": ["stable", "beta"]},
            "fileName": s, "size": i,
            "sha256": {"type": "string", "description": "Lowercase hex"},
            "signature": {"type": "string", "format": "byte", "description": "Ed25519 by the identity key over the 32-byte digest, base64"},
            "yanked": b, "publishedAt": i})),
        "TelemetryEvent": object(&["id", "licenseId", "event", "clientTime", "receivedAt"], json!({
            "id": i, "licenseId": i, "event": s, "clientTime": i, "receivedAt": i,
            "data": {"type": "object", "nullable": true, "additionalProperties": true}})),
        "TelemetryPage": object(&["events"], json!({"events": array_of("TelemetryEvent"), "nextAfterId": ni})),
        "AuditRecord": object(&["id", "at", "actor", "action", "detail"], json!({
            "id": i, "at": i, "actor": s, "action": s, "product": ns, "licenseId": ni, "key": ns, "detail": s})),
        "AdminToken": object(&["id", "name", "readOnly", "createdAt"], json!({
            "id": s, "name": s, "readOnly": b, "createdAt": i, "lastUsedAt": ni, "revokedAt": ni})),
    })
}

fn build() -> Value {
    let tags: Vec<Value> = [
        "meta",
        "products",
        "plans",
        "licenses",
        "toggles",
        "releases",
        "telemetry",
        "audit",
        "tokens",
    ]
    .iter()
    .map(|t| json!({"name": t}))
    .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Skyline admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything the `skyline` operator CLI does, as JSON. Authenticate with \
                `Authorization: Bearer TOKEN`, a token from `skyline admin-token create --name N \
                [--read-only]`. Read-only tokens may only GET. Errors are \
                `{\"error\": {\"code\", \"message\"}}` with a stable code. Every request is \
                audit-logged."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": tags,
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}
