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

// The flow module's list of submodules is not this file's to change; the serializer lives
// beside it and is used only from here.
#[path = "json.rs"]
pub(crate) mod json;
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
            json::to_vec(&record, out)?;
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

/// Appends the records of `exports` to `into`'s NDJSON and counts them there; a
/// serialization error drops these records only (the bytes written for them are cut).
fn write_into(writer: &FlowWriter, exports: &[FlowExport], into: &mut Batch) {
    let start = into.ndjson.len();
    match writer.write(exports, &mut into.ndjson) {
        Ok(records) => into.records += records,
        Err(err) => {
            into.ndjson.truncate(start);
            into.error.get_or_insert_with(|| err.to_string());
        }
    }
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
                // Batches already waiting when one is done are written into its buffer and
                // go back empty behind it, so the collector gets one buffer to take over
                // instead of several to copy together.
                let mut followers: Vec<Batch> = Vec::with_capacity(MAX_QUEUED);
                while let Ok(mut batch) = inbox.recv() {
                    batch.ndjson.clear();
                    let mut exports = std::mem::take(&mut batch.exports);
                    write_into(&writer, &exports, &mut batch);
                    exports.clear();
                    batch.exports = exports;
                    while let Ok(mut next) = inbox.try_recv() {
                        next.ndjson.clear();
                        write_into(&writer, &next.exports, &mut batch);
                        next.exports.clear();
                        followers.push(next);
                    }
                    if outbox.send(batch).is_err() {
                        return;
                    }
                    for next in followers.drain(..) {
                        if outbox.send(next).is_err() {
                            return;
                        }
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
            if out.is_empty() {
                // Nothing to append to: take the batch's buffer instead of copying it, and
                // let the batch reuse `out`'s.
                std::mem::swap(out, &mut batch.ndjson);
                batch.ndjson.clear();
            } else {
                out.extend_from_slice(&batch.ndjson);
            }
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

    /// Both serializers on one record: the same bytes, and so the same JSON value.
    fn same_json(record: &netsensor_schema::FlowRecord<'_>, what: &str) {
        let mut ours = Vec::new();
        json::to_vec(record, &mut ours).unwrap();
        let theirs = serde_json::to_vec(record).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&ours).unwrap_or_else(|e| {
            panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(&ours))
        });
        assert_eq!(
            parsed,
            serde_json::from_slice::<serde_json::Value>(&theirs).unwrap(),
            "{what}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{what}"
        );
    }

    #[test]
    fn lean_json_equals_serde_json_on_the_schema_sample() {
        let record = netsensor_schema::samples::flow(1_700_000_000_123_456_789, u128::MAX / 3);
        same_json(&record, "samples::flow");
        // Every field the schema's sample fills in is in the output.
        let mut ours = Vec::new();
        json::to_vec(&record, &mut ours).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        for key in [
            "source",
            "destination",
            "event",
            "network",
            "netsensor",
            "observer",
        ] {
            assert!(value.get(key).is_some(), "{key} missing");
        }
    }

    /// The flow records of every fixture capture (decoded, counted by a flow table and
    /// flushed), with GeoIP from the test databases, through both serializers.
    #[test]
    fn lean_json_equals_serde_json_on_every_fixture_flow_record() {
        use crate::capture::offline::PcapFile;
        use crate::decode::{self, Transport};
        use crate::enrich::{GeoIp, GeoPaths};
        use crate::records::flow::{FlowHeaders, FlowPacket, FlowSettings, FlowTable};

        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let geo = repo.join("dev/fixtures/geo");
        let enricher = Enricher {
            geoip: GeoIp::open(&GeoPaths {
                country: None,
                city: Some(geo.join("maxmind-city.mmdb")),
                asn: Some(geo.join("asn.mmdb")),
            })
            .expect("the test GeoIP databases in dev/fixtures/geo"),
            ..Enricher::default()
        };
        let mut files = Vec::new();
        for dir in ["dev/fixtures/pcaps", "dev/fixtures/crafted"] {
            for entry in std::fs::read_dir(repo.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("pcap" | "pcapng")
                ) {
                    files.push(path);
                }
            }
        }
        files.sort();
        // The fixtures' addresses are not in the test databases: these are (London,
        // Linköping, Berlin, a US block), and lend their geo and AS objects to the records too.
        let lent: Vec<_> = ["81.2.69.142", "89.160.20.112", "2a02:ff0::1", "12.0.0.1"]
            .iter()
            .map(|ip| enricher.geoip.lookup(ip.parse().unwrap()))
            .collect();
        assert!(
            lent.iter().all(|(geo, _)| geo.is_some()),
            "test GeoIP lookups"
        );
        let (mut records, mut with_geo) = (0, 0);
        for path in &files {
            let Ok(mut file) = PcapFile::open(path) else {
                continue;
            };
            let mut table = FlowTable::new(FlowSettings::default());
            let mut exports = Vec::new();
            let mut data = Vec::new();
            while let Ok(Some(meta)) = file.next_frame(&mut data) {
                let decoded = decode::decode_wire(meta.link, &data, meta.wire_len);
                let Some(ip) = decoded.ip() else { continue };
                let tcp = match decoded.transport {
                    Transport::Tcp { info: Some(t), .. } => {
                        Some((t.flags, t.seq, t.ack, t.payload_length))
                    }
                    _ => None,
                };
                let packet = FlowPacket::new(
                    FlowHeaders {
                        src: ip.src,
                        dst: ip.dst,
                        protocol: ip.protocol,
                        ports: decoded.transport.ports().unwrap_or((0, 0)),
                        vlans: [
                            decoded.vlans.first().copied().unwrap_or(0),
                            decoded.vlans.get(1).copied().unwrap_or(0),
                        ],
                        time_ns: meta.timestamp_ns,
                        bytes: u64::from(meta.wire_len),
                        packet_id: meta.number,
                        tcp,
                    },
                    Some("http").filter(|_| meta.number % 3 == 0),
                    Some("Linux").filter(|_| meta.number % 5 == 0),
                    [*b"DE", [0, 0]],
                    ["ingress", "egress", "unknown"][(meta.number % 3) as usize],
                );
                table.observe(&packet, &mut exports);
            }
            table.flush_all(EndReason::EndOfInput, &mut exports);
            for export in &exports {
                let record = flow_record(
                    export,
                    &enricher,
                    Observer::sensor("o\"bs", "h\tst", None),
                    7,
                );
                with_geo +=
                    usize::from(record.source.geo.is_some() || record.destination.geo.is_some());
                let what = format!("{} flow {:?}", path.display(), export.key);
                same_json(&record, &what);
                let mut record = record;
                (record.source.geo, record.source.as_) = lent[records % lent.len()];
                same_json(&record, &format!("{what} with GeoIP"));
                records += 1;
            }
        }
        assert!(records > 300, "only {records} flow records");
        eprintln!(
            "{records} flow records, {with_geo} with GeoIP, in {} captures",
            files.len()
        );
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
