//! Bad input through the `netsensor` binary: broken configurations, damaged and random
//! capture files, frames of random bytes, and command lines that cannot work. Each must end
//! with a clear message and the documented exit code (1 for a usage or configuration error,
//! 2 for a damaged capture file), never with a panic (exit code 101) or a leaked secret.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use netsensor::capture::{FrameMeta, LinkType, SourceInfo};
use netsensor::enrich::Enricher;
use netsensor::records::PacketBuilder as RecordBuilder;
use netsensor_schema::{fields_for, RecordKind};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn netsensor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netsensor"));
    cmd.env_remove("NETSENSOR_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    netsensor().args(args).output().expect("run netsensor")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// No panic message and not the panic exit code.
fn assert_no_panic(out: &Output) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_ne!(
        out.status.code(),
        Some(101),
        "panic exit code; stderr: {stderr}"
    );
    assert!(
        out.status.code().is_some(),
        "killed by a signal; stderr: {stderr}"
    );
}

/// The error line the binary prints: `netsensor: ` and the error chain.
fn error_line(out: &Output) -> String {
    let stderr = text(&out.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("netsensor: "))
        .unwrap_or_else(|| panic!("no `netsensor: ` error line in {stderr:?}"))
        .to_owned()
}

/// 1-based line and column of the first occurrence of `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle in text");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = at - before.rfind('\n').map_or(0, |nl| nl + 1) + 1;
    (line, column)
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A classic little-endian pcap file (microsecond timestamps). Returns each record's byte
/// offset.
fn write_pcap(path: &Path, linktype: u32, frames: &[(u32, Vec<u8>)]) -> Vec<u64> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&0i32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&linktype.to_le_bytes());
    let mut offsets = Vec::new();
    for (i, (secs, data)) in frames.iter().enumerate() {
        offsets.push(bytes.len() as u64);
        let len = u32::try_from(data.len()).unwrap();
        bytes.extend_from_slice(&secs.to_le_bytes());
        bytes.extend_from_slice(&(i as u32 % 1_000_000).to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(data);
    }
    std::fs::write(path, bytes).unwrap();
    offsets
}

fn udp_frame(i: u16) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(40000 + i, 9999)
        .write(&mut frame, &[i as u8; 40])
        .unwrap();
    frame
}

fn records(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("record is JSON"))
        .collect()
}

fn frame_number(record: &Value) -> u64 {
    record["netsensor"]["packet"]["number"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[test]
fn broken_configs_name_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    // (file, contents, text the error points at, key path)
    let cases = [
        (
            "unknown-key.yaml",
            "sensor:\n  name: x\n  bogus: 1\n",
            "bogus",
            "sensor",
        ),
        (
            "bad-enum.yaml",
            "captures:\n  - interface: lo\n    direction: sideways\n",
            "sideways",
            "captures[0].direction",
        ),
        (
            "bad-type.yaml",
            "pipeline:\n  batch_size: lots\n",
            "lots",
            "pipeline.batch_size",
        ),
        (
            "bad-address.yaml",
            "listeners:\n  metrics:\n    address: \"not-an-address\"\n",
            "\"not-an-address\"",
            "listeners.metrics.address",
        ),
        (
            "inline-secret.yaml",
            "privacy:\n  pseudonymize:\n    key: \"0123456789abcdef0123\"\n",
            "\"0123456789abcdef0123\"",
            "privacy.pseudonymize.key",
        ),
        (
            "bad-nested-type.yaml",
            "captures:\n  - interface: lo\n    snaplen_bytes: -5\n",
            "-5",
            "captures[0].snaplen_bytes",
        ),
    ];
    for (name, yaml, needle, key) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        let out = run(&["check-config", path.to_str().unwrap()]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        let (line, column) = position(yaml, needle);
        let prefix = format!("{}:{line}:{column}: {key}: ", path.display());
        let error = error_line(&out);
        assert!(
            error.starts_with(&prefix),
            "{name}: {error:?} should start with {prefix:?}"
        );
        assert!(
            error.len() > prefix.len() + 5,
            "{name}: message after the key"
        );
    }
    // The inline secret itself is never echoed back.
    let out = run(&[
        "check-config",
        dir.path().join("inline-secret.yaml").to_str().unwrap(),
    ]);
    assert!(!text(&out.stderr).contains("0123456789abcdef0123"));
}

#[test]
fn yaml_syntax_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A key indented deeper than its sibling: the parser fails at the second colon.
        ("indent.yaml", "sensor:\n  name: x\n   bad: y\n", 3),
        ("quote.yaml", "sensor:\n  name: \"x\n", 3),
        ("flow.yaml", "records: [packet\n", 2),
        ("tab.yaml", "sensor:\n\tname: x\n", 2),
    ];
    for (name, yaml, line) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        let out = run(&["check-config", path.to_str().unwrap()]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let error = error_line(&out);
        let prefix = format!("{}:{line}:", path.display());
        assert!(
            error.starts_with(&prefix),
            "{name}: {error:?} should start with {prefix:?}"
        );
        let rest = &error[prefix.len()..];
        let (column, message) = rest.split_once(": ").expect("column then message");
        assert!(
            column.parse::<usize>().is_ok(),
            "{name}: column in {error:?}"
        );
        assert!(message.starts_with("syntax error: "), "{name}: {error:?}");
    }
}

#[test]
fn missing_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.yaml");
    for args in [
        vec!["check-config", path.to_str().unwrap()],
        vec!["check-config", "--config", path.to_str().unwrap()],
        vec!["run", "--config", path.to_str().unwrap()],
    ] {
        let out = run(&args);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let error = error_line(&out);
        assert!(
            error.starts_with(&format!("{}: ", path.display())),
            "{args:?}: {error:?}"
        );
        assert!(error.contains("cannot read"), "{error:?}");
    }
    let out = run(&["check-config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(error_line(&out).contains("configuration file"));
}

#[test]
fn valid_configs_print_the_effective_yaml() {
    for name in ["netsensor.example.yaml", "replay.yaml"] {
        let path = common::repo().join("dev/config").join(name);
        let out = run(&["check-config", path.to_str().unwrap()]);
        assert_no_panic(&out);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let effective: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text(&out.stdout)).expect("effective config is YAML");
        for section in [
            "sensor",
            "captures",
            "records",
            "privacy",
            "outputs",
            "listeners",
        ] {
            assert!(
                effective.get(section).is_some(),
                "{name}: `{section}` printed"
            );
        }
        assert!(text(&out.stderr).contains("configuration is valid"));
        // The effective configuration is itself a valid configuration.
        let dir = tempfile::tempdir().unwrap();
        let again = dir.path().join(name);
        std::fs::write(&again, &out.stdout).unwrap();
        let out2 = run(&["check-config", again.to_str().unwrap()]);
        assert!(
            out2.status.success(),
            "{name} re-read: {}",
            text(&out2.stderr)
        );
        assert_eq!(
            out2.stdout, out.stdout,
            "{name}: effective config is a fixed point"
        );
    }
}

#[test]
fn secrets_are_redacted_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key = "Pseudonym-KEY-5f2b9c7e1d";
    std::fs::write(dir.path().join("pseudonym.key"), format!("{key}\n")).unwrap();
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        "privacy:\n  pseudonymize:\n    key: { file: pseudonym.key }\n",
    )
    .unwrap();
    let out = run(&["check-config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("**REDACTED**"), "{stdout}");
    assert!(!stdout.contains(key) && !text(&out.stderr).contains(key));

    // From the environment.
    let env_key = "Env-Pseudonym-KEY-93e1aa07";
    std::fs::write(
        &config,
        "privacy:\n  pseudonymize:\n    key: { env: NETSENSOR_TEST_PSEUDONYM_KEY }\n",
    )
    .unwrap();
    let out = netsensor()
        .args(["check-config", config.to_str().unwrap()])
        .env("NETSENSOR_TEST_PSEUDONYM_KEY", env_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("**REDACTED**"));
    assert!(!text(&out.stdout).contains(env_key) && !text(&out.stderr).contains(env_key));

    // A key that is too short is refused without being shown.
    let short = "Zq9shortK";
    std::fs::write(dir.path().join("pseudonym.key"), short).unwrap();
    std::fs::write(
        &config,
        "privacy:\n  pseudonymize:\n    key: { file: pseudonym.key }\n",
    )
    .unwrap();
    let out = run(&["check-config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(error.contains("privacy.pseudonymize.key"), "{error}");
    assert!(!text(&out.stderr).contains(short) && !text(&out.stdout).contains(short));
}

// ---------------------------------------------------------------------------------------
// Capture files
// ---------------------------------------------------------------------------------------

#[test]
fn truncated_pcap_keeps_earlier_records_and_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<(u32, Vec<u8>)> = (0..5)
        .map(|i| (1_700_000_000 + i, udp_frame(i as u16)))
        .collect();
    let full = dir.path().join("full.pcap");
    let offsets = write_pcap(&full, 1, &frames);
    let bytes = std::fs::read(&full).unwrap();
    // Cut inside the data of record 4, then inside its 16-byte record header.
    for cut in [offsets[3] + 16 + 10, offsets[3] + 8] {
        let path = dir.path().join(format!("cut-{cut}.pcap"));
        std::fs::write(&path, &bytes[..cut as usize]).unwrap();
        let out = run(&["replay", path.to_str().unwrap()]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let error = error_line(&out);
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(
            error.contains(&format!("byte offset {}", offsets[3])),
            "{error}"
        );
        let records = records(&out.stdout);
        let numbers: Vec<u64> = records.iter().map(frame_number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        for (record, (_, frame)) in records.iter().zip(&frames) {
            assert_eq!(
                record["netsensor"]["packet"]["captured_length"].as_u64(),
                Some(frame.len() as u64)
            );
        }
    }
    // A file cut inside its 24-byte header.
    let path = dir.path().join("header-only.pcap");
    std::fs::write(&path, &bytes[..10]).unwrap();
    let out = run(&["replay", path.to_str().unwrap()]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(error_line(&out).contains(&path.display().to_string()));
    assert!(out.stdout.is_empty());
}

#[test]
fn random_and_damaged_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_0001);
    let random = dir.path().join("random.bin");
    std::fs::write(&random, rng.bytes(4096)).unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.pcap");
    for (path, expect) in [
        (&random, "not a pcap or pcapng"),
        (&empty, "not a pcap or pcapng"),
        (&missing, "cannot open"),
    ] {
        let out = run(&["replay", path.to_str().unwrap()]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let error = error_line(&out);
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(expect), "{error}");
        assert!(out.stdout.is_empty());
    }
    // Valid magic numbers followed by garbage: records may come out before the damage is
    // found, but the run ends with exit code 2 and a message, never a panic or a hang.
    let magics: [&[u8]; 4] = [
        &[0xd4, 0xc3, 0xb2, 0xa1],
        &[0xa1, 0xb2, 0xc3, 0xd4],
        &[0x4d, 0x3c, 0xb2, 0xa1],
        &[0x0a, 0x0d, 0x0d, 0x0a],
    ];
    for (i, magic) in magics.iter().enumerate() {
        for round in 0..8 {
            let mut bytes = magic.to_vec();
            let len = 20 + rng.below(3000) as usize;
            bytes.extend(rng.bytes(len));
            let path = dir.path().join(format!("garbage-{i}-{round}.pcap"));
            std::fs::write(&path, &bytes).unwrap();
            let out = run(&["replay", path.to_str().unwrap()]);
            assert_no_panic(&out);
            let code = out.status.code();
            assert!(matches!(code, Some(0 | 2)), "{path:?}: {code:?}");
            if code == Some(2) {
                assert!(error_line(&out).contains(&path.display().to_string()));
            }
            for line in text(&out.stdout).lines() {
                serde_json::from_str::<Value>(line).expect("each record is JSON");
            }
        }
    }
}

/// 500 frames of random bytes (some empty, some longer than any header): every frame yields
/// one record and the run succeeds.
fn random_frames(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|i| {
            let len = match i % 10 {
                0 => rng.below(14) as usize,
                _ => rng.below(400) as usize,
            };
            let mut frame = rng.bytes(len);
            // Every fourth frame gets a plausible EtherType so the IP layers see garbage too.
            if i % 4 == 1 && frame.len() > 14 {
                let types: [[u8; 2]; 4] = [[8, 0], [0x86, 0xdd], [0x81, 0], [8, 6]];
                let ether_type = types[rng.below(4) as usize];
                frame[12..14].copy_from_slice(&ether_type);
                frame[14] = if ether_type[0] == 0x86 { 0x60 } else { 0x45 };
            }
            frame
        })
        .collect()
}

#[test]
fn frames_of_random_bytes_give_one_record_each() {
    let dir = tempfile::tempdir().unwrap();
    let frames = random_frames(0xfeed_beef, 500);
    let path = dir.path().join("random-frames.pcap");
    let stamped: Vec<(u32, Vec<u8>)> = frames.iter().map(|f| (1_700_000_000, f.clone())).collect();
    write_pcap(&path, 1, &stamped);
    let out = run(&["replay", path.to_str().unwrap(), "--no-progress"]);
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = records(&out.stdout);
    assert_eq!(records.len(), 500);
    for (i, (record, frame)) in records.iter().zip(&frames).enumerate() {
        assert_eq!(frame_number(record), i as u64 + 1);
        assert_eq!(
            record["netsensor"]["packet"]["captured_length"].as_u64(),
            Some(frame.len() as u64)
        );
        assert_eq!(
            record["network"]["bytes"].as_u64(),
            Some(frame.len() as u64)
        );
    }
}

/// Spawns a replay, reads the metrics listener's address from its log and returns the child
/// and the address.
fn spawn_with_metrics(config: &Path, pcap: &Path) -> (std::process::Child, String) {
    let mut child = netsensor()
        .args([
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--speed",
            "realtime",
        ])
        .args(["--no-progress", "--out", "-", pcap.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("address=") {
                let addr = line[at + "address=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("metrics listener address in the log");
    (child, addr)
}

fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

/// Sum of a counter's samples per label set, from the exposition text.
fn samples(body: &str, name: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            Some((labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn decode_errors_of_random_frames_are_counted_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let frames = random_frames(0x0dd_ba11, 500);
    // The 500 frames at once, then one more 30 s later: the replay delivers the first 500
    // and waits, which gives time to scrape; the test then stops it.
    let mut stamped: Vec<(u32, Vec<u8>)> =
        frames.iter().map(|f| (1_700_000_000, f.clone())).collect();
    stamped.push((1_700_000_030, udp_frame(1)));
    let pcap = dir.path().join("random-frames.pcap");
    write_pcap(&pcap, 1, &stamped);
    let config = dir.path().join("metrics.yaml");
    std::fs::write(
        &config,
        "records: [packet]\nlisteners:\n  metrics:\n    address: \"127.0.0.1:0\"\n",
    )
    .unwrap();

    // Expected counts, from the library on the same frames.
    let mut builder = RecordBuilder::new(Arc::new(Enricher::default()), "x", "y");
    let source = SourceInfo::default();
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    let mut sink = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let len = frame.len() as u32;
        let meta = FrameMeta {
            timestamp_ns: 0,
            wire_len: len,
            cap_len: len,
            link: LinkType::Ethernet,
            number: i as u64 + 1,
        };
        sink.clear();
        let emitted = builder
            .write_ndjson(&source, &meta, frame, &mut sink)
            .unwrap();
        if let Some(layer) = emitted.error {
            *expected
                .entry(format!("{{layer=\"{}\"}}", layer.as_str()))
                .or_default() += 1.0;
        }
    }
    assert!(
        !expected.is_empty(),
        "the random frames include broken ones"
    );

    let (mut child, addr) = spawn_with_metrics(&config, &pcap);
    let deadline = Instant::now() + Duration::from_secs(25);
    let body = loop {
        let body = scrape(&addr);
        let done: f64 = samples(&body, "netsensor_records_total").values().sum();
        if done >= 500.0 || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let records: f64 = samples(&body, "netsensor_records_total").values().sum();
    assert_eq!(records, 500.0, "{body}");
    let counted: BTreeMap<String, f64> = samples(&body, "netsensor_decode_errors_total")
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .collect();
    assert_eq!(counted, expected, "{body}");
}

// ---------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------

#[test]
fn run_without_config_needs_an_interface_that_is_up() {
    // Zero-config `run` captures on the first up, non-loopback interface. In a fresh network
    // namespace there is none, so it must say so clearly (and never fall back to `lo`).
    assert!(
        common::effective_uid_is_root(),
        "this test creates a network namespace and needs root"
    );
    let ns = format!("ns-zero-{}", std::process::id());
    let status = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(status.success(), "ip netns add {ns}");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_netsensor"), "run"])
        .output()
        .unwrap();
    let _ = std::process::Command::new("ip")
        .args(["netns", "delete", &ns])
        .status();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(error.contains("no interface is up"), "{error}");
    assert!(error.contains("--config"), "{error}");
    assert!(out.stdout.is_empty());
}

#[test]
fn every_record_kind_survives_random_frames() {
    let dir = tempfile::tempdir().unwrap();
    let frames = random_frames(0xf10e_0001, 500);
    // Spread over 10 minutes so flows time out and several rollup intervals close.
    let stamped: Vec<(u32, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (1_700_000_000 + i as u32 * 1200 / 1000, f.clone()))
        .collect();
    let pcap = dir.path().join("random-frames.pcap");
    write_pcap(&pcap, 1, &stamped);
    let out = run(&[
        "replay",
        "--records",
        "packet,flow,rollup",
        "--no-progress",
        pcap.to_str().unwrap(),
    ]);
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for record in records(&out.stdout) {
        let dataset = record["event"]["dataset"]
            .as_str()
            .expect("event.dataset")
            .to_owned();
        let kind = RecordKind::ALL
            .into_iter()
            .find(|k| format!("netsensor.{}", k.name()) == dataset)
            .unwrap_or_else(|| panic!("unknown dataset {dataset}"));
        let fields: HashSet<&str> = fields_for(kind).map(|f| f.name).collect();
        for key in common::leaf_paths(&record, &fields) {
            assert!(
                fields.contains(key.as_str()),
                "{dataset}: `{key}` is not in the field table"
            );
        }
        *by_kind.entry(dataset).or_default() += 1;
    }
    assert_eq!(by_kind.get("netsensor.packet"), Some(&500), "{by_kind:?}");
}

#[test]
fn record_kinds_on_the_command_line() {
    let pcap = common::fixtures_dir().join("dns-a-aaaa-mx.pcap");
    // Only the kinds asked for are written.
    let out = run(&[
        "replay",
        "--records",
        "flow",
        "--no-progress",
        pcap.to_str().unwrap(),
    ]);
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = records(&out.stdout);
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["event"]["dataset"].as_str(), Some("netsensor.flow"));
    }
    // An unknown kind is a usage error that names it.
    let out = run(&["replay", "--records", "bogus", pcap.to_str().unwrap()]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(text(&out.stderr).contains("bogus"));
    assert!(out.stdout.is_empty());
}
