//! Dispatch to workers: each frame goes to the worker that owns its flow, picked by a
//! direction-free hash of the innermost flow key, in per-worker bounded queues of pooled
//! frame batches. Runs on the thread that reads frames (the replay reader, or each live
//! capture thread).
//!
//! The key hashed is the flow table's own key, so every packet of a flow, both
//! directions, lands on one worker and the workers' flow tables hold disjoint flows:
//! protocol, both endpoints (address and port) in a fixed order, and the VLAN ids.
//! * TCP, UDP and SCTP hash their ports. A later IP fragment carries no ports; the flow
//!   table keys it by addresses and protocol alone (it does not reassemble), and so does
//!   the hash. The fragments after the first of a datagram can thus land on another
//!   worker than the first one — exactly as the flow table already counts them as their
//!   own flow. Hashing UDP by addresses only would keep a datagram's fragments together,
//!   but would put all the traffic between two hosts (a resolver and its upstream, a
//!   tunnel's endpoints) on one worker; with no reassembly there is nothing to gain.
//!   AF_PACKET's `PACKET_FANOUT_FLAG_DEFRAG` hands whole datagrams, which carry ports.
//! * ICMP and every other protocol hash addresses and protocol only (ICMP's type/code
//!   "ports" are not symmetric, and these flows are small).
//! * Frames without an IP header (ARP, broken frames) have no flow: they are spread by
//!   frame number.

use std::net::IpAddr;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use prometheus_client::metrics::gauge::Gauge;

use crate::capture::{FrameBatch, FrameMeta, LinkType, SourceInfo};
use crate::decode::{self, DecodeOptions, Network, Transport};

/// What a worker's queue carries.
#[derive(Debug)]
pub(crate) enum Work {
    /// Frames of this worker's flows. `clock_ns` (replay) is the time the input has
    /// reached, for flow timeouts.
    Frames {
        batch: FrameBatch,
        clock_ns: Option<i64>,
    },
    /// The input's clock moved on (replay): time out flows at `clock_ns` and, with
    /// rollups, move to the interval starting at `rollup_start`.
    Tick {
        clock_ns: i64,
        rollup_start: Option<i64>,
    },
}

/// Direction-free hash of the innermost flow key of a frame (decoded with `options`, as
/// the workers decode it), or None without an IP header.
pub fn flow_hash(
    options: &DecodeOptions,
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
) -> Option<u64> {
    // The fast header path answers the plain frames exactly as the full decoder would (TCP
    // options, which the key does not use, only for SYNs).
    let mut decoded = decode::fast::empty();
    if !decode::fast::decode_into(
        options,
        link,
        frame,
        wire_len,
        decode::fast::TcpOptionsWanted::SynOnly,
        &mut decoded,
    ) {
        decoded = decode::decode_with(options, link, frame, wire_len);
    }
    let Network::Ip(ip) = &decoded.network else {
        return None;
    };
    let ports = match decoded.transport {
        Transport::Tcp { .. } | Transport::Udp { .. } | Transport::Sctp { .. } => {
            decoded.transport.ports().unwrap_or((0, 0))
        }
        _ => (0, 0),
    };
    let vlan = |i: usize| decoded.vlans.get(i).copied().unwrap_or(0);
    // The tunnel's kind and id are part of the flow key: equal inner flows of two VNIs
    // are two flows (and may go to two workers).
    let tunnel = decoded.tunnel.map_or(0, |t| {
        u64::from(t.kind.code()) << 40 | u64::from(t.depth) << 32 | u64::from(t.id.unwrap_or(0))
    });
    Some(key_hash(
        ip.protocol,
        (ip.src, ports.0),
        (ip.dst, ports.1),
        [vlan(0), vlan(1)],
        tunnel,
    ))
}

/// Hashes a flow key with its endpoints in a fixed order, so both directions agree.
/// `tunnel_id` keeps identical inner flows of different tunnels apart (0: none).
pub fn key_hash(
    protocol: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    vlans: [u16; 2],
    tunnel_id: u64,
) -> u64 {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut bytes = [0u8; 1 + 4 + 8 + 2 * 18];
    let mut at = 0;
    let mut put = |part: &[u8]| {
        if let Some(slot) = bytes.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
        }
        at += part.len();
    };
    put(&[protocol]);
    put(&vlans[0].to_le_bytes());
    put(&vlans[1].to_le_bytes());
    put(&tunnel_id.to_le_bytes());
    for (address, port) in [low, high] {
        match address {
            IpAddr::V4(v4) => {
                put(&v4.to_ipv6_mapped().octets());
            }
            IpAddr::V6(v6) => put(&v6.octets()),
        }
        put(&port.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The worker of a hash among `workers` (multiply-shift: uniform for any count).
pub fn worker_of(hash: u64, workers: usize) -> usize {
    ((u128::from(hash) * workers as u128) >> 64) as usize
}

/// The worker of one frame.
pub fn frame_worker(
    options: &DecodeOptions,
    meta: &FrameMeta,
    frame: &[u8],
    workers: usize,
) -> usize {
    if workers <= 1 {
        return 0;
    }
    match flow_hash(options, meta.link, frame, meta.wire_len) {
        Some(hash) => worker_of(hash, workers),
        None => (meta.number % workers as u64) as usize,
    }
}

/// One worker's queue as a dispatcher sees it.
pub(crate) struct Lane {
    pub tx: Sender<Work>,
    /// Emptied batches coming back from the worker.
    pub free: Receiver<FrameBatch>,
    /// `netsensor_queue_depth{queue="worker-N"}`.
    pub depth: Gauge,
    pending: FrameBatch,
}

impl Lane {
    pub fn new(tx: Sender<Work>, free: Receiver<FrameBatch>, depth: Gauge) -> Self {
        Lane {
            tx,
            free,
            depth,
            pending: FrameBatch::default(),
        }
    }
}

impl Lane {
    /// Another sender into the same worker queue, with its own pending batch.
    pub fn sender(&self) -> Lane {
        Lane::new(self.tx.clone(), self.free.clone(), self.depth.clone())
    }
}

/// Why a dispatcher stopped accepting frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disconnected;

/// Splits batches of frames into per-worker batches.
pub(crate) struct Dispatcher {
    lanes: Vec<Lane>,
    /// How the workers decode (the key must be theirs: innermost with decapsulation).
    decode: Arc<DecodeOptions>,
    batch_frames: usize,
    /// Replay: rollup interval length, to move every worker to the interval the input
    /// has reached.
    rollup_interval_ns: Option<i64>,
    /// Start of the latest rollup interval the input has reached.
    rollup_reached: i64,
    /// Time of the latest frame (replay clock; not the maximum: see `advance_clock`).
    clock_ns: Option<i64>,
    /// Next replay clock at which every worker gets a tick (flow timeouts on idle
    /// workers).
    next_tick_ns: i64,
}

/// How often (in packet time) idle workers are told the replay clock.
const TICK_NS: i64 = 500_000_000;

impl Dispatcher {
    pub fn new(
        lanes: Vec<Lane>,
        decode: Arc<DecodeOptions>,
        batch_frames: usize,
        rollup_interval_ns: Option<i64>,
    ) -> Self {
        Dispatcher {
            lanes,
            decode,
            batch_frames: batch_frames.max(1),
            rollup_interval_ns,
            rollup_reached: i64::MIN,
            clock_ns: None,
            next_tick_ns: i64::MIN,
        }
    }

    /// Replay: dispatches every frame of `batch`, blocking while a worker's queue is
    /// full (replay never drops). Full per-worker batches are sent; the rest wait for
    /// more frames or [`Dispatcher::finish`].
    pub fn dispatch_blocking(&mut self, batch: &FrameBatch) -> Result<(), Disconnected> {
        let Some(source) = &batch.source else {
            return Ok(());
        };
        let workers = self.lanes.len();
        for (meta, data) in batch.iter() {
            self.advance_clock(meta.timestamp_ns)?;
            let worker = frame_worker(&self.decode, meta, data, workers);
            if self.push(worker, source, meta, data) {
                self.send_blocking(worker)?;
            }
        }
        Ok(())
    }

    /// Live: dispatches every frame of `batch` and sends every non-empty per-worker batch
    /// without waiting; returns the frames dropped because a worker's queue was full.
    pub fn dispatch_dropping(&mut self, batch: &FrameBatch) -> Result<u64, Disconnected> {
        let Some(source) = &batch.source else {
            return Ok(0);
        };
        let workers = self.lanes.len();
        let mut dropped = 0;
        for (meta, data) in batch.iter() {
            let worker = frame_worker(&self.decode, meta, data, workers);
            if self.push(worker, source, meta, data) {
                dropped += self.try_send(worker)?;
            }
        }
        for worker in 0..workers {
            dropped += self.try_send(worker)?;
        }
        Ok(dropped)
    }

    /// Replay: sends what is pending and a last tick at the input's final clock.
    pub fn finish(&mut self) -> Result<(), Disconnected> {
        self.send_all_blocking()?;
        if let Some(clock_ns) = self.clock_ns {
            self.tick_all(clock_ns, None)?;
        }
        Ok(())
    }

    /// Appends a frame to a worker's pending batch; true when that batch is full.
    fn push(
        &mut self,
        worker: usize,
        source: &Arc<SourceInfo>,
        meta: &FrameMeta,
        data: &[u8],
    ) -> bool {
        let Some(lane) = self.lanes.get_mut(worker) else {
            return false;
        };
        let same_source = lane
            .pending
            .source
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, source));
        if !same_source {
            if !lane.pending.is_empty() {
                // One source per batch: the frames of the previous file go first.
                let full = std::mem::take(&mut lane.pending);
                let next = Self::fresh(&lane.free, self.batch_frames);
                lane.pending = next;
                // Blocking here is what replay wants; live has one source per thread.
                if lane
                    .tx
                    .send(Work::Frames {
                        batch: full,
                        clock_ns: self.clock_ns,
                    })
                    .is_err()
                {
                    return false;
                }
            }
            lane.pending.source = Some(Arc::clone(source));
        }
        lane.pending.push(*meta, data);
        lane.pending.len() >= self.batch_frames
    }

    /// Moves the replay clock to a frame's time: every half second of packet time, and
    /// whenever the frame opens a later rollup interval, every worker first gets its
    /// pending frames and then a tick, so each one counts and times out exactly as a
    /// single worker would.
    fn advance_clock(&mut self, t_ns: i64) -> Result<(), Disconnected> {
        let start = self
            .rollup_interval_ns
            .map(|interval| t_ns.saturating_sub(t_ns.rem_euclid(interval.max(1))));
        let new_interval = start.filter(|s| *s > self.rollup_reached);
        // The flow clock is the latest frame's time, as a single worker's is (the table
        // copes with a clock that goes back, e.g. between files).
        self.clock_ns = Some(t_ns);
        // Forward only: a capture whose clock jumps back and forth (files of other dates)
        // would otherwise tick on nearly every frame.
        let tick_due = t_ns >= self.next_tick_ns;
        if new_interval.is_some() || tick_due {
            if let Some(start) = new_interval {
                self.rollup_reached = start;
            }
            self.send_all_blocking()?;
            self.tick_all(t_ns, new_interval)?;
            self.next_tick_ns = self.next_tick_ns.max(t_ns.saturating_add(TICK_NS));
        }
        Ok(())
    }

    fn tick_all(&mut self, clock_ns: i64, rollup_start: Option<i64>) -> Result<(), Disconnected> {
        for lane in &self.lanes {
            lane.tx
                .send(Work::Tick {
                    clock_ns,
                    rollup_start,
                })
                .map_err(|_| Disconnected)?;
        }
        Ok(())
    }

    fn send_all_blocking(&mut self) -> Result<(), Disconnected> {
        for worker in 0..self.lanes.len() {
            self.send_blocking(worker)?;
        }
        Ok(())
    }

    fn send_blocking(&mut self, worker: usize) -> Result<(), Disconnected> {
        let Some(lane) = self.lanes.get_mut(worker) else {
            return Ok(());
        };
        if lane.pending.is_empty() {
            return Ok(());
        }
        let batch = Self::take_pending(lane, self.batch_frames);
        lane.tx
            .send(Work::Frames {
                batch,
                clock_ns: self.clock_ns,
            })
            .map_err(|_| Disconnected)?;
        lane.depth.set(lane.tx.len() as i64);
        Ok(())
    }

    /// Sends a worker's pending batch if its queue has room; returns the frames dropped
    /// (all of the batch) when it has not.
    fn try_send(&mut self, worker: usize) -> Result<u64, Disconnected> {
        let Some(lane) = self.lanes.get_mut(worker) else {
            return Ok(0);
        };
        if lane.pending.is_empty() {
            return Ok(0);
        }
        let batch = Self::take_pending(lane, self.batch_frames);
        let dropped = match lane.tx.try_send(Work::Frames {
            batch,
            clock_ns: None,
        }) {
            Ok(()) => 0,
            Err(TrySendError::Full(Work::Frames { mut batch, .. })) => {
                let frames = batch.len() as u64;
                batch.clear();
                lane.pending = batch;
                frames
            }
            Err(TrySendError::Full(Work::Tick { .. })) => 0,
            Err(TrySendError::Disconnected(_)) => return Err(Disconnected),
        };
        lane.depth.set(lane.tx.len() as i64);
        Ok(dropped)
    }

    /// Swaps a lane's pending batch for an empty one from its pool; returns the full one.
    fn take_pending(lane: &mut Lane, batch_frames: usize) -> FrameBatch {
        let mut next = Self::fresh(&lane.free, batch_frames);
        next.source = lane.pending.source.clone();
        std::mem::replace(&mut lane.pending, next)
    }

    fn fresh(free: &Receiver<FrameBatch>, batch_frames: usize) -> FrameBatch {
        let mut batch = free
            .try_recv()
            .unwrap_or_else(|_| FrameBatch::with_capacity(batch_frames));
        batch.clear();
        batch.source = None;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_direction_free_and_separates_keys() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let h = key_hash(6, (a, 1234), (b, 80), [0, 0], 0);
        assert_eq!(h, key_hash(6, (b, 80), (a, 1234), [0, 0], 0));
        assert_ne!(h, key_hash(17, (a, 1234), (b, 80), [0, 0], 0));
        assert_ne!(h, key_hash(6, (a, 1235), (b, 80), [0, 0], 0));
        assert_ne!(h, key_hash(6, (a, 1234), (b, 80), [10, 0], 0));
        assert_ne!(h, key_hash(6, (a, 1234), (b, 80), [0, 0], 7));
        // Ports swapped between the sides are another flow.
        assert_ne!(h, key_hash(6, (a, 80), (b, 1234), [0, 0], 0));
    }

    #[test]
    fn workers_are_picked_evenly() {
        let mut counts = [0usize; 3];
        for port in 0..30_000u16 {
            let a: IpAddr = "10.0.0.1".parse().unwrap();
            let b: IpAddr = "10.0.0.2".parse().unwrap();
            counts[worker_of(key_hash(17, (a, port), (b, 53), [0, 0], 0), 3)] += 1;
        }
        for count in counts {
            assert!((9_000..11_000).contains(&count), "{counts:?}");
        }
        assert_eq!(worker_of(u64::MAX, 4), 3);
        assert_eq!(worker_of(0, 4), 0);
    }
}
