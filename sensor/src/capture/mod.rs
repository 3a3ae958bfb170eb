//! Capture sources: live interfaces (libpcap) and pcap/pcapng files.
//!
//! Both hand the pipeline [`Frame`]s: the captured bytes plus the metadata the decoder and
//! the record need. Frame buffers are pooled so the hot path allocates nothing per packet.

#[cfg(target_os = "linux")]
pub mod afpacket;
pub mod live;
pub mod offline;
pub mod replay;
pub mod select;

use std::ops::Range;
use std::sync::Arc;

/// Link-layer header type of a frame (the pcap `LINKTYPE_*` value it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_RAW (101, also 12/14 on some systems): an IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte host-order address family.
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte network-order address family.
    Loop,
    /// Anything else; frames are counted and reported without decoding.
    Other(u32),
}

impl LinkType {
    /// Maps a pcap `LINKTYPE_*` / `DLT_*` number.
    pub const fn from_linktype(value: u32) -> Self {
        match value {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 | 12 | 14 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }
}

/// A live capture source the pipeline's capture threads read from: a libpcap handle
/// ([`live::LiveCapture`]) or one AF_PACKET ring of a fanout group. Each source is read by
/// one thread.
pub trait LiveSource: Send {
    /// Name for logs and metric labels (the interface, plus the ring number for AF_PACKET).
    fn name(&self) -> &str;
    /// Appends up to `max_frames` frames to `batch`; returns how many. Returns early (with
    /// fewer, possibly none) when the source's read timeout passes, so a stop flag is seen.
    fn fill(&mut self, batch: &mut FrameBatch, max_frames: usize)
        -> Result<usize, live::LiveError>;
    /// Kernel drop counters since the previous call.
    fn kernel_drops(&mut self) -> live::KernelDrops;
    /// Largest frame expected on this interface (MTU plus link header), if known: larger
    /// frames come from NIC offloads.
    fn max_frame(&self) -> Option<u32>;
}

/// Metadata of one captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// Capture time, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Bytes captured (≤ snap length); equals the data length.
    pub cap_len: u32,
    /// Link-layer type of this frame (pcapng interfaces may differ per frame).
    pub link: LinkType,
    /// 1-based frame number in the file, or the capture's sequence number live.
    pub number: u64,
}

/// What the records of one capture source (an interface or a file) share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// Interface name, or the pcap file name on replay.
    pub interface: String,
    /// Seed of this source's packet ids (see `records::id`).
    pub id_seed: u64,
    /// MAC addresses of the capture interface, for `network.direction`.
    pub local_macs: Vec<[u8; 6]>,
    /// `ingress` or `egress` when the capture only sees one direction (`direction: in`
    /// or `out`), which then holds for every frame, multicast and broadcast included.
    pub fixed_direction: Option<&'static str>,
}

/// A batch of frames from one source: the bytes of all frames back to back plus each
/// frame's metadata and range. Batches are recycled through a pool, so their buffers
/// stop growing once warm and the capture path allocates nothing per packet.
#[derive(Debug, Default)]
pub struct FrameBatch {
    /// The source (capture or file) the frames came from.
    pub source: Option<Arc<SourceInfo>>,
    /// Frame bytes, back to back.
    pub data: Vec<u8>,
    /// Each frame's metadata and its range in `data`.
    pub frames: Vec<(FrameMeta, Range<usize>)>,
}

impl FrameBatch {
    /// An empty batch with room for `frames` frames of typical size.
    pub fn with_capacity(frames: usize) -> Self {
        FrameBatch {
            source: None,
            data: Vec::with_capacity(frames * 512),
            frames: Vec::with_capacity(frames),
        }
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// Appends one frame.
    pub fn push(&mut self, meta: FrameMeta, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.frames.push((meta, start..self.data.len()));
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Iterates over (metadata, bytes) of each frame.
    pub fn iter(&self) -> impl Iterator<Item = (&FrameMeta, &[u8])> {
        self.frames
            .iter()
            .map(|(meta, range)| (meta, self.data.get(range.clone()).unwrap_or(&[])))
    }
}
