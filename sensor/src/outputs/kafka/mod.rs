//! Records into Kafka, one topic per record kind, without losing any (docs/kafka.md).
//!
//! The producer is librdkafka (crate `rdkafka`, built from source by its `cmake-build`
//! feature): idempotent, `acks=all`, lz4 by default, batched by `linger.ms` and
//! `batch.size`. Each record is one message keyed by its `network.community_id`, so the
//! default partitioner keeps a flow (and both directions of it) in one partition.
//!
//! [`Output::write_batch`] hands records to librdkafka's own memory queue and returns; the
//! queue is capped by `memory_queue_bytes`. Records go to the disk [`Spool`] (the one
//! every network output shares) when:
//! - librdkafka's queue is full (live capture never waits; a replay waits while the
//!   broker is up);
//! - a delivery report says a message failed (after `message.timeout.ms` without the
//!   broker, or purged at shutdown): the report carries the payload back, so librdkafka
//!   holds each record until the broker acknowledged it, and the spool holds it after;
//! - the spool already holds records, so records keep their order.
//!
//! A drain thread sends the spool, oldest first, once a metadata request shows the broker
//! is back, and acknowledges spool entries only after every message of them has a delivery
//! report (a failed one went back to the spool by then).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netsensor_elastic::Sensitive;
use netsensor_schema::RecordKind;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::ClientContext;
use tracing::{error, info, warn};

use super::elasticsearch::Mode;
use super::spool::{EntryId, Spool, SpoolError, SpoolSettings};
use super::Output;
use crate::telemetry::metrics::DeliveryMetrics;
use crate::telemetry::{Health, Metrics, RateLimiter};

/// The output's name in metrics, health and logs.
pub const NAME: &str = "kafka";

/// How the client authenticates and encrypts.
#[derive(Debug, Clone, Default)]
pub struct KafkaSecurity {
    /// librdkafka's `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`.
    pub protocol: String,
    /// CA certificate (PEM) that signed the brokers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub username: Option<String>,
    /// SASL password (from a file or the environment; never logged).
    pub password: Option<Sensitive>,
}

/// Everything the output needs, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic of packet, flow and rollup records.
    pub topics: [String; 3],
    /// `compression.type`: `lz4` (default), `zstd`, `snappy`, `gzip` or `none`.
    pub compression: String,
    /// `linger.ms`: how long a batch may wait to fill.
    pub linger: Duration,
    /// `batch.size`: bytes per partition batch.
    pub batch_bytes: usize,
    /// `message.timeout.ms`: after this without an acknowledgement, a message fails and
    /// goes to the spool.
    pub message_timeout: Duration,
    /// librdkafka's queue (`queue.buffering.max.kbytes`); beyond it records are spooled.
    pub memory_queue_bytes: u64,
    /// TLS and SASL.
    pub security: KafkaSecurity,
    /// `client.id`.
    pub client_id: String,
    /// Further librdkafka properties, applied last.
    pub properties: Vec<(String, String)>,
    /// How long the output delivers at shutdown before it spools what is left.
    pub shutdown_timeout: Duration,
    /// The disk spool.
    pub spool: SpoolSettings,
    /// Live or replay (see [`Mode`]).
    pub mode: Mode,
}

impl KafkaSettings {
    /// Defaults for `brokers`, spooling into `spool_dir`.
    pub fn new(brokers: impl Into<String>, spool_dir: PathBuf) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            topics: [
                "netsensor-packet".into(),
                "netsensor-flow".into(),
                "netsensor-rollup".into(),
            ],
            compression: "lz4".into(),
            linger: Duration::from_millis(20),
            batch_bytes: 1 << 20,
            message_timeout: Duration::from_secs(300),
            memory_queue_bytes: 256 << 20,
            security: KafkaSecurity {
                protocol: "plaintext".into(),
                ..KafkaSecurity::default()
            },
            client_id: "netsensor".into(),
            properties: Vec::new(),
            shutdown_timeout: Duration::from_secs(10),
            spool: SpoolSettings {
                dir: spool_dir,
                max_bytes: 1 << 30,
                segment_bytes: 16 << 20,
            },
            mode: Mode::Live,
        }
    }

    /// Settings from the resolved configuration.
    pub fn from_config(config: &crate::config::KafkaOutputConfig, mode: Mode) -> Self {
        KafkaSettings {
            brokers: config.brokers.join(","),
            topics: config.topics.clone(),
            compression: config.compression.clone(),
            linger: config.linger,
            batch_bytes: config.batch_bytes,
            message_timeout: config.message_timeout,
            memory_queue_bytes: config.memory_queue_bytes,
            security: KafkaSecurity {
                protocol: config.security.protocol.clone(),
                ca_file: config.security.ca_file.clone(),
                cert_file: config.security.cert_file.clone(),
                key_file: config.security.key_file.clone(),
                sasl_mechanism: config.security.sasl_mechanism.clone(),
                username: config.security.username.clone(),
                password: config
                    .security
                    .password
                    .as_ref()
                    .map(|p| Sensitive::new(p.expose().clone())),
            },
            client_id: config.client_id.clone(),
            properties: config
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            shutdown_timeout: config.shutdown_timeout,
            spool: SpoolSettings {
                dir: config.spool.dir.clone(),
                max_bytes: config.spool.max_bytes,
                segment_bytes: config.spool.segment_bytes,
            },
            mode,
        }
    }

    /// The topic of `kind`'s records.
    pub fn topic(&self, kind: RecordKind) -> &str {
        &self.topics[tag_of(kind) as usize]
    }

    /// The librdkafka configuration.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // Exactly once per partition: librdkafka's retries never duplicate or reorder.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &self.compression)
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("batch.num.messages", "100000")
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().max(1).to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                (self.memory_queue_bytes / 1024)
                    .clamp(1, 2_147_483_647)
                    .to_string(),
            )
            .set("queue.buffering.max.messages", "2000000")
            .set("security.protocol", &self.security.protocol);
        let s = &self.security;
        if let Some(ca) = &s.ca_file {
            config.set("ssl.ca.location", ca.display().to_string());
        }
        if let Some(cert) = &s.cert_file {
            config.set("ssl.certificate.location", cert.display().to_string());
        }
        if let Some(key) = &s.key_file {
            config.set("ssl.key.location", key.display().to_string());
        }
        if let Some(mechanism) = &s.sasl_mechanism {
            config.set("sasl.mechanisms", mechanism);
        }
        if let Some(username) = &s.username {
            config.set("sasl.username", username);
        }
        if let Some(password) = &s.password {
            config.set("sasl.password", password.expose());
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// Why the output could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// librdkafka refused the configuration.
    #[error("kafka output: {0}")]
    Client(#[from] KafkaError),
    /// The spool could not be opened.
    #[error("kafka output: {0}")]
    Spool(#[from] SpoolError),
    /// The drain thread could not start.
    #[error("kafka output: cannot start the drain thread: {0}")]
    Thread(io::Error),
}

/// The spool tag of a record kind (also the index into `topics`).
fn tag_of(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Packet => 0,
        RecordKind::Flow => 1,
        RecordKind::Rollup => 2,
    }
}

/// The message key: the record's `network.community_id`, found without parsing the JSON
/// (the sensor writes it as `"community_id":"1:..."`; no other field has that name).
pub fn community_id(record: &[u8]) -> Option<&[u8]> {
    const NEEDLE: &[u8] = b"\"community_id\":\"";
    let start = record
        .windows(NEEDLE.len())
        .position(|window| window == NEEDLE)?
        + NEEDLE.len();
    let rest = record.get(start..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    rest.get(..end)
}

/// Errors that no retry fixes: the record is dropped and counted, not spooled forever.
fn is_permanent(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// What the caller, the drain thread and librdkafka's delivery callbacks share.
struct Shared {
    spool: Mutex<Spool>,
    /// The spool holds records not sent yet: new records queue behind them.
    backlog: AtomicBool,
    /// The broker takes records (false after a failed delivery, until a metadata request
    /// succeeds).
    up: AtomicBool,
    /// Messages handed to librdkafka without a delivery report yet.
    outstanding: AtomicU64,
    /// Bytes of those messages.
    outstanding_bytes: AtomicU64,
    closing: AtomicBool,
    /// Wakes the drain thread.
    wake: (Mutex<()>, Condvar),
    metrics: DeliveryMetrics,
    health: Health,
    settings: KafkaSettings,
    warnings: RateLimiter,
}

impl Shared {
    fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.wake.1.notify_all();
    }

    fn sleep(&self, time: Duration) {
        let guard = self.wake.0.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.wake.1.wait_timeout(guard, time);
    }

    fn kind_of_topic(&self, topic: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| self.settings.topic(*kind) == topic)
    }

    /// Marks the broker up or down, in `/readyz` and `netsensor_output_up`.
    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            self.health.set_output_up(NAME, up);
            if up {
                info!(output = NAME, "The Kafka broker takes records again.");
            } else if let Some(suppressed) = self.warnings.allow("kafka.down") {
                warn!(output = NAME, "The Kafka broker does not acknowledge records; they go to the spool{suppressed}.");
            }
        }
    }

    /// Appends records (NDJSON lines of one kind) to the spool; drops and counts them when
    /// the spool cannot take them.
    fn spool_records(&self, kind: RecordKind, ndjson: &[u8], records: u64) {
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
                let key = match err {
                    SpoolError::Full { .. } => "kafka.spool_full",
                    SpoolError::Io { .. } => "kafka.spool_io",
                };
                if let Some(suppressed) = self.warnings.allow(key) {
                    error!(output = NAME, error = %err, records,
                        "Records dropped: the broker cannot take them and the spool cannot hold them{suppressed}.");
                }
            }
        }
        self.publish_spool(&spool);
        drop(spool);
        self.wake();
    }

    fn publish_spool(&self, spool: &Spool) {
        self.metrics.set_spool(spool.bytes(), spool.segments());
    }

    fn publish_queue(&self, in_flight: i32) {
        self.metrics.in_flight.set(i64::from(in_flight));
        self.metrics
            .queue_bytes
            .set(i64::try_from(self.outstanding_bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
    }
}

/// librdkafka's callbacks.
struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(suppressed) = self.shared.warnings.allow("kafka.client") {
            warn!(output = NAME, %error, reason, "Kafka client error{suppressed}.");
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    /// Counts the report; a failed message goes back to the spool with its payload.
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let shared = &self.shared;
        let message = match result {
            Ok(message) => message,
            Err((_, message)) => message,
        };
        let len = message.payload_len() as u64;
        match result {
            Ok(_) => {
                shared.metrics.records.sent.inc();
                shared.metrics.records.bytes.inc_by(len);
                if !shared.backlog.load(Ordering::Relaxed) {
                    shared.set_up(true);
                }
            }
            Err((error, message)) => {
                shared.metrics.records.failed.inc();
                let kind = shared.kind_of_topic(message.topic());
                match (kind, message.payload()) {
                    (Some(kind), Some(payload)) if !is_permanent(error) => {
                        // Purged at shutdown: the broker may be fine; the record is kept.
                        if !matches!(
                            error.rdkafka_error_code(),
                            Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                        ) {
                            shared.set_up(false);
                        }
                        let mut line = Vec::with_capacity(payload.len() + 1);
                        line.extend_from_slice(payload);
                        line.push(b'\n');
                        shared.spool_records(kind, &line, 1);
                    }
                    _ => {
                        shared.metrics.records.dropped.inc();
                        if let Some(suppressed) = shared.warnings.allow("kafka.permanent") {
                            error!(output = NAME, %error, topic = message.topic(), bytes = len,
                                "A record the broker can never take was dropped{suppressed}.");
                        }
                    }
                }
            }
        }
        shared.outstanding.fetch_sub(1, Ordering::Relaxed);
        shared.outstanding_bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

type KafkaProducer = ThreadedProducer<Context>;

/// Hands one record to librdkafka. `Err` gives the error back when it was not queued.
fn produce(
    producer: &KafkaProducer,
    shared: &Shared,
    kind: RecordKind,
    record: &[u8],
) -> Result<(), KafkaError> {
    let topic = shared.settings.topic(kind);
    let mut message = BaseRecord::<[u8], [u8], ()>::to(topic).payload(record);
    if let Some(key) = community_id(record) {
        message = message.key(key);
    }
    // Counted before the send: the delivery callback may run before `send` returns.
    shared.outstanding.fetch_add(1, Ordering::Relaxed);
    shared
        .outstanding_bytes
        .fetch_add(record.len() as u64, Ordering::Relaxed);
    match producer.send(message) {
        Ok(()) => Ok(()),
        Err((error, _)) => {
            shared.outstanding.fetch_sub(1, Ordering::Relaxed);
            shared
                .outstanding_bytes
                .fetch_sub(record.len() as u64, Ordering::Relaxed);
            Err(error)
        }
    }
}

fn is_queue_full(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

fn lines(ndjson: &[u8]) -> impl Iterator<Item = &[u8]> {
    ndjson
        .split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

/// The Kafka output.
pub struct KafkaOutput {
    shared: Arc<Shared>,
    producer: Arc<KafkaProducer>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaOutput {
    /// Creates the producer, opens the spool and starts the drain thread. Nothing talks
    /// to the broker yet: an unreachable broker is a delivery problem, not a start-up
    /// error.
    pub fn start(
        settings: KafkaSettings,
        metrics: &Metrics,
        health: &Health,
    ) -> Result<Self, StartError> {
        let spool = Spool::open(settings.spool.clone())?;
        let backlog = !spool.is_drained();
        let metrics = metrics.delivery(NAME);
        health.register_output(NAME);
        let config = settings.client_config();
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            backlog: AtomicBool::new(backlog),
            up: AtomicBool::new(true),
            outstanding: AtomicU64::new(0),
            outstanding_bytes: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            metrics,
            health: health.clone(),
            settings,
            warnings: RateLimiter::new(Duration::from_secs(60)),
        });
        {
            let spool = shared.spool();
            shared.publish_spool(&spool);
            if backlog {
                info!(output = NAME, bytes = spool.bytes(), segments = spool.segments(),
                    dir = %spool.settings().dir.display(), "Records spooled earlier will be sent.");
            }
        }
        let producer: KafkaProducer = config.create_with_context(Context {
            shared: Arc::clone(&shared),
        })?;
        let producer = Arc::new(producer);
        let thread_shared = Arc::clone(&shared);
        let thread_producer = Arc::clone(&producer);
        let thread = std::thread::Builder::new()
            .name("output-kafka".into())
            .spawn(move || drain(&thread_shared, &thread_producer))
            .map_err(StartError::Thread)?;
        Ok(KafkaOutput {
            shared,
            producer,
            thread: Some(thread),
        })
    }
}

impl Output for KafkaOutput {
    fn name(&self) -> &str {
        NAME
    }

    fn reports_itself(&self) -> bool {
        true
    }

    fn write_batch(&mut self, kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        let shared = &self.shared;
        let mut rest = ndjson;
        while !rest.is_empty() {
            if shared.backlog.load(Ordering::Relaxed) || !shared.up.load(Ordering::Relaxed) {
                // Behind the spooled records, in order.
                shared.spool_records(kind, rest, lines(rest).count() as u64);
                break;
            }
            let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                rest = tail;
                continue;
            }
            match produce(&self.producer, shared, kind, line) {
                Ok(()) => rest = tail,
                Err(error) if is_queue_full(&error) => {
                    if shared.settings.mode == Mode::Replay {
                        // A replay waits for room while the broker is up.
                        self.producer.poll(Duration::from_millis(50));
                        continue;
                    }
                    // Live capture never waits: beyond librdkafka's queue, the spool.
                    shared.spool_records(kind, rest, lines(rest).count() as u64);
                    break;
                }
                Err(error) => {
                    shared.metrics.records.dropped.inc();
                    if let Some(suppressed) = shared.warnings.allow("kafka.send") {
                        error!(output = NAME, %error, bytes = line.len(),
                            "A record librdkafka refused was dropped{suppressed}.");
                    }
                    rest = tail;
                }
            }
        }
        shared.publish_queue(self.producer.in_flight_count());
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

impl KafkaOutput {
    /// Stops the drain thread (a replay first sends the spool while the broker takes it),
    /// waits for delivery reports up to `shutdown_timeout`, purges what is left so its
    /// reports put it in the spool, fsyncs the spool and logs the totals.
    fn shut_down(&mut self) -> io::Result<u64> {
        let Some(thread) = self.thread.take() else {
            return Ok(0);
        };
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake();
        let mut lost = 0;
        if thread.join().is_err() {
            error!(output = NAME, "The drain thread panicked.");
            lost += 1;
        }
        let timeout = self.shared.settings.shutdown_timeout;
        if self.producer.flush(timeout).is_err() {
            // Still unacknowledged: take the records back (their reports spool them).
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            let _ = self.producer.flush(Duration::from_secs(5));
        }
        let m = &self.shared.metrics;
        let mut spool = self.shared.spool();
        let flushed = spool.flush();
        if let Err(err) = &flushed {
            error!(output = NAME, error = %err, "Cannot fsync the spool.");
        }
        self.shared.publish_spool(&spool);
        self.shared.publish_queue(self.producer.in_flight_count());
        info!(
            output = NAME,
            sent = m.records.sent.get(),
            failed = m.records.failed.get(),
            retries = m.retries.get(),
            spooled = m.spooled.get(),
            dropped = m.records.dropped.get(),
            spool_bytes = spool.bytes(),
            "Kafka output stopped."
        );
        spool.warn_if_left(NAME);
        flushed.map_err(io::Error::other)?;
        Ok(lost + m.records.dropped.get())
    }
}

impl Drop for KafkaOutput {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// Spool entries taken in one round before waiting for their delivery reports.
const ROUND_BYTES: usize = 4 << 20;

/// The drain thread: sends spooled records once the broker answers, oldest first.
fn drain(shared: &Shared, producer: &KafkaProducer) {
    // Replay: at the end, keep sending the spool while the broker makes progress.
    let mut stalled_since: Option<Instant> = None;
    loop {
        shared.publish_queue(producer.in_flight_count());
        let closing = shared.closing.load(Ordering::Relaxed);
        let backlog = shared.backlog.load(Ordering::Relaxed);
        if closing && (shared.settings.mode == Mode::Live || !backlog) {
            return;
        }
        if closing {
            let since = *stalled_since.get_or_insert_with(Instant::now);
            if since.elapsed() > shared.settings.shutdown_timeout {
                return;
            }
        }
        if !backlog {
            shared.sleep(Duration::from_millis(200));
            continue;
        }
        if !shared.up.load(Ordering::Relaxed) {
            if broker_answers(producer) {
                shared.set_up(true);
            } else {
                shared.sleep(Duration::from_secs(1));
                continue;
            }
        }
        match drain_round(shared, producer) {
            Ok(true) => stalled_since = None,
            Ok(false) => {}
            Err(err) => {
                if let Some(suppressed) = shared.warnings.allow("kafka.spool_read") {
                    error!(output = NAME, error = %err, "Cannot read the spool{suppressed}.");
                }
                shared.sleep(Duration::from_secs(1));
            }
        }
    }
}

/// True when a metadata request to the brokers succeeds.
fn broker_answers(producer: &KafkaProducer) -> bool {
    producer
        .client()
        .fetch_metadata(None, Duration::from_secs(2))
        .is_ok()
}

/// Sends up to [`ROUND_BYTES`] of spooled entries, waits for every delivery report, then
/// acknowledges the entries. Returns whether every record of the round was delivered.
fn drain_round(shared: &Shared, producer: &KafkaProducer) -> Result<bool, SpoolError> {
    let mut ids: Vec<EntryId> = Vec::new();
    let mut taken = 0;
    let failed_before = shared.metrics.records.failed.get();
    while taken < ROUND_BYTES {
        let entry = {
            let mut spool = shared.spool();
            let entry = spool.read_next()?;
            if entry.is_none() && ids.is_empty() {
                // Nothing left to read: new records may go straight to the broker again.
                shared.backlog.store(false, Ordering::Relaxed);
            }
            entry
        };
        let Some(entry) = entry else { break };
        taken += entry.payload.len();
        let kind = RecordKind::ALL
            .into_iter()
            .find(|kind| tag_of(*kind) == entry.tag);
        if let Some(kind) = kind {
            for line in lines(&entry.payload) {
                shared.metrics.retries.inc();
                loop {
                    match produce(producer, shared, kind, line) {
                        Ok(()) => break,
                        Err(error) if is_queue_full(&error) => {
                            producer.poll(Duration::from_millis(50));
                        }
                        Err(error) => {
                            shared.metrics.records.dropped.inc();
                            if let Some(suppressed) = shared.warnings.allow("kafka.send") {
                                error!(output = NAME, %error, "A spooled record librdkafka refused was dropped{suppressed}.");
                            }
                            break;
                        }
                    }
                }
            }
        }
        ids.push(entry.id);
    }
    if ids.is_empty() {
        return Ok(true);
    }
    // Every message of the round has a report (delivered, or back in the spool).
    let deadline = Instant::now() + shared.settings.message_timeout + Duration::from_secs(30);
    while shared.outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        let _ = producer.flush(Duration::from_millis(100));
        shared.publish_queue(producer.in_flight_count());
    }
    let mut spool = shared.spool();
    for id in ids {
        spool.ack(id)?;
    }
    shared.publish_spool(&spool);
    Ok(shared.metrics.records.failed.get() == failed_before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_community_id() {
        let record =
            br#"{"network":{"bytes":60,"community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=","type":"ipv4"}}"#;
        assert_eq!(
            community_id(record),
            Some(&b"1:LQU9qZlK+B5F3KDmev6m5PMibrg="[..])
        );
        assert_eq!(community_id(br#"{"network":{"type":"arp"}}"#), None);
        assert_eq!(community_id(br#"{"community_id":"unterminated"#), None);
    }

    #[test]
    fn settings_become_librdkafka_properties() {
        let mut settings = KafkaSettings::new("127.0.0.1:9092", PathBuf::from("/nonexistent"));
        settings.security.protocol = "sasl_ssl".into();
        settings.security.sasl_mechanism = Some("SCRAM-SHA-512".into());
        settings.security.username = Some("sensor".into());
        settings.security.password = Some(Sensitive::new("s3cret"));
        settings.properties = vec![("linger.ms".into(), "5".into())];
        let config = settings.client_config();
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("compression.type"), Some("lz4"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.password"), Some("s3cret"));
        assert_eq!(config.get("linger.ms"), Some("5"), "extra properties win");
        assert_eq!(settings.topic(RecordKind::Flow), "netsensor-flow");
        // The password never shows in the settings' debug output.
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    /// A broker that is not there: every record ends in the spool after
    /// `message.timeout.ms`, none is lost, and the output never blocks.
    #[test]
    fn an_unreachable_broker_sends_every_record_to_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut settings =
            KafkaSettings::new(format!("127.0.0.1:{port}"), dir.path().join("spool"));
        settings.message_timeout = Duration::from_millis(500);
        settings.shutdown_timeout = Duration::from_millis(300);
        let metrics = Metrics::with_build("t", 0);
        let health = Health::new(&metrics);
        let mut output = KafkaOutput::start(settings.clone(), &metrics, &health).unwrap();
        let started = Instant::now();
        for b in 0..20 {
            let mut batch = Vec::new();
            for i in 0..10 {
                batch.extend_from_slice(
                    format!("{{\"event\":{{\"id\":\"id{}\"}}}}\n", b * 10 + i).as_bytes(),
                );
            }
            output.write_batch(RecordKind::Flow, &batch).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "write_batch waited"
        );
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(output.close().unwrap(), 0);
        drop(output);
        let m = metrics.delivery(NAME);
        assert_eq!(m.records.sent.get(), 0);
        assert!(m.records.failed.get() > 0);
        let mut spool = Spool::open(settings.spool).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        while let Some(entry) = spool.read_next().unwrap() {
            assert_eq!(entry.tag, tag_of(RecordKind::Flow));
            for line in lines(&entry.payload) {
                ids.insert(String::from_utf8(line.to_vec()).unwrap());
            }
        }
        assert_eq!(ids.len(), 200, "every record is in the spool once");
        assert!(!health.is_ready());
    }
}
