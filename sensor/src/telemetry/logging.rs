//! Log set-up: `tracing` with an [`EnvFilter`] directive, text or JSON lines, to stderr or to
//! a file with size-based rotation.
//!
//! A sensor runs for months on a box nobody watches, so a file target must bound its own
//! disk use without logrotate: when `netsensor.log` would grow past `rotate_bytes` it is
//! renamed `netsensor.log.1` (older ones shift up to `keep_files`, the oldest is deleted)
//! and a background thread gzips it to `netsensor.log.1.gz`, off the logging call path.
//! Files left uncompressed by a crash are compressed at the next start.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use flate2::write::GzEncoder;
use flate2::Compression;
use tracing::Subscriber;
use tracing_subscriber::filter::ParseError;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};
use tracing_subscriber::EnvFilter;

/// Name of the current log file; rotated files add `.N` and then `.gz`.
pub const LOG_FILE_NAME: &str = "netsensor.log";
/// Temporary name of a file being compressed (not matched by the rotation pattern).
const COMPRESS_TMP_NAME: &str = ".netsensor.log.gz.tmp";

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// Standard error (journald picks it up under systemd).
    #[default]
    Stderr,
    /// `netsensor.log` in a directory, rotated by size.
    File(RotationSettings),
}

/// Size-based rotation of the log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSettings {
    /// Directory holding `netsensor.log` and its rotated, gzipped predecessors.
    pub dir: PathBuf,
    /// Rotate before the current file would grow past this many bytes (at least 1).
    pub rotate_bytes: u64,
    /// Rotated files to keep (`netsensor.log.1.gz` … `.N.gz`); 0 keeps none.
    pub keep_files: usize,
}

/// Everything [`init`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// An [`EnvFilter`] directive, e.g. `info` or `info,netsensor::decode=debug`.
    pub filter: String,
    /// Line format.
    pub format: LogFormat,
    /// Destination.
    pub target: LogTarget,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".to_owned(),
            format: LogFormat::Text,
            target: LogTarget::Stderr,
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The filter directive does not parse.
    #[error("invalid log filter {directive:?}")]
    Filter {
        /// The directive as given.
        directive: String,
        /// The parser's complaint.
        #[source]
        source: ParseError,
    },
    /// `rotate_bytes` is zero.
    #[error("log rotate_bytes must be at least 1")]
    ZeroRotateBytes,
    /// The log directory could not be created.
    #[error("cannot create log directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The log file could not be opened.
    #[error("cannot open log file {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The compression thread could not be started.
    #[error("cannot start the log compression thread")]
    Thread(#[source] io::Error),
    /// Another global subscriber is already installed.
    #[error("a global log subscriber is already installed")]
    AlreadyInstalled(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Keeps the log file's compression thread alive; on drop it finishes pending
/// compressions. Hold it until the process exits.
#[derive(Debug, Default)]
pub struct LogGuard {
    writer: Option<RotatingWriter>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(writer) = &self.writer {
            writer.shutdown();
        }
    }
}

/// Builds the subscriber for `settings` without installing it (tests use it with
/// `tracing::subscriber::with_default`).
pub fn subscriber(
    settings: &LogSettings,
) -> Result<(Box<dyn Subscriber + Send + Sync>, LogGuard), LoggingError> {
    let filter = EnvFilter::try_new(&settings.filter).map_err(|source| LoggingError::Filter {
        directive: settings.filter.clone(),
        source,
    })?;
    let (make_writer, file, ansi) = match &settings.target {
        LogTarget::Stderr => (
            BoxMakeWriter::new(io::stderr),
            None,
            io::stderr().is_terminal(),
        ),
        LogTarget::File(rotation) => {
            let writer = RotatingWriter::open(rotation)?;
            (BoxMakeWriter::new(writer.clone()), Some(writer), false)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer)
        .with_ansi(ansi);
    let subscriber: Box<dyn Subscriber + Send + Sync> = match settings.format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    };
    Ok((subscriber, LogGuard { writer: file }))
}

/// Installs the global log subscriber. Call once, early in `main`, and keep the guard.
pub fn init(settings: &LogSettings) -> Result<LogGuard, LoggingError> {
    let (subscriber, guard) = subscriber(settings)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| LoggingError::AlreadyInstalled(Box::new(e)))?;
    Ok(guard)
}

/// The rotated files of one directory, and the lock that orders renames in it.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    keep: usize,
    /// Counts rotations; a compression that started before a rotation finds its file
    /// shifted up by the difference.
    generation: Mutex<u64>,
}

impl Files {
    fn current(&self) -> PathBuf {
        self.dir.join(LOG_FILE_NAME)
    }

    fn rotated(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{LOG_FILE_NAME}.{index}"))
    }

    fn rotated_gz(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{LOG_FILE_NAME}.{index}.gz"))
    }

    /// Shifts `.N` and `.N.gz` up by one (dropping the oldest) and moves the current file
    /// to `.1`. The caller has closed the current file.
    fn rotate(&self) -> io::Result<()> {
        let mut generation = lock(&self.generation);
        if self.keep == 0 {
            return remove_if_exists(&self.current());
        }
        for index in (1..=self.keep).rev() {
            for (from, to) in [
                (self.rotated(index), self.rotated(index + 1)),
                (self.rotated_gz(index), self.rotated_gz(index + 1)),
            ] {
                if index == self.keep {
                    remove_if_exists(&from)?;
                } else {
                    rename_if_exists(&from, &to)?;
                }
            }
        }
        fs::rename(self.current(), self.rotated(1))?;
        *generation += 1;
        Ok(())
    }

    /// Removes rotated files beyond `keep` and a stale compression temporary.
    fn remove_extra(&self) -> io::Result<()> {
        remove_if_exists(&self.dir.join(COMPRESS_TMP_NAME))?;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(index) = rotated_index(&entry.file_name()) {
                if index == 0 || index > self.keep {
                    remove_if_exists(&entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// Compresses every uncompressed rotated file, lowest index first.
    fn compress_pending(&self) -> io::Result<()> {
        let tmp = self.dir.join(COMPRESS_TMP_NAME);
        loop {
            // Pick a file under the lock; compress it outside, so rotation never waits.
            let (index, started, source) = {
                let generation = lock(&self.generation);
                let Some(index) = (1..=self.keep).find(|&i| self.rotated(i).exists()) else {
                    return Ok(());
                };
                (index, *generation, File::open(self.rotated(index))?)
            };
            let compressed = gzip(source, &tmp);
            let generation = lock(&self.generation);
            let shifted = usize::try_from(*generation - started).unwrap_or(usize::MAX);
            let now_at = index.saturating_add(shifted);
            if let Err(error) = compressed {
                remove_if_exists(&tmp)?;
                return Err(error);
            }
            if now_at > self.keep {
                // Rotated away while we compressed it.
                remove_if_exists(&tmp)?;
                continue;
            }
            fs::rename(&tmp, self.rotated_gz(now_at))?;
            remove_if_exists(&self.rotated(now_at))?;
        }
    }
}

/// Locks `mutex`; a panic elsewhere leaves file state that is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `N` of `netsensor.log.N` or `netsensor.log.N.gz`.
fn rotated_index(name: &OsStr) -> Option<usize> {
    let name = name.to_str()?;
    let rest = name.strip_prefix(LOG_FILE_NAME)?.strip_prefix('.')?;
    let digits = rest.strip_suffix(".gz").unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn gzip(mut source: File, to: &Path) -> io::Result<()> {
    let mut encoder = GzEncoder::new(create_file(to, true)?, Compression::default());
    io::copy(&mut source, &mut encoder)?;
    encoder.finish()?.sync_all()
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens for appending (`truncate == false`) or creates empty; owner read-write, group
/// read (logs hold addresses and names).
fn create_file(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    options.open(path)
}

#[derive(Debug)]
struct Current {
    file: Option<File>,
    written: u64,
}

#[derive(Debug)]
struct Compressor {
    wake: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    current: Mutex<Current>,
    files: Arc<Files>,
    rotate_bytes: u64,
    compressor: Mutex<Option<Compressor>>,
}

/// A [`MakeWriter`] appending to `netsensor.log`, rotating it by size. Clones share the file.
#[derive(Debug, Clone)]
pub struct RotatingWriter {
    shared: Arc<Shared>,
}

impl RotatingWriter {
    /// Opens (appending to) `netsensor.log` in `settings.dir`, creating the directory,
    /// removes rotated files beyond `keep_files`, and starts the compression thread
    /// (which first compresses anything a previous run left uncompressed).
    pub fn open(settings: &RotationSettings) -> Result<Self, LoggingError> {
        if settings.rotate_bytes == 0 {
            return Err(LoggingError::ZeroRotateBytes);
        }
        fs::create_dir_all(&settings.dir).map_err(|source| LoggingError::CreateDir {
            path: settings.dir.clone(),
            source,
        })?;
        let files = Arc::new(Files {
            dir: settings.dir.clone(),
            keep: settings.keep_files,
            generation: Mutex::new(0),
        });
        let path = files.current();
        let open_err = |source| LoggingError::Open {
            path: path.clone(),
            source,
        };
        files.remove_extra().map_err(open_err)?;
        let file = create_file(&path, false).map_err(open_err)?;
        let written = file.metadata().map_err(open_err)?.len();

        let (wake, woken) = mpsc::channel::<()>();
        let thread_files = Arc::clone(&files);
        let thread = std::thread::Builder::new()
            .name("netsensor-logzip".to_owned())
            .spawn(move || {
                while woken.recv().is_ok() {
                    while woken.try_recv().is_ok() {}
                    if let Err(error) = thread_files.compress_pending() {
                        // The log itself is what failed; stderr is the place left.
                        eprintln!(
                            "netsensor: cannot compress rotated log files in {}: {error}",
                            thread_files.dir.display()
                        );
                    }
                }
            })
            .map_err(LoggingError::Thread)?;
        // Leftovers of a previous run.
        let _ = wake.send(());
        Ok(RotatingWriter {
            shared: Arc::new(Shared {
                current: Mutex::new(Current {
                    file: Some(file),
                    written,
                }),
                files,
                rotate_bytes: settings.rotate_bytes,
                compressor: Mutex::new(Some(Compressor { wake, thread })),
            }),
        })
    }

    /// Finishes pending compressions and stops the compression thread. Writing still
    /// works afterwards; files rotated from then on are compressed at the next start.
    pub fn shutdown(&self) {
        let compressor = lock(&self.shared.compressor).take();
        if let Some(Compressor { wake, thread }) = compressor {
            drop(wake);
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut current = lock(&self.current);
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if current.written > 0 && current.written.saturating_add(len) > self.rotate_bytes {
            self.rotate(&mut current);
        }
        if current.file.is_none() {
            let file = create_file(&self.files.current(), false)?;
            current.written = file.metadata()?.len();
            current.file = Some(file);
        }
        if let Some(file) = current.file.as_mut() {
            file.write_all(buf)?;
            current.written = current.written.saturating_add(len);
        }
        Ok(buf.len())
    }

    fn rotate(&self, current: &mut Current) {
        current.file = None;
        match self.files.rotate() {
            Ok(()) => {
                current.written = 0;
                let compressor = lock(&self.compressor);
                if let Some(compressor) = compressor.as_ref() {
                    let _ = compressor.wake.send(());
                }
            }
            Err(error) => {
                eprintln!(
                    "netsensor: cannot rotate log file {}: {error}",
                    self.files.current().display()
                );
                // Keep appending; try again after another rotate_bytes.
                current.written = 0;
                if let Ok(file) = create_file(&self.files.current(), false) {
                    current.file = Some(file);
                }
            }
        }
    }
}

/// The writer [`RotatingWriter`] hands out per event.
#[derive(Debug)]
pub struct RotatingWriterRef<'a> {
    shared: &'a Shared,
}

impl Write for RotatingWriterRef<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RotatingWriter {
    type Writer = RotatingWriterRef<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RotatingWriterRef {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn settings(dir: &Path, rotate_bytes: u64, keep_files: usize) -> RotationSettings {
        RotationSettings {
            dir: dir.to_path_buf(),
            rotate_bytes,
            keep_files,
        }
    }

    fn line(i: usize) -> String {
        // 100 bytes with the newline.
        format!("{i:06} {}\n", "x".repeat(92))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn gunzip(path: &Path) -> String {
        let mut out = String::new();
        GzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn rotates_compresses_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RotatingWriter::open(&settings(dir.path(), 1000, 3)).unwrap();
        let lines: Vec<String> = (0..55).map(line).collect();
        for l in &lines {
            writer.make_writer().write_all(l.as_bytes()).unwrap();
        }
        writer.shutdown();
        // 55 lines of 100 bytes, 10 per file: 5 rotations, the current file holds 5 lines.
        assert_eq!(
            names(dir.path()),
            [
                "netsensor.log",
                "netsensor.log.1.gz",
                "netsensor.log.2.gz",
                "netsensor.log.3.gz"
            ]
        );
        let current = fs::read_to_string(dir.path().join(LOG_FILE_NAME)).unwrap();
        assert_eq!(current, lines[50..].concat());
        for (index, first) in [(1, 40), (2, 30), (3, 20)] {
            let text = gunzip(&dir.path().join(format!("netsensor.log.{index}.gz")));
            assert_eq!(text, lines[first..first + 10].concat(), "file .{index}.gz");
        }
    }

    #[test]
    fn gzip_files_are_readable_by_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RotatingWriter::open(&settings(dir.path(), 500, 2)).unwrap();
        for i in 0..8 {
            writer.make_writer().write_all(line(i).as_bytes()).unwrap();
        }
        writer.shutdown();
        let Ok(out) = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(dir.path().join("netsensor.log.1.gz"))
            .output()
        else {
            eprintln!("gzip not installed; skipping the external check");
            return;
        };
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            (0..5).map(line).collect::<String>()
        );
    }

    #[test]
    fn keep_zero_keeps_only_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RotatingWriter::open(&settings(dir.path(), 250, 0)).unwrap();
        for i in 0..7 {
            writer.make_writer().write_all(line(i).as_bytes()).unwrap();
        }
        writer.shutdown();
        assert_eq!(names(dir.path()), ["netsensor.log"]);
        let current = fs::read_to_string(dir.path().join(LOG_FILE_NAME)).unwrap();
        assert_eq!(current, line(6));
    }

    #[test]
    fn restart_appends_counts_existing_size_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join(LOG_FILE_NAME), line(0).repeat(9)).unwrap();
        // Left by a run with keep_files 5 that crashed before compressing .1.
        fs::write(d.join("netsensor.log.1"), line(1)).unwrap();
        fs::write(d.join("netsensor.log.4.gz"), b"old").unwrap();
        fs::write(d.join("netsensor.log.9"), b"old").unwrap();
        fs::write(d.join(COMPRESS_TMP_NAME), b"partial").unwrap();
        fs::write(d.join("unrelated.txt"), b"keep me").unwrap();
        let writer = RotatingWriter::open(&settings(d, 1000, 2)).unwrap();
        // 900 bytes are there already: the second line rotates.
        writer.make_writer().write_all(line(2).as_bytes()).unwrap();
        writer.make_writer().write_all(line(3).as_bytes()).unwrap();
        writer.shutdown();
        assert_eq!(
            names(d),
            [
                "netsensor.log",
                "netsensor.log.1.gz",
                "netsensor.log.2.gz",
                "unrelated.txt"
            ]
        );
        assert_eq!(
            gunzip(&d.join("netsensor.log.1.gz")),
            line(0).repeat(9) + &line(2)
        );
        assert_eq!(gunzip(&d.join("netsensor.log.2.gz")), line(1));
        assert_eq!(fs::read_to_string(d.join(LOG_FILE_NAME)).unwrap(), line(3));
    }

    #[test]
    fn concurrent_writers_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RotatingWriter::open(&settings(dir.path(), 2000, 100)).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        writer
                            .make_writer()
                            .write_all(line(t * 1000 + i).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        writer.shutdown();
        let mut all = fs::read_to_string(dir.path().join(LOG_FILE_NAME)).unwrap();
        let mut files = 1;
        for name in names(dir.path()) {
            if name.ends_with(".gz") {
                all.push_str(&gunzip(&dir.path().join(name)));
                files += 1;
            } else {
                assert_eq!(name, LOG_FILE_NAME);
            }
        }
        let mut got: Vec<&str> = all.lines().collect();
        got.sort_unstable();
        let mut want: Vec<String> = (0..4)
            .flat_map(|t| (0..100).map(move |i| line(t * 1000 + i)))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want.iter().map(|l| l.trim_end()).collect::<Vec<_>>());
        assert_eq!(files, 20, "400 lines of 100 bytes, 20 per file");
    }

    #[test]
    fn json_lines_through_tracing() {
        let dir = tempfile::tempdir().unwrap();
        let log_settings = LogSettings {
            filter: "info".to_owned(),
            format: LogFormat::Json,
            target: LogTarget::File(settings(dir.path(), 1 << 20, 2)),
        };
        let (subscriber, guard) = subscriber(&log_settings).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(capture = "eth0", "Capture opened.");
            tracing::debug!("Filtered out.");
        });
        drop(guard);
        let text = fs::read_to_string(dir.path().join(LOG_FILE_NAME)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(value["message"], "Capture opened.");
        assert_eq!(value["capture"], "eth0");
        assert_eq!(value["level"], "INFO");
    }

    #[test]
    fn text_lines_through_tracing() {
        let dir = tempfile::tempdir().unwrap();
        let log_settings = LogSettings {
            filter: "warn".to_owned(),
            format: LogFormat::Text,
            target: LogTarget::File(settings(dir.path(), 1 << 20, 2)),
        };
        let (subscriber, guard) = subscriber(&log_settings).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(output = "es", "Output failing.");
            tracing::info!("Filtered out.");
        });
        drop(guard);
        let text = fs::read_to_string(dir.path().join(LOG_FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("Output failing. output=\"es\""), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour codes in files");
    }

    #[test]
    fn bad_settings_are_reported() {
        let bad_filter = LogSettings {
            filter: "info,netsensor=notalevel".to_owned(),
            ..LogSettings::default()
        };
        let err = subscriber(&bad_filter).err().unwrap();
        assert!(matches!(err, LoggingError::Filter { .. }), "{err}");
        assert!(err.to_string().contains("notalevel"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let zero = RotatingWriter::open(&settings(dir.path(), 0, 1))
            .err()
            .unwrap();
        assert!(matches!(zero, LoggingError::ZeroRotateBytes));

        let file = dir.path().join("plain-file");
        fs::write(&file, b"").unwrap();
        let err = RotatingWriter::open(&settings(&file.join("sub"), 10, 1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("plain-file"), "{err}");
    }

    #[test]
    fn rotated_index_parses_only_our_names() {
        for (name, want) in [
            ("netsensor.log.1", Some(1)),
            ("netsensor.log.12.gz", Some(12)),
            ("netsensor.log", None),
            ("netsensor.log.gz", None),
            ("netsensor.log.1.tmp", None),
            (".netsensor.log.gz.tmp", None),
            ("other.log.1", None),
        ] {
            assert_eq!(rotated_index(OsStr::new(name)), want, "{name}");
        }
    }
}
