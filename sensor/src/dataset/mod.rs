//! `netsensor dataset`: machine-learning samples from captures — the first N payload
//! packets of every TCP connection, anonymized (zero addresses and ports, checksums
//! recomputed), one raw-IP pcap per connection (or one for all) plus an index CSV.
//!
//! From files, or live from the captures of a configuration (see [`live`]).
//!
//! Memory stays bounded on long captures: a connection is written and freed once it has
//! ended (FIN/RST, after a short linger for late packets), gone idle, or been evicted
//! because the table is full; per connection at most N packets and
//! [`conn::MAX_PENDING`] waiting segments are held.

pub mod conn;
pub mod live;
pub mod packet;
pub mod writer;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::capture::offline::{OfflineError, PcapFile};
use crate::capture::FrameMeta;
use crate::decode::decode_wire;
use crate::decode::tcp_flags::{ACK, RST, SYN};
use crate::enrich::service::{port_service, server_service, ServerSide};
use conn::{Connection, Kept, SegmentInfo};
use packet::Skip;
use writer::SampleWriter;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// File or directory being written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The output directory already holds files (samples of two exports must not mix).
    #[error("output directory {} is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// A capture file could not be opened.
    #[error(transparent)]
    Capture(#[from] OfflineError),
    /// A setting is out of range.
    #[error("{0}")]
    Settings(String),
    /// A live capture could not be opened or read.
    #[error(transparent)]
    Live(#[from] crate::capture::live::LiveError),
}

/// Export settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Payload packets per sample.
    pub packets: usize,
    /// Write connections with fewer than `packets` payload packets too.
    pub allow_short: bool,
    /// Leave out connections with a gap.
    pub skip_gapped: bool,
    /// One capture for all samples instead of one per connection.
    pub single_file: bool,
    /// A connection silent this long is written and freed.
    pub idle_timeout_ns: i64,
    /// How long an ended connection still takes late packets.
    pub linger_ns: i64,
    /// Most connections held at once; the least recently active are written first.
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            packets: 16,
            allow_short: false,
            skip_gapped: true,
            single_file: false,
            idle_timeout_ns: 120 * 1_000_000_000,
            linger_ns: 2 * 1_000_000_000,
            max_connections: 200_000,
        }
    }
}

/// What an export did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Frames read.
    pub frames: u64,
    /// TCP segments used.
    pub tcp_segments: u64,
    /// Frames without IP and TCP.
    pub not_tcp: u64,
    /// Frames whose IP or TCP header could not be read whole.
    pub malformed: u64,
    /// TCP in IP fragments (not reassembled, not used).
    pub fragments: u64,
    /// Connections that carried payload.
    pub connections: u64,
    /// Connections that carried none (handshakes, scans).
    pub empty: u64,
    /// Samples written.
    pub written: u64,
    /// Connections with fewer payload packets than asked (skipped unless allowed).
    pub short: u64,
    /// Connections with a gap.
    pub gapped: u64,
    /// Connections left out because a sample packet was cut by the snap length.
    pub truncated: u64,
    /// Connections written early because the table was full.
    pub evicted: u64,
    /// Payload segments dropped as retransmissions.
    pub retransmissions: u64,
    /// Payload segments reordered.
    pub out_of_order: u64,
    /// Capture files that ended in an error (message each).
    pub read_errors: Vec<String>,
}

impl Summary {
    /// Share of connections (with payload) that had a gap, in percent.
    pub fn gap_percent(&self) -> f64 {
        if self.connections == 0 {
            0.0
        } else {
            self.gapped as f64 * 100.0 / self.connections as f64
        }
    }

    /// The one-line summary printed at the end.
    pub fn line(&self, settings: &Settings) -> String {
        let skipped = |on: bool| if on { "skipped" } else { "kept" };
        format!(
            "dataset: {} frames, {} TCP segments; {} connections with payload: {} samples \
             written, {} short ({}), {} with gaps ({:.2}%, {}), {} truncated (skipped); \
             {} retransmissions dropped, {} segments reordered; {} empty connections, {} \
             evicted, {} malformed frames, {} IP fragments, {} frames not TCP",
            self.frames,
            self.tcp_segments,
            self.connections,
            self.written,
            self.short,
            skipped(!settings.allow_short),
            self.gapped,
            self.gap_percent(),
            skipped(settings.skip_gapped),
            self.truncated,
            self.retransmissions,
            self.out_of_order,
            self.empty,
            self.evicted,
            self.malformed,
            self.fragments,
            self.not_tcp,
        )
    }
}

/// An endpoint: address and port.
type Endpoint = (IpAddr, u16);

/// A connection and which endpoint opened it.
#[derive(Debug)]
struct Entry {
    initiator: Endpoint,
    conn: Connection,
}

/// A running export.
#[derive(Debug)]
pub struct Export {
    settings: Settings,
    table: HashMap<(Endpoint, Endpoint), Entry>,
    writer: SampleWriter,
    summary: Summary,
    last_sweep_ns: Option<i64>,
}

/// How often (capture time) idle and ended connections are looked for.
const SWEEP_EVERY_NS: i64 = 1_000_000_000;

impl Export {
    /// Starts an export into `out` (created; must be empty).
    pub fn create(out: &Path, settings: Settings) -> Result<Self, DatasetError> {
        if settings.packets == 0 {
            return Err(DatasetError::Settings(
                "--packets must be at least 1".to_owned(),
            ));
        }
        if settings.max_connections == 0 {
            return Err(DatasetError::Settings(
                "--max-connections must be at least 1".to_owned(),
            ));
        }
        Ok(Export {
            settings,
            table: HashMap::new(),
            writer: SampleWriter::create(out, settings.single_file)?,
            summary: Summary::default(),
            last_sweep_ns: None,
        })
    }

    /// Connections held now.
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }

    /// Feeds one captured frame.
    pub fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> Result<(), DatasetError> {
        self.summary.frames += 1;
        let ts = meta.timestamp_ns;
        if self
            .last_sweep_ns
            .is_none_or(|last| ts.saturating_sub(last) >= SWEEP_EVERY_NS)
        {
            self.last_sweep_ns = Some(ts);
            self.sweep(ts)?;
        }
        let decoded = decode_wire(meta.link, data, meta.wire_len);
        let seg = match packet::segment(data, &decoded) {
            Ok(seg) => seg,
            Err(Skip::NotTcp) if decoded.error.is_some() => {
                self.summary.malformed += 1;
                return Ok(());
            }
            Err(Skip::NotTcp) => {
                self.summary.not_tcp += 1;
                return Ok(());
            }
            Err(Skip::Fragment) => {
                self.summary.fragments += 1;
                return Ok(());
            }
            Err(Skip::Malformed) => {
                self.summary.malformed += 1;
                return Ok(());
            }
        };
        self.summary.tcp_segments += 1;
        let src = (seg.ip.src, seg.ports.0);
        let dst = (seg.ip.dst, seg.ports.1);
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        let flags = seg.tcp.flags;
        let opens = flags & (SYN | ACK | RST) == SYN;
        if opens
            && self
                .table
                .get(&key)
                .is_some_and(|entry| entry.conn.is_new_syn(seg.tcp.seq))
        {
            if let Some(entry) = self.table.remove(&key) {
                self.finalize(entry.conn)?;
            }
        }
        if !self.table.contains_key(&key) {
            if self.table.len() >= self.settings.max_connections {
                self.evict()?;
            }
            let (initiator, server_port, known) = if opens {
                (src, dst.1, true)
            } else if flags & (SYN | ACK) == SYN | ACK {
                (dst, src.1, true)
            } else {
                // Picked up mid-connection: the port with a service (or the lower one)
                // is the server's.
                match server_service(6, src.1, dst.1) {
                    Some((_, ServerSide::Source)) => (dst, src.1, false),
                    Some((_, ServerSide::Destination)) => (src, dst.1, false),
                    None if src.1 < dst.1 => (dst, src.1, false),
                    None => (src, dst.1, false),
                }
            };
            let conn = Connection::new(ts, server_port, known, self.settings.packets);
            self.table.insert(key, Entry { initiator, conn });
        }
        let Some(entry) = self.table.get_mut(&key) else {
            return Ok(());
        };
        let info = SegmentInfo {
            dir: usize::from(src != entry.initiator),
            flags,
            seq: seg.tcp.seq,
            ack: seg.tcp.ack,
            len: seg.tcp.payload_length,
        };
        entry.conn.push(ts, info, || Kept {
            timestamp_ns: ts,
            packet: seg.anonymized(),
            truncated: seg.truncated(),
        });
        Ok(())
    }

    /// Writes (or counts) a connection that is over and frees it.
    fn finalize(&mut self, mut conn: Connection) -> Result<(), DatasetError> {
        conn.finish();
        let summary = &mut self.summary;
        summary.retransmissions += conn.counts.retransmissions;
        summary.out_of_order += conn.counts.out_of_order;
        if conn.delivered == 0 {
            summary.empty += 1;
            return Ok(());
        }
        summary.connections += 1;
        if conn.gap {
            summary.gapped += 1;
            if self.settings.skip_gapped {
                return Ok(());
            }
        }
        if conn.truncated() {
            summary.truncated += 1;
            return Ok(());
        }
        if conn.sample.len() < self.settings.packets {
            summary.short += 1;
            if !self.settings.allow_short {
                return Ok(());
            }
        }
        self.writer.write(
            &conn.sample,
            conn.first_ns,
            conn.server_port,
            port_service(6, conn.server_port),
            conn.gap,
        )?;
        self.summary.written += 1;
        Ok(())
    }

    /// Finalizes `keys` in the order of their first packet (deterministic ids).
    fn finalize_keys(&mut self, mut keys: Vec<(Endpoint, Endpoint)>) -> Result<(), DatasetError> {
        let mut conns: Vec<Entry> = keys
            .drain(..)
            .filter_map(|key| self.table.remove(&key))
            .collect();
        conns.sort_by_key(|entry| (entry.conn.first_ns, entry.conn.last_ns, entry.initiator));
        for entry in conns {
            self.finalize(entry.conn)?;
        }
        Ok(())
    }

    /// Writes connections that ended more than the linger ago or went idle.
    fn sweep(&mut self, now: i64) -> Result<(), DatasetError> {
        let Settings {
            idle_timeout_ns,
            linger_ns,
            ..
        } = self.settings;
        let done: Vec<_> = self
            .table
            .iter()
            .filter(|(_, entry)| {
                let conn = &entry.conn;
                conn.ended_ns
                    .is_some_and(|end| now.saturating_sub(end) >= linger_ns)
                    || now.saturating_sub(conn.last_ns) >= idle_timeout_ns
            })
            .map(|(key, _)| *key)
            .collect();
        self.finalize_keys(done)
    }

    /// Table full: writes the least recently active eighth.
    fn evict(&mut self) -> Result<(), DatasetError> {
        let mut by_age: Vec<(i64, (Endpoint, Endpoint))> = self
            .table
            .iter()
            .map(|(key, entry)| (entry.conn.last_ns, *key))
            .collect();
        let count = (by_age.len() / 8).max(1);
        by_age.sort_unstable();
        let keys: Vec<_> = by_age.into_iter().take(count).map(|(_, k)| k).collect();
        self.summary.evicted += keys.len() as u64;
        self.finalize_keys(keys)
    }

    /// Records a capture file that ended in an error.
    pub fn read_error(&mut self, message: String) {
        self.summary.read_errors.push(message);
    }

    /// Writes every connection still open and closes the output.
    pub fn finish(mut self) -> Result<Summary, DatasetError> {
        let keys: Vec<_> = self.table.keys().copied().collect();
        self.finalize_keys(keys)?;
        self.writer.finish()?;
        Ok(self.summary)
    }
}

/// Exports the samples of `files` (read in order, as one capture) into `out`.
///
/// Every file is opened before anything is written, so a missing file fails cleanly. A
/// file that is damaged part-way contributes the frames before the damage; the error is
/// listed in [`Summary::read_errors`].
pub fn export(files: &[PathBuf], out: &Path, settings: Settings) -> Result<Summary, DatasetError> {
    let mut opened = Vec::with_capacity(files.len());
    for path in files {
        opened.push(PcapFile::open(path)?);
    }
    let mut export = Export::create(out, settings)?;
    let mut data = Vec::with_capacity(65_536);
    for mut file in opened {
        loop {
            match file.next_frame(&mut data) {
                Ok(Some(meta)) => export.frame(&meta, &data)?,
                Ok(None) => break,
                Err(err) => {
                    export.read_error(err.to_string());
                    break;
                }
            }
        }
    }
    export.finish()
}
