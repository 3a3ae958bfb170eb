//! One worker's processing state: packet builder, flow table and rollup counts. It turns
//! frame batches into NDJSON and hands it to a [`Sink`]: the outputs themselves with one
//! worker, the output stage's queue with several.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tracing::{error, warn};

use crate::capture::FrameBatch;
use crate::records::flow::BackgroundFlowWriter;
use crate::records::packet::Emitted;
use crate::records::rollup::RollupPartial;
use crate::records::{EndReason, FlowRecorder, PacketBuilder, Rollups};
use crate::telemetry::metrics::{DecodeErrorCounters, Metrics};
use netsensor_schema::{RecordKind, SampleRate};

use super::shed::Shedder;
use super::{RecordSettings, Summary};

/// Where a worker's records go.
pub trait Sink {
    /// `records` records of one kind as NDJSON (possibly none, for packets).
    fn write(&mut self, kind: RecordKind, ndjson: &[u8], records: u64);
    /// A worker's closed rollup intervals and the interval its next packets count into
    /// (multi-worker only: the output stage merges them).
    fn rollup_partials(&mut self, partials: Vec<RollupPartial>, open_from: i64);
}

/// How an engine is set up beyond the record settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineMode {
    /// Serialize flow records on a thread of their own (one worker: it keeps the
    /// processing thread free; several workers are already parallel).
    pub background_flow_writer: bool,
    /// Rollups as partial counts for a merger (several workers).
    pub partial_rollups: bool,
}

/// Builder, flow table and rollups of one worker.
pub(crate) struct Engine {
    builder: PacketBuilder,
    /// Flows are the only consumer of packets: take the headers-only path.
    flows_only: bool,
    emit_packets: bool,
    flows: Option<FlowRecorder>,
    /// Serializes flow records on a second thread (see `records::flow::writer`).
    flow_writer: Option<BackgroundFlowWriter>,
    rollups: Option<Rollups>,
    partial_rollups: bool,
    /// `open_from` last reported to the sink (partial rollups).
    rollups_reported: i64,
    decode_errors: DecodeErrorCounters,
    flows_evicted: Counter,
    flows_active: Gauge,
    evicted_seen: u64,
    /// This engine's share of `flows_active` (workers add theirs to one gauge).
    active_seen: i64,
    packets_ndjson: Vec<u8>,
    flows_ndjson: Vec<u8>,
    rollups_ndjson: Vec<u8>,
    /// Frames processed.
    pub packets: u64,
    /// Traffic summary, when asked for.
    pub summary: Option<Summary>,
    /// Load shedding, when on (see [`super::shed`]).
    pub shedder: Option<Shedder>,
}

impl Engine {
    pub fn new(
        builder: PacketBuilder,
        records: RecordSettings,
        metrics: &Metrics,
        summary: bool,
        mode: EngineMode,
    ) -> Self {
        // Flows as the only consumer: no packet record is built (see `with_flow_packet`).
        let flows_only =
            !records.packets && records.rollups.is_none() && records.flows.is_some() && !summary;
        let flows = records
            .flows
            .map(|settings| builder.flow_recorder(settings));
        let flow_writer = flows
            .as_ref()
            .filter(|_| mode.background_flow_writer)
            .and_then(|flows| {
                BackgroundFlowWriter::spawn(flows.writer())
                    .inspect_err(|err| {
                        warn!(error = %err, "No flow writer thread; flow records are written inline.")
                    })
                    .ok()
            });
        let rollups = records.rollups.map(|settings| {
            let rollups = Rollups::new(
                settings,
                builder.observer_name(),
                builder.hostname(),
                records.run,
            );
            if mode.partial_rollups {
                rollups.into_partial()
            } else {
                rollups
            }
        });
        Engine {
            builder,
            flows_only,
            emit_packets: records.packets,
            flows,
            flow_writer,
            rollups,
            partial_rollups: mode.partial_rollups,
            rollups_reported: i64::MIN,
            decode_errors: metrics.decode_error_counters(),
            flows_evicted: metrics.flows_evicted(),
            flows_active: metrics.flows_active(),
            evicted_seen: 0,
            active_seen: 0,
            packets_ndjson: Vec::with_capacity(1 << 20),
            flows_ndjson: Vec::new(),
            rollups_ndjson: Vec::new(),
            packets: 0,
            summary: summary.then(Summary::default),
            shedder: None,
        }
    }

    /// Processes one batch: every frame feeds the packet records and the flow table, then
    /// the sink gets one write per record kind. On replay (`packet_time`), flows time out
    /// by the packets' clock (`clock_ns` when the input has gone further than this batch).
    pub fn process(
        &mut self,
        batch: &FrameBatch,
        packet_time: bool,
        clock_ns: Option<i64>,
        sink: &mut dyn Sink,
    ) {
        let Some(source) = batch.source.as_deref() else {
            return;
        };
        self.packets_ndjson.clear();
        let mut written = 0u64;
        let mut last_time = None;
        let (emit_packets, ndjson) = (self.emit_packets, &mut self.packets_ndjson);
        let (flows, rollups) = (&mut self.flows, &mut self.rollups);
        let summary = &mut self.summary;
        let shedder = &mut self.shedder;
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
                    // Rollups count every packet, before any shedding.
                    if let Some(rollups) = rollups.as_mut() {
                        rollups.observe(record);
                    }
                    // 0: shed; else 1 in `rate` flows kept.
                    let rate = shedder.as_mut().map_or(1, |s| {
                        if s.keeps_record(record) {
                            s.sample_rate()
                        } else {
                            0
                        }
                    });
                    if rate > 0 && emit_packets {
                        let written_ok = if rate == 1 {
                            serde_json::to_writer(&mut *ndjson, record)
                        } else {
                            let mut scaled = record.clone();
                            scaled.netsensor.sample_rate = SampleRate(rate);
                            serde_json::to_writer(&mut *ndjson, &scaled)
                        };
                        match written_ok {
                            Ok(()) => {
                                ndjson.push(b'\n');
                                written += 1;
                            }
                            Err(err) => error!(error = %err, "A record could not be serialized."),
                        }
                    }
                    if let (true, Some(flows)) = (rate > 0, flows.as_mut()) {
                        flows.observe(record);
                    }
                    if let Some(layer) = error {
                        decode_errors.inc(layer);
                    }
                    if let Some(summary) = summary.as_mut() {
                        summary.add(&Emitted::of(record, error), meta.wire_len);
                    }
                });
        }
        self.packets += batch.len() as u64;
        if emit_packets {
            sink.write(RecordKind::Packet, &self.packets_ndjson, written);
        }
        // The input's clock when given (it is at or after this batch's frames in input
        // order), else this batch's last frame.
        let now = clock_ns.or(last_time);
        if let (true, Some(now)) = (packet_time, now) {
            self.expire(now, sink);
        } else {
            self.write_flows(false, sink);
            self.write_rollups(sink);
        }
    }

    /// Exports the flows and rollup intervals due at `now_ns` and writes their records.
    pub fn expire(&mut self, now_ns: i64, sink: &mut dyn Sink) {
        if let Some(flows) = &mut self.flows {
            flows.expire(now_ns);
        }
        if let Some(rollups) = &mut self.rollups {
            rollups.expire(now_ns);
        }
        self.write_flows(false, sink);
        self.write_rollups(sink);
    }

    /// Moves the rollup clock to the interval starting at `start_ns` (see
    /// [`Rollups::advance_to`]) and reports what that closed.
    pub fn advance_rollups(&mut self, start_ns: i64, sink: &mut dyn Sink) {
        if let Some(rollups) = &mut self.rollups {
            rollups.advance_to(start_ns);
        }
        self.write_rollups(sink);
    }

    /// Lets load shedding look at this worker's queue before a batch.
    pub fn observe_queue(&mut self, waiting: usize, capacity: usize) {
        if let Some(shedder) = &mut self.shedder {
            shedder.update(waiting, capacity);
        }
    }

    /// Live: moves the rollup clock to the interval `now_ns` falls in, so an idle worker
    /// does not hold back the merged interval.
    pub fn advance_rollups_to_time(&mut self, now_ns: i64, sink: &mut dyn Sink) {
        if let Some(start) = self.rollups.as_ref().map(|r| r.interval_start(now_ns)) {
            self.advance_rollups(start, sink);
        }
    }

    /// The observer name records carry.
    pub fn observer_name(&self) -> &str {
        self.builder.observer_name()
    }

    /// How this engine decodes frames (the dispatcher hashes the same key).
    pub fn decode_options(&self) -> &crate::decode::DecodeOptions {
        self.builder.decode_options()
    }

    /// The host name records carry.
    pub fn hostname(&self) -> &str {
        self.builder.hostname()
    }

    /// Exports every open flow as final and closes the current rollup interval (end of
    /// input or shutdown).
    pub fn flush_open(&mut self, reason: EndReason, sink: &mut dyn Sink) {
        if let Some(flows) = &mut self.flows {
            flows.flush_all(reason);
        }
        if let Some(rollups) = &mut self.rollups {
            rollups.flush();
            // Nothing more will be counted here.
            rollups.advance_to(i64::MAX);
        }
        self.write_flows(true, sink);
        self.write_rollups(sink);
    }

    fn write_rollups(&mut self, sink: &mut dyn Sink) {
        let Some(rollups) = &mut self.rollups else {
            return;
        };
        if self.partial_rollups {
            let partials = rollups.take_partials();
            let open_from = rollups.open_from();
            if !partials.is_empty() || open_from != self.rollups_reported {
                self.rollups_reported = open_from;
                sink.rollup_partials(partials, open_from);
            }
            return;
        }
        self.rollups_ndjson.clear();
        let count = match rollups.write_ndjson(&mut self.rollups_ndjson) {
            Ok(count) => count as u64,
            Err(err) => {
                error!(error = %err, "Rollup records could not be serialized.");
                0
            }
        };
        if count > 0 {
            sink.write(RecordKind::Rollup, &self.rollups_ndjson, count);
        }
    }

    /// Writes the flow records exported so far: hands them to the writer thread and writes
    /// what it has finished (with `wait`, everything handed over).
    pub fn write_flows(&mut self, wait: bool, sink: &mut dyn Sink) {
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
        let active = flows.len() as i64;
        self.flows_active.inc_by(active - self.active_seen);
        self.active_seen = active;
        let evicted = flows.counters().evicted;
        self.flows_evicted.inc_by(evicted - self.evicted_seen);
        self.evicted_seen = evicted;
        if count > 0 {
            sink.write(RecordKind::Flow, &self.flows_ndjson, count);
        }
    }
}
