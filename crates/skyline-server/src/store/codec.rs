//! Text forms of domain values, shared by the SQL backends: plan durations,
//! dates and toggle values are stored as text so every backend reads them the
//! same way.

use chrono::NaiveDate;
use skyline_protocol::dates::{self, PlanDuration};
use skyline_protocol::methods::ToggleValue;

use super::StoreError;

/// `months:N`, `days:N` or `perpetual`.
pub(crate) fn duration_to_text(duration: PlanDuration) -> String {
    match duration {
        PlanDuration::Months(n) => format!("months:{n}"),
        PlanDuration::Days(n) => format!("days:{n}"),
        PlanDuration::Perpetual => "perpetual".into(),
    }
}

/// Reads [`duration_to_text`]'s output.
pub(crate) fn duration_from_text(text: &str) -> Result<PlanDuration, StoreError> {
    let bad = || StoreError::Backend(format!("stored plan duration `{text}` is not readable"));
    match text.split_once(':') {
        None if text == "perpetual" => Ok(PlanDuration::Perpetual),
        Some(("months", n)) => n.parse().map(PlanDuration::Months).map_err(|_| bad()),
        Some(("days", n)) => n.parse().map(PlanDuration::Days).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Reads a stored `YYYY-MM-DD`.
pub(crate) fn date_from_text(text: &str) -> Result<NaiveDate, StoreError> {
    dates::parse_date(text)
        .ok_or_else(|| StoreError::Backend(format!("stored date `{text}` is not readable")))
}

/// The value's type tag and text: (`int` | `float` | `bool` | `string`, text).
pub(crate) fn toggle_to_text(value: &ToggleValue) -> (&'static str, String) {
    let kind = match value {
        ToggleValue::Int(_) => "int",
        // `Display` writes floats with `{:?}`, which reads back exactly.
        ToggleValue::Float(_) => "float",
        ToggleValue::Bool(_) => "bool",
        ToggleValue::String(_) => "string",
    };
    (kind, value.to_string())
}

/// Reads [`toggle_to_text`]'s output.
pub(crate) fn toggle_from_text(kind: &str, text: &str) -> Result<ToggleValue, StoreError> {
    let bad = || {
        StoreError::Backend(format!(
            "stored toggle value of type `{kind}` is not readable"
        ))
    };
    match kind {
        "int" => text.parse().map(ToggleValue::Int).map_err(|_| bad()),
        "float" => text.parse().map(ToggleValue::Float).map_err(|_| bad()),
        "bool" => text.parse().map(ToggleValue::Bool).map_err(|_| bad()),
        "string" => Ok(ToggleValue::String(text.to_owned())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for d in [
            PlanDuration::Months(1),
            PlanDuration::Days(30),
            PlanDuration::Perpetual,
        ] {
            assert_eq!(duration_from_text(&duration_to_text(d)), Ok(d));
        }
        assert!(duration_from_text("weeks:2").is_err());
    }

    #[test]
    fn toggles_round_trip() {
        for v in [
            ToggleValue::Int(-5),
            ToggleValue::Float(0.1),
            ToggleValue::Float(1e300),
            ToggleValue::Bool(true),
            ToggleValue::String("500".into()),
        ] {
            let (kind, text) = toggle_to_text(&v);
            assert_eq!(toggle_from_text(kind, &text), Ok(v));
        }
    }
}
