//! From the raw YAML types to the validated, typed [`Config`] the sensor runs with.
//!
//! This is the second stage (ripgrep's "high-level arguments"): numbers become `Duration`s and
//! `SocketAddr`s, relative paths are resolved against the configuration file's directory,
//! secrets are read, and every rule the types cannot express is checked. Each error, from the
//! YAML parser or from validation, is reported as `FILE:LINE:COL: KEY.PATH: message`; the
//! position of a key found invalid after parsing is recovered by [`locate`], which re-reads the
//! document with the same YAML parser and stops at that key.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netsensor_schema::RecordKind;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use super::raw::{self, Direction, LogFormat, RawConfig, RecordName};
use super::secret::Secret;

/// The name shown in the key position for errors about the top level of the document.
const TOP_LEVEL: &str = "(top level)";

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("{}: cannot read the configuration file: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The file is not well-formed YAML.
    #[error("{}:{line}:{column}: syntax error: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the YAML parser said.
        message: String,
    },
    /// A key has a wrong, unknown, or invalid value.
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line of the value (or of the unknown key).
        line: usize,
        /// 1-based column.
        column: usize,
        /// Key path such as `captures[0].direction`, or `(top level)`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// Identity of this sensor.
    pub sensor: SensorConfig,
    /// Live captures (ignored by replay).
    pub captures: Vec<CaptureConfig>,
    /// Tunnel decapsulation.
    pub tunnels: TunnelsConfig,
    /// Record kinds to emit; never empty.
    pub records: RecordKinds,
    /// Enrichment settings.
    pub enrichment: EnrichmentConfig,
    /// Privacy settings.
    pub privacy: PrivacyConfig,
    /// Interval rollups.
    pub rollups: RollupsConfig,
    /// The flow table.
    pub flows: FlowsConfig,
    /// Batching and queueing.
    pub pipeline: PipelineConfig,
    /// Record outputs.
    pub outputs: OutputsConfig,
    /// The sensor's own listeners.
    pub listeners: ListenersConfig,
    /// The sensor's own log.
    pub logging: LoggingConfig,
    /// The sensor's own metrics push.
    pub telemetry: TelemetryConfig,
}

/// Identity of this sensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorConfig {
    /// `observer.name`: configured, else the host name.
    pub name: String,
    /// `observer.hostname`: the host name (not configurable, not printed).
    #[serde(skip)]
    pub hostname: String,
    /// Where the sensor keeps state.
    pub data_directory: PathBuf,
}

/// One live capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureConfig {
    /// Interface name, or the capture's patterns joined by ", " (for logs).
    #[serde(skip)]
    pub interface: String,
    /// Which interfaces the capture covers (written back as `interfaces`).
    #[serde(rename = "interfaces")]
    pub selection: InterfaceSelection,
    /// How often the selection's globs are re-evaluated.
    #[serde(rename = "rescan_interval_ms", serialize_with = "ser_millis")]
    pub rescan: Duration,
    /// Capture backend.
    pub backend: CaptureBackend,
    /// AF_PACKET ring settings (used by the `af_packet` backend).
    pub af_packet: AfPacketConfig,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Captured direction.
    pub direction: Direction,
    /// BPF filter, if any (not compiled yet).
    pub filter: Option<String>,
    /// Snapshot length, 64..=262144.
    pub snaplen_bytes: u32,
    /// Kernel buffer size, 1..=i32::MAX.
    pub buffer_size_bytes: u32,
    /// Immediate mode.
    pub immediate: bool,
    /// libpcap read timeout, 1 ms..=60 s.
    #[serde(rename = "timeout_ms", serialize_with = "ser_millis")]
    pub timeout: Duration,
    /// Decode inside tunnels (resolved with `tunnels.decapsulate`).
    pub decapsulate: bool,
}

/// Interfaces a capture covers: names or globs (`*`, `?`, `[...]`), minus exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSelection {
    /// Patterns an interface must match one of.
    pub include: Vec<String>,
    /// Patterns (written with a leading `!`) that take an interface out again.
    pub exclude: Vec<String>,
}

impl InterfaceSelection {
    /// The interface name when the selection is exactly one plain name (no glob, no
    /// exclusion): such a capture opens that interface and never rescans.
    pub fn single_name(&self) -> Option<&str> {
        match (self.include.as_slice(), self.exclude.is_empty()) {
            ([name], true) if !is_glob(name) => Some(name),
            _ => None,
        }
    }

    /// Whether `name` is selected: it matches an include pattern and no exclude pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.include.iter().any(|p| glob_match(p, name))
            && !self.exclude.iter().any(|p| glob_match(p, name))
    }
}

/// Serialized as the configuration writes it: one list, exclusions with a leading `!`.
impl Serialize for InterfaceSelection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.include.len() + self.exclude.len()))?;
        for pattern in &self.include {
            seq.serialize_element(pattern)?;
        }
        for pattern in &self.exclude {
            seq.serialize_element(&format!("!{pattern}"))?;
        }
        seq.end()
    }
}

/// Whether a pattern has glob characters.
fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Shell-style glob match over characters: `*` any run, `?` one character, `[abc]`/`[a-z]`
/// (`[!...]` negated) one of a set. An unclosed `[` matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*` (linear in practice).
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class_match(&p[pi..], n[ni]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None if n[ni] == '[' => Some(1),
                None => None,
            },
            Some(&c) if c == n[ni] => Some(1),
            _ => None,
        };
        match (step, star) {
            (Some(len), _) => {
                pi += len;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket class starting at `class[0] == '['`: `Some((matched,
/// pattern length))`, or `None` when the bracket is not closed.
fn class_match(class: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(class.get(1), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while let Some(&x) = class.get(i) {
        if x == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if class.get(i + 1) == Some(&'-') && class.get(i + 2).is_some_and(|&e| e != ']') {
            let end = class[i + 2];
            matched |= (x..=end).contains(&c);
            i += 3;
        } else {
            matched |= x == c;
            i += 1;
        }
    }
    None
}

/// Capture backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureBackend {
    /// libpcap.
    Pcap,
    /// Linux AF_PACKET TPACKET_V3 rings with fanout.
    AfPacket,
}

/// TPACKET_V3 ring settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AfPacketConfig {
    /// Bytes per block (a power of two, ≥ 4096).
    pub block_size_bytes: u32,
    /// Blocks per ring.
    pub block_count: u32,
    /// Longest a partly filled block waits.
    #[serde(rename = "block_timeout_ms", serialize_with = "ser_millis")]
    pub block_timeout: Duration,
    /// Fanout group id; `None`: an unused id the kernel picks.
    pub fanout_group: Option<u16>,
}

/// Tunnel decapsulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelsConfig {
    /// Default for captures and the setting of replay.
    pub decapsulate: bool,
    /// Layers removed at most, 1..=8.
    pub max_depth: u8,
    /// UDP ports decoded as VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP ports decoded as GENEVE.
    pub geneve_ports: Vec<u16>,
}

/// A set of record kinds.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RecordKinds(u8);

impl RecordKinds {
    const fn bit(kind: RecordKind) -> u8 {
        match kind {
            RecordKind::Packet => 1,
            RecordKind::Flow => 2,
            RecordKind::Rollup => 4,
        }
    }

    /// The set holding only `kind`.
    pub const fn only(kind: RecordKind) -> Self {
        RecordKinds(Self::bit(kind))
    }

    /// Adds a kind.
    pub fn insert(&mut self, kind: RecordKind) {
        self.0 |= Self::bit(kind);
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: RecordKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in data-path order.
    pub fn iter(self) -> impl Iterator<Item = RecordKind> {
        RecordKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl fmt::Debug for RecordKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(RecordKind::name))
            .finish()
    }
}

impl Serialize for RecordKinds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(RecordKind::name))
    }
}

/// Enrichment settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrichmentConfig {
    /// Community ID seed.
    pub community_id_seed: u16,
    /// OS guessing on.
    pub os_guess: bool,
    /// DNS/TLS/HTTP summaries on.
    pub app_layer: bool,
    /// GeoIP database files (checked to exist, not opened).
    pub geoip: GeoIpConfig,
}

/// GeoIP database files, absolute.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GeoIpConfig {
    /// Country database.
    pub country_database: Option<PathBuf>,
    /// City database.
    pub city_database: Option<PathBuf>,
    /// ASN database.
    pub asn_database: Option<PathBuf>,
}

/// Privacy settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivacyConfig {
    /// Scrub credentials and secret query values from URLs.
    pub scrub_urls: bool,
    /// IP pseudonymisation, if on.
    pub pseudonymize: Option<PseudonymizeConfig>,
}

impl PrivacyConfig {
    /// The pseudonymisation HMAC key, if pseudonymisation is on.
    pub fn pseudonymize_key(&self) -> Option<&[u8]> {
        self.pseudonymize
            .as_ref()
            .map(|p| p.key.expose().as_slice())
    }
}

/// IP pseudonymisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PseudonymizeConfig {
    /// HMAC key, at least 16 bytes.
    pub key: Secret<Vec<u8>>,
}

/// Minimum pseudonymisation key length.
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 16;

/// Interval rollups.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RollupsConfig {
    /// Interval length.
    #[serde(rename = "interval_ms", serialize_with = "ser_millis")]
    pub interval: Duration,
    /// Top destinations per interval.
    pub top_n: usize,
}

/// The flow table: timeouts and size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlowsConfig {
    /// Idle timeout.
    #[serde(rename = "idle_timeout_secs", serialize_with = "ser_secs")]
    pub idle_timeout: Duration,
    /// Active timeout.
    #[serde(rename = "active_timeout_secs", serialize_with = "ser_secs")]
    pub active_timeout: Duration,
    /// Linger after FIN or RST.
    #[serde(rename = "linger_ms", serialize_with = "ser_millis")]
    pub linger: Duration,
    /// Most flows held at once.
    pub max_flows: usize,
}

/// Batching and queueing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineConfig {
    /// Frames per batch, > 0.
    pub batch_size: usize,
    /// Queue capacity in batches, > 0.
    pub queue_batches: usize,
    /// Processing workers, ≥ 1 (`auto` resolved to the available cores).
    pub workers: usize,
    /// What a full worker queue does.
    pub overload: OverloadConfig,
}

/// Load shedding when a worker's queue fills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverloadConfig {
    /// Shed or block.
    pub mode: OverloadMode,
    /// Queue fill (0..1) above which sampling starts.
    pub high_watermark: f64,
    /// Queue fill (0..1) below which sampling stops.
    pub low_watermark: f64,
}

/// What a full queue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverloadMode {
    /// Flow-consistent sampling, counted per reason; records carry `netsensor.sample_rate`.
    Shed,
    /// The reader waits (replay); live, the kernel drops instead.
    Block,
}

/// Record outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputsConfig {
    /// Standard output.
    pub stdout: StdoutOutputConfig,
    /// Rotated NDJSON file, if enabled.
    #[serde(serialize_with = "ser_file_output")]
    pub file: Option<FileOutputConfig>,
    /// The embedded store, if enabled.
    #[serde(serialize_with = "ser_sqlite_output")]
    pub sqlite: Option<SqliteOutputConfig>,
    /// Elasticsearch or OpenSearch, if enabled.
    #[serde(serialize_with = "ser_elasticsearch_output")]
    pub elasticsearch: Option<ElasticsearchOutputConfig>,
    /// Kafka, if enabled.
    #[serde(serialize_with = "ser_enabled")]
    pub kafka: Option<KafkaOutputConfig>,
    /// Filebeat (TCP or files), if enabled.
    #[serde(serialize_with = "ser_enabled")]
    pub filebeat: Option<FilebeatOutputConfig>,
}

/// The Kafka output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaOutputConfig {
    /// Bootstrap brokers, `host:port`, at least one.
    pub brokers: Vec<String>,
    /// Topics of packet, flow and rollup records, none empty.
    #[serde(serialize_with = "ser_topics")]
    pub topics: [String; 3],
    /// `lz4`, `zstd`, `snappy`, `gzip` or `none`.
    pub compression: String,
    /// `linger.ms`.
    #[serde(rename = "linger_ms", serialize_with = "ser_millis")]
    pub linger: Duration,
    /// `batch.size`, > 0.
    pub batch_bytes: usize,
    /// `message.timeout.ms`, > 0.
    #[serde(rename = "message_timeout_ms", serialize_with = "ser_millis")]
    pub message_timeout: Duration,
    /// librdkafka's queue, >= 1024.
    pub memory_queue_bytes: u64,
    /// Time allowed at shutdown before the rest is spooled.
    #[serde(rename = "shutdown_timeout_ms", serialize_with = "ser_millis")]
    pub shutdown_timeout: Duration,
    /// `client.id`.
    pub client_id: String,
    /// TLS and SASL.
    pub security: KafkaSecurityConfig,
    /// Further librdkafka properties.
    pub properties: BTreeMap<String, String>,
    /// The disk spool.
    pub spool: ElasticsearchSpoolConfig,
}

/// TLS and SASL of the Kafka output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaSecurityConfig {
    /// `security.protocol`, lower case.
    pub protocol: String,
    /// CA file, absolute, exists.
    pub ca_file: Option<PathBuf>,
    /// Client certificate, absolute, exists.
    pub cert_file: Option<PathBuf>,
    /// Client key, absolute, exists.
    pub key_file: Option<PathBuf>,
    /// SASL mechanism.
    pub sasl_mechanism: Option<String>,
    /// SASL user.
    pub username: Option<String>,
    /// SASL password.
    pub password: Option<Secret<String>>,
}

/// Backoff between connection attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilebeatRetryConfig {
    /// First backoff.
    #[serde(rename = "initial_backoff_ms", serialize_with = "ser_millis")]
    pub initial_backoff: Duration,
    /// Longest backoff.
    #[serde(rename = "max_backoff_ms", serialize_with = "ser_millis")]
    pub max_backoff: Duration,
}

/// The Filebeat output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum FilebeatOutputConfig {
    /// NDJSON over TCP.
    Tcp {
        /// `host:port`.
        address: String,
        /// Connect and write timeout.
        #[serde(rename = "timeout_ms", serialize_with = "ser_millis")]
        timeout: Duration,
        /// Backoff between connection attempts.
        retry: FilebeatRetryConfig,
        /// Bytes held in memory before spooling.
        memory_queue_bytes: u64,
        /// Bytes written again after a reconnect.
        resend_bytes: usize,
        /// Time allowed at shutdown before the rest is spooled.
        #[serde(rename = "shutdown_timeout_ms", serialize_with = "ser_millis")]
        shutdown_timeout: Duration,
        /// The disk spool.
        spool: ElasticsearchSpoolConfig,
    },
    /// Rotated NDJSON files.
    Files {
        /// Directory, absolute.
        directory: PathBuf,
        /// File name prefix.
        prefix: String,
        /// Size rotation, > 0.
        rotate_bytes: u64,
        /// Age rotation, > 0.
        #[serde(rename = "rotate_age_ms", serialize_with = "ser_millis")]
        rotate_age: Duration,
    },
}

/// The Elasticsearch/OpenSearch output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElasticsearchOutputConfig {
    /// Node URLs, at least one, each `http://` or `https://` without credentials.
    pub urls: Vec<String>,
    /// Data stream namespace, valid in an index name.
    pub namespace: String,
    /// Basic-auth user, with `password`.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret<String>>,
    /// Encoded API key (instead of a user).
    pub api_key: Option<Secret<String>>,
    /// CA file, absolute, exists.
    pub ca_file: Option<PathBuf>,
    /// When a request is sent.
    pub batch: ElasticsearchBatchConfig,
    /// Requests in flight at once, 1..=64.
    pub max_in_flight: usize,
    /// Timeout of one request.
    #[serde(rename = "request_timeout_ms", serialize_with = "ser_millis")]
    pub request_timeout: Duration,
    /// Backoff between retries.
    pub retry: ElasticsearchRetryConfig,
    /// Bytes held in memory before spooling.
    pub memory_queue_bytes: u64,
    /// Time allowed at shutdown before the rest is spooled.
    #[serde(rename = "shutdown_timeout_ms", serialize_with = "ser_millis")]
    pub shutdown_timeout: Duration,
    /// The disk spool.
    pub spool: ElasticsearchSpoolConfig,
    /// Dead-letter NDJSON file, absolute.
    pub dead_letter_path: PathBuf,
}

/// When a `_bulk` request is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElasticsearchBatchConfig {
    /// Records per request, > 0.
    pub max_docs: usize,
    /// Bytes per request, > 0.
    pub max_bytes: usize,
    /// Longest wait for a request to fill.
    #[serde(rename = "max_wait_ms", serialize_with = "ser_millis")]
    pub max_wait: Duration,
}

/// Backoff between retries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElasticsearchRetryConfig {
    /// First backoff.
    #[serde(rename = "initial_backoff_ms", serialize_with = "ser_millis")]
    pub initial_backoff: Duration,
    /// Longest backoff.
    #[serde(rename = "max_backoff_ms", serialize_with = "ser_millis")]
    pub max_backoff: Duration,
}

/// The disk spool of the Elasticsearch output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElasticsearchSpoolConfig {
    /// Directory, absolute.
    pub dir: PathBuf,
    /// Size cap, > 0.
    pub max_bytes: u64,
    /// Segment size, 1..=max_bytes.
    pub segment_bytes: u64,
}

/// The embedded SQLite store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqliteOutputConfig {
    /// Database file.
    pub path: PathBuf,
    /// Age limit in seconds (0: none).
    pub retention_secs: u64,
    /// Size limit in bytes (0: none).
    pub max_bytes: u64,
}

impl OutputsConfig {
    /// Whether any output is enabled.
    pub fn any_enabled(&self) -> bool {
        self.stdout.enabled
            || self.file.is_some()
            || self.sqlite.is_some()
            || self.elasticsearch.is_some()
            || self.kafka.is_some()
            || self.filebeat.is_some()
    }
}

/// Standard output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StdoutOutputConfig {
    /// Enabled.
    pub enabled: bool,
}

/// Rotated NDJSON file output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileOutputConfig {
    /// Absolute file path; its directory exists.
    pub path: PathBuf,
    /// Rotation size, > 0.
    pub rotate_bytes: u64,
    /// Rotated files kept, > 0.
    pub keep_files: u32,
}

/// The sensor's own listeners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenersConfig {
    /// Metrics and health listener, if enabled.
    pub metrics: Option<MetricsListenerConfig>,
    /// `GET /query` listener on the embedded store, if enabled.
    pub query: Option<QueryListenerConfig>,
}

/// The store's query listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryListenerConfig {
    /// Bound address.
    pub address: SocketAddr,
}

/// Metrics and health listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsListenerConfig {
    /// Address to bind.
    pub address: SocketAddr,
}

/// The sensor's own log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggingConfig {
    /// Level or EnvFilter directives (syntax checked loosely; `EnvFilter` has the last word).
    pub level: String,
    /// Line format.
    pub format: LogFormat,
    /// Rotated log files, else standard error.
    pub file: Option<LogFileConfig>,
}

/// Rotated log files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFileConfig {
    /// Existing directory, absolute.
    pub directory: PathBuf,
    /// Rotation size, > 0.
    pub rotate_bytes: u64,
    /// Rotated files kept, > 0.
    pub keep_files: u32,
}

/// The sensor's own metrics push.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetryConfig {
    /// OTLP/HTTP push, if enabled.
    pub otlp: Option<OtlpConfig>,
}

/// OTLP/HTTP metrics push.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtlpConfig {
    /// Endpoint URL (`http://`; https needs a TLS client the exporter does not have yet).
    pub endpoint: String,
    /// Push interval, > 0.
    #[serde(rename = "interval_secs", serialize_with = "ser_secs")]
    pub interval: Duration,
    /// Extra HTTP headers with their secret values.
    pub headers: BTreeMap<String, Secret<String>>,
}

fn ser_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ser_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// A disabled file output is printed as `{ path: null }`, which reads back as disabled.
fn ser_file_output<S: Serializer>(f: &Option<FileOutputConfig>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Disabled {
        path: Option<PathBuf>,
    }
    match f {
        Some(f) => f.serialize(s),
        None => Disabled { path: None }.serialize(s),
    }
}

/// Topics as the configuration names them: `{ packet, flow, rollup }`.
fn ser_topics<S: Serializer>(topics: &[String; 3], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Topics<'a> {
        packet: &'a str,
        flow: &'a str,
        rollup: &'a str,
    }
    let [packet, flow, rollup] = topics;
    Topics {
        packet,
        flow,
        rollup,
    }
    .serialize(s)
}

/// A disabled output is printed as `{ enabled: false }`; an enabled one with `enabled:
/// true` in front of its keys.
fn ser_enabled<S: Serializer, T: Serialize>(f: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Shown<'a, T> {
        enabled: bool,
        #[serde(flatten)]
        config: Option<&'a T>,
    }
    Shown {
        enabled: f.is_some(),
        config: f.as_ref(),
    }
    .serialize(s)
}

/// A disabled output is printed as `{ enabled: false }`; an enabled one with `enabled:
/// true` in front of its keys.
fn ser_elasticsearch_output<S: Serializer>(
    f: &Option<ElasticsearchOutputConfig>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Shown<'a> {
        enabled: bool,
        #[serde(flatten)]
        config: Option<&'a ElasticsearchOutputConfig>,
    }
    Shown {
        enabled: f.is_some(),
        config: f.as_ref(),
    }
    .serialize(s)
}

fn ser_sqlite_output<S: Serializer>(
    f: &Option<SqliteOutputConfig>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Disabled {
        enabled: bool,
    }
    match f {
        Some(f) => f.serialize(s),
        None => Disabled { enabled: false }.serialize(s),
    }
}

impl Config {
    /// The configuration `netsensor replay` uses without a file: packet records to standard
    /// output, no captures, no listeners, no file outputs, logs to standard error, every other
    /// setting at its default.
    pub fn default_for_replay() -> Config {
        // The built-in defaults, with the replay-specific choices on top: one copy of every
        // default (raw.rs), so this cannot drift from what a config file gets.
        const REPLAY: &str = "outputs: { stdout: { enabled: true } }\n\
                              listeners: { metrics: null, query: null }\n";
        from_str(REPLAY, Path::new("(replay defaults)"))
            .unwrap_or_else(|err| unreachable!("the replay defaults are valid: {err}"))
    }

    /// The configuration as YAML in the file's own layout, with every secret printed as
    /// `**REDACTED**` (for `netsensor check-config`). Without secrets it loads back as the
    /// same configuration.
    pub fn to_effective_yaml(&self) -> String {
        serde_yaml_ng::to_string(self)
            .unwrap_or_else(|error| format!("# cannot print the configuration: {error}\n"))
    }
}

/// Reads, parses, validates and resolves the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    from_str(&text, path)
}

/// Like [`load`] for text already read; `origin` names the file in errors, and relative paths
/// in the configuration are resolved against its directory.
pub fn from_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let raw = parse(text, origin)?;
    let dir = origin.parent().unwrap_or(Path::new(""));
    let base = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    Resolver { text, origin, base }.resolve(&raw)
}

/// The host name, or `localhost` when it cannot be found.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn parse(text: &str, origin: &Path) -> Result<RawConfig, ConfigError> {
    let error = match serde_yaml_ng::from_str::<Option<RawConfig>>(text) {
        Ok(raw) => return Ok(raw.unwrap_or_default()),
        Err(error) => error,
    };
    // A document that is not YAML at all is a syntax error; anything else is about a key.
    // (The generic parse reports duplicate keys differently; they are about a key too.)
    if let Err(syntax) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        if syntax.to_string() == error.to_string() {
            let (line, column) = position(&error);
            let message = strip_position(error.to_string(), &error);
            return Err(ConfigError::Syntax {
                file: origin.to_owned(),
                line,
                column,
                message,
            });
        }
    }
    let (mut line, mut column) = position(&error);
    let full = strip_position(error.to_string(), &error);
    let (key, message) = match split_key_path(&full) {
        Some((key, message)) => (key.to_owned(), message.to_owned()),
        None => {
            // Errors about the top-level mapping carry no position of their own.
            let field = |prefix: &str| {
                full.strip_prefix(prefix)
                    .and_then(|rest| rest.split('`').next())
            };
            let found = if let Some(name) = field("unknown field `") {
                locate(text, name, true)
            } else if let Some(name) = field("duplicate field `") {
                // The second `name:` starting a line.
                let prefix = format!("{name}:");
                let lines = text.lines().enumerate();
                lines
                    .filter(|(_, l)| l.starts_with(&prefix))
                    .nth(1)
                    .map(|(i, _)| (i + 1, 1))
            } else {
                None
            };
            if let Some((l, c)) = found {
                (line, column) = (l, c);
            }
            (TOP_LEVEL.to_owned(), full)
        }
    };
    Err(ConfigError::Invalid {
        file: origin.to_owned(),
        line,
        column,
        key,
        message,
    })
}

fn position(error: &serde_yaml_ng::Error) -> (usize, usize) {
    error.location().map_or((1, 1), |l| (l.line(), l.column()))
}

/// Removes the parser's own " at line L column C" from its message.
fn strip_position(mut message: String, error: &serde_yaml_ng::Error) -> String {
    if let Some(l) = error.location() {
        let at = format!(" at line {} column {}", l.line(), l.column());
        if let Some(i) = message.find(&at) {
            message.replace_range(i..i + at.len(), "");
        }
    }
    message
}

/// Splits serde_yaml_ng's `key.path: message`. Every path it reports starts with a known
/// top-level key (an unknown one fails at the top level, without a path), and no top-level
/// message starts with one.
fn split_key_path(full: &str) -> Option<(&str, &str)> {
    let top_level = raw::KEY_PATHS.iter().filter(|p| !p.contains(['.', '[']));
    let starts_with_key = top_level.into_iter().any(|top| {
        full.strip_prefix(top)
            .is_some_and(|rest| rest.starts_with(['.', '[', ':']))
    });
    if !starts_with_key {
        return None;
    }
    full.split_once(": ")
}

/// A validation failure before its position is known.
struct Invalid {
    key: String,
    message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

struct Resolver<'a> {
    text: &'a str,
    origin: &'a Path,
    base: PathBuf,
}

impl Resolver<'_> {
    fn resolve(&self, raw: &RawConfig) -> Result<Config, ConfigError> {
        self.config(raw).map_err(|Invalid { key, message }| {
            let (line, column) = locate(self.text, &key, false).unwrap_or((1, 1));
            ConfigError::Invalid {
                file: self.origin.to_owned(),
                line,
                column,
                key,
                message,
            }
        })
    }

    fn config(&self, raw: &RawConfig) -> Result<Config, Invalid> {
        let hostname = host_name();
        let name = match &raw.sensor.name {
            Some(name) => {
                non_blank("sensor.name", name)?;
                name.clone()
            }
            None => hostname.clone(),
        };
        let tunnels = tunnels(&raw.tunnels)?;
        let captures = raw
            .captures
            .iter()
            .enumerate()
            .map(|(i, c)| capture(i, c, &tunnels))
            .collect::<Result<_, _>>()?;
        let data_directory = self.path("sensor.data_directory", &raw.sensor.data_directory)?;
        let outputs = self.outputs(&raw.outputs, &data_directory)?;
        let store_only = outputs.sqlite.is_some()
            && !outputs.stdout.enabled
            && outputs.file.is_none()
            && outputs.elasticsearch.is_none()
            && outputs.kafka.is_none()
            && outputs.filebeat.is_none();
        let records = match &raw.records {
            Some(names) => records(names)?,
            None => records(&raw::default_records(store_only))?,
        };
        Ok(Config {
            sensor: SensorConfig {
                name,
                hostname,
                data_directory,
            },
            captures,
            tunnels,
            records,
            enrichment: self.enrichment(&raw.enrichment)?,
            privacy: self.privacy(&raw.privacy)?,
            rollups: rollups(&raw.rollups)?,
            flows: flows(&raw.flows)?,
            pipeline: pipeline(&raw.pipeline)?,
            outputs,
            listeners: listeners(&raw.listeners)?,
            logging: self.logging(&raw.logging)?,
            telemetry: self.telemetry(&raw.telemetry)?,
        })
    }

    fn path(&self, key: &str, path: &Path) -> Result<PathBuf, Invalid> {
        if path.as_os_str().is_empty() {
            return Err(invalid(key, "must not be empty"));
        }
        Ok(self.base.join(path))
    }

    fn existing_file(&self, key: &str, path: Option<&PathBuf>) -> Result<Option<PathBuf>, Invalid> {
        let Some(path) = path else { return Ok(None) };
        let path = self.path(key, path)?;
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(path)),
            Ok(_) => Err(invalid(key, format!("`{}` is not a file", path.display()))),
            Err(error) => Err(invalid(
                key,
                format!("cannot open `{}`: {error}", path.display()),
            )),
        }
    }

    fn existing_dir(&self, key: &str, path: &Path) -> Result<PathBuf, Invalid> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(path.to_owned()),
            Ok(_) => Err(invalid(
                key,
                format!("`{}` is not a directory", path.display()),
            )),
            Err(error) => Err(invalid(
                key,
                format!("directory `{}`: {error}", path.display()),
            )),
        }
    }

    fn enrichment(&self, raw: &raw::EnrichmentSection) -> Result<EnrichmentConfig, Invalid> {
        let g = &raw.geoip;
        Ok(EnrichmentConfig {
            community_id_seed: raw.community_id_seed,
            os_guess: raw.os_guess,
            app_layer: raw.app_layer,
            geoip: GeoIpConfig {
                country_database: self.existing_file(
                    "enrichment.geoip.country_database",
                    g.country_database.as_ref(),
                )?,
                city_database: self
                    .existing_file("enrichment.geoip.city_database", g.city_database.as_ref())?,
                asn_database: self
                    .existing_file("enrichment.geoip.asn_database", g.asn_database.as_ref())?,
            },
        })
    }

    fn privacy(&self, raw: &raw::PrivacySection) -> Result<PrivacyConfig, Invalid> {
        const KEY: &str = "privacy.pseudonymize.key";
        let pseudonymize = match &raw.pseudonymize {
            None => None,
            Some(p) => {
                let key = p
                    .key
                    .rebased(&self.base)
                    .read_bytes()
                    .map_err(|e| invalid(KEY, e.to_string()))?;
                if key.expose().len() < MIN_PSEUDONYM_KEY_BYTES {
                    return Err(invalid(
                        KEY,
                        format!("the key must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes long"),
                    ));
                }
                Some(PseudonymizeConfig { key })
            }
        };
        Ok(PrivacyConfig {
            scrub_urls: raw.scrub_urls,
            pseudonymize,
        })
    }

    fn outputs(
        &self,
        raw: &raw::OutputsSection,
        data_directory: &Path,
    ) -> Result<OutputsConfig, Invalid> {
        let f = &raw.file;
        let file = match &f.path {
            None => None,
            Some(path) => {
                let path = self.path("outputs.file.path", path)?;
                if path.is_dir() {
                    return Err(invalid(
                        "outputs.file.path",
                        format!("`{}` is a directory", path.display()),
                    ));
                }
                if let Some(dir) = path.parent() {
                    self.existing_dir("outputs.file.path", dir)?;
                }
                Some(FileOutputConfig {
                    path,
                    rotate_bytes: positive("outputs.file.rotate_bytes", f.rotate_bytes)?,
                    keep_files: positive("outputs.file.keep_files", f.keep_files)?,
                })
            }
        };
        let elasticsearch = self.elasticsearch(&raw.elasticsearch, data_directory)?;
        let kafka = self.kafka(&raw.kafka, data_directory)?;
        let filebeat = self.filebeat(&raw.filebeat, data_directory)?;
        let others = raw.stdout.enabled
            || file.is_some()
            || elasticsearch.is_some()
            || kafka.is_some()
            || filebeat.is_some();
        let q = &raw.sqlite;
        let sqlite = match q.enabled.unwrap_or(!others) {
            false => None,
            true => Some(SqliteOutputConfig {
                path: match &q.path {
                    Some(path) => self.path("outputs.sqlite.path", path)?,
                    None => data_directory.join("netsensor.db"),
                },
                retention_secs: q.retention_secs,
                max_bytes: q.max_bytes,
            }),
        };
        Ok(OutputsConfig {
            stdout: StdoutOutputConfig {
                enabled: raw.stdout.enabled,
            },
            file,
            sqlite,
            elasticsearch,
            kafka,
            filebeat,
        })
    }

    /// A spool section: directory (default `spool/<name>` in the data directory) and sizes.
    fn spool(
        &self,
        key: &str,
        raw: &raw::OutputSpoolSection,
        default_dir: PathBuf,
    ) -> Result<ElasticsearchSpoolConfig, Invalid> {
        let max_bytes = positive(&format!("{key}.max_bytes"), raw.max_bytes)?;
        let segment_bytes = positive(&format!("{key}.segment_bytes"), raw.segment_bytes)?;
        if segment_bytes > max_bytes {
            return Err(invalid(
                format!("{key}.segment_bytes"),
                "must not be larger than `max_bytes`",
            ));
        }
        Ok(ElasticsearchSpoolConfig {
            dir: match &raw.dir {
                Some(dir) => self.path(&format!("{key}.dir"), dir)?,
                None => default_dir,
            },
            max_bytes,
            segment_bytes,
        })
    }

    fn kafka(
        &self,
        raw: &raw::KafkaOutputSection,
        data_directory: &Path,
    ) -> Result<Option<KafkaOutputConfig>, Invalid> {
        const KEY: &str = "outputs.kafka";
        if !raw.enabled {
            return Ok(None);
        }
        let key = |field: &str| format!("{KEY}.{field}");
        if raw.brokers.is_empty() {
            return Err(invalid(key("brokers"), "must name at least one broker"));
        }
        for (i, broker) in raw.brokers.iter().enumerate() {
            let port = broker.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) || broker.contains(',') {
                return Err(invalid(
                    format!("{KEY}.brokers[{i}]"),
                    format!("`{broker}` is not host:port"),
                ));
            }
        }
        let t = &raw.topics;
        for (field, topic) in [
            ("packet", &t.packet),
            ("flow", &t.flow),
            ("rollup", &t.rollup),
        ] {
            let valid = !topic.is_empty()
                && topic.len() <= 249
                && topic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                return Err(invalid(
                    key(&format!("topics.{field}")),
                    format!("`{topic}` is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"),
                ));
            }
        }
        if !["lz4", "zstd", "snappy", "gzip", "none"].contains(&raw.compression.as_str()) {
            return Err(invalid(
                key("compression"),
                format!(
                    "`{}` is not one of lz4, zstd, snappy, gzip, none",
                    raw.compression
                ),
            ));
        }
        let sec = &raw.security;
        let protocol = sec.protocol.to_ascii_lowercase();
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&protocol.as_str()) {
            return Err(invalid(
                key("security.protocol"),
                format!(
                    "`{}` is not one of plaintext, ssl, sasl_plaintext, sasl_ssl",
                    sec.protocol
                ),
            ));
        }
        let sasl = protocol.starts_with("sasl_");
        if let Some(mechanism) = &sec.sasl_mechanism {
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
                return Err(invalid(
                    key("security.sasl_mechanism"),
                    format!("`{mechanism}` is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
                ));
            }
        }
        let password = sec
            .password
            .as_ref()
            .map(|s| {
                s.rebased(&self.base)
                    .read_string()
                    .map_err(|e| invalid(key("security.password"), e.to_string()))
            })
            .transpose()?;
        if sasl && (sec.sasl_mechanism.is_none() || sec.username.is_none() || password.is_none()) {
            return Err(invalid(
                key("security"),
                format!("`{protocol}` needs `sasl_mechanism`, `username` and `password`"),
            ));
        }
        if !sasl && (sec.sasl_mechanism.is_some() || sec.username.is_some() || password.is_some()) {
            return Err(invalid(
                key("security.protocol"),
                "SASL settings need the `sasl_plaintext` or `sasl_ssl` protocol",
            ));
        }
        if sec.cert_file.is_some() != sec.key_file.is_some() {
            return Err(invalid(
                key("security.cert_file"),
                "`cert_file` and `key_file` go together",
            ));
        }
        let batch_bytes = usize::try_from(positive(&key("batch_bytes"), raw.batch_bytes)?)
            .map_err(|_| invalid(key("batch_bytes"), "too large"))?;
        if raw.memory_queue_bytes < 1024 {
            return Err(invalid(key("memory_queue_bytes"), "must be at least 1024"));
        }
        non_blank(&key("client_id"), &raw.client_id)?;
        Ok(Some(KafkaOutputConfig {
            brokers: raw.brokers.clone(),
            topics: [t.packet.clone(), t.flow.clone(), t.rollup.clone()],
            compression: raw.compression.clone(),
            linger: Duration::from_millis(raw.linger_ms),
            batch_bytes,
            message_timeout: Duration::from_millis(positive(
                &key("message_timeout_ms"),
                raw.message_timeout_ms,
            )?),
            memory_queue_bytes: raw.memory_queue_bytes,
            shutdown_timeout: Duration::from_millis(raw.shutdown_timeout_ms),
            client_id: raw.client_id.clone(),
            security: KafkaSecurityConfig {
                protocol,
                ca_file: self.existing_file(&key("security.ca_file"), sec.ca_file.as_ref())?,
                cert_file: self
                    .existing_file(&key("security.cert_file"), sec.cert_file.as_ref())?,
                key_file: self.existing_file(&key("security.key_file"), sec.key_file.as_ref())?,
                sasl_mechanism: sec.sasl_mechanism.clone(),
                username: sec.username.clone(),
                password,
            },
            properties: raw.properties.clone(),
            spool: self.spool(
                &key("spool"),
                &raw.spool,
                data_directory.join("spool").join("kafka"),
            )?,
        }))
    }

    fn filebeat(
        &self,
        raw: &raw::FilebeatOutputSection,
        data_directory: &Path,
    ) -> Result<Option<FilebeatOutputConfig>, Invalid> {
        const KEY: &str = "outputs.filebeat";
        if !raw.enabled {
            return Ok(None);
        }
        let key = |field: &str| format!("{KEY}.{field}");
        Ok(Some(match raw.mode {
            raw::FilebeatMode::Tcp => {
                let port = raw.address.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
                if !matches!(port, Some(Ok(p)) if p > 0) {
                    return Err(invalid(
                        key("address"),
                        format!("`{}` is not host:port", raw.address),
                    ));
                }
                let initial = positive(
                    &key("retry.initial_backoff_ms"),
                    raw.retry.initial_backoff_ms,
                )?;
                if raw.retry.max_backoff_ms < initial {
                    return Err(invalid(
                        key("retry.max_backoff_ms"),
                        "must be at least `initial_backoff_ms`",
                    ));
                }
                FilebeatOutputConfig::Tcp {
                    address: raw.address.clone(),
                    timeout: Duration::from_millis(positive(&key("timeout_ms"), raw.timeout_ms)?),
                    retry: FilebeatRetryConfig {
                        initial_backoff: Duration::from_millis(initial),
                        max_backoff: Duration::from_millis(raw.retry.max_backoff_ms),
                    },
                    memory_queue_bytes: positive(
                        &key("memory_queue_bytes"),
                        raw.memory_queue_bytes,
                    )?,
                    resend_bytes: usize::try_from(raw.resend_bytes)
                        .map_err(|_| invalid(key("resend_bytes"), "too large"))?,
                    shutdown_timeout: Duration::from_millis(raw.shutdown_timeout_ms),
                    spool: self.spool(
                        &key("spool"),
                        &raw.spool,
                        data_directory.join("spool").join("filebeat"),
                    )?,
                }
            }
            raw::FilebeatMode::Files => {
                let valid_prefix = !raw.prefix.is_empty()
                    && raw
                        .prefix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    && !raw.prefix.starts_with('.');
                if !valid_prefix {
                    return Err(invalid(
                        key("prefix"),
                        format!("`{}` is not a file name prefix (a-z A-Z 0-9 . _ -, not starting with .)", raw.prefix),
                    ));
                }
                FilebeatOutputConfig::Files {
                    directory: match &raw.directory {
                        Some(dir) => self.path(&key("directory"), dir)?,
                        None => data_directory.join("filebeat"),
                    },
                    prefix: raw.prefix.clone(),
                    rotate_bytes: positive(&key("rotate_bytes"), raw.rotate_bytes)?,
                    rotate_age: Duration::from_millis(positive(
                        &key("rotate_age_ms"),
                        raw.rotate_age_ms,
                    )?),
                }
            }
        }))
    }

    fn elasticsearch(
        &self,
        raw: &raw::ElasticsearchOutputSection,
        data_directory: &Path,
    ) -> Result<Option<ElasticsearchOutputConfig>, Invalid> {
        const KEY: &str = "outputs.elasticsearch";
        if !raw.enabled {
            return Ok(None);
        }
        let key = |field: &str| format!("{KEY}.{field}");
        if raw.urls.is_empty() {
            return Err(invalid(key("urls"), "must name at least one URL"));
        }
        let mut urls = Vec::with_capacity(raw.urls.len());
        for (i, url) in raw.urls.iter().enumerate() {
            urls.push(cluster_url(&format!("{KEY}.urls[{i}]"), url)?);
        }
        if !netsensor_elastic::names::valid_namespace(&raw.namespace) {
            return Err(invalid(
                key("namespace"),
                format!(
                    "`{}` is not a valid data stream namespace (lower case, no `-`, none of \\/*?\"<>| ,#:)",
                    raw.namespace
                ),
            ));
        }
        let secret = |field: &str, secret: &Option<super::secret::SecretRef>| {
            secret
                .as_ref()
                .map(|s| {
                    s.rebased(&self.base)
                        .read_string()
                        .map_err(|e| invalid(key(field), e.to_string()))
                })
                .transpose()
        };
        let password = secret("password", &raw.password)?;
        let api_key = secret("api_key", &raw.api_key)?;
        if let Some(user) = &raw.username {
            non_blank(&key("username"), user)?;
        }
        match (&raw.username, &password, &api_key) {
            (Some(_), None, _) => {
                return Err(invalid(key("username"), "needs `password` as well"));
            }
            (None, Some(_), _) => {
                return Err(invalid(key("password"), "needs `username` as well"));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(invalid(
                    key("api_key"),
                    "give either `api_key` or `username` and `password`, not both",
                ));
            }
            _ => {}
        }
        let ca_file = self.existing_file(&key("ca_file"), raw.ca_file.as_ref())?;
        let b = &raw.batch;
        let max_in_flight = raw.max_in_flight;
        if !(1..=64).contains(&max_in_flight) {
            return Err(invalid(
                key("max_in_flight"),
                format!("{max_in_flight} is out of range 1..=64"),
            ));
        }
        let initial = positive(
            &key("retry.initial_backoff_ms"),
            raw.retry.initial_backoff_ms,
        )?;
        if raw.retry.max_backoff_ms < initial {
            return Err(invalid(
                key("retry.max_backoff_ms"),
                "must be at least `initial_backoff_ms`",
            ));
        }
        let spool_max = positive(&key("spool.max_bytes"), raw.spool.max_bytes)?;
        let segment = positive(&key("spool.segment_bytes"), raw.spool.segment_bytes)?;
        if segment > spool_max {
            return Err(invalid(
                key("spool.segment_bytes"),
                "must not be larger than `spool.max_bytes`",
            ));
        }
        let max_bytes = usize::try_from(positive(&key("batch.max_bytes"), b.max_bytes)?)
            .map_err(|_| invalid(key("batch.max_bytes"), "too large"))?;
        Ok(Some(ElasticsearchOutputConfig {
            urls,
            namespace: raw.namespace.clone(),
            username: raw.username.clone(),
            password,
            api_key,
            ca_file,
            batch: ElasticsearchBatchConfig {
                max_docs: positive(&key("batch.max_docs"), b.max_docs)? as usize,
                max_bytes,
                max_wait: Duration::from_millis(positive(
                    &key("batch.max_wait_ms"),
                    b.max_wait_ms,
                )?),
            },
            max_in_flight: max_in_flight as usize,
            request_timeout: Duration::from_millis(positive(
                &key("request_timeout_ms"),
                raw.request_timeout_ms,
            )?),
            retry: ElasticsearchRetryConfig {
                initial_backoff: Duration::from_millis(initial),
                max_backoff: Duration::from_millis(raw.retry.max_backoff_ms),
            },
            memory_queue_bytes: positive(&key("memory_queue_bytes"), raw.memory_queue_bytes)?,
            shutdown_timeout: Duration::from_millis(raw.shutdown_timeout_ms),
            spool: ElasticsearchSpoolConfig {
                dir: match &raw.spool.dir {
                    Some(dir) => self.path(&key("spool.dir"), dir)?,
                    None => data_directory.join("spool").join("elasticsearch"),
                },
                max_bytes: spool_max,
                segment_bytes: segment,
            },
            dead_letter_path: match &raw.dead_letter_path {
                Some(path) => self.path(&key("dead_letter_path"), path)?,
                None => data_directory
                    .join("dead-letter")
                    .join("elasticsearch.ndjson"),
            },
        }))
    }

    fn logging(&self, raw: &raw::LoggingSection) -> Result<LoggingConfig, Invalid> {
        check_log_level(&raw.level)?;
        let file = match &raw.file {
            None => None,
            Some(f) => {
                let dir = self.path("logging.file.directory", &f.directory)?;
                Some(LogFileConfig {
                    directory: self.existing_dir("logging.file.directory", &dir)?,
                    rotate_bytes: positive("logging.file.rotate_bytes", f.rotate_bytes)?,
                    keep_files: positive("logging.file.keep_files", f.keep_files)?,
                })
            }
        };
        Ok(LoggingConfig {
            level: raw.level.trim().to_owned(),
            format: raw.format,
            file,
        })
    }

    fn telemetry(&self, raw: &raw::TelemetrySection) -> Result<TelemetryConfig, Invalid> {
        let Some(o) = &raw.otlp else {
            return Ok(TelemetryConfig { otlp: None });
        };
        let endpoint = o.endpoint.trim();
        if endpoint.starts_with("https://") {
            // The exporter has no TLS client yet; refuse here so check-config catches it.
            return Err(invalid(
                "telemetry.otlp.endpoint",
                format!(
                    "`{endpoint}`: https is not supported by the OTLP exporter yet; \
                     use http:// to a local collector"
                ),
            ));
        }
        let host = endpoint.strip_prefix("http://");
        if !host.is_some_and(|h| !h.is_empty() && !h.starts_with('/')) {
            return Err(invalid(
                "telemetry.otlp.endpoint",
                format!("`{endpoint}` is not an http:// URL"),
            ));
        }
        let authority = host
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default();
        if authority.contains('@') {
            // The endpoint is logged and printed; credentials belong in `headers`.
            return Err(invalid(
                "telemetry.otlp.endpoint",
                "credentials in the URL are not accepted; use `headers: { authorization: { env: NAME } }`",
            ));
        }
        let mut headers = BTreeMap::new();
        for (name, secret) in &o.headers {
            let key = format!("telemetry.otlp.headers.{name}");
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
                return Err(invalid(key, "not a valid HTTP header name"));
            }
            let value = secret
                .rebased(&self.base)
                .read_string()
                .map_err(|e| invalid(key.as_str(), e.to_string()))?;
            headers.insert(name.clone(), value);
        }
        Ok(TelemetryConfig {
            otlp: Some(OtlpConfig {
                endpoint: endpoint.to_owned(),
                interval: Duration::from_secs(u64::from(positive(
                    "telemetry.otlp.interval_secs",
                    o.interval_secs,
                )?)),
                headers,
            }),
        })
    }
}

/// Checks a cluster URL: `http://` or `https://`, a host, no credentials (they would be
/// logged and printed; they belong in `username`/`password` or `api_key`).
fn cluster_url(key: &str, url: &str) -> Result<String, Invalid> {
    let url = url.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let authority = rest.and_then(|r| r.split('/').next()).unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid(
            key,
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    if authority.contains('@') {
        return Err(invalid(
            key,
            "credentials in the URL are not accepted; use `username` and `password`, or `api_key`",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn non_blank(key: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(invalid(
            key,
            "must not have surrounding spaces or control characters",
        ));
    }
    Ok(())
}

fn positive<T: PartialEq + Default>(key: &str, value: T) -> Result<T, Invalid> {
    if value == T::default() {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(value)
}

fn in_range(key: &str, value: u32, min: u32, max: u32) -> Result<u32, Invalid> {
    if !(min..=max).contains(&value) {
        return Err(invalid(
            key,
            format!("{value} is out of range {min}..={max}"),
        ));
    }
    Ok(value)
}

fn capture(
    i: usize,
    raw: &raw::CaptureSection,
    tunnels: &TunnelsConfig,
) -> Result<CaptureConfig, Invalid> {
    let key = |field: &str| format!("captures[{i}].{field}");
    let (interface, selection) = interface_selection(i, raw)?;
    let ring = af_packet(i, &raw.af_packet)?;
    // A fanout group lives on one device: a second interface cannot join it.
    if ring.fanout_group.is_some() && selection.single_name().is_none() {
        return Err(invalid(
            key("af_packet.fanout_group"),
            "a fanout group holds the rings of one interface: give `interface` a single \
             name, or leave fanout_group out (each interface then gets its own)",
        ));
    }
    if let Some(filter) = &raw.filter {
        if filter.trim().is_empty() {
            return Err(invalid(
                key("filter"),
                "must not be empty; leave it out to capture all",
            ));
        }
    }
    const I32_MAX: u32 = i32::MAX as u32;
    Ok(CaptureConfig {
        interface,
        selection,
        rescan: Duration::from_millis(u64::from(in_range(
            &key("rescan_interval_ms"),
            raw.rescan_interval_ms,
            100,
            3_600_000,
        )?)),
        backend: match raw.backend {
            raw::CaptureBackendName::Pcap => CaptureBackend::Pcap,
            raw::CaptureBackendName::AfPacket => CaptureBackend::AfPacket,
        },
        af_packet: ring,
        promiscuous: raw.promiscuous,
        direction: raw.direction,
        filter: raw.filter.clone(),
        snaplen_bytes: in_range(&key("snaplen_bytes"), raw.snaplen_bytes, 64, 262_144)?,
        buffer_size_bytes: in_range(&key("buffer_size_bytes"), raw.buffer_size_bytes, 1, I32_MAX)?,
        immediate: raw.immediate,
        timeout: Duration::from_millis(u64::from(in_range(
            &key("timeout_ms"),
            raw.timeout_ms,
            1,
            60_000,
        )?)),
        decapsulate: raw.decapsulate.unwrap_or(tunnels.decapsulate),
    })
}

/// `interface` or `interfaces` (exactly one), as a display name and a selection.
fn interface_selection(
    i: usize,
    raw: &raw::CaptureSection,
) -> Result<(String, InterfaceSelection), Invalid> {
    let patterns: Vec<(String, &str)> = match (&raw.interface, &raw.interfaces) {
        (Some(name), None) => vec![(format!("captures[{i}].interface"), name.as_str())],
        (None, Some(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(j, p)| (format!("captures[{i}].interfaces[{j}]"), p.as_str()))
            .collect(),
        (None, Some(_)) => {
            return Err(invalid(
                format!("captures[{i}].interfaces"),
                "must list at least one interface or glob",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                format!("captures[{i}].interfaces"),
                "give either `interface` or `interfaces`, not both",
            ))
        }
        (None, None) => {
            return Err(invalid(
                format!("captures[{i}]"),
                "needs `interface` (a name or glob) or `interfaces` (a list of globs)",
            ))
        }
    };
    let mut selection = InterfaceSelection {
        include: Vec::new(),
        exclude: Vec::new(),
    };
    for (key, pattern) in &patterns {
        non_blank(key, pattern)?;
        match pattern.trim().strip_prefix('!') {
            Some(excluded) if excluded.trim().is_empty() => {
                return Err(invalid(key, "`!` must be followed by a name or glob"))
            }
            Some(excluded) => selection.exclude.push(excluded.trim().to_owned()),
            None => selection.include.push(pattern.trim().to_owned()),
        }
    }
    if selection.include.is_empty() {
        return Err(invalid(
            patterns[0].0.clone(),
            "only exclusions given: add at least one pattern without `!` (e.g. `*`)",
        ));
    }
    Ok((
        patterns
            .iter()
            .map(|(_, p)| p.trim())
            .collect::<Vec<_>>()
            .join(", "),
        selection,
    ))
}

fn af_packet(i: usize, raw: &raw::AfPacketSection) -> Result<AfPacketConfig, Invalid> {
    let key = |field: &str| format!("captures[{i}].af_packet.{field}");
    let block_size = in_range(
        &key("block_size_bytes"),
        raw.block_size_bytes,
        4096,
        128 << 20,
    )?;
    if !block_size.is_power_of_two() {
        return Err(invalid(
            key("block_size_bytes"),
            format!("{block_size} is not a power of two"),
        ));
    }
    Ok(AfPacketConfig {
        block_size_bytes: block_size,
        block_count: in_range(&key("block_count"), raw.block_count, 1, 65_536)?,
        block_timeout: Duration::from_millis(u64::from(in_range(
            &key("block_timeout_ms"),
            raw.block_timeout_ms,
            1,
            60_000,
        )?)),
        fanout_group: raw.fanout_group,
    })
}

fn tunnels(raw: &raw::TunnelsSection) -> Result<TunnelsConfig, Invalid> {
    let ports = |key: &str, ports: &[u16]| -> Result<Vec<u16>, Invalid> {
        if let Some(j) = ports.iter().position(|&p| p == 0) {
            return Err(invalid(format!("{key}[{j}]"), "port 0 is not a UDP port"));
        }
        Ok(ports.to_vec())
    };
    let vxlan_ports = ports("tunnels.vxlan_ports", &raw.vxlan_ports)?;
    let geneve_ports = ports("tunnels.geneve_ports", &raw.geneve_ports)?;
    if let Some(j) = geneve_ports.iter().position(|p| vxlan_ports.contains(p)) {
        return Err(invalid(
            format!("tunnels.geneve_ports[{j}]"),
            format!("{} is also a VXLAN port", geneve_ports[j]),
        ));
    }
    Ok(TunnelsConfig {
        decapsulate: raw.decapsulate,
        max_depth: in_range("tunnels.max_depth", u32::from(raw.max_depth), 1, 8)? as u8,
        vxlan_ports,
        geneve_ports,
    })
}

fn records(raw: &[RecordName]) -> Result<RecordKinds, Invalid> {
    if raw.is_empty() {
        return Err(invalid(
            "records",
            "must name at least one of `packet`, `flow`, `rollup`",
        ));
    }
    let mut kinds = RecordKinds::default();
    for (i, name) in raw.iter().enumerate() {
        let kind = match name {
            RecordName::Packet => RecordKind::Packet,
            RecordName::Flow => RecordKind::Flow,
            RecordName::Rollup => RecordKind::Rollup,
        };
        if kinds.contains(kind) {
            return Err(invalid(
                format!("records[{i}]"),
                format!("`{}` is repeated", kind.name()),
            ));
        }
        kinds.insert(kind);
    }
    Ok(kinds)
}

fn rollups(raw: &raw::RollupsSection) -> Result<RollupsConfig, Invalid> {
    use crate::records::rollup::{MAX_TOP_N, MIN_INTERVAL_NS};
    let min_ms = (MIN_INTERVAL_NS / 1_000_000) as u64;
    if !(min_ms..=86_400_000).contains(&raw.interval_ms) {
        return Err(invalid(
            "rollups.interval_ms",
            format!("{} is out of range {min_ms}..=86400000", raw.interval_ms),
        ));
    }
    let top_n = raw.top_n as usize;
    if top_n > MAX_TOP_N {
        return Err(invalid(
            "rollups.top_n",
            format!("{top_n} is out of range 0..={MAX_TOP_N}"),
        ));
    }
    Ok(RollupsConfig {
        interval: Duration::from_millis(raw.interval_ms),
        top_n,
    })
}

fn flows(raw: &raw::FlowsSection) -> Result<FlowsConfig, Invalid> {
    let secs = |key: &str, v: u32| -> Result<Duration, Invalid> {
        if (1..=86_400).contains(&v) {
            Ok(Duration::from_secs(u64::from(v)))
        } else {
            Err(invalid(key, format!("{v} is out of range 1..=86400")))
        }
    };
    if raw.linger_ms > 60_000 {
        return Err(invalid(
            "flows.linger_ms",
            format!("{} is out of range 0..=60000", raw.linger_ms),
        ));
    }
    Ok(FlowsConfig {
        idle_timeout: secs("flows.idle_timeout_secs", raw.idle_timeout_secs)?,
        active_timeout: secs("flows.active_timeout_secs", raw.active_timeout_secs)?,
        linger: Duration::from_millis(u64::from(raw.linger_ms)),
        max_flows: usize::try_from(positive("flows.max_flows", raw.max_flows)?)
            .map_err(|_| invalid("flows.max_flows", "too large"))?,
    })
}

fn pipeline(raw: &raw::PipelineSection) -> Result<PipelineConfig, Invalid> {
    // Both are allocated up front, so a typo must fail here rather than exhaust memory.
    let size = |key: &str, v: u32| -> Result<usize, Invalid> {
        if (1..=65_536).contains(&v) {
            Ok(v as usize)
        } else {
            Err(invalid(key, format!("{v} is out of range 1..=65536")))
        }
    };
    let workers = match raw.workers {
        raw::WorkersSetting::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
        raw::WorkersSetting::Count(n) => in_range("pipeline.workers", n, 1, 256)? as usize,
    };
    let overload = &raw.overload;
    let fill = |key: &str, v: f64| -> Result<f64, Invalid> {
        if v > 0.0 && v < 1.0 {
            Ok(v)
        } else {
            Err(invalid(
                key,
                format!("{v} is out of range: a fill between 0 and 1"),
            ))
        }
    };
    let high = fill("pipeline.overload.high_watermark", overload.high_watermark)?;
    let low = fill("pipeline.overload.low_watermark", overload.low_watermark)?;
    if low >= high {
        return Err(invalid(
            "pipeline.overload.low_watermark",
            format!("{low} must be below the high watermark ({high})"),
        ));
    }
    Ok(PipelineConfig {
        batch_size: size("pipeline.batch_size", raw.batch_size)?,
        queue_batches: size("pipeline.queue_batches", raw.queue_batches)?,
        workers,
        overload: OverloadConfig {
            mode: match overload.mode {
                raw::OverloadModeName::Shed => OverloadMode::Shed,
                raw::OverloadModeName::Block => OverloadMode::Block,
            },
            high_watermark: high,
            low_watermark: low,
        },
    })
}

fn listeners(raw: &raw::ListenersSection) -> Result<ListenersConfig, Invalid> {
    const KEY: &str = "listeners.metrics.address";
    let metrics = match &raw.metrics {
        None => None,
        Some(m) => Some(MetricsListenerConfig {
            address: m.address.trim().parse().map_err(|_| {
                invalid(
                    KEY,
                    format!("`{}` is not an IP:PORT socket address", m.address),
                )
            })?,
        }),
    };
    let query = match &raw.query {
        None => None,
        Some(q) => Some(QueryListenerConfig {
            address: q.address.trim().parse().map_err(|_| {
                invalid(
                    "listeners.query.address",
                    format!("`{}` is not an IP:PORT socket address", q.address),
                )
            })?,
        }),
    };
    Ok(ListenersConfig { metrics, query })
}

/// Checks `level` as EnvFilter directives: comma-separated `LEVEL` or `target=LEVEL`. A bare
/// word must be a level (EnvFilter would take a misspelt level as a target and log nothing);
/// directives with span filters (`[...]`) are left to EnvFilter.
fn check_log_level(level: &str) -> Result<(), Invalid> {
    const KEY: &str = "logging.level";
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    if level.trim().is_empty() {
        return Err(invalid(KEY, "must not be empty"));
    }
    for directive in level.split(',').map(str::trim) {
        if directive.is_empty() || directive.contains('[') {
            continue;
        }
        let lvl = match directive.rsplit_once('=') {
            Some((target, lvl)) if !target.trim().is_empty() => lvl.trim(),
            _ => directive,
        };
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(lvl)) {
            return Err(invalid(
                KEY,
                format!(
                    "`{directive}` is neither a level (error, warn, info, debug, trace, off) \
                     nor a `target=level` directive"
                ),
            ));
        }
    }
    Ok(())
}

/// One step of a key path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `captures[0].direction` into steps; `None` if it is not a key path.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (index, after) = r.split_once(']')?;
            out.push(Step::Index(index.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// The 1-based line and column of the value at `path` in `text` (of the key itself when
/// `at_key`); if the path is not in the document, of its nearest ancestor that is.
///
/// It re-reads the document with a seed that walks down the path and fails on arrival; the
/// parser stamps that failure with the position of the node it was reading.
fn locate(text: &str, path: &str, at_key: bool) -> Option<(usize, usize)> {
    let steps = steps(path)?;
    (1..=steps.len()).rev().find_map(|n| {
        let seed = Finder {
            rest: steps.get(..n)?,
            at_key: at_key && n == steps.len(),
        };
        let de = serde_yaml_ng::Deserializer::from_str(text);
        match seed.deserialize(de) {
            Err(e) if e.to_string().contains(ARRIVED) => position_of(&e),
            _ => None,
        }
    })
}

fn position_of(error: &serde_yaml_ng::Error) -> Option<(usize, usize)> {
    error.location().map(|l| (l.line(), l.column()))
}

/// The error [`Finder`] raises on arrival.
const ARRIVED: &str = "\u{0}netsensor-locate-arrived";

struct Finder<'s, 'p> {
    rest: &'s [Step<'p>],
    at_key: bool,
}

impl<'de> DeserializeSeed<'de> for Finder<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Finder<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(ARRIVED));
        };
        let want = match first {
            Step::Key(k) => Some(*k),
            Step::Index(_) => None,
        };
        let fire = self.at_key && rest.is_empty();
        while let Some(found) = map.next_key_seed(KeyMatcher { want, fire })? {
            if found {
                map.next_value_seed(Finder {
                    rest,
                    at_key: self.at_key,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(ARRIVED));
        };
        let want = match first {
            Step::Index(i) => Some(*i),
            Step::Key(_) => None,
        };
        let mut i = 0;
        loop {
            let more = if want == Some(i) {
                seq.next_element_seed(Finder {
                    rest,
                    at_key: self.at_key,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

impl Finder<'_, '_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.rest.is_empty() {
            Err(E::custom(ARRIVED))
        } else {
            Ok(())
        }
    }
}

/// Reads a mapping key and tells whether it is the wanted one; with `fire`, fails there.
struct KeyMatcher<'p> {
    want: Option<&'p str>,
    fire: bool,
}

impl<'de> DeserializeSeed<'de> for KeyMatcher<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyMatcher<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        let found = self.want == Some(key);
        if found && self.fire {
            return Err(E::custom(ARRIVED));
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn err(text: &str) -> String {
        from_str(text, Path::new("t.yaml")).unwrap_err().to_string()
    }

    fn ok(text: &str) -> Config {
        from_str(text, Path::new("t.yaml")).unwrap()
    }

    /// Asserts the error starts with `prefix` (positions counted by hand from the text).
    #[track_caller]
    fn assert_err(text: &str, prefix: &str) {
        let got = err(text);
        assert!(got.starts_with(prefix), "\n got: {got}\nwant: {prefix}…");
    }

    #[test]
    fn unknown_key_at_top_level() {
        assert_err(
            "sensor:\n  name: a\nbogus: 1\n",
            "t.yaml:3:1: (top level): unknown field `bogus`, expected one of `sensor`, `captures`",
        );
    }

    #[test]
    fn unknown_key_nested() {
        assert_err(
            "captures:\n  - interface: eth0\n    intrface: eth1\n",
            "t.yaml:3:5: captures[0]: unknown field `intrface`, expected one of `interface`",
        );
        assert_err(
            "logging:\n  levle: info\n",
            "t.yaml:2:3: logging: unknown field `levle`",
        );
        assert_err(
            "outputs:\n  stdout: { enabled: true, pretty: true }\n",
            "t.yaml:2:28: outputs.stdout: unknown field `pretty`, expected `enabled`",
        );
    }

    #[test]
    fn bad_enum_value() {
        assert_eq!(
            err("captures:\n  - interface: eth0\n    direction: sideways\n"),
            "t.yaml:3:16: captures[0].direction: unknown variant `sideways`, \
             expected one of `in`, `out`, `inout`"
        );
        assert_err(
            "logging:\n  format: xml\n",
            "t.yaml:2:11: logging.format: unknown variant `xml`, expected `text` or `json`",
        );
        assert_err(
            "records: [packet, flows]\n",
            "t.yaml:1:19: records[1]: unknown variant `flows`",
        );
    }

    #[test]
    fn bad_type() {
        assert_eq!(
            err("pipeline:\n  batch_size: lots\n"),
            "t.yaml:2:15: pipeline.batch_size: invalid type: string \"lots\", expected u32"
        );
        assert_err(
            "sensor: edge-1\n",
            "t.yaml:1:9: sensor: invalid type: string \"edge-1\"",
        );
        assert_err(
            "enrichment:\n  community_id_seed: 70000\n",
            "t.yaml:2:22: enrichment.community_id_seed: invalid value: integer `70000`",
        );
        assert_err("- a\n", "t.yaml:1:1: (top level): invalid type: sequence");
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(
            err("sensor: {name: a}\nrecords: [flow]\nsensor: {name: b}\n"),
            "t.yaml:3:1: (top level): duplicate field `sensor`"
        );
        assert_err(
            "logging:\n  level: info\n  level: debug\n",
            "t.yaml:2:3: logging: duplicate field `level`",
        );
    }

    #[test]
    fn missing_required_key() {
        assert_err(
            "captures:\n  - promiscuous: true\n",
            "t.yaml:2:5: captures[0]: needs `interface` (a name or glob) or `interfaces` (a list of globs)",
        );
    }

    #[test]
    fn bad_address() {
        assert_eq!(
            err("listeners:\n  metrics:\n    address: localhost\n"),
            "t.yaml:3:14: listeners.metrics.address: `localhost` is not an IP:PORT socket address"
        );
        let c = ok("listeners:\n  metrics: { address: \"[::1]:9000\" }\n");
        assert_eq!(
            c.listeners.metrics.unwrap().address,
            "[::1]:9000".parse().unwrap()
        );
        assert!(ok("listeners: { metrics: null }\n")
            .listeners
            .metrics
            .is_none());
    }

    #[test]
    fn snaplen_out_of_range() {
        assert_eq!(
            err("captures:\n  - interface: eth0\n    snaplen_bytes: 10\n"),
            "t.yaml:3:20: captures[0].snaplen_bytes: 10 is out of range 64..=262144"
        );
        // The second capture, to check list indices are located.
        assert_eq!(
            err("captures:\n  - interface: eth0\n  - interface: eth1\n    snaplen_bytes: 262145\n"),
            "t.yaml:4:20: captures[1].snaplen_bytes: 262145 is out of range 64..=262144"
        );
        assert_eq!(
            ok("captures: [{interface: a, snaplen_bytes: 64}]").captures[0].snaplen_bytes,
            64
        );
    }

    #[test]
    fn empty_interface() {
        assert_eq!(
            err("captures:\n  - interface: ''\n"),
            "t.yaml:2:16: captures[0].interface: must not be empty"
        );
    }

    #[test]
    fn interface_selection_takes_names_globs_and_exclusions() {
        let c = ok("captures:\n  - interface: eth0\n");
        assert_eq!(c.captures[0].selection.single_name(), Some("eth0"));
        assert_eq!(c.captures[0].interface, "eth0");
        let c = ok("captures:\n  - interfaces: [\"eth*\", \"en[ps]?s*\", \"!eth9\"]\n");
        let sel = &c.captures[0].selection;
        assert_eq!(sel.single_name(), None);
        assert_eq!(c.captures[0].interface, "eth*, en[ps]?s*, !eth9");
        for (name, selected) in [
            ("eth0", true),
            ("eth10", true),
            ("eth9", false),
            ("enp0s3", true),
            ("ens3", false),
            ("enpxs3", true),
            ("lo", false),
            ("veth0", false),
        ] {
            assert_eq!(sel.matches(name), selected, "{name}");
        }
        assert_err(
            "captures:\n  - interface: eth0\n    interfaces: [eth1]\n",
            "t.yaml:3:17: captures[0].interfaces: give either `interface` or `interfaces`, not both",
        );
        assert_err(
            "captures:\n  - interfaces: []\n",
            "t.yaml:2:17: captures[0].interfaces: must list at least one",
        );
        assert_err(
            "captures:\n  - interfaces: [\"!docker*\"]\n",
            "t.yaml:2:18: captures[0].interfaces[0]: only exclusions given",
        );
        assert_err(
            "captures:\n  - interfaces: [eth0, \"!\"]\n",
            "t.yaml:2:24: captures[0].interfaces[1]: `!` must be followed",
        );
    }

    #[test]
    fn glob_matching() {
        for (pattern, name, expected) in [
            ("*", "", true),
            ("eth*", "eth", true),
            ("e*h*0", "eth0", true),
            ("e*h*0", "eth01", false),
            ("?", "", false),
            ("[!a-c]x", "dx", true),
            ("[!a-c]x", "bx", false),
            ("[]]", "]", true),
            ("a[", "a[", true),
            ("ab", "abc", false),
        ] {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn workers_backend_tunnels_and_overload() {
        let c = ok("pipeline:\n  workers: auto\n");
        assert_eq!(
            c.pipeline.workers,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let c = ok(concat!(
            "captures:\n  - interface: eth0\n    backend: af_packet\n",
            "    af_packet: { block_size_bytes: 65536, fanout_group: 42 }\n",
            "tunnels:\n  decapsulate: false\n  vxlan_ports: [4789, 8472]\n",
        ));
        let cap = &c.captures[0];
        assert_eq!(cap.backend, CaptureBackend::AfPacket);
        assert_eq!(cap.af_packet.block_size_bytes, 65_536);
        assert_eq!(cap.af_packet.fanout_group, Some(42));
        assert!(!cap.decapsulate, "captures take the tunnels default");
        assert_eq!(c.tunnels.vxlan_ports, [4789, 8472]);
        let c = ok(
            "tunnels:\n  decapsulate: false\ncaptures:\n  - interface: x\n    decapsulate: true\n",
        );
        assert!(c.captures[0].decapsulate && !c.tunnels.decapsulate);
        assert_err(
            "pipeline:\n  workers: 0\n",
            "t.yaml:2:12: pipeline.workers: 0 is out of range 1..=256",
        );
        assert_err(
            "pipeline:\n  workers: many\n",
            "t.yaml:2:12: pipeline.workers: `many` is neither `auto` nor a number of workers",
        );
        assert_err(
            "captures:\n  - interface: x\n    af_packet:\n      block_size_bytes: 100000\n",
            "t.yaml:4:25: captures[0].af_packet.block_size_bytes: 100000 is not a power of two",
        );
        assert_err(
            "captures:\n  - interfaces: [\"eth*\"]\n    af_packet: { fanout_group: 7 }\n",
            "t.yaml:3:32: captures[0].af_packet.fanout_group: a fanout group holds the rings of one interface",
        );
        assert_err(
            "tunnels:\n  geneve_ports: [4789]\n",
            "t.yaml:2:18: tunnels.geneve_ports[0]: 4789 is also a VXLAN port",
        );
        assert_err(
            "tunnels:\n  max_depth: 9\n",
            "t.yaml:2:14: tunnels.max_depth: 9 is out of range 1..=8",
        );
        assert_err(
            "pipeline:\n  overload:\n    low_watermark: 0.9\n",
            "t.yaml:3:20: pipeline.overload.low_watermark: 0.9 must be below the high watermark",
        );
        assert_err(
            "pipeline:\n  overload:\n    high_watermark: 1.5\n",
            "t.yaml:3:21: pipeline.overload.high_watermark: 1.5 is out of range",
        );
    }

    #[test]
    fn other_validation_errors() {
        assert_eq!(
            err("records: [packet, flow, packet]\n"),
            "t.yaml:1:25: records[2]: `packet` is repeated"
        );
        assert_err(
            "records: []\n",
            "t.yaml:1:10: records: must name at least one",
        );
        assert_err(
            "rollups:\n  interval_ms: 100\n",
            "t.yaml:2:16: rollups.interval_ms: 100 is out of range 500..=86400000",
        );
        assert_err(
            "flows:\n  idle_timeout_secs: 0\n",
            "t.yaml:2:22: flows.idle_timeout_secs: 0 is out of range 1..=86400",
        );
        assert_err(
            "flows:\n  max_flows: 0\n",
            "t.yaml:2:14: flows.max_flows: must be greater than 0",
        );
        assert_err(
            "pipeline:\n  queue_batches: 0\n",
            "t.yaml:2:18: pipeline.queue_batches: 0 is out of range 1..=65536",
        );
        assert_err(
            "logging:\n  level: inf\n",
            "t.yaml:2:10: logging.level: `inf` is neither a level",
        );
        assert_err(
            "captures:\n  - interface: eth0\n    timeout_ms: 0\n",
            "t.yaml:3:17: captures[0].timeout_ms: 0 is out of range 1..=60000",
        );
        assert_err(
            "telemetry:\n  otlp:\n    endpoint: https://collector:4318/v1/metrics\n",
            "t.yaml:3:15: telemetry.otlp.endpoint: `https://collector:4318/v1/metrics`: https is not supported",
        );
        assert_err(
            "telemetry:\n  otlp:\n    endpoint: http://u:p@c:4318/v1/metrics\n",
            "t.yaml:3:15: telemetry.otlp.endpoint: credentials in the URL are not accepted",
        );
        assert_err(
            "telemetry:\n  otlp:\n    endpoint: localhost:4318\n",
            "t.yaml:3:15: telemetry.otlp.endpoint: `localhost:4318` is not an http:// URL",
        );
        for level in [
            "debug",
            "WARN",
            "info,netsensor::capture=debug",
            "off",
            "a[s{f=1}]=x",
        ] {
            assert_eq!(
                ok(&format!("logging: {{ level: \"{level}\" }}"))
                    .logging
                    .level,
                level
            );
        }
    }

    #[test]
    fn inline_secret_is_refused_without_echoing_it() {
        let got = err("privacy:\n  pseudonymize:\n    key: hunter2-secret\n");
        assert_eq!(
            got,
            "t.yaml:3:10: privacy.pseudonymize.key: inline secrets are not accepted; \
             use `file:` or `env:`"
        );
        assert!(!got.contains("hunter2"));
    }

    #[test]
    fn missing_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("n.yaml");
        fs::write(
            &cfg,
            "privacy:\n  pseudonymize:\n    key: { file: missing.key }\n",
        )
        .unwrap();
        let got = load(&cfg).unwrap_err().to_string();
        let want = format!(
            "{}:3:10: privacy.pseudonymize.key: cannot read secret file `{}`: ",
            cfg.display(),
            dir.path().join("missing.key").display()
        );
        assert!(got.starts_with(&want), "\n got: {got}\nwant: {want}");
        assert!(got.contains("No such file or directory"), "{got}");
    }

    #[test]
    fn short_pseudonym_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("k"), "short\n").unwrap();
        let cfg = dir.path().join("n.yaml");
        fs::write(&cfg, "privacy:\n  pseudonymize:\n    key: { file: k }\n").unwrap();
        let got = load(&cfg).unwrap_err().to_string();
        assert!(
            got.ends_with(
                ":3:10: privacy.pseudonymize.key: the key must be at least 16 bytes long"
            ),
            "{got}"
        );
        assert!(!got.contains("short"));
    }

    #[test]
    fn missing_env_var() {
        let name = "NETSENSOR_CONFIG_TEST_UNSET_VARIABLE";
        let text = format!(
            "telemetry:\n  otlp:\n    endpoint: \"http://127.0.0.1:4318/v1/metrics\"\n    \
             headers:\n      authorization: {{ env: {name} }}\n"
        );
        assert_eq!(
            err(&text),
            format!(
                "t.yaml:5:22: telemetry.otlp.headers.authorization: \
                 environment variable `{name}` is not set"
            )
        );
    }

    #[test]
    fn kafka_and_filebeat_output_defaults_and_checks() {
        let c = ok("sensor: { data_directory: /srv/ns }\noutputs: { kafka: { enabled: true }, filebeat: { enabled: true } }\n");
        let kafka = c.outputs.kafka.as_ref().unwrap();
        assert_eq!(kafka.brokers, ["127.0.0.1:9092"]);
        assert_eq!(kafka.topics[1], "netsensor-flow");
        assert_eq!(kafka.compression, "lz4");
        assert_eq!(kafka.spool.dir, Path::new("/srv/ns/spool/kafka"));
        let Some(FilebeatOutputConfig::Tcp { address, spool, .. }) = &c.outputs.filebeat else {
            panic!("{:?}", c.outputs.filebeat)
        };
        assert_eq!(address, "127.0.0.1:5044");
        assert_eq!(spool.dir, Path::new("/srv/ns/spool/filebeat"));
        assert!(c.outputs.sqlite.is_none());
        let again = from_str(&c.to_effective_yaml(), Path::new("t.yaml")).unwrap();
        assert_eq!(again, c);
        let files = ok("sensor: { data_directory: /srv/ns }\noutputs: { filebeat: { enabled: true, mode: files } }\n");
        let Some(FilebeatOutputConfig::Files { directory, .. }) = &files.outputs.filebeat else {
            panic!("{:?}", files.outputs.filebeat)
        };
        assert_eq!(directory, Path::new("/srv/ns/filebeat"));

        for (text, want) in [
            (
                "{ enabled: true, brokers: \"kafka\" }",
                "outputs.kafka.brokers[0]: `kafka` is not host:port",
            ),
            (
                "{ enabled: true, compression: brotli }",
                "outputs.kafka.compression: `brotli` is not one of",
            ),
            (
                "{ enabled: true, topics: { flow: \"a b\" } }",
                "outputs.kafka.topics.flow: `a b` is not a Kafka topic name",
            ),
            (
                "{ enabled: true, security: { protocol: sasl_ssl, username: u } }",
                "outputs.kafka.security: `sasl_ssl` needs",
            ),
            (
                "{ enabled: true, security: { username: u } }",
                "SASL settings need the `sasl_plaintext` or `sasl_ssl` protocol",
            ),
            (
                "{ enabled: true, security: { protocol: tls } }",
                "outputs.kafka.security.protocol: `tls` is not one of",
            ),
        ] {
            let error = err(&format!("outputs: {{ kafka: {text} }}"));
            assert!(error.contains(want), "{text}: {error}");
        }
        let error = err("outputs: { filebeat: { enabled: true, address: nowhere } }");
        assert!(
            error.contains("outputs.filebeat.address: `nowhere` is not host:port"),
            "{error}"
        );
        let error = err("outputs: { filebeat: { enabled: true, mode: udp } }");
        assert!(error.contains("outputs.filebeat.mode"), "{error}");
        let error = err("outputs: { filebeat: { enabled: true, mode: files, prefix: .x } }");
        assert!(error.contains("outputs.filebeat.prefix"), "{error}");
    }

    #[test]
    fn elasticsearch_output_defaults_and_checks() {
        let c = ok(
            "sensor: { data_directory: /srv/ns }\noutputs: { elasticsearch: { enabled: true } }\n",
        );
        let es = c.outputs.elasticsearch.as_ref().unwrap();
        assert_eq!(es.urls, vec!["http://127.0.0.1:9200".to_owned()]);
        assert_eq!(es.namespace, "default");
        assert_eq!(es.spool.dir, Path::new("/srv/ns/spool/elasticsearch"));
        assert_eq!(
            es.dead_letter_path,
            Path::new("/srv/ns/dead-letter/elasticsearch.ndjson")
        );
        assert_eq!(es.batch.max_docs, 5000);
        // The store stays off and packets are the default records, as for other outputs.
        assert!(c.outputs.sqlite.is_none());
        assert_eq!(c.records, RecordKinds::only(RecordKind::Packet));
        let again = from_str(&c.to_effective_yaml(), Path::new("t.yaml")).unwrap();
        assert_eq!(again, c);
        let one = ok("outputs: { elasticsearch: { enabled: true, urls: \"https://es:9200/\" } }");
        assert_eq!(
            one.outputs.elasticsearch.unwrap().urls,
            vec!["https://es:9200".to_owned()]
        );

        assert_err(
            "outputs:\n  elasticsearch: { enabled: true, urls: [\"ftp://x\"] }\n",
            "t.yaml:2:42: outputs.elasticsearch.urls[0]: `ftp://x` is not an http:// or https:// URL",
        );
        assert!(
            err("outputs: { elasticsearch: { enabled: true, urls: \"http://u:p@h\" } }")
                .contains("credentials in the URL are not accepted")
        );
        assert!(
            err("outputs: { elasticsearch: { enabled: true, namespace: Prod-1 } }")
                .contains("outputs.elasticsearch.namespace: `Prod-1` is not a valid")
        );
        assert!(
            err("outputs: { elasticsearch: { enabled: true, username: elastic } }")
                .contains("outputs.elasticsearch.username: needs `password` as well")
        );
        assert!(
            err("outputs: { elasticsearch: { enabled: true, password: secret } }")
                .contains("inline secrets are not accepted")
        );
        assert!(
            err("outputs: { elasticsearch: { enabled: true, max_in_flight: 0 } }")
                .contains("outputs.elasticsearch.max_in_flight: 0 is out of range 1..=64")
        );
        assert!(err(
            "outputs: { elasticsearch: { enabled: true, spool: { max_bytes: 10, segment_bytes: 20 } } }"
        )
        .contains("outputs.elasticsearch.spool.segment_bytes: must not be larger"));
        // Disabled: nothing is checked or read.
        let off = ok("outputs: { elasticsearch: { enabled: false, username: x } }");
        assert!(off.outputs.elasticsearch.is_none());
    }

    #[test]
    fn yaml_syntax_error() {
        assert_err(
            "sensor:\n  name: a: b\n",
            "t.yaml:2:10: syntax error: mapping values are not allowed in this context",
        );
        assert_err(
            "sensor: {}\n---\nrecords: [flow]\n",
            "t.yaml:1:1: syntax error: deserializing from YAML containing more than one document",
        );
    }

    #[test]
    fn missing_file_names_file_and_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.yaml");
        let got = load(&path).unwrap_err().to_string();
        assert_eq!(
            got,
            format!(
                "{}: cannot read the configuration file: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn empty_file_means_defaults() {
        for text in ["", "\n", "# nothing here\n", "---\n", "~\n", "{}\n"] {
            let c = ok(text);
            assert!(c.captures.is_empty(), "{text:?}");
            // No output configured: flows and rollups go to the embedded store.
            let mut store_kinds = RecordKinds::only(RecordKind::Flow);
            store_kinds.insert(RecordKind::Rollup);
            assert_eq!(c.records, store_kinds);
            assert!(c.outputs.sqlite.is_some());
            assert_eq!(
                c.pipeline,
                PipelineConfig {
                    batch_size: 256,
                    queue_batches: 64,
                    workers: 1,
                    overload: OverloadConfig {
                        mode: OverloadMode::Shed,
                        high_watermark: 0.8,
                        low_watermark: 0.5,
                    },
                }
            );
            assert_eq!(
                c.listeners.metrics.unwrap().address,
                "127.0.0.1:9102".parse().unwrap()
            );
            assert!(c.privacy.scrub_urls && c.privacy.pseudonymize.is_none());
            assert!(!c.outputs.stdout.enabled && c.outputs.file.is_none());
            let store = c.outputs.sqlite.as_ref().unwrap();
            assert_eq!(store.path, PathBuf::from("/var/lib/netsensor/netsensor.db"));
            assert_eq!(
                c.listeners.query.as_ref().unwrap().address,
                "127.0.0.1:9103".parse().unwrap()
            );
            assert_eq!(c.sensor.name, host_name());
        }
    }

    #[test]
    fn values_are_typed_and_paths_resolved_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("logs")).unwrap();
        fs::write(dir.path().join("geo.mmdb"), "x").unwrap();
        let cfg = dir.path().join("n.yaml");
        fs::write(
            &cfg,
            "sensor: { name: edge-1 }\n\
             captures: [{ interface: eth0, direction: out, timeout_ms: 250, filter: tcp }]\n\
             records: [rollup, packet]\n\
             enrichment: { geoip: { asn_database: geo.mmdb } }\n\
             outputs: { file: { path: logs/p.ndjson, keep_files: 3 } }\n\
             logging: { format: json, file: { directory: logs } }\n\
             telemetry: { otlp: { endpoint: 'http://c:4318/v1/metrics', interval_secs: 30 } }\n",
        )
        .unwrap();
        let c = load(&cfg).unwrap();
        assert_eq!(c.sensor.name, "edge-1");
        let cap = &c.captures[0];
        assert_eq!(
            (cap.direction, cap.timeout),
            (Direction::Out, Duration::from_millis(250))
        );
        assert_eq!(cap.filter.as_deref(), Some("tcp"));
        assert_eq!(
            c.records.iter().collect::<Vec<_>>(),
            [RecordKind::Packet, RecordKind::Rollup]
        );
        assert_eq!(
            c.enrichment.geoip.asn_database,
            Some(dir.path().join("geo.mmdb"))
        );
        let file = c.outputs.file.unwrap();
        assert_eq!(
            (file.path, file.keep_files),
            (dir.path().join("logs/p.ndjson"), 3)
        );
        assert_eq!(c.logging.file.unwrap().directory, dir.path().join("logs"));
        assert_eq!(c.logging.format, LogFormat::Json);
        assert_eq!(c.telemetry.otlp.unwrap().interval, Duration::from_secs(30));
    }

    #[test]
    fn missing_paths_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("n.yaml");
        fs::write(
            &cfg,
            "enrichment:\n  geoip:\n    city_database: nope.mmdb\n",
        )
        .unwrap();
        let got = load(&cfg).unwrap_err().to_string();
        assert!(
            got.contains(":3:20: enrichment.geoip.city_database: cannot open `"),
            "{got}"
        );
        fs::write(&cfg, "outputs:\n  file: { path: no/dir/p.ndjson }\n").unwrap();
        let got = load(&cfg).unwrap_err().to_string();
        assert!(
            got.contains(":2:17: outputs.file.path: directory `"),
            "{got}"
        );
        fs::write(&cfg, "logging:\n  file:\n    directory: n.yaml\n").unwrap();
        let got = load(&cfg).unwrap_err().to_string();
        assert!(
            got.contains(":3:16: logging.file.directory: `") && got.ends_with("is not a directory"),
            "{got}"
        );
    }

    #[test]
    fn shipped_examples_load() {
        let examples = [
            (
                "netsensor.example.yaml",
                include_str!("../../../dev/config/netsensor.example.yaml"),
            ),
            (
                "replay.yaml",
                include_str!("../../../dev/config/replay.yaml"),
            ),
            (
                "live-lo.yaml",
                include_str!("../../../dev/config/live-lo.yaml"),
            ),
        ];
        for (name, text) in examples {
            let c = from_str(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"));
            // The effective configuration reads back as the same configuration.
            let again = from_str(&c.to_effective_yaml(), Path::new(name)).unwrap();
            assert_eq!(again, c, "{name}");
        }
        let example = from_str(examples[0].1, Path::new("x")).unwrap();
        let defaults = ok("captures: [{ interface: lo, filter: not port 22 }]");
        assert_eq!(example, defaults, "the example must show the defaults");
    }

    #[test]
    fn default_for_replay_matches_its_documentation() {
        let c = Config::default_for_replay();
        assert!(c.outputs.stdout.enabled && c.outputs.file.is_none() && c.outputs.sqlite.is_none());
        assert!(c.captures.is_empty());
        assert!(c.listeners.metrics.is_none() && c.listeners.query.is_none());
        assert_eq!(c.records, RecordKinds::only(RecordKind::Packet));
        assert_eq!(c.sensor.name, host_name());
        assert!(c.logging.file.is_none() && c.telemetry.otlp.is_none());
    }

    #[test]
    fn secrets_never_appear_in_output() {
        let dir = tempfile::tempdir().unwrap();
        let key = "k3y-value-that-must-not-leak-7f3a";
        fs::write(dir.path().join("pseudonym.key"), format!("{key}\n")).unwrap();
        let token = "t0ken-value-that-must-not-leak-91c2";
        fs::write(dir.path().join("token"), token).unwrap();
        let cfg = dir.path().join("n.yaml");
        fs::write(
            &cfg,
            "privacy:\n  pseudonymize:\n    key: { file: pseudonym.key }\n\
             telemetry:\n  otlp:\n    endpoint: http://127.0.0.1:4318/v1/metrics\n    \
             headers: { authorization: { file: token } }\n",
        )
        .unwrap();
        let c = load(&cfg).unwrap();
        assert_eq!(c.privacy.pseudonymize_key(), Some(key.as_bytes()));
        let otlp = c.telemetry.otlp.as_ref().unwrap();
        assert_eq!(otlp.headers["authorization"].expose(), token);
        let effective = c.to_effective_yaml();
        let debug = format!("{c:?}");
        for (what, text) in [("effective YAML", &effective), ("Debug", &debug)] {
            assert!(
                !text.contains(key) && !text.contains(token),
                "{what} leaks: {text}"
            );
            assert_eq!(
                text.matches(crate::config::REDACTED).count(),
                2,
                "{what}: {text}"
            );
        }
        // The redacted value reads back as an inline secret, which is refused.
        let got = from_str(&effective, &cfg).unwrap_err().to_string();
        assert!(
            got.contains("privacy.pseudonymize.key: inline secrets are not accepted"),
            "{got}"
        );
    }

    #[test]
    fn locator_finds_keys_and_values() {
        let text = "a:\n  b: [x, {c: 1}]\n  'd': 2\n";
        assert_eq!(locate(text, "a.b[1].c", false), Some((2, 14)));
        assert_eq!(locate(text, "a.b[1].c", true), Some((2, 11)));
        assert_eq!(locate(text, "a.d", false), Some((3, 8)));
        // Not in the document: its nearest ancestor.
        assert_eq!(locate(text, "a.b[7]", false), Some((2, 6)));
        assert_eq!(locate(text, "zz", false), None);
        assert_eq!(locate(text, "a..[", false), None);
    }
}
