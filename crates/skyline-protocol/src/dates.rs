//! License dates (PROTOCOL.md section 6, step 8): `YYYY-MM-DD` in UTC, and
//! plan durations where calendar months clamp to the month's last day
//! (2025-01-31 + 1 month = 2025-02-28).

use chrono::{Days, Months, NaiveDate};

/// The wire format of dates.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// How long a plan runs from activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanDuration {
    /// Calendar months, clamped to the month's last day.
    Months(u32),
    /// Days.
    Days(u32),
    /// Never expires: `expiryDate` is nil.
    Perpetual,
}

impl PlanDuration {
    /// The expiry date of a key activated on `activation`; `None` for a
    /// perpetual plan or a date past the calendar's end.
    pub fn expiry(self, activation: NaiveDate) -> Option<NaiveDate> {
        match self {
            PlanDuration::Months(m) => activation.checked_add_months(Months::new(m)),
            PlanDuration::Days(d) => activation.checked_add_days(Days::new(u64::from(d))),
            PlanDuration::Perpetual => None,
        }
    }
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, DATE_FORMAT).ok()
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(date: NaiveDate) -> String {
    date.format(DATE_FORMAT).to_string()
}

/// The UTC day of a UNIX time in seconds.
pub fn utc_day(unix_seconds: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(unix_seconds, 0).map(|t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_perpetual() {
        let d = parse_date("2025-02-27").unwrap();
        assert_eq!(PlanDuration::Days(2).expiry(d), parse_date("2025-03-01"));
        assert_eq!(PlanDuration::Perpetual.expiry(d), None);
        assert_eq!(utc_day(0), parse_date("1970-01-01"));
        assert_eq!(parse_date("2025-02-30"), None);
    }
}
