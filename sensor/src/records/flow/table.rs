//! The flow table: bounded, keyed by the bidirectional 5-tuple plus VLAN tags.
//!
//! Each entry counts packets and bytes per direction since the flow's previous record, so
//! summing any counter over a flow's records never double counts. Records are exported:
//! - at the end of a TCP connection (both FINs acknowledged, or a RST), after a short
//!   linger that catches the last ACKs and retransmitted RSTs;
//! - when the flow has been idle for the idle timeout;
//! - as an interim record at each active timeout of a long flow;
//! - early, when the table is full: the oldest idle flows are evicted.
//!
//! Time is the packets' time on replay and the wall clock live, so replaying an old
//! capture gives the same records as watching it live.

use super::key::{FlowKey, Side};
use super::shard::{Shard, StoredKey, V4Key};
use super::tcp::{TcpState, TcpTracker};

/// Why a flow record was emitted (`netsensor.flow.end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// TCP connection closed by FINs.
    Fin,
    /// TCP connection reset.
    Rst,
    /// No packet for the idle timeout.
    IdleTimeout,
    /// Interim record of a long flow.
    ActiveTimeout,
    /// Exported early because the table was full.
    Evicted,
    /// The replayed input ended.
    EndOfInput,
    /// The sensor stopped.
    Shutdown,
}

impl EndReason {
    /// The value of `netsensor.flow.end_reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::ActiveTimeout => "active_timeout",
            EndReason::Evicted => "evicted",
            EndReason::EndOfInput => "end_of_input",
            EndReason::Shutdown => "shutdown",
        }
    }

    /// True for every reason but the interim active timeout.
    pub const fn is_final(self) -> bool {
        !matches!(self, EndReason::ActiveTimeout)
    }
}

/// Timeouts and size of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSettings {
    /// A flow without packets for this long ends (ns).
    pub idle_timeout_ns: i64,
    /// A long flow emits an interim record this often (ns).
    pub active_timeout_ns: i64,
    /// How long a closed or reset connection stays to absorb its last packets (ns).
    pub linger_ns: i64,
    /// Most flows held at once.
    pub max_flows: usize,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            idle_timeout_ns: 30_000_000_000,
            active_timeout_ns: 300_000_000_000,
            linger_ns: 1_000_000_000,
            max_flows: 262_144,
        }
    }
}

/// What the table learns from one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPacket {
    /// The flow key.
    pub key: FlowKey,
    /// The side that sent the packet.
    pub side: Side,
    /// Capture time (ns).
    pub time_ns: i64,
    /// Wire length.
    pub bytes: u64,
    /// The packet's own record id (low 64 bits); the first packet's names the flow, so
    /// flows that reuse a 5-tuple at the same instant still get distinct record ids.
    pub packet_id: u64,
    /// TCP flags, seq, ack and payload length (TCP only).
    pub tcp: Option<(u8, u32, u32, u32)>,
    /// Small facts kept with the flow (set from the first packet that carries them).
    pub facts: FlowFacts,
}

/// Facts a flow record reports beyond counts, compact to keep the table small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowFacts {
    /// Index+1 of the application protocol in [`APP_PROTOCOLS`] (0: unknown).
    pub app_protocol: u8,
    /// Index+1 in the OS signature table of the OS guess of the low and high endpoints
    /// (0: none).
    pub os: [u8; 2],
    /// Country codes of the low and high endpoints (`[0, 0]`: unknown).
    pub countries: [[u8; 2]; 2],
    /// `network.direction` of the flow's first packet: 0 unknown, 1 ingress, 2 egress.
    pub direction: u8,
}

/// A flow's application protocol is looked for in its first this many packets only (while
/// still unknown): the protocols recognised (DNS, TLS ClientHello, HTTP requests) show in
/// the first packets that carry data, and parsing every later packet of a bulk transfer
/// would cost most of the flows-only path.
pub const APP_PROTOCOL_PACKETS: u32 = 16;

/// Application protocols a flow can report, in `FlowFacts::app_protocol` order.
pub const APP_PROTOCOLS: [&str; 5] = ["dns", "mdns", "llmnr", "tls", "http"];

/// One flow's state. Counters are indexed by direction: 0 initiator, 1 responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowEntry {
    /// Record id (low 64 bits) of the packet that opened the flow.
    opener: u64,
    first_seen: i64,
    last_seen: i64,
    span_start: i64,
    bytes: [u64; 2],
    packets: [u32; 2],
    sequence: u32,
    /// When the connection ended, in ms after `first_seen` (4 bytes, not 8: the linger
    /// after the end is counted from it and needs no finer grain).
    ended_ms: u32,
    initiator: Side,
    tcp_flags: u8,
    /// Directions that have sent anything (bit 0 initiator, bit 1 responder).
    spoke: u8,
    end: Option<EndReason>,
    tcp: TcpTracker,
    facts: FlowFacts,
}

/// One exported flow record's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowExport {
    /// The flow key.
    pub key: FlowKey,
    /// The side that started the flow (first packet; SYN sender for TCP).
    pub initiator: Side,
    /// When the flow was first seen.
    pub first_seen: i64,
    /// Record id (low 64 bits) of the packet that opened the flow.
    pub opener: u64,
    /// Start and end of the span the counts cover.
    pub span: (i64, i64),
    /// Bytes sent by initiator and responder in the span.
    pub bytes: [u64; 2],
    /// Packets sent by initiator and responder in the span.
    pub packets: [u64; 2],
    /// Position among the flow's records.
    pub sequence: u32,
    /// Why the record was emitted.
    pub reason: EndReason,
    /// Reported state.
    pub state: &'static str,
    /// Union of TCP flags seen over the whole flow.
    pub tcp_flags: u8,
    /// Protocol, OS and country facts.
    pub facts: FlowFacts,
}

/// Counters the pipeline turns into metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Flows exported early because the table was full.
    pub evicted: u64,
    /// Flow records exported.
    pub exported: u64,
}

/// The bounded flow table: IPv4 and IPv6 flows in their own shards (see [`super::shard`]),
/// bounded together by `max_flows`.
#[derive(Debug)]
pub struct FlowTable {
    settings: FlowSettings,
    v4: Shard<V4Key, FlowEntry>,
    v6: Shard<FlowKey, FlowEntry>,
    /// Reused buffer for choosing eviction victims.
    ages: Vec<i64>,
    /// Next time (ns) to scan for timeouts.
    next_scan: i64,
    /// No held flow is due before this time (ns): a scan before it would find nothing, so
    /// it is skipped (the walk over the table was a sixth of the flows-only path). Lowered
    /// as packets are counted, recomputed by every scan that walks.
    next_due: i64,
    counters: FlowCounters,
}

/// How often the table is scanned for timeouts, in the table's time.
const SCAN_INTERVAL_NS: i64 = 500_000_000;

impl FlowTable {
    /// An empty table. Its memory grows with the traffic up to `max_flows` flows and is
    /// kept afterwards, so a warm table allocates nothing per packet.
    pub fn new(settings: FlowSettings) -> Self {
        FlowTable {
            settings,
            v4: Shard::new(),
            v6: Shard::new(),
            ages: Vec::new(),
            next_scan: i64::MIN,
            next_due: i64::MAX,
            counters: FlowCounters::default(),
        }
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since the table was made.
    pub fn counters(&self) -> FlowCounters {
        self.counters
    }

    /// Bytes of one IPv4 and one IPv6 flow's slab slot (entry and stored key).
    pub const fn bytes_per_slot() -> (usize, usize) {
        (
            Shard::<V4Key, FlowEntry>::slot_bytes(),
            Shard::<FlowKey, FlowEntry>::slot_bytes(),
        )
    }

    /// Heap bytes the table holds now (slabs, hash indexes, free lists).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }

    /// Accounts one packet; records that become due are appended to `out`.
    pub fn observe(&mut self, packet: &FlowPacket, out: &mut Vec<FlowExport>) {
        self.observe_with(packet, || packet.facts.app_protocol, out);
    }

    /// Accounts one packet whose application protocol (`FlowFacts::app_protocol` code) is
    /// worked out by `app_protocol` only if the flow still needs it (see
    /// [`APP_PROTOCOL_PACKETS`]).
    pub fn observe_with(
        &mut self,
        packet: &FlowPacket,
        app_protocol: impl FnOnce() -> u8,
        out: &mut Vec<FlowExport>,
    ) {
        let key = &packet.key;
        let mut app_protocol = Some(app_protocol);
        let mut book = Book {
            settings: self.settings,
            counters: &mut self.counters,
            next_due: &mut self.next_due,
        };
        let held = if key.v6 {
            update_held(&mut self.v6, key, packet, &mut app_protocol, &mut book, out)
        } else {
            let packed = V4Key::pack(key);
            update_held(
                &mut self.v4,
                &packed,
                packet,
                &mut app_protocol,
                &mut book,
                out,
            )
        };
        if !held {
            if self.len() >= self.settings.max_flows {
                self.evict_oldest(out);
            }
            let entry = FlowEntry::opened_by(packet);
            let entry = if key.v6 {
                self.v6.insert(*key, entry)
            } else {
                self.v4.insert(V4Key::pack(key), entry)
            };
            entry.count(packet, &mut app_protocol);
            self.next_due = self.next_due.min(entry.due_at(&self.settings));
        }
        self.expire(packet.time_ns, out);
    }

    /// Exports what is due at `now_ns`: ended connections past their linger, idle flows,
    /// and interim records of long flows. Scans at most every half second of table time.
    /// The check is inlined into every packet's accounting; the scan is not.
    #[inline]
    pub fn expire(&mut self, now_ns: i64, out: &mut Vec<FlowExport>) {
        // A clock that jumped back (one far-future timestamp) must not stop the scans.
        if now_ns < self.next_scan && self.next_scan.saturating_sub(now_ns) <= SCAN_INTERVAL_NS {
            return;
        }
        self.next_scan = now_ns.saturating_add(SCAN_INTERVAL_NS);
        if now_ns < self.next_due {
            return;
        }
        self.scan(now_ns, out);
    }

    /// Walks the table and exports what is due at `now_ns`.
    #[inline(never)]
    fn scan(&mut self, now_ns: i64, out: &mut Vec<FlowExport>) {
        let settings = self.settings;
        let before = out.len();
        let mut next_due = i64::MAX;
        // Most flows are not due: one comparison each, and the key is unpacked only for
        // those that are.
        let mut due = |key: &dyn Fn() -> FlowKey, entry: &mut FlowEntry| {
            let at = entry.due_at(&settings);
            if now_ns < at {
                next_due = next_due.min(at);
                return true;
            }
            let keep = match entry.due(now_ns, &settings) {
                None => true,
                Some(reason) => {
                    if let Some(record) = export(&key(), entry, reason) {
                        out.push(record);
                    }
                    !reason.is_final()
                }
            };
            if keep {
                next_due = next_due.min(entry.due_at(&settings));
            }
            keep
        };
        self.v4.retain(|key, entry| due(&|| key.unpack(), entry));
        self.v6.retain(|key, entry| due(&|| *key, entry));
        self.next_due = next_due;
        self.counters.exported += (out.len() - before) as u64;
    }

    /// Exports every flow as final (end of input or shutdown) and empties the table.
    pub fn flush_all(&mut self, reason: EndReason, out: &mut Vec<FlowExport>) {
        let before = out.len();
        let mut take = |key: &FlowKey, entry: &mut FlowEntry| {
            if let Some(record) = export(key, entry, entry.end.unwrap_or(reason)) {
                out.push(record);
            }
        };
        self.v4.drain(|key, entry| take(&key.unpack(), entry));
        self.v6.drain(|key, entry| take(key, entry));
        self.next_due = i64::MAX;
        self.counters.exported += (out.len() - before) as u64;
    }

    /// Exports the oldest idle eighth of the table (at least one flow) as `evicted`.
    fn evict_oldest(&mut self, out: &mut Vec<FlowExport>) {
        self.ages.clear();
        self.ages.extend(
            self.v4
                .entries()
                .chain(self.v6.entries())
                .map(|e| e.last_seen),
        );
        if self.ages.is_empty() {
            return;
        }
        let victims = (self.ages.len() / 8).max(1);
        let cutoff = *self.ages.select_nth_unstable(victims - 1).1;
        let (before, mut evicted, mut left) = (out.len(), 0u64, victims);
        let mut evict = |key: &FlowKey, entry: &mut FlowEntry| {
            if left == 0 || entry.last_seen > cutoff {
                return true;
            }
            left -= 1;
            // A connection that already ended keeps its reason and is not counted as evicted.
            let reason = entry.end.unwrap_or(EndReason::Evicted);
            if let Some(record) = export(key, entry, reason) {
                out.push(record);
            }
            evicted += u64::from(reason == EndReason::Evicted);
            false
        };
        self.v4.retain(|key, entry| evict(&key.unpack(), entry));
        self.v6.retain(|key, entry| evict(key, entry));
        self.counters.evicted += evicted;
        self.counters.exported += (out.len() - before) as u64;
    }
}

/// What [`update_held`] keeps up to date besides the flow.
struct Book<'a> {
    settings: FlowSettings,
    counters: &'a mut FlowCounters,
    /// [`FlowTable`]'s `next_due`.
    next_due: &'a mut i64,
}

/// Applies `packet` to its flow in `shard` if the flow is held and goes on; returns false
/// when the packet opens a new flow (none held, or the held one just ended: after the
/// linger of an ended connection, on a fresh SYN reusing its 5-tuple, or after an idle gap).
fn update_held<K: StoredKey, A: FnOnce() -> u8>(
    shard: &mut Shard<K, FlowEntry>,
    key: &K,
    packet: &FlowPacket,
    app_protocol: &mut Option<A>,
    book: &mut Book<'_>,
    out: &mut Vec<FlowExport>,
) -> bool {
    let settings = book.settings;
    let Some(entry) = shard.get_mut(key) else {
        return false;
    };
    let now = packet.time_ns;
    let new_syn = matches!(packet.tcp, Some((flags, ..)) if flags & 0x12 == 0x02);
    // Replay advances time only with packets, so the timeouts that fall before this packet
    // are applied here, before it is counted; past the active timeout the span closes first.
    let ends = match entry.end {
        Some(_) => new_syn || now >= entry.ended_at().saturating_add(settings.linger_ns),
        None => now.saturating_sub(entry.last_seen) >= settings.idle_timeout_ns,
    };
    if ends {
        if let Some(mut entry) = shard.remove(key) {
            let reason = entry.end.unwrap_or(EndReason::IdleTimeout);
            if let Some(record) = export(&packet.key, &mut entry, reason) {
                out.push(record);
                book.counters.exported += 1;
            }
        }
        return false;
    }
    if now.saturating_sub(entry.span_start) >= settings.active_timeout_ns && entry.packets != [0, 0]
    {
        if let Some(record) = export(&packet.key, entry, EndReason::ActiveTimeout) {
            out.push(record);
            book.counters.exported += 1;
        }
    }
    entry.count(packet, app_protocol);
    *book.next_due = (*book.next_due).min(entry.due_at(&settings));
    true
}

impl FlowEntry {
    /// A flow's state before its first packet is counted.
    fn opened_by(packet: &FlowPacket) -> Self {
        FlowEntry {
            opener: packet.packet_id,
            first_seen: packet.time_ns,
            last_seen: packet.time_ns,
            span_start: packet.time_ns,
            bytes: [0; 2],
            packets: [0; 2],
            sequence: 0,
            ended_ms: 0,
            initiator: initiator_of(packet),
            tcp_flags: 0,
            spoke: 0,
            end: None,
            tcp: TcpTracker::default(),
            facts: FlowFacts::default(),
        }
    }

    /// Counts one packet of this flow; `app_protocol` is called (once) if the flow's
    /// application protocol is still unknown within its first packets.
    fn count<A: FnOnce() -> u8>(&mut self, packet: &FlowPacket, app_protocol: &mut Option<A>) {
        let seen = self.packets[0].saturating_add(self.packets[1]);
        if self.facts.app_protocol == 0 && self.sequence == 0 && seen < APP_PROTOCOL_PACKETS {
            if let Some(app_protocol) = app_protocol.take() {
                self.facts.app_protocol = app_protocol();
            }
        }
        let dir = usize::from(packet.side != self.initiator);
        if self.packets == [0, 0] {
            self.span_start = packet.time_ns;
        }
        self.last_seen = self.last_seen.max(packet.time_ns);
        self.bytes[dir] += packet.bytes;
        self.spoke |= 1 << dir;
        self.packets[dir] = self.packets[dir].saturating_add(1);
        merge_facts(&mut self.facts, &packet.facts);
        if let Some((flags, seq, ack, payload)) = packet.tcp {
            self.tcp_flags |= flags;
            if self.tcp.update(dir, flags, seq, ack, payload) && self.end.is_none() {
                let ms = packet.time_ns.saturating_sub(self.first_seen) / 1_000_000;
                self.ended_ms = u32::try_from(ms.max(0)).unwrap_or(u32::MAX);
                self.end = Some(if self.tcp.state == TcpState::Reset {
                    EndReason::Rst
                } else {
                    EndReason::Fin
                });
            }
        }
    }

    /// When the connection ended (valid once `end` is set).
    fn ended_at(&self) -> i64 {
        self.first_seen
            .saturating_add(i64::from(self.ended_ms).saturating_mul(1_000_000))
    }

    /// The earliest time at which [`FlowEntry::due`] gives a record: `due(t)` is None for
    /// every `t` before it.
    fn due_at(&self, settings: &FlowSettings) -> i64 {
        if self.end.is_some() {
            return self.ended_at().saturating_add(settings.linger_ns);
        }
        let idle = self.last_seen.saturating_add(settings.idle_timeout_ns);
        if self.packets == [0, 0] {
            idle
        } else {
            idle.min(self.span_start.saturating_add(settings.active_timeout_ns))
        }
    }

    /// The record due at `now_ns`, if any: the final one of an ended connection past its
    /// linger or of an idle flow, or an interim one past the active timeout.
    fn due(&self, now_ns: i64, settings: &FlowSettings) -> Option<EndReason> {
        if let Some(reason) = self.end {
            (now_ns >= self.ended_at().saturating_add(settings.linger_ns)).then_some(reason)
        } else if now_ns.saturating_sub(self.last_seen) >= settings.idle_timeout_ns {
            Some(EndReason::IdleTimeout)
        } else if now_ns.saturating_sub(self.span_start) >= settings.active_timeout_ns
            && self.packets != [0, 0]
        {
            Some(EndReason::ActiveTimeout)
        } else {
            None
        }
    }
}

/// The initiator: the sender of the first packet, except that a SYN-ACK seen first (the
/// SYN was missed) names the other side.
fn initiator_of(packet: &FlowPacket) -> Side {
    match packet.tcp {
        Some((flags, ..)) if flags & 0x12 == 0x12 => packet.side.other(),
        _ => packet.side,
    }
}

/// Takes the facts a flow does not know yet from a packet (the application protocol is
/// taken in [`FlowEntry::count`]).
fn merge_facts(kept: &mut FlowFacts, new: &FlowFacts) {
    if kept.direction == 0 {
        kept.direction = new.direction;
    }
    for (kept, new) in kept.os.iter_mut().zip(new.os) {
        if *kept == 0 {
            *kept = new;
        }
    }
    for (kept, new) in kept.countries.iter_mut().zip(new.countries) {
        if *kept == [0, 0] {
            *kept = new;
        }
    }
}

/// Builds the record for the span since the previous one and resets the span. An interim
/// record with nothing in its span is skipped.
fn export(key: &FlowKey, entry: &mut FlowEntry, reason: EndReason) -> Option<FlowExport> {
    if !reason.is_final() && entry.packets == [0, 0] {
        return None;
    }
    let state = match (reason, entry.tcp.state) {
        (_, TcpState::Reset) => "reset",
        (_, TcpState::Closed) => "closed",
        (EndReason::IdleTimeout, _) => "timeout",
        // Without TCP's handshake, a flow is established once both sides have spoken.
        _ if key.protocol != 6 => {
            if entry.spoke == 0b11 {
                "established"
            } else {
                "new"
            }
        }
        (_, state) => state.as_str(),
    };
    let record = FlowExport {
        key: *key,
        initiator: entry.initiator,
        first_seen: entry.first_seen,
        opener: entry.opener,
        span: (entry.span_start, entry.last_seen),
        bytes: entry.bytes,
        packets: entry.packets.map(u64::from),
        sequence: entry.sequence,
        reason,
        state,
        tcp_flags: entry.tcp_flags,
        facts: entry.facts,
    };
    entry.sequence += 1;
    entry.bytes = [0; 2];
    entry.packets = [0; 2];
    entry.span_start = entry.last_seen;
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::flow::key::Endpoint;

    fn packet(i: u16, time_ns: i64) -> FlowPacket {
        let (key, side) = FlowKey::new(
            Endpoint::new([192, 0, 2, 1].into(), 10_000 + i),
            Endpoint::new([198, 51, 100, 2].into(), 53),
            17,
            false,
            [0, 0],
        );
        FlowPacket {
            key,
            side,
            time_ns,
            bytes: 100,
            packet_id: time_ns as u64,
            tcp: None,
            facts: FlowFacts::default(),
        }
    }

    #[test]
    fn a_flow_slot_stays_well_under_200_bytes() {
        let (v4, v6) = FlowTable::bytes_per_slot();
        eprintln!("flow table slot: {v4} bytes (IPv4), {v6} bytes (IPv6)");
        assert!(v4 <= 112, "{v4} bytes per IPv4 flow slot");
        assert!(v6 <= 136, "{v6} bytes per IPv6 flow slot");
    }

    #[test]
    fn idle_flows_end_and_full_tables_evict_the_oldest() {
        let settings = FlowSettings {
            max_flows: 8,
            ..FlowSettings::default()
        };
        let mut table = FlowTable::new(settings);
        let mut out = Vec::new();
        for i in 0..8 {
            table.observe(&packet(i, i64::from(i)), &mut out);
        }
        assert!(out.is_empty());
        table.observe(&packet(100, 10), &mut out);
        assert_eq!(out.len(), 1, "one eighth of 8 is evicted");
        assert_eq!(out[0].reason, EndReason::Evicted);
        assert_eq!(out[0].key.low.port.min(out[0].key.high.port), 53);
        assert_eq!(table.counters().evicted, 1);
        out.clear();
        // 30 s later every flow is idle.
        table.expire(31_000_000_000, &mut out);
        assert_eq!(out.len(), 8);
        assert!(out
            .iter()
            .all(|r| r.reason == EndReason::IdleTimeout && r.state == "timeout"));
        assert!(table.is_empty());
    }

    #[test]
    fn long_flows_emit_delta_records_at_each_active_timeout() {
        let mut table = FlowTable::new(FlowSettings::default());
        let mut out = Vec::new();
        let second = 1_000_000_000;
        for t in 0..=70 {
            table.observe(&packet(1, t * 10 * second), &mut out);
        }
        table.flush_all(EndReason::EndOfInput, &mut out);
        let packets: u64 = out.iter().map(|r| r.packets[0] + r.packets[1]).sum();
        assert_eq!(packets, 71, "deltas never double count");
        assert!(out.len() >= 3);
        assert!(out[..out.len() - 1]
            .iter()
            .all(|r| r.reason == EndReason::ActiveTimeout));
        assert_eq!(out.last().map(|r| r.reason), Some(EndReason::EndOfInput));
        let sequences: Vec<u32> = out.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, (0..out.len() as u32).collect::<Vec<_>>());
        for pair in out.windows(2) {
            assert!(pair[0].span.1 <= pair[1].span.0, "spans do not overlap");
        }
    }

    #[test]
    fn the_app_protocol_is_looked_for_only_in_a_flows_first_packets() {
        let mut table = FlowTable::new(FlowSettings::default());
        let mut out = Vec::new();
        let mut asked = 0;
        for t in 0..40 {
            // The protocol shows only in packet 20: too late.
            let code = if t == 20 { 4 } else { 0 };
            table.observe_with(
                &packet(1, t),
                || {
                    asked += 1;
                    code
                },
                &mut out,
            );
        }
        assert_eq!(
            asked, APP_PROTOCOL_PACKETS,
            "asked while unknown, in the first packets"
        );
        let mut asked_known = 0;
        for t in 0..40 {
            table.observe_with(
                &packet(2, t),
                || {
                    asked_known += 1;
                    4
                },
                &mut out,
            );
        }
        assert_eq!(asked_known, 1, "not asked again once known");
        table.flush_all(EndReason::EndOfInput, &mut out);
        let app = |port: u16| {
            out.iter()
                .find(|r| r.key.low.port.max(r.key.high.port) == 10_000 + port)
                .map(|r| r.facts.app_protocol)
        };
        assert_eq!(app(1), Some(0));
        assert_eq!(app(2), Some(4));
    }
}
