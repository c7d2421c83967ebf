//! The decisions of `start-session` that need no database, shared by the
//! backends so that both apply PROTOCOL.md §6 in the same words.

use crate::store::DeviceBinding;

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
    use chrono::NaiveDate;

    use super::*;

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
