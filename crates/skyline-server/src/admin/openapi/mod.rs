//! The OpenAPI 3.0 document of the admin API, served at
//! `/admin/openapi.json` without a token. The operations are written here
//! ([`paths`]); the schemas are generated from the very types the handlers
//! read and write ([`crate::views::schemas`]). Tests check that it parses as
//! OpenAPI 3, that every `$ref` resolves, that it documents exactly the
//! routes the router serves ([`super::route_list`]), and CI runs a standard
//! validator on it (`skyline openapi`).

mod paths;

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
        "paths": paths::paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": crate::views::schemas(),
        },
    })
}
