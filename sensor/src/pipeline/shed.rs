//! Load shedding: flow-consistent sampling when a worker falls behind.
//!
//! Each worker watches its own queue. Past the high watermark it keeps 1 in 2, then 1 in 4,
//! ... flows (one step per [`SETTLE_BATCHES`] batches while the queue stays above it);
//! under the low watermark it steps back towards keeping everything. A flow is kept when a
//! seeded hash of its direction-free key has at least `level` leading zero bits, so the
//! flows kept at 1 in 2^(k+1) are a subset of those kept at 1 in 2^k: while the level
//! holds, a flow is kept whole or not at all, and a step changes only the flows at its
//! margin.
//!
//! What is shed is the packet's record and its share of the flow table, the costly part
//! (serialization). Rollups are counted before the decision and stay exact; packet records
//! carry `netsensor.sample_rate` (2^level) so their counts scale back. The flows-only path
//! is not sampled (its cost is the decode that sampling needs anyway).

use std::net::IpAddr;

use netsensor_schema::PacketRecord;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::dispatch::key_hash;

/// Batches between two level changes, so the queue can react before the next step.
pub const SETTLE_BATCHES: u32 = 4;
/// Most flows are left out at 1 in 2^MAX_LEVEL.
pub const MAX_LEVEL: u32 = 12;

/// When to shed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShedSettings {
    /// Queue fill (0..1) above which sampling tightens.
    pub high_watermark: f64,
    /// Queue fill (0..1) below which it relaxes.
    pub low_watermark: f64,
    /// Seed of the flow hash (a fixed seed makes a run repeatable).
    pub seed: u64,
}

/// One worker's sampling state.
#[derive(Debug)]
pub struct Shedder {
    settings: ShedSettings,
    level: u32,
    since_change: u32,
    shed: Counter,
    sample_rate: Gauge,
    /// Packets shed by this worker.
    pub shed_packets: u64,
}

impl Shedder {
    /// A shedder counting into `shed` and showing its rate in `sample_rate`.
    pub fn new(settings: ShedSettings, shed: Counter, sample_rate: Gauge) -> Self {
        sample_rate.set(1);
        Shedder {
            settings,
            level: 0,
            since_change: SETTLE_BATCHES,
            shed,
            sample_rate,
            shed_packets: 0,
        }
    }

    /// Looks at the queue before a batch: `waiting` of `capacity` batches.
    pub fn update(&mut self, waiting: usize, capacity: usize) {
        let fill = waiting as f64 / capacity.max(1) as f64;
        self.since_change = self.since_change.saturating_add(1);
        if self.since_change < SETTLE_BATCHES {
            return;
        }
        let level = if fill > self.settings.high_watermark {
            (self.level + 1).min(MAX_LEVEL)
        } else if fill < self.settings.low_watermark {
            self.level.saturating_sub(1)
        } else {
            self.level
        };
        if level != self.level {
            self.level = level;
            self.since_change = 0;
            self.sample_rate.set(1 << level);
        }
    }

    /// 1 in this many flows is kept now.
    pub fn sample_rate(&self) -> u32 {
        1 << self.level
    }

    /// Whether the flow with this sampling hash is kept at the current level.
    pub fn keeps(&self, hash: u64) -> bool {
        self.level == 0 || hash.leading_zeros() >= self.level
    }

    /// Decides for one packet record; counts it when shed. Records without addresses
    /// (ARP) are always kept.
    pub fn keeps_record(&mut self, record: &PacketRecord<'_>) -> bool {
        if self.level == 0 {
            return true;
        }
        let keep = record_hash(self.settings.seed, record).is_none_or(|h| self.keeps(h));
        if !keep {
            self.shed.inc();
            self.shed_packets += 1;
        }
        keep
    }
}

/// The sampling hash of a record's flow: its direction-free key under `seed` (another hash
/// than the dispatch hash, so sampling is independent of the worker).
pub fn record_hash(seed: u64, record: &PacketRecord<'_>) -> Option<u64> {
    let (src, dst): (IpAddr, IpAddr) = (record.source.ip?, record.destination.ip?);
    let protocol = record
        .network
        .iana_number
        .and_then(|n| u8::try_from(n.0).ok())
        .unwrap_or(0);
    let ports = |port: Option<u16>| port.unwrap_or(0);
    let vlan = record.network.vlan.as_ref().map_or(0, |v| v.id.0 as u16);
    let inner = record
        .network
        .inner
        .as_ref()
        .map_or(0, |i| i.vlan.id.0 as u16);
    let tunnel = record.netsensor.tunnel.as_ref().map_or(0, |t| {
        u64::from(t.id.unwrap_or(0)) | u64::from(t.depth) << 32
    });
    Some(key_hash(
        protocol,
        (src, ports(record.source.port)),
        (dst, ports(record.destination.port)),
        [vlan, inner],
        tunnel ^ seed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(high: f64, low: f64) -> Shedder {
        Shedder::new(
            ShedSettings {
                high_watermark: high,
                low_watermark: low,
                seed: 7,
            },
            Counter::default(),
            Gauge::default(),
        )
    }

    #[test]
    fn lower_rates_keep_a_subset_of_higher_rates_flows() {
        let hashes: Vec<u64> = (0..20_000u64)
            .map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()))
            .collect();
        let mut s = shedder(0.8, 0.5);
        let mut previous: Option<Vec<bool>> = None;
        for level in 0..=6u32 {
            s.level = level;
            let kept: Vec<bool> = hashes.iter().map(|h| s.keeps(*h)).collect();
            let share = kept.iter().filter(|k| **k).count() as f64 / hashes.len() as f64;
            let want = 1.0 / f64::from(1u32 << level);
            assert!(
                (share - want).abs() < want * 0.1 + 0.002,
                "level {level}: {share}"
            );
            if let Some(previous) = &previous {
                for (now, before) in kept.iter().zip(previous) {
                    assert!(!now || *before, "a flow kept at a lower rate only");
                }
            }
            previous = Some(kept);
        }
    }

    #[test]
    fn the_level_rises_over_the_high_watermark_and_falls_under_the_low() {
        let mut s = shedder(0.8, 0.5);
        for _ in 0..SETTLE_BATCHES * 3 {
            s.update(9, 10);
        }
        assert_eq!(s.sample_rate(), 8, "one step per settle period");
        // Between the watermarks the level holds.
        for _ in 0..SETTLE_BATCHES * 4 {
            s.update(6, 10);
        }
        assert_eq!(s.sample_rate(), 8);
        for _ in 0..SETTLE_BATCHES * 10 {
            s.update(1, 10);
        }
        assert_eq!(s.sample_rate(), 1);
        for _ in 0..SETTLE_BATCHES * 100 {
            s.update(10, 10);
        }
        assert_eq!(s.sample_rate(), 1 << MAX_LEVEL);
    }
}
