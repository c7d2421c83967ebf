//! The typed payloads of PROTOCOL.md section 6, one file per method, shared by
//! the client (which encodes requests and decodes results) and the server
//! (which does the opposite).

pub mod feature_toggles;
pub mod start_session;
pub mod telemetry;

pub use feature_toggles::{FeatureToggles, ToggleValue, GET_FEATURE_TOGGLES};
pub use start_session::{Language, StartSessionRequest, StartSessionResult, START_SESSION};
pub use telemetry::{TelemetryEvent, SEND_TELEMETRY_EVENT};

use rmpv::Value;

use crate::msgpack::{FieldError, FieldProblem, MapView};

/// The payload map of a method that requires one.
pub(crate) fn required_map(payload: Option<&Value>) -> Result<MapView<'_>, FieldError> {
    match payload {
        None => Err(FieldError::new("d", FieldProblem::Missing)),
        Some(v) => {
            MapView::of(v).ok_or_else(|| FieldError::new("d", FieldProblem::WrongType("a map")))
        }
    }
}

/// A string field of `min..=max` characters.
pub(crate) fn bounded_str<'a>(
    map: &MapView<'a>,
    key: &str,
    min: usize,
    max: usize,
) -> Result<&'a str, FieldError> {
    let s = map.str(key)?;
    let chars = s.chars().count();
    if chars < min || chars > max {
        return Err(FieldError::new(
            key,
            FieldProblem::Invalid(format!("must be {min} to {max} characters, got {chars}")),
        ));
    }
    Ok(s)
}

/// [`bounded_str`] for text that is shown to operators (device identifiers):
/// no control characters (newlines, escape sequences, NUL), which would
/// forge log lines or drive a terminal.
pub(crate) fn printable_str<'a>(
    map: &MapView<'a>,
    key: &str,
    min: usize,
    max: usize,
) -> Result<&'a str, FieldError> {
    let s = bounded_str(map, key, min, max)?;
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(FieldError::new(
            key,
            FieldProblem::Invalid(format!(
                "control characters are not allowed (found U+{:04X})",
                c as u32
            )),
        ));
    }
    Ok(s)
}
