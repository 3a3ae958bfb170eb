//! `netsensor dataset` against tshark.
//!
//! On the fixture captures, tshark (checksum validation on) reads every sample file: both
//! checksums good, addresses and ports zero, exactly N payload packets. Each sample is
//! matched to its original connection (tshark `tcp.stream`) by its first timestamp, and
//! each of its packets to an original payload frame with the same sequence number and
//! payload; per direction the payloads concatenate to a prefix of tshark's own
//! reassembly of that direction (`-z follow,tcp,raw`): in order, no repeats, no holes.
//! Across directions, packets keep capture order. Every connection tshark finds clean
//! (no retransmission, reordering or loss flags) with at least N payload frames must have
//! a sample, and every test needs a minimum number of samples, so none passes on zero.
//!
//! Crafted captures (`dev/fixtures/crafted/dataset-*.pcap`, from `make_dataset.py`) pin
//! out-of-order segments, retransmissions, a sequence wraparound and a gap.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{netsensor, require_tshark, tshark_fields, tshark_number};
use netsensor_schema::time::parse_rfc3339;

/// One row of index.csv.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    file: String,
    first_frame: usize,
    first_ns: i64,
    packets: usize,
    server_port: u16,
    service: String,
    gap: bool,
}

/// One packet of a sample file as tshark reads it.
#[derive(Debug, Clone)]
struct SamplePacket {
    addresses: Vec<String>,
    ports: Vec<String>,
    ip_checksum: Vec<String>,
    tcp_checksum: Vec<String>,
    seq: u64,
    payload: String,
}

/// One payload frame of an original capture.
#[derive(Debug, Clone)]
struct Original {
    frame: u64,
    src: String,
    seq: u64,
    payload: String,
}

/// One TCP connection of an original capture (tshark's `tcp.stream`).
#[derive(Debug, Default)]
struct Stream {
    first_ns: i64,
    /// Destination port of the SYN, when the capture has it.
    syn_port: Option<u16>,
    payload: Vec<Original>,
    /// tshark flagged a retransmission, reordering or loss.
    flagged: bool,
    /// Tunnelled (more than one IP header): not the sensor's business.
    tunnelled: bool,
}

fn crafted(name: &str) -> PathBuf {
    common::repo().join("dev/fixtures/crafted").join(name)
}

/// Runs `netsensor dataset FILE --out DIR ARGS...`.
fn dataset(file: &Path, out: &Path, args: &[&str]) -> Output {
    netsensor()
        .arg("dataset")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run netsensor")
}

/// Runs the export and insists it succeeded; returns the summary line.
fn export_ok(file: &Path, out: &Path, args: &[&str]) -> String {
    let output = dataset(file, out, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "dataset {} failed: {stderr}",
        file.display()
    );
    stderr
        .lines()
        .find(|line| line.starts_with("dataset: "))
        .unwrap_or_else(|| panic!("no summary line in {stderr:?}"))
        .to_owned()
}

/// The number before `label` in the summary line (`"4 retransmissions"`).
fn summary_count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {summary:?}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {label:?} in {summary:?}"))
}

fn read_index(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("index.csv")).expect("index.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id,file,first_frame,first_timestamp,packets,server_port,service,gap")
    );
    lines
        .map(|line| {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), 8, "index line {line:?}");
            Row {
                id: cols[0].to_owned(),
                file: cols[1].to_owned(),
                first_frame: cols[2].parse().expect("first_frame"),
                first_ns: parse_rfc3339(cols[3]).expect("first_timestamp"),
                packets: cols[4].parse().expect("packets"),
                server_port: cols[5].parse().expect("server_port"),
                service: cols[6].to_owned(),
                gap: cols[7].parse().expect("gap"),
            }
        })
        .collect()
}

/// Every packet of a sample capture, checksums validated by tshark.
fn read_sample(path: &Path) -> Vec<SamplePacket> {
    let options = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "tcp.relative_sequence_numbers:FALSE",
    ];
    let fields = [
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "ip.checksum.status",
        "tcp.checksum.status",
        "tcp.seq_raw",
        "tcp.payload",
        "ip.version",
    ];
    tshark_fields(path, &options, &fields)
        .into_iter()
        .map(|f| {
            let mut addresses = f[0].clone();
            addresses.extend(f[1].iter().cloned());
            addresses.extend(f[2].iter().cloned());
            addresses.extend(f[3].iter().cloned());
            let mut ports = f[4].clone();
            ports.extend(f[5].iter().cloned());
            SamplePacket {
                addresses,
                ports,
                ip_checksum: f[6].clone(),
                tcp_checksum: f[7].clone(),
                seq: f[8].first().map_or(u64::MAX, |s| tshark_number(s)),
                payload: f[9].concat(),
            }
        })
        .collect()
}

/// `1420290300.418621000` → nanoseconds.
fn epoch_ns(text: &str) -> i64 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let frac = format!("{frac:0<9}");
    secs.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

/// The TCP connections of an original capture, by `tcp.stream`.
fn original_streams(path: &Path) -> BTreeMap<u64, Stream> {
    let fields = [
        "frame.number",
        "frame.time_epoch",
        "tcp.stream",
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.seq_raw",
        "tcp.len",
        "tcp.payload",
        "tcp.flags.syn",
        "tcp.flags.ack",
        "tcp.analysis.retransmission",
        "tcp.analysis.keep_alive",
        "tcp.analysis.out_of_order",
        "tcp.analysis.lost_segment",
        "tcp.analysis.ack_lost_segment",
        "tcp.analysis.spurious_retransmission",
        "tcp.analysis.fast_retransmission",
    ];
    let mut streams: BTreeMap<u64, Stream> = BTreeMap::new();
    for f in tshark_fields(path, &["-Y", "tcp"], &fields) {
        let Some(stream_id) = f[2].first().map(|s| tshark_number(s)) else {
            continue;
        };
        let ips: Vec<&String> = f[3].iter().chain(f[4].iter()).collect();
        let stream = streams.entry(stream_id).or_default();
        if stream.first_ns == 0 {
            stream.first_ns = epoch_ns(&f[1][0]);
        }
        if ips.len() != 1 || f[5].len() != 1 {
            stream.tunnelled = true;
            continue;
        }
        let syn = f[10].first().is_some_and(|s| s == "1" || s == "True");
        let ack = f[11].first().is_some_and(|s| s == "1" || s == "True");
        if syn && !ack && stream.syn_port.is_none() {
            stream.syn_port = Some(f[6][0].parse().unwrap());
        }
        if f[12..].iter().any(|flag| !flag.is_empty()) {
            stream.flagged = true;
        }
        let len: u64 = f[8].first().map_or(0, |s| tshark_number(s));
        if len > 0 {
            stream.payload.push(Original {
                frame: tshark_number(&f[0][0]),
                src: format!("{}:{}", ips[0], f[5][0]),
                seq: tshark_number(&f[7][0]),
                payload: f[9].concat(),
            });
        }
    }
    streams
}

/// tshark's reassembly of each direction of `streams` (`-z follow,tcp,raw`): per stream,
/// the hex bytes of node 0 and node 1.
fn follow(path: &Path, streams: &[u64]) -> HashMap<u64, [String; 2]> {
    let mut command = std::process::Command::new("tshark");
    command.arg("-n").arg("-r").arg(path).arg("-q");
    for id in streams {
        command.args(["-z", &format!("follow,tcp,raw,{id}")]);
    }
    let output = command.output().expect("run tshark");
    assert!(output.status.success(), "tshark follow failed");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut out = HashMap::new();
    let mut current: Option<(u64, [String; 2])> = None;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("Filter: tcp.stream eq ") {
            if let Some((id, nodes)) = current.take() {
                out.insert(id, nodes);
            }
            current = Some((id.trim().parse().unwrap(), Default::default()));
        } else if line.starts_with("====") || line.starts_with("Node ") || line.is_empty() {
            continue;
        } else if let Some((_, nodes)) = current.as_mut() {
            match line.strip_prefix('\t') {
                Some(hex) => nodes[1].push_str(hex.trim()),
                None if line.starts_with("Follow:") => {}
                None => nodes[0].push_str(line.trim()),
            }
        }
    }
    if let Some((id, nodes)) = current.take() {
        out.insert(id, nodes);
    }
    out
}

/// Writes the records of the pcap `files` (same header) into one capture; returns each
/// file's record count, read from the record headers.
fn concatenate(files: &[PathBuf], merged: &Path) -> Vec<usize> {
    let mut out = Vec::new();
    let mut counts = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).unwrap();
        assert!(bytes.len() >= 24, "{}: no pcap header", file.display());
        if i == 0 {
            out.extend_from_slice(&bytes[..24]);
        } else {
            assert_eq!(bytes[..24], out[..24], "{}: another header", file.display());
        }
        let (mut at, mut count) = (24, 0);
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            at += 16 + len;
            count += 1;
        }
        assert_eq!(
            at,
            bytes.len(),
            "{}: records end at the file's end",
            file.display()
        );
        out.extend_from_slice(&bytes[24..]);
        counts.push(count);
    }
    std::fs::write(merged, out).unwrap();
    counts
}

/// The checks every sample file must pass: N packets, good checksums, zero addresses and
/// ports.
fn check_anonymized(path: &Path, packets: &[SamplePacket], n: usize) {
    assert_eq!(packets.len(), n, "{}: packet count", path.display());
    for (i, p) in packets.iter().enumerate() {
        let at = format!("{} packet {}", path.display(), i + 1);
        assert_eq!(
            p.ip_checksum.len() + p.tcp_checksum.len(),
            p.ip_checksum.len() + 1
        );
        // IPv6 has no header checksum; IPv4 must validate. 1 = good.
        assert!(
            p.ip_checksum.iter().all(|s| s == "1"),
            "{at}: IP checksum {:?}",
            p.ip_checksum
        );
        assert_eq!(p.tcp_checksum, vec!["1"], "{at}: TCP checksum");
        assert_eq!(p.addresses.len(), 2, "{at}: one IP header");
        assert!(
            p.addresses.iter().all(|a| a == "0.0.0.0" || a == "::"),
            "{at}: addresses {:?}",
            p.addresses
        );
        assert_eq!(p.ports, vec!["0", "0"], "{at}: ports");
        assert!(!p.payload.is_empty(), "{at}: payload");
    }
}

/// Runs the export on a fixture and checks every sample against tshark.
fn check_fixture(name: &str, n: usize, min_samples: usize) {
    require_tshark();
    let path = common::fixtures_dir().join(name);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("samples");
    let summary = export_ok(&path, &out, &["--packets", &n.to_string()]);
    let rows = read_index(&out);
    assert!(
        rows.len() >= min_samples,
        "{name}: {} samples, expected at least {min_samples}; {summary}",
        rows.len()
    );
    assert_eq!(
        summary_count(&summary, "samples written"),
        rows.len() as u64
    );
    let streams = original_streams(&path);
    let mut matched: HashMap<u64, &Row> = HashMap::new();
    for row in &rows {
        let candidates: Vec<u64> = streams
            .iter()
            .filter(|(_, s)| s.first_ns == row.first_ns && !s.tunnelled)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            candidates.len(),
            1,
            "{name}: sample {} matches streams {candidates:?}",
            row.id
        );
        assert!(
            matched.insert(candidates[0], row).is_none(),
            "two samples of one stream"
        );
    }
    let ids: Vec<u64> = matched.keys().copied().collect();
    let reassembled = follow(&path, &ids);
    // One tshark run over all sample files, concatenated (tshark starts slowly).
    let files: Vec<PathBuf> = rows.iter().map(|row| out.join(&row.file)).collect();
    let merged = dir.path().join("merged.pcap");
    let counts = concatenate(&files, &merged);
    let mut all = read_sample(&merged).into_iter();
    let mut per_file: HashMap<String, Vec<SamplePacket>> = HashMap::new();
    for (row, count) in rows.iter().zip(counts) {
        per_file.insert(row.id.clone(), all.by_ref().take(count).collect());
    }
    assert!(all.next().is_none());
    for (&stream_id, row) in &matched {
        let stream = &streams[&stream_id];
        let what = format!("{name} stream {stream_id} (sample {})", row.id);
        assert_eq!(row.file, format!("{}.pcap", row.id));
        assert_eq!(row.first_frame, 1);
        assert_eq!(row.packets, n, "{what}");
        assert!(!row.gap, "{what}: gapped samples are skipped by default");
        if let Some(port) = stream.syn_port {
            assert_eq!(row.server_port, port, "{what}: server port");
        }
        let packets = &per_file[&row.id];
        check_anonymized(&out.join(&row.file), packets, n);
        // Each packet is an original payload frame of this connection.
        let originals: Vec<&Original> = packets
            .iter()
            .map(|p| {
                stream
                    .payload
                    .iter()
                    .find(|o| o.seq == p.seq && o.payload == p.payload)
                    .unwrap_or_else(|| panic!("{what}: packet seq {} is no original frame", p.seq))
            })
            .collect();
        // Per direction: a prefix of tshark's reassembly, distinct nodes.
        let mut by_src: BTreeMap<&str, String> = BTreeMap::new();
        for o in &originals {
            by_src.entry(&o.src).or_default().push_str(&o.payload);
        }
        let nodes = &reassembled[&stream_id];
        let mut used = Vec::new();
        for (src, bytes) in &by_src {
            let node = (0..2)
                .find(|&k| !used.contains(&k) && nodes[k].starts_with(bytes.as_str()))
                .unwrap_or_else(|| panic!("{what}: {src}'s payloads are not tshark's stream"));
            used.push(node);
        }
        // Across directions: capture order.
        for pair in originals.windows(2) {
            if pair[0].src != pair[1].src {
                assert!(
                    pair[0].frame < pair[1].frame,
                    "{what}: frames out of capture order"
                );
            }
        }
    }
    // Clean connections with enough payload all have a sample.
    for (id, stream) in &streams {
        if !stream.flagged && !stream.tunnelled && stream.payload.len() >= n {
            assert!(
                matched.contains_key(id),
                "{name}: clean stream {id} has no sample"
            );
        }
    }
}

#[test]
fn mixed_capture_samples_match_tshark() {
    check_fixture("mixed-large-many-protocols.pcap", 4, 50);
}

#[test]
fn http_and_ftp_samples_match_tshark() {
    check_fixture("http-dns-wikipedia-mixed.pcap", 2, 8);
    check_fixture("ftp-ipv4-session.pcap", 4, 1);
    check_fixture("ssh-session.pcap", 16, 1);
}

#[test]
fn retransmission_and_wraparound_fixtures_match_tshark() {
    check_fixture("tcp-retransmissions.pcap", 8, 1);
    check_fixture("tcp-seq-wraparound.pcap", 16, 1);
    check_fixture("telnet-session.pcap", 16, 1);
}

#[test]
fn ipv6_samples_match_tshark() {
    check_fixture("cid-suricata-ipv6-seed7.pcap", 16, 2);
    check_fixture("tls13-ipv6-sni.pcap", 2, 1);
}

/// Payload of each packet of the only sample of a crafted capture, as text.
fn crafted_sample(name: &str, args: &[&str]) -> (Vec<String>, String, Vec<Row>) {
    require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("samples");
    let summary = export_ok(&crafted(name), &out, args);
    let rows = read_index(&out);
    let mut texts = Vec::new();
    for row in &rows {
        let packets = read_sample(&out.join(&row.file));
        check_anonymized(&out.join(&row.file), &packets, row.packets);
        for p in packets {
            let bytes: Vec<u8> = (0..p.payload.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&p.payload[i..i + 2], 16).unwrap())
                .collect();
            // Payloads are a 2-character tag repeated: keep the tag.
            texts.push(String::from_utf8_lossy(&bytes[..2.min(bytes.len())]).into_owned());
        }
    }
    (texts, summary, rows)
}

#[test]
fn out_of_order_segments_are_reordered_within_their_direction() {
    let (texts, summary, rows) = crafted_sample("dataset-reorder.pcap", &["--packets", "4"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(texts, ["r1", "a1", "a2", "a3"]);
    assert_eq!(summary_count(&summary, "segments reordered"), 2);
    assert_eq!(rows[0].server_port, 8001);
    assert!(!rows[0].gap);
}

#[test]
fn retransmissions_and_keepalives_are_dropped() {
    let (texts, summary, _) = crafted_sample("dataset-retransmission.pcap", &["--packets", "5"]);
    assert_eq!(texts, ["a1", "r1", "a2", "r2", "a3"]);
    assert_eq!(summary_count(&summary, "retransmissions dropped"), 4);
}

#[test]
fn sequence_wraparound_keeps_order() {
    let (texts, summary, rows) = crafted_sample("dataset-wraparound.pcap", &["--packets", "4"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(texts, ["a1", "a2", "a3", "a4"]);
    assert_eq!(summary_count(&summary, "retransmissions dropped"), 1);
    assert_eq!(summary_count(&summary, "with gaps"), 0);
}

#[test]
fn a_gap_is_counted_and_skipped_by_default() {
    let (texts, summary, rows) = crafted_sample("dataset-gap.pcap", &["--packets", "4"]);
    assert_eq!(rows.len(), 1, "{summary}");
    assert_eq!(rows[0].server_port, 8005);
    assert_eq!(texts, ["a1", "r1", "a2", "r2"]);
    assert_eq!(summary_count(&summary, "with gaps"), 1);
    assert!(summary.contains("(50.00%, skipped)"), "{summary}");

    let (texts, summary, rows) = crafted_sample(
        "dataset-gap.pcap",
        &["--packets", "4", "--skip-gapped", "false"],
    );
    assert_eq!(rows.len(), 2, "{summary}");
    assert!(rows[0].gap && !rows[1].gap);
    assert_eq!(texts, ["a1", "r1", "a3", "a4", "a1", "r1", "a2", "r2"]);
    assert!(summary.contains("(50.00%, kept)"), "{summary}");
}

#[test]
fn short_connections_are_skipped_unless_allowed() {
    let (_, summary, rows) = crafted_sample("dataset-gap.pcap", &["--packets", "5"]);
    assert!(rows.is_empty());
    assert_eq!(summary_count(&summary, "short"), 1);
    let (texts, _, rows) = crafted_sample("dataset-gap.pcap", &["--packets", "5", "--allow-short"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].packets, 4);
    assert_eq!(texts.len(), 4);
}

#[test]
fn single_file_holds_the_same_packets_as_one_file_per_connection() {
    require_tshark();
    let path = common::fixtures_dir().join("http-dns-wikipedia-mixed.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (split, single) = (dir.path().join("split"), dir.path().join("single"));
    export_ok(&path, &split, &["--packets", "2"]);
    export_ok(&path, &single, &["--packets", "2", "--single-file"]);
    let (split_rows, single_rows) = (read_index(&split), read_index(&single));
    assert!(split_rows.len() >= 8);
    assert_eq!(split_rows.len(), single_rows.len());
    let all = read_sample(&single.join("samples.pcap"));
    check_anonymized(&single.join("samples.pcap"), &all, 2 * single_rows.len());
    for (a, b) in split_rows.iter().zip(&single_rows) {
        assert_eq!(b.file, "samples.pcap");
        assert_eq!(
            (a.first_ns, a.packets, a.server_port),
            (b.first_ns, b.packets, b.server_port)
        );
        assert_eq!(a.service, b.service);
        let own = read_sample(&split.join(&a.file));
        let slice = &all[b.first_frame - 1..b.first_frame - 1 + b.packets];
        let key = |p: &SamplePacket| (p.seq, p.payload.clone());
        assert_eq!(
            own.iter().map(key).collect::<Vec<_>>(),
            slice.iter().map(key).collect::<Vec<_>>()
        );
    }
    assert!(
        split_rows.iter().any(|r| r.service == "http"),
        "service names from the port"
    );
}

#[test]
fn bad_input_gives_clear_errors_without_panics() {
    let dir = tempfile::tempdir().unwrap();
    // A missing capture.
    let output = dataset(Path::new("/nonexistent/x.pcap"), &dir.path().join("a"), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/x.pcap"), "{stderr}");
    // A non-empty output directory.
    std::fs::write(dir.path().join("junk"), b"x").unwrap();
    let path = crafted("dataset-gap.pcap");
    let output = dataset(&path, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    // --packets 0.
    let output = dataset(&path, &dir.path().join("b"), &["--packets", "0"]);
    assert_eq!(output.status.code(), Some(1));
    // Malformed and truncated captures: counted, never a panic.
    let mut malformed = 0;
    for fixture in common::fixtures() {
        let name = common::file_name(&fixture);
        if !(name.starts_with("malformed-")
            || name.starts_with("trunc-")
            || name.contains("snaplen"))
        {
            continue;
        }
        let out = dir.path().join(format!("out-{name}"));
        let output = dataset(&fixture, &out, &["--packets", "1", "--allow-short"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            matches!(output.status.code(), Some(0 | 3)),
            "{name}: {stderr}"
        );
        let summary = stderr.lines().find(|l| l.starts_with("dataset: ")).unwrap();
        malformed += summary_count(summary, "malformed frames");
    }
    assert!(
        malformed > 0,
        "the malformed fixtures count malformed frames"
    );
}

#[test]
fn crafted_captures_match_their_generator() {
    // The committed captures are what make_dataset.py writes (deterministic); regenerate
    // them with `python3 dev/fixtures/crafted/make_dataset.py` after changing it.
    assert!(common::have_program("python3"), "python3 is needed");
    let dir = tempfile::tempdir().unwrap();
    for script in ["make.py", "make_dataset.py"] {
        std::fs::copy(crafted(script), dir.path().join(script)).unwrap();
    }
    let status = std::process::Command::new("python3")
        .arg(dir.path().join("make_dataset.py"))
        .status()
        .unwrap();
    assert!(status.success());
    for name in [
        "dataset-reorder.pcap",
        "dataset-retransmission.pcap",
        "dataset-wraparound.pcap",
        "dataset-gap.pcap",
    ] {
        let fresh = std::fs::read(dir.path().join(name)).unwrap();
        assert!(
            fresh == std::fs::read(crafted(name)).unwrap(),
            "{name} differs from make_dataset.py's output"
        );
    }
}
