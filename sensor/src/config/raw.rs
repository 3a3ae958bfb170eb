//! The configuration file exactly as written in YAML.
//!
//! These serde types are the first of two stages (see `resolve` for the second): they accept
//! what the user wrote, refuse unknown keys, fill in defaults and do nothing else. Every field
//! carries its documentation, its default is a named `default_*` function, and names carry
//! their unit (`_ms`, `_secs`, `_bytes`). `docs/configuration.md` and
//! `dev/config/netsensor.example.yaml` describe the same keys; tests keep them in sync with
//! [`KEY_PATHS`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secret::SecretRef;

/// Every key path of the configuration file, parents before children; `[]` stands for "each
/// list element". Kept in sync with the types below by a test, and checked against the docs.
pub const KEY_PATHS: &[&str] = &[
    "sensor",
    "sensor.name",
    "sensor.data_directory",
    "captures",
    "captures[].interface",
    "captures[].interfaces",
    "captures[].rescan_interval_ms",
    "captures[].promiscuous",
    "captures[].direction",
    "captures[].filter",
    "captures[].snaplen_bytes",
    "captures[].buffer_size_bytes",
    "captures[].immediate",
    "captures[].timeout_ms",
    "captures[].decapsulate",
    "captures[].backend",
    "captures[].af_packet",
    "captures[].af_packet.block_size_bytes",
    "captures[].af_packet.block_count",
    "captures[].af_packet.block_timeout_ms",
    "captures[].af_packet.fanout_group",
    "tunnels",
    "tunnels.decapsulate",
    "tunnels.max_depth",
    "tunnels.vxlan_ports",
    "tunnels.geneve_ports",
    "records",
    "enrichment",
    "enrichment.community_id_seed",
    "enrichment.os_guess",
    "enrichment.app_layer",
    "enrichment.geoip",
    "enrichment.geoip.country_database",
    "enrichment.geoip.city_database",
    "enrichment.geoip.asn_database",
    "privacy",
    "privacy.scrub_urls",
    "privacy.pseudonymize",
    "privacy.pseudonymize.key",
    "rollups",
    "rollups.interval_ms",
    "rollups.top_n",
    "flows",
    "flows.idle_timeout_secs",
    "flows.active_timeout_secs",
    "flows.linger_ms",
    "flows.max_flows",
    "pipeline",
    "pipeline.batch_size",
    "pipeline.queue_batches",
    "pipeline.workers",
    "pipeline.overload",
    "pipeline.overload.mode",
    "pipeline.overload.high_watermark",
    "pipeline.overload.low_watermark",
    "outputs",
    "outputs.stdout",
    "outputs.stdout.enabled",
    "outputs.file",
    "outputs.file.path",
    "outputs.file.rotate_bytes",
    "outputs.file.keep_files",
    "outputs.sqlite",
    "outputs.sqlite.enabled",
    "outputs.sqlite.path",
    "outputs.sqlite.retention_secs",
    "outputs.sqlite.max_bytes",
    "outputs.elasticsearch",
    "outputs.elasticsearch.enabled",
    "outputs.elasticsearch.urls",
    "outputs.elasticsearch.namespace",
    "outputs.elasticsearch.username",
    "outputs.elasticsearch.password",
    "outputs.elasticsearch.api_key",
    "outputs.elasticsearch.ca_file",
    "outputs.elasticsearch.batch",
    "outputs.elasticsearch.batch.max_docs",
    "outputs.elasticsearch.batch.max_bytes",
    "outputs.elasticsearch.batch.max_wait_ms",
    "outputs.elasticsearch.max_in_flight",
    "outputs.elasticsearch.request_timeout_ms",
    "outputs.elasticsearch.retry",
    "outputs.elasticsearch.retry.initial_backoff_ms",
    "outputs.elasticsearch.retry.max_backoff_ms",
    "outputs.elasticsearch.memory_queue_bytes",
    "outputs.elasticsearch.shutdown_timeout_ms",
    "outputs.elasticsearch.spool",
    "outputs.elasticsearch.spool.dir",
    "outputs.elasticsearch.spool.max_bytes",
    "outputs.elasticsearch.spool.segment_bytes",
    "outputs.elasticsearch.dead_letter_path",
    "outputs.kafka",
    "outputs.kafka.enabled",
    "outputs.kafka.brokers",
    "outputs.kafka.topics",
    "outputs.kafka.topics.packet",
    "outputs.kafka.topics.flow",
    "outputs.kafka.topics.rollup",
    "outputs.kafka.compression",
    "outputs.kafka.linger_ms",
    "outputs.kafka.batch_bytes",
    "outputs.kafka.message_timeout_ms",
    "outputs.kafka.memory_queue_bytes",
    "outputs.kafka.shutdown_timeout_ms",
    "outputs.kafka.client_id",
    "outputs.kafka.security",
    "outputs.kafka.security.protocol",
    "outputs.kafka.security.ca_file",
    "outputs.kafka.security.cert_file",
    "outputs.kafka.security.key_file",
    "outputs.kafka.security.sasl_mechanism",
    "outputs.kafka.security.username",
    "outputs.kafka.security.password",
    "outputs.kafka.properties",
    "outputs.kafka.spool",
    "outputs.kafka.spool.dir",
    "outputs.kafka.spool.max_bytes",
    "outputs.kafka.spool.segment_bytes",
    "outputs.filebeat",
    "outputs.filebeat.enabled",
    "outputs.filebeat.mode",
    "outputs.filebeat.address",
    "outputs.filebeat.timeout_ms",
    "outputs.filebeat.retry",
    "outputs.filebeat.retry.initial_backoff_ms",
    "outputs.filebeat.retry.max_backoff_ms",
    "outputs.filebeat.memory_queue_bytes",
    "outputs.filebeat.resend_bytes",
    "outputs.filebeat.shutdown_timeout_ms",
    "outputs.filebeat.spool",
    "outputs.filebeat.spool.dir",
    "outputs.filebeat.spool.max_bytes",
    "outputs.filebeat.spool.segment_bytes",
    "outputs.filebeat.directory",
    "outputs.filebeat.prefix",
    "outputs.filebeat.rotate_bytes",
    "outputs.filebeat.rotate_age_ms",
    "listeners",
    "listeners.metrics",
    "listeners.metrics.address",
    "listeners.query",
    "listeners.query.address",
    "logging",
    "logging.level",
    "logging.format",
    "logging.file",
    "logging.file.directory",
    "logging.file.rotate_bytes",
    "logging.file.keep_files",
    "telemetry",
    "telemetry.otlp",
    "telemetry.otlp.endpoint",
    "telemetry.otlp.interval_secs",
    "telemetry.otlp.headers",
];

/// Key paths whose value is a map with user-chosen keys (not further key paths).
pub const USER_MAPS: &[&str] = &["telemetry.otlp.headers", "outputs.kafka.properties"];

/// The whole configuration file. Every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "configuration")]
pub struct RawConfig {
    /// Identity of this sensor.
    pub sensor: SensorSection,
    /// Live captures, one capture thread each. Ignored by `netsensor replay`.
    pub captures: Vec<CaptureSection>,
    /// Tunnel decapsulation, for live captures and replay alike.
    pub tunnels: TunnelsSection,
    /// Which record kinds to emit: `packet`, `flow`, `rollup`. Non-empty, no repeats.
    /// Default (`null`): `[packet]` when an output is configured, else `[flow, rollup]`
    /// into the embedded store.
    pub records: Option<Vec<RecordName>>,
    /// What is added to each record beyond the decoded headers.
    pub enrichment: EnrichmentSection,
    /// Privacy protections applied before records leave the sensor.
    pub privacy: PrivacySection,
    /// Interval rollups.
    pub rollups: RollupsSection,
    /// The flow table behind flow records.
    pub flows: FlowsSection,
    /// Batching and queueing between capture and output.
    pub pipeline: PipelineSection,
    /// Where records are written.
    pub outputs: OutputsSection,
    /// Network listeners of the sensor itself.
    pub listeners: ListenersSection,
    /// The sensor's own log.
    pub logging: LoggingSection,
    /// The sensor's own metrics pushed elsewhere.
    pub telemetry: TelemetrySection,
}

/// Default for `records`: flows and rollups when the embedded store is the only output,
/// else packet records.
pub fn default_records(store_only: bool) -> Vec<RecordName> {
    if store_only {
        vec![RecordName::Flow, RecordName::Rollup]
    } else {
        vec![RecordName::Packet]
    }
}

/// `sensor`: identity of this sensor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "sensor section")]
pub struct SensorSection {
    /// Written as `observer.name`. Default (`null`): the host name.
    pub name: Option<String>,
    /// Where the sensor keeps state: the embedded store by default.
    pub data_directory: PathBuf,
}

/// Default for `sensor.data_directory`.
pub fn default_data_directory() -> PathBuf {
    PathBuf::from("/var/lib/netsensor")
}

impl Default for SensorSection {
    fn default() -> Self {
        SensorSection {
            name: None,
            data_directory: default_data_directory(),
        }
    }
}

/// `captures[]`: one live capture.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "capture")]
pub struct CaptureSection {
    /// Interface name as libpcap knows it (`eth0`, `any`), or a glob (`eth*`). Exactly one
    /// of `interface` and `interfaces` is required.
    #[serde(default)]
    pub interface: Option<String>,
    /// Interface globs; a leading `!` excludes (`["eth*", "!docker*"]`). Re-evaluated every
    /// `rescan_interval_ms`, so interfaces that appear later are captured too.
    #[serde(default)]
    pub interfaces: Option<Vec<String>>,
    /// How often globs are re-evaluated (100..=3600000).
    #[serde(default = "default_rescan_interval_ms")]
    pub rescan_interval_ms: u32,
    /// Put the interface in promiscuous mode.
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    /// Which direction of traffic to capture: `in`, `out` or `inout`.
    #[serde(default)]
    pub direction: Direction,
    /// BPF filter expression, compiled when the capture starts. Default (`null`): everything.
    #[serde(default)]
    pub filter: Option<String>,
    /// Bytes kept of each frame (64..=262144).
    #[serde(default = "default_snaplen_bytes")]
    pub snaplen_bytes: u32,
    /// Kernel capture buffer size (1..=2147483647), libpcap backend.
    #[serde(default = "default_buffer_size_bytes")]
    pub buffer_size_bytes: u32,
    /// Deliver frames as soon as they arrive instead of when the buffer fills.
    #[serde(default)]
    pub immediate: bool,
    /// libpcap read timeout (1..=60000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Decode inside tunnels (VXLAN, GENEVE, GRE, ERSPAN, MPLS, IP-in-IP). Default (`null`):
    /// `tunnels.decapsulate`.
    #[serde(default)]
    pub decapsulate: Option<bool>,
    /// Capture backend: `pcap` (libpcap, portable) or `af_packet` (Linux TPACKET_V3 rings
    /// with fanout, one ring per pipeline worker).
    #[serde(default)]
    pub backend: CaptureBackendName,
    /// Ring settings of the `af_packet` backend.
    #[serde(default)]
    pub af_packet: AfPacketSection,
}

/// Default for `captures[].rescan_interval_ms`: 5 s.
pub const fn default_rescan_interval_ms() -> u32 {
    5_000
}

/// `captures[].backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureBackendName {
    /// libpcap.
    #[default]
    Pcap,
    /// Linux AF_PACKET TPACKET_V3.
    AfPacket,
}

/// `captures[].af_packet`: the TPACKET_V3 ring of each fanout socket.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "af_packet section")]
pub struct AfPacketSection {
    /// Bytes per ring block: a power of two, at least the page size (4096..=134217728).
    pub block_size_bytes: u32,
    /// Blocks per ring (1..=65536); ring memory is `block_size_bytes × block_count` per worker.
    pub block_count: u32,
    /// Longest a partly filled block waits before it is handed over (1..=60000).
    pub block_timeout_ms: u32,
    /// Fanout group id (0..=65535). Default (`null`): an unused id the kernel picks
    /// (PACKET_FANOUT_FLAG_UNIQUEID), so two sensors on one host never join each other's
    /// group.
    pub fanout_group: Option<u16>,
}

impl Default for AfPacketSection {
    fn default() -> Self {
        AfPacketSection {
            block_size_bytes: 1 << 20,
            block_count: 64,
            block_timeout_ms: 10,
            fanout_group: None,
        }
    }
}

/// `tunnels`: decapsulation of mirrored and overlay traffic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "tunnels section")]
pub struct TunnelsSection {
    /// Report the innermost packet of tunnelled traffic (the outer layer goes to
    /// `netsensor.tunnel.*`). Captures may override it.
    pub decapsulate: bool,
    /// Encapsulation layers removed at most (1..=8).
    pub max_depth: u8,
    /// UDP destination ports decoded as VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP destination ports decoded as GENEVE.
    pub geneve_ports: Vec<u16>,
}

impl Default for TunnelsSection {
    fn default() -> Self {
        TunnelsSection {
            decapsulate: true,
            max_depth: 4,
            vxlan_ports: vec![4789],
            geneve_ports: vec![6081],
        }
    }
}

/// Default for boolean options that are on unless switched off.
pub const fn default_true() -> bool {
    true
}

/// Default for `captures[].snaplen_bytes`: the whole frame for any common link (libpcap's
/// own default is 262144; 65535 is tcpdump's historical value and covers jumbo-less links).
pub const fn default_snaplen_bytes() -> u32 {
    65_535
}

/// Default for `captures[].buffer_size_bytes`: 16 MiB.
pub const fn default_buffer_size_bytes() -> u32 {
    16 * 1024 * 1024
}

/// Default for `captures[].timeout_ms`: 100 ms, short enough for a prompt shutdown.
pub const fn default_timeout_ms() -> u32 {
    100
}

/// Traffic direction captured on an interface (libpcap `pcap_setdirection`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Frames received by the interface.
    In,
    /// Frames sent by the interface.
    Out,
    /// Both directions.
    #[default]
    InOut,
}

impl Direction {
    /// The `network.direction` every frame of such a capture has, when it sees only one
    /// direction.
    pub const fn fixed_network_direction(self) -> Option<&'static str> {
        match self {
            Direction::In => Some("ingress"),
            Direction::Out => Some("egress"),
            Direction::InOut => None,
        }
    }
}

/// A record kind as written in `records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordName {
    /// One record per frame.
    Packet,
    /// One record per flow.
    Flow,
    /// One record per interval, dimension and key.
    Rollup,
}

/// `enrichment`: what is added to each record beyond the decoded headers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "enrichment section")]
pub struct EnrichmentSection {
    /// Community ID v1 seed (0..=65535); must match the other tools you correlate with.
    pub community_id_seed: u16,
    /// Guess the sender's operating system from TTL and TCP SYN options.
    pub os_guess: bool,
    /// Add DNS, TLS and HTTP summaries.
    pub app_layer: bool,
    /// MaxMind GeoIP databases.
    pub geoip: GeoIpSection,
}

impl Default for EnrichmentSection {
    fn default() -> Self {
        EnrichmentSection {
            community_id_seed: 0,
            os_guess: default_true(),
            app_layer: default_true(),
            geoip: GeoIpSection::default(),
        }
    }
}

/// `enrichment.geoip`: paths to `.mmdb` files; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "geoip section")]
pub struct GeoIpSection {
    /// GeoLite2/GeoIP2 Country database (`null`: no country lookup).
    pub country_database: Option<PathBuf>,
    /// GeoLite2/GeoIP2 City database (`null`: no city lookup).
    pub city_database: Option<PathBuf>,
    /// GeoLite2 ASN database (`null`: no AS lookup).
    pub asn_database: Option<PathBuf>,
}

/// `privacy`: protections applied before records leave the sensor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "privacy section")]
pub struct PrivacySection {
    /// Scrub credentials and secret query values from URLs.
    pub scrub_urls: bool,
    /// Replace IP addresses by keyed HMAC pseudonyms (`null`: keep addresses).
    pub pseudonymize: Option<PseudonymizeSection>,
}

impl Default for PrivacySection {
    fn default() -> Self {
        PrivacySection {
            scrub_urls: default_true(),
            pseudonymize: None,
        }
    }
}

/// `privacy.pseudonymize`: keyed pseudonyms for IP addresses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "pseudonymize section")]
pub struct PseudonymizeSection {
    /// HMAC key, `{ file: PATH }` or `{ env: NAME }`; at least 16 bytes.
    pub key: SecretRef,
}

/// `rollups`: interval statistics.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "rollups section")]
pub struct RollupsSection {
    /// Interval length, 500..=86400000 ms.
    pub interval_ms: u64,
    /// Top destinations by bytes per interval, 0..=10000 (0 disables the dimension).
    pub top_n: u32,
}

/// Default for `rollups.interval_ms`.
pub const fn default_rollup_interval_ms() -> u64 {
    10_000
}

/// Default for `rollups.top_n`.
pub const fn default_top_n() -> u32 {
    20
}

impl Default for RollupsSection {
    fn default() -> Self {
        RollupsSection {
            interval_ms: default_rollup_interval_ms(),
            top_n: default_top_n(),
        }
    }
}

/// `flows`: the flow table behind flow records.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "flows section")]
pub struct FlowsSection {
    /// A flow without packets for this long ends (`idle_timeout`), 1..=86400.
    pub idle_timeout_secs: u32,
    /// A long flow emits an interim record this often (`active_timeout`), 1..=86400.
    pub active_timeout_secs: u32,
    /// How long a connection closed by FIN or RST is kept to absorb its last packets,
    /// 0..=60000.
    pub linger_ms: u32,
    /// Most flows held at once; when full, the oldest idle flows are exported early
    /// (`evicted`). About 150 bytes of memory each.
    pub max_flows: u32,
}

/// Default for `flows.idle_timeout_secs`.
pub const fn default_idle_timeout_secs() -> u32 {
    30
}

/// Default for `flows.active_timeout_secs`.
pub const fn default_active_timeout_secs() -> u32 {
    300
}

/// Default for `flows.linger_ms`.
pub const fn default_linger_ms() -> u32 {
    1000
}

/// Default for `flows.max_flows`.
pub const fn default_max_flows() -> u32 {
    262_144
}

impl Default for FlowsSection {
    fn default() -> Self {
        FlowsSection {
            idle_timeout_secs: default_idle_timeout_secs(),
            active_timeout_secs: default_active_timeout_secs(),
            linger_ms: default_linger_ms(),
            max_flows: default_max_flows(),
        }
    }
}

/// `pipeline`: batching and queueing between capture and output.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "pipeline section")]
pub struct PipelineSection {
    /// Frames per batch (> 0).
    pub batch_size: u32,
    /// Batches held in the bounded queue between capture and output (> 0).
    pub queue_batches: u32,
    /// Processing workers: `auto` (one per core) or a number (1..=256). A flow stays on one
    /// worker (by a direction-free hash of its innermost key).
    pub workers: WorkersSetting,
    /// What a full queue does.
    pub overload: OverloadSection,
}

/// `pipeline.workers`: `auto` or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkersSetting {
    /// A fixed number of workers.
    Count(u32),
    /// `auto`: one per available core.
    Auto,
}

impl Default for WorkersSetting {
    fn default() -> Self {
        WorkersSetting::Count(1)
    }
}

impl Serialize for WorkersSetting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WorkersSetting::Count(n) => serializer.serialize_u32(*n),
            WorkersSetting::Auto => serializer.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for WorkersSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WorkersSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`auto` or a number of workers")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(WorkersSetting::Count)
                    .map_err(|_| E::custom(format!("{v} workers is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a number of workers")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(WorkersSetting::Auto),
                    other => Err(E::custom(format!(
                        "`{other}` is neither `auto` nor a number of workers"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `pipeline.overload`: load shedding when a worker's queue fills.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "overload section")]
pub struct OverloadSection {
    /// `shed` (flow-consistent sampling, counted) or `block` (the capture waits; the kernel
    /// drops instead). Replay blocks unless run with `--overload shed`.
    pub mode: OverloadModeName,
    /// Queue fill (0..1) above which sampling starts.
    pub high_watermark: f64,
    /// Queue fill (0..1, below the high watermark) under which sampling stops.
    pub low_watermark: f64,
}

/// `pipeline.overload.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverloadModeName {
    /// Flow-consistent sampling.
    #[default]
    Shed,
    /// Back-pressure.
    Block,
}

impl Default for OverloadSection {
    fn default() -> Self {
        OverloadSection {
            mode: OverloadModeName::Shed,
            high_watermark: 0.8,
            low_watermark: 0.5,
        }
    }
}

/// Default for `pipeline.batch_size`.
pub const fn default_batch_size() -> u32 {
    256
}

/// Default for `pipeline.queue_batches`.
pub const fn default_queue_batches() -> u32 {
    64
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            batch_size: default_batch_size(),
            queue_batches: default_queue_batches(),
            workers: WorkersSetting::default(),
            overload: OverloadSection::default(),
        }
    }
}

/// `outputs`: where records are written. Each output is its own field, so adding one is adding
/// a field here and a section in `resolve`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs section")]
pub struct OutputsSection {
    /// NDJSON records on standard output.
    pub stdout: StdoutOutputSection,
    /// NDJSON records in a size-rotated file.
    pub file: FileOutputSection,
    /// Flows and rollups in the embedded SQLite store.
    pub sqlite: SqliteOutputSection,
    /// `_bulk` into Elasticsearch or OpenSearch data streams.
    pub elasticsearch: ElasticsearchOutputSection,
    /// Records to Kafka, a topic per kind.
    pub kafka: KafkaOutputSection,
    /// Records for Filebeat: NDJSON over TCP, or rotated NDJSON files.
    pub filebeat: FilebeatOutputSection,
}

/// `outputs.kafka`: each record one message, keyed by `network.community_id`, through an
/// idempotent librdkafka producer (`acks=all`), with a disk spool (docs/kafka.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs.kafka section")]
pub struct KafkaOutputSection {
    /// Send records to Kafka.
    pub enabled: bool,
    /// Bootstrap brokers, `host:port`; one may be written as a string.
    #[serde(deserialize_with = "one_or_many")]
    pub brokers: Vec<String>,
    /// Topic per record kind.
    pub topics: KafkaTopicsSection,
    /// `lz4`, `zstd`, `snappy`, `gzip` or `none`.
    pub compression: String,
    /// How long a batch may wait to fill.
    pub linger_ms: u64,
    /// Bytes per partition batch (> 0).
    pub batch_bytes: u64,
    /// After this without an acknowledgement, a record goes to the spool (> 0).
    pub message_timeout_ms: u64,
    /// librdkafka's queue; beyond it records go to the spool (>= 1024).
    pub memory_queue_bytes: u64,
    /// On shutdown, how long delivery may take before the rest is spooled.
    pub shutdown_timeout_ms: u64,
    /// `client.id` the brokers log.
    pub client_id: String,
    /// TLS and SASL.
    pub security: KafkaSecuritySection,
    /// Further librdkafka properties (strings), applied last.
    pub properties: BTreeMap<String, String>,
    /// The disk spool.
    pub spool: OutputSpoolSection,
}

impl Default for KafkaOutputSection {
    fn default() -> Self {
        KafkaOutputSection {
            enabled: false,
            brokers: vec!["127.0.0.1:9092".to_owned()],
            topics: KafkaTopicsSection::default(),
            compression: "lz4".to_owned(),
            linger_ms: 20,
            batch_bytes: 1 << 20,
            message_timeout_ms: 300_000,
            memory_queue_bytes: 256 * 1024 * 1024,
            shutdown_timeout_ms: 10_000,
            client_id: "netsensor".to_owned(),
            security: KafkaSecuritySection::default(),
            properties: BTreeMap::new(),
            spool: OutputSpoolSection::default(),
        }
    }
}

/// `outputs.kafka.topics`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs.kafka.topics section")]
pub struct KafkaTopicsSection {
    /// Topic of packet records.
    pub packet: String,
    /// Topic of flow records.
    pub flow: String,
    /// Topic of rollup records.
    pub rollup: String,
}

impl Default for KafkaTopicsSection {
    fn default() -> Self {
        KafkaTopicsSection {
            packet: "netsensor-packet".to_owned(),
            flow: "netsensor-flow".to_owned(),
            rollup: "netsensor-rollup".to_owned(),
        }
    }
}

/// `outputs.kafka.security`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    default,
    rename = "outputs.kafka.security section"
)]
pub struct KafkaSecuritySection {
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub protocol: String,
    /// PEM file of the CA that signed the brokers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with a `sasl_*` protocol).
    pub sasl_mechanism: Option<String>,
    /// SASL user.
    pub username: Option<String>,
    /// SASL password, `{ file: PATH }` or `{ env: NAME }`.
    pub password: Option<SecretRef>,
}

impl Default for KafkaSecuritySection {
    fn default() -> Self {
        KafkaSecuritySection {
            protocol: "plaintext".to_owned(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            sasl_mechanism: None,
            username: None,
            password: None,
        }
    }
}

/// The disk spool of the Kafka and Filebeat outputs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "spool section")]
pub struct OutputSpoolSection {
    /// Directory of the segments. Default (`null`): `spool/<output>` in
    /// `sensor.data_directory`.
    pub dir: Option<PathBuf>,
    /// Largest size; beyond it the newest records are dropped and counted.
    pub max_bytes: u64,
    /// Size of one segment file (> 0, <= `max_bytes`).
    pub segment_bytes: u64,
}

impl Default for OutputSpoolSection {
    fn default() -> Self {
        OutputSpoolSection {
            dir: None,
            max_bytes: 1 << 30,
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `outputs.filebeat.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilebeatMode {
    /// NDJSON over TCP to a Filebeat `tcp` input.
    Tcp,
    /// Rotated NDJSON files for a `filestream` input.
    Files,
}

/// `outputs.filebeat`: records for Filebeat (docs/filebeat.md, filebeat/filebeat.yml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs.filebeat section")]
pub struct FilebeatOutputSection {
    /// Write records for Filebeat.
    pub enabled: bool,
    /// `tcp` or `files`.
    pub mode: FilebeatMode,
    /// tcp: `host:port` of Filebeat's tcp input.
    pub address: String,
    /// tcp: timeout of a connection attempt and of a write (> 0).
    pub timeout_ms: u64,
    /// tcp: backoff between connection attempts.
    pub retry: FilebeatRetrySection,
    /// tcp: records held in memory; beyond this they go to the spool.
    pub memory_queue_bytes: u64,
    /// tcp: bytes last written that are written again after a reconnect.
    pub resend_bytes: u64,
    /// tcp: on shutdown, how long delivery may take before the rest is spooled.
    pub shutdown_timeout_ms: u64,
    /// tcp: the disk spool.
    pub spool: OutputSpoolSection,
    /// files: directory of the files. Default (`null`): `filebeat` in
    /// `sensor.data_directory`.
    pub directory: Option<PathBuf>,
    /// files: file name prefix.
    pub prefix: String,
    /// files: a file is closed at this size (> 0).
    pub rotate_bytes: u64,
    /// files: a file is closed at this age (> 0).
    pub rotate_age_ms: u64,
}

impl Default for FilebeatOutputSection {
    fn default() -> Self {
        FilebeatOutputSection {
            enabled: false,
            mode: FilebeatMode::Tcp,
            address: "127.0.0.1:5044".to_owned(),
            timeout_ms: 10_000,
            retry: FilebeatRetrySection::default(),
            memory_queue_bytes: 64 * 1024 * 1024,
            resend_bytes: 8 * 1024 * 1024,
            shutdown_timeout_ms: 10_000,
            spool: OutputSpoolSection::default(),
            directory: None,
            prefix: "netsensor".to_owned(),
            rotate_bytes: 64 * 1024 * 1024,
            rotate_age_ms: 10_000,
        }
    }
}

/// `outputs.filebeat.retry`: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    default,
    rename = "outputs.filebeat.retry section"
)]
pub struct FilebeatRetrySection {
    /// First backoff (> 0).
    pub initial_backoff_ms: u64,
    /// Longest backoff (>= `initial_backoff_ms`).
    pub max_backoff_ms: u64,
}

impl Default for FilebeatRetrySection {
    fn default() -> Self {
        FilebeatRetrySection {
            initial_backoff_ms: 100,
            max_backoff_ms: 10_000,
        }
    }
}

/// `outputs.elasticsearch`: records into the data streams `logs-netsensor.<kind>-<namespace>`
/// of Elasticsearch or OpenSearch, with retries, a dead-letter file and a disk spool.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs.elasticsearch section")]
pub struct ElasticsearchOutputSection {
    /// Send records to the cluster.
    pub enabled: bool,
    /// Base URLs of the cluster's nodes (`http://` or `https://`); requests go to the
    /// first that answers. One URL may be written as a string.
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// The data stream namespace: lower case, no `-`.
    pub namespace: String,
    /// User for HTTP basic authentication (`null`: none); needs `password`.
    pub username: Option<String>,
    /// Password of `username`, `{ file: PATH }` or `{ env: NAME }`.
    pub password: Option<SecretRef>,
    /// API key in its encoded form, `{ file: PATH }` or `{ env: NAME }` (instead of a user).
    pub api_key: Option<SecretRef>,
    /// PEM file of the CA that signed the cluster's certificate (`null`: system roots).
    pub ca_file: Option<PathBuf>,
    /// When a `_bulk` request is sent.
    pub batch: ElasticsearchBatchSection,
    /// Most `_bulk` requests waiting for an answer at once (1..=64).
    pub max_in_flight: u32,
    /// Timeout of one `_bulk` request (> 0).
    pub request_timeout_ms: u64,
    /// Backoff between retries.
    pub retry: ElasticsearchRetrySection,
    /// Records held in memory for the cluster; beyond this they go to the spool.
    pub memory_queue_bytes: u64,
    /// On shutdown, how long records in memory may take to be delivered before they are
    /// spooled instead.
    pub shutdown_timeout_ms: u64,
    /// The disk spool for records the cluster cannot take now.
    pub spool: ElasticsearchSpoolSection,
    /// NDJSON file of records the cluster rejected, with the error. Default (`null`):
    /// `dead-letter/elasticsearch.ndjson` in `sensor.data_directory`.
    pub dead_letter_path: Option<PathBuf>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    })
}

/// Default for `outputs.elasticsearch.urls`.
pub fn default_elasticsearch_urls() -> Vec<String> {
    vec!["http://127.0.0.1:9200".to_owned()]
}

/// Default for `outputs.elasticsearch.namespace`.
pub fn default_namespace() -> String {
    "default".to_owned()
}

impl Default for ElasticsearchOutputSection {
    fn default() -> Self {
        ElasticsearchOutputSection {
            enabled: false,
            urls: default_elasticsearch_urls(),
            namespace: default_namespace(),
            username: None,
            password: None,
            api_key: None,
            ca_file: None,
            batch: ElasticsearchBatchSection::default(),
            max_in_flight: 2,
            request_timeout_ms: 60_000,
            retry: ElasticsearchRetrySection::default(),
            memory_queue_bytes: 64 * 1024 * 1024,
            shutdown_timeout_ms: 5_000,
            spool: ElasticsearchSpoolSection::default(),
            dead_letter_path: None,
        }
    }
}

/// `outputs.elasticsearch.batch`: a `_bulk` request goes out when it has `max_docs` records
/// or `max_bytes` bytes, or when its first record has waited `max_wait_ms`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    default,
    rename = "outputs.elasticsearch.batch section"
)]
pub struct ElasticsearchBatchSection {
    /// Records per request (> 0).
    pub max_docs: u32,
    /// Bytes per request (> 0); one record larger than this goes alone.
    pub max_bytes: u64,
    /// Longest wait for a request to fill (> 0).
    pub max_wait_ms: u64,
}

impl Default for ElasticsearchBatchSection {
    fn default() -> Self {
        ElasticsearchBatchSection {
            max_docs: 5_000,
            max_bytes: 5 * 1024 * 1024,
            max_wait_ms: 1_000,
        }
    }
}

/// `outputs.elasticsearch.retry`: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    default,
    rename = "outputs.elasticsearch.retry section"
)]
pub struct ElasticsearchRetrySection {
    /// First backoff (> 0).
    pub initial_backoff_ms: u64,
    /// Longest backoff (>= `initial_backoff_ms`).
    pub max_backoff_ms: u64,
}

impl Default for ElasticsearchRetrySection {
    fn default() -> Self {
        ElasticsearchRetrySection {
            initial_backoff_ms: 100,
            max_backoff_ms: 30_000,
        }
    }
}

/// `outputs.elasticsearch.spool`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    default,
    rename = "outputs.elasticsearch.spool section"
)]
pub struct ElasticsearchSpoolSection {
    /// Directory of the spool segments. Default (`null`): `spool/elasticsearch` in
    /// `sensor.data_directory`.
    pub dir: Option<PathBuf>,
    /// Largest size of the spool; beyond it the newest records are dropped and counted.
    pub max_bytes: u64,
    /// Size of one segment file (> 0, <= `max_bytes`).
    pub segment_bytes: u64,
}

impl Default for ElasticsearchSpoolSection {
    fn default() -> Self {
        ElasticsearchSpoolSection {
            dir: None,
            max_bytes: 1 << 30,
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `outputs.sqlite`: the embedded store of flows and rollups, queried by `netsensor query`
/// and `GET /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "outputs.sqlite section")]
pub struct SqliteOutputSection {
    /// `true`, `false`, or `null` (default): on when no other output is enabled.
    pub enabled: Option<bool>,
    /// Database file. Default (`null`): `netsensor.db` in `sensor.data_directory`.
    pub path: Option<PathBuf>,
    /// Keep rows at most this long before the newest record; 0 keeps everything.
    pub retention_secs: u64,
    /// Largest size of the database; the oldest rows go first. 0: no limit.
    pub max_bytes: u64,
}

/// Default for `outputs.sqlite.retention_secs` (7 days).
pub const fn default_retention_secs() -> u64 {
    604_800
}

/// Default for `outputs.sqlite.max_bytes` (1 GiB).
pub const fn default_store_max_bytes() -> u64 {
    1 << 30
}

impl Default for SqliteOutputSection {
    fn default() -> Self {
        SqliteOutputSection {
            enabled: None,
            path: None,
            retention_secs: default_retention_secs(),
            max_bytes: default_store_max_bytes(),
        }
    }
}

/// `outputs.stdout`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "stdout output")]
pub struct StdoutOutputSection {
    /// Write records to standard output.
    pub enabled: bool,
}

/// `outputs.file`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "file output")]
pub struct FileOutputSection {
    /// File to write (`null`: output disabled).
    pub path: Option<PathBuf>,
    /// Rotate when the file reaches this size (> 0).
    pub rotate_bytes: u64,
    /// Rotated files kept besides the current one (> 0).
    pub keep_files: u32,
}

/// Default for `outputs.file.rotate_bytes`: 100 MiB.
pub const fn default_output_rotate_bytes() -> u64 {
    100 * 1024 * 1024
}

/// Default for `outputs.file.keep_files`.
pub const fn default_output_keep_files() -> u32 {
    10
}

impl Default for FileOutputSection {
    fn default() -> Self {
        FileOutputSection {
            path: None,
            rotate_bytes: default_output_rotate_bytes(),
            keep_files: default_output_keep_files(),
        }
    }
}

/// `listeners`: network listeners of the sensor itself.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "listeners section")]
pub struct ListenersSection {
    /// HTTP listener for `/metrics`, `/healthz` and `/readyz` (`null`: disabled).
    pub metrics: Option<MetricsListenerSection>,
    /// HTTP listener for `GET /query` on the embedded store (`null`: disabled). It serves
    /// addresses and names: keep it on loopback unless you mean to expose them.
    pub query: Option<QueryListenerSection>,
}

/// `listeners.query`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "listeners.query section")]
pub struct QueryListenerSection {
    /// `IP:PORT` to bind. Default `127.0.0.1:9103`.
    #[serde(default = "default_query_address")]
    pub address: String,
}

/// Default for `listeners.query.address`.
pub fn default_query_address() -> String {
    "127.0.0.1:9103".to_owned()
}

impl Default for ListenersSection {
    fn default() -> Self {
        ListenersSection {
            metrics: Some(MetricsListenerSection::default()),
            query: Some(QueryListenerSection {
                address: default_query_address(),
            }),
        }
    }
}

/// `listeners.metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "metrics listener")]
pub struct MetricsListenerSection {
    /// Socket address to listen on, `IP:PORT` (IPv6 as `[::1]:9102`).
    pub address: String,
}

/// Default for `listeners.metrics.address`: loopback only.
pub fn default_metrics_address() -> String {
    "127.0.0.1:9102".to_owned()
}

impl Default for MetricsListenerSection {
    fn default() -> Self {
        MetricsListenerSection {
            address: default_metrics_address(),
        }
    }
}

/// `logging`: the sensor's own log (to standard error unless `file` is set).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "logging section")]
pub struct LoggingSection {
    /// `error`, `warn`, `info`, `debug`, `trace`, or an EnvFilter directive list such as
    /// `info,netsensor::capture=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Log to size-rotated files in a directory (`null`: standard error).
    pub file: Option<LogFileSection>,
}

/// Default for `logging.level`.
pub fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            level: default_log_level(),
            format: LogFormat::default(),
            file: None,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `logging.file`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "log file section")]
pub struct LogFileSection {
    /// Directory for the log files. Required.
    pub directory: PathBuf,
    /// Rotate when the current log file reaches this size (> 0).
    #[serde(default = "default_log_rotate_bytes")]
    pub rotate_bytes: u64,
    /// Rotated log files kept besides the current one (> 0).
    #[serde(default = "default_log_keep_files")]
    pub keep_files: u32,
}

/// Default for `logging.file.rotate_bytes`: 10 MiB.
pub const fn default_log_rotate_bytes() -> u64 {
    10 * 1024 * 1024
}

/// Default for `logging.file.keep_files`.
pub const fn default_log_keep_files() -> u32 {
    5
}

/// `telemetry`: the sensor's own metrics pushed elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default, rename = "telemetry section")]
pub struct TelemetrySection {
    /// Push metrics with OTLP/HTTP (`null`: no push).
    pub otlp: Option<OtlpSection>,
}

/// `telemetry.otlp`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "otlp section")]
pub struct OtlpSection {
    /// OTLP/HTTP metrics endpoint URL (`http://` or `https://`). Required.
    pub endpoint: String,
    /// Seconds between pushes (> 0).
    #[serde(default = "default_otlp_interval_secs")]
    pub interval_secs: u32,
    /// Extra HTTP headers; each value is a secret, `{ file: PATH }` or `{ env: NAME }`.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretRef>,
}

/// Default for `telemetry.otlp.interval_secs`.
pub const fn default_otlp_interval_secs() -> u32 {
    10
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    /// A raw config with every optional section present and one capture.
    fn fully_populated() -> RawConfig {
        RawConfig {
            sensor: SensorSection {
                name: Some("edge-1".into()),
                data_directory: "/var/lib/x".into(),
            },
            captures: vec![CaptureSection {
                interface: Some("eth0".into()),
                interfaces: Some(vec!["eth*".into(), "!docker*".into()]),
                rescan_interval_ms: 1000,
                promiscuous: true,
                direction: Direction::In,
                filter: Some("tcp".into()),
                snaplen_bytes: 100,
                buffer_size_bytes: 1,
                immediate: true,
                timeout_ms: 1,
                decapsulate: Some(true),
                backend: CaptureBackendName::AfPacket,
                af_packet: AfPacketSection {
                    fanout_group: Some(7),
                    ..AfPacketSection::default()
                },
            }],
            tunnels: TunnelsSection::default(),
            records: Some(vec![RecordName::Flow]),
            enrichment: EnrichmentSection {
                geoip: GeoIpSection {
                    country_database: Some("c".into()),
                    city_database: Some("c".into()),
                    asn_database: Some("a".into()),
                },
                ..EnrichmentSection::default()
            },
            privacy: PrivacySection {
                scrub_urls: true,
                pseudonymize: Some(PseudonymizeSection {
                    key: SecretRef::Env("K".into()),
                }),
            },
            rollups: RollupsSection::default(),
            flows: FlowsSection::default(),
            pipeline: PipelineSection::default(),
            outputs: OutputsSection {
                stdout: StdoutOutputSection { enabled: true },
                file: FileOutputSection {
                    path: Some("p".into()),
                    ..Default::default()
                },
                sqlite: SqliteOutputSection {
                    enabled: Some(true),
                    path: Some("s.db".into()),
                    ..Default::default()
                },
                elasticsearch: ElasticsearchOutputSection {
                    username: Some("u".into()),
                    password: Some(SecretRef::Env("P".into())),
                    api_key: Some(SecretRef::Env("K".into())),
                    ca_file: Some("ca.pem".into()),
                    spool: ElasticsearchSpoolSection {
                        dir: Some("spool".into()),
                        ..Default::default()
                    },
                    dead_letter_path: Some("dl.ndjson".into()),
                    ..Default::default()
                },
                kafka: KafkaOutputSection {
                    security: KafkaSecuritySection {
                        ca_file: Some("ca.pem".into()),
                        cert_file: Some("c.pem".into()),
                        key_file: Some("k.pem".into()),
                        sasl_mechanism: Some("PLAIN".into()),
                        username: Some("u".into()),
                        password: Some(SecretRef::Env("P".into())),
                        ..Default::default()
                    },
                    properties: BTreeMap::from([("a".into(), "b".into())]),
                    spool: OutputSpoolSection {
                        dir: Some("spool".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                filebeat: FilebeatOutputSection {
                    spool: OutputSpoolSection {
                        dir: Some("spool".into()),
                        ..Default::default()
                    },
                    directory: Some("fb".into()),
                    ..Default::default()
                },
            },
            listeners: ListenersSection::default(),
            logging: LoggingSection {
                file: Some(LogFileSection {
                    directory: "d".into(),
                    rotate_bytes: 1,
                    keep_files: 1,
                }),
                ..LoggingSection::default()
            },
            telemetry: TelemetrySection {
                otlp: Some(OtlpSection {
                    endpoint: "http://127.0.0.1:4318/v1/metrics".into(),
                    interval_secs: 1,
                    headers: BTreeMap::from([("a".into(), SecretRef::File("f".into()))]),
                }),
            },
        }
    }

    /// Collects the key paths of a YAML value in document order.
    pub(crate) fn key_paths(value: &Value) -> Vec<String> {
        fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Mapping(map) => {
                    let is_secret = !map.is_empty()
                        && map
                            .keys()
                            .all(|k| matches!(k.as_str(), Some("file" | "env")));
                    if is_secret || USER_MAPS.contains(&prefix) {
                        return;
                    }
                    for (k, v) in map {
                        let key = k.as_str().unwrap_or("?");
                        let path = if prefix.is_empty() {
                            key.to_owned()
                        } else {
                            format!("{prefix}.{key}")
                        };
                        out.push(path.clone());
                        walk(&path, v, out);
                    }
                }
                Value::Sequence(items) => {
                    if let Some(first @ Value::Mapping(_)) = items.first() {
                        walk(&format!("{prefix}[]"), first, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk("", value, &mut out);
        out
    }

    #[test]
    fn key_paths_const_matches_the_types() {
        let value = serde_yaml_ng::to_value(fully_populated()).unwrap();
        assert_eq!(key_paths(&value), KEY_PATHS);
    }

    #[test]
    fn every_key_path_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        for path in KEY_PATHS {
            assert!(
                doc.contains(&format!("`{path}`")),
                "docs/configuration.md lacks `{path}`"
            );
        }
    }

    #[test]
    fn every_key_appears_in_the_example_config() {
        let example = include_str!("../../../dev/config/netsensor.example.yaml");
        for path in KEY_PATHS {
            let last = path.rsplit(['.', ']']).next().unwrap_or(path);
            assert!(
                example.contains(&format!("{last}:")),
                "netsensor.example.yaml lacks `{last}:` (for `{path}`)"
            );
        }
    }

    #[test]
    fn record_names_match_the_schema() {
        let names: Vec<String> = [RecordName::Packet, RecordName::Flow, RecordName::Rollup]
            .iter()
            .map(|r| serde_yaml_ng::to_string(r).unwrap().trim().to_owned())
            .collect();
        let schema: Vec<&str> = netsensor_schema::RecordKind::ALL
            .iter()
            .map(|k| k.name())
            .collect();
        assert_eq!(names, schema);
    }

    #[test]
    fn serde_defaults_match_default_impls() {
        let parsed: RawConfig = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(parsed, RawConfig::default());
        assert_eq!(parsed.records, None);
        let cap: CaptureSection = serde_yaml_ng::from_str("interface: x").unwrap();
        assert_eq!(cap.snaplen_bytes, 65_535);
        assert_eq!(cap.timeout_ms, 100);
        assert_eq!(cap.direction, Direction::InOut);
        assert!(cap.promiscuous && cap.decapsulate.is_none() && !cap.immediate);
        assert_eq!(cap.backend, CaptureBackendName::Pcap);
        assert_eq!(cap.af_packet, AfPacketSection::default());
        let workers: PipelineSection = serde_yaml_ng::from_str("workers: auto").unwrap();
        assert_eq!(workers.workers, WorkersSetting::Auto);
        let workers: PipelineSection = serde_yaml_ng::from_str("workers: 3").unwrap();
        assert_eq!(workers.workers, WorkersSetting::Count(3));
    }
}
