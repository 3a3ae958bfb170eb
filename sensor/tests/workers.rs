//! Several processing workers (`pipeline.workers`, `replay --workers N`) give the same
//! records as one: frames go to workers by a direction-free hash of their flow, each worker
//! keeps its own flow table and rollup counts, and the output stage merges the rollups per
//! interval. On every capture fixture and the crafted captures, replayed with 2 and 3
//! workers, the packet, flow and rollup records equal the one-worker run's as a multiset
//! (same ids, same counters, same everything; only the order differs).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netsensor::capture::offline::PcapFile;
use netsensor::decode::DecodeOptions;
use netsensor::pipeline::dispatch::frame_worker;
use serde_json::Value;

/// Short timeouts and intervals, so idle and active timeouts, lingers and several rollup
/// intervals happen inside the small fixtures too.
const CONFIG: &str = "sensor: { name: workers-test }\n\
listeners: { metrics: null }\n\
flows: { idle_timeout_secs: 5, active_timeout_secs: 20, linger_ms: 500 }\n\
rollups: { interval_ms: 1000, top_n: 3 }\n";

/// The records of replaying `files` with `--workers workers`, and the run's stderr.
fn replay(files: &[PathBuf], workers: usize, records: &str) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(&config, CONFIG).expect("write config");
    let output = common::netsensor()
        .arg("replay")
        .args(files)
        .arg("--config")
        .arg(&config)
        .args(["--records", records, "--out", "-", "--no-progress"])
        .args(["--workers", &workers.to_string()])
        .output()
        .expect("run netsensor");
    let replay = common::from_output(&output);
    assert!(
        matches!(replay.code, Some(0) | Some(2)),
        "replay of {files:?} with {workers} workers failed: {}",
        replay.stderr
    );
    (replay.records, replay.stderr)
}

/// How strictly flow records must agree.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Every field.
    Exact,
    /// Every field, except that a final record may say `idle_timeout` in one run and
    /// `end_of_input` in the other (with the state that goes with each). Whether a flow
    /// that went idle shortly before the input ended was timed out first depends on when
    /// its table last scanned for timeouts (at most every half second of packet time, and
    /// at batch ends), which differs with the batch size and with the number of workers
    /// when the capture's clock jumps back (files of other dates in one replay). Ids,
    /// counts and spans are still exact.
    IdleOrEnd,
}

/// A record as compared under `matching`.
fn normalized(record: &Value, matching: Match) -> String {
    let flow = &record["netsensor"]["flow"];
    let reason = flow["end_reason"].as_str();
    if matching == Match::IdleOrEnd && matches!(reason, Some("idle_timeout" | "end_of_input")) {
        let mut record = record.clone();
        if let Some(flow) = record["netsensor"]["flow"].as_object_mut() {
            flow.insert("end_reason".into(), "idle_timeout|end_of_input".into());
            flow.remove("state");
        }
        return record.to_string();
    }
    record.to_string()
}

/// Records as a multiset of their JSON texts, by dataset.
fn multiset(records: &[Value], matching: Match) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut sets: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for record in records {
        let dataset = record["event"]["dataset"]
            .as_str()
            .unwrap_or("(none)")
            .to_owned();
        *sets
            .entry(dataset)
            .or_default()
            .entry(normalized(record, matching))
            .or_default() += 1;
    }
    sets
}

/// Asserts that `workers` workers give the one-worker records; returns the record count.
fn assert_same_records(
    files: &[PathBuf],
    records: &str,
    workers: &[usize],
    matching: Match,
) -> usize {
    let (one, one_stderr) = replay(files, 1, records);
    let want = multiset(&one, matching);
    for &n in workers {
        let (many, stderr) = replay(files, n, records);
        assert_eq!(
            one_stderr.contains("netsensor: "),
            stderr.contains("netsensor: "),
            "file errors differ: {one_stderr} / {stderr}"
        );
        let got = multiset(&many, matching);
        for dataset in want.keys().chain(got.keys()) {
            let (w, g) = (&want.get(dataset), &got.get(dataset));
            if w == g {
                continue;
            }
            let empty = BTreeMap::new();
            let (w, g) = (w.unwrap_or(&empty), g.unwrap_or(&empty));
            let missing: Vec<&String> = w.keys().filter(|k| !g.contains_key(*k)).take(3).collect();
            let extra: Vec<&String> = g.keys().filter(|k| !w.contains_key(*k)).take(3).collect();
            panic!(
                "{files:?}, {n} workers: {dataset} records differ from one worker's \
                 ({} vs {}).\nonly with 1: {missing:#?}\nonly with {n}: {extra:#?}",
                w.values().sum::<usize>(),
                g.values().sum::<usize>(),
            );
        }
    }
    one.len()
}

/// Every crafted capture (flows, dataset and tunnel captures).
fn crafted_captures() -> Vec<PathBuf> {
    let dir = common::repo().join("dev/fixtures/crafted");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("crafted captures")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "crafted captures missing in {}",
        dir.display()
    );
    files
}

fn crafted(name: &str) -> PathBuf {
    common::repo().join("dev/fixtures/crafted").join(name)
}

#[test]
fn every_fixture_gives_the_same_records_with_several_workers() {
    let mut files = common::fixtures();
    files.extend(crafted_captures());
    assert!(files.len() > 40, "fixtures missing: {files:?}");
    let mut total = 0;
    for file in &files {
        total += assert_same_records(
            std::slice::from_ref(file),
            "packet,flow,rollup",
            &[2, 3],
            Match::Exact,
        );
    }
    assert!(total > 1000, "too few records to compare: {total}");
}

#[test]
fn all_fixtures_in_one_replay_give_the_same_flows_and_rollups() {
    // One run over every file: batches change source between files, rollup intervals
    // jump across years, and the flows-only fast path is not taken (rollups are on).
    let mut files = common::fixtures();
    files.extend(crafted_captures());
    let records = assert_same_records(&files, "flow,rollup", &[2, 4], Match::IdleOrEnd);
    assert!(records > 500, "{records} records");
}

#[test]
fn flows_only_gives_the_same_flows_with_several_workers() {
    // Flows alone take the headers-only path on every worker.
    let files: Vec<PathBuf> = [
        "udp-many-flows.pcap",
        "tcp-long-active.pcap",
        "tcp-fin-rst-reuse.pcap",
    ]
    .map(crafted)
    .into_iter()
    .chain(common::fixtures())
    .collect();
    assert_same_records(&files, "flow", &[2], Match::IdleOrEnd);
}

#[test]
fn flows_of_udp_many_flows_spread_over_the_workers() {
    // 100 flows between one pair of hosts (only the ports differ): the dispatch hash puts
    // both directions of each flow on one worker and spreads the flows over both.
    let path: &Path = &crafted("udp-many-flows.pcap");
    let mut file = PcapFile::open(path).expect("open capture");
    let mut frame = Vec::new();
    let mut worker_of_flow: BTreeMap<u64, usize> = BTreeMap::new();
    let mut per_worker = [0usize; 2];
    while let Some(meta) = file.next_frame(&mut frame).expect("read frame") {
        let worker = frame_worker(&DecodeOptions::default(), &meta, &frame, 2);
        per_worker[worker] += 1;
        // Request i (odd frame) and its reply (the next one) share the client port.
        let flow = (meta.number - 1) / 2;
        let first = *worker_of_flow.entry(flow).or_insert(worker);
        assert_eq!(
            first, worker,
            "both directions of flow {flow} on one worker"
        );
    }
    assert_eq!(per_worker.iter().sum::<usize>(), 200);
    assert!(
        per_worker.iter().all(|n| *n >= 60),
        "flows spread unevenly: {per_worker:?}"
    );
    let (records, _) = replay(&[path.to_owned()], 2, "flow");
    assert_eq!(records.len(), 100);
    for record in &records {
        assert_eq!(record["source"]["packets"], 1, "{record}");
        assert_eq!(record["destination"]["packets"], 1, "{record}");
    }
}
