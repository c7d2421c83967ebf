//! `get-feature-toggles` (PROTOCOL.md section 6): per-product remote configuration.

use std::fmt;

use rmpv::Value;

use crate::msgpack::{FieldError, FieldProblem};

/// The method name.
pub const GET_FEATURE_TOGGLES: &str = "get-feature-toggles";

/// One toggle's value.
#[derive(Debug, Clone, PartialEq)]
pub enum ToggleValue {
    /// An integer, e.g. a daily limit.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean switch.
    Bool(bool),
    /// A string.
    String(String),
}

impl ToggleValue {
    /// Reads an operator's text: an integer, else a float, else a boolean
    /// (`true`/`false`), else the text as a string.
    pub fn parse_text(text: &str) -> ToggleValue {
        if let Ok(i) = text.parse::<i64>() {
            ToggleValue::Int(i)
        } else if let Some(f) = text.parse::<f64>().ok().filter(|f| f.is_finite()) {
            ToggleValue::Float(f)
        } else if text == "true" || text == "false" {
            ToggleValue::Bool(text == "true")
        } else {
            ToggleValue::String(text.to_owned())
        }
    }

    /// The MessagePack value.
    pub fn to_value(&self) -> Value {
        match self {
            ToggleValue::Int(i) => Value::from(*i),
            ToggleValue::Float(f) => Value::F64(*f),
            ToggleValue::Bool(b) => Value::Boolean(*b),
            ToggleValue::String(s) => Value::from(s.as_str()),
        }
    }

    /// Reads a MessagePack value; other types are refused.
    pub fn from_value(value: &Value) -> Option<ToggleValue> {
        match value {
            Value::Integer(i) => i.as_i64().map(ToggleValue::Int),
            Value::F32(f) => Some(ToggleValue::Float(f64::from(*f))),
            Value::F64(f) => Some(ToggleValue::Float(*f)),
            Value::Boolean(b) => Some(ToggleValue::Bool(*b)),
            Value::String(s) => s.as_str().map(|s| ToggleValue::String(s.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for ToggleValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToggleValue::Int(i) => write!(f, "{i}"),
            ToggleValue::Float(x) => write!(f, "{x:?}"),
            ToggleValue::Bool(b) => write!(f, "{b}"),
            ToggleValue::String(s) => f.write_str(s),
        }
    }
}

/// The `R` of `get-feature-toggles`: toggle names and values, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureToggles(pub Vec<(String, ToggleValue)>);

impl FeatureToggles {
    /// The result map.
    pub fn to_value(&self) -> Value {
        Value::Map(
            self.0
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), v.to_value()))
                .collect(),
        )
    }

    /// Reads a result map.
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let Value::Map(entries) = value else {
            return Err(FieldError::new("R", FieldProblem::WrongType("a map")));
        };
        entries
            .iter()
            .map(|(k, v)| {
                let name = k
                    .as_str()
                    .ok_or_else(|| FieldError::new("R", FieldProblem::WrongType("string keys")))?;
                let value = ToggleValue::from_value(v).ok_or_else(|| {
                    FieldError::new(name, FieldProblem::WrongType("int, float, bool or string"))
                })?;
                Ok((name.to_owned(), value))
            })
            .collect::<Result<_, _>>()
            .map(FeatureToggles)
    }

    /// The value of one toggle.
    pub fn get(&self, name: &str) -> Option<&ToggleValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_text_is_typed() {
        assert_eq!(ToggleValue::parse_text("500"), ToggleValue::Int(500));
        assert_eq!(ToggleValue::parse_text("0.5"), ToggleValue::Float(0.5));
        assert_eq!(ToggleValue::parse_text("true"), ToggleValue::Bool(true));
        assert_eq!(
            ToggleValue::parse_text("NaN"),
            ToggleValue::String("NaN".into())
        );
        assert_eq!(
            ToggleValue::parse_text("on"),
            ToggleValue::String("on".into())
        );
    }

    #[test]
    fn round_trips() {
        let t = FeatureToggles(vec![
            ("a".into(), ToggleValue::Int(-3)),
            ("b".into(), ToggleValue::Float(1.5)),
            ("c".into(), ToggleValue::Bool(false)),
            ("d".into(), ToggleValue::String("x".into())),
        ]);
        assert_eq!(FeatureToggles::from_value(&t.to_value()), Ok(t));
        assert!(FeatureToggles::from_value(&Value::from(1)).is_err());
    }
}
