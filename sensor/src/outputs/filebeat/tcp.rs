//! NDJSON over TCP to a Filebeat `tcp` input (`line_delimiter: "\n"`).
//!
//! [`Output::write_batch`] copies the batch into a bounded memory queue and returns; a
//! sender thread writes whole lines to the connection. When Filebeat is down, the sender
//! reconnects with exponential backoff and full jitter, and batches that do not fit the
//! queue go to the disk [`Spool`] (the one every network output shares), sent oldest first
//! when Filebeat is back.
//!
//! TCP has no acknowledgements: bytes the kernel accepted may still be lost when Filebeat
//! dies before reading them. So the sender keeps the last `resend_bytes` it wrote and
//! writes them again after every reconnect. A record may thus arrive twice; Filebeat
//! sends it with `event.id` as `@metadata._id` and a bulk `create`, so Elasticsearch keeps
//! one copy. Before each write the sender checks that the peer has not closed the
//! connection (Filebeat never writes to us, so a readable socket means EOF or an error).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netsensor_schema::RecordKind;
use tracing::{error, info, warn};

use super::super::elasticsearch::Mode;
use super::super::spool::{EntryId, Spool, SpoolError, SpoolSettings};
use super::super::Output;
use super::{count_lines, kind_of, tag_of, NAME};
use crate::telemetry::metrics::DeliveryMetrics;
use crate::telemetry::{Health, Metrics, RateLimiter};

/// Settings of the TCP mode.
#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// `host:port` of Filebeat's tcp input.
    pub address: String,
    /// Timeout of one connection attempt and of one write.
    pub timeout: Duration,
    /// First pause after a failed connection.
    pub initial_backoff: Duration,
    /// Longest pause between connection attempts.
    pub max_backoff: Duration,
    /// Bytes held in memory before batches go to the spool.
    pub memory_queue_bytes: u64,
    /// Bytes last written that are written again after a reconnect.
    pub resend_bytes: usize,
    /// How long the output delivers at shutdown before it spools what is left.
    pub shutdown_timeout: Duration,
    /// The disk spool.
    pub spool: SpoolSettings,
    /// Live or replay (see [`Mode`]).
    pub mode: Mode,
}

impl TcpSettings {
    /// Defaults for `address`, spooling into `spool_dir`.
    pub fn new(address: impl Into<String>, spool_dir: std::path::PathBuf) -> Self {
        TcpSettings {
            address: address.into(),
            timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            memory_queue_bytes: 64 << 20,
            resend_bytes: 8 << 20,
            shutdown_timeout: Duration::from_secs(10),
            spool: SpoolSettings {
                dir: spool_dir,
                max_bytes: 1 << 30,
                segment_bytes: 16 << 20,
            },
            mode: Mode::Live,
        }
    }
}

/// Why the output could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The spool could not be opened.
    #[error("filebeat output: {0}")]
    Spool(#[from] SpoolError),
    /// The sender thread could not start.
    #[error("filebeat output: cannot start the sender thread: {0}")]
    Thread(io::Error),
}

#[derive(Default)]
struct State {
    /// Batches of whole lines, oldest first.
    queue: VecDeque<(RecordKind, Vec<u8>)>,
    queued_bytes: u64,
}

struct Shared {
    state: Mutex<State>,
    /// Signals new batches to the sender and room to replay writers.
    changed: Condvar,
    spool: Mutex<Spool>,
    /// The spool holds batches not sent yet: new batches queue behind them.
    backlog: AtomicBool,
    up: AtomicBool,
    closing: AtomicBool,
    metrics: DeliveryMetrics,
    health: Health,
    settings: TcpSettings,
    warnings: RateLimiter,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            self.health.set_output_up(NAME, up);
            self.changed.notify_all();
            if up {
                info!(output = NAME, address = %self.settings.address, "Connected to Filebeat again.");
            }
        }
    }

    fn spool_records(&self, kind: RecordKind, ndjson: &[u8]) {
        let records = count_lines(ndjson);
        if records == 0 {
            return;
        }
        let mut spool = self.spool();
        match spool.append(tag_of(kind), ndjson) {
            Ok(()) => {
                self.backlog.store(true, Ordering::Relaxed);
                self.metrics.spooled.inc_by(records);
            }
            Err(err) => {
                self.metrics.records.dropped.inc_by(records);
                if let Some(suppressed) = self.warnings.allow("filebeat.spool") {
                    error!(output = NAME, error = %err, records,
                        "Records dropped: Filebeat cannot take them and the spool cannot hold them{suppressed}.");
                }
            }
        }
        self.publish_spool(&spool);
    }

    fn publish_spool(&self, spool: &Spool) {
        self.metrics.set_spool(spool.bytes(), spool.segments());
    }
}

/// The Filebeat output, TCP mode.
pub struct FilebeatTcpOutput {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FilebeatTcpOutput {
    /// Opens the spool and starts the sender thread; Filebeat need not be up yet.
    pub fn start(
        settings: TcpSettings,
        metrics: &Metrics,
        health: &Health,
    ) -> Result<Self, StartError> {
        let spool = Spool::open(settings.spool.clone())?;
        let backlog = !spool.is_drained();
        health.register_output(NAME);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            spool: Mutex::new(spool),
            backlog: AtomicBool::new(backlog),
            up: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            metrics: metrics.delivery(NAME),
            health: health.clone(),
            settings,
            warnings: RateLimiter::new(Duration::from_secs(60)),
        });
        shared.publish_spool(&shared.spool());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("output-filebeat".into())
            .spawn(move || Sender::new(thread_shared).run())
            .map_err(StartError::Thread)?;
        Ok(FilebeatTcpOutput {
            shared,
            thread: Some(thread),
        })
    }

    fn shut_down(&mut self) -> io::Result<u64> {
        let Some(thread) = self.thread.take() else {
            return Ok(0);
        };
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        let mut lost = 0;
        if thread.join().is_err() {
            error!(output = NAME, "The sender thread panicked.");
            lost += 1;
        }
        let m = &self.shared.metrics;
        let mut spool = self.shared.spool();
        let flushed = spool.flush();
        self.shared.publish_spool(&spool);
        info!(
            output = NAME,
            sent = m.records.sent.get(),
            resent = m.retries.get(),
            spooled = m.spooled.get(),
            dropped = m.records.dropped.get(),
            spool_bytes = spool.bytes(),
            "Filebeat output stopped."
        );
        spool.warn_if_left(NAME);
        flushed.map_err(io::Error::other)?;
        Ok(lost + m.records.dropped.get())
    }
}

impl Output for FilebeatTcpOutput {
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
        let len = ndjson.len() as u64 + 1;
        let mut state = shared.state();
        if shared.settings.mode == Mode::Replay {
            while state.queued_bytes > 0
                && state.queued_bytes + len > cap
                && shared.up.load(Ordering::Relaxed)
            {
                state = shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(200))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        if !shared.backlog.load(Ordering::Relaxed) && state.queued_bytes + len <= cap {
            let mut data = ndjson.to_vec();
            if data.last() != Some(&b'\n') {
                data.push(b'\n');
            }
            state.queued_bytes += data.len() as u64;
            state.queue.push_back((kind, data));
            shared
                .metrics
                .queue_bytes
                .set(i64::try_from(state.queued_bytes).unwrap_or(i64::MAX));
        } else {
            drop(state);
            shared.spool_records(kind, ndjson);
        }
        shared.changed.notify_all();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.shared.spool().flush().map_err(io::Error::other)
    }

    fn close(&mut self) -> io::Result<u64> {
        self.shut_down()
    }
}

impl Drop for FilebeatTcpOutput {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// A batch taken for sending: from the memory queue, or a spool entry to acknowledge
/// once written.
struct Pending {
    kind: RecordKind,
    data: Vec<u8>,
    entry: Option<EntryId>,
}

struct Sender {
    shared: Arc<Shared>,
    stream: Option<TcpStream>,
    /// What was written last, oldest first, at most `resend_bytes` (whole batches).
    recent: VecDeque<Vec<u8>>,
    recent_bytes: usize,
    backoff: Duration,
    /// At shutdown: when the last progress was made.
    stalled_since: Option<Instant>,
}

impl Sender {
    fn new(shared: Arc<Shared>) -> Self {
        let backoff = shared.settings.initial_backoff;
        Sender {
            shared,
            stream: None,
            recent: VecDeque::new(),
            recent_bytes: 0,
            backoff,
            stalled_since: None,
        }
    }

    fn run(mut self) {
        let mut pending: Option<Pending> = None;
        loop {
            if pending.is_none() {
                pending = self.next();
            }
            let closing = self.shared.closing.load(Ordering::Relaxed);
            let Some(batch) = pending.take() else {
                if closing {
                    return;
                }
                let state = self.shared.state();
                if state.queue.is_empty() && !self.shared.backlog.load(Ordering::Relaxed) {
                    let _ = self
                        .shared
                        .changed
                        .wait_timeout(state, Duration::from_millis(200));
                }
                continue;
            };
            if closing && self.give_up() {
                // Keep what could not be sent for the next start.
                self.shared.spool_records(batch.kind, &batch.data);
                if let Some(id) = batch.entry {
                    let _ = self.shared.spool().ack(id);
                }
                self.spool_queue();
                return;
            }
            match self.send(&batch.data) {
                Ok(()) => {
                    self.stalled_since = None;
                    self.shared
                        .metrics
                        .records
                        .sent
                        .inc_by(count_lines(&batch.data));
                    self.shared
                        .metrics
                        .records
                        .bytes
                        .inc_by(batch.data.len() as u64);
                    if let Some(id) = batch.entry {
                        let mut spool = self.shared.spool();
                        if let Err(err) = spool.ack(id) {
                            warn!(output = NAME, error = %err, "Cannot acknowledge a spool entry.");
                        }
                        self.shared.publish_spool(&spool);
                    }
                    self.remember(batch.data);
                }
                Err(err) => {
                    if let Some(suppressed) = self.shared.warnings.allow("filebeat.send") {
                        warn!(output = NAME, address = %self.shared.settings.address, error = %err,
                            "Cannot send to Filebeat; retrying with backoff{suppressed}.");
                    }
                    self.stream = None;
                    self.shared.set_up(false);
                    pending = Some(batch);
                    self.pause();
                }
            }
        }
    }

    /// At shutdown, a live capture spools at once; a replay keeps trying while Filebeat
    /// makes progress, up to `shutdown_timeout` without any.
    fn give_up(&mut self) -> bool {
        if self.shared.settings.mode == Mode::Live && !self.shared.up.load(Ordering::Relaxed) {
            return true;
        }
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        since.elapsed() > self.shared.settings.shutdown_timeout
    }

    fn spool_queue(&self) {
        let batches: Vec<_> = {
            let mut state = self.shared.state();
            state.queued_bytes = 0;
            state.queue.drain(..).collect()
        };
        for (kind, data) in batches {
            self.shared.spool_records(kind, &data);
        }
    }

    /// The oldest batch: the memory queue holds only batches older than the spool's.
    fn next(&self) -> Option<Pending> {
        {
            let mut state = self.shared.state();
            if let Some((kind, data)) = state.queue.pop_front() {
                state.queued_bytes -= data.len() as u64;
                self.shared
                    .metrics
                    .queue_bytes
                    .set(i64::try_from(state.queued_bytes).unwrap_or(i64::MAX));
                self.shared.changed.notify_all();
                return Some(Pending {
                    kind,
                    data,
                    entry: None,
                });
            }
        }
        if !self.shared.backlog.load(Ordering::Relaxed) {
            return None;
        }
        let mut spool = self.shared.spool();
        match spool.read_next() {
            Ok(Some(entry)) => {
                let kind = kind_of(entry.tag)?;
                self.shared
                    .metrics
                    .retries
                    .inc_by(count_lines(&entry.payload));
                Some(Pending {
                    kind,
                    data: entry.payload,
                    entry: Some(entry.id),
                })
            }
            Ok(None) => {
                self.shared.backlog.store(false, Ordering::Relaxed);
                None
            }
            Err(err) => {
                if let Some(suppressed) = self.shared.warnings.allow("filebeat.spool_read") {
                    error!(output = NAME, error = %err, "Cannot read the spool{suppressed}.");
                }
                None
            }
        }
    }

    /// Writes `data`, connecting first when needed (and resending the recent bytes).
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(stream) = &self.stream {
            if peer_closed(stream) {
                self.stream = None;
            }
        }
        if self.stream.is_none() {
            let mut stream = self.connect()?;
            // What the previous connection may have lost.
            for batch in &self.recent {
                stream.write_all(batch)?;
                self.shared.metrics.retries.inc_by(count_lines(batch));
            }
            self.stream = Some(stream);
            self.backoff = self.shared.settings.initial_backoff;
            self.shared.set_up(true);
        }
        match &mut self.stream {
            Some(stream) => stream.write_all(data),
            None => Err(io::Error::new(ErrorKind::NotConnected, "no connection")),
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let settings = &self.shared.settings;
        let addrs: Vec<SocketAddr> = settings.address.to_socket_addrs()?.collect();
        let mut last = io::Error::new(ErrorKind::NotFound, "the address resolves to nothing");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, settings.timeout) {
                Ok(stream) => {
                    stream.set_write_timeout(Some(settings.timeout))?;
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    fn remember(&mut self, data: Vec<u8>) {
        let limit = self.shared.settings.resend_bytes;
        self.recent_bytes += data.len();
        self.recent.push_back(data);
        while self.recent_bytes > limit {
            match self.recent.pop_front() {
                Some(old) => self.recent_bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Sleeps the backoff with full jitter (woken early at shutdown) and doubles it.
    fn pause(&mut self) {
        let max = self.shared.settings.max_backoff;
        let jittered = self.backoff.mul_f64(fastrand::f64());
        let state = self.shared.state();
        if !self.shared.closing.load(Ordering::Relaxed) {
            let _ = self.shared.changed.wait_timeout(state, jittered);
        }
        self.backoff = (self.backoff * 2).min(max);
    }
}

/// Whether the peer closed the connection (or it failed): Filebeat never sends data, so
/// any readable state is EOF or an error.
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = match (&*stream).read(&mut byte) {
        Ok(_) => true,
        Err(err) => err.kind() != ErrorKind::WouldBlock,
    };
    closed || stream.set_nonblocking(false).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    #[test]
    fn records_arrive_as_whole_lines_and_a_closed_peer_is_noticed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut settings = TcpSettings::new(address, dir.path().join("spool"));
        settings.mode = Mode::Replay;
        let mut output = FilebeatTcpOutput::start(settings, &metrics, &health).unwrap();
        output
            .write_batch(RecordKind::Flow, b"{\"a\":1}\n{\"a\":2}")
            .unwrap();
        let (stream, _) = listener.accept().unwrap();
        let mut reader = io::BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "{\"a\":1}\n");
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "{\"a\":2}\n", "a missing final newline is added");
        drop(reader);
        // The peer closed: the next batch goes over a new connection, after the recent
        // bytes (which the old peer may not have read).
        output
            .write_batch(RecordKind::Flow, b"{\"a\":3}\n")
            .unwrap();
        let (stream, _) = listener.accept().unwrap();
        let lines: Vec<String> = io::BufReader::new(stream)
            .lines()
            .take(3)
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines, ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        assert_eq!(output.close().unwrap(), 0);
        let m = metrics.delivery(NAME);
        assert_eq!(m.records.sent.get(), 3);
        assert_eq!(m.retries.get(), 2);
    }
}
