//! Small value types that serialize to strings without allocating.

use serde::{Serialize, Serializer};

/// A point in time in nanoseconds since the Unix epoch, serialized as an RFC 3339 UTC
/// string with nine fractional digits (`2024-05-01T12:00:00.123456789Z`), which
/// Elasticsearch's `date_nanos` type stores without loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds since the epoch.
    pub const fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(secs * 1_000_000_000 + nanos as i64)
    }

    /// Seconds since the epoch (floor).
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Nanoseconds within the second.
    pub const fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// Writes the RFC 3339 form into `buf` and returns it as a string slice.
    pub fn format(self, buf: &mut [u8; 30]) -> &str {
        let secs = self.secs();
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
        let year = year.clamp(0, 9999) as u32;
        let mut put = |at: usize, value: u32, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, month, 2);
        put(8, day, 2);
        put(11, h as u32, 2);
        put(14, m as u32, 2);
        put(17, s as u32, 2);
        put(20, self.subsec_nanos(), 9);
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b'T';
        buf[13] = b':';
        buf[16] = b':';
        buf[19] = b'.';
        buf[29] = b'Z';
        // Every byte written above is ASCII.
        std::str::from_utf8(&buf[..]).unwrap_or("1970-01-01T00:00:00.000000000Z")
    }
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        serializer.serialize_str(self.format(&mut buf))
    }
}

/// A deterministic record id: 128 bits, serialized as 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventId(pub u128);

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        serializer.serialize_str(hex_u128(self.0, &mut buf))
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn hex_u128(value: u128, buf: &mut [u8; 32]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in buf.iter_mut().enumerate() {
        let shift = (31 - i) * 4;
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
    std::str::from_utf8(&buf[..]).unwrap_or("")
}

/// A Community ID v1 string (`1:` + base64 of a SHA-1 digest, 30 ASCII bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId(pub [u8; 30]);

impl CommunityId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl Serialize for CommunityId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A MAC address, serialized in the ECS form `AA-BB-CC-DD-EE-FF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut buf = [b'-'; 17];
        for (i, octet) in self.0.iter().enumerate() {
            buf[i * 3] = DIGITS[(octet >> 4) as usize];
            buf[i * 3 + 1] = DIGITS[(octet & 0xf) as usize];
        }
        serializer.serialize_str(std::str::from_utf8(&buf).unwrap_or(""))
    }
}

/// A number stored in a `keyword` field (ECS keeps `network.iana_number` and VLAN ids as
/// keywords), serialized as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeywordNumber(pub u32);

impl Serialize for KeywordNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 10];
        let mut at = buf.len();
        let mut v = self.0;
        loop {
            at -= 1;
            buf[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        serializer.serialize_str(std::str::from_utf8(&buf[at..]).unwrap_or("0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339_nanos() {
        let mut buf = [0u8; 30];
        assert_eq!(
            Timestamp(0).format(&mut buf),
            "1970-01-01T00:00:00.000000000Z"
        );
        let t = Timestamp::from_parts(1_709_251_199, 123_456_789); // leap year, Feb 29
        assert_eq!(t.format(&mut buf), "2024-02-29T23:59:59.123456789Z");
        let t = Timestamp::from_parts(951_782_400, 1); // 2000-02-29
        assert_eq!(t.format(&mut buf), "2000-02-29T00:00:00.000000001Z");
    }

    #[test]
    fn small_values_serialize_as_strings() {
        let json = serde_json::to_string(&(
            Mac([0, 0x1b, 0x21, 0xab, 0xcd, 0xef]),
            KeywordNumber(6),
            KeywordNumber(4094),
            EventId(0xabc),
        ))
        .unwrap();
        assert_eq!(
            json,
            r#"["00-1B-21-AB-CD-EF","6","4094","00000000000000000000000000000abc"]"#
        );
    }
}
