//! Application-layer summaries: DNS, TLS ClientHello and HTTP/1 request/response lines.
//!
//! Each parser is bounded (no loop runs longer than its input allows) and writes what it
//! finds into [`AppScratch`], whose buffers are cleared per packet but keep their capacity,
//! so parsing allocates nothing once warmed up. The parsed summary then lends its strings
//! to the record types of `netsensor-schema`.

pub mod dns;
pub mod http;
pub mod tls;

use std::net::IpAddr;

use netsensor_schema::DnsAnswerSpan;

/// Reusable buffers shared by the app-layer parsers of one worker.
#[derive(Debug, Default)]
pub struct AppScratch {
    /// Text the parsed summaries point into (names, URLs, fingerprints).
    pub text: String,
    /// DNS answers as spans into `text`.
    pub answers: Vec<DnsAnswerSpan>,
    /// Addresses from DNS A/AAAA answers.
    pub resolved: Vec<IpAddr>,
}

impl AppScratch {
    /// Empties every buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.text.clear();
        self.answers.clear();
        self.resolved.clear();
    }
}

/// Why an app-layer parser gave up; the record keeps everything decoded before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The message ends before a field it declares.
    #[error("message truncated")]
    Truncated,
    /// A field holds a value the protocol does not allow.
    #[error("malformed message")]
    Malformed,
}

/// A string a summary hands out: either a constant or a byte range of [`AppScratch::text`].
///
/// Summaries hold these instead of borrowing the scratch text, so the text can keep growing
/// while a message is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextRef {
    /// A constant such as a mnemonic.
    Static(&'static str),
    /// `text[start..end]`.
    Span(u32, u32),
}

impl TextRef {
    /// The string this refers to; an out-of-range span (never produced) reads as "".
    fn get(self, text: &str) -> &str {
        match self {
            TextRef::Static(s) => s,
            TextRef::Span(start, end) => text.get(start as usize..end as usize).unwrap_or(""),
        }
    }

    /// The span from `start` to the current end of `text`.
    fn since(text: &str, start: usize) -> TextRef {
        TextRef::Span(to_u32(start), to_u32(text.len()))
    }
}

/// Offsets into the scratch text; a text over 4 GiB (impossible per packet) saturates.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Appends `bytes` as text, replacing invalid UTF-8 with U+FFFD and ASCII control
/// characters with `?`, and stopping before the appended part would exceed `max` bytes.
/// Returns true when the input was cut.
fn push_lossy(text: &mut String, bytes: &[u8], max: usize) -> bool {
    let start = text.len();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let c = if c.is_control() { '?' } else { c };
            if text.len() - start + c.len_utf8() > max {
                return true;
            }
            text.push(c);
        }
        if !chunk.invalid().is_empty() {
            if text.len() - start + char::REPLACEMENT_CHARACTER.len_utf8() > max {
                return true;
            }
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    false
}

/// Big-endian u16 at `at`.
fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

/// Big-endian u32 at `at`.
fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Appends `bytes` as lower-case hex (fingerprints, RFC 3597 data).
fn push_hex(text: &mut String, bytes: &[u8]) {
    let digit = |n: u8| char::from_digit(u32::from(n & 0x0f), 16).unwrap_or('0');
    for &b in bytes {
        text.push(digit(b >> 4));
        text.push(digit(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_lossy_cuts_at_char_boundaries_and_masks_controls() {
        let mut text = String::new();
        assert!(!push_lossy(&mut text, b"a\x01\xffb", 100));
        assert_eq!(text, "a?\u{fffd}b");
        text.clear();
        // "é" is two bytes: a limit of 2 keeps "a" and drops the half-fitting "é".
        assert!(push_lossy(&mut text, "aé".as_bytes(), 2));
        assert_eq!(text, "a");
    }

    #[test]
    fn text_refs_read_back() {
        let mut text = String::from("xx");
        text.push_str("abc");
        let r = TextRef::since(&text, 2);
        assert_eq!(r.get(&text), "abc");
        assert_eq!(TextRef::Span(9, 12).get(&text), "");
        assert_eq!(TextRef::Static("A").get(&text), "A");
        assert_eq!(be16(&[1, 2], 0), Some(0x0102));
        assert_eq!(be16(&[1, 2], 1), None);
        assert_eq!(be32(&[1, 2, 3, 4], 0), Some(0x0102_0304));
        assert_eq!(be16(&[1, 2], usize::MAX), None);
    }
}
