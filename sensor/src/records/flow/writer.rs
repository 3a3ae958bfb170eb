//! Turning flow exports into NDJSON, inline or on a thread of its own.
//!
//! A flow record is about a kilobyte of JSON, and serializing it costs more than all the
//! table work of the packets it sums up (on the benchmark capture, a third of the
//! flows-only processing thread). [`BackgroundFlowWriter`] moves that work to a second
//! thread, so the thread that reads packets keeps up with the capture; records come back
//! in the order they were handed over.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use netsensor_schema::Observer;

use super::{flow_record, FlowExport};
use crate::enrich::Enricher;

/// Writes flow records of one observer.
#[derive(Debug, Clone)]
pub struct FlowWriter {
    enricher: Arc<Enricher>,
    observer_name: String,
    hostname: String,
    id_seed: u64,
}

impl FlowWriter {
    /// A writer for `observer` on `host`; `id_seed` seeds the records' ids.
    pub fn new(enricher: Arc<Enricher>, observer: &str, host: &str, id_seed: u64) -> Self {
        FlowWriter {
            enricher,
            observer_name: observer.to_owned(),
            hostname: host.to_owned(),
            id_seed,
        }
    }

    /// Appends one NDJSON line per export to `out`; returns how many.
    pub fn write(
        &self,
        exports: &[FlowExport],
        out: &mut Vec<u8>,
    ) -> Result<usize, serde_json::Error> {
        for export in exports {
            let record = flow_record(
                export,
                &self.enricher,
                Observer::sensor(&self.observer_name, &self.hostname, None),
                self.id_seed,
            );
            serde_json::to_writer(&mut *out, &record)?;
            out.push(b'\n');
        }
        Ok(exports.len())
    }
}

/// Batches queued for the writer thread, at most; a producer that runs further ahead waits
/// (the thread is then the bottleneck anyway). Finished batches wait in an unbounded
/// queue, so the thread never waits for the producer to collect.
const MAX_QUEUED: usize = 4;

/// One batch: exports in, NDJSON out. Both buffers travel back and forth to be reused.
#[derive(Debug, Default)]
struct Batch {
    exports: Vec<FlowExport>,
    ndjson: Vec<u8>,
    records: usize,
    error: Option<String>,
}

/// A [`FlowWriter`] running on its own thread.
#[derive(Debug)]
pub struct BackgroundFlowWriter {
    jobs: Option<Sender<Batch>>,
    done: Receiver<Batch>,
    pending: usize,
    spare: Vec<Batch>,
    thread: Option<JoinHandle<()>>,
}

/// What [`BackgroundFlowWriter::collect`] gathered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Records appended.
    pub records: usize,
    /// Serialization errors (each drops its batch's records).
    pub errors: Vec<String>,
}

impl BackgroundFlowWriter {
    /// Starts the writer thread.
    pub fn spawn(writer: FlowWriter) -> std::io::Result<Self> {
        let (jobs, inbox) = bounded::<Batch>(MAX_QUEUED);
        let (outbox, done) = unbounded::<Batch>();
        let thread = std::thread::Builder::new()
            .name("flow-writer".to_owned())
            .spawn(move || {
                for mut batch in inbox {
                    batch.ndjson.clear();
                    match writer.write(&batch.exports, &mut batch.ndjson) {
                        Ok(records) => batch.records = records,
                        Err(err) => {
                            batch.ndjson.clear();
                            batch.records = 0;
                            batch.error = Some(err.to_string());
                        }
                    }
                    batch.exports.clear();
                    if outbox.send(batch).is_err() {
                        return;
                    }
                }
            })?;
        Ok(BackgroundFlowWriter {
            jobs: Some(jobs),
            done,
            pending: 0,
            spare: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Hands the exports over (leaving `exports` empty); waits only when [`MAX_QUEUED`]
    /// batches are already queued.
    pub fn submit(&mut self, exports: &mut Vec<FlowExport>) {
        if exports.is_empty() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let mut batch = self.spare.pop().unwrap_or_default();
        std::mem::swap(&mut batch.exports, exports);
        if jobs.send(batch).is_ok() {
            self.pending += 1;
        }
    }

    /// Appends the finished batches to `out`, in submission order: those already done, or,
    /// with `wait`, every batch under way.
    pub fn collect(&mut self, out: &mut Vec<u8>, wait: bool) -> Collected {
        let mut collected = Collected::default();
        while self.pending > 0 {
            let next = if wait {
                self.done.recv().ok()
            } else {
                self.done.try_recv().ok()
            };
            let Some(mut batch) = next else { break };
            self.pending -= 1;
            out.extend_from_slice(&batch.ndjson);
            collected.records += batch.records;
            if let Some(error) = batch.error.take() {
                collected.errors.push(error);
            }
            batch.records = 0;
            self.spare.push(batch);
        }
        collected
    }
}

impl Drop for BackgroundFlowWriter {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        while self.done.recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::flow::key::{Endpoint, FlowKey};
    use crate::records::flow::table::{EndReason, FlowFacts};

    fn export(port: u16) -> FlowExport {
        let (key, side) = FlowKey::new(
            Endpoint::new([192, 0, 2, 1].into(), port),
            Endpoint::new([198, 51, 100, 2].into(), 53),
            17,
            false,
            [0, 0],
        );
        FlowExport {
            key,
            initiator: side,
            first_seen: 1_700_000_000_000_000_000,
            opener: u64::from(port),
            span: (1_700_000_000_000_000_000, 1_700_000_001_000_000_000),
            bytes: [100, 200],
            packets: [1, 1],
            sequence: 0,
            reason: EndReason::EndOfInput,
            state: "established",
            tcp_flags: 0,
            facts: FlowFacts::default(),
        }
    }

    #[test]
    fn background_output_equals_inline_output_in_order() {
        let writer = FlowWriter::new(Arc::new(Enricher::default()), "s", "h", 7);
        let batches: Vec<Vec<FlowExport>> = (0..20u16)
            .map(|b| (0..(b % 5)).map(|i| export(1000 + b * 10 + i)).collect())
            .collect();
        let mut inline = Vec::new();
        for batch in &batches {
            writer.write(batch, &mut inline).unwrap();
        }
        let mut background = BackgroundFlowWriter::spawn(writer).unwrap();
        let (mut out, mut records) = (Vec::new(), 0);
        for batch in &batches {
            let mut exports = batch.clone();
            background.submit(&mut exports);
            assert!(exports.is_empty());
            records += background.collect(&mut out, false).records;
        }
        records += background.collect(&mut out, true).records;
        assert_eq!(records, batches.iter().map(Vec::len).sum::<usize>());
        assert_eq!(out, inline, "same bytes, same order");
        assert_eq!(background.collect(&mut out, true), Collected::default());
    }
}
