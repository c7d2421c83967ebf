//! `start-session` (PROTOCOL.md section 6): activate or validate a license key.

use rmpv::Value;

use super::{bounded_str, printable_str, required_map};
use crate::msgpack::{self, FieldError, FieldProblem, MapView};

/// The method name.
pub const START_SESSION: &str = "start-session";

/// The language of error messages, from the `language` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// `english` / `en`, and every unknown language.
    #[default]
    English,
    /// `russian` / `ru`.
    Russian,
}

impl Language {
    /// Reads a `language` value; anything unknown falls back to English.
    pub fn parse(text: &str) -> Language {
        match text.trim().to_ascii_lowercase().as_str() {
            "russian" | "ru" => Language::Russian,
            _ => Language::English,
        }
    }

    /// The long wire spelling, `english` or `russian`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::English => "english",
            Language::Russian => "russian",
        }
    }
}

/// The `d` of a `start-session` request. `Debug` leaves out the license key.
#[derive(Clone, PartialEq, Eq)]
pub struct StartSessionRequest {
    /// `productId`, e.g. `telepower`.
    pub product_id: String,
    /// `productVersion`, a dotted version such as `7.0.3`.
    pub product_version: String,
    /// `language` as sent; `None` when absent.
    pub language: Option<String>,
    /// `lastLoginReportedByClient`: the `t` of this device's last OK
    /// `start-session`; `None` or 0 on a device's first start.
    pub last_login_reported_by_client: Option<i64>,
    /// `deviceSerialNumber`, 1..128 characters, no control characters.
    pub device_serial_number: String,
    /// `csProductUUID`, 1..128 characters, no control characters.
    pub cs_product_uuid: String,
    /// `licenseKey` as typed by the user; normalized by the server. Any
    /// length is read (the message size bounds it): one that is not a key
    /// is `INVALID_LICENSE_KEY`, not a malformed request.
    pub license_key: String,
}

impl std::fmt::Debug for StartSessionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartSessionRequest")
            .field("product_id", &self.product_id)
            .field("product_version", &self.product_version)
            .field("language", &self.language)
            .field(
                "last_login_reported_by_client",
                &self.last_login_reported_by_client,
            )
            .field("device_serial_number", &self.device_serial_number)
            .field("cs_product_uuid", &self.cs_product_uuid)
            .field("license_key", &"<redacted>")
            .finish()
    }
}

impl StartSessionRequest {
    /// Reads the payload; a missing or mistyped field is named in the error.
    pub fn from_payload(payload: Option<&Value>) -> Result<Self, FieldError> {
        let d = required_map(payload)?;
        Ok(StartSessionRequest {
            product_id: bounded_str(&d, "productId", 1, 128)?.to_owned(),
            product_version: bounded_str(&d, "productVersion", 1, 64)?.to_owned(),
            language: d.opt_str("language")?.map(str::to_owned),
            last_login_reported_by_client: d.opt_i64("lastLoginReportedByClient")?,
            device_serial_number: printable_str(&d, "deviceSerialNumber", 1, 128)?.to_owned(),
            cs_product_uuid: printable_str(&d, "csProductUUID", 1, 128)?.to_owned(),
            license_key: d.str("licenseKey")?.to_owned(),
        })
    }

    /// The language errors are written in.
    pub fn language(&self) -> Language {
        self.language
            .as_deref()
            .map(Language::parse)
            .unwrap_or_default()
    }

    /// The payload map, keys in the order PROTOCOL.md lists them.
    pub fn to_value(&self) -> Value {
        msgpack::map([
            ("productId", Value::from(self.product_id.as_str())),
            ("productVersion", Value::from(self.product_version.as_str())),
            (
                "language",
                self.language
                    .as_deref()
                    .map(Value::from)
                    .unwrap_or(Value::Nil),
            ),
            (
                "lastLoginReportedByClient",
                self.last_login_reported_by_client
                    .map(Value::from)
                    .unwrap_or(Value::Nil),
            ),
            (
                "deviceSerialNumber",
                Value::from(self.device_serial_number.as_str()),
            ),
            ("csProductUUID", Value::from(self.cs_product_uuid.as_str())),
            ("licenseKey", Value::from(self.license_key.as_str())),
        ])
    }
}

/// The `R` of an OK `start-session`. `Debug` leaves out the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct StartSessionResult {
    /// Whether this request activated the key.
    pub is_activated_now: bool,
    /// `YYYY-MM-DD`, the day of first activation (UTC).
    pub activation_date: String,
    /// The plan's identifier.
    pub license_plan: String,
    /// `YYYY-MM-DD`, or `None` for a perpetual plan.
    pub expiry_date: Option<String>,
    /// The session token, `xxxxxxxx-xxxxxxxx`.
    pub session_token: String,
}

impl std::fmt::Debug for StartSessionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartSessionResult")
            .field("is_activated_now", &self.is_activated_now)
            .field("activation_date", &self.activation_date)
            .field("license_plan", &self.license_plan)
            .field("expiry_date", &self.expiry_date)
            .field("session_token", &"<redacted>")
            .finish()
    }
}

impl StartSessionResult {
    /// The result map, keys in the order of the test vectors.
    pub fn to_value(&self) -> Value {
        msgpack::map([
            ("isActivatedNow", Value::Boolean(self.is_activated_now)),
            ("activationDate", Value::from(self.activation_date.as_str())),
            ("licensePlan", Value::from(self.license_plan.as_str())),
            (
                "expiryDate",
                self.expiry_date
                    .as_deref()
                    .map(Value::from)
                    .unwrap_or(Value::Nil),
            ),
            ("sessionToken", Value::from(self.session_token.as_str())),
        ])
    }

    /// Reads a result map.
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let r = MapView::of(value)
            .ok_or_else(|| FieldError::new("R", FieldProblem::WrongType("a map")))?;
        Ok(StartSessionResult {
            is_activated_now: r.bool("isActivatedNow")?,
            activation_date: r.str("activationDate")?.to_owned(),
            license_plan: r.str("licensePlan")?.to_owned(),
            expiry_date: r.opt_str("expiryDate")?.map(str::to_owned),
            session_token: r.str("sessionToken")?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StartSessionRequest {
        StartSessionRequest {
            product_id: "telepower".into(),
            product_version: "7.0.3".into(),
            language: Some("ru".into()),
            last_login_reported_by_client: None,
            device_serial_number: "SN".into(),
            cs_product_uuid: "UUID".into(),
            license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
        }
    }

    #[test]
    fn round_trips_and_names_bad_fields() {
        let req = sample();
        assert_eq!(
            StartSessionRequest::from_payload(Some(&req.to_value())),
            Ok(req.clone())
        );
        assert_eq!(req.language(), Language::Russian);

        let mut bad = req.to_value();
        if let Value::Map(entries) = &mut bad {
            entries[2].1 = Value::from(7);
        }
        assert_eq!(
            StartSessionRequest::from_payload(Some(&bad))
                .unwrap_err()
                .field,
            "language"
        );

        let mut long = req.clone();
        long.device_serial_number = "x".repeat(129);
        let err = StartSessionRequest::from_payload(Some(&long.to_value())).unwrap_err();
        assert_eq!(err.field, "deviceSerialNumber");
        assert_eq!(
            StartSessionRequest::from_payload(None).unwrap_err().field,
            "d"
        );
    }

    #[test]
    fn unknown_language_falls_back_to_english() {
        assert_eq!(Language::parse("klingon"), Language::English);
        assert_eq!(Language::parse("RUSSIAN"), Language::Russian);
        assert_eq!(Language::parse("en"), Language::English);
    }
}
