//! Sample files: classic pcap with nanosecond timestamps and the raw-IP link type, one
//! per connection or one for all, plus the index CSV.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use netsensor_schema::time::format_rfc3339;

use super::conn::Kept;
use super::DatasetError;

/// pcap magic for nanosecond timestamps.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_RAW: each record is an IPv4 or IPv6 packet.
const LINKTYPE_RAW: u32 = 101;
/// Snap length written in the header (no packet is cut).
const SNAPLEN: u32 = 262_144;
/// Name of the index in the output directory.
pub const INDEX_FILE: &str = "index.csv";
/// Name of the capture with every sample under `--single-file`.
pub const SINGLE_FILE: &str = "samples.pcap";
/// Header line of the index.
pub const INDEX_HEADER: &str =
    "id,file,first_frame,first_timestamp,packets,server_port,service,gap\n";

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Connection id: a sequence number, unrelated to the addresses.
    pub id: String,
    /// Capture file name in the output directory.
    pub file: String,
    /// 1-based frame number of the sample's first packet in that file.
    pub first_frame: u64,
    /// The connection's first packet time, nanoseconds since the epoch.
    pub first_ns: i64,
    /// Packets in the sample.
    pub packets: usize,
    /// The responder's port (the original, not the zeroed one).
    pub server_port: u16,
    /// IANA service name of the server port, if any.
    pub service: Option<&'static str>,
    /// The connection had a gap.
    pub gap: bool,
}

/// Where samples go.
pub struct SampleWriter {
    dir: PathBuf,
    index: BufWriter<File>,
    single: Option<(BufWriter<File>, u64)>,
    next_id: u64,
}

impl std::fmt::Debug for SampleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleWriter")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, DatasetError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(io_error(path))
}

fn pcap_header() -> [u8; 24] {
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    header
}

fn write_record(out: &mut impl Write, kept: &Kept) -> std::io::Result<()> {
    let secs = kept.timestamp_ns.div_euclid(1_000_000_000);
    let nanos = kept.timestamp_ns.rem_euclid(1_000_000_000);
    let len = u32::try_from(kept.packet.len()).unwrap_or(u32::MAX);
    out.write_all(&u32::try_from(secs).unwrap_or(0).to_le_bytes())?;
    out.write_all(&u32::try_from(nanos).unwrap_or(0).to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&kept.packet)
}

impl SampleWriter {
    /// Creates the output directory (which must be empty or absent) and the index.
    pub fn create(dir: &Path, single_file: bool) -> Result<Self, DatasetError> {
        if let Ok(mut entries) = std::fs::read_dir(dir) {
            if entries.next().is_some() {
                return Err(DatasetError::NotEmpty(dir.to_path_buf()));
            }
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let index_path = dir.join(INDEX_FILE);
        let mut index = create(&index_path)?;
        index
            .write_all(INDEX_HEADER.as_bytes())
            .map_err(io_error(&index_path))?;
        let single = if single_file {
            let path = dir.join(SINGLE_FILE);
            let mut out = create(&path)?;
            out.write_all(&pcap_header()).map_err(io_error(&path))?;
            Some((out, 0))
        } else {
            None
        };
        Ok(SampleWriter {
            dir: dir.to_path_buf(),
            index,
            single,
            next_id: 1,
        })
    }

    /// Writes one sample and its index row; returns the row.
    pub fn write(
        &mut self,
        sample: &[Kept],
        first_ns: i64,
        server_port: u16,
        service: Option<&'static str>,
        gap: bool,
    ) -> Result<IndexRow, DatasetError> {
        let id = format!("{:06}", self.next_id);
        self.next_id += 1;
        let (file, first_frame) = match &mut self.single {
            Some((out, frames)) => {
                let path = self.dir.join(SINGLE_FILE);
                for kept in sample {
                    write_record(out, kept).map_err(io_error(&path))?;
                }
                let first = *frames + 1;
                *frames += sample.len() as u64;
                (SINGLE_FILE.to_owned(), first)
            }
            None => {
                let name = format!("{id}.pcap");
                let path = self.dir.join(&name);
                let mut out = create(&path)?;
                let result = out.write_all(&pcap_header()).and_then(|()| {
                    sample
                        .iter()
                        .try_for_each(|kept| write_record(&mut out, kept))
                });
                result.and_then(|()| out.flush()).map_err(io_error(&path))?;
                (name, 1)
            }
        };
        let row = IndexRow {
            id,
            file,
            first_frame,
            first_ns,
            packets: sample.len(),
            server_port,
            service,
            gap,
        };
        let line = format!(
            "{},{},{},{},{},{},{},{}\n",
            row.id,
            row.file,
            row.first_frame,
            format_rfc3339(row.first_ns),
            row.packets,
            row.server_port,
            row.service.unwrap_or(""),
            row.gap
        );
        let index_path = self.dir.join(INDEX_FILE);
        self.index
            .write_all(line.as_bytes())
            .map_err(io_error(&index_path))?;
        Ok(row)
    }

    /// Flushes the index and the single capture.
    pub fn finish(mut self) -> Result<(), DatasetError> {
        let index_path = self.dir.join(INDEX_FILE);
        self.index.flush().map_err(io_error(&index_path))?;
        if let Some((mut out, _)) = self.single.take() {
            let path = self.dir.join(SINGLE_FILE);
            out.flush().map_err(io_error(&path))?;
        }
        Ok(())
    }
}
