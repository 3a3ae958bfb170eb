//! Rotated NDJSON files for a Filebeat `filestream` input.
//!
//! Records are appended to a hidden file `.<prefix>-<time>-<seq>.ndjson.tmp`. When it
//! reaches `rotate_bytes`, or is `rotate_age` old at a write or a flush, it is flushed,
//! fsync'd and renamed to `<prefix>-<time>-<seq>.ndjson` (then the directory is fsync'd).
//! Filebeat's glob (`*.ndjson`) sees only renamed files, which are complete and never
//! change again, so it never reads half a line. A `.tmp` file left by a crash is cut
//! back to its last whole line and renamed at the next start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netsensor_schema::RecordKind;
use tracing::warn;

use super::super::Output;
use super::NAME;

/// Settings of the files mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesSettings {
    /// Directory of the files (Filebeat's `paths: [<dir>/*.ndjson]`).
    pub dir: PathBuf,
    /// File name prefix.
    pub prefix: String,
    /// A file is closed once it holds this many bytes.
    pub rotate_bytes: u64,
    /// A file is closed once it is this old (so Filebeat gets quiet periods' records).
    pub rotate_age: Duration,
}

/// The Filebeat output, files mode.
pub struct FilebeatFilesOutput {
    settings: FilesSettings,
    current: Option<Current>,
    seq: u64,
}

struct Current {
    tmp: PathBuf,
    done: PathBuf,
    writer: BufWriter<File>,
    bytes: u64,
    opened: Instant,
}

impl FilebeatFilesOutput {
    /// Creates the directory and completes files a crashed process left open.
    pub fn open(settings: FilesSettings) -> io::Result<Self> {
        fs::create_dir_all(&settings.dir)?;
        let mut output = FilebeatFilesOutput {
            settings,
            current: None,
            seq: 0,
        };
        output.recover()?;
        Ok(output)
    }

    /// The paths of the completed files, oldest first (by name).
    pub fn completed(dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "ndjson") && !is_hidden(path))
            .collect();
        files.sort();
        Ok(files)
    }

    fn recover(&mut self) -> io::Result<()> {
        let prefix = format!(".{}-", self.settings.prefix);
        for entry in fs::read_dir(&self.settings.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(done) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".tmp"))
            else {
                continue;
            };
            let data = fs::read(&path)?;
            let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole == 0 {
                fs::remove_file(&path)?;
                continue;
            }
            if whole < data.len() {
                warn!(output = NAME, file = %path.display(), torn_bytes = data.len() - whole,
                    "Cutting a torn last line from a file left by an earlier process.");
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(whole as u64)?;
                file.sync_all()?;
            }
            let target = self
                .settings
                .dir
                .join(format!("{}-{done}", self.settings.prefix));
            fs::rename(&path, &target)?;
        }
        sync_dir(&self.settings.dir)
    }

    fn open_next(&mut self) -> io::Result<&mut Current> {
        if self.current.is_none() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.seq += 1;
            // Sorts by time, then by sequence; unique per process by pid.
            let stem = format!(
                "{}-{:020}-{}-{:06}",
                self.settings.prefix,
                now.as_nanos(),
                std::process::id(),
                self.seq
            );
            let done = self.settings.dir.join(format!("{stem}.ndjson"));
            let tmp = self.settings.dir.join(format!(".{stem}.ndjson.tmp"));
            let file = OpenOptions::new().create_new(true).write(true).open(&tmp)?;
            self.current = Some(Current {
                tmp,
                done,
                writer: BufWriter::with_capacity(1 << 20, file),
                bytes: 0,
                opened: Instant::now(),
            });
        }
        match &mut self.current {
            Some(current) => Ok(current),
            None => Err(io::Error::other("no current file")),
        }
    }

    /// Closes the current file and publishes it under its final name.
    fn rotate(&mut self) -> io::Result<()> {
        let Some(mut current) = self.current.take() else {
            return Ok(());
        };
        current.writer.flush()?;
        current.writer.get_ref().sync_all()?;
        drop(current.writer);
        fs::rename(&current.tmp, &current.done)?;
        sync_dir(&self.settings.dir)
    }

    fn due(&self) -> bool {
        self.current.as_ref().is_some_and(|current| {
            current.bytes >= self.settings.rotate_bytes
                || current.opened.elapsed() >= self.settings.rotate_age
        })
    }
}

impl Output for FilebeatFilesOutput {
    fn name(&self) -> &str {
        NAME
    }

    fn write_batch(&mut self, _kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        if ndjson.is_empty() {
            return Ok(());
        }
        let current = self.open_next()?;
        current.writer.write_all(ndjson)?;
        current.bytes += ndjson.len() as u64;
        if ndjson.last() != Some(&b'\n') {
            current.writer.write_all(b"\n")?;
            current.bytes += 1;
        }
        if self.due() {
            self.rotate()?;
        }
        Ok(())
    }

    /// Publishes the current file once it is old enough (called on the pipeline's timer).
    fn flush(&mut self) -> io::Result<()> {
        if self.due() {
            return self.rotate();
        }
        match &mut self.current {
            Some(current) => current.writer.flush(),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> io::Result<u64> {
        self.rotate().map(|()| 0)
    }
}

impl Drop for FilebeatFilesOutput {
    fn drop(&mut self) {
        if let Err(err) = self.rotate() {
            warn!(output = NAME, error = %err, "Cannot close the last Filebeat file.");
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, rotate_bytes: u64) -> FilesSettings {
        FilesSettings {
            dir: dir.to_path_buf(),
            prefix: "netsensor".into(),
            rotate_bytes,
            rotate_age: Duration::from_secs(3600),
        }
    }

    #[test]
    fn files_rotate_by_size_and_only_whole_files_are_visible() {
        let dir = tempfile::tempdir().unwrap();
        let mut output = FilebeatFilesOutput::open(settings(dir.path(), 100)).unwrap();
        for i in 0..10 {
            output
                .write_batch(RecordKind::Flow, format!("{{\"n\":{i:040}}}\n").as_bytes())
                .unwrap();
            // Every visible file ends with a newline.
            for file in FilebeatFilesOutput::completed(dir.path()).unwrap() {
                assert!(fs::read(&file).unwrap().ends_with(b"\n"));
            }
        }
        let visible = FilebeatFilesOutput::completed(dir.path()).unwrap();
        // 47-byte lines: a file is closed at its third line (141 >= 100 bytes).
        assert_eq!(visible.len(), 3);
        assert_eq!(output.close().unwrap(), 0);
        let mut text = String::new();
        for file in FilebeatFilesOutput::completed(dir.path()).unwrap() {
            text.push_str(&fs::read_to_string(file).unwrap());
        }
        assert_eq!(text.lines().count(), 10);
        assert_eq!(FilebeatFilesOutput::completed(dir.path()).unwrap().len(), 4);
        let hidden = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(hidden, 4, "no temporary file is left");
    }

    #[test]
    fn an_old_file_is_published_at_flush_and_a_torn_one_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), 1 << 20);
        s.rotate_age = Duration::from_millis(50);
        let mut output = FilebeatFilesOutput::open(s.clone()).unwrap();
        output
            .write_batch(RecordKind::Flow, b"{\"a\":1}\n")
            .unwrap();
        output.flush().unwrap();
        assert!(FilebeatFilesOutput::completed(dir.path())
            .unwrap()
            .is_empty());
        std::thread::sleep(Duration::from_millis(60));
        output.flush().unwrap();
        assert_eq!(FilebeatFilesOutput::completed(dir.path()).unwrap().len(), 1);
        drop(output);

        // A crash left a file with a torn last line.
        fs::write(
            dir.path().join(".netsensor-0-1-000001.ndjson.tmp"),
            b"{\"b\":1}\n{\"b\":",
        )
        .unwrap();
        FilebeatFilesOutput::open(s).unwrap();
        let repaired = dir.path().join("netsensor-0-1-000001.ndjson");
        assert_eq!(fs::read(repaired).unwrap(), b"{\"b\":1}\n");
    }
}
