//! RFC 3339 timestamps to and from nanoseconds since the epoch.
//!
//! Records carry times as RFC 3339 text ([`Timestamp`]); the sensor's store and the admin
//! tool keep them as integer nanoseconds (cheap to compare and index) and accept them on
//! the command line. This parser covers what RFC 3339 allows (`T` or space, any fraction
//! up to nanoseconds, `Z` or `±HH:MM`) without pulling in a date crate.

use crate::values::Timestamp;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Parses an RFC 3339 date-time (`2024-01-01T00:00:00Z`, `2017-07-14T02:42:00.454536Z`,
/// `2024-01-01T01:00:00+01:00`) into nanoseconds since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let separators_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators_ok
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i64 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(d) = b.get(at).filter(|c| c.is_ascii_digit()) {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(d - b'0');
            }
            at += 1;
        }
        let count = at - start;
        if count == 0 {
            return None;
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest.get(2) == Some(&b':') => {
            let hours = digits(rest, 0, 2)?;
            let minutes = digits(rest, 3, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    // A leap second (:60) is folded onto the next second, as most systems do.
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn format_rfc3339(nanos: i64) -> String {
    let mut buf = [0u8; 30];
    Timestamp(nanos).format(&mut buf).to_owned()
}

fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let mut value = 0i64;
    for c in b.get(at..at + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(c - b'0');
    }
    Some(value)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants() {
        // `date -u -d 2017-07-14T02:42:00Z +%s` = 1500000120.
        assert_eq!(
            parse_rfc3339("2017-07-14T02:42:00.000000000Z"),
            Some(1_500_000_120 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_rfc3339("2017-07-14T02:42:00.454536Z"),
            Some(1_500_000_120 * NANOS_PER_SEC + 454_536_000)
        );
        // `date -u -d 2024-01-01T00:00:00Z +%s` = 1704067200.
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Some(1_704_067_200 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T01:30:00+01:30"),
            Some(1_704_067_200 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_rfc3339("2023-12-31T19:00:00-05:00"),
            Some(1_704_067_200 * NANOS_PER_SEC)
        );
        // 2000-02-29 exists (leap year divisible by 400): 951782400.
        assert_eq!(
            parse_rfc3339("2000-02-29 00:00:00z"),
            Some(951_782_400 * NANOS_PER_SEC)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024/01/01T00:00:00Z",
            "2024-01-01T00:00:00Zjunk",
            "२०२४-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        let t = 1_500_000_120 * NANOS_PER_SEC + 454_536_000;
        let text = format_rfc3339(t);
        assert_eq!(text, "2017-07-14T02:42:00.454536000Z");
        assert_eq!(parse_rfc3339(&text), Some(t));
    }
}
