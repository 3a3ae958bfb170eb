//! TCP connection tracking for flows: the state a flow reports and when it has ended.
//!
//! Sequence numbers are compared with serial-number arithmetic (RFC 1982, the kernel's
//! `before()`/`after()`): `a` is after `b` when `a - b`, taken modulo 2^32, is below 2^31.
//! So a connection whose numbers wrap past 2^32 still sees its FIN acknowledged.

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

/// True when sequence number `a` comes after `b` (RFC 1982 serial arithmetic).
pub const fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// True when sequence number `a` comes before `b`.
pub const fn seq_before(a: u32, b: u32) -> bool {
    seq_after(b, a)
}

/// The TCP state a flow record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpState {
    /// Handshake not complete.
    #[default]
    New,
    /// Both sides have spoken after (or without) a handshake.
    Established,
    /// Both FINs seen and the last one acknowledged.
    Closed,
    /// A RST was seen.
    Reset,
}

impl TcpState {
    /// Value of `netsensor.flow.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TcpState::New => "new",
            TcpState::Established => "established",
            TcpState::Closed => "closed",
            TcpState::Reset => "reset",
        }
    }
}

/// Per-connection tracking state, indexed by direction (0 = initiator, 1 = responder).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpTracker {
    /// Reported state.
    pub state: TcpState,
    /// Sequence number of each direction's FIN, once seen.
    fin_seq: [u32; 2],
    /// Bit 0/1: FIN seen from direction 0/1; bit 2/3: that FIN acknowledged.
    fin_bits: u8,
    /// Directions that have sent anything.
    spoke: u8,
}

impl TcpTracker {
    /// Updates the tracker with a segment from `dir` (0 initiator, 1 responder). Returns
    /// true when the connection has just ended (both FINs acknowledged, or a RST).
    pub fn update(&mut self, dir: usize, flags: u8, seq: u32, ack: u32, payload_len: u32) -> bool {
        let dir = dir & 1;
        let other = dir ^ 1;
        self.spoke |= 1 << dir;
        if matches!(self.state, TcpState::Closed | TcpState::Reset) {
            return false;
        }
        if flags & RST != 0 {
            self.state = TcpState::Reset;
            return true;
        }
        if self.state == TcpState::New && self.spoke == 0b11 && flags & SYN == 0 {
            self.state = TcpState::Established;
        }
        if flags & FIN != 0 && self.fin_bits & (1 << dir) == 0 {
            // The FIN occupies the sequence number after the segment's data (and SYN).
            let syn = u32::from(flags & SYN != 0);
            self.fin_seq[dir] = seq.wrapping_add(payload_len).wrapping_add(syn);
            self.fin_bits |= 1 << dir;
        }
        if flags & ACK != 0
            && self.fin_bits & (1 << other) != 0
            && seq_after(ack, self.fin_seq[other])
        {
            self.fin_bits |= 1 << (other + 2);
        }
        if self.fin_bits == 0b1111 {
            self.state = TcpState::Closed;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::PSH;

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(seq_after(1, 0));
        assert!(seq_after(0, u32::MAX), "0 comes right after 2^32-1");
        assert!(seq_after(5, u32::MAX - 5));
        assert!(seq_before(u32::MAX - 5, 5));
        assert!(!seq_after(7, 7));
    }

    /// A full connection whose sequence numbers wrap during the data transfer and whose
    /// FINs sit on either side of 2^32.
    #[test]
    fn close_is_detected_across_the_wrap() {
        let isn_a = u32::MAX - 10;
        let isn_b = u32::MAX - 1;
        let mut t = TcpTracker::default();
        assert!(!t.update(0, SYN, isn_a, 0, 0));
        assert!(!t.update(1, SYN | ACK, isn_b, isn_a.wrapping_add(1), 0));
        assert!(!t.update(0, ACK, isn_a.wrapping_add(1), isn_b.wrapping_add(1), 0));
        assert_eq!(t.state, TcpState::Established);
        // 100 bytes from A: seq crosses 2^32.
        assert!(!t.update(
            0,
            ACK | PSH,
            isn_a.wrapping_add(1),
            isn_b.wrapping_add(1),
            100
        ));
        let a_next = isn_a.wrapping_add(101); // wrapped: 90
        assert!(a_next < isn_a);
        // FIN from A at the wrapped number, FIN+ACK from B at 2^32-1+1 = 0.
        assert!(!t.update(0, FIN | ACK, a_next, isn_b.wrapping_add(1), 0));
        assert!(!t.update(
            1,
            FIN | ACK,
            isn_b.wrapping_add(1),
            a_next.wrapping_add(1),
            0
        ));
        assert_ne!(t.state, TcpState::Closed, "B's FIN is not yet acknowledged");
        assert!(t.update(0, ACK, a_next.wrapping_add(1), isn_b.wrapping_add(2), 0));
        assert_eq!(t.state, TcpState::Closed);
    }

    #[test]
    fn an_ack_short_of_the_fin_does_not_close() {
        let mut t = TcpTracker::default();
        t.update(0, SYN, 100, 0, 0);
        t.update(1, SYN | ACK, 500, 101, 0);
        t.update(0, FIN | ACK, 101, 501, 0);
        t.update(1, FIN | ACK, 501, 101, 0); // does not ack A's FIN (needs 102)
        assert_ne!(t.state, TcpState::Closed);
        assert!(
            !t.update(1, ACK, 502, 102, 0),
            "B's FIN is still unacknowledged"
        );
        assert!(t.update(0, ACK, 102, 502, 0));
        assert_eq!(t.state, TcpState::Closed);
    }

    #[test]
    fn reset_ends_at_once() {
        let mut t = TcpTracker::default();
        t.update(0, SYN, 1, 0, 0);
        assert!(t.update(1, RST | ACK, 0, 2, 0));
        assert_eq!(t.state, TcpState::Reset);
        assert!(!t.update(1, RST, 0, 2, 0), "ended once");
    }
}
