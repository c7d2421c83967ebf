//! Telemetry `data` arrives as MessagePack and is stored and exported as JSON.

use serde_json::{Map, Number, Value as Json};
use skyline_protocol::Value;

/// The JSON form of a MessagePack value: maps with non-string keys use the
/// key's JSON text as the name, `bin` and extension payloads become lowercase
/// hex strings, non-finite floats become `null`.
pub fn json_from_msgpack(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Json::from(n),
            (None, Some(n)) => Json::from(n),
            (None, None) => Json::Null,
        },
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => match s.as_str() {
            Some(text) => Json::String(text.to_owned()),
            None => Json::String(hex::encode(s.as_bytes())),
        },
        Value::Binary(bytes) => Json::String(hex::encode(bytes)),
        Value::Array(items) => Json::Array(items.iter().map(json_from_msgpack).collect()),
        Value::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let name = match k.as_str() {
                    Some(s) => s.to_owned(),
                    None => json_from_msgpack(k).to_string(),
                };
                map.insert(name, json_from_msgpack(v));
            }
            Json::Object(map)
        }
        Value::Ext(_, bytes) => Json::String(hex::encode(bytes)),
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyline_protocol::msgpack;

    #[test]
    fn converts_nested_values() {
        let data = msgpack::map([
            ("to", Value::from("/account-manager")),
            ("n", Value::from(-3)),
            ("big", Value::from(u64::MAX)),
            ("f", Value::F64(0.5)),
            ("nan", Value::F64(f64::NAN)),
            ("bin", Value::Binary(vec![0xab, 0x01])),
            ("list", Value::Array(vec![Value::Nil, Value::Boolean(true)])),
        ]);
        assert_eq!(
            json_from_msgpack(&data),
            serde_json::json!({
                "to": "/account-manager", "n": -3, "big": u64::MAX, "f": 0.5,
                "nan": null, "bin": "ab01", "list": [null, true]
            })
        );
        let odd_key = Value::Map(vec![(Value::from(7), Value::from("x"))]);
        assert_eq!(json_from_msgpack(&odd_key), serde_json::json!({"7": "x"}));
    }
}
