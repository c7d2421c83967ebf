//! `send-telemetry-event` (PROTOCOL.md section 6): one analytics event.

use rmpv::Value;

use super::{bounded_str, required_map};
use crate::msgpack::{self, FieldError, FieldProblem};

/// The method name.
pub const SEND_TELEMETRY_EVENT: &str = "send-telemetry-event";
/// Longest event name, in characters.
pub const MAX_EVENT_NAME: usize = 128;
/// Largest `data`, as MessagePack re-encoded by the server.
pub const MAX_DATA_BYTES: usize = 16 * 1024;
/// Longest `eventId`, in characters.
pub const MAX_EVENT_ID: usize = 64;

/// The `d` of `send-telemetry-event`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryEvent {
    /// `event`: 1..128 characters of `A-Z a-z 0-9 . _ : / -`.
    pub event: String,
    /// `data`: a map, or `None`.
    pub data: Option<Value>,
    /// `eventId` (1.1): 1..64 characters of `A-Z a-z 0-9 . _ : -`, unique
    /// per event; the server stores an event with an id it has stored
    /// before (for this license) only once.
    pub event_id: Option<String>,
}

impl TelemetryEvent {
    /// Reads and validates the payload.
    pub fn from_payload(payload: Option<&Value>) -> Result<Self, FieldError> {
        let d = required_map(payload)?;
        let event = bounded_str(&d, "event", 1, MAX_EVENT_NAME)?;
        if !event
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_/-".contains(&b))
        {
            return Err(FieldError::new(
                "event",
                FieldProblem::Invalid("only A-Z a-z 0-9 . _ : / - are allowed".into()),
            ));
        }
        let data = match d.get("data") {
            None => None,
            Some(v @ Value::Map(_)) => {
                let size = msgpack::encode(v).len();
                if size > MAX_DATA_BYTES {
                    return Err(FieldError::new(
                        "data",
                        FieldProblem::Invalid(format!(
                            "{size} bytes as MessagePack, at most {MAX_DATA_BYTES}"
                        )),
                    ));
                }
                Some(v.clone())
            }
            Some(_) => {
                return Err(FieldError::new(
                    "data",
                    FieldProblem::WrongType("a map or nil"),
                ))
            }
        };
        let event_id = match d.opt_str("eventId")? {
            None => None,
            Some(id) => {
                let ok = (1..=MAX_EVENT_ID).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b));
                if !ok {
                    return Err(FieldError::new(
                        "eventId",
                        FieldProblem::Invalid(format!(
                            "1 to {MAX_EVENT_ID} of A-Z a-z 0-9 . _ : - are allowed"
                        )),
                    ));
                }
                Some(id.to_owned())
            }
        };
        Ok(TelemetryEvent {
            event: event.to_owned(),
            data,
            event_id,
        })
    }

    /// The payload map (`eventId` only when there is one, so a 1.0 server
    /// sees what it always saw).
    pub fn to_value(&self) -> Value {
        let mut fields = vec![
            (Value::from("event"), Value::from(self.event.as_str())),
            (Value::from("data"), self.data.clone().unwrap_or(Value::Nil)),
        ];
        if let Some(id) = &self.event_id {
            fields.push((Value::from("eventId"), Value::from(id.as_str())));
        }
        Value::Map(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: &str, data: Value) -> Value {
        msgpack::map([("event", Value::from(event)), ("data", data)])
    }

    #[test]
    fn validates_name_and_data() {
        let ok = payload("app.navigation", msgpack::map([("to", Value::from("/a"))]));
        assert!(TelemetryEvent::from_payload(Some(&ok)).is_ok());
        assert!(
            TelemetryEvent::from_payload(Some(&payload("app.nav", Value::Nil)))
                .unwrap()
                .data
                .is_none()
        );
        for bad in ["", "has space", "ünïcode", &"x".repeat(129)] {
            let e = TelemetryEvent::from_payload(Some(&payload(bad, Value::Nil))).unwrap_err();
            assert_eq!(e.field, "event", "{bad:?}");
        }
        let e = TelemetryEvent::from_payload(Some(&payload("a", Value::from(1)))).unwrap_err();
        assert_eq!(e.field, "data");
        let big = msgpack::map([("blob", Value::from("x".repeat(MAX_DATA_BYTES)))]);
        let e = TelemetryEvent::from_payload(Some(&payload("a", big))).unwrap_err();
        assert_eq!(e.field, "data");
    }

    #[test]
    fn event_ids_are_optional_and_checked() {
        let with = |id: Value| msgpack::map([("event", Value::from("a")), ("eventId", id)]);
        let ok = TelemetryEvent::from_payload(Some(&with(Value::from("7f3c-01:a_b.c"))));
        assert_eq!(ok.unwrap().event_id.as_deref(), Some("7f3c-01:a_b.c"));
        let none = TelemetryEvent::from_payload(Some(&with(Value::Nil))).unwrap();
        assert_eq!(none.event_id, None);
        for bad in [
            Value::from(""),
            Value::from("has space"),
            Value::from("a/b"),
            Value::from("x".repeat(65)),
            Value::from(7),
        ] {
            let e = TelemetryEvent::from_payload(Some(&with(bad.clone()))).unwrap_err();
            assert_eq!(e.field, "eventId", "{bad:?}");
        }
        let event = TelemetryEvent {
            event: "a".into(),
            data: None,
            event_id: Some("id-1".into()),
        };
        let back = TelemetryEvent::from_payload(Some(&event.to_value())).unwrap();
        assert_eq!(back, event);
    }
}
