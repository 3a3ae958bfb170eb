//! The data path's threads: capture threads fill frame batches, bounded queues carry
//! them to the processing worker(s), which decode, enrich and serialize, and the outputs
//! write the records; then the batch returns to its pool.
//!
//! With one worker (the default) one queue feeds one processing thread that also writes
//! the outputs. With `pipeline.workers: N` the thread that reads frames dispatches each
//! one by a hash of its flow into one queue per worker, and one output stage thread
//! writes what every worker produces (see [`workers`] and [`dispatch`]).
//!
//! When a queue is full, live capture drops the frames and counts every one as
//! `queue_full`; replay blocks instead, so a file is never replayed lossily.
//! Shutdown order: the stop flag ends the capture threads, which drop their queue
//! senders; the processing side drains what is queued, flushes the outputs and returns.

pub mod dispatch;
mod engine;
mod outputs;
mod workers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use tracing::{error, warn};

use crate::capture::offline::{OfflineError, PcapFile};
use crate::capture::replay::{Replay, ReplayEvents};
use crate::capture::{FrameBatch, LiveSource, SourceInfo};
use crate::outputs::Output;
use crate::records::packet::Emitted;
use crate::records::{EndReason, FlowSettings, PacketBuilder, RollupSettings, Rollups};
use crate::telemetry::metrics::{CaptureMetrics, Metrics, OutputMetrics};
use crate::telemetry::Health;
use dispatch::Dispatcher;
use engine::{Engine, EngineMode};
use outputs::{Outputs, RollupMerger};

/// Sizes of the batches and of the queue between capture and processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Frames per batch.
    pub batch_frames: usize,
    /// Batches the queue holds.
    pub queue_batches: usize,
}

/// What a run did, for the exit status and the summary.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Frames processed.
    pub packets: u64,
    /// Records written.
    pub records: u64,
    /// Files that could not be read completely.
    pub file_errors: Vec<String>,
    /// Live captures that failed before the sensor was told to stop.
    pub capture_errors: Vec<String>,
    /// Errors from outputs.
    pub output_errors: u64,
    /// Records the outputs lost (dropped or rejected), as they report at close.
    pub records_lost: u64,
    /// Traffic summary, when asked for.
    pub summary: Option<Summary>,
    /// Wall-clock time of the run.
    pub elapsed_secs: f64,
}

/// Counts for the end-of-run summary (`replay --summary`, `make demo`).
#[derive(Debug, Default)]
pub struct Summary {
    /// Packets by `network.transport`.
    pub transports: HashMap<&'static str, u64>,
    /// Packets by `netsensor.service`.
    pub services: HashMap<&'static str, u64>,
    /// Packets by country code (source and destination each count).
    pub countries: HashMap<[u8; 2], u64>,
    /// Bytes on the wire.
    pub bytes: u64,
}

impl Summary {
    /// Counts one packet.
    pub fn add(&mut self, emitted: &Emitted, wire_len: u32) {
        self.bytes += u64::from(wire_len);
        if let Some(t) = emitted.transport {
            *self.transports.entry(t).or_default() += 1;
        }
        if let Some(s) = emitted.service {
            *self.services.entry(s).or_default() += 1;
        }
        for code in emitted.countries.into_iter().flatten() {
            *self.countries.entry(code).or_default() += 1;
        }
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: Summary) {
        self.bytes += other.bytes;
        for (key, count) in other.transports {
            *self.transports.entry(key).or_default() += count;
        }
        for (key, count) in other.services {
            *self.services.entry(key).or_default() += count;
        }
        for (key, count) in other.countries {
            *self.countries.entry(key).or_default() += count;
        }
    }

    /// Renders the summary as a short text report.
    pub fn render(&self, packets: u64) -> String {
        let mut out = format!("packets: {packets}, bytes on the wire: {}\n", self.bytes);
        let top = |map: Vec<(String, u64)>, title: &str, out: &mut String| {
            let mut rows = map;
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            out.push_str(title);
            out.push('\n');
            if rows.is_empty() {
                out.push_str("  (none)\n");
            }
            for (key, count) in rows.into_iter().take(10) {
                out.push_str(&format!("  {key:<16} {count:>10}\n"));
            }
        };
        top(
            self.transports
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            "packets by transport:",
            &mut out,
        );
        top(
            self.services
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            "top services:",
            &mut out,
        );
        top(
            self.countries
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), *v))
                .collect(),
            "top countries (source or destination):",
            &mut out,
        );
        out
    }
}

/// Which records the processor emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSettings {
    /// Emit one record per packet.
    pub packets: bool,
    /// Track flows and emit flow records with these settings.
    pub flows: Option<FlowSettings>,
    /// Aggregate interval rollups with these settings.
    pub rollups: Option<RollupSettings>,
    /// Identity of this run (replayed files' contents, or a live run's start), mixed into
    /// rollup ids.
    pub run: u64,
}

/// The processing side: one engine (builder, flow table, rollups) per worker and the
/// outputs with their metrics.
pub struct Processor {
    engines: Vec<Engine>,
    outputs: Outputs,
    metrics: Metrics,
    health: Health,
    /// Flow settings per worker and the rollup interval, for the dispatcher.
    records: RecordSettings,
}

impl Processor {
    /// A processor (one worker) writing to `outputs`.
    pub fn new(
        builder: PacketBuilder,
        records: RecordSettings,
        outputs: Vec<Box<dyn Output>>,
        metrics: &Metrics,
        health: &Health,
        summary: bool,
    ) -> Self {
        Self::with_workers(vec![builder], records, outputs, metrics, health, summary)
    }

    /// A processor with one worker per builder (at least one). With several, each worker
    /// keeps its own flow table (`flows.max_flows` split evenly between them) and rollup
    /// counts, which the output stage merges per interval.
    pub fn with_workers(
        builders: Vec<PacketBuilder>,
        records: RecordSettings,
        outputs: Vec<Box<dyn Output>>,
        metrics: &Metrics,
        health: &Health,
        summary: bool,
    ) -> Self {
        let workers = builders.len().max(1);
        let mut outputs = Outputs::new(outputs, metrics, health);
        let mut per_worker = records;
        if let Some(flows) = &mut per_worker.flows {
            flows.max_flows = flows.max_flows.div_ceil(workers).max(1);
        }
        let mode = EngineMode {
            background_flow_writer: workers == 1,
            partial_rollups: workers > 1,
        };
        let engines: Vec<Engine> = builders
            .into_iter()
            .map(|builder| Engine::new(builder, per_worker, metrics, summary, mode))
            .collect();
        if let (true, Some(settings), Some(first)) = (workers > 1, records.rollups, engines.first())
        {
            let rollups = Rollups::new(
                settings,
                first.observer_name(),
                first.hostname(),
                records.run,
            );
            outputs = outputs.with_merger(RollupMerger::new(rollups, workers));
        }
        Processor {
            engines,
            outputs,
            metrics: metrics.clone(),
            health: health.clone(),
            records,
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.engines.len()
    }

    /// Processes one batch on the first worker: every frame feeds the packet records and
    /// the flow table, then each output gets one write per record kind. On replay
    /// (`packet_time`), flows time out by the packets' clock.
    pub fn process(&mut self, batch: &FrameBatch, packet_time: bool) {
        if let Some(engine) = self.engines.first_mut() {
            engine.process(batch, packet_time, None, &mut self.outputs);
        }
    }

    /// Exports the flows and rollup intervals due at `now_ns` and writes their records.
    pub fn expire(&mut self, now_ns: i64) {
        if let Some(engine) = self.engines.first_mut() {
            engine.expire(now_ns, &mut self.outputs);
        }
    }

    /// Exports every open flow as final and closes the current rollup interval (end of
    /// input or shutdown).
    pub fn flush_open(&mut self, reason: EndReason) {
        for engine in &mut self.engines {
            engine.flush_open(reason, &mut self.outputs);
        }
    }

    /// Flushes every output.
    pub fn flush(&mut self) {
        // Flow records still on the writer thread go out first.
        for engine in &mut self.engines {
            engine.write_flows(true, &mut self.outputs);
        }
        self.outputs.flush();
    }

    /// Ends the run: flows still open are exported as final with `reason`, outputs are
    /// flushed, and the report is returned.
    pub fn finish(mut self, reason: EndReason, started: Instant) -> RunReport {
        self.flush_open(reason);
        self.flush();
        self.outputs.close();
        let mut report = RunReport::default();
        for engine in self.engines {
            report.add_engine(engine);
        }
        report.add_outputs(&self.outputs);
        report.elapsed_secs = started.elapsed().as_secs_f64();
        report
    }
}

impl RunReport {
    /// Adds one worker's packets and summary.
    fn add_engine(&mut self, engine: Engine) {
        self.packets += engine.packets;
        if let Some(summary) = engine.summary {
            match &mut self.summary {
                Some(total) => total.merge(summary),
                None => self.summary = Some(summary),
            }
        }
    }

    /// Adds what the outputs reported.
    fn add_outputs(&mut self, outputs: &Outputs) {
        self.records += outputs.records;
        self.output_errors += outputs.output_errors;
        self.records_lost += outputs.records_lost;
    }
}

/// Replays files through the processor (with several workers, see [`workers`]). Blocks
/// until every file is read.
pub fn run_replay(
    replay: Replay,
    processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
    progress: Option<indicatif::ProgressBar>,
) -> RunReport {
    if processor.workers() > 1 {
        return workers::run_replay(replay, processor, queue, stop, progress);
    }
    run_replay_single(replay, processor, queue, stop, progress)
}

/// One worker: a reader thread and this thread processing, through one bounded queue.
fn run_replay_single(
    mut replay: Replay,
    mut processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
    progress: Option<indicatif::ProgressBar>,
) -> RunReport {
    let started = Instant::now();
    let (full_tx, full_rx) = bounded::<FrameBatch>(queue.queue_batches);
    let (free_tx, free_rx) = bounded::<FrameBatch>(queue.queue_batches + 2);
    let depth = processor.metrics.queue_depth("capture");
    processor
        .metrics
        .queue_capacity("capture")
        .set(queue.queue_batches as i64);
    let batch_frames = queue.batch_frames;
    let capture_metrics = processor.metrics.capture("replay");
    processor.health.register_capture("replay");
    processor.health.set_capture_up("replay", true);
    let producer_stop = Arc::clone(&stop);
    let producer = std::thread::Builder::new()
        .name("replay".into())
        .spawn(move || {
            let mut events = ReplaySink {
                metrics: capture_metrics,
                full: full_tx,
                free: free_rx,
                batch_frames,
                errors: Vec::new(),
                progress,
            };
            replay.run(batch_frames, &producer_stop, &mut events);
            if let Some(bar) = &events.progress {
                bar.finish_and_clear();
            }
            events.errors
        });
    for batch in full_rx.iter() {
        depth.set(full_rx.len() as i64);
        processor.process(&batch, true);
        let _ = free_tx.try_send(batch);
    }
    let file_errors = match producer {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|_| vec!["replay thread panicked".into()]),
        Err(err) => vec![format!("cannot start the replay thread: {err}")],
    };
    processor.health.set_capture_up("replay", false);
    let mut report = processor.finish(EndReason::EndOfInput, started);
    report.file_errors = file_errors;
    report
}

struct ReplaySink {
    metrics: CaptureMetrics,
    full: Sender<FrameBatch>,
    free: Receiver<FrameBatch>,
    batch_frames: usize,
    errors: Vec<String>,
    progress: Option<indicatif::ProgressBar>,
}

impl ReplayEvents for ReplaySink {
    fn file_opened(&mut self, file: &PcapFile) {
        if let Some(bar) = &self.progress {
            bar.set_message(file.path().display().to_string());
        }
    }

    fn file_failed(&mut self, error: OfflineError) {
        error!(error = %error, "Replay of a file failed; records before the damage were kept.");
        self.errors.push(error.to_string());
    }

    fn deliver(&mut self, batch: FrameBatch) -> bool {
        if let Some(bar) = &self.progress {
            bar.inc(batch.len() as u64);
        }
        count_received(&self.metrics, &batch);
        // Replay never drops: block until the processor has room.
        self.full.send(batch).is_ok()
    }

    fn empty_batch(&mut self) -> FrameBatch {
        self.free
            .try_recv()
            .unwrap_or_else(|_| FrameBatch::with_capacity(self.batch_frames))
    }
}

/// A live source and what its records share.
pub type LiveInput = (Box<dyn LiveSource>, Arc<SourceInfo>);

/// Captures live from every capture until `stop` is set, then drains and flushes. With
/// several workers each capture thread dispatches its frames by flow (see [`workers`]).
pub fn run_live(
    captures: Vec<LiveInput>,
    processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
) -> RunReport {
    if processor.workers() > 1 {
        return workers::run_live(captures, processor, queue, stop);
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
    let mut threads = Vec::new();
    for (capture, source) in captures {
        let forward = Forward::Queue {
            full: full_tx.clone(),
            free: free_rx.clone(),
        };
        if let Some(handle) = CaptureWorker::spawn(
            capture,
            source,
            forward,
            queue.batch_frames,
            &metrics,
            &health,
            &stop,
        ) {
            threads.push(handle);
        }
    }
    drop(full_tx);
    loop {
        match full_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(batch) => {
                depth.set(full_rx.len() as i64);
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
    }
    let capture_errors = join_captures(threads);
    let mut report = processor.finish(EndReason::Shutdown, started);
    report.capture_errors = capture_errors;
    report
}

/// Waits for capture threads; returns the errors that ended captures early.
fn join_captures(threads: Vec<std::thread::JoinHandle<Option<String>>>) -> Vec<String> {
    threads
        .into_iter()
        .filter_map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Some("capture thread panicked".into()))
        })
        .collect()
}

/// Where a capture thread's batches go.
enum Forward {
    /// One worker: whole batches into its queue (dropped and counted when it is full).
    Queue {
        full: Sender<FrameBatch>,
        free: Receiver<FrameBatch>,
    },
    /// Several workers: frames dispatched by flow (see [`dispatch`]).
    Dispatch(Dispatcher),
}

struct CaptureWorker {
    capture: Box<dyn LiveSource>,
    source: Arc<SourceInfo>,
    forward: Forward,
    batch_frames: usize,
    metrics: CaptureMetrics,
    health: Health,
    stop: Arc<AtomicBool>,
}

impl CaptureWorker {
    /// Starts a capture thread; None (logged) when the thread cannot start.
    fn spawn(
        capture: Box<dyn LiveSource>,
        source: Arc<SourceInfo>,
        forward: Forward,
        batch_frames: usize,
        metrics: &Metrics,
        health: &Health,
        stop: &Arc<AtomicBool>,
    ) -> Option<std::thread::JoinHandle<Option<String>>> {
        let name = capture.name().to_owned();
        health.register_capture(&name);
        let worker = CaptureWorker {
            capture,
            source,
            forward,
            batch_frames,
            metrics: metrics.capture(&name),
            health: health.clone(),
            stop: Arc::clone(stop),
        };
        std::thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || worker.run())
            .inspect_err(
                |err| error!(capture = %name, error = %err, "Cannot start a capture thread."),
            )
            .ok()
    }

    /// Captures until told to stop; returns the error that ended the capture early, if any.
    fn run(mut self) -> Option<String> {
        let name = self.capture.name().to_owned();
        self.health.set_capture_up(&name, true);
        let mut warned_oversized = false;
        let mut batch = self.empty_batch();
        let mut failure = None;
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(err) = self.capture.fill(&mut batch, self.batch_frames) {
                let message = error_chain(&err);
                error!(capture = %name, error = %message, "Capture failed; this capture stops.");
                failure = Some(message);
                break;
            }
            let drops = self.capture.kernel_drops();
            self.metrics.dropped_kernel.inc_by(drops.dropped);
            self.metrics.dropped_interface.inc_by(drops.if_dropped);
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

/// An output is up after a successful write or flush and down after a failed one, in the
/// metric and in `/readyz` alike, so a transient failure heals by itself.
fn set_output_health(health: &Health, name: &str, metrics: &OutputMetrics, up: bool) {
    if (metrics.up.get() == 1) != up {
        metrics.up.set(i64::from(up));
        health.set_output_up(name, up);
    }
}

/// An error and its sources on one line (`outer: inner: innermost`), for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn count_received(metrics: &CaptureMetrics, batch: &FrameBatch) {
    metrics.packets.inc_by(batch.len() as u64);
    metrics.bytes.inc_by(
        batch
            .frames
            .iter()
            .map(|(m, _)| u64::from(m.wire_len))
            .sum(),
    );
}
