//! TCP options: the values the record keeps and the p0f-style layout string used by the
//! passive OS guess (`M1460,S,T,N,W7`).

use arrayvec::ArrayString;

/// Longest layout kept; 40 option bytes produce at most 40 one-letter entries.
const LAYOUT_CAP: usize = 96;

/// Parsed TCP options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// MSS.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// Timestamps present.
    pub timestamps: bool,
    /// Option kinds in order: `M<mss>`, `S` (SACK permitted), `K` (SACK blocks),
    /// `T` (timestamps), `N` (NOP), `W<shift>`, `E` (end of list), `?<kind>` otherwise.
    pub layout: ArrayString<LAYOUT_CAP>,
    /// The options ran past the header or had an invalid length.
    pub malformed: bool,
}

impl TcpOptions {
    /// Walks the option bytes of a TCP header; never reads past them.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut out = TcpOptions::default();
        let mut at = 0usize;
        while let Some(&kind) = bytes.get(at) {
            match kind {
                0 => {
                    out.push("E");
                    break;
                }
                1 => {
                    out.push("N");
                    at += 1;
                    continue;
                }
                _ => {}
            }
            let len = match bytes.get(at + 1) {
                Some(&len) if len >= 2 && at + usize::from(len) <= bytes.len() => usize::from(len),
                _ => {
                    out.malformed = true;
                    break;
                }
            };
            let body = &bytes[at + 2..at + len];
            match (kind, body.len()) {
                (2, 2) => {
                    let mss = u16::from_be_bytes([body[0], body[1]]);
                    out.mss = Some(mss);
                    out.push_kind('M', Some(u32::from(mss)));
                }
                (3, 1) => {
                    out.window_scale = Some(body[0]);
                    out.push_kind('W', Some(u32::from(body[0])));
                }
                (4, 0) => {
                    out.sack_permitted = true;
                    out.push("S");
                }
                (5, _) => out.push("K"),
                (8, 8) => {
                    out.timestamps = true;
                    out.push("T");
                }
                _ => out.push_kind('?', Some(u32::from(kind))),
            }
            at += len;
        }
        out
    }

    fn push(&mut self, item: &str) {
        if !self.layout.is_empty() {
            let _ = self.layout.try_push(',');
        }
        let _ = self.layout.try_push_str(item);
    }

    fn push_kind(&mut self, letter: char, value: Option<u32>) {
        let mut digits = [0u8; 10];
        let mut text = ArrayString::<11>::new();
        text.push(letter);
        if let Some(mut v) = value {
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            for &d in &digits[at..] {
                text.push(char::from(d));
            }
        }
        self.push(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_layout() {
        // MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
        let bytes = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let options = TcpOptions::parse(&bytes);
        assert_eq!(options.layout.as_str(), "M1460,S,T,N,W7");
        assert_eq!(options.mss, Some(1460));
        assert_eq!(options.window_scale, Some(7));
        assert!(options.sack_permitted && options.timestamps && !options.malformed);
    }

    #[test]
    fn bad_lengths_stop_without_panicking() {
        for bytes in [&[2u8][..], &[2, 0], &[2, 1], &[2, 40, 0], &[8, 10, 1, 2]] {
            assert!(TcpOptions::parse(bytes).malformed, "{bytes:?}");
        }
        assert_eq!(TcpOptions::parse(&[1, 1, 0, 2, 4]).layout.as_str(), "N,N,E");
    }
}
