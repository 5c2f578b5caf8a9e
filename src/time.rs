//! Time as ward counts it: Unix seconds from the wall clock (listings' expiry, SOA
//! serials, removal requests), and RFC 3339 text, the one form `expires=`/`added=`,
//! the audit log and the pages write and the parser reads back.
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The current time as RFC 3339 text ([`format_rfc3339`]).
pub(crate) fn now_rfc3339() -> String {
    format_rfc3339(unix_now())
}

/// Why a time is not one [`parse_rfc3339`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TimeError {
    #[error("expected an RFC 3339 time such as 2026-12-01T00:00:00Z (or a date 2026-12-01)")]
    Shape,
    #[error("no such date: month {month} has {days} days")]
    NoSuchDay { month: u8, days: u8 },
    #[error("expected a month 01-12")]
    Month,
    #[error("expected a time of day 00:00:00-23:59:60")]
    TimeOfDay,
    #[error("expected an offset from UTC within -23:59 and +23:59")]
    Offset,
}

/// RFC 3339 date-time (`2026-12-01T00:00:00Z`, `…+02:00`, fractions ignored), or a
/// bare date meaning its midnight UTC. Unix seconds. Impossible dates (2027-02-30)
/// and offsets (`+99:99`) are refused, not carried into the next month or day.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64, TimeError> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Result<i64, TimeError> {
        let part = bytes.get(from..from + len).ok_or(TimeError::Shape)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(TimeError::Shape);
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')))
    };
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return Err(TimeError::Shape);
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    if !(1..=12).contains(&month) {
        return Err(TimeError::Month);
    }
    let days = days_in_month(year, month);
    if !(1..=days).contains(&day) {
        return Err(TimeError::NoSuchDay {
            month: month as u8,
            days: days as u8,
        });
    }
    let date = days_from_civil(year, month, day) * 86400;
    if bytes.len() == 10 {
        return Ok(date);
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return Err(TimeError::Shape);
    }
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimeError::TimeOfDay);
    }
    let mut i = 19;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match bytes.get(i) {
        Some(b'Z' | b'z') if i + 1 == bytes.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == bytes.len() && bytes[i + 3] == b':' => {
            let (hours, minutes) = (number(i + 1, 2)?, number(i + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return Err(TimeError::Offset);
            }
            let seconds = (hours * 60 + minutes) * 60;
            if sign == b'+' { seconds } else { -seconds }
        }
        _ => return Err(TimeError::Shape),
    };
    Ok(date + hour * 3600 + minute * 60 + second - offset)
}

/// Days of `month` (1-12) in `year`, Gregorian leap years included.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-30T01:02:03Z` for `seconds` since the epoch (UTC).
pub(crate) fn format_rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_426_680), "2026-11-23T09:38:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-12-01T00:00:00Z"), Ok(1_796_083_200));
        assert_eq!(parse_rfc3339("2026-12-01"), Ok(1_796_083_200));
        assert_eq!(
            parse_rfc3339("2026-12-01T02:00:00.5+02:00"),
            Ok(1_796_083_200)
        );
        assert_eq!(parse_rfc3339("2026-12-01T00:00:00"), Err(TimeError::Shape));
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), Err(TimeError::Month));
        assert_eq!(parse_rfc3339("tomorrow"), Err(TimeError::Shape));
    }

    /// Regression (issue 19): 2027-02-30 became 2027-03-02, and an offset of +99:99
    /// shifted the time by days.
    #[test]
    fn impossible_dates_and_offsets_are_refused() {
        assert_eq!(
            parse_rfc3339("2027-02-30"),
            Err(TimeError::NoSuchDay { month: 2, days: 28 })
        );
        assert_eq!(
            parse_rfc3339("2027-04-31T00:00:00Z"),
            Err(TimeError::NoSuchDay { month: 4, days: 30 })
        );
        assert!(parse_rfc3339("2028-02-29").is_ok(), "a leap year");
        assert!(parse_rfc3339("2100-02-29").is_err(), "not a leap year");
        assert!(parse_rfc3339("2000-02-29").is_ok(), "a leap year");
        assert_eq!(
            parse_rfc3339("2027-01-01T00:00:00+99:99"),
            Err(TimeError::Offset)
        );
        assert_eq!(
            parse_rfc3339("2027-01-01T00:00:00-24:00"),
            Err(TimeError::Offset)
        );
        assert_eq!(
            parse_rfc3339("2027-01-01T00:00:00+23:59"),
            Ok(parse_rfc3339("2027-01-01").unwrap() - 86_340)
        );
        assert_eq!(
            parse_rfc3339("2027-01-01T24:00:00Z"),
            Err(TimeError::TimeOfDay)
        );
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }
}
