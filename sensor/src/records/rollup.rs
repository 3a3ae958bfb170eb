//! Interval rollups: bytes and packets per interval for each dimension (transport, service,
//! direction, size class, source and destination country) and the top N destinations by
//! bytes, emitted as ECS rollup records (`event.dataset: netsensor.rollup`).
//!
//! Rollups are fed every packet record before any load shedding, so their volumes stay
//! exact when packet records are dropped. Counting a packet only touches maps that keep
//! their capacity from one interval to the next, so once warm it allocates nothing.
//!
//! Rules, in one place:
//! * Intervals are aligned to multiples of the interval length since the epoch;
//!   `event.start` and `@timestamp` are the interval start, `event.end` = start + interval.
//! * Every packet counts once in every dimension; a packet without a value for a dimension
//!   (no transport, no service, no country) counts under the key `unknown`, so each
//!   dimension's keys sum to the interval's total bytes and packets. The size class comes
//!   from `netsensor.packet.size_class`, or from the wire length when that is missing.
//! * Top N destinations are exact per interval: every destination address is counted and
//!   the N with the most bytes are emitted at close, rank 1 first, ties broken by the
//!   lower address. Packets without a destination address are not ranked. At most
//!   [`MAX_DESTINATIONS`] addresses are tracked per interval; beyond that new addresses
//!   are not counted (see [`Rollups::untracked_destination_packets`]).
//! * A packet older than the current interval (out of order, or arriving after its
//!   interval was closed) counts into the current interval, or into the first interval
//!   not yet closed: a closed interval is never reopened, so no record id is emitted twice.
//!   A packet newer than the current interval closes it.
//! * With several workers, each counts its own packets ([`Rollups::into_partial`]) and a
//!   merger adds whole intervals ([`Rollups::merge`]) and ranks the top N after the merge;
//!   the workers are moved on together ([`Rollups::advance_to`]), so every packet lands in
//!   the interval it would with one worker.
//! * Records are ordered by interval, then dimension (in the order above, `destination`
//!   last), then descending bytes, then key.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use netsensor_schema::{
    size_class, Event, Observer, PacketRecord, RollupDetails, RollupNetsensor, RollupRecord,
    Timestamp, Volume,
};

use crate::records::id::{observer_seed, rollup_id, run_seed};

/// Default interval length: 10 s.
pub const DEFAULT_INTERVAL_NS: i64 = 10_000_000_000;
/// Shortest interval accepted by [`RollupSettings::from_millis`]: 500 ms.
pub const MIN_INTERVAL_NS: i64 = 500_000_000;
/// Default number of top destinations per interval.
pub const DEFAULT_TOP_N: usize = 20;
/// Largest top N accepted; [`Rollups::new`] clamps larger values to this.
pub const MAX_TOP_N: usize = 10_000;
/// Most destination addresses counted per interval (bounds memory under address scans).
pub const MAX_DESTINATIONS: usize = 1 << 20;

/// The key used when a packet has no value for a dimension.
const UNKNOWN: &str = "unknown";

/// How rollups are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupSettings {
    /// Interval length in nanoseconds (> 0; the configuration allows ≥ 500 ms).
    pub interval_ns: i64,
    /// Destinations ranked per interval; 0 disables the `destination` dimension.
    pub top_n: usize,
}

impl Default for RollupSettings {
    fn default() -> Self {
        RollupSettings {
            interval_ns: DEFAULT_INTERVAL_NS,
            top_n: DEFAULT_TOP_N,
        }
    }
}

/// Why rollup settings were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupSettingsError {
    /// The interval is shorter than 500 ms or too long to count in nanoseconds.
    #[error("rollup interval of {interval_ms} ms is out of range (500 ms or more)")]
    Interval {
        /// The rejected interval.
        interval_ms: u64,
    },
    /// Top N is larger than [`MAX_TOP_N`].
    #[error("rollup top N of {top_n} is larger than {MAX_TOP_N}")]
    TopN {
        /// The rejected value.
        top_n: usize,
    },
}

impl RollupSettings {
    /// Checked settings from an interval in milliseconds and a top N.
    pub fn from_millis(interval_ms: u64, top_n: usize) -> Result<Self, RollupSettingsError> {
        let interval_ns = i64::try_from(interval_ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1_000_000))
            .filter(|ns| *ns >= MIN_INTERVAL_NS)
            .ok_or(RollupSettingsError::Interval { interval_ms })?;
        if top_n > MAX_TOP_N {
            return Err(RollupSettingsError::TopN { top_n });
        }
        Ok(RollupSettings { interval_ns, top_n })
    }
}

/// The rollup dimensions, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dimension {
    Transport,
    Service,
    Direction,
    SizeClass,
    SourceCountry,
    DestinationCountry,
    Destination,
}

impl Dimension {
    /// The four dimensions keyed by a static name, in the order of `Rollups::named`.
    const NAMED: [Dimension; 4] = [
        Dimension::Transport,
        Dimension::Service,
        Dimension::Direction,
        Dimension::SizeClass,
    ];
    /// The two country dimensions, in the order of `Rollups::countries`.
    const COUNTRIES: [Dimension; 2] = [Dimension::SourceCountry, Dimension::DestinationCountry];

    /// `netsensor.rollup.dimension`.
    const fn as_str(self) -> &'static str {
        match self {
            Dimension::Transport => "transport",
            Dimension::Service => "service",
            Dimension::Direction => "direction",
            Dimension::SizeClass => "size_class",
            Dimension::SourceCountry => "source_country",
            Dimension::DestinationCountry => "destination_country",
            Dimension::Destination => "destination",
        }
    }
}

/// Bytes and packets of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    bytes: u64,
    packets: u64,
}

impl Counts {
    fn add(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.packets = self.packets.saturating_add(1);
    }

    fn merge(&mut self, other: Counts) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.packets = self.packets.saturating_add(other.packets);
    }
}

/// A key as stored: no strings are copied on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A static name (`tcp`, `https`, `ingress`, `small`, `unknown`).
    Name(&'static str),
    /// An ISO country code; `[0, 0]` is unknown.
    Country([u8; 2]),
    /// A destination address.
    Address(IpAddr),
}

/// One interval's counts in every dimension.
#[derive(Debug, Default)]
struct IntervalCounts {
    /// Transport, service, direction, size class (see [`Dimension::NAMED`]).
    named: [HashMap<&'static str, Counts>; 4],
    /// Source and destination country (see [`Dimension::COUNTRIES`]).
    countries: [HashMap<[u8; 2], Counts>; 2],
    destinations: HashMap<IpAddr, Counts>,
}

impl IntervalCounts {
    /// Adds `other`'s counts; returns the destination packets left unranked because
    /// [`MAX_DESTINATIONS`] addresses were already counted.
    fn merge(&mut self, other: IntervalCounts, rank: bool) -> u64 {
        for (into, from) in self.named.iter_mut().zip(other.named) {
            for (key, counts) in from {
                into.entry(key).or_default().merge(counts);
            }
        }
        for (into, from) in self.countries.iter_mut().zip(other.countries) {
            for (key, counts) in from {
                into.entry(key).or_default().merge(counts);
            }
        }
        let mut untracked = 0u64;
        if rank {
            for (address, counts) in other.destinations {
                if let Some(into) = self.destinations.get_mut(&address) {
                    into.merge(counts);
                } else if self.destinations.len() < MAX_DESTINATIONS {
                    self.destinations.insert(address, counts);
                } else {
                    untracked = untracked.saturating_add(counts.packets);
                }
            }
        }
        untracked
    }
}

/// One worker's counts of one closed interval, for the merger (see [`Rollups::merge`]).
/// Only whole intervals travel, and the top N is ranked after the merge, so the merged
/// records equal those of one worker that saw every packet.
#[derive(Debug)]
pub struct RollupPartial {
    start_ns: i64,
    counts: IntervalCounts,
}

impl RollupPartial {
    /// Start of the interval.
    pub fn start_ns(&self) -> i64 {
        self.start_ns
    }
}

/// One closed interval × dimension × key, waiting to be written.
#[derive(Debug, Clone, Copy)]
struct Row {
    start_ns: i64,
    dimension: Dimension,
    key: Key,
    rank: Option<u32>,
    counts: Counts,
}

/// A destination competing for the top N; greater is better (more bytes, then lower
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ranked {
    counts: Counts,
    address: IpAddr,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.counts
            .bytes
            .cmp(&other.counts.bytes)
            .then_with(|| other.address.cmp(&self.address))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Counts packets into intervals and turns closed intervals into NDJSON rollup records.
#[derive(Debug)]
pub struct Rollups {
    interval_ns: i64,
    top_n: usize,
    observer_name: String,
    hostname: String,
    id_seed: u64,
    /// Start of the interval being counted, if any packet arrived since the last close.
    current: Option<i64>,
    /// End of the last closed interval: nothing is counted before it.
    floor: i64,
    /// The current interval's counts.
    counts: IntervalCounts,
    /// Worker side of a multi-worker pipeline: closed intervals become [`RollupPartial`]s
    /// for the merger instead of records.
    partial: bool,
    /// Closed intervals' counts not yet taken (`partial` only).
    partials: Vec<RollupPartial>,
    /// Merger side: intervals received from workers, by start, not yet complete.
    merging: BTreeMap<i64, IntervalCounts>,
    /// Scratch min-heap for the top-N selection, reused across intervals.
    heap: BinaryHeap<Reverse<Ranked>>,
    /// Closed rows not yet written.
    closed: Vec<Row>,
    /// Reused text of an address key while writing.
    key_text: String,
    untracked: u64,
}

impl Rollups {
    /// Rollups for the given observer (`observer.name`, `observer.hostname`). An interval
    /// below 1 ns is raised to 1 ns and a top N above [`MAX_TOP_N`] is lowered to it; use
    /// [`RollupSettings::from_millis`] to reject such values instead.
    ///
    /// `run` identifies what is being counted (the replayed files' contents, or a live
    /// run's start): two runs that share an interval, such as a sensor restarted mid
    /// interval or capture files replayed one by one, get different ids, so a store that
    /// ignores duplicate ids keeps both parts; replaying the same files again gives the
    /// same ids and is ignored.
    pub fn new(settings: RollupSettings, observer_name: &str, hostname: &str, run: u64) -> Self {
        let top_n = settings.top_n.min(MAX_TOP_N);
        Rollups {
            interval_ns: settings.interval_ns.max(1),
            top_n,
            observer_name: observer_name.to_owned(),
            hostname: hostname.to_owned(),
            id_seed: run_seed(observer_seed(observer_name), run),
            current: None,
            floor: i64::MIN,
            counts: IntervalCounts::default(),
            partial: false,
            partials: Vec::new(),
            merging: BTreeMap::new(),
            heap: BinaryHeap::with_capacity(top_n.saturating_add(1)),
            closed: Vec::new(),
            key_text: String::with_capacity(64),
            untracked: 0,
        }
    }

    /// Counts one packet into the interval its timestamp falls in (intervals aligned to
    /// multiples of the interval since the epoch); when the packet belongs to a later
    /// interval, the current one is closed first. Older packets count into the current
    /// interval (or the first one not yet closed).
    pub fn observe(&mut self, record: &PacketRecord<'_>) {
        let t = record.timestamp.0;
        let start = t
            .saturating_sub(t.rem_euclid(self.interval_ns))
            .max(self.floor);
        match self.current {
            Some(current) if start > current => {
                self.close();
                self.current = Some(start);
            }
            Some(_) => {}
            None => self.current = Some(start),
        }

        let bytes = record.network.bytes;
        let size = record
            .netsensor
            .packet
            .as_ref()
            .map_or_else(|| size_class(bytes), |p| p.size_class);
        let names = [
            record.network.transport.unwrap_or(UNKNOWN),
            record.netsensor.service.unwrap_or(UNKNOWN),
            record.network.direction,
            size,
        ];
        for (map, name) in self.counts.named.iter_mut().zip(names) {
            map.entry(name).or_default().add(bytes);
        }
        let codes = [
            country(record.source.geo.as_ref().and_then(|g| g.country_iso_code)),
            country(
                record
                    .destination
                    .geo
                    .as_ref()
                    .and_then(|g| g.country_iso_code),
            ),
        ];
        for (map, code) in self.counts.countries.iter_mut().zip(codes) {
            map.entry(code).or_default().add(bytes);
        }
        if self.top_n > 0 {
            if let Some(address) = record.destination.ip {
                if let Some(counts) = self.counts.destinations.get_mut(&address) {
                    counts.add(bytes);
                } else if self.counts.destinations.len() < MAX_DESTINATIONS {
                    let mut counts = Counts::default();
                    counts.add(bytes);
                    self.counts.destinations.insert(address, counts);
                } else {
                    self.untracked = self.untracked.saturating_add(1);
                }
            }
        }
    }

    /// Makes these rollups one worker's part of a multi-worker pipeline: closed intervals
    /// are kept as [`RollupPartial`]s (see [`Rollups::take_partials`]) for the merger
    /// ([`Rollups::merge`]), which ranks the top N over all workers' counts.
    pub fn into_partial(mut self) -> Self {
        self.partial = true;
        self
    }

    /// Start of the interval `t_ns` falls in (aligned to the epoch).
    pub fn interval_start(&self, t_ns: i64) -> i64 {
        t_ns.saturating_sub(t_ns.rem_euclid(self.interval_ns))
    }

    /// Every packet counted from now on goes into an interval starting at or after this:
    /// intervals before it are complete here.
    pub fn open_from(&self) -> i64 {
        self.current.unwrap_or(self.floor)
    }

    /// Moves the clock to the interval starting at `start_ns` without a packet: an older
    /// interval still open is closed, and later packets count into `start_ns`'s interval or
    /// a later one. A multi-worker pipeline calls this on every worker with the interval
    /// the whole input has reached, so each packet lands in the interval it would with one
    /// worker (the running maximum of the packets' intervals, in input order).
    pub fn advance_to(&mut self, start_ns: i64) {
        if self.current.is_some_and(|current| current < start_ns) {
            self.close();
        }
        self.floor = self.floor.max(start_ns);
    }

    /// Takes the closed intervals' counts (partial mode, see [`Rollups::into_partial`]).
    pub fn take_partials(&mut self) -> Vec<RollupPartial> {
        std::mem::take(&mut self.partials)
    }

    /// Adds one worker's counts of one interval (merger side). An interval already closed
    /// here cannot take more (a closed interval is never reopened): its counts go into the
    /// first interval not yet closed, as a late packet's would.
    pub fn merge(&mut self, partial: RollupPartial) {
        let start = partial.start_ns.max(self.floor);
        let into = self.merging.entry(start).or_default();
        let untracked = into.merge(partial.counts, self.top_n > 0);
        self.untracked = self.untracked.saturating_add(untracked);
    }

    /// Closes the merged intervals that start before `open_from` (the lowest
    /// [`Rollups::open_from`] over all workers: nothing more can arrive for them), in order,
    /// ranking the top N over the merged counts.
    pub fn close_merged_before(&mut self, open_from: i64) {
        while let Some(entry) = self.merging.first_entry() {
            if *entry.key() >= open_from {
                break;
            }
            let (start, counts) = entry.remove_entry();
            self.counts = counts;
            self.current = Some(start);
            self.close();
        }
    }

    /// Closes the current interval if it ended at or before `now_ns` (live: wall clock;
    /// replay: packet time).
    pub fn expire(&mut self, now_ns: i64) {
        if let Some(start) = self.current {
            if now_ns >= start.saturating_add(self.interval_ns) {
                self.close();
            }
        }
    }

    /// Closes the current interval (end of input or shutdown).
    pub fn flush(&mut self) {
        self.close();
    }

    /// Records closed and not yet written.
    pub fn pending(&self) -> usize {
        self.closed.len()
    }

    /// Packets whose destination was not ranked because [`MAX_DESTINATIONS`] addresses were
    /// already counted in their interval (cumulative; their volumes still count in every
    /// other dimension).
    pub fn untracked_destination_packets(&self) -> u64 {
        self.untracked
    }

    /// Writes the closed intervals' records to `out` as NDJSON; returns how many.
    pub fn write_ndjson(&mut self, out: &mut Vec<u8>) -> Result<usize, serde_json::Error> {
        let count = self.closed.len();
        let interval_ms = u64::try_from(self.interval_ns / 1_000_000).unwrap_or(0);
        for row in &self.closed {
            let key: &str = match &row.key {
                Key::Name(name) => name,
                Key::Country(code) => std::str::from_utf8(code)
                    .ok()
                    .filter(|_| *code != [0, 0])
                    .unwrap_or(UNKNOWN),
                Key::Address(address) => {
                    self.key_text.clear();
                    // Writing to a String cannot fail.
                    let _ = write!(self.key_text, "{address}");
                    &self.key_text
                }
            };
            let dimension = row.dimension.as_str();
            let start = Timestamp(row.start_ns);
            let end = Timestamp(row.start_ns.saturating_add(self.interval_ns));
            let record = RollupRecord {
                timestamp: start,
                event: Event::rollup(
                    rollup_id(self.id_seed, row.start_ns, dimension, key),
                    start,
                    end,
                ),
                observer: Observer::sensor(&self.observer_name, &self.hostname, None),
                network: Volume {
                    bytes: row.counts.bytes,
                    packets: row.counts.packets,
                },
                netsensor: RollupNetsensor {
                    rollup: RollupDetails {
                        interval_ms,
                        dimension,
                        key,
                        rank: row.rank,
                    },
                },
            };
            serde_json::to_writer(&mut *out, &record)?;
            out.push(b'\n');
        }
        self.closed.clear();
        Ok(count)
    }

    /// Moves the current interval's counts into `closed`, sorted, and empties the maps
    /// (keeping their capacity).
    fn close(&mut self) {
        let Some(start_ns) = self.current.take() else {
            return;
        };
        self.floor = start_ns.saturating_add(self.interval_ns);
        if self.partial {
            self.partials.push(RollupPartial {
                start_ns,
                counts: std::mem::take(&mut self.counts),
            });
            return;
        }
        let first = self.closed.len();
        let row = |dimension, key, counts| Row {
            start_ns,
            dimension,
            key,
            rank: None,
            counts,
        };
        for (map, dimension) in self.counts.named.iter_mut().zip(Dimension::NAMED) {
            self.closed.extend(
                map.drain()
                    .map(|(name, counts)| row(dimension, Key::Name(name), counts)),
            );
        }
        for (map, dimension) in self.counts.countries.iter_mut().zip(Dimension::COUNTRIES) {
            self.closed.extend(
                map.drain()
                    .map(|(code, counts)| row(dimension, Key::Country(code), counts)),
            );
        }
        // Keep the N best in a min-heap: the worst kept one is on top and leaves first.
        for (address, counts) in self.counts.destinations.drain() {
            self.heap.push(Reverse(Ranked { counts, address }));
            if self.heap.len() > self.top_n {
                self.heap.pop();
            }
        }
        self.closed.extend(
            self.heap
                .drain()
                .map(|Reverse(r)| row(Dimension::Destination, Key::Address(r.address), r.counts)),
        );
        if let Some(rows) = self.closed.get_mut(first..) {
            rows.sort_unstable_by(|a, b| {
                a.dimension
                    .cmp(&b.dimension)
                    .then_with(|| b.counts.bytes.cmp(&a.counts.bytes))
                    .then_with(|| a.key.cmp(&b.key))
            });
            let destinations = rows
                .iter_mut()
                .filter(|r| r.dimension == Dimension::Destination);
            for (rank, row) in (1u32..).zip(destinations) {
                row.rank = Some(rank);
            }
        }
    }
}

/// A country key from an ISO code: two ASCII letters or digits, else unknown (`[0, 0]`).
fn country(code: Option<&str>) -> [u8; 2] {
    match code.map(str::as_bytes) {
        Some(&[a, b]) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => [a, b],
        _ => [0, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsensor_schema::{
        Endpoint, EventId, Geo, Netsensor, Network, PacketDetails, Related, Timestamp,
    };
    use serde_json::Value;
    use std::collections::{BTreeMap, HashSet};

    const SECOND: i64 = 1_000_000_000;
    /// An aligned interval start (2024-03-01T00:00:00Z).
    const T0: i64 = 1_709_251_200 * SECOND;

    /// One packet of a test stream.
    #[derive(Clone, Copy)]
    struct Pkt {
        t: i64,
        bytes: u64,
        transport: Option<&'static str>,
        service: Option<&'static str>,
        direction: &'static str,
        src_cc: Option<&'static str>,
        dst_cc: Option<&'static str>,
        dst: Option<&'static str>,
        details: bool,
    }

    fn pkt(t: i64, bytes: u64) -> Pkt {
        Pkt {
            t,
            bytes,
            transport: Some("tcp"),
            service: Some("https"),
            direction: "egress",
            src_cc: Some("DE"),
            dst_cc: Some("US"),
            dst: Some("192.0.2.1"),
            details: true,
        }
    }

    fn record(p: &Pkt) -> PacketRecord<'static> {
        let endpoint = |cc: Option<&'static str>, ip: Option<&str>| Endpoint {
            ip: ip.map(|ip| ip.parse().unwrap()),
            geo: cc.map(|cc| Geo {
                country_iso_code: Some(cc),
                ..Geo::default()
            }),
            ..Endpoint::default()
        };
        PacketRecord {
            timestamp: Timestamp(p.t),
            event: Event::packet(EventId(1)),
            observer: Observer::sensor("s", "h", None),
            network: Network {
                transport: p.transport,
                direction: p.direction,
                bytes: p.bytes,
                packets: 1,
                ..Network::default()
            },
            source: endpoint(p.src_cc, Some("198.51.100.9")),
            destination: endpoint(p.dst_cc, p.dst),
            related: Related::default(),
            dns: None,
            tls: None,
            http: None,
            url: None,
            user_agent: None,
            netsensor: Netsensor {
                service: p.service,
                packet: p.details.then(|| PacketDetails {
                    size_class: size_class(p.bytes),
                    ..PacketDetails::default()
                }),
                ..Netsensor::default()
            },
        }
    }

    fn rollups(interval_ns: i64, top_n: usize) -> Rollups {
        Rollups::new(
            RollupSettings { interval_ns, top_n },
            "sensor-1",
            "host-1",
            0,
        )
    }

    fn feed(r: &mut Rollups, packets: &[Pkt]) {
        for p in packets {
            r.observe(&record(p));
        }
    }

    fn output(r: &mut Rollups) -> Vec<Value> {
        let mut out = Vec::new();
        let n = r.write_ndjson(&mut out).unwrap();
        let values: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(n, values.len());
        values
    }

    fn dim(v: &Value) -> &str {
        v["netsensor"]["rollup"]["dimension"].as_str().unwrap()
    }

    fn key(v: &Value) -> &str {
        v["netsensor"]["rollup"]["key"].as_str().unwrap()
    }

    fn bytes(v: &Value) -> u64 {
        v["network"]["bytes"].as_u64().unwrap()
    }

    fn packets(v: &Value) -> u64 {
        v["network"]["packets"].as_u64().unwrap()
    }

    /// A varied stream: missing values in every optional dimension, several destinations.
    fn mixed(t: i64) -> Vec<Pkt> {
        let mut v = Vec::new();
        for i in 0..50u64 {
            let mut p = pkt(t + i as i64 * 1000, 40 + i * 37);
            match i % 5 {
                0 => p.transport = None,
                1 => {
                    p.transport = Some("udp");
                    p.service = Some("dns");
                }
                2 => p.service = None,
                3 => {
                    p.src_cc = None;
                    p.direction = "ingress";
                }
                _ => {
                    p.dst_cc = Some("FR");
                    p.details = false;
                }
            }
            p.dst = match i % 4 {
                0 => Some("192.0.2.1"),
                1 => Some("2001:db8::1"),
                2 => Some("192.0.2.200"),
                _ => None,
            };
            v.push(p);
        }
        v
    }

    #[test]
    fn each_dimension_sums_to_the_interval_totals() {
        let packets_in = mixed(T0 + 5);
        let total_bytes: u64 = packets_in.iter().map(|p| p.bytes).sum();
        let mut r = rollups(10 * SECOND, 20);
        feed(&mut r, &packets_in);
        r.flush();
        let records = output(&mut r);
        let mut sums: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for v in &records {
            let s = sums.entry(dim(v)).or_default();
            s.0 += bytes(v);
            s.1 += packets(v);
        }
        for d in [
            "transport",
            "service",
            "direction",
            "size_class",
            "source_country",
            "destination_country",
        ] {
            assert_eq!(sums[d], (total_bytes, 50), "{d}");
        }
        // The destination dimension covers only packets with an address (3 of every 4).
        let with_dst: u64 = packets_in.iter().filter(|p| p.dst.is_some()).count() as u64;
        assert_eq!(sums["destination"].1, with_dst);
        // Missing values land under `unknown`; packets without details still get a class.
        let find = |d: &str, k: &str| {
            records
                .iter()
                .find(|v| dim(v) == d && key(v) == k)
                .map(packets)
        };
        assert_eq!(find("transport", "unknown"), Some(10));
        assert_eq!(find("service", "unknown"), Some(10));
        assert_eq!(find("source_country", "unknown"), Some(10));
        assert_eq!(find("destination_country", "FR"), Some(10));
        assert_eq!(find("direction", "ingress"), Some(10));
        let classes: u64 = ["small", "medium", "large"]
            .iter()
            .filter_map(|k| find("size_class", k))
            .sum();
        assert_eq!(classes, 50);
    }

    #[test]
    fn records_carry_the_schema_fields() {
        let mut r = rollups(10 * SECOND, 20);
        feed(&mut r, &[pkt(T0 + 3 * SECOND, 100)]);
        r.flush();
        let records = output(&mut r);
        assert_eq!(records.len(), 7);
        let v = records.iter().find(|v| dim(v) == "service").unwrap();
        assert_eq!(v["@timestamp"], "2024-03-01T00:00:00.000000000Z");
        assert_eq!(v["event"]["start"], "2024-03-01T00:00:00.000000000Z");
        assert_eq!(v["event"]["end"], "2024-03-01T00:00:10.000000000Z");
        assert_eq!(v["event"]["dataset"], "netsensor.rollup");
        assert_eq!(v["netsensor"]["rollup"]["interval_ms"], 10_000);
        assert_eq!(key(v), "https");
        assert!(v["netsensor"]["rollup"].get("rank").is_none());
        assert!(v["observer"].get("ingress").is_none());
        assert_eq!(v["observer"]["name"], "sensor-1");
        assert_eq!(v["observer"]["hostname"], "host-1");
        let expected = rollup_id(
            run_seed(observer_seed("sensor-1"), 0),
            T0,
            "service",
            "https",
        );
        assert_eq!(v["event"]["id"], expected.to_string());
        let d = records.iter().find(|v| dim(v) == "destination").unwrap();
        assert_eq!(key(d), "192.0.2.1");
        assert_eq!(d["netsensor"]["rollup"]["rank"], 1);
    }

    #[test]
    fn intervals_split_at_aligned_boundaries() {
        let interval = 500_000_000; // the shortest configurable interval
        let mut r = rollups(interval, 5);
        feed(
            &mut r,
            &[
                pkt(T0, 10),
                pkt(T0 + interval - 1, 20),
                pkt(T0 + interval, 40),
            ],
        );
        // The third packet closed the first interval.
        let first = output(&mut r);
        assert_eq!(first.len(), 7);
        for v in &first {
            assert_eq!((bytes(v), packets(v)), (30, 2));
            assert_eq!(v["event"]["start"], "2024-03-01T00:00:00.000000000Z");
            assert_eq!(v["event"]["end"], "2024-03-01T00:00:00.500000000Z");
            assert_eq!(v["netsensor"]["rollup"]["interval_ms"], 500);
        }
        r.expire(T0 + 2 * interval - 1);
        assert_eq!(r.pending(), 0, "interval still open before its end");
        r.expire(T0 + 2 * interval);
        let second = output(&mut r);
        assert_eq!(second.len(), 7);
        for v in &second {
            assert_eq!((bytes(v), packets(v)), (40, 1));
            assert_eq!(v["@timestamp"], "2024-03-01T00:00:00.500000000Z");
        }
        // Nothing open: flushing and expiring emit nothing more.
        r.flush();
        r.expire(T0 + 100 * interval);
        assert!(output(&mut r).is_empty());
    }

    #[test]
    fn alignment_is_to_the_epoch_including_before_it() {
        let mut r = rollups(10 * SECOND, 0);
        feed(&mut r, &[pkt(-1, 1), pkt(0, 2)]);
        r.flush();
        let records = output(&mut r);
        let starts: Vec<&str> = records
            .iter()
            .map(|v| v["event"]["start"].as_str().unwrap())
            .collect();
        assert!(starts.contains(&"1969-12-31T23:59:50.000000000Z"));
        assert!(starts.contains(&"1970-01-01T00:00:00.000000000Z"));
        assert!(records.iter().all(|v| dim(v) != "destination"));
    }

    #[test]
    fn late_packets_count_into_an_open_interval_and_never_reopen_a_closed_one() {
        let i = 10 * SECOND;
        let mut r = rollups(i, 3);
        feed(&mut r, &[pkt(T0 + SECOND, 1), pkt(T0 + i + SECOND, 2)]);
        // Older than the current interval: counted into it.
        feed(&mut r, &[pkt(T0 + 2 * SECOND, 4)]);
        r.expire(T0 + 2 * i);
        // After the close, a packet of a closed interval opens the next one instead.
        feed(&mut r, &[pkt(T0 + 3 * SECOND, 8)]);
        r.flush();
        let records = output(&mut r);
        let transport: Vec<(String, u64)> = records
            .iter()
            .filter(|v| dim(v) == "transport")
            .map(|v| (v["event"]["start"].as_str().unwrap().to_owned(), bytes(v)))
            .collect();
        assert_eq!(
            transport,
            [
                ("2024-03-01T00:00:00.000000000Z".to_owned(), 1),
                ("2024-03-01T00:00:10.000000000Z".to_owned(), 6),
                ("2024-03-01T00:00:20.000000000Z".to_owned(), 8),
            ]
        );
        let ids: HashSet<&str> = records
            .iter()
            .map(|v| v["event"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), records.len());
    }

    #[test]
    fn top_n_is_ranked_by_bytes_then_address_and_cut() {
        let mut r = rollups(10 * SECOND, 3);
        let mut stream = Vec::new();
        // Bytes per destination: .5 → 500, .4 → 400, .3 → 300, .2 → 300, .1 → 100.
        for (dst, sizes) in [
            ("192.0.2.1", &[100][..]),
            ("192.0.2.3", &[100, 200]),
            ("192.0.2.2", &[150, 150]),
            ("192.0.2.4", &[400]),
            ("192.0.2.5", &[250, 200, 50]),
        ] {
            for size in sizes {
                let mut p = pkt(T0, *size);
                p.dst = Some(dst);
                stream.push(p);
            }
        }
        feed(&mut r, &stream);
        r.flush();
        let top: Vec<(String, u64, u64, u64)> = output(&mut r)
            .iter()
            .filter(|v| dim(v) == "destination")
            .map(|v| {
                (
                    key(v).to_owned(),
                    v["netsensor"]["rollup"]["rank"].as_u64().unwrap(),
                    bytes(v),
                    packets(v),
                )
            })
            .collect();
        assert_eq!(
            top,
            [
                ("192.0.2.5".to_owned(), 1, 500, 3),
                ("192.0.2.4".to_owned(), 2, 400, 1),
                ("192.0.2.2".to_owned(), 3, 300, 2),
            ]
        );
    }

    #[test]
    fn records_are_sorted_by_dimension_then_bytes() {
        let mut r = rollups(10 * SECOND, 20);
        feed(&mut r, &mixed(T0));
        r.flush();
        let records = output(&mut r);
        let order = [
            "transport",
            "service",
            "direction",
            "size_class",
            "source_country",
            "destination_country",
            "destination",
        ];
        let position = |v: &Value| order.iter().position(|d| *d == dim(v)).unwrap();
        for pair in records.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                position(a) < position(b) || (position(a) == position(b) && bytes(a) >= bytes(b)),
                "{a} before {b}"
            );
        }
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let run = || {
            let mut r = rollups(SECOND, 20);
            feed(&mut r, &mixed(T0));
            feed(&mut r, &mixed(T0 + SECOND));
            r.flush();
            output(&mut r)
        };
        let (a, b) = (run(), run());
        let ids = |records: &[Value]| -> Vec<String> {
            records
                .iter()
                .map(|v| v["event"]["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        let distinct: HashSet<String> = ids(&a).into_iter().collect();
        assert_eq!(distinct.len(), a.len());
        // The same key in two dimensions and in two intervals: all different.
        let seed = observer_seed("sensor-1");
        let keys = [
            rollup_id(seed, T0, "source_country", "DE"),
            rollup_id(seed, T0, "destination_country", "DE"),
            rollup_id(seed, T0 + SECOND, "source_country", "DE"),
            rollup_id(seed, T0, "source_country", "FR"),
            rollup_id(observer_seed("sensor-2"), T0, "source_country", "DE"),
            rollup_id(run_seed(seed, 1), T0, "source_country", "DE"),
        ];
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());
    }

    /// Splits a stream between workers as the pipeline does (each packet to one worker,
    /// every worker moved to the running maximum interval before each packet) and merges.
    fn merged(packets_in: &[Pkt], workers: usize, interval: i64, top_n: usize) -> Vec<Value> {
        let mut parts: Vec<Rollups> = (0..workers)
            .map(|_| rollups(interval, top_n).into_partial())
            .collect();
        let mut merger = rollups(interval, top_n);
        let mut reached = i64::MIN;
        for (i, p) in packets_in.iter().enumerate() {
            reached = reached.max(merger.interval_start(p.t));
            for part in &mut parts {
                part.advance_to(reached);
            }
            parts[i % workers].observe(&record(p));
            let open_from = parts.iter().map(Rollups::open_from).min().unwrap();
            for part in &mut parts {
                for partial in part.take_partials() {
                    merger.merge(partial);
                }
            }
            merger.close_merged_before(open_from);
        }
        for part in &mut parts {
            part.flush();
            for partial in part.take_partials() {
                merger.merge(partial);
            }
        }
        merger.close_merged_before(i64::MAX);
        output(&mut merger)
    }

    #[test]
    fn merged_workers_equal_one_worker() {
        let mut stream = mixed(T0);
        // Late packets and a gap of several intervals, then more traffic.
        stream.extend(mixed(T0 + 2 * SECOND));
        let mut late = pkt(T0 + 500, 7);
        late.dst = Some("192.0.2.77");
        stream.push(late);
        stream.extend(mixed(T0 + 7 * SECOND));
        let mut one = rollups(SECOND, 2);
        feed(&mut one, &stream);
        one.flush();
        let single = output(&mut one);
        assert!(single.len() > 20);
        let key = |v: &Value| v.to_string();
        let mut want: Vec<String> = single.iter().map(key).collect();
        want.sort();
        for workers in [2, 3] {
            let mut got: Vec<String> = merged(&stream, workers, SECOND, 2)
                .iter()
                .map(key)
                .collect();
            got.sort();
            assert_eq!(got, want, "{workers} workers");
        }
    }

    #[test]
    fn odd_country_codes_count_as_unknown() {
        assert_eq!(country(Some("DE")), *b"DE");
        assert_eq!(country(Some("D")), [0, 0]);
        assert_eq!(country(Some("DEU")), [0, 0]);
        assert_eq!(country(Some("\"x")), [0, 0]);
        assert_eq!(country(Some("é")), [0, 0]);
        assert_eq!(country(None), [0, 0]);
    }

    #[test]
    fn extreme_timestamps_and_sizes_do_not_panic() {
        let mut r = rollups(SECOND, 2);
        feed(
            &mut r,
            &[
                pkt(i64::MIN, u64::MAX),
                pkt(i64::MIN + 1, u64::MAX),
                pkt(i64::MAX, 0),
                pkt(0, 1),
            ],
        );
        r.expire(i64::MAX);
        r.flush();
        let records = output(&mut r);
        assert!(!records.is_empty());
        assert!(records.iter().any(|v| bytes(v) == u64::MAX));
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            RollupSettings::from_millis(500, 20),
            Ok(RollupSettings {
                interval_ns: MIN_INTERVAL_NS,
                top_n: 20
            })
        );
        assert_eq!(
            RollupSettings::default(),
            RollupSettings::from_millis(10_000, 20).unwrap()
        );
        assert!(RollupSettings::from_millis(499, 20).is_err());
        assert!(RollupSettings::from_millis(u64::MAX, 20).is_err());
        assert!(RollupSettings::from_millis(1000, MAX_TOP_N + 1).is_err());
        // Unchecked settings are clamped instead of panicking.
        let mut r = rollups(0, usize::MAX);
        feed(&mut r, &[pkt(T0, 1)]);
        r.flush();
        assert_eq!(output(&mut r).len(), 7);
    }
}
