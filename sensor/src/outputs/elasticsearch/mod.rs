//! Records into Elasticsearch or OpenSearch data streams, without losing any.
//!
//! The processing thread must never wait for the network, so [`Output::write_batch`]
//! copies the batch into a bounded memory queue and returns. A delivery thread (its own
//! current-thread tokio runtime, see [`delivery`]) builds `_bulk` requests from the queue
//! by count, bytes and time, keeps up to `max_in_flight` of them in flight, retries what
//! is worth retrying with exponential backoff and full jitter, and writes what the
//! cluster refuses for good to a dead-letter file.
//!
//! When the queue is full (cluster down or slower than the traffic), batches go to the
//! disk [`Spool`] instead, and come back oldest first once the cluster takes them again,
//! also in the next process. When the spool is full, the newest batch is dropped and
//! counted. Live capture is never blocked; `netsensor replay` (mode [`Mode::Replay`])
//! waits for room in the queue while the cluster is up, as the capture queue does, so a
//! replay does not spool what it could simply send.
//!
//! The HTTP path is `netsensor-elastic` (reqwest), which speaks to Elasticsearch and
//! OpenSearch alike; the official `elasticsearch` crate checks that the server is
//! Elasticsearch and refuses OpenSearch.

mod dead_letter;
mod delivery;

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netsensor_elastic::{Cluster, ClusterConfig};
use netsensor_schema::RecordKind;
use tracing::{error, info};

use super::spool::{Spool, SpoolError, SpoolSettings};
use super::Output;
use crate::telemetry::metrics::DeliveryMetrics;
use crate::telemetry::{Health, Metrics, RateLimiter};

/// The output's name in metrics, health and logs.
pub const NAME: &str = "elasticsearch";

/// How the output behaves when its memory queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live capture: never wait; spool what does not fit. At shutdown, deliver for at most
    /// `shutdown_timeout`, then spool the rest.
    Live,
    /// Replay of files: wait for room while the cluster is up (spool only while it is
    /// down); at the end, deliver everything, the spool included, as long as the cluster
    /// makes progress: give up (and spool) after `shutdown_timeout` without an answer
    /// while it is down, or `request_timeout + shutdown_timeout` while it is up.
    Replay,
}

/// Everything the output needs, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct ElasticsearchSettings {
    /// One client configuration per node URL, tried in turn.
    pub clusters: Vec<ClusterConfig>,
    /// Data stream namespace.
    pub namespace: String,
    /// Records per request.
    pub max_docs: usize,
    /// Bytes per request.
    pub max_bytes: usize,
    /// Longest wait for a request to fill.
    pub max_wait: Duration,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// First retry backoff.
    pub initial_backoff: Duration,
    /// Longest retry backoff (also the pause after an auth or TLS failure).
    pub max_backoff: Duration,
    /// Timeout of one request (as configured in `clusters`).
    pub request_timeout: Duration,
    /// Bytes of records held in memory before spooling.
    pub memory_queue_bytes: u64,
    /// See [`Mode`].
    pub shutdown_timeout: Duration,
    /// The disk spool.
    pub spool: SpoolSettings,
    /// Dead-letter NDJSON file.
    pub dead_letter_path: PathBuf,
    /// Live or replay.
    pub mode: Mode,
}

impl ElasticsearchSettings {
    /// Settings from the resolved configuration.
    pub fn from_config(config: &crate::config::ElasticsearchOutputConfig, mode: Mode) -> Self {
        use netsensor_elastic::{Auth, Sensitive};
        let auth = match (&config.username, &config.password, &config.api_key) {
            (Some(username), Some(password), _) => Auth::Basic {
                username: username.clone(),
                password: Sensitive::new(password.expose().clone()),
            },
            (_, _, Some(key)) => Auth::ApiKey(Sensitive::new(key.expose().clone())),
            _ => Auth::None,
        };
        let clusters = config
            .urls
            .iter()
            .map(|url| ClusterConfig {
                auth: auth.clone(),
                ca_file: config.ca_file.clone(),
                request_timeout: config.request_timeout,
                ..ClusterConfig::new(url.clone())
            })
            .collect();
        ElasticsearchSettings {
            clusters,
            namespace: config.namespace.clone(),
            max_docs: config.batch.max_docs,
            max_bytes: config.batch.max_bytes,
            max_wait: config.batch.max_wait,
            max_in_flight: config.max_in_flight,
            initial_backoff: config.retry.initial_backoff,
            max_backoff: config.retry.max_backoff,
            request_timeout: config.request_timeout,
            memory_queue_bytes: config.memory_queue_bytes,
            shutdown_timeout: config.shutdown_timeout,
            spool: SpoolSettings {
                dir: config.spool.dir.clone(),
                max_bytes: config.spool.max_bytes,
                segment_bytes: config.spool.segment_bytes,
            },
            dead_letter_path: config.dead_letter_path.clone(),
            mode,
        }
    }
}

/// Why the output could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A client could not be built (URL, CA file).
    #[error("elasticsearch output: {0}")]
    Client(#[from] netsensor_elastic::Error),
    /// The spool could not be opened.
    #[error("elasticsearch output: {0}")]
    Spool(#[from] SpoolError),
    /// The delivery thread or its runtime could not start.
    #[error("elasticsearch output: cannot start the delivery thread: {0}")]
    Thread(io::Error),
}

/// The spool tag of a record kind.
fn tag_of(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Packet => 0,
        RecordKind::Flow => 1,
        RecordKind::Rollup => 2,
    }
}

/// The record kind of a spool tag.
fn kind_of(tag: u8) -> Option<RecordKind> {
    RecordKind::ALL.into_iter().find(|k| tag_of(*k) == tag)
}

/// One batch of NDJSON lines of one kind, as `write_batch` got it.
#[derive(Debug)]
struct Chunk {
    kind: RecordKind,
    data: Vec<u8>,
    /// Bytes of `data` already taken into requests.
    pos: usize,
    /// When it was queued (for `max_wait`).
    queued: Instant,
}

/// What the processing thread and the delivery thread share.
struct Shared {
    state: Mutex<State>,
    /// Replay writers wait here for room in the queue.
    room: Condvar,
    /// Wakes the delivery thread.
    wake: tokio::sync::Notify,
    spool: Mutex<Spool>,
    metrics: DeliveryMetrics,
    health: Health,
    settings: ElasticsearchSettings,
    /// The cluster takes records (false after failed requests, until one succeeds).
    up: AtomicBool,
    /// The output is being dropped.
    closing: AtomicBool,
    warnings: RateLimiter,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Chunk>,
    queued_bytes: u64,
    /// Lines in the queue (for `max_docs`).
    queued_docs: u64,
    /// Emptied buffers, reused for the next batches.
    free: Vec<Vec<u8>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the cluster up or down, in `/readyz` and `netsensor_output_up`.
    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            self.health.set_output_up(NAME, up);
            self.room.notify_all();
            if up {
                info!(output = NAME, "The cluster takes records again.");
            }
        }
    }

    /// Writes records to the spool; when it is full or fails, drops and counts them.
    fn spool_records(&self, kind: RecordKind, ndjson: &[u8]) {
        if ndjson.is_empty() {
            return;
        }
        let records = count_lines(ndjson);
        let mut spool = self.spool();
        match spool.append(tag_of(kind), ndjson) {
            Ok(()) => {
                self.metrics.spooled.inc_by(records);
            }
            Err(err) => {
                self.metrics.records.dropped.inc_by(records);
                let key = match err {
                    SpoolError::Full { .. } => "elasticsearch.spool_full",
                    SpoolError::Io { .. } => "elasticsearch.spool_io",
                };
                if let Some(suppressed) = self.warnings.allow(key) {
                    error!(output = NAME, error = %err, records,
                        "Records dropped: the cluster cannot take them and the spool cannot hold them{suppressed}.");
                }
            }
        }
        self.publish_spool(&spool);
    }

    fn publish_spool(&self, spool: &Spool) {
        self.metrics.set_spool(spool.bytes(), spool.segments());
    }
}

fn count_lines(ndjson: &[u8]) -> u64 {
    let newlines = ndjson.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!ndjson.is_empty() && ndjson.last() != Some(&b'\n'))
}

/// The Elasticsearch/OpenSearch output.
pub struct ElasticsearchOutput {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ElasticsearchOutput {
    /// Builds the clients, opens the spool and starts the delivery thread. Nothing talks
    /// to the cluster yet: an unreachable cluster is a delivery problem, not a start-up
    /// error (records wait in the spool).
    pub fn start(
        settings: ElasticsearchSettings,
        metrics: &Metrics,
        health: &Health,
    ) -> Result<Self, StartError> {
        let clusters = settings
            .clusters
            .iter()
            .map(Cluster::new)
            .collect::<Result<Vec<_>, _>>()?;
        let spool = Spool::open(settings.spool.clone())?;
        let metrics = metrics.delivery(NAME);
        health.register_output(NAME);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            wake: tokio::sync::Notify::new(),
            spool: Mutex::new(spool),
            metrics,
            health: health.clone(),
            settings,
            up: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            warnings: RateLimiter::new(Duration::from_secs(60)),
        });
        {
            let spool = shared.spool();
            shared.publish_spool(&spool);
            if spool.bytes() > 0 {
                info!(output = NAME, bytes = spool.bytes(), segments = spool.segments(),
                    dir = %spool.settings().dir.display(), "Records spooled earlier will be sent.");
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Thread)?;
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("output-elasticsearch".into())
            .spawn(move || runtime.block_on(delivery::run(thread_shared, clusters)))
            .map_err(StartError::Thread)?;
        Ok(ElasticsearchOutput {
            shared,
            thread: Some(thread),
        })
    }
}

impl Output for ElasticsearchOutput {
    fn name(&self) -> &str {
        NAME
    }

    fn reports_itself(&self) -> bool {
        true
    }

    fn write_batch(&mut self, kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        if ndjson.is_empty() {
            return Ok(());
        }
        let shared = &self.shared;
        let cap = shared.settings.memory_queue_bytes;
        let len = ndjson.len() as u64;
        let mut state = shared.state();
        if shared.settings.mode == Mode::Replay {
            // Back-pressure while the cluster keeps up; spool once it is down.
            while state.queued_bytes > 0
                && state.queued_bytes + len > cap
                && shared.up.load(Ordering::Relaxed)
            {
                state = shared
                    .room
                    .wait_timeout(state, Duration::from_millis(200))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        if state.queued_bytes + len <= cap {
            let mut data = state.free.pop().unwrap_or_default();
            data.clear();
            data.extend_from_slice(ndjson);
            if data.last() != Some(&b'\n') {
                data.push(b'\n');
            }
            state.queued_bytes += data.len() as u64;
            state.queued_docs += count_lines(&data);
            state.queue.push_back(Chunk {
                kind,
                data,
                pos: 0,
                queued: Instant::now(),
            });
            shared
                .metrics
                .queue_bytes
                .set(i64::try_from(state.queued_bytes).unwrap_or(i64::MAX));
            drop(state);
            shared.wake.notify_one();
        } else {
            drop(state);
            shared.spool_records(kind, ndjson);
            shared.wake.notify_one();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut spool = self.shared.spool();
        spool.flush().map_err(io::Error::other)
    }

    fn close(&mut self) -> io::Result<u64> {
        self.shut_down()
    }
}

impl ElasticsearchOutput {
    /// Stops the delivery thread (which delivers or spools what is in memory first),
    /// fsyncs the spool and logs the output's totals. Runs once: on `close` or on drop.
    fn shut_down(&mut self) -> io::Result<u64> {
        let Some(thread) = self.thread.take() else {
            return Ok(0);
        };
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        let mut lost = 0;
        if thread.join().is_err() {
            error!(
                output = NAME,
                "The delivery thread panicked; records in memory were lost."
            );
            lost += 1;
        }
        let mut spool = self.shared.spool();
        let flushed = spool.flush();
        if let Err(err) = &flushed {
            error!(output = NAME, error = %err, "Cannot fsync the spool.");
        }
        let m = &self.shared.metrics;
        info!(
            output = NAME,
            sent = m.records.sent.get(),
            duplicates = m.duplicates.get(),
            retries = m.retries.get(),
            dead_lettered = m.dead_lettered.get(),
            spooled = m.spooled.get(),
            dropped = m.records.dropped.get(),
            spool_bytes = spool.bytes(),
            "Elasticsearch output stopped."
        );
        spool.warn_if_left(NAME);
        flushed.map_err(io::Error::other)?;
        Ok(lost + m.dead_lettered.get() + m.records.dropped.get())
    }
}

impl Drop for ElasticsearchOutput {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// What `netsensor check-config --connect` reports about a cluster.
#[derive(Debug)]
pub struct ConnectionCheck {
    /// The URL checked.
    pub url: String,
    /// Engine and version, when the credentials may read them.
    pub engine: Option<netsensor_elastic::Engine>,
    /// A note (e.g. why the engine could not be detected).
    pub note: Option<String>,
}

/// Connects to each node URL: TLS, credentials, engine and version. A refused credential,
/// a TLS failure or an unreachable node is an error; credentials that may write but not
/// read the version (a least-privilege API key answers 403 to `GET /`) are fine.
pub fn check_connection(
    settings: &ElasticsearchSettings,
) -> Result<Vec<ConnectionCheck>, netsensor_elastic::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            netsensor_elastic::Error::Config(format!("cannot start a runtime: {err}"))
        })?;
    let mut checks = Vec::new();
    for config in &settings.clusters {
        let cluster = Cluster::new(config)?;
        let check = runtime.block_on(async {
            match netsensor_elastic::Engine::detect(&cluster).await {
                Ok(engine) => Ok(ConnectionCheck {
                    url: cluster.url().to_owned(),
                    engine: Some(engine),
                    note: None,
                }),
                Err(netsensor_elastic::Error::Auth { status: 403, .. }) => Ok(ConnectionCheck {
                    url: cluster.url().to_owned(),
                    engine: None,
                    note: Some(
                        "credentials accepted; they may not read the version (403 on GET /)".into(),
                    ),
                }),
                Err(
                    err @ netsensor_elastic::Error::Status {
                        status: 404 | 405, ..
                    },
                )
                | Err(err @ netsensor_elastic::Error::Protocol { .. }) => Ok(ConnectionCheck {
                    url: cluster.url().to_owned(),
                    engine: None,
                    note: Some(format!(
                        "connected, but the engine did not say its version: {err}"
                    )),
                }),
                Err(err) => Err(err),
            }
        })?;
        checks.push(check);
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings for a cluster that is not there (a port nobody listens on).
    fn unreachable(dir: &std::path::Path, mode: Mode, spool_max: u64) -> ElasticsearchSettings {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        ElasticsearchSettings {
            clusters: vec![ClusterConfig::new(format!("http://127.0.0.1:{port}"))],
            namespace: "unit".into(),
            max_docs: 10,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(10),
            max_in_flight: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            request_timeout: Duration::from_secs(2),
            memory_queue_bytes: 2048,
            shutdown_timeout: Duration::from_millis(300),
            spool: SpoolSettings {
                dir: dir.join("spool"),
                max_bytes: spool_max,
                segment_bytes: 4096,
            },
            dead_letter_path: dir.join("dead.ndjson"),
            mode,
        }
    }

    fn batch(first: usize, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in first..first + n {
            out.extend_from_slice(
                format!(
                    "{{\"event\":{{\"id\":\"id{i}\"}},\"pad\":\"{}\"}}\n",
                    "x".repeat(40)
                )
                .as_bytes(),
            );
        }
        out
    }

    fn spooled_lines(dir: &std::path::Path) -> Vec<String> {
        let mut spool = Spool::open(SpoolSettings {
            dir: dir.join("spool"),
            max_bytes: u64::MAX,
            segment_bytes: 4096,
        })
        .unwrap();
        let mut lines = Vec::new();
        while let Some(entry) = spool.read_next().unwrap() {
            assert_eq!(kind_of(entry.tag), Some(RecordKind::Flow));
            let text = String::from_utf8(entry.payload).unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }

    #[test]
    fn an_unreachable_cluster_never_blocks_and_loses_nothing() {
        for mode in [Mode::Live, Mode::Replay] {
            let dir = tempfile::tempdir().unwrap();
            let metrics = Metrics::with_build("t", 0);
            let health = Health::new(&metrics);
            let mut output = ElasticsearchOutput::start(
                unreachable(dir.path(), mode, 1 << 20),
                &metrics,
                &health,
            )
            .unwrap();
            let started = Instant::now();
            for b in 0..20 {
                output
                    .write_batch(RecordKind::Flow, &batch(b * 10, 10))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            output.flush().unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{mode:?}: write_batch waited"
            );
            drop(output);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{mode:?}: shutdown took too long"
            );
            let mut lines = spooled_lines(dir.path());
            lines.sort();
            lines.dedup();
            assert_eq!(lines.len(), 200, "{mode:?}: every record is in the spool");
            let m = metrics.delivery(NAME);
            assert!(m.retries.get() > 0, "{mode:?}");
            assert_eq!(m.records.sent.get(), 0);
            assert_eq!(m.records.dropped.get(), 0);
            assert_eq!(m.records.up.get(), 0, "{mode:?}: the output is down");
            assert!(!health.is_ready());
        }
    }

    #[test]
    fn a_full_spool_drops_the_newest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut output = ElasticsearchOutput::start(
            unreachable(dir.path(), Mode::Live, 3000),
            &metrics,
            &health,
        )
        .unwrap();
        for b in 0..40 {
            output
                .write_batch(RecordKind::Flow, &batch(b * 10, 10))
                .unwrap();
        }
        drop(output);
        let m = metrics.delivery(NAME);
        let spooled = spooled_lines(dir.path()).len() as u64;
        assert!(m.records.dropped.get() > 0);
        assert!(spooled > 0);
        // Nothing vanished without a count: what is not spooled was counted as dropped.
        assert_eq!(spooled + m.records.dropped.get(), 400);
    }
}
