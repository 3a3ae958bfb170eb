//! Helpers shared by the integration tests: where the fixtures are, running the built
//! `netsensor` binary, and reading its NDJSON output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The capture fixtures directory (`dev/fixtures/pcaps`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dev/fixtures/pcaps")
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

/// Dotted paths of every leaf of a record; arrays of objects contribute their objects'
/// leaves under the array's path, arrays of scalars are one leaf.
pub fn leaf_paths(value: &Value) -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(child, &path, out);
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for item in items {
                    walk(item, prefix, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
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
