//! Points in time and durations as operators type them, and as archive paths spell them.
//!
//! Times are nanoseconds since the Unix epoch (the resolution of `date_nanos`), so a range
//! boundary never loses precision against the documents it selects. A TIME argument is
//! RFC 3339 (`2024-05-01T00:00:00Z`), `now`, `now-7d`, or a bare duration (`7d`) meaning
//! that long ago; durations take `ms`, `s`, `m`, `h`, `d` and `w` units.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use netsensor_schema::time::{format_rfc3339, parse_rfc3339};

/// The current time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a TIME argument relative to `now` (nanoseconds).
pub fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rest) = t.strip_prefix("now-") {
        let ago = parse_duration(rest)?;
        return Ok(now.saturating_sub(duration_ns(ago)));
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains(['-', ':']) {
        let ago = parse_duration(t)?;
        return Ok(now.saturating_sub(duration_ns(ago)));
    }
    parse_rfc3339(t).ok_or_else(|| {
        format!(
            "invalid time {text:?}: expected RFC 3339 (2024-05-01T00:00:00Z), now, now-7d or 7d"
        )
    })
}

/// Parses a duration such as `90s`, `15m`, `36h`, `7d`, `2w`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected a number and a unit, e.g. 7d"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: unit must be one of ms, s, m, h, d, w"
            ))
        }
    };
    value
        .checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

/// A duration in nanoseconds, saturating.
pub fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A compact, sortable, file-name-safe form: `20240501T120000Z`, with the fraction
/// (trailing zeros trimmed) only when there is one: `20240501T120000.5Z`.
pub fn format_compact(ns: i64) -> String {
    let full = format_rfc3339(ns);
    let (date_time, fraction) = full.split_at(19);
    let mut out: String = date_time
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let digits = fraction.trim_start_matches('.').trim_end_matches('Z');
    let digits = digits.trim_end_matches('0');
    if !digits.is_empty() {
        out.push('.');
        out.push_str(digits);
    }
    out.push('Z');
    out
}

/// A duration for people: `3d4h`, `12m`, `45s`.
pub fn format_age(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, (secs / 3600) % 24, (secs / 60) % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NANOS_PER_SEC: i64 = 1_000_000_000;
    const DAY: i64 = 86_400 * NANOS_PER_SEC;

    #[test]
    fn times_parse_absolute_and_relative() {
        // `date -u -d 2024-01-01T00:00:00Z +%s` = 1704067200.
        let t = 1_704_067_200 * NANOS_PER_SEC;
        assert_eq!(parse_time("2024-01-01T00:00:00Z", 0), Ok(t));
        assert_eq!(parse_time("2024-01-01T01:00:00+01:00", 0), Ok(t));
        assert_eq!(parse_time("now", t), Ok(t));
        assert_eq!(parse_time("now-7d", t), Ok(t - 7 * DAY));
        assert_eq!(parse_time("7d", t), Ok(t - 7 * DAY));
        assert_eq!(parse_time("36h", t), Ok(t - 36 * 3600 * NANOS_PER_SEC));
        for bad in ["", "yesterday", "now+1d", "7x", "2024-01-01", "now-"] {
            assert!(parse_time(bad, t).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "10", "1.5h", "-1d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compact_form_is_file_name_safe_and_exact() {
        let t = 1_704_067_200 * NANOS_PER_SEC;
        assert_eq!(format_compact(t), "20240101T000000Z");
        assert_eq!(format_compact(t + 500_000_000), "20240101T000000.5Z");
        assert_eq!(format_compact(t + 1), "20240101T000000.000000001Z");
        assert_eq!(parse_rfc3339(&format_rfc3339(t + 1)), Some(t + 1));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
        assert_eq!(format_age(Duration::from_secs(125)), "2m");
        assert_eq!(format_age(Duration::from_secs(7)), "7s");
    }
}
