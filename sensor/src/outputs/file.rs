//! NDJSON to a file with size-based rotation.
//!
//! When the current file would grow past `rotate_bytes`, it is closed and renamed
//! `NAME.1` (older files shift to `.2`, `.3`, … and the oldest beyond `keep_files` is
//! removed). Rotation happens only between batches, so a file always ends with a complete
//! line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use netsensor_schema::RecordKind;

use super::Output;

/// Settings of the file output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// The file records are appended to.
    pub path: PathBuf,
    /// Size at which the file is rotated; 0 disables rotation.
    pub rotate_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep_files: u32,
}

/// Appends NDJSON to a file, rotating by size.
pub struct FileOutput {
    settings: FileSettings,
    writer: BufWriter<File>,
    written: u64,
}

impl FileOutput {
    /// Opens (or creates) the file for appending; creates missing parent directories.
    pub fn open(settings: FileSettings) -> io::Result<Self> {
        if let Some(parent) = settings.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let file = open_append(&settings.path)?;
        let written = file.metadata()?.len();
        Ok(FileOutput {
            writer: BufWriter::with_capacity(1 << 20, file),
            settings,
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        let path = &self.settings.path;
        let keep = self.settings.keep_files;
        if keep == 0 {
            fs::remove_file(path)?;
        } else {
            let _ = fs::remove_file(numbered(path, keep));
            for n in (1..keep).rev() {
                let from = numbered(path, n);
                if from.exists() {
                    fs::rename(&from, numbered(path, n + 1))?;
                }
            }
            fs::rename(path, numbered(path, 1))?;
        }
        self.writer = BufWriter::with_capacity(1 << 20, open_append(path)?);
        self.written = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `path` with `.n` appended to its file name.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        "file"
    }

    fn write_batch(&mut self, _kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        let rotate = self.settings.rotate_bytes;
        if rotate > 0 && self.written > 0 && self.written + ndjson.len() as u64 > rotate {
            self.rotate()?;
        }
        self.writer.write_all(ndjson)?;
        self.written += ndjson.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_between_batches_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/records.ndjson");
        let settings = FileSettings {
            path: path.clone(),
            rotate_bytes: 100,
            keep_files: 2,
        };
        let mut output = FileOutput::open(settings).unwrap();
        let line = format!("{{\"n\":\"{}\"}}\n", "x".repeat(40)); // 49 bytes
        for _ in 0..10 {
            output
                .write_batch(RecordKind::Packet, line.as_bytes())
                .unwrap();
        }
        output.flush().unwrap();
        let current = fs::read_to_string(&path).unwrap();
        let first = fs::read_to_string(numbered(&path, 1)).unwrap();
        let second = fs::read_to_string(numbered(&path, 2)).unwrap();
        assert!(!numbered(&path, 3).exists());
        for text in [&current, &first, &second] {
            assert!(text.len() <= 100 && text.ends_with('\n'));
            assert!(text.lines().all(|l| l == line.trim_end()));
        }
        assert_eq!(current.len() + first.len() + second.len(), 6 * line.len());
    }
}
