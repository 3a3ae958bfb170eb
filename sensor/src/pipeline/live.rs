//! Live capture: one thread per source (a libpcap handle or an AF_PACKET ring) fills
//! batches and forwards them — whole into the one worker's queue, or dispatched by flow
//! into several workers' queues. Sources can come and go at run time when a capture
//! selects interfaces by globs ([`Rescan`]).
//!
//! A full queue drops the frames and counts them as `queue_full`; kernel counters are read
//! after every fill. The stop flag ends every capture thread; a source whose interface
//! vanished is stopped on its own, and the error its capture reported then is not the
//! run's (the interface is gone, not broken).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use tracing::{error, info, warn};

use crate::capture::{FrameBatch, LiveSource, SourceInfo};
use crate::records::EndReason;
use crate::telemetry::metrics::{CaptureMetrics, Metrics};
use crate::telemetry::Health;

use super::dispatch::Dispatcher;
use super::{
    count_received, error_chain, wall_clock_ns, workers, Processor, QueueSettings, RunReport,
};

/// A live source and what its records share (`interface` names the interface).
pub type LiveInput = (Box<dyn LiveSource>, Arc<SourceInfo>);

/// What a rescan found.
#[derive(Default)]
pub struct RescanChanges {
    /// Sources of interfaces that appeared, to start.
    pub added: Vec<LiveInput>,
    /// Interfaces that vanished: their sources stop.
    pub removed: Vec<String>,
}

/// Live sources that change at run time: interface globs re-evaluated every so often.
pub trait Rescan: Send {
    /// How long until the next rescan is due.
    fn until_due(&self) -> Duration;
    /// Re-evaluates the selection now.
    fn rescan(&mut self) -> RescanChanges;
}

/// Captures live from every capture until `stop` is set, then drains and flushes. With
/// several workers each capture thread dispatches its frames by flow (see [`workers`]);
/// with `rescan`, captures start and stop as interfaces appear and vanish.
pub fn run_live(
    captures: Vec<LiveInput>,
    rescan: Option<Box<dyn Rescan>>,
    processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
) -> RunReport {
    if processor.workers() > 1 {
        return workers::run_live(captures, rescan, processor, queue, stop);
    }
    let mut processor = processor;
    let started = Instant::now();
    let (full_tx, full_rx) = bounded::<FrameBatch>(queue.queue_batches);
    let (free_tx, free_rx) = bounded::<FrameBatch>(queue.queue_batches + 2 * captures.len() + 2);
    let metrics = processor.metrics.clone();
    let health = processor.health.clone();
    let depth = metrics.queue_depth("capture");
    metrics
        .queue_capacity("capture")
        .set(queue.queue_batches as i64);
    let forward = {
        let (full, free) = (full_tx.clone(), free_rx.clone());
        move || Forward::Queue {
            full: full.clone(),
            free: free.clone(),
        }
    };
    let mut threads = CaptureThreads::new(&metrics, &health, &stop, queue.batch_frames);
    threads.start(captures, &forward);
    drop(full_tx);
    // Without rescans, the run ends when every capture has ended (stopped or failed).
    let mut forward = rescan.is_some().then_some(forward);
    let mut rescan = rescan;
    loop {
        match full_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(batch) => {
                depth.set(full_rx.len() as i64);
                processor.observe_queue(full_rx.len(), queue.queue_batches);
                processor.process(&batch, false);
                let _ = free_tx.try_send(batch);
                if full_rx.is_empty() {
                    processor.flush();
                }
            }
            Err(RecvTimeoutError::Timeout) => processor.flush(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Live flows time out by the wall clock, also when no packet arrives.
        processor.expire(wall_clock_ns());
        if stop.load(Ordering::Relaxed) {
            // No capture starts any more: once the running ones end, the queue drains.
            forward = None;
            rescan = None;
        }
        if let (Some(rescan), Some(forward)) = (rescan.as_mut(), forward.as_ref()) {
            threads.rescan_if_due(rescan.as_mut(), forward);
        }
    }
    let capture_errors = threads.join_all();
    let mut report = processor.finish(EndReason::Shutdown, started);
    report.capture_errors = capture_errors;
    report
}

/// The running capture threads, by the interface they capture on.
pub(super) struct CaptureThreads {
    running: Vec<CaptureThread>,
    /// Errors of captures that ended early (not those of vanished interfaces).
    errors: Vec<String>,
    metrics: Metrics,
    health: Health,
    stop: Arc<AtomicBool>,
    batch_frames: usize,
    next_rescan: Instant,
}

struct CaptureThread {
    interface: String,
    closed: Arc<AtomicBool>,
    handle: JoinHandle<Option<String>>,
}

impl CaptureThreads {
    pub fn new(
        metrics: &Metrics,
        health: &Health,
        stop: &Arc<AtomicBool>,
        batch_frames: usize,
    ) -> Self {
        CaptureThreads {
            running: Vec::new(),
            errors: Vec::new(),
            metrics: metrics.clone(),
            health: health.clone(),
            stop: Arc::clone(stop),
            batch_frames,
            next_rescan: Instant::now(),
        }
    }

    /// Starts one thread per source, each forwarding as `forward` makes it.
    pub fn start(&mut self, captures: Vec<LiveInput>, forward: &dyn Fn() -> Forward) {
        for (capture, source) in captures {
            let interface = source.interface.clone();
            let closed = Arc::new(AtomicBool::new(false));
            let worker = CaptureWorker {
                name: capture.name().to_owned(),
                metrics: self.metrics.capture(capture.name()),
                capture,
                source,
                forward: forward(),
                batch_frames: self.batch_frames,
                health: self.health.clone(),
                stop: Arc::clone(&self.stop),
                closed: Arc::clone(&closed),
            };
            let name = worker.name.clone();
            self.health.register_capture(&name);
            match std::thread::Builder::new()
                .name(format!("capture-{name}"))
                .spawn(move || worker.run())
            {
                Ok(handle) => self.running.push(CaptureThread {
                    interface,
                    closed,
                    handle,
                }),
                Err(err) => {
                    error!(capture = %name, error = %err, "Cannot start a capture thread.");
                    self.errors
                        .push(format!("{name}: cannot start a capture thread: {err}"));
                }
            }
        }
    }

    /// Applies a rescan when one is due: stops the sources of vanished interfaces and
    /// starts those of new ones.
    pub fn rescan_if_due(&mut self, rescan: &mut dyn Rescan, forward: &dyn Fn() -> Forward) {
        let now = Instant::now();
        if now < self.next_rescan {
            return;
        }
        let changes = rescan.rescan();
        self.next_rescan = now + rescan.until_due().max(Duration::from_millis(100));
        for interface in &changes.removed {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.running)
                .into_iter()
                .partition(|t| &t.interface == interface);
            self.running = kept;
            for thread in gone {
                thread.closed.store(true, Ordering::Relaxed);
                if let Ok(Some(error)) = thread.handle.join() {
                    info!(interface = %interface, error = %error, "Capture ended with its interface.");
                }
            }
            info!(interface = %interface, "Interface gone: its capture stopped.");
        }
        if !changes.added.is_empty() {
            for (_, source) in &changes.added {
                info!(interface = %source.interface, "New interface selected: capturing.");
            }
            self.start(changes.added, forward);
        }
    }

    /// True when no capture thread runs any more (all ended or none started).
    pub fn is_empty_or_done(&self) -> bool {
        self.running.iter().all(|t| t.handle.is_finished())
    }

    /// Waits for every capture thread (after the stop flag was set, or when they fail);
    /// returns the errors that ended captures early.
    pub fn join_all(self) -> Vec<String> {
        let mut errors = self.errors;
        for thread in self.running {
            match thread.handle.join() {
                Ok(Some(error)) => errors.push(error),
                Ok(None) => {}
                Err(_) => errors.push(format!("{}: capture thread panicked", thread.interface)),
            }
        }
        errors
    }
}

/// Where a capture thread's batches go.
pub(super) enum Forward {
    /// One worker: whole batches into its queue (dropped and counted when it is full).
    Queue {
        full: Sender<FrameBatch>,
        free: Receiver<FrameBatch>,
    },
    /// Several workers: frames dispatched by flow (see [`super::dispatch`]).
    Dispatch(Dispatcher),
}

struct CaptureWorker {
    name: String,
    capture: Box<dyn LiveSource>,
    source: Arc<SourceInfo>,
    forward: Forward,
    batch_frames: usize,
    metrics: CaptureMetrics,
    health: Health,
    stop: Arc<AtomicBool>,
    /// Set when this source alone stops (its interface vanished).
    closed: Arc<AtomicBool>,
}

impl CaptureWorker {
    /// Captures until told to stop; returns the error that ended the capture early, if any.
    fn run(mut self) -> Option<String> {
        let name = self.name.clone();
        self.health.set_capture_up(&name, true);
        let mut warned_oversized = false;
        let mut batch = self.empty_batch();
        let mut failure = None;
        while !self.stop.load(Ordering::Relaxed) && !self.closed.load(Ordering::Relaxed) {
            if let Err(err) = self.capture.fill(&mut batch, self.batch_frames) {
                let message = error_chain(&err);
                if !self.closed.load(Ordering::Relaxed) {
                    error!(capture = %name, error = %message, "Capture failed; this capture stops.");
                }
                failure = Some(message);
                break;
            }
            let drops = self.capture.kernel_drops();
            self.metrics.dropped_kernel.inc_by(drops.dropped);
            self.metrics.dropped_interface.inc_by(drops.if_dropped);
            self.metrics.freeze_queue.inc_by(drops.freeze_queue);
            self.metrics.malformed.inc_by(drops.ring_errors);
            if batch.is_empty() {
                continue;
            }
            count_received(&self.metrics, &batch);
            if let Some(max) = self.capture.max_frame() {
                let oversized = batch
                    .frames
                    .iter()
                    .filter(|(m, _)| m.wire_len > max)
                    .count();
                if oversized > 0 {
                    self.metrics.oversized.inc_by(oversized as u64);
                    if !warned_oversized {
                        warned_oversized = true;
                        warn!(capture = %name, max_frame = max,
                            "Frames larger than the interface MTU: NIC offloads (GRO/LRO/TSO) merge packets, which skews sizes and counts. Turn them off with `ethtool -K IFACE gro off lro off tso off gso off`.");
                    }
                }
            }
            batch = match &mut self.forward {
                Forward::Queue { full, .. } => match full.try_send(batch) {
                    Ok(()) => self.empty_batch(),
                    Err(TrySendError::Full(mut rejected)) => {
                        self.metrics
                            .dropped_queue_full
                            .inc_by(rejected.len() as u64);
                        rejected.clear();
                        rejected
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                },
                Forward::Dispatch(dispatcher) => match dispatcher.dispatch_dropping(&batch) {
                    Ok(dropped) => {
                        self.metrics.dropped_queue_full.inc_by(dropped);
                        batch.clear();
                        batch
                    }
                    Err(_) => break,
                },
            };
        }
        self.health.set_capture_up(&name, false);
        failure
    }

    fn empty_batch(&self) -> FrameBatch {
        let mut batch = match &self.forward {
            Forward::Queue { free, .. } => free
                .try_recv()
                .unwrap_or_else(|_| FrameBatch::with_capacity(self.batch_frames)),
            Forward::Dispatch(_) => FrameBatch::with_capacity(self.batch_frames),
        };
        batch.clear();
        batch.source = Some(Arc::clone(&self.source));
        batch
    }
}
