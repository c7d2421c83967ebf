//! Reading dumped values back, and the refusals of an import.

use chrono::NaiveDate;
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::methods::ToggleValue;

use crate::store::rows;
use crate::store::StoreError;

/// Reads a dumped 32-byte digest or hash (lowercase hex).
pub(crate) fn dumped_hash(what: &str, text: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(text)
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| bad_dump(&format!("{what} is not 64 hex digits")))
}

/// Reads a dumped release signature (lowercase hex).
pub(crate) fn dumped_signature(text: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(text)
        .ok()
        .filter(|d| d.len() == 64)
        .ok_or_else(|| bad_dump("a release signature is not 128 hex digits"))
}

/// The refusal of artifacts by a store that keeps them in a directory.
pub(crate) fn artifacts_elsewhere() -> StoreError {
    StoreError::Dump(
        "this database keeps no release artifacts (they are files in the releases \
         directory): `skyline import` writes a dump's artifacts there"
            .into(),
    )
}

/// The dump cannot be imported.
pub(crate) fn bad_dump(why: &str) -> StoreError {
    StoreError::Dump(why.to_owned())
}

/// Reads a dumped `YYYY-MM-DD`.
pub(crate) fn dumped_date(text: &str) -> Result<NaiveDate, StoreError> {
    rows::date_from_text(text).map_err(|_| bad_dump(&format!("`{text}` is not a date")))
}

/// Reads a dumped plan duration.
pub(crate) fn dumped_duration(text: &str) -> Result<PlanDuration, StoreError> {
    rows::duration_from_text(text)
        .map_err(|_| bad_dump(&format!("`{text}` is not a plan duration")))
}

/// Reads a dumped toggle value.
pub(crate) fn dumped_toggle(kind: &str, text: &str) -> Result<ToggleValue, StoreError> {
    rows::toggle_from_text(kind, text)
        .map_err(|_| bad_dump(&format!("`{text}` is not a toggle value of type `{kind}`")))
}

/// Reads a dumped key digest.
pub(crate) fn dumped_digest(text: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(text)
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| bad_dump("a license key digest is not 64 hex digits"))
}

/// The refusal of an import into a database that already has data.
pub(crate) fn not_empty() -> StoreError {
    StoreError::Dump(
        "the database is not empty: import only into a new database (it has products, \
         telemetry or audit entries already)"
            .into(),
    )
}

/// An export whose reader went away.
pub(crate) fn cancelled() -> StoreError {
    crate::store::error::stopped("the export was cancelled: its reader stopped")
}
