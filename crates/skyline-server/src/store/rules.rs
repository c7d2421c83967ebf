//! The decisions of `start-session` that need no database, shared by the
//! backends so that both apply PROTOCOL.md §6 in the same words.

use chrono::NaiveDate;
use skyline_protocol::version::Version;

use crate::store::{DeviceBinding, LicenseStatus, Refusal, StoreError};

/// Step 2: the client's version must be at least the product's minimum. A
/// client version that does not parse cannot be shown to be recent enough,
/// so it counts as outdated: the client is told to update rather than let in.
pub(crate) fn outdated_version(
    product_id: &str,
    min_version: &str,
    client_version: &str,
) -> Result<Option<Refusal>, StoreError> {
    let minimum = Version::parse(min_version).map_err(|_| {
        StoreError::Backend(format!(
            "the stored minimum version of product `{product_id}` is not a version"
        ))
    })?;
    if Version::parse(client_version).is_ok_and(|v| v >= minimum) {
        Ok(None)
    } else {
        Ok(Some(Refusal::OutdatedVersion {
            minimum: min_version.to_owned(),
        }))
    }
}

/// Steps 4 and 5: not revoked, and not expired (the expiry day itself is
/// still valid) if activated.
pub(crate) fn unusable_license(
    status: LicenseStatus,
    activation: Option<NaiveDate>,
    expiry: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<Refusal> {
    if status == LicenseStatus::Revoked {
        return Some(Refusal::LicenseRevoked);
    }
    match (activation, expiry) {
        (Some(_), Some(expiry)) if today > expiry => Some(Refusal::LicenseExpired { expiry }),
        _ => None,
    }
}

/// Step 7: the reported last login must be the recorded one or the one
/// before it. nil and 0 both mean "none", which is what the one before the
/// first login is.
pub(crate) fn last_login_matches(device: &DeviceBinding, reported: Option<i64>) -> bool {
    let none_if_zero = |t: Option<i64>| t.filter(|t| *t != 0);
    let reported = none_if_zero(reported);
    reported == none_if_zero(device.last_login)
        || reported == none_if_zero(device.previous_last_login)
}

/// A UNIX time for the audit log, or "none".
pub(crate) fn show_time(time: Option<i64>) -> String {
    time.map_or("none".into(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, d).unwrap()
    }

    #[test]
    fn version_rule() {
        assert_eq!(outdated_version("p", "7.0.10", "7.0.10"), Ok(None));
        assert_eq!(outdated_version("p", "7.0.9", "7.0.10"), Ok(None));
        let outdated = Some(Refusal::OutdatedVersion {
            minimum: "7.0.10".into(),
        });
        assert_eq!(
            outdated_version("p", "7.0.10", "7.0.9"),
            Ok(outdated.clone())
        );
        assert_eq!(outdated_version("p", "7.0.10", "seven"), Ok(outdated));
        assert!(outdated_version("p", "nonsense", "7.0.0").is_err());
    }

    #[test]
    fn revoked_and_expiry_rules() {
        let active = LicenseStatus::Active;
        assert_eq!(unusable_license(active, None, None, day(9)), None);
        assert_eq!(
            unusable_license(active, Some(day(1)), Some(day(5)), day(5)),
            None
        );
        assert_eq!(
            unusable_license(active, Some(day(1)), Some(day(5)), day(6)),
            Some(Refusal::LicenseExpired { expiry: day(5) })
        );
        assert_eq!(unusable_license(active, Some(day(1)), None, day(31)), None);
        assert_eq!(
            unusable_license(LicenseStatus::Revoked, None, None, day(1)),
            Some(Refusal::LicenseRevoked)
        );
    }

    fn device(last: Option<i64>, previous: Option<i64>) -> DeviceBinding {
        DeviceBinding {
            serial_number: "SN".into(),
            cs_product_uuid: "U".into(),
            bound_on: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            last_login: last,
            previous_last_login: previous,
            locked: false,
        }
    }

    #[test]
    fn last_login_rule() {
        let one = device(Some(100), None);
        assert!(last_login_matches(&one, Some(100)));
        assert!(last_login_matches(&one, None));
        assert!(last_login_matches(&one, Some(0)));
        assert!(!last_login_matches(&one, Some(99)));

        let two = device(Some(200), Some(100));
        assert!(last_login_matches(&two, Some(200)));
        assert!(last_login_matches(&two, Some(100)));
        assert!(!last_login_matches(&two, None));
        assert!(!last_login_matches(&two, Some(0)));
        assert!(!last_login_matches(&two, Some(150)));
    }
}
