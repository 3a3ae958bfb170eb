//! The output stage: every configured output with its metrics and health, fed NDJSON by
//! kind. One instance per run, on one thread, so outputs keep their single-writer
//! assumptions however many workers there are; each record is counted here, once.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tracing::warn;

use crate::outputs::Output;
use crate::records::rollup::RollupPartial;
use crate::records::Rollups;
use crate::telemetry::metrics::{Metrics, OutputMetrics};
use crate::telemetry::{Health, RateLimiter};
use netsensor_schema::RecordKind;

use super::engine::Sink;
use super::set_output_health;

/// The outputs of a run and what they reported.
pub(crate) struct Outputs {
    outputs: Vec<(Box<dyn Output>, OutputMetrics)>,
    health: Health,
    packet_records: Counter,
    flow_records: Counter,
    rollup_records: Counter,
    /// Merges the workers' rollup counts (several workers only).
    merger: Option<RollupMerger>,
    /// Records written.
    pub records: u64,
    /// Errors from outputs.
    pub output_errors: u64,
    /// Records the outputs lost, as they report at close.
    pub records_lost: u64,
    output_warnings: RateLimiter,
}

/// The merging side of rollups with several workers: whole intervals from each worker,
/// closed once every worker has moved past them.
pub(crate) struct RollupMerger {
    rollups: Rollups,
    /// Per worker: every later packet of that worker counts into an interval at or after
    /// this.
    open_from: Vec<i64>,
    ndjson: Vec<u8>,
}

impl RollupMerger {
    /// A merger for `workers` workers writing through `rollups` (not partial).
    pub fn new(rollups: Rollups, workers: usize) -> Self {
        RollupMerger {
            rollups,
            open_from: vec![i64::MIN; workers],
            ndjson: Vec::new(),
        }
    }
}

impl Outputs {
    pub fn new(outputs: Vec<Box<dyn Output>>, metrics: &Metrics, health: &Health) -> Self {
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
        Outputs {
            outputs,
            health: health.clone(),
            packet_records: metrics.records(RecordKind::Packet),
            flow_records: metrics.records(RecordKind::Flow),
            rollup_records: metrics.records(RecordKind::Rollup),
            merger: None,
            records: 0,
            output_errors: 0,
            records_lost: 0,
            output_warnings: RateLimiter::new(Duration::from_secs(10)),
        }
    }

    /// Merges rollups from several workers (see [`RollupMerger`]).
    pub fn with_merger(mut self, merger: RollupMerger) -> Self {
        self.merger = Some(merger);
        self
    }

    /// Partial rollups of worker `worker`: merged, and the intervals every worker has
    /// passed are written.
    pub fn merge_rollups(&mut self, worker: usize, partials: Vec<RollupPartial>, open_from: i64) {
        let Some(mut merger) = self.merger.take() else {
            return;
        };
        for partial in partials {
            merger.rollups.merge(partial);
        }
        if let Some(slot) = merger.open_from.get_mut(worker) {
            *slot = open_from;
        }
        let complete_before = merger.open_from.iter().copied().min().unwrap_or(i64::MAX);
        merger.rollups.close_merged_before(complete_before);
        merger.ndjson.clear();
        match merger.rollups.write_ndjson(&mut merger.ndjson) {
            Ok(0) => {}
            Ok(count) => {
                let ndjson = std::mem::take(&mut merger.ndjson);
                self.write(RecordKind::Rollup, &ndjson, count as u64);
                merger.ndjson = ndjson;
            }
            Err(err) => {
                tracing::error!(error = %err, "Rollup records could not be serialized.")
            }
        }
        self.merger = Some(merger);
    }

    /// Flushes every output.
    pub fn flush(&mut self) {
        for (output, metrics) in &mut self.outputs {
            let result = output.flush();
            if let Err(err) = &result {
                warn!(output = output.name(), error = %err, "Output flush failed.");
                self.output_errors += 1;
            }
            if !output.reports_itself() {
                set_output_health(&self.health, output.name(), metrics, result.is_ok());
            }
        }
    }

    /// Closes every output, adding what they lost to `records_lost`.
    pub fn close(&mut self) {
        for (output, _) in &mut self.outputs {
            match output.close() {
                Ok(lost) => self.records_lost += lost,
                Err(err) => {
                    warn!(output = output.name(), error = %err, "Output close failed.");
                    self.output_errors += 1;
                }
            }
        }
    }
}

impl Sink for Outputs {
    /// Hands one kind's NDJSON to every output and accounts the result.
    fn write(&mut self, kind: RecordKind, ndjson: &[u8], records: u64) {
        match kind {
            RecordKind::Packet => &self.packet_records,
            RecordKind::Flow => &self.flow_records,
            RecordKind::Rollup => &self.rollup_records,
        }
        .inc_by(records);
        self.records += records;
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
                    self.output_errors += 1;
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

    fn rollup_partials(&mut self, partials: Vec<RollupPartial>, open_from: i64) {
        self.merge_rollups(0, partials, open_from);
    }
}
