//! The archive on disk: `DIR/<stream>/<from>_<to>/<request>.json.gz`, then `DONE.json`.
//!
//! Every file is written to a temporary name, fsync'd, renamed into place and its directory
//! fsync'd, so a crash leaves either the old state or the complete file. The manifest
//! `DONE.json` is written last: a range counts as archived only when it exists, and nothing
//! is ever deleted from the cluster for a range without one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::error::{AdminError, Result};
use crate::time::format_compact;

/// Name of the manifest of a range directory.
pub const MANIFEST: &str = "DONE.json";

/// One summary file of a range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SummaryFile {
    /// Request name.
    pub request: String,
    /// File name inside the range directory.
    pub file: String,
    /// Compressed size.
    pub bytes: u64,
}

/// The manifest of an archived range: what was summarized and how many documents it held.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Layout version of this manifest.
    pub format: u32,
    /// Data stream.
    pub stream: String,
    /// Record kind.
    pub kind: String,
    /// Start of the range (inclusive), RFC 3339.
    pub from: String,
    /// End of the range (exclusive), RFC 3339.
    pub to: String,
    /// Start, nanoseconds since the epoch.
    pub from_ns: i64,
    /// End, nanoseconds since the epoch.
    pub to_ns: i64,
    /// Documents in the range when it was summarized.
    pub documents: u64,
    /// Summary files.
    pub summaries: Vec<SummaryFile>,
    /// Engine that answered, e.g. `OpenSearch 2.19.3`.
    pub engine: String,
    /// When the manifest was written, RFC 3339.
    pub written: String,
}

/// The archive directory of one data stream.
#[derive(Debug, Clone)]
pub struct StreamArchive {
    dir: PathBuf,
}

impl StreamArchive {
    /// The archive of `stream` under `root`.
    pub fn new(root: &Path, stream: &str) -> Self {
        StreamArchive {
            dir: root.join(stream),
        }
    }

    /// The directory of the range `[from, to)`.
    pub fn range_dir(&self, from: i64, to: i64) -> PathBuf {
        self.dir
            .join(format!("{}_{}", format_compact(from), format_compact(to)))
    }

    /// Every manifest written so far, by start; unreadable manifests are errors (a damaged
    /// archive must be looked at, not silently re-made or trusted).
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(AdminError::io("list", &self.dir, err)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|err| AdminError::io("list", &self.dir, err))?
                .path()
                .join(MANIFEST);
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(err) => return Err(AdminError::io("read", &path, err)),
            };
            let manifest: Manifest = serde_json::from_str(&text).map_err(|err| {
                AdminError::Failed(format!(
                    "archive manifest {} is damaged: {err}",
                    path.display()
                ))
            })?;
            out.push(manifest);
        }
        out.sort_by_key(|m| (m.from_ns, m.to_ns));
        Ok(out)
    }
}

/// Writes `json` gzipped to `dir/name` atomically; returns the compressed size.
pub fn write_gz(dir: &Path, name: &str, json: &[u8]) -> Result<u64> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(json)
        .and_then(|_| encoder.try_finish())
        .map_err(|err| AdminError::io("compress", &dir.join(name), err))?;
    let bytes = encoder
        .finish()
        .map_err(|err| AdminError::io("compress", &dir.join(name), err))?;
    write_atomic(dir, name, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Writes `dir/name` through a temporary file: write, fsync, rename, fsync the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|err| AdminError::io("create", dir, err))?;
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &target)?;
        sync_dir(dir)
    })();
    result.map_err(|err| {
        let _ = fs::remove_file(&temp);
        AdminError::io("write", &target, err)
    })
}

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The parts of `[from, to)` that no manifest covers, in order.
pub fn uncovered(manifests: &[Manifest], from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut gaps = Vec::new();
    let mut at = from;
    let mut ranges: Vec<(i64, i64)> = manifests.iter().map(|m| (m.from_ns, m.to_ns)).collect();
    ranges.sort();
    for (start, end) in ranges {
        if at >= to {
            break;
        }
        if end <= at {
            continue;
        }
        if start > at {
            gaps.push((at, start.min(to)));
        }
        at = at.max(end);
    }
    if at < to {
        gaps.push((at, to));
    }
    gaps
}

/// Whether manifests cover all of `[from, to)`.
pub fn covered(manifests: &[Manifest], from: i64, to: i64) -> bool {
    from >= to || uncovered(manifests, from, to).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(from: i64, to: i64) -> Manifest {
        Manifest {
            format: 1,
            stream: "s".into(),
            kind: "flow".into(),
            from: String::new(),
            to: String::new(),
            from_ns: from,
            to_ns: to,
            documents: 0,
            summaries: Vec::new(),
            engine: String::new(),
            written: String::new(),
        }
    }

    #[test]
    fn gaps_between_archived_ranges() {
        let done = [m(20, 30), m(30, 35), m(50, 60)];
        assert_eq!(uncovered(&done, 10, 70), vec![(10, 20), (35, 50), (60, 70)]);
        assert_eq!(uncovered(&done, 20, 35), vec![]);
        assert_eq!(uncovered(&done, 25, 55), vec![(35, 50)]);
        assert_eq!(uncovered(&[], 1, 2), vec![(1, 2)]);
        assert!(covered(&done, 21, 34));
        assert!(!covered(&done, 21, 36));
        assert!(covered(&done, 5, 5));
    }

    #[test]
    fn manifests_are_found_only_when_written() {
        let root = tempfile::tempdir().unwrap();
        let archive = StreamArchive::new(root.path(), "logs-netsensor.flow-x");
        assert!(archive.manifests().unwrap().is_empty());
        let dir = archive.range_dir(0, 1_000_000_000);
        assert!(dir.ends_with("19700101T000000Z_19700101T000001Z"));
        let size = write_gz(&dir, "a.json.gz", b"{\"x\":1}").unwrap();
        assert!(size > 0);
        assert!(archive.manifests().unwrap().is_empty());
        let manifest = m(0, 1_000_000_000);
        write_atomic(&dir, MANIFEST, &serde_json::to_vec(&manifest).unwrap()).unwrap();
        assert_eq!(archive.manifests().unwrap(), vec![manifest]);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }
}
