//! Localized error messages (PROTOCOL.md section 5: `e` in the language of
//! `start-session`, Russian or English) and dates written in words.

use chrono::{Datelike, NaiveDate};
use skyline_protocol::methods::Language;
use skyline_protocol::IntegrityCode;

/// What went wrong, with the details a message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// `BAD_REQUEST`, with what is wrong (names the field).
    BadRequest(&'a str),
    /// `SESSION_REQUIRED`.
    SessionRequired,
    /// `INVALID_SESSION`.
    InvalidSession,
    /// `UNKNOWN_METHOD`, naming it.
    UnknownMethod(&'a str),
    /// `UNKNOWN_PRODUCT`.
    UnknownProduct,
    /// `OUTDATED_VERSION`, naming the minimum supported version.
    OutdatedVersion(&'a str),
    /// `INVALID_LICENSE_KEY`.
    InvalidLicenseKey,
    /// `LICENSE_REVOKED`.
    LicenseRevoked,
    /// `LICENSE_EXPIRED`, with the expiry date.
    LicenseExpired(NaiveDate),
    /// `KEY_BOUND_TO_ANOTHER_DEVICE`, with the date the key was first bound.
    KeyBoundToAnotherDevice(NaiveDate),
    /// `INTEGRITY_BREACH`, naming its code.
    IntegrityBreach(IntegrityCode),
    /// `RATE_LIMITED`.
    RateLimited,
    /// `INTERNAL_ERROR`.
    InternalError,
}

const RU_MONTHS: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date in words: "25 октября 2024 года" or "October 25, 2024".
pub fn date_in_words(date: NaiveDate, language: Language) -> String {
    let month = date.month0() as usize;
    match language {
        Language::Russian => format!("{} {} {} года", date.day(), RU_MONTHS[month], date.year()),
        Language::English => format!("{} {}, {}", EN_MONTHS[month], date.day(), date.year()),
    }
}

/// The message for `what` in `language`.
pub fn message(what: &Message<'_>, language: Language) -> String {
    let ru = language == Language::Russian;
    let date = |d: &NaiveDate| date_in_words(*d, language);
    match what {
        Message::BadRequest(detail) if ru => format!("Некорректный запрос: {detail}"),
        Message::BadRequest(detail) => format!("Bad request: {detail}"),
        Message::SessionRequired if ru => "Сначала необходимо начать сессию.".into(),
        Message::SessionRequired => "A session must be started first.".into(),
        Message::InvalidSession if ru => {
            "Сессия недействительна. Пожалуйста, перезапустите приложение.".into()
        }
        Message::InvalidSession => "The session is not valid. Please restart the application.".into(),
        Message::UnknownMethod(m) if ru => format!("Неизвестный метод: {m}"),
        Message::UnknownMethod(m) => format!("Unknown method: {m}"),
        Message::UnknownProduct if ru => "Неизвестный продукт.".into(),
        Message::UnknownProduct => "Unknown product.".into(),
        Message::OutdatedVersion(min) if ru => format!(
            "Эта версия приложения устарела. Пожалуйста, обновите приложение до версии {min} или новее."
        ),
        Message::OutdatedVersion(min) => format!(
            "This version of the application is outdated. Please update to version {min} or later."
        ),
        Message::InvalidLicenseKey if ru => "Неверный лицензионный ключ.".into(),
        Message::InvalidLicenseKey => "Invalid license key.".into(),
        Message::LicenseRevoked if ru => {
            "Лицензионный ключ отозван. Пожалуйста, обратитесь в техническую поддержку.".into()
        }
        Message::LicenseRevoked => {
            "This license key has been revoked. Please contact technical support.".into()
        }
        Message::LicenseExpired(d) if ru => format!("Срок действия лицензии истёк {}.", date(d)),
        Message::LicenseExpired(d) => format!("The license expired on {}.", date(d)),
        Message::KeyBoundToAnotherDevice(d) if ru => format!(
            "Лицензионный ключ привязан к другому устройству с {}.",
            date(d)
        ),
        Message::KeyBoundToAnotherDevice(d) => format!(
            "This license key has been bound to another device since {}.",
            date(d)
        ),
        Message::IntegrityBreach(code) if ru => format!(
            "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в техническую поддержку с кодом: {code}"
        ),
        Message::IntegrityBreach(code) => format!(
            "Software integrity violated. Please contact technical support with code: {code}"
        ),
        Message::RateLimited if ru => "Слишком много попыток. Пожалуйста, повторите позже.".into(),
        Message::RateLimited => "Too many attempts. Please try again later.".into(),
        Message::InternalError if ru => {
            "Внутренняя ошибка сервера. Пожалуйста, повторите позже.".into()
        }
        Message::InternalError => "Internal server error. Please try again later.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_words() {
        let d = NaiveDate::from_ymd_opt(2024, 10, 25).unwrap();
        assert_eq!(date_in_words(d, Language::Russian), "25 октября 2024 года");
        assert_eq!(date_in_words(d, Language::English), "October 25, 2024");
    }

    #[test]
    fn integrity_breach_names_its_code() {
        assert_eq!(
            message(&Message::IntegrityBreach(IntegrityCode::LastLogin), Language::Russian),
            "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в техническую поддержку с кодом: LL"
        );
        let en = message(
            &Message::IntegrityBreach(IntegrityCode::Sequence),
            Language::English,
        );
        assert_eq!(IntegrityCode::find_in(&en), Some(IntegrityCode::Sequence));
    }

    #[test]
    fn bound_key_names_the_first_binding_date() {
        let d = NaiveDate::from_ymd_opt(2024, 10, 25).unwrap();
        assert!(
            message(&Message::KeyBoundToAnotherDevice(d), Language::English)
                .contains("October 25, 2024")
        );
        assert!(
            message(&Message::KeyBoundToAnotherDevice(d), Language::Russian)
                .contains("25 октября 2024 года")
        );
    }
}
