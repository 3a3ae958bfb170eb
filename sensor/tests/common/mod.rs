//! Helpers shared by the integration tests: where the repository and its fixtures are,
//! running the built `netsensor` binary and the external tools the tests compare it with
//! (tshark, promtool), and reading its NDJSON output.
// Every test binary compiles this module but uses only some of its helpers.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root (the workspace directory above `sensor/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The capture fixtures directory (`dev/fixtures/pcaps`).
pub fn fixtures_dir() -> PathBuf {
    repo().join("dev/fixtures/pcaps")
}

/// The GeoIP databases that `make geo` installs: `$NETSENSOR_GEO_DIR`, else `.cache/geo`.
pub fn geo_dir() -> PathBuf {
    std::env::var_os("NETSENSOR_GEO_DIR").map_or_else(|| repo().join(".cache/geo"), PathBuf::from)
}

/// Every `*.pcap` and `*.pcapng` fixture, sorted by name.
pub fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("read fixtures dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    files.sort();
    files
}

/// The file name of `path` as a string.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Frame counts from MANIFEST.tsv (`file` → `packets`), for the captures it lists.
pub fn manifest_packets() -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(fixtures_dir().join("MANIFEST.tsv")).expect("manifest");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let file = cols.next()?;
            let packets = cols.nth(1)?.parse().ok()?;
            Some((file.to_owned(), packets))
        })
        .collect()
}

/// A `netsensor` command for the binary under test, isolated from any user configuration.
pub fn netsensor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netsensor"));
    command.env_remove("NETSENSOR_CONFIG").env("NO_COLOR", "1");
    command
}

/// The result of one `netsensor replay`.
#[derive(Debug)]
pub struct Replay {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// One parsed JSON object per NDJSON line.
    pub records: Vec<Value>,
    /// Everything written to stderr.
    pub stderr: String,
}

/// Runs `netsensor replay FILE --out - --no-progress` and parses its output.
pub fn replay(path: &Path) -> Replay {
    let output = netsensor()
        .arg("replay")
        .arg(path)
        .args(["--out", "-", "--no-progress"])
        .output()
        .expect("run netsensor");
    from_output(&output)
}

/// Like [`replay`], but with tunnels left encapsulated (`tunnels.decapsulate: false`): the
/// records describe the outer packet, as a tshark oracle that reads the outer layer does.
/// (`tests/tunnels.rs` checks the decapsulated view against tshark's innermost layer.)
pub fn replay_outer(path: &Path) -> Replay {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("outer.yaml");
    std::fs::write(
        &config,
        "tunnels: { decapsulate: false }\nrecords: [packet]\n\
         outputs: { stdout: { enabled: true } }\nlisteners: { metrics: null, query: null }\n",
    )
    .expect("write config");
    let output = netsensor()
        .arg("replay")
        .arg(path)
        .arg("--config")
        .arg(&config)
        .args(["--out", "-", "--no-progress"])
        .output()
        .expect("run netsensor");
    from_output(&output)
}

/// Parses a finished `netsensor` process.
pub fn from_output(output: &Output) -> Replay {
    Replay {
        code: output.status.code(),
        records: parse_ndjson(&output.stdout),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One JSON value per non-empty line; panics on a line that is not JSON.
pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad NDJSON line {line:?}: {e}"))
        })
        .collect()
}

/// The value at a dotted path (`netsensor.ip.ttl`), through nested objects.
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// A JSON value as comparable text: strings as they are, numbers and booleans in JSON
/// form, arrays joined with `,`; `null` is absent.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(items.iter().filter_map(text).collect::<Vec<_>>().join(",")),
        other => Some(other.to_string()),
    }
}

/// Dotted paths of every leaf of a record, sorted and without repeats. Arrays of objects
/// (DNS answers) contribute their objects' leaves under the array's path, arrays of scalars
/// are one leaf, and a path that is itself a field of `fields` (the field table, e.g. a
/// geo_point object) is a leaf.
pub fn leaf_paths(value: &Value, fields: &HashSet<&str>) -> Vec<String> {
    fn walk(value: &Value, path: String, fields: &HashSet<&str>, out: &mut Vec<String>) {
        if !path.is_empty() && fields.contains(path.as_str()) {
            out.push(path);
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, child_path, fields, out);
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for item in items {
                    walk(item, path.clone(), fields, out);
                }
            }
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), fields, &mut out);
    out.sort();
    out.dedup();
    out
}

/// True when `program --version` runs.
pub fn have_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when the test process runs with effective user id 0.
pub fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Polls `condition` every `poll` until it holds (true) or `limit` has passed (false).
pub fn wait_until(limit: Duration, poll: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(poll);
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Panics with an install hint when tshark is missing.
pub fn require_tshark() {
    assert!(
        have_program("tshark"),
        "tshark is not installed: run `make deps` (Debian package tshark)"
    );
}

/// tshark's dissection of every frame of `path` (`tshark -T fields`): per frame, every
/// occurrence of each of `fields`, in `fields` order. TCP desegmentation and IP
/// defragmentation are off, so tshark sees the frames the sensor sees; `options` are
/// further tshark options.
pub fn tshark_fields(path: &Path, options: &[&str], fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut command = Command::new("tshark");
    command
        .arg("-n")
        .arg("-r")
        .arg(path)
        .args(options)
        .args(["-o", "tcp.desegment_tcp_streams:FALSE"])
        .args(["-o", "ip.defragment:FALSE"])
        .args(["-o", "ipv6.defragment:FALSE"])
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .args(["-E", "aggregator=,", "-E", "quote=n"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("run tshark");
    assert!(
        output.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), fields.len(), "tshark line {line:?}");
            cols.iter()
                .map(|col| {
                    if col.is_empty() {
                        Vec::new()
                    } else {
                        col.split(',').map(str::to_owned).collect()
                    }
                })
                .collect()
        })
        .collect()
}

/// Integers in tshark's decimal or `0x` hexadecimal form.
pub fn tshark_number(text: &str) -> u64 {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// The upper-layer protocol of an IPv6 packet as tshark dissected it: `ipv6.nxt` followed
/// through the extension-header chain (hop-by-hop, routing, fragment, destination options,
/// AH). `nth(field, n)` is the `n`-th occurrence of a tshark field in the frame.
pub fn ipv6_upper_protocol<'a>(nth: impl Fn(&str, usize) -> Option<&'a str>) -> Option<u64> {
    let mut next = nth("ipv6.nxt", 0).map(tshark_number);
    let mut used: HashMap<&str, usize> = HashMap::new();
    while let Some(n) = next {
        let field = match n {
            0 => "ipv6.hopopts.nxt",
            43 => "ipv6.routing.nxt",
            44 => "ipv6.fraghdr.nxt",
            60 => "ipv6.dstopts.nxt",
            51 => "ah.next_header",
            _ => break,
        };
        let at = used.entry(field).or_insert(0);
        match nth(field, *at) {
            Some(v) => next = Some(tshark_number(v)),
            None => break,
        }
        *at += 1;
    }
    next
}

/// `promtool check metrics` on a scraped page: it must parse and pass the lint rules.
pub fn promtool_check_metrics(page: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\npage:\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
