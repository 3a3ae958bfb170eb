//! Replay of pcap and pcapng files as a capture source.
//!
//! Files are read one after the other. Each file is its own source (its name is the
//! record's interface and its content identity seeds the record ids), so replaying the
//! same file twice gives the same `event.id`s. A broken file is reported with its byte
//! offset; the frames before the damage are kept and the next file is read.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::offline::{OfflineError, PcapFile};
use super::{FrameBatch, FrameMeta, SourceInfo};
use crate::records::id::replay_seed;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// Keep the capture's timing, sped up by the factor (1.0 = real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "max" => Ok(Speed::Max),
            "realtime" => Ok(Speed::Factor(1.0)),
            other => match other.parse::<f64>() {
                Ok(factor) if factor > 0.0 && factor.is_finite() => Ok(Speed::Factor(factor)),
                _ => Err(format!(
                    "invalid speed {other:?}: expected `max`, `realtime` or a positive factor"
                )),
            },
        }
    }
}

/// Reads files into frame batches.
pub struct Replay {
    files: Vec<PathBuf>,
    observer: String,
    speed: Speed,
    /// A frame moved from a delivered batch to the next one while pacing (reused).
    frame: Vec<u8>,
    pacing: Option<(Instant, i64)>,
}

/// What the replay reports besides batches.
pub trait ReplayEvents {
    /// A file was opened.
    fn file_opened(&mut self, _file: &PcapFile) {}
    /// A file could not be opened or is damaged; frames before the damage were delivered.
    fn file_failed(&mut self, error: OfflineError);
    /// Hands over a full batch; returns false to stop the replay.
    fn deliver(&mut self, batch: FrameBatch) -> bool;
    /// An empty batch to fill (from the pool).
    fn empty_batch(&mut self) -> FrameBatch;
}

impl Replay {
    /// A replay of `files` for the named observer.
    pub fn new(files: Vec<PathBuf>, observer: &str, speed: Speed) -> Self {
        Replay {
            files,
            observer: observer.to_owned(),
            speed,
            frame: Vec::new(),
            pacing: None,
        }
    }

    /// Replays every file in order, in batches of at most `batch_frames` frames.
    pub fn run(&mut self, batch_frames: usize, stop: &AtomicBool, events: &mut dyn ReplayEvents) {
        let files = std::mem::take(&mut self.files);
        for path in files {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut file = match PcapFile::open(&path) {
                Ok(file) => file,
                Err(error) => {
                    events.file_failed(error);
                    continue;
                }
            };
            events.file_opened(&file);
            let source = Arc::new(SourceInfo {
                interface: file_label(&path),
                id_seed: replay_seed(&self.observer, file.identity()),
                local_macs: Vec::new(),
                fixed_direction: None,
            });
            if !self.replay_file(&mut file, &source, batch_frames, stop, events) {
                return;
            }
        }
    }

    /// Returns false when the consumer asked to stop.
    fn replay_file(
        &mut self,
        file: &mut PcapFile,
        source: &Arc<SourceInfo>,
        batch_frames: usize,
        stop: &AtomicBool,
        events: &mut dyn ReplayEvents,
    ) -> bool {
        let mut batch = self.start_batch(source, events);
        loop {
            // The frame goes straight to the end of the batch's bytes (one copy).
            let mut start = batch.data.len();
            let meta = match file.append_frame(&mut batch.data) {
                Ok(Some(meta)) => meta,
                Ok(None) => break,
                Err(error) => {
                    events.file_failed(error);
                    break;
                }
            };
            if let Some(wait) = self.pace(&meta) {
                if !batch.is_empty() {
                    // Deliver the frames before this one; this one starts the next batch.
                    self.frame.clear();
                    self.frame
                        .extend_from_slice(batch.data.get(start..).unwrap_or_default());
                    batch.data.truncate(start);
                    if !events.deliver(batch) {
                        return false;
                    }
                    batch = self.start_batch(source, events);
                    start = batch.data.len();
                    batch.data.extend_from_slice(&self.frame);
                }
                if !sleep_unless_stopped(wait, stop) {
                    return false;
                }
            }
            batch.frames.push((meta, start..batch.data.len()));
            if batch.len() >= batch_frames {
                if !events.deliver(batch) || stop.load(Ordering::Relaxed) {
                    return false;
                }
                batch = self.start_batch(source, events);
            }
        }
        batch.is_empty() || events.deliver(batch)
    }

    fn start_batch(&self, source: &Arc<SourceInfo>, events: &mut dyn ReplayEvents) -> FrameBatch {
        let mut batch = events.empty_batch();
        batch.clear();
        batch.source = Some(Arc::clone(source));
        batch
    }

    /// How long to wait before this frame is due, when replaying with timing.
    fn pace(&mut self, meta: &FrameMeta) -> Option<Duration> {
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let (start, first_ts) = *self
            .pacing
            .get_or_insert((Instant::now(), meta.timestamp_ns));
        let offset_ns = (meta.timestamp_ns.saturating_sub(first_ts)).max(0) as f64 / factor;
        let due = start + Duration::from_nanos(offset_ns as u64);
        let now = Instant::now();
        (due > now + Duration::from_millis(1)).then(|| due - now)
    }
}

/// Sleeps `wait` in short slices; false when `stop` was set meanwhile, so a long gap in
/// a paced replay never makes the process deaf to SIGINT/SIGTERM.
fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// The file name shown as `observer.ingress.interface.name`.
fn file_label(path: &std::path::Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_wait_ends_when_stopped() {
        let stop = AtomicBool::new(true);
        let started = Instant::now();
        assert!(!sleep_unless_stopped(Duration::from_secs(3600), &stop));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(sleep_unless_stopped(
            Duration::from_millis(1),
            &AtomicBool::new(false)
        ));
    }

    /// Collects every delivered frame, and how many batches carried them.
    #[derive(Default)]
    struct Collect {
        frames: Vec<(FrameMeta, Vec<u8>)>,
        batches: usize,
    }

    impl ReplayEvents for Collect {
        fn file_failed(&mut self, error: OfflineError) {
            panic!("{error}");
        }
        fn deliver(&mut self, batch: FrameBatch) -> bool {
            self.batches += 1;
            for (meta, bytes) in batch.iter() {
                assert_eq!(meta.cap_len as usize, bytes.len());
                self.frames.push((*meta, bytes.to_vec()));
            }
            true
        }
        fn empty_batch(&mut self) -> FrameBatch {
            FrameBatch::default()
        }
    }

    /// Paced replay splits batches where it waits, moving the frame read last into the
    /// next batch: the frames delivered must be exactly those of a replay at full speed.
    #[test]
    fn paced_batches_carry_the_same_frames_as_unpaced_ones() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dev/fixtures/pcaps/tcp-rst-injection.pcap");
        let replay = |speed| {
            let mut events = Collect::default();
            Replay::new(vec![file.clone()], "t", speed).run(
                64,
                &AtomicBool::new(false),
                &mut events,
            );
            events
        };
        let fast = replay(Speed::Max);
        // 4 s of capture in about 40 ms: the gaps between packets become waits.
        let paced = replay(Speed::Factor(100.0));
        assert!(!fast.frames.is_empty());
        assert_eq!(fast.frames, paced.frames);
        assert!(paced.batches > fast.batches, "{} batches", paced.batches);
    }

    #[test]
    fn speeds_parse() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("realtime".parse::<Speed>(), Ok(Speed::Factor(1.0)));
        assert_eq!("2.5".parse::<Speed>(), Ok(Speed::Factor(2.5)));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}
