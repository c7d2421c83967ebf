//! The `components.schemas` of the admin API's OpenAPI document: the JSON
//! shapes the handlers read and write.

use serde_json::{json, Value};

use super::array_of;

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

pub(super) fn schemas() -> Value {
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
