//! The data path's threads: capture threads fill frame batches, one bounded queue carries
//! them to the processing thread, which decodes, enriches, serializes and writes to every
//! output, then returns the batch to the pool.
//!
//! When the queue is full, live capture drops the batch and counts every frame in it as
//! `queue_full`; replay blocks instead, so a file is never replayed lossily.
//! Shutdown order: the stop flag ends the capture threads, which drop their queue
//! senders; the processing thread drains what is queued, flushes the outputs and returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tracing::{error, warn};

use crate::capture::live::LiveCapture;
use crate::capture::offline::{OfflineError, PcapFile};
use crate::capture::replay::{Replay, ReplayEvents};
use crate::capture::FrameBatch;
use crate::outputs::Output;
use crate::records::flow::BackgroundFlowWriter;
use crate::records::packet::Emitted;
use crate::records::{
    EndReason, FlowRecorder, FlowSettings, PacketBuilder, RollupSettings, Rollups,
};
use crate::telemetry::metrics::{CaptureMetrics, DecodeErrorCounters, Metrics, OutputMetrics};
use crate::telemetry::Health;
use crate::telemetry::RateLimiter;
use netsensor_schema::RecordKind;

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

/// The processing side: builder, flow table, outputs and their metrics.
pub struct Processor {
    builder: PacketBuilder,
    /// Flows are the only consumer of packets: take the headers-only path.
    flows_only: bool,
    emit_packets: bool,
    flows: Option<FlowRecorder>,
    /// Serializes flow records on a second thread (see `records::flow::writer`).
    flow_writer: Option<BackgroundFlowWriter>,
    rollups: Option<Rollups>,
    outputs: Vec<(Box<dyn Output>, OutputMetrics)>,
    metrics: Metrics,
    health: Health,
    decode_errors: DecodeErrorCounters,
    packet_records: Counter,
    flow_records: Counter,
    rollup_records: Counter,
    flows_evicted: Counter,
    flows_active: Gauge,
    evicted_seen: u64,
    packets_ndjson: Vec<u8>,
    flows_ndjson: Vec<u8>,
    rollups_ndjson: Vec<u8>,
    report: RunReport,
    output_warnings: RateLimiter,
}

impl Processor {
    /// A processor writing to `outputs`.
    pub fn new(
        builder: PacketBuilder,
        records: RecordSettings,
        outputs: Vec<Box<dyn Output>>,
        metrics: &Metrics,
        health: &Health,
        summary: bool,
    ) -> Self {
        let outputs = outputs
            .into_iter()
            .map(|output| {
                health.register_output(output.name());
                let m = metrics.output(output.name());
                if !output.reports_itself() {
                    m.up.set(1);
                }
                (output, m)
            })
            .collect();
        // Flows as the only consumer: no packet record is built (see `with_flow_packet`).
        let flows_only =
            !records.packets && records.rollups.is_none() && records.flows.is_some() && !summary;
        let flows = records
            .flows
            .map(|settings| builder.flow_recorder(settings));
        let flow_writer = flows.as_ref().and_then(|flows| {
            BackgroundFlowWriter::spawn(flows.writer())
                .inspect_err(|err| {
                    warn!(error = %err, "No flow writer thread; flow records are written inline.")
                })
                .ok()
        });
        let rollups = records.rollups.map(|settings| {
            Rollups::new(
                settings,
                builder.observer_name(),
                builder.hostname(),
                records.run,
            )
        });
        Processor {
            builder,
            flows_only,
            emit_packets: records.packets,
            flows,
            flow_writer,
            rollups,
            outputs,
            metrics: metrics.clone(),
            health: health.clone(),
            decode_errors: metrics.decode_error_counters(),
            packet_records: metrics.records(RecordKind::Packet),
            flow_records: metrics.records(RecordKind::Flow),
            rollup_records: metrics.records(RecordKind::Rollup),
            flows_evicted: metrics.flows_evicted(),
            flows_active: metrics.flows_active(),
            evicted_seen: 0,
            packets_ndjson: Vec::with_capacity(1 << 20),
            flows_ndjson: Vec::new(),
            rollups_ndjson: Vec::new(),
            report: RunReport {
                summary: summary.then(Summary::default),
                ..RunReport::default()
            },
            output_warnings: RateLimiter::new(Duration::from_secs(10)),
        }
    }

    /// Processes one batch: every frame feeds the packet records and the flow table, then
    /// each output gets one write per record kind. On replay (`packet_time`), flows time
    /// out by the packets' clock.
    pub fn process(&mut self, batch: &FrameBatch, packet_time: bool) {
        let Some(source) = batch.source.as_deref() else {
            return;
        };
        self.packets_ndjson.clear();
        let mut written = 0u64;
        let mut last_time = None;
        let (emit_packets, ndjson) = (self.emit_packets, &mut self.packets_ndjson);
        let (flows, rollups) = (&mut self.flows, &mut self.rollups);
        let summary = &mut self.report.summary;
        let decode_errors = &self.decode_errors;
        for (meta, data) in batch.iter() {
            last_time = Some(meta.timestamp_ns);
            if let (true, Some(flows)) = (self.flows_only, flows.as_mut()) {
                if let Some(layer) = self.builder.observe_flow(source, meta, data, flows) {
                    decode_errors.inc(layer);
                }
                continue;
            }
            self.builder
                .with_record(source, meta, data, |record, error| {
                    if emit_packets {
                        match serde_json::to_writer(&mut *ndjson, record) {
                            Ok(()) => {
                                ndjson.push(b'\n');
                                written += 1;
                            }
                            Err(err) => error!(error = %err, "A record could not be serialized."),
                        }
                    }
                    if let Some(flows) = flows.as_mut() {
                        flows.observe(record);
                    }
                    if let Some(rollups) = rollups.as_mut() {
                        rollups.observe(record);
                    }
                    if let Some(layer) = error {
                        decode_errors.inc(layer);
                    }
                    if let Some(summary) = summary.as_mut() {
                        summary.add(&Emitted::of(record, error), meta.wire_len);
                    }
                });
        }
        self.packet_records.inc_by(written);
        self.report.packets += batch.len() as u64;
        self.report.records += written;
        if emit_packets {
            let ndjson = std::mem::take(&mut self.packets_ndjson);
            self.write(RecordKind::Packet, &ndjson, written);
            self.packets_ndjson = ndjson;
        }
        if let (true, Some(now)) = (packet_time, last_time) {
            self.expire(now);
        } else {
            self.write_flows(false);
            self.write_rollups();
        }
    }

    /// Exports the flows and rollup intervals due at `now_ns` and writes their records.
    pub fn expire(&mut self, now_ns: i64) {
        if let Some(flows) = &mut self.flows {
            flows.expire(now_ns);
        }
        if let Some(rollups) = &mut self.rollups {
            rollups.expire(now_ns);
        }
        self.write_flows(false);
        self.write_rollups();
    }

    /// Exports every open flow as final and closes the current rollup interval (end of
    /// input or shutdown).
    pub fn flush_open(&mut self, reason: EndReason) {
        if let Some(flows) = &mut self.flows {
            flows.flush_all(reason);
        }
        if let Some(rollups) = &mut self.rollups {
            rollups.flush();
        }
        self.write_flows(true);
        self.write_rollups();
    }

    fn write_rollups(&mut self) {
        let Some(rollups) = &mut self.rollups else {
            return;
        };
        self.rollups_ndjson.clear();
        let count = match rollups.write_ndjson(&mut self.rollups_ndjson) {
            Ok(count) => count as u64,
            Err(err) => {
                error!(error = %err, "Rollup records could not be serialized.");
                0
            }
        };
        if count > 0 {
            self.rollup_records.inc_by(count);
            self.report.records += count;
            let ndjson = std::mem::take(&mut self.rollups_ndjson);
            self.write(RecordKind::Rollup, &ndjson, count);
            self.rollups_ndjson = ndjson;
        }
    }

    /// Writes the flow records exported so far: hands them to the writer thread and writes
    /// what it has finished (with `wait`, everything handed over).
    fn write_flows(&mut self, wait: bool) {
        let Some(flows) = &mut self.flows else { return };
        self.flows_ndjson.clear();
        let count = match &mut self.flow_writer {
            Some(background) => {
                flows.hand_over(background);
                let collected = background.collect(&mut self.flows_ndjson, wait);
                for err in &collected.errors {
                    error!(error = %err, "Flow records could not be serialized.");
                }
                collected.records as u64
            }
            None => match flows.write_ndjson(&mut self.flows_ndjson) {
                Ok(count) => count as u64,
                Err(err) => {
                    error!(error = %err, "Flow records could not be serialized.");
                    0
                }
            },
        };
        self.flows_active.set(flows.len() as i64);
        let evicted = flows.counters().evicted;
        self.flows_evicted.inc_by(evicted - self.evicted_seen);
        self.evicted_seen = evicted;
        if count > 0 {
            self.flow_records.inc_by(count);
            self.report.records += count;
            let ndjson = std::mem::take(&mut self.flows_ndjson);
            self.write(RecordKind::Flow, &ndjson, count);
            self.flows_ndjson = ndjson;
        }
    }

    /// Hands one kind's NDJSON to every output and accounts the result.
    fn write(&mut self, kind: RecordKind, ndjson: &[u8], records: u64) {
        for (output, metrics) in &mut self.outputs {
            let result = output.write_batch(kind, ndjson);
            let own = output.reports_itself();
            match &result {
                Ok(()) if own => {}
                Ok(()) => {
                    metrics.sent.inc_by(records);
                    metrics.bytes.inc_by(ndjson.len() as u64);
                }
                Err(err) => {
                    if !own {
                        metrics.failed.inc_by(records);
                    }
                    self.report.output_errors += 1;
                    if let Some(suppressed) = self.output_warnings.allow("output_write") {
                        warn!(output = output.name(), error = %err, "Output write failed{suppressed}.");
                    }
                }
            }
            if !own {
                set_output_health(&self.health, output.name(), metrics, result.is_ok());
            }
        }
    }

    /// Flushes every output.
    pub fn flush(&mut self) {
        // Flow records still on the writer thread go out first.
        self.write_flows(true);
        for (output, metrics) in &mut self.outputs {
            let result = output.flush();
            if let Err(err) = &result {
                warn!(output = output.name(), error = %err, "Output flush failed.");
                self.report.output_errors += 1;
            }
            if !output.reports_itself() {
                set_output_health(&self.health, output.name(), metrics, result.is_ok());
            }
        }
    }

    /// Ends the run: flows still open are exported as final with `reason`, outputs are
    /// flushed, and the report is returned.
    pub fn finish(mut self, reason: EndReason, started: Instant) -> RunReport {
        self.flush_open(reason);
        self.flush();
        for (output, _) in &mut self.outputs {
            match output.close() {
                Ok(lost) => self.report.records_lost += lost,
                Err(err) => {
                    warn!(output = output.name(), error = %err, "Output close failed.");
                    self.report.output_errors += 1;
                }
            }
        }
        self.report.elapsed_secs = started.elapsed().as_secs_f64();
        self.report
    }
}

/// Replays files through the processor. Blocks until every file is read.
pub fn run_replay(
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

/// Captures live from every capture until `stop` is set, then drains and flushes.
pub fn run_live(
    captures: Vec<(LiveCapture, Arc<crate::capture::SourceInfo>)>,
    mut processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
) -> RunReport {
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
        let name = capture.interface().to_owned();
        health.register_capture(&name);
        let worker = CaptureWorker {
            capture,
            source,
            full: full_tx.clone(),
            free: free_rx.clone(),
            batch_frames: queue.batch_frames,
            metrics: metrics.capture(&name),
            health: health.clone(),
            stop: Arc::clone(&stop),
        };
        match std::thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || worker.run())
        {
            Ok(handle) => threads.push(handle),
            Err(err) => error!(capture = %name, error = %err, "Cannot start a capture thread."),
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
    let capture_errors: Vec<String> = threads
        .into_iter()
        .filter_map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Some("capture thread panicked".into()))
        })
        .collect();
    let mut report = processor.finish(EndReason::Shutdown, started);
    report.capture_errors = capture_errors;
    report
}

struct CaptureWorker {
    capture: LiveCapture,
    source: Arc<crate::capture::SourceInfo>,
    full: Sender<FrameBatch>,
    free: Receiver<FrameBatch>,
    batch_frames: usize,
    metrics: CaptureMetrics,
    health: Health,
    stop: Arc<AtomicBool>,
}

impl CaptureWorker {
    /// Captures until told to stop; returns the error that ended the capture early, if any.
    fn run(mut self) -> Option<String> {
        let name = self.capture.interface().to_owned();
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
            batch = match self.full.try_send(batch) {
                Ok(()) => self.empty_batch(),
                Err(TrySendError::Full(mut rejected)) => {
                    self.metrics
                        .dropped_queue_full
                        .inc_by(rejected.len() as u64);
                    rejected.clear();
                    rejected
                }
                Err(TrySendError::Disconnected(_)) => break,
            };
        }
        self.health.set_capture_up(&name, false);
        failure
    }

    fn empty_batch(&self) -> FrameBatch {
        let mut batch = self
            .free
            .try_recv()
            .unwrap_or_else(|_| FrameBatch::with_capacity(self.batch_frames));
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
