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
mod live;
mod outputs;
pub mod shed;
mod workers;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use tracing::error;

use crate::capture::offline::{OfflineError, PcapFile};
use crate::capture::replay::{Replay, ReplayEvents};
use crate::capture::FrameBatch;
use crate::outputs::Output;
use crate::records::packet::Emitted;
use crate::records::{EndReason, FlowSettings, PacketBuilder, RollupSettings, Rollups};
use crate::telemetry::metrics::{CaptureMetrics, Metrics, OutputMetrics};
use crate::telemetry::Health;
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
    /// Packets whose record and flow share load shedding left out.
    pub shed: u64,
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
        // Shown at 0 when nothing is shed, so a dashboard sees the series.
        let _ = metrics.packets_shed_overload();
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

    /// Turns on load shedding in every worker (see [`shed`]).
    pub fn with_shedding(mut self, settings: shed::ShedSettings) -> Self {
        let single = self.engines.len() == 1;
        for (index, engine) in self.engines.iter_mut().enumerate() {
            let queue = if single {
                "capture".to_owned()
            } else {
                format!("worker-{index}")
            };
            engine.shedder = Some(shed::Shedder::new(
                settings,
                self.metrics.packets_shed_overload(),
                self.metrics.sample_rate(&queue),
            ));
        }
        self
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

    /// Lets load shedding on the first worker look at its queue.
    pub fn observe_queue(&mut self, waiting: usize, capacity: usize) {
        if let Some(engine) = self.engines.first_mut() {
            engine.observe_queue(waiting, capacity);
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
        self.shed += engine.shedder.as_ref().map_or(0, |s| s.shed_packets);
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
        processor.observe_queue(full_rx.len(), queue.queue_batches);
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

pub use live::{run_live, LiveInput, Rescan, RescanChanges};

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
