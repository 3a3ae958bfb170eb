//! One TCP connection's payload segments in order: per direction, segments are ordered
//! and de-duplicated by sequence number (serial arithmetic, so wraparound is safe); across
//! directions a segment takes its place when it becomes deliverable in order, which is
//! capture order unless it arrived early.
//!
//! A gap is data the capture never saw: a hole still open when the connection ends (or
//! when too many segments wait behind it), a FIN beyond the data seen, or an
//! acknowledgement from the other side of bytes the capture never carried.

use crate::records::flow::tcp::{seq_after, TcpTracker};

/// Segments that may wait behind a hole per direction before the hole counts as a gap.
/// Bounds the memory of a connection that lost a segment.
pub const MAX_PENDING: usize = 64;

/// A payload packet kept for the sample.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Capture time, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// The anonymized raw-IP packet.
    pub packet: Vec<u8>,
    /// The capture cut the payload (snap length).
    pub truncated: bool,
}

/// A segment that arrived ahead of a hole.
#[derive(Debug)]
struct Pending {
    seq: u32,
    len: u32,
    /// The packet, while the sample still needs packets.
    kept: Option<Kept>,
}

/// Per-direction sequence state.
#[derive(Debug, Default)]
struct Direction {
    /// The next sequence number expected (after SYN and in-order data).
    next: Option<u32>,
    /// Segments ahead of `next`.
    pending: Vec<Pending>,
    /// Highest acknowledgement the other side sent.
    max_acked: Option<u32>,
    /// Sequence number of this direction's FIN.
    fin: Option<u32>,
    /// `next` has moved past the FIN (it occupies one sequence number).
    fin_passed: bool,
}

impl Direction {
    /// Moves `next` past the FIN once the data before it is complete.
    fn pass_fin(&mut self) {
        if !self.fin_passed && self.fin.is_some() && self.fin == self.next {
            self.next = self.next.map(|next| next.wrapping_add(1));
            self.fin_passed = true;
        }
    }
}

/// Counters of one connection, added to the export's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnCounts {
    /// Payload segments dropped as retransmissions (seen before).
    pub retransmissions: u64,
    /// Payload segments that arrived ahead of a hole and were reordered.
    pub out_of_order: u64,
}

/// What one segment brought, as far as the connection table needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// 0 from the initiator, 1 from the responder.
    pub dir: usize,
    /// TCP flags.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Payload length on the wire.
    pub len: u32,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Connection {
    /// First packet's capture time.
    pub first_ns: i64,
    /// Last packet's capture time.
    pub last_ns: i64,
    /// When FIN/RST ended it (the entry lingers for late packets).
    pub ended_ns: Option<i64>,
    /// The initiator's ISN, when its SYN was seen (tells a new connection on the same
    /// ports from a retransmitted SYN).
    pub syn_isn: Option<u32>,
    /// The responder's port.
    pub server_port: u16,
    /// True when the server port is known from a SYN, not guessed.
    pub server_known: bool,
    /// Payload packets (retransmissions excluded) delivered so far.
    pub delivered: u64,
    /// The first N delivered packets.
    pub sample: Vec<Kept>,
    /// A gap was seen.
    pub gap: bool,
    /// Counters.
    pub counts: ConnCounts,
    want: usize,
    dirs: [Direction; 2],
    tracker: TcpTracker,
}

impl Connection {
    /// A connection whose first packet came at `ts`; `want` packets make a sample.
    pub fn new(ts: i64, server_port: u16, server_known: bool, want: usize) -> Self {
        Connection {
            first_ns: ts,
            last_ns: ts,
            ended_ns: None,
            syn_isn: None,
            server_port,
            server_known,
            delivered: 0,
            sample: Vec::new(),
            gap: false,
            counts: ConnCounts::default(),
            want,
            dirs: [Direction::default(), Direction::default()],
            tracker: TcpTracker::default(),
        }
    }

    /// Feeds one segment. `kept` builds the sample packet; it is called only when the
    /// sample may still need it.
    pub fn push(&mut self, ts: i64, seg: SegmentInfo, kept: impl FnOnce() -> Kept) {
        use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
        self.last_ns = self.last_ns.max(ts);
        let dir = seg.dir & 1;
        if self
            .tracker
            .update(dir, seg.flags, seg.seq, seg.ack, seg.len)
        {
            self.ended_ns = Some(ts);
        }
        if seg.flags & ACK != 0 && seg.flags & RST == 0 {
            let other = &mut self.dirs[dir ^ 1];
            if other.max_acked.is_none_or(|max| seq_after(seg.ack, max)) {
                other.max_acked = Some(seg.ack);
            }
        }
        if seg.flags & RST != 0 {
            return;
        }
        if dir == 0 && seg.flags & (SYN | ACK) == SYN && self.syn_isn.is_none() {
            self.syn_isn = Some(seg.seq);
        }
        let syn = u32::from(seg.flags & SYN != 0);
        let data_seq = seg.seq.wrapping_add(syn);
        let this = &mut self.dirs[dir];
        if this.next.is_none() {
            this.next = Some(data_seq);
        }
        if seg.flags & FIN != 0 && this.fin.is_none() {
            this.fin = Some(data_seq.wrapping_add(seg.len));
        }
        if seg.len == 0 {
            this.pass_fin();
            return;
        }
        let Some(next) = this.next else { return };
        let end = data_seq.wrapping_add(seg.len);
        if !seq_after(end, next) {
            self.counts.retransmissions += 1;
            return;
        }
        let wanted = self.sample.len() < self.want;
        if seq_after(data_seq, next) {
            let this = &mut self.dirs[dir];
            if this.pending.iter().any(|p| p.seq == data_seq) {
                self.counts.retransmissions += 1;
                return;
            }
            self.counts.out_of_order += 1;
            this.pending.push(Pending {
                seq: data_seq,
                len: seg.len,
                kept: wanted.then(kept),
            });
            if this.pending.len() > MAX_PENDING {
                // The hole will not be filled: skip it.
                self.gap = true;
                self.skip_hole(dir);
            }
            return;
        }
        self.deliver(wanted.then(kept));
        self.dirs[dir].next = Some(end);
        self.drain(dir);
    }

    fn deliver(&mut self, kept: Option<Kept>) {
        self.delivered += 1;
        if let Some(kept) = kept {
            if self.sample.len() < self.want {
                self.sample.push(kept);
            }
        }
    }

    /// Delivers waiting segments that `next` has reached; drops those it has passed.
    fn drain(&mut self, dir: usize) {
        loop {
            self.dirs[dir].pass_fin();
            let Some(next) = self.dirs[dir].next else {
                return;
            };
            let pending = &mut self.dirs[dir].pending;
            let Some(at) = pending.iter().position(|p| !seq_after(p.seq, next)) else {
                return;
            };
            let item = pending.swap_remove(at);
            let end = item.seq.wrapping_add(item.len);
            if seq_after(end, next) {
                self.deliver(item.kept);
                self.dirs[dir].next = Some(end);
            } else {
                self.counts.retransmissions += 1;
            }
        }
    }

    /// Moves `next` to the earliest waiting segment and delivers from there.
    fn skip_hole(&mut self, dir: usize) {
        let this = &mut self.dirs[dir];
        let (Some(next), Some(first)) = (this.next, this.pending.first()) else {
            return;
        };
        let earliest = this.pending.iter().fold(first.seq, |best, p| {
            if p.seq.wrapping_sub(next) < best.wrapping_sub(next) {
                p.seq
            } else {
                best
            }
        });
        this.next = Some(earliest);
        self.drain(dir);
    }

    /// Closes the books at the end: open holes and unseen acknowledged data are gaps.
    pub fn finish(&mut self) {
        for dir in 0..2 {
            while !self.dirs[dir].pending.is_empty() {
                self.gap = true;
                self.skip_hole(dir);
            }
            let this = &self.dirs[dir];
            let Some(next) = this.next else { continue };
            if !this.fin_passed && this.fin.is_some_and(|fin| seq_after(fin, next)) {
                self.gap = true;
            }
            // A FIN that `next` passed is counted in it already.
            if this.max_acked.is_some_and(|ack| seq_after(ack, next)) {
                self.gap = true;
            }
        }
    }

    /// True when the SYN from `seq` opens a new connection rather than repeating this one's.
    pub fn is_new_syn(&self, seq: u32) -> bool {
        self.ended_ns.is_some() || self.syn_isn.is_some_and(|isn| isn != seq)
    }

    /// True when the packets of the sample that go out were all captured whole.
    pub fn truncated(&self) -> bool {
        self.sample.iter().any(|k| k.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, FIN, PSH, SYN};

    fn kept(tag: u8) -> Kept {
        Kept {
            timestamp_ns: 0,
            packet: vec![tag],
            truncated: false,
        }
    }

    fn data(c: &mut Connection, dir: usize, seq: u32, len: u32, tag: u8) {
        let seg = SegmentInfo {
            dir,
            flags: PSH | ACK,
            seq,
            ack: 0,
            len,
        };
        c.push(0, seg, || kept(tag));
    }

    fn tags(c: &Connection) -> Vec<u8> {
        c.sample.iter().map(|k| k.packet[0]).collect()
    }

    fn syn(c: &mut Connection, dir: usize, isn: u32) {
        let flags = if dir == 0 { SYN } else { SYN | ACK };
        let seg = SegmentInfo {
            dir,
            flags,
            seq: isn,
            ack: 0,
            len: 0,
        };
        c.push(0, seg, || kept(0));
    }

    #[test]
    fn reorders_and_drops_retransmissions_across_the_wrap() {
        let mut c = Connection::new(0, 80, true, 16);
        let isn = u32::MAX - 5;
        syn(&mut c, 0, isn);
        syn(&mut c, 1, 1000);
        // Client data: 10 bytes at isn+1 (wraps), then 10 more; the second arrives first.
        let s1 = isn.wrapping_add(1);
        let s2 = s1.wrapping_add(10);
        data(&mut c, 0, s2, 10, 2);
        data(&mut c, 1, 1001, 5, 9);
        data(&mut c, 0, s1, 10, 1);
        data(&mut c, 0, s1, 10, 7); // retransmission
        data(&mut c, 0, s2.wrapping_add(10), 3, 3);
        c.finish();
        assert_eq!(tags(&c), vec![9, 1, 2, 3]);
        assert_eq!(c.counts.retransmissions, 1);
        assert_eq!(c.counts.out_of_order, 1);
        assert!(!c.gap);
    }

    #[test]
    fn an_unfilled_hole_is_a_gap() {
        let mut c = Connection::new(0, 80, true, 16);
        syn(&mut c, 0, 100);
        data(&mut c, 0, 101, 10, 1);
        data(&mut c, 0, 121, 10, 3); // 111..121 never seen
        c.finish();
        assert!(c.gap);
        assert_eq!(tags(&c), vec![1, 3]);
    }

    #[test]
    fn acknowledged_unseen_data_is_a_gap() {
        let mut c = Connection::new(0, 80, true, 16);
        syn(&mut c, 0, 100);
        data(&mut c, 0, 101, 10, 1);
        let ack = SegmentInfo {
            dir: 1,
            flags: ACK,
            seq: 5,
            ack: 131,
            len: 0,
        };
        c.push(0, ack, || kept(0));
        c.finish();
        assert!(c.gap);
        // The FIN's own sequence number may be acknowledged.
        let mut c = Connection::new(0, 80, true, 16);
        syn(&mut c, 0, 100);
        let fin = SegmentInfo {
            dir: 0,
            flags: FIN | ACK,
            seq: 101,
            ack: 0,
            len: 0,
        };
        c.push(0, fin, || kept(0));
        let ack = SegmentInfo {
            dir: 1,
            flags: ACK,
            seq: 5,
            ack: 102,
            len: 0,
        };
        c.push(0, ack, || kept(0));
        c.finish();
        assert!(!c.gap);
    }

    #[test]
    fn the_fin_occupies_one_sequence_number() {
        // Bytes after the FIN (as some stacks send, or padding counted as payload) follow
        // it in order: no gap.
        let mut c = Connection::new(0, 80, true, 16);
        syn(&mut c, 1, 500);
        data(&mut c, 1, 501, 10, 1);
        let fin = SegmentInfo {
            dir: 1,
            flags: FIN | ACK,
            seq: 511,
            ack: 0,
            len: 0,
        };
        c.push(0, fin, || kept(0));
        data(&mut c, 1, 512, 6, 2);
        c.finish();
        assert!(!c.gap);
        assert_eq!(tags(&c), vec![1, 2]);
    }

    #[test]
    fn too_many_waiting_segments_skip_the_hole() {
        let mut c = Connection::new(0, 80, true, 4);
        syn(&mut c, 0, 0);
        for i in 0..(MAX_PENDING as u32 + 1) {
            data(&mut c, 0, 11 + i * 10, 10, i as u8);
        }
        assert!(c.gap);
        assert_eq!(tags(&c), vec![0, 1, 2, 3]);
        assert_eq!(c.delivered, MAX_PENDING as u64 + 1);
    }
}
