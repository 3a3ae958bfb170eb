//! A disk spool for network outputs: what the destination cannot take now waits here, in
//! order, across restarts.
//!
//! The spool is a directory of append-only segment files (`<sequence>.spool`), each a
//! magic header followed by entries: `[length u32][tag u8][checksum u64][payload]`, little
//! endian, the checksum an XXH3 of length, tag and payload. An entry is whatever the
//! output hands in (the network outputs store one batch of NDJSON records of one kind,
//! the tag saying which); the spool knows nothing of Elasticsearch or Kafka.
//!
//! - Appends go to the newest segment until it would pass `segment_bytes`; a new process
//!   never appends to an old segment (its tail may be torn), it starts a new one.
//! - Segments are fsync'd when they are closed and on [`Spool::flush`].
//! - Reads ([`Spool::read_next`]) go oldest first. A segment is deleted only after every entry
//!   in it was read and acknowledged ([`Spool::ack`]); entries read but not acknowledged
//!   when the process ends are read again by the next one (outputs make that safe:
//!   Elasticsearch answers 409 for a document it already has).
//! - A torn or corrupt entry (a crash mid-write, a bad disk block) fails its checksum or
//!   its length check: it is counted, the rest of that segment is skipped, and reading
//!   goes on with the next segment. Never a panic.
//! - The total size is capped at `max_bytes`: an append that would pass it fails with
//!   [`SpoolError::Full`], and the caller drops that (newest) batch and counts it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

/// The first bytes of every segment file.
const MAGIC: &[u8; 8] = b"NSSPOOL1";
/// Bytes before an entry's payload: length, tag, checksum.
const ENTRY_HEADER: u64 = 4 + 1 + 8;
/// File name suffix of segments.
const SUFFIX: &str = "spool";

/// Where the spool lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// Directory of the segment files; created when missing.
    pub dir: PathBuf,
    /// Most bytes on disk, all segments together.
    pub max_bytes: u64,
    /// A segment is closed when the next entry would make it larger than this.
    pub segment_bytes: u64,
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool is at its size cap; the entry was not written.
    #[error("the spool is full ({max_bytes} bytes)")]
    Full {
        /// The cap.
        max_bytes: u64,
    },
    /// The disk said no.
    #[error("spool I/O in {}: {error}", dir.display())]
    Io {
        /// The spool directory.
        dir: PathBuf,
        /// The error.
        error: io::Error,
    },
}

/// Identifies an entry handed out by [`Spool::read_next`], for [`Spool::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryId {
    segment: u64,
}

/// One spooled entry.
#[derive(Debug)]
pub struct Entry {
    /// What to acknowledge once the entry is delivered (or given up on for good).
    pub id: EntryId,
    /// The caller's tag (e.g. the record kind).
    pub tag: u8,
    /// The caller's bytes.
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    /// Bytes in the file (for the active segment: written, maybe still buffered).
    bytes: u64,
    /// Where the next read starts.
    read_offset: u64,
    /// Everything in it was read (or skipped as corrupt).
    read_all: bool,
    /// Entries read and not acknowledged yet.
    outstanding: u64,
}

#[derive(Debug)]
struct Writer {
    seq: u64,
    file: BufWriter<File>,
}

/// The spool. Not shared by itself: the output wraps it in a mutex.
#[derive(Debug)]
pub struct Spool {
    settings: SpoolSettings,
    segments: VecDeque<Segment>,
    writer: Option<Writer>,
    next_seq: u64,
    total_bytes: u64,
    unsynced: bool,
    corrupt: u64,
}

impl Spool {
    /// Opens the spool in `settings.dir`, creating the directory; segments left by an
    /// earlier process are queued for reading, oldest first.
    pub fn open(settings: SpoolSettings) -> Result<Spool, SpoolError> {
        let dir = settings.dir.clone();
        let io_err = |error| SpoolError::Io {
            dir: dir.clone(),
            error,
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = entry.path();
            let Some(seq) = segment_seq(&path) else {
                continue;
            };
            let bytes = entry.metadata().map_err(io_err)?.len();
            found.push((seq, path, bytes));
        }
        found.sort_by_key(|(seq, _, _)| *seq);
        let mut spool = Spool {
            next_seq: found.last().map_or(1, |(seq, _, _)| seq + 1),
            settings,
            segments: VecDeque::new(),
            writer: None,
            total_bytes: 0,
            unsynced: false,
            corrupt: 0,
        };
        for (seq, path, bytes) in found {
            if bytes <= MAGIC.len() as u64 {
                // Created but never written (a crash right after creating it): nothing lost.
                if bytes < MAGIC.len() as u64 && bytes > 0 {
                    spool.corrupt += 1;
                }
                let _ = fs::remove_file(&path);
                continue;
            }
            spool.total_bytes += bytes;
            spool.segments.push_back(Segment {
                seq,
                path,
                bytes,
                read_offset: MAGIC.len() as u64,
                read_all: false,
                outstanding: 0,
            });
        }
        Ok(spool)
    }

    /// Bytes on disk, all segments together.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Segment files on disk.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Whether there is nothing left to read (entries handed out but not acknowledged do
    /// not count).
    pub fn is_drained(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.read_all || s.read_offset >= s.bytes)
    }

    /// Logs, at shutdown, that records are left for the next start (and where).
    pub fn warn_if_left(&self, output: &str) {
        if !self.is_drained() {
            tracing::warn!(output, bytes = self.bytes(), dir = %self.settings().dir.display(),
                "Records are left in the spool; the next start sends them.");
        }
    }

    /// Torn or corrupt entries found so far (each skips the rest of its segment).
    pub fn corrupt_entries(&self) -> u64 {
        self.corrupt
    }

    /// The settings.
    pub fn settings(&self) -> &SpoolSettings {
        &self.settings
    }

    fn io(&self, error: io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.settings.dir.clone(),
            error,
        }
    }

    /// Appends one entry. Fails with [`SpoolError::Full`] when it would pass the size cap.
    pub fn append(&mut self, tag: u8, payload: &[u8]) -> Result<(), SpoolError> {
        let len = u32::try_from(payload.len()).map_err(|_| {
            self.io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "entry larger than 4 GiB",
            ))
        })?;
        let size = ENTRY_HEADER + u64::from(len);
        let active_bytes = self.active().map(|s| s.bytes);
        let rotate = match active_bytes {
            None => true,
            Some(bytes) => bytes > MAGIC.len() as u64 && bytes + size > self.settings.segment_bytes,
        };
        let new_file = if rotate { MAGIC.len() as u64 } else { 0 };
        if self.total_bytes + size + new_file > self.settings.max_bytes {
            return Err(SpoolError::Full {
                max_bytes: self.settings.max_bytes,
            });
        }
        if rotate {
            self.close_writer()?;
            self.open_writer()?;
        }
        let mut header = [0u8; ENTRY_HEADER as usize];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4] = tag;
        header[5..].copy_from_slice(&checksum(len, tag, payload).to_le_bytes());
        let result = match &mut self.writer {
            Some(writer) => writer
                .file
                .write_all(&header)
                .and_then(|()| writer.file.write_all(payload)),
            None => Err(io::Error::other("no open segment")),
        };
        if let Err(error) = result {
            // The segment may now end in a partial entry: close it, so reading stops there.
            self.writer = None;
            return Err(self.io(error));
        }
        if let Some(segment) = self.segments.back_mut() {
            segment.bytes += size;
        }
        self.total_bytes += size;
        self.unsynced = true;
        Ok(())
    }

    /// Writes buffered entries to disk and fsyncs them.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if !self.unsynced {
            return Ok(());
        }
        if let Some(writer) = &mut self.writer {
            let result = writer
                .file
                .flush()
                .and_then(|()| writer.file.get_ref().sync_data());
            if let Err(error) = result {
                return Err(self.io(error));
            }
        }
        self.unsynced = false;
        Ok(())
    }

    /// The oldest entry not read yet, or `None` when everything was read.
    pub fn read_next(&mut self) -> Result<Option<Entry>, SpoolError> {
        if let Some(writer) = &mut self.writer {
            // The reader opens the file itself: buffered bytes must be in the file.
            if let Err(error) = writer.file.flush() {
                return Err(self.io(error));
            }
        }
        let active = self.writer.as_ref().map(|w| w.seq);
        let mut i = 0;
        while i < self.segments.len() {
            let Some(segment) = self.segments.get_mut(i) else {
                break;
            };
            if segment.read_all || segment.read_offset >= segment.bytes {
                if Some(segment.seq) != active {
                    segment.read_all = true;
                }
                i += 1;
                continue;
            }
            match read_entry(segment) {
                Ok(Some((tag, payload))) => {
                    segment.outstanding += 1;
                    let id = EntryId {
                        segment: segment.seq,
                    };
                    return Ok(Some(Entry { id, tag, payload }));
                }
                Ok(None) => {
                    // Torn or corrupt: skip the rest of this segment.
                    self.corrupt += 1;
                    segment.read_all = true;
                    if Some(segment.seq) == active {
                        self.writer = None;
                    }
                    i += 1;
                }
                Err(error) => return Err(self.io(error)),
            }
        }
        self.collect()?;
        Ok(None)
    }

    /// Acknowledges an entry from [`Spool::read_next`]: it needs no more delivery. Segments
    /// whose entries are all read and acknowledged are deleted.
    pub fn ack(&mut self, id: EntryId) -> Result<(), SpoolError> {
        if let Some(segment) = self.segments.iter_mut().find(|s| s.seq == id.segment) {
            segment.outstanding = segment.outstanding.saturating_sub(1);
        }
        self.collect()
    }

    /// Deletes the segments that are done with; closes the active one first when the
    /// reader has caught up with it.
    fn collect(&mut self) -> Result<(), SpoolError> {
        let active = self.writer.as_ref().map(|w| w.seq);
        let mut keep = VecDeque::with_capacity(self.segments.len());
        let mut result = Ok(());
        while let Some(segment) = self.segments.pop_front() {
            let caught_up = segment.read_all || segment.read_offset >= segment.bytes;
            if !caught_up || segment.outstanding > 0 {
                keep.push_back(segment);
                continue;
            }
            if Some(segment.seq) == active {
                self.writer = None;
                self.unsynced = false;
            }
            match fs::remove_file(&segment.path) {
                Ok(()) => self.total_bytes = self.total_bytes.saturating_sub(segment.bytes),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    self.total_bytes = self.total_bytes.saturating_sub(segment.bytes);
                }
                Err(error) => {
                    keep.push_back(segment);
                    result = Err(self.io(error));
                }
            }
        }
        self.segments = keep;
        result
    }

    fn active(&self) -> Option<&Segment> {
        let seq = self.writer.as_ref()?.seq;
        self.segments.back().filter(|s| s.seq == seq)
    }

    fn close_writer(&mut self) -> Result<(), SpoolError> {
        if let Some(mut writer) = self.writer.take() {
            let result = writer
                .file
                .flush()
                .and_then(|()| writer.file.get_ref().sync_data());
            if let Err(error) = result {
                return Err(self.io(error));
            }
        }
        self.unsynced = false;
        Ok(())
    }

    fn open_writer(&mut self) -> Result<(), SpoolError> {
        let seq = self.next_seq;
        let path = self.settings.dir.join(format!("{seq:016}.{SUFFIX}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| self.io(e))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(MAGIC).map_err(|e| self.io(e))?;
        // The new name must survive a crash as well as the data.
        if let Ok(dir) = File::open(&self.settings.dir) {
            let _ = dir.sync_all();
        }
        self.next_seq += 1;
        self.total_bytes += MAGIC.len() as u64;
        self.segments.push_back(Segment {
            seq,
            path,
            bytes: MAGIC.len() as u64,
            read_offset: MAGIC.len() as u64,
            read_all: false,
            outstanding: 0,
        });
        self.writer = Some(Writer { seq, file });
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn checksum(len: u32, tag: u8, payload: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(&[tag]);
    hasher.update(payload);
    hasher.digest()
}

/// The sequence number in a segment file name, `None` for other files.
fn segment_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(SUFFIX)?.strip_suffix('.')?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Reads the entry at the segment's read offset and moves the offset past it; `Ok(None)`
/// when the bytes there are not a whole, intact entry.
fn read_entry(segment: &mut Segment) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut file = File::open(&segment.path)?;
    if segment.read_offset == MAGIC.len() as u64 {
        let mut magic = [0u8; 8];
        if file.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Ok(None);
        }
    }
    file.seek(SeekFrom::Start(segment.read_offset))?;
    let remaining = segment.bytes.saturating_sub(segment.read_offset);
    if remaining < ENTRY_HEADER {
        return Ok(None);
    }
    let mut header = [0u8; ENTRY_HEADER as usize];
    if file.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&header[..4]);
    let len = u32::from_le_bytes(len_bytes);
    let tag = header[4];
    let mut sum_bytes = [0u8; 8];
    sum_bytes.copy_from_slice(&header[5..]);
    let sum = u64::from_le_bytes(sum_bytes);
    if u64::from(len) > remaining - ENTRY_HEADER {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    if file.read_exact(&mut payload).is_err() || checksum(len, tag, &payload) != sum {
        return Ok(None);
    }
    segment.read_offset += ENTRY_HEADER + u64::from(len);
    Ok(Some((tag, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolSettings {
        SpoolSettings {
            dir: dir.join("spool"),
            max_bytes,
            segment_bytes,
        }
    }

    fn payload(n: usize) -> Vec<u8> {
        format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(n % 50)).into_bytes()
    }

    fn drain(spool: &mut Spool) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(entry) = spool.read_next().unwrap() {
            spool.ack(entry.id).unwrap();
            out.push((entry.tag, entry.payload));
        }
        out
    }

    fn files(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn entries_come_back_oldest_first_across_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(settings(tmp.path(), 1 << 20, 300)).unwrap();
        for n in 0..40 {
            spool.append((n % 3) as u8, &payload(n)).unwrap();
        }
        assert!(spool.segments() > 3, "{}", spool.segments());
        let got = drain(&mut spool);
        let want: Vec<(u8, Vec<u8>)> = (0..40).map(|n| ((n % 3) as u8, payload(n))).collect();
        assert_eq!(got, want);
        assert_eq!(spool.segments(), 0);
        assert_eq!(spool.bytes(), 0);
        assert_eq!(files(&tmp.path().join("spool")), 0);
        // Appending again after the reader caught up starts a new segment.
        spool.append(1, b"again").unwrap();
        assert_eq!(drain(&mut spool), vec![(1, b"again".to_vec())]);
    }

    #[test]
    fn a_new_process_reads_what_the_old_one_spooled() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), 1 << 20, 400);
        {
            let mut spool = Spool::open(s.clone()).unwrap();
            for n in 0..20 {
                spool.append(0, &payload(n)).unwrap();
            }
            // Read and acknowledge the first five; read two more without acknowledging.
            for _ in 0..5 {
                let e = spool.read_next().unwrap().unwrap();
                spool.ack(e.id).unwrap();
            }
            spool.read_next().unwrap().unwrap();
            spool.read_next().unwrap().unwrap();
            spool.flush().unwrap();
        }
        let mut spool = Spool::open(s.clone()).unwrap();
        let got: Vec<Vec<u8>> = drain(&mut spool).into_iter().map(|(_, p)| p).collect();
        // Unacknowledged entries come again; acknowledged ones may too when they share a
        // segment with unacknowledged ones, never out of order, and nothing is missing.
        let first = got.first().unwrap().clone();
        let start = (0..20).position(|n| payload(n) == first).unwrap();
        assert!(start <= 5, "{start}");
        let want: Vec<Vec<u8>> = (start..20).map(payload).collect();
        assert_eq!(got, want);
        drop(spool);
        let mut spool = Spool::open(s).unwrap();
        assert!(spool.read_next().unwrap().is_none());
        assert_eq!(spool.corrupt_entries(), 0);
    }

    #[test]
    fn a_torn_last_entry_is_counted_and_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), 1 << 20, 1 << 20);
        {
            let mut spool = Spool::open(s.clone()).unwrap();
            for n in 0..5 {
                spool.append(2, &payload(n)).unwrap();
            }
        }
        let path = fs::read_dir(&s.dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let len = fs::metadata(&path).unwrap().len();
        // A crash in the middle of writing the last entry.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut spool = Spool::open(s.clone()).unwrap();
        spool.append(2, &payload(99)).unwrap();
        let got: Vec<Vec<u8>> = drain(&mut spool).into_iter().map(|(_, p)| p).collect();
        let mut want: Vec<Vec<u8>> = (0..4).map(payload).collect();
        want.push(payload(99));
        assert_eq!(got, want);
        assert_eq!(spool.corrupt_entries(), 1);
        assert_eq!(files(&s.dir), 0);
    }

    #[test]
    fn a_corrupt_entry_or_header_never_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), 1 << 20, 1 << 20);
        {
            let mut spool = Spool::open(s.clone()).unwrap();
            for n in 0..3 {
                spool.append(0, &payload(n)).unwrap();
            }
        }
        let path = fs::read_dir(&s.dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = fs::read(&path).unwrap();
        // Flip a payload byte of the second entry.
        let second = MAGIC.len() + ENTRY_HEADER as usize + payload(0).len();
        bytes[second + ENTRY_HEADER as usize + 2] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        // And a segment of junk with a huge length field, and one with a bad magic.
        fs::write(s.dir.join("0000000000000100.spool"), {
            let mut junk = MAGIC.to_vec();
            junk.extend_from_slice(&[0xff; 40]);
            junk
        })
        .unwrap();
        fs::write(s.dir.join("0000000000000101.spool"), b"NOTASPOOL-at-all").unwrap();
        fs::write(s.dir.join("unrelated.txt"), b"left alone").unwrap();
        let mut spool = Spool::open(s.clone()).unwrap();
        let got = drain(&mut spool);
        assert_eq!(got, vec![(0, payload(0))]);
        assert_eq!(spool.corrupt_entries(), 3);
        assert_eq!(files(&s.dir), 1, "only unrelated.txt is left");
    }

    #[test]
    fn the_size_cap_refuses_the_newest_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), 1000, 300);
        let mut spool = Spool::open(s.clone()).unwrap();
        let mut accepted = 0;
        let mut refused = 0;
        for n in 0..100 {
            match spool.append(0, &payload(n)) {
                Ok(()) => accepted += 1,
                Err(SpoolError::Full { max_bytes }) => {
                    assert_eq!(max_bytes, 1000);
                    refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert!(accepted > 5 && refused > 50, "{accepted} {refused}");
        assert!(spool.bytes() <= 1000);
        spool.flush().unwrap();
        let on_disk: u64 = fs::read_dir(&s.dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, spool.bytes());
        // The oldest ones are kept (drop newest), in order.
        let got: Vec<Vec<u8>> = drain(&mut spool).into_iter().map(|(_, p)| p).collect();
        let accepted_payloads: Vec<Vec<u8>> = (0..100).map(payload).take(got.len()).collect();
        assert_eq!(got, accepted_payloads);
        // Room again once drained.
        spool.append(0, b"fits").unwrap();
    }

    #[test]
    fn a_segment_stays_until_every_entry_is_acknowledged() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), 1 << 20, 200);
        let mut spool = Spool::open(s.clone()).unwrap();
        for n in 0..6 {
            spool.append(0, &payload(n)).unwrap();
        }
        let segments = spool.segments();
        let mut held = Vec::new();
        while let Some(e) = spool.read_next().unwrap() {
            held.push(e.id);
        }
        assert!(spool.is_drained());
        assert_eq!(
            spool.segments(),
            segments,
            "nothing acknowledged, nothing deleted"
        );
        // Acknowledge all but the first entry: the first segment stays.
        for id in &held[1..] {
            spool.ack(*id).unwrap();
        }
        assert_eq!(spool.segments(), 1);
        spool.ack(held[0]).unwrap();
        assert_eq!(spool.segments(), 0);
        assert_eq!(files(&s.dir), 0);
    }

    #[test]
    fn reader_and_writer_interleave() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(settings(tmp.path(), 1 << 20, 250)).unwrap();
        let mut got = Vec::new();
        for n in 0..30 {
            spool.append(0, &payload(n)).unwrap();
            if n % 4 == 0 {
                while let Some(e) = spool.read_next().unwrap() {
                    spool.ack(e.id).unwrap();
                    got.push(e.payload);
                }
            }
        }
        got.extend(drain(&mut spool).into_iter().map(|(_, p)| p));
        assert_eq!(got, (0..30).map(payload).collect::<Vec<_>>());
        assert_eq!(spool.bytes(), 0);
    }
}
