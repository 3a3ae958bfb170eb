//! `netsensor dataset --config FILE`: the same export fed by live captures.
//!
//! Each capture is read on its own thread into pooled frame batches; one thread feeds the
//! export, so connections are assembled exactly as from a file. The run ends on SIGINT or
//! SIGTERM (the `stop` flag) or after `duration`; connections still open are then written
//! like at the end of a file. Frames the kernel dropped are counted and reported: a drop
//! inside a connection shows up as a gap, which `--skip-gapped` leaves out.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::{DatasetError, Export, Settings, Summary};
use crate::capture::live::{LiveCapture, LiveSettings};
use crate::capture::select::select;
use crate::capture::{FrameBatch, LiveSource};
use crate::config::Config;

/// Frames per batch handed from a capture thread to the export.
const BATCH_FRAMES: usize = 256;
/// Batches in flight between the capture threads and the export.
const QUEUE_BATCHES: usize = 64;

/// Opens a libpcap capture for every interface the configuration's captures select (globs
/// are matched once, at start).
pub fn open_captures(config: &Config) -> Result<Vec<Box<dyn LiveSource>>, DatasetError> {
    let mut names = Vec::new();
    for capture in &config.captures {
        let selected: Vec<String> = match capture.selection.single_name() {
            Some(name) => vec![name.to_owned()],
            None => select(&capture.selection).map_err(|e| {
                DatasetError::Settings(format!("cannot list network interfaces: {e}"))
            })?,
        };
        if selected.is_empty() {
            return Err(DatasetError::Settings(format!(
                "no interface matches the capture `{}`",
                capture.interface
            )));
        }
        names.extend(selected.into_iter().map(|name| (name, capture)));
    }
    if names.is_empty() {
        return Err(DatasetError::Settings(
            "the configuration has no captures (add one under `captures:`)".into(),
        ));
    }
    names
        .into_iter()
        .map(|(interface, capture)| {
            let settings = LiveSettings {
                interface,
                promiscuous: capture.promiscuous,
                direction: capture.direction,
                filter: capture.filter.clone(),
                snaplen_bytes: capture.snaplen_bytes,
                buffer_size_bytes: capture.buffer_size_bytes,
                immediate: capture.immediate,
                timeout_ms: u32::try_from(capture.timeout.as_millis()).unwrap_or(u32::MAX),
            };
            let opened: Box<dyn LiveSource> = Box::new(LiveCapture::open(settings)?);
            Ok(opened)
        })
        .collect()
}

/// What a live export read besides its summary.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// Frames the kernel (or interface) dropped while the export ran.
    pub kernel_dropped: u64,
    /// Captures that ended with an error (message each).
    pub capture_errors: Vec<String>,
}

/// Exports samples from `captures` into `out` until `stop` is set or `duration` passes.
pub fn export_live(
    captures: Vec<Box<dyn LiveSource>>,
    out: &Path,
    settings: Settings,
    stop: Arc<AtomicBool>,
    duration: Option<Duration>,
) -> Result<(Summary, LiveCounts), DatasetError> {
    let mut export = Export::create(out, settings)?;
    let (full_tx, full_rx) = bounded::<FrameBatch>(QUEUE_BATCHES);
    let (free_tx, free_rx) = bounded::<FrameBatch>(QUEUE_BATCHES + 2 * captures.len());
    let threads: Vec<JoinHandle<CaptureEnd>> = captures
        .into_iter()
        .map(|source| {
            let reader = Reader {
                source,
                full: full_tx.clone(),
                free: free_rx.clone(),
                stop: Arc::clone(&stop),
            };
            std::thread::Builder::new()
                .name("dataset-capture".into())
                .spawn(move || reader.run())
                .map_err(|source| DatasetError::Io {
                    path: out.to_path_buf(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    drop(full_tx);
    let started = Instant::now();
    let mut result = Ok(());
    loop {
        if duration.is_some_and(|d| started.elapsed() >= d) {
            stop.store(true, Ordering::Relaxed);
        }
        match full_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(batch) => {
                // After a write error, batches are only drained until the captures stop.
                if result.is_ok() {
                    result = batch
                        .iter()
                        .try_for_each(|(meta, data)| export.frame(meta, data));
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                let _ = free_tx.try_send(batch);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let mut counts = LiveCounts::default();
    for handle in threads {
        match handle.join() {
            Ok(end) => {
                counts.kernel_dropped += end.kernel_dropped;
                counts.capture_errors.extend(end.error);
            }
            Err(_) => counts
                .capture_errors
                .push("a capture thread panicked".into()),
        }
    }
    result?;
    for error in &counts.capture_errors {
        export.read_error(error.clone());
    }
    Ok((export.finish()?, counts))
}

/// How a capture thread ended.
struct CaptureEnd {
    kernel_dropped: u64,
    error: Option<String>,
}

/// One capture thread: fills batches until stopped and hands them to the export.
struct Reader {
    source: Box<dyn LiveSource>,
    full: Sender<FrameBatch>,
    free: Receiver<FrameBatch>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    fn run(mut self) -> CaptureEnd {
        let mut end = CaptureEnd {
            kernel_dropped: 0,
            error: None,
        };
        while !self.stop.load(Ordering::Relaxed) {
            let mut batch = self
                .free
                .try_recv()
                .unwrap_or_else(|_| FrameBatch::with_capacity(BATCH_FRAMES));
            batch.clear();
            if let Err(err) = self.source.fill(&mut batch, BATCH_FRAMES) {
                end.error = Some(format!(
                    "{}: {}",
                    self.source.name(),
                    crate::pipeline::error_chain(&err)
                ));
                break;
            }
            let drops = self.source.kernel_drops();
            end.kernel_dropped += drops.dropped + drops.if_dropped;
            // The export does not drop: a slow disk makes the capture wait, and the kernel
            // counts what it could not hold.
            if !batch.is_empty() && self.full.send(batch).is_err() {
                break;
            }
        }
        let drops = self.source.kernel_drops();
        end.kernel_dropped += drops.dropped + drops.if_dropped;
        end
    }
}
