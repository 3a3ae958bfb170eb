//! Pure-Rust reader for pcap and pcapng capture files (no libpcap).
//!
//! Offline replay has to stream files of any size through a bounded buffer, must never panic on
//! a damaged file, and has to say exactly where a file is damaged: every complete record is
//! returned, then one error naming the file and the byte offset of the bad record. Frame numbers,
//! lengths and timestamps agree with tshark's `frame.number`, `frame.len`, `frame.cap_len` and
//! `frame.time_epoch` (the tests compare them for every fixture).
//!
//! Policies for odd records:
//! - captured length > wire length: the bytes are kept and the wire length is raised to the
//!   captured length, so `cap_len <= wire_len` always holds downstream (tshark keeps both);
//! - captured length > max(snap length, 256 KiB): `Corrupt` (tshark refuses these as well); a
//!   captured length between the snap length and 256 KiB is accepted, as many writers record a
//!   wrong snap length;
//! - records are never longer than [`MAX_RECORD_BYTES`]; the buffer grows up to that and a longer
//!   (or longer than the rest of the file) record is `Corrupt`;
//! - pcapng Simple Packet Blocks have no timestamp: `timestamp_ns` is 0 (tshark shows none);
//! - blocks that are not packets (NRB, ISB, DSB, custom, systemd journal, unknown) are skipped;
//!   custom and systemd journal blocks still use up a frame number, because tshark shows them as
//!   frames and `FrameMeta::number` follows tshark's `frame.number`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{
    create_reader, Block, EnhancedPacketBlock, InterfaceDescriptionBlock, OptionCode,
    PcapBlockOwned, PcapError, PcapHeader, SimplePacketBlock, UnknownBlock, SHB_MAGIC,
};

use super::{FrameMeta, LinkType};

/// Initial size of the streaming buffer; it grows for larger records.
const INITIAL_BUFFER_BYTES: usize = 256 * 1024;
/// Largest record (pcap record or pcapng block) accepted, and so the largest buffer used.
pub const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;
/// Captured lengths up to this are accepted whatever the snap length says (Wireshark's
/// `WTAP_MAX_PACKET_SIZE_STANDARD`).
const STANDARD_MAX_CAPLEN: u32 = 262_144;
/// How much of the file's start feeds [`PcapFile::identity`].
const IDENTITY_PREFIX_BYTES: u64 = 64 * 1024;
/// pcapng block type of the obsolete Packet Block.
const OBSOLETE_PACKET_BLOCK: u32 = 2;
/// Length of a pcap file header.
const PCAP_HEADER_BYTES: u64 = 24;

/// Why a capture file could not be read (to the end).
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The file could not be opened or its size read.
    #[error("cannot open capture file {}: {source}", path.display())]
    Open {
        /// File that was opened.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error("{} is not a pcap or pcapng capture file (unknown magic number)", path.display())]
    NotACapture {
        /// File that was read.
        path: PathBuf,
    },
    /// The file is damaged at `offset`; every record before it has been returned.
    #[error("corrupt capture file {} at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// File that was read.
        path: PathBuf,
        /// Byte offset of the record (or header) that is damaged.
        offset: u64,
        /// What is wrong, e.g. "truncated record: ...".
        reason: String,
    },
    /// Reading the file failed.
    #[error("cannot read capture file {} at byte offset {offset}: {source}", path.display())]
    Io {
        /// File that was read.
        path: PathBuf,
        /// Byte offset of the record being read.
        offset: u64,
        /// Underlying error.
        source: io::Error,
    },
}

/// One open pcap or pcapng capture file, read record by record.
///
/// After the end of the file or after an error, [`PcapFile::next_frame`] returns `Ok(None)`.
pub struct PcapFile {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Last I/O error of the underlying file (pcap-parser only reports that one happened).
    read_error: Arc<Mutex<Option<io::Error>>>,
    state: State,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("path", &self.state.path)
            .field("offset", &self.state.offset)
            .field("frames", &self.state.frames)
            .finish_non_exhaustive()
    }
}

/// Everything but the parser, so a parsed block (which borrows the parser) can update it.
struct State {
    path: PathBuf,
    format: Format,
    /// File offset of the next record (bytes consumed so far).
    offset: u64,
    file_size: u64,
    identity: u64,
    buffer_capacity: usize,
    /// Frame numbers handed out so far.
    frames: u64,
    finished: bool,
}

enum Format {
    Pcap(Option<PcapInfo>),
    PcapNg(Section),
}

struct PcapInfo {
    link: LinkType,
    snaplen: u32,
    nanoseconds: bool,
    big_endian: bool,
    /// Record header length: 16, or 24 in the "modified" (Kuznetzov) format.
    record_header: u64,
}

#[derive(Default)]
struct Section {
    big_endian: bool,
    interfaces: Vec<Interface>,
}

struct Interface {
    link: LinkType,
    snaplen: u32,
    resolution: TsResolution,
    /// `if_tsoffset`, in nanoseconds.
    offset_ns: i128,
}

/// Converts pcapng timestamp ticks to nanoseconds (`if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsResolution {
    /// 10^-n seconds with n <= 9: multiply by 10^(9-n).
    Multiply(u64),
    /// 10^-n seconds with n > 9: divide by 10^(n-9).
    Divide(u128),
    /// 2^-n seconds.
    Binary(u32),
}

impl TsResolution {
    /// Decodes an `if_tsresol` byte: high bit set means a power of two, else a power of ten.
    fn from_tsresol(raw: u8) -> Self {
        let exponent = u32::from(raw & 0x7f);
        if raw & 0x80 != 0 {
            TsResolution::Binary(exponent)
        } else if let Some(up) = 9u32.checked_sub(exponent) {
            TsResolution::Multiply(10u64.pow(up))
        } else {
            // 10^38 is the largest power of ten in a u128; beyond that every tick count is 0 ns.
            TsResolution::Divide(10u128.checked_pow(exponent - 9).unwrap_or(u128::MAX))
        }
    }

    fn to_ns(self, ticks: u64) -> i128 {
        match self {
            TsResolution::Multiply(m) => i128::from(ticks) * i128::from(m),
            TsResolution::Divide(d) => i128::try_from(u128::from(ticks) / d).unwrap_or(0),
            TsResolution::Binary(e) => {
                let scaled = u128::from(ticks) * 1_000_000_000;
                i128::try_from(scaled.checked_shr(e).unwrap_or(0)).unwrap_or(i128::MAX)
            }
        }
    }
}

fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// What the parser said, without borrowing it.
enum ParseFailure {
    Eof,
    NeedMore { buffer_too_small: bool },
    UnexpectedEof,
    ReadError,
    Malformed(String),
}

impl ParseFailure {
    fn from_error(error: &PcapError<&[u8]>) -> Self {
        match error {
            PcapError::Eof => ParseFailure::Eof,
            PcapError::Incomplete(_) => ParseFailure::NeedMore {
                buffer_too_small: false,
            },
            PcapError::BufferTooSmall => ParseFailure::NeedMore {
                buffer_too_small: true,
            },
            PcapError::UnexpectedEof => ParseFailure::UnexpectedEof,
            PcapError::ReadError => ParseFailure::ReadError,
            PcapError::HeaderNotRecognized => {
                ParseFailure::Malformed("header not recognized".to_owned())
            }
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                ParseFailure::Malformed(format!("malformed record ({kind:?} check failed)"))
            }
        }
    }
}

/// The file, read in whole-buffer chunks; remembers the I/O error that pcap-parser drops.
struct FileSource {
    file: File,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..) {
            if rest.is_empty() {
                break;
            }
            match self.file.read(rest) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = e.kind();
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return Err(io::Error::from(kind));
                }
            }
        }
        Ok(filled)
    }
}

impl PcapFile {
    /// Opens a pcap or pcapng file and checks its header.
    ///
    /// Reads the first 64 KiB once to compute [`PcapFile::identity`].
    pub fn open(path: &Path) -> Result<PcapFile, OfflineError> {
        let open_error = |source| OfflineError::Open {
            path: path.to_path_buf(),
            source,
        };
        let io_error = |source| OfflineError::Io {
            path: path.to_path_buf(),
            offset: 0,
            source,
        };
        let corrupt = |reason: String| OfflineError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason,
        };
        let mut file = File::open(path).map_err(open_error)?;
        let file_size = file.metadata().map_err(open_error)?.len();

        let mut prefix = Vec::new();
        (&mut file)
            .take(IDENTITY_PREFIX_BYTES)
            .read_to_end(&mut prefix)
            .map_err(io_error)?;
        let identity = content_identity(&prefix, file_size);

        let magic = match prefix.get(..4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => {
                return Err(OfflineError::NotACapture {
                    path: path.to_path_buf(),
                })
            }
        };
        let (format, capacity) = match magic {
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 => {
                if file_size < PCAP_HEADER_BYTES {
                    return Err(corrupt(format!(
                        "truncated file header ({file_size} of {PCAP_HEADER_BYTES} bytes)"
                    )));
                }
                (Format::Pcap(None), INITIAL_BUFFER_BYTES)
            }
            SHB_MAGIC => {
                let shb_len = section_header_len(&prefix)
                    .ok_or_else(|| corrupt("truncated section header block".to_owned()))?;
                if shb_len > file_size {
                    return Err(corrupt(format!(
                        "truncated section header block (declares {shb_len} bytes, the file has \
                         {file_size})"
                    )));
                }
                if shb_len > MAX_RECORD_BYTES {
                    return Err(corrupt(format!(
                        "section header block of {shb_len} bytes exceeds the \
                         {MAX_RECORD_BYTES}-byte limit"
                    )));
                }
                let needed = usize::try_from(shb_len + 1).unwrap_or(usize::MAX);
                (
                    Format::PcapNg(Section::default()),
                    INITIAL_BUFFER_BYTES.max(needed),
                )
            }
            _ => {
                return Err(OfflineError::NotACapture {
                    path: path.to_path_buf(),
                })
            }
        };

        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let read_error = Arc::new(Mutex::new(None));
        let source = FileSource {
            file,
            error: Arc::clone(&read_error),
        };
        let reader = match create_reader(capacity, source) {
            Ok(reader) => reader,
            Err(PcapError::ReadError) => {
                let source = take_io_error(&read_error);
                return Err(io_error(source));
            }
            Err(e) => return Err(corrupt(format!("unreadable file header: {e}"))),
        };
        Ok(PcapFile {
            reader,
            read_error,
            state: State {
                path: path.to_path_buf(),
                format,
                offset: 0,
                file_size,
                identity,
                buffer_capacity: capacity,
                frames: 0,
                finished: false,
            },
        })
    }

    /// Reads the next packet into `data` (cleared, capacity reused — no allocation per packet once
    /// warm) and returns its metadata; `Ok(None)` at a clean end of file.
    ///
    /// A record cut by the end of the file is `Corrupt` with the record's offset; all complete
    /// records before it have been returned. After an error, later calls return `Ok(None)`.
    pub fn next_frame(&mut self, data: &mut Vec<u8>) -> Result<Option<FrameMeta>, OfflineError> {
        data.clear();
        self.append_frame(data)
    }

    /// Like [`PcapFile::next_frame`], but appends the packet's bytes to `data` (the frame is
    /// `data[old length..]`), so a reader filling a batch copies each frame once; `data`
    /// is left as it was when no frame is returned.
    pub fn append_frame(&mut self, data: &mut Vec<u8>) -> Result<Option<FrameMeta>, OfflineError> {
        let start = data.len();
        if self.state.finished {
            return Ok(None);
        }
        let result = self.read_frame(data);
        if !matches!(result, Ok(Some(_))) {
            self.state.finished = true;
            data.truncate(start);
        }
        result
    }

    /// Byte offset in the file of the record that will be read next.
    pub fn offset(&self) -> u64 {
        self.state.offset
    }

    /// Stable identity of the file's content for deterministic record ids: xxh3-64 of the first
    /// 64 KiB of the file followed by the file size as 8 little-endian bytes. Not the path, not
    /// the modification time.
    pub fn identity(&self) -> u64 {
        self.state.identity
    }

    /// Path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.state.path
    }

    fn read_frame(&mut self, data: &mut Vec<u8>) -> Result<Option<FrameMeta>, OfflineError> {
        let mut stalls = 0u32;
        loop {
            let (consumed, outcome) = match self.reader.next() {
                Ok((consumed, block)) => (consumed, self.state.handle_block(block, data)),
                Err(e) => {
                    let failure = ParseFailure::from_error(&e);
                    match failure {
                        ParseFailure::Eof => return Ok(None),
                        ParseFailure::NeedMore { buffer_too_small } => {
                            self.need_more(buffer_too_small, &mut stalls)?;
                            continue;
                        }
                        ParseFailure::UnexpectedEof => {
                            let available = self.reader.data().len();
                            if available == 0 {
                                return Ok(None);
                            }
                            let declared = self.state.declared_len(self.reader.data());
                            return Err(self.state.truncated(declared, available as u64));
                        }
                        ParseFailure::ReadError => {
                            let source = take_io_error(&self.read_error);
                            return Err(self.state.io(source));
                        }
                        ParseFailure::Malformed(reason) => {
                            return Err(self.state.corrupt(reason));
                        }
                    }
                }
            };
            stalls = 0;
            if consumed == 0 {
                return Err(self.state.corrupt("parser made no progress".to_owned()));
            }
            let frame = outcome?;
            // No shift of the unread bytes to the buffer's start after each record (that
            // copied the whole file once more, a third of the reader's work): the refill
            // before a read moves only the partial record left.
            self.reader.consume_noshift(consumed);
            self.state.offset += consumed as u64;
            if let Some(meta) = frame {
                return Ok(Some(meta));
            }
        }
    }

    /// The parser needs more bytes than the buffer holds: grow the buffer if the record is too big
    /// for it (within limits), then read more of the file.
    fn need_more(&mut self, buffer_too_small: bool, stalls: &mut u32) -> Result<(), OfflineError> {
        let available = self.reader.data().len() as u64;
        let declared = self.state.declared_len(self.reader.data());
        if let Some(len) = declared {
            if len <= available {
                return Err(self.state.corrupt(format!(
                    "malformed record: its contents overrun its declared length of {len} bytes"
                )));
            }
            self.state.check_record_limits(self.reader.data())?;
        }
        if buffer_too_small {
            let capacity = self.state.buffer_capacity as u64;
            let wanted = match declared {
                // pcap-parser wants strictly more room than the record takes.
                Some(len) => len + 1,
                None => capacity.saturating_mul(2),
            };
            let remaining = self.state.remaining_in_file();
            if declared.map_or(capacity > remaining, |len| len > remaining) {
                return Err(self.state.truncated(declared, remaining));
            }
            if wanted > MAX_RECORD_BYTES + 1 {
                return Err(self.state.corrupt(format!(
                    "record of {} bytes exceeds the {MAX_RECORD_BYTES}-byte limit",
                    declared.unwrap_or(wanted)
                )));
            }
            let wanted = usize::try_from(wanted)
                .unwrap_or(usize::MAX)
                .max(self.state.buffer_capacity.saturating_add(1));
            if !self.reader.grow(wanted) {
                return Err(self.state.corrupt("cannot grow the read buffer".to_owned()));
            }
            self.state.buffer_capacity = wanted;
        }
        if self.reader.refill().is_err() {
            let source = take_io_error(&self.read_error);
            return Err(self.state.io(source));
        }
        if self.reader.data().len() as u64 == available && !self.reader.reader_exhausted() {
            *stalls += 1;
            if *stalls > 3 {
                return Err(self.state.corrupt("reader made no progress".to_owned()));
            }
        }
        Ok(())
    }
}

impl State {
    /// Turns one parsed block into a frame (copied into `data`), or `None` for other blocks.
    fn handle_block(
        &mut self,
        block: PcapBlockOwned<'_>,
        data: &mut Vec<u8>,
    ) -> Result<Option<FrameMeta>, OfflineError> {
        match (&mut self.format, block) {
            (Format::Pcap(info), PcapBlockOwned::LegacyHeader(header)) => {
                *info = Some(pcap_info(&header));
                Ok(None)
            }
            (Format::Pcap(Some(info)), PcapBlockOwned::Legacy(record)) => {
                let snaplen = info.snaplen;
                let link = info.link;
                let frac_ns = if info.nanoseconds { 1 } else { 1_000 };
                let ns = i128::from(record.ts_sec) * 1_000_000_000
                    + i128::from(record.ts_usec) * frac_ns;
                self.check_caplen(record.caplen, snaplen)?;
                let Some(bytes) = record.data.get(..record.caplen as usize) else {
                    return Err(self.corrupt("record shorter than its captured length".to_owned()));
                };
                data.extend_from_slice(bytes);
                Ok(Some(self.frame(ns, record.origlen, record.caplen, link)))
            }
            (Format::PcapNg(section), PcapBlockOwned::NG(block)) => match block {
                Block::SectionHeader(shb) => {
                    section.big_endian = shb.big_endian();
                    section.interfaces.clear();
                    Ok(None)
                }
                Block::InterfaceDescription(idb) => {
                    let interface = interface_from_idb(&idb, section.big_endian);
                    section.interfaces.push(interface);
                    Ok(None)
                }
                Block::EnhancedPacket(epb) => self.enhanced_packet(&epb, data),
                Block::SimplePacket(spb) => self.simple_packet(&spb, data),
                // pcap-parser keeps the block type of unknown blocks as read little-endian.
                Block::Unknown(unknown)
                    if swap_if(section.big_endian, unknown.block_type) == OBSOLETE_PACKET_BLOCK =>
                {
                    self.obsolete_packet(&unknown, data)
                }
                // tshark shows these as (non-packet) frames: keep its numbering.
                Block::SystemdJournalExport(_) | Block::Custom(_) => {
                    self.frames += 1;
                    Ok(None)
                }
                _ => Ok(None),
            },
            _ => Err(self.corrupt("record of the wrong file format".to_owned())),
        }
    }

    fn enhanced_packet(
        &mut self,
        epb: &EnhancedPacketBlock<'_>,
        data: &mut Vec<u8>,
    ) -> Result<Option<FrameMeta>, OfflineError> {
        let (link, snaplen, ns) = {
            let interface = self.interface(epb.if_id)?;
            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let ns = interface.resolution.to_ns(ticks) + interface.offset_ns;
            (interface.link, interface.snaplen, ns)
        };
        self.check_caplen(epb.caplen, snaplen)?;
        let Some(bytes) = epb.data.get(..epb.caplen as usize) else {
            return Err(
                self.corrupt("enhanced packet block shorter than its captured length".into())
            );
        };
        data.extend_from_slice(bytes);
        Ok(Some(self.frame(ns, epb.origlen, epb.caplen, link)))
    }

    fn simple_packet(
        &mut self,
        spb: &SimplePacketBlock<'_>,
        data: &mut Vec<u8>,
    ) -> Result<Option<FrameMeta>, OfflineError> {
        let (link, snaplen) = {
            let interface = self.interface(0)?;
            (interface.link, interface.snaplen)
        };
        // The captured length is the packet length cut to the interface's snap length.
        let caplen = if snaplen != 0 {
            spb.origlen.min(snaplen)
        } else {
            spb.origlen
        };
        self.check_caplen(caplen, snaplen)?;
        let Some(bytes) = spb.data.get(..caplen as usize) else {
            return Err(self.corrupt("simple packet block shorter than its packet length".into()));
        };
        data.extend_from_slice(bytes);
        Ok(Some(self.frame(0, spb.origlen, caplen, link)))
    }

    /// Obsolete Packet Block (type 2): interface u16, drops u16, timestamp (2 x u32), captured
    /// length, packet length, data, options.
    fn obsolete_packet(
        &mut self,
        block: &UnknownBlock<'_>,
        data: &mut Vec<u8>,
    ) -> Result<Option<FrameMeta>, OfflineError> {
        let big_endian = match &self.format {
            Format::PcapNg(section) => section.big_endian,
            Format::Pcap(_) => false,
        };
        let body = block.data;
        let u16_at = |at: usize| -> Option<u16> {
            let b: [u8; 2] = body.get(at..at + 2)?.try_into().ok()?;
            Some(if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let u32_at = |at: usize| -> Option<u32> {
            let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let fields = (|| Some((u16_at(0)?, u32_at(4)?, u32_at(8)?, u32_at(12)?, u32_at(16)?)))();
        let Some((if_id, ts_high, ts_low, caplen, origlen)) = fields else {
            return Err(self.corrupt("packet block too short for its header".to_owned()));
        };
        let (link, snaplen, ns) = {
            let interface = self.interface(u32::from(if_id))?;
            let ticks = (u64::from(ts_high) << 32) | u64::from(ts_low);
            (
                interface.link,
                interface.snaplen,
                interface.resolution.to_ns(ticks) + interface.offset_ns,
            )
        };
        self.check_caplen(caplen, snaplen)?;
        let bytes = (caplen as usize)
            .checked_add(20)
            .and_then(|end| body.get(20..end));
        let Some(bytes) = bytes else {
            return Err(self.corrupt("packet block shorter than its captured length".to_owned()));
        };
        data.extend_from_slice(bytes);
        Ok(Some(self.frame(ns, origlen, caplen, link)))
    }

    fn interface(&self, if_id: u32) -> Result<&Interface, OfflineError> {
        let interfaces = match &self.format {
            Format::PcapNg(section) => section.interfaces.as_slice(),
            Format::Pcap(_) => &[],
        };
        interfaces.get(if_id as usize).ok_or_else(|| {
            self.corrupt(format!(
                "packet on interface {if_id}, but the section declares {} interface(s)",
                interfaces.len()
            ))
        })
    }

    fn check_caplen(&self, caplen: u32, snaplen: u32) -> Result<(), OfflineError> {
        let limit = snaplen.max(STANDARD_MAX_CAPLEN);
        if caplen > limit {
            return Err(self.corrupt(format!(
                "captured length {caplen} exceeds the snapshot length {snaplen} (limit {limit})"
            )));
        }
        Ok(())
    }

    /// Counts a frame and builds its metadata (wire length raised to the captured length).
    fn frame(
        &mut self,
        timestamp_ns: i128,
        wire_len: u32,
        cap_len: u32,
        link: LinkType,
    ) -> FrameMeta {
        self.frames += 1;
        FrameMeta {
            timestamp_ns: saturate_i64(timestamp_ns),
            wire_len: wire_len.max(cap_len),
            cap_len,
            link,
            number: self.frames,
        }
    }

    /// Total length of the record starting at `data`, from its header, if enough is buffered.
    fn declared_len(&self, data: &[u8]) -> Option<u64> {
        match &self.format {
            Format::Pcap(Some(info)) => {
                let caplen = read_u32(data, 8, info.big_endian)?;
                Some(info.record_header + u64::from(caplen))
            }
            Format::Pcap(None) => Some(PCAP_HEADER_BYTES),
            Format::PcapNg(section) => {
                if read_u32(data, 0, false)? == SHB_MAGIC {
                    section_header_len(data)
                } else {
                    read_u32(data, 4, section.big_endian).map(u64::from)
                }
            }
        }
    }

    /// Rejects a buffered, incomplete record whose header already breaks the limits.
    fn check_record_limits(&self, data: &[u8]) -> Result<(), OfflineError> {
        if let Format::Pcap(Some(info)) = &self.format {
            if let Some(caplen) = read_u32(data, 8, info.big_endian) {
                self.check_caplen(caplen, info.snaplen)?;
            }
        }
        Ok(())
    }

    fn remaining_in_file(&mut self) -> u64 {
        // The file may have grown since it was opened; look again before calling it truncated.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            self.file_size = self.file_size.max(meta.len());
        }
        self.file_size.saturating_sub(self.offset)
    }

    fn truncated(&self, declared: Option<u64>, present: u64) -> OfflineError {
        let reason = match declared {
            Some(len) => format!(
                "truncated record: it declares {len} bytes but only {present} remain in the file"
            ),
            None => format!("truncated record: only {present} bytes remain in the file"),
        };
        self.corrupt(reason)
    }

    fn corrupt(&self, reason: String) -> OfflineError {
        OfflineError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            reason,
        }
    }

    fn io(&self, source: io::Error) -> OfflineError {
        OfflineError::Io {
            path: self.path.clone(),
            offset: self.offset,
            source,
        }
    }
}

fn pcap_info(header: &PcapHeader) -> PcapInfo {
    // The upper bits of the link-type field carry FCS information (LT_LINKTYPE in libpcap).
    let linktype = (header.network.0 as u32) & 0xffff;
    PcapInfo {
        link: LinkType::from_linktype(linktype),
        snaplen: header.snaplen,
        nanoseconds: header.is_nanosecond_precision(),
        big_endian: header.is_bigendian(),
        record_header: if header.is_modified_format() { 24 } else { 16 },
    }
}

fn interface_from_idb(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> Interface {
    // pcap-parser decodes if_tsoffset as little-endian even in big-endian sections, so read
    // both options here.
    let mut tsresol = None;
    let mut tsoffset = None;
    for option in &idb.options {
        let value = option.value();
        if option.code == OptionCode::IfTsresol && tsresol.is_none() {
            tsresol = value.first().copied();
        } else if option.code == OptionCode::IfTsoffset && tsoffset.is_none() {
            tsoffset = value
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(|b| {
                    if big_endian {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    }
                });
        }
    }
    Interface {
        link: LinkType::from_linktype(u32::from(idb.linktype.0 as u16)),
        snaplen: idb.snaplen,
        resolution: TsResolution::from_tsresol(tsresol.unwrap_or(6)),
        offset_ns: i128::from(tsoffset.unwrap_or(0)) * 1_000_000_000,
    }
}

/// Total length of the Section Header Block at the start of `data` (its own byte order).
fn section_header_len(data: &[u8]) -> Option<u64> {
    let big_endian = match read_u32(data, 8, false)? {
        0x1a2b_3c4d => false,
        0x4d3c_2b1a => true,
        _ => return None,
    };
    read_u32(data, 4, big_endian).map(u64::from)
}

fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// `value` read little-endian, converted to the section's byte order.
fn swap_if(big_endian: bool, value: u32) -> u32 {
    if big_endian {
        value.swap_bytes()
    } else {
        value
    }
}

fn content_identity(prefix: &[u8], file_size: u64) -> u64 {
    let mut input = Vec::with_capacity(prefix.len() + 8);
    input.extend_from_slice(prefix);
    input.extend_from_slice(&file_size.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&input)
}

fn take_io_error(slot: &Mutex<Option<io::Error>>) -> io::Error {
    slot.lock()
        .ok()
        .and_then(|mut error| error.take())
        .unwrap_or_else(|| io::Error::other("read failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dev/fixtures/pcaps")
    }

    fn fixture(name: &str) -> PathBuf {
        fixtures_dir().join(name)
    }

    /// One frame as tshark sees it.
    #[derive(Debug)]
    struct Expected {
        number: u64,
        timestamp_ns: i64,
        wire_len: u32,
        cap_len: u32,
        linktype: u32,
    }

    /// Wireshark's WTAP_ENCAP_* → pcap LINKTYPE_* for the encapsulations in the tests (from
    /// wiretap/pcap-common.c; each pair is confirmed by the DLT column of MANIFEST.tsv).
    fn wtap_encap_to_linktype(encap: i64) -> u32 {
        match encap {
            1 => 1,     // ETHERNET
            7 => 101,   // RAW_IP
            15 => 0,    // NULL
            25 => 113,  // SLL
            129 => 228, // RAW_IP4
            210 => 276, // SLL2
            other => panic!("add WTAP_ENCAP {other} to the test table"),
        }
    }

    /// "1335958313.152630000" → ns, exactly; no time (a pcapng Simple Packet Block) → 0.
    fn parse_epoch_ns(text: &str) -> i64 {
        if text.is_empty() {
            return 0;
        }
        let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
        assert!(frac.len() <= 9, "unexpected time format {text}");
        let frac_ns: i64 = format!("{frac:0<9}").parse().unwrap();
        secs.parse::<i64>().unwrap() * 1_000_000_000 + frac_ns
    }

    /// tshark's packet frames. tshark also numbers some non-packet records (pcapng custom
    /// blocks); those rows have no encapsulation and are left out, keeping the numbering.
    fn tshark_frames(path: &Path) -> Vec<Expected> {
        let output = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(path)
            .args(["-T", "fields", "-E", "separator=/t"])
            .args([
                "-e",
                "frame.number",
                "-e",
                "frame.time_epoch",
                "-e",
                "frame.len",
            ])
            .args(["-e", "frame.cap_len", "-e", "frame.encap_type"])
            .output()
            .expect("tshark must be installed to run these tests");
        assert!(
            output.status.success(),
            "tshark failed on {}: {output:?}",
            path.display()
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 5, "tshark line {line:?}");
                if f[4].is_empty() {
                    return None;
                }
                Some(Expected {
                    number: f[0].parse().unwrap(),
                    timestamp_ns: parse_epoch_ns(f[1]),
                    wire_len: f[2].parse().unwrap(),
                    cap_len: f[3].parse().unwrap(),
                    linktype: wtap_encap_to_linktype(f[4].parse().unwrap()),
                })
            })
            .collect()
    }

    /// Frames read (metadata and bytes) and how reading ended.
    type ReadAll = (Vec<(FrameMeta, Vec<u8>)>, Result<(), OfflineError>);

    /// Reads a whole file; returns the frames and how reading ended.
    fn read_all(path: &Path) -> ReadAll {
        let mut file = match PcapFile::open(path) {
            Ok(file) => file,
            Err(e) => return (Vec::new(), Err(e)),
        };
        let mut frames = Vec::new();
        let mut data = Vec::new();
        loop {
            assert!(frames.len() < 1_000_000, "reader does not terminate");
            match file.next_frame(&mut data) {
                Ok(Some(meta)) => {
                    assert_eq!(meta.cap_len as usize, data.len());
                    assert!(meta.cap_len <= meta.wire_len);
                    frames.push((meta, data.clone()));
                }
                Ok(None) => return (frames, Ok(())),
                Err(e) => {
                    assert!(data.is_empty());
                    // Fused: nothing more after an error.
                    assert!(matches!(file.next_frame(&mut data), Ok(None)));
                    return (frames, Err(e));
                }
            }
        }
    }

    fn assert_matches_tshark(path: &Path) -> usize {
        let expected = tshark_frames(path);
        let (frames, end) = read_all(path);
        if let Err(e) = end {
            panic!("{}: {e}", path.display());
        }
        assert_eq!(
            frames.len(),
            expected.len(),
            "frame count of {}",
            path.display()
        );
        for ((meta, _), want) in frames.iter().zip(&expected) {
            let at = format!("{} frame {}", path.display(), want.number);
            assert_eq!(meta.number, want.number, "{at}: number");
            assert_eq!(meta.timestamp_ns, want.timestamp_ns, "{at}: timestamp");
            // Documented policy: wire length is raised to the captured length.
            assert_eq!(
                meta.wire_len,
                want.wire_len.max(want.cap_len),
                "{at}: wire length"
            );
            assert_eq!(meta.cap_len, want.cap_len, "{at}: captured length");
            assert_eq!(
                meta.link,
                LinkType::from_linktype(want.linktype),
                "{at}: link type"
            );
        }
        frames.len()
    }

    #[test]
    fn every_fixture_matches_tshark() {
        let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
            .collect();
        names.sort();
        for required in [
            "pcap-bigendian-icmp.pcap",
            "pcap-nanosecond-sll-tcp.pcap",
            "pcapng-multi-interface-dns.pcapng",
            "mixed-linktypes.pcapng",
        ] {
            assert!(
                names.iter().any(|n| n == required),
                "fixture {required} missing"
            );
        }
        for name in &names {
            let count = assert_matches_tshark(&fixture(name));
            assert!(count > 0, "{name} has no frames");
        }
    }

    #[test]
    fn mixed_linktypes_fixture_has_three_link_types() {
        let (frames, end) = read_all(&fixture("mixed-linktypes.pcapng"));
        end.unwrap();
        let mut links: Vec<LinkType> = frames.iter().map(|(m, _)| m.link).collect();
        links.dedup();
        assert_eq!(
            links,
            [LinkType::LinuxSll, LinkType::Ethernet, LinkType::Raw]
        );
    }

    #[test]
    fn frame_bytes_match_tshark_hex_dump() {
        // The data itself, not only the lengths: compare with tshark's frame bytes.
        for name in ["pcap-bigendian-icmp.pcap", "mixed-linktypes.pcapng"] {
            let path = fixture(name);
            let output = Command::new("tshark")
                .args(["-n", "-x", "-r"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(output.status.success());
            let dumps = parse_hex_dumps(&String::from_utf8(output.stdout).unwrap());
            let (frames, end) = read_all(&path);
            end.unwrap();
            assert_eq!(frames.len(), dumps.len());
            for ((meta, data), dump) in frames.iter().zip(&dumps) {
                assert_eq!(data, dump, "{name} frame {}", meta.number);
            }
        }
    }

    /// Parses `tshark -x` output: one hex dump per frame, separated by blank lines.
    fn parse_hex_dumps(text: &str) -> Vec<Vec<u8>> {
        let mut dumps = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                if !current.is_empty() {
                    dumps.push(std::mem::take(&mut current));
                }
                continue;
            }
            // "0000  45 00 00 54 ...   E..T" : offset, two spaces, up to 16 hex bytes.
            let Some((_, rest)) = line.split_once("  ") else {
                continue;
            };
            for token in rest.split(' ').take(16) {
                if token.len() != 2 {
                    break;
                }
                match u8::from_str_radix(token, 16) {
                    Ok(b) => current.push(b),
                    Err(_) => break,
                }
            }
        }
        if !current.is_empty() {
            dumps.push(current);
        }
        dumps
    }

    /// Writes pcapng blocks by hand (independently of the parser) in either byte order.
    struct NgWriter {
        big_endian: bool,
        out: Vec<u8>,
    }

    impl NgWriter {
        fn new() -> Self {
            NgWriter {
                big_endian: false,
                out: Vec::new(),
            }
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn u64(&self, v: u64) -> [u8; 8] {
            if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn block(&mut self, block_type: u32, body: &[u8]) {
            let mut padded = body.to_vec();
            padded.resize(body.len().div_ceil(4) * 4, 0);
            let total = u32::try_from(12 + padded.len()).unwrap();
            let (t, l) = (self.u32(block_type), self.u32(total));
            self.out.extend_from_slice(&t);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&padded);
            self.out.extend_from_slice(&l);
        }
        fn options(&self, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
            let mut out = Vec::new();
            for (code, value) in options {
                out.extend_from_slice(&self.u16(*code));
                out.extend_from_slice(&self.u16(u16::try_from(value.len()).unwrap()));
                out.extend_from_slice(value);
                out.resize(out.len().div_ceil(4) * 4, 0);
            }
            if !options.is_empty() {
                out.extend_from_slice(&[0; 4]);
            }
            out
        }
        fn shb(&mut self, big_endian: bool) {
            self.big_endian = big_endian;
            let mut body = self.u32(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u64(u64::MAX)); // section length unknown
            self.block(0x0a0d_0d0a, &body);
        }
        fn idb(&mut self, linktype: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) {
            let mut body = self.u16(linktype).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32(snaplen));
            body.extend_from_slice(&self.options(options));
            self.block(1, &body);
        }
        fn epb(&mut self, if_id: u32, ticks: u64, data: &[u8], wire_len: u32) {
            let mut body = self.u32(if_id).to_vec();
            body.extend_from_slice(&self.u32((ticks >> 32) as u32));
            body.extend_from_slice(&self.u32(ticks as u32));
            body.extend_from_slice(&self.u32(u32::try_from(data.len()).unwrap()));
            body.extend_from_slice(&self.u32(wire_len));
            body.extend_from_slice(data);
            self.block(6, &body);
        }
        fn spb(&mut self, data: &[u8], wire_len: u32) {
            let mut body = self.u32(wire_len).to_vec();
            body.extend_from_slice(data);
            self.block(3, &body);
        }
        fn obsolete_pb(&mut self, if_id: u16, ticks: u64, data: &[u8], wire_len: u32) {
            let mut body = self.u16(if_id).to_vec();
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32((ticks >> 32) as u32));
            body.extend_from_slice(&self.u32(ticks as u32));
            body.extend_from_slice(&self.u32(u32::try_from(data.len()).unwrap()));
            body.extend_from_slice(&self.u32(wire_len));
            body.extend_from_slice(data);
            self.block(2, &body);
        }
        fn other_blocks(&mut self) {
            // Name Resolution Block with one IPv4 record, then end of records.
            let mut nrb = self.u16(1).to_vec();
            nrb.extend_from_slice(&self.u16(12));
            nrb.extend_from_slice(&[192, 0, 2, 1, b'h', b'o', b's', b't', b'.', b'e', 0, 0]);
            nrb.extend_from_slice(&[0; 4]);
            self.block(4, &nrb);
            // Interface Statistics Block for interface 0, no options.
            let mut isb = self.u32(0).to_vec();
            isb.extend_from_slice(&self.u32(0));
            isb.extend_from_slice(&self.u32(5));
            self.block(5, &isb);
            // Custom block (copiable) with an unregistered enterprise number.
            let mut custom = self.u32(32473).to_vec();
            custom.extend_from_slice(b"custom payload");
            self.block(0x0000_0bad, &custom);
            // Decryption Secrets Block (TLS key log).
            let secrets = b"CLIENT_RANDOM 00 00\n";
            let mut dsb = self.u32(0x544c_534b).to_vec();
            dsb.extend_from_slice(&self.u32(u32::try_from(secrets.len()).unwrap()));
            dsb.extend_from_slice(secrets);
            self.block(10, &dsb);
            // Systemd Journal Export block: one journal entry.
            self.block(9, b"__REALTIME_TIMESTAMP=1600000000000001\nMESSAGE=hello\n");
        }
    }

    /// Deterministic filler bytes.
    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// A pcapng file with everything the reader must handle, checked against tshark.
    fn synthetic_pcapng() -> Vec<u8> {
        let mut w = NgWriter::new();
        // Section 1, big-endian: nanosecond and 2^-20 s interfaces, if_tsoffset.
        w.shb(true);
        w.idb(1, 0, &[(9, vec![9])]);
        let offset = w.u64(1000).to_vec();
        w.idb(101, 128, &[(9, vec![0x80 | 20]), (14, offset)]);
        w.other_blocks();
        w.epb(0, 1_600_000_000_123_456_789, &payload(60, 1), 60);
        w.epb(1, (1_600_000_000u64 << 20) + 777_777, &payload(40, 2), 100);
        w.spb(&payload(70, 3), 70);
        w.obsolete_pb(1, (1_600_000_001u64 << 20) + 3, &payload(33, 4), 33);
        // Section 2, little-endian: the interface list starts again.
        w.shb(false);
        w.idb(113, 65535, &[]); // default resolution: microseconds
        w.idb(1, 0, &[(9, vec![3])]); // milliseconds
        w.idb(1, 0, &[(9, vec![12])]); // picoseconds (times near 1970 fit in 64 bits)
        w.epb(1, 1_700_000_000_123, &payload(50, 5), 50);
        w.epb(0, 1_700_000_000_654_321, &payload(44, 6), 44);
        w.epb(2, 10_000_000_009_876_543_210, &payload(64, 7), 64);
        w.other_blocks();
        w.out
    }

    #[test]
    fn synthetic_pcapng_matches_tshark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synthetic.pcapng");
        std::fs::write(&path, synthetic_pcapng()).unwrap();
        let count = assert_matches_tshark(&path);
        assert_eq!(count, 7);
        let (frames, _) = read_all(&path);
        let links: Vec<LinkType> = frames.iter().map(|(m, _)| m.link).collect();
        use LinkType::*;
        assert_eq!(
            links,
            [Ethernet, Raw, Ethernet, Raw, Ethernet, LinuxSll, Ethernet]
        );
        // Bytes are the captured bytes, without block padding.
        assert_eq!(frames[0].1, payload(60, 1));
        assert_eq!(frames[3].1, payload(33, 4));
    }

    #[test]
    fn simple_packet_is_cut_to_snaplen() {
        // Per the pcapng spec the SPB's captured length is min(packet length, snap length).
        // (tshark 4.0 misreads such blocks, so this is checked without it.)
        let mut w = NgWriter::new();
        w.shb(false);
        w.idb(1, 32, &[]);
        w.spb(&payload(50, 8), 50);
        w.spb(&payload(20, 9), 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spb.pcapng");
        std::fs::write(&path, &w.out).unwrap();
        let (frames, end) = read_all(&path);
        end.unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].0.cap_len, frames[0].0.wire_len), (32, 50));
        assert_eq!(frames[0].1, payload(32, 8));
        assert_eq!((frames[1].0.cap_len, frames[1].0.wire_len), (20, 20));
        assert_eq!(frames[1].0.timestamp_ns, 0);
    }

    /// (start, length) of each record of a little-endian microsecond pcap, from the format
    /// alone: a 24-byte file header, then 16-byte record headers each followed by caplen bytes.
    fn pcap_records(bytes: &[u8]) -> Vec<(u64, u64)> {
        assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        let mut records = Vec::new();
        let mut at = 24usize;
        while at < bytes.len() {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            records.push((at as u64, (16 + caplen) as u64));
            at += 16 + caplen;
        }
        assert_eq!(at, bytes.len());
        records
    }

    /// (start, length, is_packet) of each block of a little-endian pcapng file.
    fn pcapng_blocks(bytes: &[u8]) -> Vec<(u64, u64, bool)> {
        let mut blocks = Vec::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            blocks.push((at as u64, len as u64, matches!(kind, 2 | 3 | 6)));
            at += len;
        }
        assert_eq!(at, bytes.len());
        blocks
    }

    #[test]
    fn truncated_record_reports_file_and_offset() {
        let original = std::fs::read(fixture("icmp-echo.pcap")).unwrap();
        let records = pcap_records(&original);
        assert_eq!(records.len(), 10);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap");
        for (k, cut_inside) in [(3usize, 7u64), (3, 40), (9, 20), (0, 5)] {
            let (start, len) = records[k];
            assert!(cut_inside < len);
            std::fs::write(&path, &original[..(start + cut_inside) as usize]).unwrap();
            let (frames, end) = read_all(&path);
            assert_eq!(frames.len(), k, "frames before the cut record");
            match end {
                Err(e @ OfflineError::Corrupt { .. }) => {
                    let message = e.to_string();
                    let OfflineError::Corrupt {
                        path: p,
                        offset,
                        reason,
                    } = e
                    else {
                        unreachable!()
                    };
                    assert_eq!(p, path);
                    assert_eq!(offset, start, "offset of the cut record");
                    assert!(reason.starts_with("truncated record"), "{reason}");
                    assert!(message.contains(&path.display().to_string()), "{message}");
                    assert!(
                        message.contains(&format!("byte offset {start}")),
                        "{message}"
                    );
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }

    /// Truncates `name` at every length and checks: no panic; exactly the complete packet
    /// records come back, byte for byte; then a clean end at a record boundary, or `Corrupt` at
    /// the offset of the cut record.
    fn check_every_truncation(name: &str, records: Vec<(u64, u64, bool)>) {
        let original = std::fs::read(fixture(name)).unwrap();
        let (full, end) = read_all(&fixture(name));
        end.unwrap();
        let header_end = records[0].0 + records[0].1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        for cut in 0..=original.len() as u64 {
            std::fs::write(&path, &original[..cut as usize]).unwrap();
            let (frames, end) = read_all(&path);
            let complete = records.iter().filter(|r| r.2 && r.0 + r.1 <= cut).count();
            assert_eq!(frames.len(), complete, "{name} cut at {cut}");
            for (got, want) in frames.iter().zip(&full) {
                assert_eq!(got, want, "{name} cut at {cut}");
            }
            let cut_record = records.iter().find(|r| r.0 < cut && cut < r.0 + r.1);
            match (end, cut_record) {
                (Err(OfflineError::NotACapture { .. }), _) => assert!(cut < 4, "cut at {cut}"),
                (Err(OfflineError::Corrupt { offset, .. }), Some(record)) => {
                    assert_eq!(offset, record.0, "{name} cut at {cut}");
                }
                (Ok(()), None) => assert!(cut >= header_end, "{name} cut at {cut}"),
                (end, record) => panic!("{name} cut at {cut}: {end:?} (cut record {record:?})"),
            }
        }
    }

    #[test]
    fn truncation_at_every_offset_pcap() {
        let bytes = std::fs::read(fixture("icmp-echo.pcap")).unwrap();
        let mut records = vec![(0, 24, false)];
        records.extend(pcap_records(&bytes).into_iter().map(|(s, l)| (s, l, true)));
        check_every_truncation("icmp-echo.pcap", records);
    }

    #[test]
    fn truncation_at_every_offset_pcapng() {
        let name = "mixed-linktypes.pcapng";
        let bytes = std::fs::read(fixture(name)).unwrap();
        check_every_truncation(name, pcapng_blocks(&bytes));
    }

    /// xorshift64*: deterministic pseudo-random bytes for the fuzz-style tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn random_bytes_after_valid_headers_never_panic() {
        let pcap_header = std::fs::read(fixture("icmp-echo.pcap")).unwrap()[..24].to_vec();
        let mut ng = NgWriter::new();
        ng.shb(false);
        ng.idb(1, 0, &[]);
        let ng_header = ng.out;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..600 {
            let mut bytes = if round % 2 == 0 {
                pcap_header.clone()
            } else {
                ng_header.clone()
            };
            let len = rng.below(3000);
            bytes.extend((0..len).map(|_| rng.next() as u8));
            if round % 3 == 0 {
                // Plausible block/record lengths make the parser go deeper.
                let at = bytes.len() - len as usize;
                if len >= 8 {
                    let small = (rng.below(64) as u32 * 4 + 12).to_le_bytes();
                    bytes[at + 4..at + 8].copy_from_slice(&small);
                    if round % 2 == 0 {
                        bytes[at + 8..at + 12.min(len as usize)]
                            .copy_from_slice(&small[..4.min(len as usize - 8)]);
                    } else {
                        bytes[at] = [1, 2, 3, 4, 5, 6, 9, 10][rng.below(8) as usize];
                        bytes[at + 1..at + 4].fill(0);
                    }
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            let (_frames, end) = read_all(&path);
            if let Err(e) = end {
                assert!(
                    matches!(e, OfflineError::Corrupt { .. }),
                    "round {round}: {e}"
                );
            }
        }
    }

    #[test]
    fn mutated_real_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(42);
        for name in [
            "icmp-echo.pcap",
            "pcap-bigendian-icmp.pcap",
            "pcap-nanosecond-sll-tcp.pcap",
            "mixed-linktypes.pcapng",
            "pcapng-multi-interface-dns.pcapng",
        ] {
            let original = std::fs::read(fixture(name)).unwrap();
            let path = dir.path().join(name);
            for _ in 0..300 {
                let mut bytes = original.clone();
                for _ in 0..=rng.below(6) {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] = rng.next() as u8;
                }
                std::fs::write(&path, &bytes).unwrap();
                let (frames, _end) = read_all(&path);
                assert!(frames.len() <= original.len() / 16);
            }
        }
    }

    #[test]
    fn identity_depends_on_content_not_path() {
        let dir = tempfile::tempdir().unwrap();
        let original = std::fs::read(fixture("mixed-large-many-protocols.pcap")).unwrap();
        assert!(original.len() > 2 * 65536);
        let identity_of = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            PcapFile::open(&path).unwrap().identity()
        };
        let a = identity_of("a.pcap", &original);
        assert_eq!(
            a,
            identity_of("b.pcap", &original),
            "same content, other path"
        );
        assert_eq!(
            a,
            PcapFile::open(&fixture("mixed-large-many-protocols.pcap"))
                .unwrap()
                .identity()
        );
        let mut changed = original.clone();
        changed[40_000] ^= 1;
        assert_ne!(
            a,
            identity_of("c.pcap", &changed),
            "byte changed in the first 64 KiB"
        );
        let mut changed = original.clone();
        changed[65_535] ^= 1;
        assert_ne!(
            a,
            identity_of("d.pcap", &changed),
            "last byte of the first 64 KiB"
        );
        // Documented: bytes after the first 64 KiB only count through the file size.
        let mut changed = original.clone();
        changed[65_536] ^= 1;
        assert_eq!(a, identity_of("e.pcap", &changed));
        assert_ne!(
            a,
            identity_of("f.pcap", &original[..original.len() - 1]),
            "other size"
        );
        // The construction is the documented one: xxh3-64(first 64 KiB ‖ size as u64 LE).
        let mut input = original[..65_536].to_vec();
        input.extend_from_slice(&(original.len() as u64).to_le_bytes());
        assert_eq!(a, xxhash_rust::xxh3::xxh3_64(&input));
    }

    #[test]
    fn open_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pcap");
        let e = PcapFile::open(&missing).unwrap_err();
        assert!(matches!(e, OfflineError::Open { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );

        for (name, bytes) in [
            ("empty.pcap", &b""[..]),
            ("short.pcap", &b"\xd4\xc3"[..]),
            (
                "text.pcap",
                &b"hello, this is not a capture file at all"[..],
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let e = PcapFile::open(&path).unwrap_err();
            assert!(
                matches!(&e, OfflineError::NotACapture { path: p } if *p == path),
                "{e:?}"
            );
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        // Right magic, header cut short.
        let path = dir.path().join("header.pcap");
        std::fs::write(
            &path,
            &std::fs::read(fixture("icmp-echo.pcap")).unwrap()[..20],
        )
        .unwrap();
        let e = PcapFile::open(&path).unwrap_err();
        assert!(
            matches!(e, OfflineError::Corrupt { offset: 0, .. }),
            "{e:?}"
        );
        // A header and no packets is a valid, empty capture.
        std::fs::write(
            &path,
            &std::fs::read(fixture("icmp-echo.pcap")).unwrap()[..24],
        )
        .unwrap();
        let (frames, end) = read_all(&path);
        assert!(frames.is_empty() && end.is_ok());
    }

    /// A little-endian microsecond pcap with the given snaplen and (caplen, wire_len, fill).
    fn pcap_bytes(snaplen: u32, records: &[(u32, u32, u8)]) -> Vec<u8> {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&snaplen.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (i, &(caplen, wire_len, fill)) in records.iter().enumerate() {
            out.extend_from_slice(&(1_000 + i as u32).to_le_bytes());
            out.extend_from_slice(&999_999u32.to_le_bytes());
            out.extend_from_slice(&caplen.to_le_bytes());
            out.extend_from_slice(&wire_len.to_le_bytes());
            out.extend(std::iter::repeat_n(fill, caplen as usize));
        }
        out
    }

    #[test]
    fn records_larger_than_the_buffer_grow_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pcap");
        let big = 3 * INITIAL_BUFFER_BYTES as u32 + 5;
        std::fs::write(
            &path,
            pcap_bytes(big, &[(100, 100, 1), (big, big, 2), (60, 60, 3)]),
        )
        .unwrap();
        let (frames, end) = read_all(&path);
        end.unwrap();
        let lens: Vec<u32> = frames.iter().map(|(m, _)| m.cap_len).collect();
        assert_eq!(lens, [100, big, 60]);
        assert!(frames[1].1.iter().all(|&b| b == 2));
        assert_eq!(frames[2].0.timestamp_ns, 1_002_999_999_000);
    }

    #[test]
    fn bogus_lengths_are_corrupt_not_allocated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bogus.pcap");
        // caplen far beyond the snap length: Corrupt at the record, before reading it.
        let mut bytes = pcap_bytes(65535, &[(10, 10, 1)]);
        bytes.extend_from_slice(&pcap_bytes(65535, &[(20, 20, 0)])[24..40]);
        bytes[24 + 26 + 8..24 + 26 + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (frames, end) = read_all(&path);
        assert_eq!(frames.len(), 1);
        let Err(OfflineError::Corrupt { offset, reason, .. }) = end else {
            panic!("{end:?}")
        };
        assert_eq!(offset, 24 + 26);
        assert!(reason.contains("exceeds the snapshot length"), "{reason}");
        // Unlimited snap length: a 2 GiB record in a small file is a truncated record.
        bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (frames, end) = read_all(&path);
        assert_eq!(frames.len(), 1);
        let Err(OfflineError::Corrupt { offset, reason, .. }) = end else {
            panic!("{end:?}")
        };
        assert_eq!(offset, 24 + 26);
        assert!(reason.starts_with("truncated record"), "{reason}");
    }

    #[test]
    fn captured_longer_than_wire_keeps_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caplen.pcap");
        std::fs::write(&path, pcap_bytes(65535, &[(60, 40, 7), (30, 0, 8)])).unwrap();
        let (frames, end) = read_all(&path);
        end.unwrap();
        assert_eq!((frames[0].0.cap_len, frames[0].0.wire_len), (60, 60));
        assert_eq!(frames[0].1, vec![7; 60]);
        assert_eq!((frames[1].0.cap_len, frames[1].0.wire_len), (30, 30));
    }

    #[test]
    fn data_buffer_is_reused_and_offset_tracks_records() {
        let name = "icmp-echo.pcap";
        let records = pcap_records(&std::fs::read(fixture(name)).unwrap());
        let mut file = PcapFile::open(&fixture(name)).unwrap();
        assert_eq!(file.path(), fixture(name));
        assert_eq!(file.offset(), 0);
        let mut data = Vec::with_capacity(65536);
        let pointer = data.as_ptr();
        let mut n = 0;
        while let Some(meta) = file.next_frame(&mut data).unwrap() {
            assert_eq!(data.as_ptr(), pointer, "no reallocation per packet");
            let (start, len) = records[n];
            assert_eq!(
                file.offset(),
                start + len,
                "offset after frame {}",
                meta.number
            );
            n += 1;
        }
        assert_eq!(n, records.len());
        assert!(data.is_empty());
    }
}
