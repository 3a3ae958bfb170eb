//! Deterministic record ids (`event.id`, the Elasticsearch `_id`).
//!
//! An id is a 128-bit XXH3 hash. The parts that are fixed for a whole capture source
//! (observer name, file identity or interface and run start) are hashed once into a
//! 64-bit seed; each record then hashes only its own number under that seed, which keeps
//! the per-packet cost to one short hash. Replaying the same file twice gives the same ids;
//! different files, captures or frames give different ones.

use netsensor_schema::EventId;
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64, Xxh3};

/// Seed for the packet ids of one pcap file: observer name + the file's content identity.
pub fn replay_seed(observer: &str, file_identity: u64) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(b"netsensor.packet.replay\0");
    hasher.update(observer.as_bytes());
    hasher.update(b"\0");
    hasher.update(&file_identity.to_le_bytes());
    hasher.digest()
}

/// Seed for the packet ids of one live capture run: observer, interface, worker and the
/// run's start time.
pub fn live_seed(observer: &str, interface: &str, worker: u32, run_start_ns: i64) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(b"netsensor.packet.live\0");
    hasher.update(observer.as_bytes());
    hasher.update(b"\0");
    hasher.update(interface.as_bytes());
    hasher.update(b"\0");
    hasher.update(&worker.to_le_bytes());
    hasher.update(&run_start_ns.to_le_bytes());
    hasher.digest()
}

/// The id of packet `number` under a source's seed.
pub fn packet_id(seed: u64, number: u64) -> EventId {
    EventId(xxh3_128_with_seed(&number.to_le_bytes(), seed))
}

/// The id of a flow record: observer, the full flow key, the flow's first-seen time, the id
/// of the packet that opened it (two flows reusing a 5-tuple at the same instant stay
/// apart) and the record's position, so every interim record of a long flow has its own id.
pub fn flow_id(
    observer_seed: u64,
    key: &[u8],
    first_seen_ns: i64,
    opener: u64,
    sequence: u32,
) -> EventId {
    let mut hasher = Xxh3::with_seed(observer_seed);
    hasher.update(b"netsensor.flow\0");
    hasher.update(key);
    hasher.update(&first_seen_ns.to_le_bytes());
    hasher.update(&opener.to_le_bytes());
    hasher.update(&sequence.to_le_bytes());
    EventId(hasher.digest128())
}

/// The seed of an observer's flow and rollup ids.
pub fn observer_seed(observer: &str) -> u64 {
    xxh3_64(observer.as_bytes())
}

/// Mixes a run's identity into an observer's seed (see `Rollups::new`).
pub fn run_seed(observer_seed: u64, run: u64) -> u64 {
    let mut hasher = Xxh3::with_seed(observer_seed);
    hasher.update(b"netsensor.run\0");
    hasher.update(&run.to_le_bytes());
    hasher.digest()
}

/// The id of a rollup record: observer, interval start, dimension and key.
pub fn rollup_id(
    observer_seed: u64,
    interval_start_ns: i64,
    dimension: &str,
    key: &str,
) -> EventId {
    let mut hasher = Xxh3::with_seed(observer_seed);
    hasher.update(b"netsensor.rollup\0");
    hasher.update(&interval_start_ns.to_le_bytes());
    hasher.update(dimension.as_bytes());
    hasher.update(b"\0");
    hasher.update(key.as_bytes());
    EventId(hasher.digest128())
}

/// A short stable hash of arbitrary bytes (file identities, test helpers).
pub fn hash64(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let seed = replay_seed("sensor", 42);
        assert_eq!(packet_id(seed, 1), packet_id(replay_seed("sensor", 42), 1));
        assert_ne!(packet_id(seed, 1), packet_id(replay_seed("sensor", 43), 1));
        assert_ne!(packet_id(seed, 1), packet_id(replay_seed("other", 42), 1));
        let ids: HashSet<_> = (1..=100_000).map(|n| packet_id(seed, n)).collect();
        assert_eq!(ids.len(), 100_000);
        assert_ne!(live_seed("s", "eth0", 0, 1), live_seed("s", "eth0", 1, 1));
        assert_ne!(live_seed("s", "eth0", 0, 1), live_seed("s", "eth0", 0, 2));
    }
}
