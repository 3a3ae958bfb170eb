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

/// Two network namespaces joined by veth pairs created on demand; removed on drop.
struct Namespaces {
    a: String,
    b: String,
}

impl Namespaces {
    fn new(tag: &str) -> Namespaces {
        assert!(
            common::effective_uid_is_root(),
            "the live multi-worker tests must run as root: they create network namespaces \
             and veth pairs (CI runs them as root)"
        );
        for (tool, package) in [("ip", "iproute2"), ("python3", "python3")] {
            let found = std::process::Command::new(tool)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "`{tool}` is missing: install {package} (dev/install-deps.sh)"
            );
        }
        let id = std::process::id();
        let ns = Namespaces {
            a: format!("nsw-{id}-{tag}-a"),
            b: format!("nsw-{id}-{tag}-b"),
        };
        for name in [&ns.a, &ns.b] {
            run("ip", &["netns", "add", name]);
            run("ip", &["-n", name, "link", "set", "lo", "up"]);
        }
        ns
    }

    /// A veth pair `nswaN` (in a, 10.233.N.1/30) ↔ `nswbN` (in b, 10.233.N.2/30).
    fn link(&self, n: u8) {
        let (a, b) = (format!("nswa{n}"), format!("nswb{n}"));
        run(
            "ip",
            &[
                "link", "add", &a, "netns", &self.a, "type", "veth", "peer", "name", &b, "netns",
                &self.b,
            ],
        );
        for (ns, dev, addr) in [
            (&self.a, &a, format!("10.233.{n}.1/30")),
            (&self.b, &b, format!("10.233.{n}.2/30")),
        ] {
            run("ip", &["-n", ns, "addr", "add", &addr, "dev", dev]);
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
    }

    /// Sends `flows` UDP flows of `packets` packets each from b to a over link `n`, one
    /// source port per flow (bounded: flows × packets datagrams, all inside namespace b's
    /// veth to namespace a).
    fn send(&self, n: u8, flows: u16, packets: u16) {
        let script = format!(
            "import socket\n\
             for i in range({flows}):\n\
             \x20   s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             \x20   s.bind(('10.233.{n}.2', 20000 + i))\n\
             \x20   for _ in range({packets}):\n\
             \x20       s.sendto(b'x' * 64, ('10.233.{n}.1', 9))\n\
             \x20   s.close()\n"
        );
        run("ip", &["netns", "exec", &self.b, "python3", "-c", &script]);
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.a, &self.b] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .status();
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .expect("run a command");
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `netsensor run --workers 2` in namespace a on the interfaces `nswa*` (a glob, so a veth
/// created while it runs is picked up at the next rescan), with `backend`; returns the flow
/// records and the run's stderr.
fn live_two_workers(backend: &str) -> (Vec<Value>, String) {
    let ns = Namespaces::new(backend);
    ns.link(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("records.ndjson");
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: workers-live, data_directory: {dir} }}\n\
             listeners: {{ metrics: null, query: null }}\n\
             records: [packet, flow]\n\
             flows: {{ idle_timeout_secs: 60 }}\n\
             pipeline: {{ workers: 2 }}\n\
             captures:\n  - interfaces: [\"nswa*\"]\n    rescan_interval_ms: 300\n    \
             backend: {backend}\n    timeout_ms: 50\n\
             outputs: {{ file: {{ path: {out} }} }}\n",
            dir = dir.path().display(),
            out = out.display(),
        ),
    )
    .expect("write config");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut sensor = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.a,
            env!("CARGO_BIN_EXE_netsensor"),
            "run",
            "--config",
        ])
        .arg(&config)
        .env_remove("NETSENSOR_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start netsensor");
    let log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let wait = std::time::Duration::from_secs(15);
    let poll = std::time::Duration::from_millis(100);
    assert!(
        common::wait_until(wait, poll, || log().contains("Capture opened")),
        "the capture did not open: {}",
        log()
    );
    ns.send(0, 100, 3);
    // A second interface appears while the sensor runs: the glob's rescan opens it.
    ns.link(1);
    assert!(
        common::wait_until(wait, poll, || log().matches("Capture opened").count() >= 2),
        "the new interface was not captured: {}",
        log()
    );
    ns.send(1, 100, 3);
    // Give the capture a moment to read the last frames, then stop it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    run("kill", &["-TERM", &sensor.id().to_string()]);
    let status = sensor.wait().expect("wait for netsensor");
    let stderr = log();
    assert!(
        status.success(),
        "netsensor run failed ({status}): {stderr}"
    );
    let text = std::fs::read(&out).unwrap_or_default();
    (common::parse_ndjson(&text), stderr)
}

/// Every UDP flow the namespaces sent arrives whole (3 packets, one record), although two
/// workers and two interfaces shared the work, and every packet record names the interface
/// it came in on.
fn check_live_flows(records: &[Value], stderr: &str) {
    for n in 0..2u8 {
        let interface = format!("nswa{n}");
        let to_discard = |r: &&Value| {
            r["network"]["transport"] == "udp"
                && r["destination"]["ip"] == format!("10.233.{n}.1").as_str()
                && r["destination"]["port"] == 9
        };
        let of = |dataset: &str| -> Vec<&Value> {
            records
                .iter()
                .filter(|r| r["event"]["dataset"] == dataset)
                .filter(to_discard)
                .collect()
        };
        let flows = of("netsensor.flow");
        assert_eq!(flows.len(), 100, "UDP flows over {interface}: {stderr}");
        for flow in flows {
            assert_eq!(flow["network"]["packets"], 3, "{flow}");
            assert_eq!(flow["source"]["packets"], 3, "{flow}");
        }
        let packets = of("netsensor.packet");
        assert_eq!(packets.len(), 300, "UDP packets over {interface}: {stderr}");
        for packet in packets {
            assert_eq!(
                packet["observer"]["ingress"]["interface"]["name"],
                interface.as_str(),
                "{packet}"
            );
        }
    }
}

#[test]
fn live_capture_with_two_workers_and_an_interface_glob() {
    let (records, stderr) = live_two_workers("pcap");
    check_live_flows(&records, &stderr);
}

#[test]
fn live_af_packet_rings_with_two_workers() {
    let (records, stderr) = live_two_workers("af_packet");
    assert!(
        stderr.contains("backend=\"af_packet\"") || stderr.contains("af_packet"),
        "{stderr}"
    );
    check_live_flows(&records, &stderr);
}

#[test]
fn the_summary_adds_up_over_the_workers() {
    // `replay --summary` (packets by transport, services, countries) sums every worker's
    // counts: the same text as with one worker.
    let path = common::fixtures_dir().join("mixed-large-many-protocols.pcap");
    let summary = |workers: &str| {
        let output = common::netsensor()
            .arg("replay")
            .arg(&path)
            .args(["--summary", "--out", "/dev/null", "--no-progress"])
            .args(["--workers", workers])
            .output()
            .expect("run netsensor");
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        let start = text.find("packets: ").expect("a summary");
        text[start..].to_owned()
    };
    let one = summary("1");
    assert!(one.contains("packets by transport:"), "{one}");
    assert_eq!(summary("2"), one);
    assert_eq!(summary("3"), one);
}

/// The number after `name=` in the run's final log line.
fn logged(stderr: &str, name: &str) -> u64 {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("Run finished"))
        .unwrap_or_else(|| panic!("no final log line: {stderr}"));
    let at = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    line[at + name.len() + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {name}= in {line}"))
}

#[test]
fn replay_with_overload_shed_samples_packets_and_keeps_rollups_exact() {
    // Small batches and watermarks near empty: the reader outpaces the workers building
    // packet records by far, so the queues stay over the high watermark and shedding
    // engages. Rollups are counted before shedding: exactly those of a run that keeps all.
    let mut files = common::fixtures();
    files.extend(crafted_captures());
    files.extend(common::fixtures());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "{CONFIG}pipeline: {{ batch_size: 4, queue_batches: 64, overload: \
             {{ mode: shed, high_watermark: 0.05, low_watermark: 0.02 }} }}\n"
        ),
    )
    .expect("write config");
    let run = |overload: &str| {
        let output = common::netsensor()
            .arg("replay")
            .args(&files)
            .arg("--config")
            .arg(&config)
            .args(["--records", "packet,rollup", "--out", "-", "--no-progress"])
            .args(["--workers", "2", "--overload", overload])
            .output()
            .expect("run netsensor");
        let replay = common::from_output(&output);
        assert!(
            matches!(replay.code, Some(0) | Some(2)),
            "{}",
            replay.stderr
        );
        replay
    };
    let (all, shed) = (run("block"), run("shed"));
    let rollups = |records: &[Value]| {
        let r: Vec<Value> = records
            .iter()
            .filter(|r| r["event"]["dataset"] == "netsensor.rollup")
            .cloned()
            .collect();
        multiset(&r, Match::Exact)
    };
    assert_eq!(
        rollups(&shed.records),
        rollups(&all.records),
        "rollups stay exact"
    );
    let packets = |records: &[Value]| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["event"]["dataset"] == "netsensor.packet")
            .cloned()
            .collect()
    };
    let (kept, every) = (packets(&shed.records), packets(&all.records));
    let left_out = logged(&shed.stderr, "shed");
    assert_eq!(logged(&all.stderr, "shed"), 0);
    assert!(left_out > 0, "shedding never engaged: {}", shed.stderr);
    assert_eq!(kept.len() as u64 + left_out, every.len() as u64);
    let mut scaled = 0;
    for record in &kept {
        let rate = record["netsensor"]["sample_rate"]
            .as_u64()
            .expect("sample_rate");
        assert!(rate.is_power_of_two(), "{record}");
        scaled += u64::from(rate > 1);
    }
    assert!(scaled > 0, "no kept record says it was sampled");
}
