//! Several processing workers: the reading thread(s) dispatch frames by flow (see
//! [`super::dispatch`]) into one bounded queue per worker; each worker thread owns an
//! [`Engine`] (packet builder, flow table, rollup counts) and sends its NDJSON to one
//! output stage thread, which writes every output and merges the rollups per interval.
//!
//! Shutdown order: the readers end and drop their queue senders; each worker drains its
//! queue, exports its open flows and final rollup counts and drops its sender to the
//! output stage, which writes what is left, flushes and closes the outputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use prometheus_client::metrics::gauge::Gauge;
use tracing::error;

use crate::capture::offline::{OfflineError, PcapFile};
use crate::capture::replay::{Replay, ReplayEvents};
use crate::capture::FrameBatch;
use crate::decode::DecodeOptions;
use crate::records::rollup::RollupPartial;
use crate::records::EndReason;
use crate::telemetry::metrics::{CaptureMetrics, Metrics};
use netsensor_schema::RecordKind;

use super::dispatch::{Dispatcher, Lane, Work};
use super::engine::{Engine, Sink};
use super::live::{CaptureThreads, Forward};
use super::outputs::Outputs;
use super::{
    count_received, wall_clock_ns, LiveInput, Processor, QueueSettings, Rescan, RunReport,
};

/// What workers send the output stage.
enum ToOutput {
    Records {
        worker: usize,
        kind: RecordKind,
        ndjson: Vec<u8>,
        records: u64,
    },
    Rollups {
        worker: usize,
        partials: Vec<RollupPartial>,
        open_from: i64,
    },
}

/// A worker's sink: copies NDJSON into pooled buffers for the output stage.
struct ChannelSink {
    worker: usize,
    tx: Sender<ToOutput>,
    /// Buffers coming back from the output stage.
    spare: Receiver<Vec<u8>>,
}

impl Sink for ChannelSink {
    fn write(&mut self, kind: RecordKind, ndjson: &[u8], records: u64) {
        if records == 0 && ndjson.is_empty() {
            return;
        }
        let mut buffer = self.spare.try_recv().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(ndjson);
        // Fails only when the output stage is gone, which ends the run anyway.
        let _ = self.tx.send(ToOutput::Records {
            worker: self.worker,
            kind,
            ndjson: buffer,
            records,
        });
    }

    fn rollup_partials(&mut self, partials: Vec<RollupPartial>, open_from: i64) {
        let _ = self.tx.send(ToOutput::Rollups {
            worker: self.worker,
            partials,
            open_from,
        });
    }
}

/// The running worker threads and output stage, and the lanes the readers dispatch into.
struct Running {
    lanes: Vec<Lane>,
    workers: Vec<std::thread::JoinHandle<Engine>>,
    output: Option<std::thread::JoinHandle<Outputs>>,
    metrics: Metrics,
    health: crate::telemetry::Health,
    rollup_interval_ns: Option<i64>,
    decode: Arc<DecodeOptions>,
}

impl Running {
    /// Starts one thread per engine and the output stage; `live` picks wall-clock
    /// timeouts and flushing when idle, else replay's packet clock.
    fn start(processor: Processor, queue: QueueSettings, live: bool) -> Running {
        let Processor {
            engines,
            outputs,
            metrics,
            health,
            records,
        } = processor;
        let workers = engines.len();
        let decode = Arc::new(
            engines
                .first()
                .map(|e| e.decode_options().clone())
                .unwrap_or_default(),
        );
        let (out_tx, out_rx) = bounded::<ToOutput>(4 * workers);
        let mut spare_txs = Vec::new();
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for (index, mut engine) in engines.into_iter().enumerate() {
            let name = format!("worker-{index}");
            let (tx, rx) = bounded::<Work>(queue.queue_batches);
            let (free_tx, free_rx) = bounded::<FrameBatch>(queue.queue_batches + 2);
            let (spare_tx, spare_rx) = bounded::<Vec<u8>>(8);
            spare_txs.push(spare_tx);
            let depth = metrics.queue_depth(&name);
            metrics
                .queue_capacity(&name)
                .set(queue.queue_batches as i64);
            lanes.push(Lane::new(tx, free_rx, depth.clone()));
            let mut sink = ChannelSink {
                worker: index,
                tx: out_tx.clone(),
                spare: spare_rx,
            };
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                if live {
                    work_live(&mut engine, &rx, &free_tx, &depth, &mut sink);
                } else {
                    work_replay(&mut engine, &rx, &free_tx, &depth, &mut sink);
                }
                engine
            });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(err) => error!(worker = index, error = %err, "Cannot start a worker thread."),
            }
        }
        drop(out_tx);
        let output = std::thread::Builder::new()
            .name("outputs".into())
            .spawn(move || output_stage(outputs, &out_rx, &spare_txs, live))
            .inspect_err(|err| error!(error = %err, "Cannot start the output thread."))
            .ok();
        Running {
            lanes,
            workers: handles,
            output,
            metrics,
            health,
            rollup_interval_ns: records.rollups.map(|r| r.interval_ns),
            decode,
        }
    }

    /// A dispatcher into every worker's queue, for one reading thread.
    fn dispatcher(&self, batch_frames: usize) -> Dispatcher {
        let lanes = self.lanes.iter().map(Lane::sender).collect();
        Dispatcher::new(lanes, Arc::clone(&self.decode), batch_frames, None)
    }

    /// Waits for the workers and the output stage (after every lane was dropped).
    fn join(self, started: Instant) -> RunReport {
        let mut report = RunReport::default();
        for handle in self.workers {
            match handle.join() {
                Ok(engine) => report.add_engine(engine),
                Err(_) => report
                    .capture_errors
                    .push("a worker thread panicked".into()),
            }
        }
        match self.output.map(std::thread::JoinHandle::join) {
            Some(Ok(outputs)) => report.add_outputs(&outputs),
            _ => report.output_errors += 1,
        }
        report.elapsed_secs = started.elapsed().as_secs_f64();
        report
    }
}

/// A replay worker: frames by the packet clock, ticks from the reader; at the end its
/// open flows and rollup counts.
fn work_replay(
    engine: &mut Engine,
    rx: &Receiver<Work>,
    free: &Sender<FrameBatch>,
    depth: &Gauge,
    sink: &mut ChannelSink,
) {
    for work in rx.iter() {
        depth.set(rx.len() as i64);
        match work {
            Work::Frames { batch, clock_ns } => {
                engine.observe_queue(rx.len(), rx.capacity().unwrap_or(1));
                engine.process(&batch, true, clock_ns, sink);
                let _ = free.try_send(batch);
            }
            Work::Tick {
                clock_ns,
                rollup_start,
            } => {
                if let Some(start) = rollup_start {
                    engine.advance_rollups(start, sink);
                }
                engine.expire(clock_ns, sink);
            }
        }
    }
    engine.flush_open(EndReason::EndOfInput, sink);
}

/// A live worker: flows and rollup intervals end by the wall clock, also without packets.
fn work_live(
    engine: &mut Engine,
    rx: &Receiver<Work>,
    free: &Sender<FrameBatch>,
    depth: &Gauge,
    sink: &mut ChannelSink,
) {
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Work::Frames { batch, .. }) => {
                depth.set(rx.len() as i64);
                engine.observe_queue(rx.len(), rx.capacity().unwrap_or(1));
                engine.process(&batch, false, None, sink);
                let _ = free.try_send(batch);
            }
            Ok(Work::Tick { .. }) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = wall_clock_ns();
        engine.expire(now, sink);
        // An idle worker moves on too, so the merged interval is not held back.
        engine.advance_rollups_to_time(now, sink);
    }
    engine.flush_open(EndReason::Shutdown, sink);
}

/// The output stage: writes every worker's records, merges rollups, flushes when idle
/// (live) and at the end.
fn output_stage(
    mut outputs: Outputs,
    rx: &Receiver<ToOutput>,
    spare: &[Sender<Vec<u8>>],
    live: bool,
) -> Outputs {
    loop {
        let message = if live {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    outputs.flush();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(message) => message,
                Err(_) => break,
            }
        };
        match message {
            ToOutput::Records {
                worker,
                kind,
                ndjson,
                records,
            } => {
                outputs.write(kind, &ndjson, records);
                if let Some(spare) = spare.get(worker) {
                    let _ = spare.try_send(ndjson);
                }
            }
            ToOutput::Rollups {
                worker,
                partials,
                open_from,
            } => outputs.merge_rollups(worker, partials, open_from),
        }
        if live && rx.is_empty() {
            outputs.flush();
        }
    }
    outputs.flush();
    outputs.close();
    outputs
}

/// Replays files through several workers. Blocks until every file is read.
pub(crate) fn run_replay(
    mut replay: Replay,
    processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
    progress: Option<indicatif::ProgressBar>,
) -> RunReport {
    let started = Instant::now();
    let mut running = Running::start(processor, queue, false);
    let metrics = running.metrics.capture("replay");
    running.health.register_capture("replay");
    running.health.set_capture_up("replay", true);
    let lanes = std::mem::take(&mut running.lanes);
    // This thread reads the files and dispatches (see `dispatch`).
    let mut events = DispatchingReplay {
        dispatcher: Dispatcher::new(
            lanes,
            Arc::clone(&running.decode),
            queue.batch_frames,
            running.rollup_interval_ns,
        ),
        metrics,
        batch_frames: queue.batch_frames,
        spare: None,
        errors: Vec::new(),
        progress,
        disconnected: false,
    };
    replay.run(queue.batch_frames, &stop, &mut events);
    if let Some(bar) = &events.progress {
        bar.finish_and_clear();
    }
    if !events.disconnected && events.dispatcher.finish().is_err() {
        error!("A worker stopped early; its last records are missing.");
    }
    let DispatchingReplay {
        dispatcher, errors, ..
    } = events;
    drop(dispatcher);
    running.health.set_capture_up("replay", false);
    let mut report = running.join(started);
    report.file_errors = errors;
    report
}

/// The replay's events when the reader dispatches to workers itself.
struct DispatchingReplay {
    dispatcher: Dispatcher,
    metrics: CaptureMetrics,
    batch_frames: usize,
    /// The one batch the reader fills, reused.
    spare: Option<FrameBatch>,
    errors: Vec<String>,
    progress: Option<indicatif::ProgressBar>,
    disconnected: bool,
}

impl ReplayEvents for DispatchingReplay {
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
        let sent = self.dispatcher.dispatch_blocking(&batch).is_ok();
        if !sent {
            self.disconnected = true;
            error!("A worker stopped early; the rest of the input is not processed.");
        }
        self.spare = Some(batch);
        sent
    }

    fn empty_batch(&mut self) -> FrameBatch {
        self.spare
            .take()
            .unwrap_or_else(|| FrameBatch::with_capacity(self.batch_frames))
    }
}

/// Captures live into several workers until `stop` is set, then drains and flushes.
pub(crate) fn run_live(
    captures: Vec<LiveInput>,
    mut rescan: Option<Box<dyn Rescan>>,
    processor: Processor,
    queue: QueueSettings,
    stop: Arc<AtomicBool>,
) -> RunReport {
    let started = Instant::now();
    let mut running = Running::start(processor, queue, true);
    let mut threads =
        CaptureThreads::new(&running.metrics, &running.health, &stop, queue.batch_frames);
    let forward = || Forward::Dispatch(running.dispatcher(queue.batch_frames));
    threads.start(captures, &forward);
    while !stop.load(Ordering::Relaxed) {
        match rescan.as_mut() {
            Some(rescan) => threads.rescan_if_due(rescan.as_mut(), &forward),
            // Without rescans, the run ends when every capture has ended.
            None if threads.is_empty_or_done() => break,
            None => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let capture_errors = threads.join_all();
    // The capture threads held the other senders: the workers drain and end.
    running.lanes.clear();
    let mut report = running.join(started);
    report.capture_errors.extend(capture_errors);
    report
}
