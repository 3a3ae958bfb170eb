//! The sensor's Prometheus metrics, defined once in [`METRICS`].
//!
//! Registration, the `/metrics` page and `docs/metrics.md` all come from that one table, so
//! the code, the docs and the alert rules cannot drift apart (tests check all three).
//! Label values come from bounded sets only: capture, output and queue names from the
//! config, and the enums below; never raw error text.
//!
//! The hot path never looks labels up per packet: it asks once per capture, output or
//! worker for a handle ([`CaptureMetrics`], [`OutputMetrics`], [`DecodeErrorCounters`], or a
//! single [`Counter`]/[`Gauge`]) and increments that.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use netsensor_schema::RecordKind;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;

/// Bucket bounds of request durations: 5 ms to about 40 s, doubling.
fn request_buckets() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 14,
    ))
}

/// The type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonically increasing count; its name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted into buckets (`_bucket`, `_sum` and `_count` series).
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name (`counter`, `gauge`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One row of the metric table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Full metric name as scraped (counters include `_total`).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Label names, in the order the accessors take their values.
    pub labels: &'static [&'static str],
    /// One-sentence help text, without the final full stop (the encoder adds it).
    pub help: &'static str,
}

/// `netsensor_build_info`
pub const BUILD_INFO: MetricDef = MetricDef {
    name: "netsensor_build_info",
    kind: MetricKind::Gauge,
    labels: &["version"],
    help: "Build information: always 1, the version label carries the sensor version",
};
/// `netsensor_packets_received_total`
pub const PACKETS_RECEIVED: MetricDef = MetricDef {
    name: "netsensor_packets_received_total",
    kind: MetricKind::Counter,
    labels: &["capture"],
    help: "Frames received from a capture (live interface or pcap file)",
};
/// `netsensor_bytes_received_total`
pub const BYTES_RECEIVED: MetricDef = MetricDef {
    name: "netsensor_bytes_received_total",
    kind: MetricKind::Counter,
    labels: &["capture"],
    help: "Wire bytes of the frames received from a capture",
};
/// `netsensor_packets_dropped_total`
pub const PACKETS_DROPPED: MetricDef = MetricDef {
    name: "netsensor_packets_dropped_total",
    kind: MetricKind::Counter,
    labels: &["capture", "reason"],
    help: "Frames lost before decoding, by reason: kernel (pcap ps_drop), interface \
           (pcap ps_ifdrop), queue_full (the capture queue was full), malformed_capture \
           (an unreadable capture record)",
};
/// `netsensor_decode_errors_total`
pub const DECODE_ERRORS: MetricDef = MetricDef {
    name: "netsensor_decode_errors_total",
    kind: MetricKind::Counter,
    labels: &["layer"],
    help: "Frames whose decoding stopped at an error, by the protocol layer that failed",
};
/// `netsensor_frames_oversized_total`
pub const FRAMES_OVERSIZED: MetricDef = MetricDef {
    name: "netsensor_frames_oversized_total",
    kind: MetricKind::Counter,
    labels: &["capture"],
    help: "Frames larger than the interface MTU, usually coalesced by GRO or LRO offload",
};
/// `netsensor_capture_freeze_queue_total`
pub const CAPTURE_FREEZE_QUEUE: MetricDef = MetricDef {
    name: "netsensor_capture_freeze_queue_total",
    kind: MetricKind::Counter,
    labels: &["capture"],
    help: "Times an AF_PACKET ring was frozen because user space fell behind (kernel \
           tp_freeze_q_cnt; events, not packets; always 0 with libpcap)",
};
/// `netsensor_packets_shed_total`
pub const PACKETS_SHED: MetricDef = MetricDef {
    name: "netsensor_packets_shed_total",
    kind: MetricKind::Counter,
    labels: &["reason"],
    help: "Packets whose packet record and flow share were left out by load shedding \
           (flow-consistent sampling), by reason: overload (a worker's queue passed \
           pipeline.overload.high_watermark); rollups still count them",
};
/// `netsensor_sample_rate`
pub const SAMPLE_RATE: MetricDef = MetricDef {
    name: "netsensor_sample_rate",
    kind: MetricKind::Gauge,
    labels: &["queue"],
    help: "Load shedding now: 1 in this many flows kept by the worker of this queue (1: none shed)",
};
/// `netsensor_records_total`
pub const RECORDS: MetricDef = MetricDef {
    name: "netsensor_records_total",
    kind: MetricKind::Counter,
    labels: &["kind"],
    help: "Records built, by record kind (packet, flow, rollup)",
};
/// `netsensor_output_records_total`
pub const OUTPUT_RECORDS: MetricDef = MetricDef {
    name: "netsensor_output_records_total",
    kind: MetricKind::Counter,
    labels: &["output", "result"],
    help: "Records handled by an output, by result: sent (accepted downstream; for \
           network outputs, acknowledged by the destination), failed (rejected or \
           undeliverable), dropped (discarded because the queue, or the spool, was full)",
};
/// `netsensor_output_retries_total`
pub const OUTPUT_RETRIES: MetricDef = MetricDef {
    name: "netsensor_output_retries_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Records a network output sent again after a retryable failure (connection \
           error, HTTP 429 or 5xx, a busy or unauthorized item)",
};
/// `netsensor_output_duplicates_total`
pub const OUTPUT_DUPLICATES: MetricDef = MetricDef {
    name: "netsensor_output_duplicates_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Records the destination already held (HTTP 409 on create: an earlier attempt \
           landed); they count as sent too",
};
/// `netsensor_output_dead_lettered_total`
pub const OUTPUT_DEAD_LETTERED: MetricDef = MetricDef {
    name: "netsensor_output_dead_lettered_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Records the destination rejected for good (e.g. a mapping conflict), written \
           with the error to the dead-letter file; they count as failed too",
};
/// `netsensor_output_spooled_total`
pub const OUTPUT_SPOOLED: MetricDef = MetricDef {
    name: "netsensor_output_spooled_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Records written to an output's disk spool because its memory queue was full \
           or the sensor was stopping",
};
/// `netsensor_output_spool_corrupt_total`
pub const OUTPUT_SPOOL_CORRUPT: MetricDef = MetricDef {
    name: "netsensor_output_spool_corrupt_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Torn or corrupt spool entries skipped (a crash in the middle of a write, a \
           damaged file)",
};
/// `netsensor_output_request_duration_seconds`
pub const OUTPUT_REQUEST_DURATION: MetricDef = MetricDef {
    name: "netsensor_output_request_duration_seconds",
    kind: MetricKind::Histogram,
    labels: &["output"],
    help: "Duration of a network output's requests (one _bulk request each), answered or \
           failed",
};
/// `netsensor_output_requests_in_flight`
pub const OUTPUT_IN_FLIGHT: MetricDef = MetricDef {
    name: "netsensor_output_requests_in_flight",
    kind: MetricKind::Gauge,
    labels: &["output"],
    help: "Requests a network output has sent and not yet seen answered",
};
/// `netsensor_output_queue_bytes`
pub const OUTPUT_QUEUE_BYTES: MetricDef = MetricDef {
    name: "netsensor_output_queue_bytes",
    kind: MetricKind::Gauge,
    labels: &["output"],
    help: "Bytes of records waiting in a network output's memory queue",
};
/// `netsensor_output_spool_bytes`
pub const OUTPUT_SPOOL_BYTES: MetricDef = MetricDef {
    name: "netsensor_output_spool_bytes",
    kind: MetricKind::Gauge,
    labels: &["output"],
    help: "Bytes in a network output's disk spool",
};
/// `netsensor_output_spool_segments`
pub const OUTPUT_SPOOL_SEGMENTS: MetricDef = MetricDef {
    name: "netsensor_output_spool_segments",
    kind: MetricKind::Gauge,
    labels: &["output"],
    help: "Segment files in a network output's disk spool",
};
/// `netsensor_output_bytes_total`
pub const OUTPUT_BYTES: MetricDef = MetricDef {
    name: "netsensor_output_bytes_total",
    kind: MetricKind::Counter,
    labels: &["output"],
    help: "Encoded bytes an output sent downstream",
};
/// `netsensor_queue_depth`
pub const QUEUE_DEPTH: MetricDef = MetricDef {
    name: "netsensor_queue_depth",
    kind: MetricKind::Gauge,
    labels: &["queue"],
    help: "Batches waiting in a queue",
};
/// `netsensor_queue_capacity`
pub const QUEUE_CAPACITY: MetricDef = MetricDef {
    name: "netsensor_queue_capacity",
    kind: MetricKind::Gauge,
    labels: &["queue"],
    help: "Capacity of a queue, in batches",
};
/// `netsensor_capture_up`
pub const CAPTURE_UP: MetricDef = MetricDef {
    name: "netsensor_capture_up",
    kind: MetricKind::Gauge,
    labels: &["capture"],
    help: "1 while a capture is open, else 0",
};
/// `netsensor_output_up`
pub const OUTPUT_UP: MetricDef = MetricDef {
    name: "netsensor_output_up",
    kind: MetricKind::Gauge,
    labels: &["output"],
    help: "1 while an output is healthy, 0 while it is failing",
};
/// `netsensor_start_time_seconds`
pub const START_TIME: MetricDef = MetricDef {
    name: "netsensor_start_time_seconds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Time the sensor started, in seconds since the Unix epoch",
};

/// `netsensor_flows_evicted_total`
pub const FLOWS_EVICTED: MetricDef = MetricDef {
    name: "netsensor_flows_evicted_total",
    kind: MetricKind::Counter,
    labels: &[],
    help: "Flows exported early because the flow table was full",
};
/// `netsensor_flows_active`
pub const FLOWS_ACTIVE: MetricDef = MetricDef {
    name: "netsensor_flows_active",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Flows held in the flow table",
};

/// Every metric the sensor exports, in the order of the `/metrics` page.
pub const METRICS: &[MetricDef] = &[
    BUILD_INFO,
    START_TIME,
    PACKETS_RECEIVED,
    BYTES_RECEIVED,
    PACKETS_DROPPED,
    FRAMES_OVERSIZED,
    CAPTURE_FREEZE_QUEUE,
    PACKETS_SHED,
    SAMPLE_RATE,
    CAPTURE_UP,
    DECODE_ERRORS,
    RECORDS,
    QUEUE_DEPTH,
    QUEUE_CAPACITY,
    OUTPUT_RECORDS,
    OUTPUT_BYTES,
    OUTPUT_UP,
    OUTPUT_RETRIES,
    OUTPUT_DUPLICATES,
    OUTPUT_DEAD_LETTERED,
    OUTPUT_SPOOLED,
    OUTPUT_SPOOL_CORRUPT,
    OUTPUT_REQUEST_DURATION,
    OUTPUT_IN_FLIGHT,
    OUTPUT_QUEUE_BYTES,
    OUTPUT_SPOOL_BYTES,
    OUTPUT_SPOOL_SEGMENTS,
    FLOWS_EVICTED,
    FLOWS_ACTIVE,
];

/// Why a frame was lost before decoding (`reason` label of `netsensor_packets_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Dropped by the kernel: no room in the capture buffer (`pcap_stats` `ps_drop`).
    Kernel,
    /// Dropped by the interface or its driver (`pcap_stats` `ps_ifdrop`).
    Interface,
    /// The capture thread's queue to the decoders was full.
    QueueFull,
    /// A capture record could not be read (broken pcap record, bad lengths).
    MalformedCapture,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 4] = [
        DropReason::Kernel,
        DropReason::Interface,
        DropReason::QueueFull,
        DropReason::MalformedCapture,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Kernel => "kernel",
            DropReason::Interface => "interface",
            DropReason::QueueFull => "queue_full",
            DropReason::MalformedCapture => "malformed_capture",
        }
    }
}

/// Decode-error layers are the decoder's own [`Layer`](crate::decode::Layer) enum.
pub use crate::decode::Layer as DecodeLayer;

/// What became of records handed to an output (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputResult {
    /// Accepted downstream.
    Sent,
    /// Rejected or undeliverable after retries.
    Failed,
    /// Discarded because the output's queue was full.
    Dropped,
}

impl OutputResult {
    /// Every result.
    pub const ALL: [OutputResult; 3] = [
        OutputResult::Sent,
        OutputResult::Failed,
        OutputResult::Dropped,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputResult::Sent => "sent",
            OutputResult::Failed => "failed",
            OutputResult::Dropped => "dropped",
        }
    }
}

/// Label set of every family: (name from the table, value).
type Labels = Vec<(&'static str, String)>;

/// A labelled family tied to its table row, so label names always come from [`METRICS`].
#[derive(Debug)]
struct Labelled<M> {
    def: &'static MetricDef,
    family: Family<Labels, M>,
}

impl<M: Default + Clone> Labelled<M> {
    /// The handle for `values` (one per label of the row, in order); created at zero.
    fn with(&self, values: &[&str]) -> M {
        debug_assert_eq!(values.len(), self.def.labels.len(), "{}", self.def.name);
        let labels: Labels = self
            .def
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        self.family.get_or_create_owned(&labels)
    }
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    build_info: Labelled<Gauge>,
    start_time: Gauge,
    packets_received: Labelled<Counter>,
    bytes_received: Labelled<Counter>,
    packets_dropped: Labelled<Counter>,
    frames_oversized: Labelled<Counter>,
    capture_freeze_queue: Labelled<Counter>,
    packets_shed: Labelled<Counter>,
    sample_rate: Labelled<Gauge>,
    capture_up: Labelled<Gauge>,
    decode_errors: Labelled<Counter>,
    records: Labelled<Counter>,
    queue_depth: Labelled<Gauge>,
    queue_capacity: Labelled<Gauge>,
    output_records: Labelled<Counter>,
    output_bytes: Labelled<Counter>,
    output_up: Labelled<Gauge>,
    output_retries: Labelled<Counter>,
    output_duplicates: Labelled<Counter>,
    output_dead_lettered: Labelled<Counter>,
    output_spooled: Labelled<Counter>,
    output_spool_corrupt: Labelled<Counter>,
    output_request_duration: Family<Labels, Histogram, fn() -> Histogram>,
    output_in_flight: Labelled<Gauge>,
    output_queue_bytes: Labelled<Gauge>,
    output_spool_bytes: Labelled<Gauge>,
    output_spool_segments: Labelled<Gauge>,
    flows_evicted: Labelled<Counter>,
    flows_active: Labelled<Gauge>,
}

/// Registers `def` as a labelled family.
fn family<M>(registry: &mut Registry, def: &'static MetricDef) -> Labelled<M>
where
    M: Default + Clone + prometheus_client::metrics::TypedMetric + Send + Sync + 'static,
    M: prometheus_client::encoding::EncodeMetric + std::fmt::Debug,
{
    let family = Family::<Labels, M>::default();
    registry.register(registered_name(def), def.help, family.clone());
    Labelled { def, family }
}

/// The name prometheus-client expects: it appends `_total` to counters itself.
fn registered_name(def: &MetricDef) -> &'static str {
    match def.kind {
        MetricKind::Counter => def.name.strip_suffix("_total").unwrap_or(def.name),
        MetricKind::Gauge | MetricKind::Histogram => def.name,
    }
}

/// The sensor's metrics: a registry and typed handles. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric of [`METRICS`]; sets build info and the start time to now.
    pub fn new() -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self::with_build(env!("CARGO_PKG_VERSION"), start)
    }

    /// Like [`Metrics::new`] with an explicit version and start time (Unix seconds).
    pub fn with_build(version: &str, start_unix_secs: u64) -> Self {
        let mut registry = Registry::default();
        let r = &mut registry;
        let build_info = family(r, &BUILD_INFO);
        let start_time = Gauge::default();
        r.register(START_TIME.name, START_TIME.help, start_time.clone());
        let inner = Inner {
            build_info,
            start_time,
            packets_received: family(r, &PACKETS_RECEIVED),
            bytes_received: family(r, &BYTES_RECEIVED),
            packets_dropped: family(r, &PACKETS_DROPPED),
            frames_oversized: family(r, &FRAMES_OVERSIZED),
            capture_freeze_queue: family(r, &CAPTURE_FREEZE_QUEUE),
            packets_shed: family(r, &PACKETS_SHED),
            sample_rate: family(r, &SAMPLE_RATE),
            capture_up: family(r, &CAPTURE_UP),
            decode_errors: family(r, &DECODE_ERRORS),
            records: family(r, &RECORDS),
            queue_depth: family(r, &QUEUE_DEPTH),
            queue_capacity: family(r, &QUEUE_CAPACITY),
            output_records: family(r, &OUTPUT_RECORDS),
            output_bytes: family(r, &OUTPUT_BYTES),
            output_up: family(r, &OUTPUT_UP),
            output_retries: family(r, &OUTPUT_RETRIES),
            output_duplicates: family(r, &OUTPUT_DUPLICATES),
            output_dead_lettered: family(r, &OUTPUT_DEAD_LETTERED),
            output_spooled: family(r, &OUTPUT_SPOOLED),
            output_spool_corrupt: family(r, &OUTPUT_SPOOL_CORRUPT),
            output_request_duration: {
                let family = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
                    request_buckets,
                );
                r.register(
                    registered_name(&OUTPUT_REQUEST_DURATION),
                    OUTPUT_REQUEST_DURATION.help,
                    family.clone(),
                );
                family
            },
            output_in_flight: family(r, &OUTPUT_IN_FLIGHT),
            output_queue_bytes: family(r, &OUTPUT_QUEUE_BYTES),
            output_spool_bytes: family(r, &OUTPUT_SPOOL_BYTES),
            output_spool_segments: family(r, &OUTPUT_SPOOL_SEGMENTS),
            flows_evicted: family(r, &FLOWS_EVICTED),
            flows_active: family(r, &FLOWS_ACTIVE),
            registry,
        };
        inner.build_info.with(&[version]).set(1);
        inner
            .start_time
            .set(i64::try_from(start_unix_secs).unwrap_or(i64::MAX));
        // Series that exist from the start, so rate() and ratios see them at zero.
        for layer in DecodeLayer::ALL {
            inner.decode_errors.with(&[layer.as_str()]);
        }
        for kind in RecordKind::ALL {
            inner.records.with(&[kind.name()]);
        }
        inner.flows_evicted.with(&[]);
        inner.flows_active.with(&[]);
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// `netsensor_packets_received_total{capture}`.
    pub fn packets_received(&self, capture: &str) -> Counter {
        self.inner.packets_received.with(&[capture])
    }

    /// `netsensor_bytes_received_total{capture}` (wire bytes).
    pub fn bytes_received(&self, capture: &str) -> Counter {
        self.inner.bytes_received.with(&[capture])
    }

    /// `netsensor_packets_dropped_total{capture, reason}`.
    ///
    /// `pcap_stats` reports running totals: add the difference since the last poll.
    pub fn packets_dropped(&self, capture: &str, reason: DropReason) -> Counter {
        self.inner.packets_dropped.with(&[capture, reason.as_str()])
    }

    /// `netsensor_frames_oversized_total{capture}`.
    pub fn frames_oversized(&self, capture: &str) -> Counter {
        self.inner.frames_oversized.with(&[capture])
    }

    /// `netsensor_capture_up{capture}`.
    pub fn capture_up(&self, capture: &str) -> Gauge {
        self.inner.capture_up.with(&[capture])
    }

    /// `netsensor_decode_errors_total{layer}`.
    pub fn decode_errors(&self, layer: DecodeLayer) -> Counter {
        self.inner.decode_errors.with(&[layer.as_str()])
    }

    /// `netsensor_records_total{kind}`.
    pub fn records(&self, kind: RecordKind) -> Counter {
        self.inner.records.with(&[kind.name()])
    }

    /// `netsensor_packets_shed_total{reason="overload"}`.
    pub fn packets_shed_overload(&self) -> Counter {
        self.inner.packets_shed.with(&["overload"])
    }

    /// `netsensor_sample_rate{queue}`.
    pub fn sample_rate(&self, queue: &str) -> Gauge {
        self.inner.sample_rate.with(&[queue])
    }

    /// `netsensor_queue_depth{queue}` (batches waiting).
    pub fn queue_depth(&self, queue: &str) -> Gauge {
        self.inner.queue_depth.with(&[queue])
    }

    /// `netsensor_queue_capacity{queue}` (batches).
    pub fn queue_capacity(&self, queue: &str) -> Gauge {
        self.inner.queue_capacity.with(&[queue])
    }

    /// `netsensor_output_records_total{output, result}`.
    pub fn output_records(&self, output: &str, result: OutputResult) -> Counter {
        self.inner.output_records.with(&[output, result.as_str()])
    }

    /// `netsensor_output_bytes_total{output}`.
    pub fn output_bytes(&self, output: &str) -> Counter {
        self.inner.output_bytes.with(&[output])
    }

    /// `netsensor_output_up{output}`.
    pub fn output_up(&self, output: &str) -> Gauge {
        self.inner.output_up.with(&[output])
    }

    /// `netsensor_flows_evicted_total`.
    pub fn flows_evicted(&self) -> Counter {
        self.inner.flows_evicted.with(&[])
    }

    /// `netsensor_flows_active`.
    pub fn flows_active(&self) -> Gauge {
        self.inner.flows_active.with(&[])
    }

    /// Every handle one capture needs, all series created at zero. Call once per capture.
    pub fn capture(&self, capture: &str) -> CaptureMetrics {
        CaptureMetrics {
            packets: self.packets_received(capture),
            bytes: self.bytes_received(capture),
            dropped_kernel: self.packets_dropped(capture, DropReason::Kernel),
            dropped_interface: self.packets_dropped(capture, DropReason::Interface),
            dropped_queue_full: self.packets_dropped(capture, DropReason::QueueFull),
            malformed: self.packets_dropped(capture, DropReason::MalformedCapture),
            oversized: self.frames_oversized(capture),
            freeze_queue: self.inner.capture_freeze_queue.with(&[capture]),
            up: self.capture_up(capture),
        }
    }

    /// Every handle one output needs, all series created at zero. Call once per output.
    pub fn output(&self, output: &str) -> OutputMetrics {
        OutputMetrics {
            sent: self.output_records(output, OutputResult::Sent),
            failed: self.output_records(output, OutputResult::Failed),
            dropped: self.output_records(output, OutputResult::Dropped),
            bytes: self.output_bytes(output),
            up: self.output_up(output),
        }
    }

    /// Every handle a network output (with retries, a memory queue and a disk spool)
    /// needs, all series created at zero. Call once per output.
    pub fn delivery(&self, output: &str) -> DeliveryMetrics {
        let i = &self.inner;
        let labels: Labels = vec![(OUTPUT_REQUEST_DURATION.labels[0], output.to_owned())];
        DeliveryMetrics {
            records: self.output(output),
            retries: i.output_retries.with(&[output]),
            duplicates: i.output_duplicates.with(&[output]),
            dead_lettered: i.output_dead_lettered.with(&[output]),
            spooled: i.output_spooled.with(&[output]),
            spool_corrupt: i.output_spool_corrupt.with(&[output]),
            request_duration: i.output_request_duration.get_or_create_owned(&labels),
            in_flight: i.output_in_flight.with(&[output]),
            queue_bytes: i.output_queue_bytes.with(&[output]),
            spool_bytes: i.output_spool_bytes.with(&[output]),
            spool_segments: i.output_spool_segments.with(&[output]),
        }
    }

    /// One counter per decode layer, for a decode worker to keep.
    pub fn decode_error_counters(&self) -> DecodeErrorCounters {
        DecodeErrorCounters {
            counters: DecodeLayer::ALL.map(|layer| self.decode_errors(layer)),
        }
    }

    /// The page in the OpenMetrics 1.0 text format (ends with `# EOF`).
    pub fn encode_text(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail, and our label sets never return errors.
        if encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The page in the classic Prometheus text format 0.0.4 (what `promtool check metrics`
    /// and most non-Prometheus scrapers read).
    pub fn encode_prometheus_text(&self) -> String {
        openmetrics_to_prometheus(&self.encode_text())
    }
}

/// Rewrites prometheus-client's OpenMetrics page as text format 0.0.4.
///
/// The two differ, for counters and gauges without exemplars, only in the metadata lines:
/// 0.0.4 names a counter family with its `_total` suffix, and has no `# UNIT` or `# EOF`.
fn openmetrics_to_prometheus(page: &str) -> String {
    let counters: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(page.len() + 16 * counters.len());
    for line in page.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|tag| Some((tag, line.strip_prefix(tag)?)));
        match meta.and_then(|(tag, rest)| Some((tag, rest.split_once(' ')?))) {
            Some((tag, (name, tail))) if counters.contains(&name) => {
                let _ = writeln!(out, "{tag}{name}_total {tail}");
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Handles for one capture, kept by its capture thread.
#[derive(Debug, Clone)]
pub struct CaptureMetrics {
    /// `netsensor_packets_received_total`.
    pub packets: Counter,
    /// `netsensor_bytes_received_total`.
    pub bytes: Counter,
    /// `netsensor_packets_dropped_total{reason="kernel"}`.
    pub dropped_kernel: Counter,
    /// `netsensor_packets_dropped_total{reason="interface"}`.
    pub dropped_interface: Counter,
    /// `netsensor_packets_dropped_total{reason="queue_full"}`.
    pub dropped_queue_full: Counter,
    /// `netsensor_packets_dropped_total{reason="malformed_capture"}`.
    pub malformed: Counter,
    /// `netsensor_frames_oversized_total`.
    pub oversized: Counter,
    /// `netsensor_capture_freeze_queue_total`.
    pub freeze_queue: Counter,
    /// `netsensor_capture_up`.
    pub up: Gauge,
}

/// Handles for one output, kept by its worker.
#[derive(Debug, Clone)]
pub struct OutputMetrics {
    /// `netsensor_output_records_total{result="sent"}`.
    pub sent: Counter,
    /// `netsensor_output_records_total{result="failed"}`.
    pub failed: Counter,
    /// `netsensor_output_records_total{result="dropped"}`.
    pub dropped: Counter,
    /// `netsensor_output_bytes_total`.
    pub bytes: Counter,
    /// `netsensor_output_up`.
    pub up: Gauge,
}

/// Handles for one network output, kept by its delivery thread.
#[derive(Debug, Clone)]
pub struct DeliveryMetrics {
    /// The handles every output has (`sent` = acknowledged by the destination).
    pub records: OutputMetrics,
    /// `netsensor_output_retries_total`.
    pub retries: Counter,
    /// `netsensor_output_duplicates_total`.
    pub duplicates: Counter,
    /// `netsensor_output_dead_lettered_total`.
    pub dead_lettered: Counter,
    /// `netsensor_output_spooled_total`.
    pub spooled: Counter,
    /// `netsensor_output_spool_corrupt_total`.
    pub spool_corrupt: Counter,
    /// `netsensor_output_request_duration_seconds`.
    pub request_duration: Histogram,
    /// `netsensor_output_requests_in_flight`.
    pub in_flight: Gauge,
    /// `netsensor_output_queue_bytes`.
    pub queue_bytes: Gauge,
    /// `netsensor_output_spool_bytes`.
    pub spool_bytes: Gauge,
    /// `netsensor_output_spool_segments`.
    pub spool_segments: Gauge,
}

impl DeliveryMetrics {
    /// Sets the spool gauges (`netsensor_output_spool_bytes`, `_segments`).
    pub fn set_spool(&self, bytes: u64, segments: usize) {
        self.spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.spool_segments
            .set(i64::try_from(segments).unwrap_or(i64::MAX));
    }
}

/// One decode-error counter per [`DecodeLayer`]; indexing is by enum, never by input.
#[derive(Debug, Clone)]
pub struct DecodeErrorCounters {
    counters: [Counter; DecodeLayer::ALL.len()],
}

impl DecodeErrorCounters {
    /// The counter of `layer`.
    #[allow(clippy::indexing_slicing)] // `index()` is the discriminant, always < ALL.len()
    pub fn get(&self, layer: DecodeLayer) -> &Counter {
        &self.counters[layer.index()]
    }

    /// Counts one decode error at `layer`.
    pub fn inc(&self, layer: DecodeLayer) {
        self.get(layer).inc();
    }
}

/// Readiness of the sensor, served on `/readyz`: which captures are open and which
/// outputs are failing. Each change also sets `netsensor_capture_up` / `netsensor_output_up`.
///
/// Register every configured capture and output before starting the HTTP listener, so
/// `/readyz` says "not ready" until the captures have opened.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Debug)]
struct HealthInner {
    metrics: Metrics,
    captures: RwLock<Vec<Component>>,
    outputs: RwLock<Vec<Component>>,
}

#[derive(Debug)]
struct Component {
    name: String,
    up: AtomicBool,
    gauge: Gauge,
}

/// Which list a component is in.
#[derive(Clone, Copy)]
enum Side {
    Capture,
    Output,
}

impl Health {
    /// An empty state that mirrors its flags into `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Health {
            inner: Arc::new(HealthInner {
                metrics: metrics.clone(),
                captures: RwLock::new(Vec::new()),
                outputs: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Registers a capture as not yet open (the sensor is not ready until it opens).
    pub fn register_capture(&self, name: &str) {
        self.entry(Side::Capture, name, false);
    }

    /// Registers an output as healthy (an output is "failing" only once it is marked so).
    pub fn register_output(&self, name: &str) {
        self.entry(Side::Output, name, true);
    }

    /// Marks a capture open (`true`) or closed; registers it if it is new.
    pub fn set_capture_up(&self, name: &str, up: bool) {
        self.set(Side::Capture, name, up);
    }

    /// Marks an output healthy (`true`) or failing; registers it if it is new.
    pub fn set_output_up(&self, name: &str, up: bool) {
        self.set(Side::Output, name, up);
    }

    /// Every registered capture is open and no output is failing.
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// `Ok` when ready, else the reasons, e.g. `capture eth0 is not open; output es is
    /// failing`.
    pub fn readiness(&self) -> Result<(), String> {
        let mut reasons = Vec::new();
        for (side, what) in [(Side::Capture, "is not open"), (Side::Output, "is failing")] {
            let list = self
                .list(side)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for c in list.iter().filter(|c| !c.up.load(Ordering::Relaxed)) {
                let kind = match side {
                    Side::Capture => "capture",
                    Side::Output => "output",
                };
                reasons.push(format!("{kind} {} {what}", c.name));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }

    fn list(&self, side: Side) -> &RwLock<Vec<Component>> {
        match side {
            Side::Capture => &self.inner.captures,
            Side::Output => &self.inner.outputs,
        }
    }

    /// Registers `name` with `initial` unless it exists.
    fn entry(&self, side: Side, name: &str, initial: bool) {
        let mut list = self
            .list(side)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if list.iter().any(|c| c.name == name) {
            return;
        }
        let gauge = match side {
            Side::Capture => self.inner.metrics.capture_up(name),
            Side::Output => self.inner.metrics.output_up(name),
        };
        gauge.set(i64::from(initial));
        list.push(Component {
            name: name.to_owned(),
            up: AtomicBool::new(initial),
            gauge,
        });
    }

    fn set(&self, side: Side, name: &str, up: bool) {
        {
            let list = self
                .list(side)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = list.iter().find(|c| c.name == name) {
                c.up.store(up, Ordering::Relaxed);
                c.gauge.set(i64::from(up));
                return;
            }
        }
        self.entry(side, name, up);
        // A concurrent registration may have won the race with another value.
        self.set(side, name, up);
    }
}

/// `docs/metrics.md`, generated from [`METRICS`].
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Metrics\n\n\
         <!-- Generated from METRICS in sensor/src/telemetry/metrics.rs; \
         regenerate with NETSENSOR_BLESS=1 cargo test -p netsensor metrics_doc. -->\n\n\
         The sensor serves these on `/metrics` (127.0.0.1:9102 by default), in the \
         OpenMetrics text format when the scraper asks for it (Prometheus does) and in the \
         Prometheus text format 0.0.4 otherwise. Alert rules: `dev/prometheus/alerts.yml`.\n\n\
         | Name | Type | Labels | Help |\n| --- | --- | --- | --- |\n",
    );
    for def in METRICS {
        let labels = if def.labels.is_empty() {
            "—".to_owned()
        } else {
            def.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {}. |",
            def.name,
            def.kind.as_str(),
            labels,
            def.help
        );
    }
    out.push_str("\nLabel values:\n\n");
    let sets: [(&str, Vec<&str>); 4] = [
        (
            "`reason`",
            DropReason::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            "`layer`",
            DecodeLayer::ALL.iter().map(|l| l.as_str()).collect(),
        ),
        ("`kind`", RecordKind::ALL.iter().map(|k| k.name()).collect()),
        (
            "`result`",
            OutputResult::ALL.iter().map(|r| r.as_str()).collect(),
        ),
    ];
    for (label, values) in sets {
        let _ = writeln!(out, "- {label}: {}", values.join(", "));
    }
    out.push_str(
        "- `capture`, `output`, `queue`: names from the configuration file.\n\
         - `version`: the sensor's version.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::io::Write as _;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// Metric samples of a text page: (name with labels, value), comments skipped.
    fn samples(page: &str) -> BTreeSet<(String, String)> {
        page.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                (series.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn value_of(page: &str, series: &str) -> Option<String> {
        samples(page)
            .into_iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| v)
    }

    fn repo_path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(rel)
    }

    #[test]
    fn table_names_follow_conventions() {
        let mut seen = BTreeSet::new();
        for def in METRICS {
            assert!(seen.insert(def.name), "duplicate {}", def.name);
            assert!(def.name.starts_with("netsensor_"), "{}", def.name);
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                def.name
            );
            assert_eq!(
                def.kind == MetricKind::Counter,
                def.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                def.name
            );
            assert!(
                !def.help.ends_with('.'),
                "{}: encoder adds the period",
                def.name
            );
            assert!(!def.help.contains('|') && !def.help.contains('\n'));
        }
    }

    #[test]
    fn page_has_exactly_the_table() {
        let m = Metrics::with_build("1.2.3", 1_700_000_000);
        // Create one series in every family so each shows its labels.
        let _ = m.capture("eth0");
        let _ = m.output("es");
        m.delivery("es").request_duration.observe(0.02);
        m.queue_depth("decode").set(0);
        m.queue_capacity("decode").set(8);
        let _ = m.packets_shed_overload();
        m.sample_rate("worker-0").set(1);
        let page = m.encode_prometheus_text();
        let mut help_names = BTreeSet::new();
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                let def = METRICS
                    .iter()
                    .find(|d| d.name == name)
                    .unwrap_or_else(|| panic!("{name} is registered but not in METRICS"));
                assert_eq!(kind, def.kind.as_str(), "{name}");
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                let def = METRICS.iter().find(|d| d.name == name).unwrap();
                assert_eq!(help, format!("{}.", def.help));
                help_names.insert(name.to_owned());
            }
        }
        let table: BTreeSet<String> = METRICS.iter().map(|d| d.name.to_owned()).collect();
        assert_eq!(help_names, table);
        // Every sample uses the label names of its row, in order.
        for (series, _) in samples(&page) {
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series.as_str(), ""),
            };
            let def = METRICS
                .iter()
                .find(|d| d.name == name)
                .or_else(|| {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))?;
                    METRICS
                        .iter()
                        .find(|d| d.name == base && d.kind == MetricKind::Histogram)
                })
                .unwrap_or_else(|| panic!("{name} is not in METRICS"));
            let keys: Vec<&str> = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').unwrap().0)
                .filter(|k| *k != "le")
                .collect();
            assert_eq!(keys, def.labels, "{series}");
        }
    }

    #[test]
    fn increments_show_in_both_encodings() {
        let m = Metrics::with_build("1.2.3", 1_700_000_000);
        let cap = m.capture("eth0");
        cap.packets.inc_by(3);
        cap.bytes.inc_by(180);
        cap.dropped_kernel.inc_by(2);
        m.decode_error_counters().inc(DecodeLayer::Ipv6Ext);
        m.records(RecordKind::Flow).inc();
        let out = m.output("es-main");
        out.sent.inc_by(10);
        out.failed.inc();
        out.up.set(1);
        m.queue_depth("es-main").set(4);
        // A second lookup returns the same series, not a new one.
        m.packets_received("eth0").inc();

        for page in [m.encode_text(), m.encode_prometheus_text()] {
            let v = |s: &str| value_of(&page, s);
            assert_eq!(
                v("netsensor_build_info{version=\"1.2.3\"}").as_deref(),
                Some("1")
            );
            assert_eq!(
                v("netsensor_start_time_seconds").as_deref(),
                Some("1700000000")
            );
            assert_eq!(
                v("netsensor_packets_received_total{capture=\"eth0\"}").as_deref(),
                Some("4")
            );
            assert_eq!(
                v("netsensor_bytes_received_total{capture=\"eth0\"}").as_deref(),
                Some("180")
            );
            assert_eq!(
                v("netsensor_packets_dropped_total{capture=\"eth0\",reason=\"kernel\"}").as_deref(),
                Some("2")
            );
            assert_eq!(
                v("netsensor_packets_dropped_total{capture=\"eth0\",reason=\"queue_full\"}")
                    .as_deref(),
                Some("0")
            );
            assert_eq!(
                v("netsensor_decode_errors_total{layer=\"ipv6_ext\"}").as_deref(),
                Some("1")
            );
            assert_eq!(
                v("netsensor_decode_errors_total{layer=\"http\"}").as_deref(),
                Some("0")
            );
            assert_eq!(
                v("netsensor_records_total{kind=\"flow\"}").as_deref(),
                Some("1")
            );
            assert_eq!(
                v("netsensor_output_records_total{output=\"es-main\",result=\"sent\"}").as_deref(),
                Some("10")
            );
            assert_eq!(
                v("netsensor_output_records_total{output=\"es-main\",result=\"failed\"}")
                    .as_deref(),
                Some("1")
            );
            assert_eq!(
                v("netsensor_output_up{output=\"es-main\"}").as_deref(),
                Some("1")
            );
            assert_eq!(
                v("netsensor_queue_depth{queue=\"es-main\"}").as_deref(),
                Some("4")
            );
        }
        let om = m.encode_text();
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE netsensor_packets_received counter\n"));
        let text = m.encode_prometheus_text();
        assert!(!text.contains("# EOF"));
        assert!(text.contains("# TYPE netsensor_packets_received_total counter\n"));
        assert!(text.contains("# TYPE netsensor_queue_depth gauge\n"));
        assert_eq!(samples(&om), samples(&text));
    }

    #[test]
    fn clones_share_one_registry_across_threads() {
        let m = Metrics::with_build("1", 0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    let c = m.packets_received("lo");
                    for _ in 0..1000 {
                        c.inc();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.packets_received("lo").get(), 4000);
    }

    #[test]
    fn health_tracks_captures_and_outputs() {
        let m = Metrics::with_build("1", 0);
        let health = Health::new(&m);
        assert!(health.is_ready(), "nothing registered");
        health.register_capture("eth0");
        health.register_capture("eth1");
        health.register_output("es");
        assert_eq!(
            health.readiness(),
            Err("capture eth0 is not open; capture eth1 is not open".to_owned())
        );
        assert_eq!(m.capture_up("eth0").get(), 0);
        assert_eq!(m.output_up("es").get(), 1);
        health.set_capture_up("eth0", true);
        health.set_capture_up("eth1", true);
        assert!(health.is_ready());
        // Registering again does not reset the state.
        health.register_capture("eth0");
        assert!(health.is_ready());
        assert_eq!(m.capture_up("eth0").get(), 1);

        health.set_output_up("es", false);
        health.set_output_up("kafka", false); // unknown: registered on first use
        health.set_capture_up("eth1", false);
        assert_eq!(
            health.readiness(),
            Err(
                "capture eth1 is not open; output es is failing; output kafka is failing"
                    .to_owned()
            )
        );
        assert_eq!(m.output_up("kafka").get(), 0);
        assert_eq!(m.capture_up("eth1").get(), 0);
        let clone = health.clone();
        clone.set_output_up("es", true);
        clone.set_output_up("kafka", true);
        clone.set_capture_up("eth1", true);
        assert!(health.is_ready());
    }

    fn promtool() -> PathBuf {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("promtool"))
                .find(|p| p.is_file())
        });
        found.unwrap_or_else(|| {
            panic!(
                "promtool is not on PATH: install it (Debian: apt-get install -y prometheus) \
                 to run the metrics and alert-rule checks"
            )
        })
    }

    #[test]
    fn promtool_accepts_the_page() {
        let m = Metrics::with_build("0.1.0", 1_700_000_000);
        let _ = m.capture("eth0");
        let _ = m.output("es");
        let delivery = m.delivery("es");
        delivery.request_duration.observe(0.3);
        delivery.retries.inc();
        m.queue_depth("es").set(2);
        m.queue_capacity("es").set(64);
        let page = m.encode_prometheus_text();
        let mut child = Command::new(promtool())
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}\npage:\n{page}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `dev/prometheus`: the config, the rules and the rule unit tests all pass promtool.
    #[test]
    fn promtool_accepts_config_and_rules() {
        let dir = repo_path("dev/prometheus");
        for args in [
            ["check", "config", "prometheus.yml"],
            ["check", "rules", "alerts.yml"],
            ["test", "rules", "alerts_test.yml"],
        ] {
            let out = Command::new(promtool())
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "promtool {}:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn alert_rules_use_only_known_metrics() {
        let rules: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../../dev/prometheus/alerts.yml")).unwrap();
        let mut exprs = Vec::new();
        for group in rules["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                exprs.push(rule["expr"].as_str().unwrap().to_owned());
            }
        }
        assert!(exprs.len() >= 5);
        let mut used = BTreeSet::new();
        for expr in &exprs {
            let bytes = expr.as_bytes();
            let mut at = 0;
            while let Some(pos) = expr[at..].find("netsensor_") {
                let start = at + pos;
                let mut end = start + "netsensor_".len();
                while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
                    end += 1;
                }
                used.insert(expr[start..end].to_owned());
                at = end;
            }
        }
        assert!(used.len() >= 5, "{used:?}");
        for name in used {
            assert!(
                METRICS.iter().any(|d| d.name == name),
                "alerts.yml uses {name}, which is not in METRICS"
            );
        }
    }

    #[test]
    fn metrics_doc_lists_the_table() {
        let rendered = render_markdown();
        let path = repo_path("docs/metrics.md");
        if std::env::var_os("NETSENSOR_BLESS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let doc = std::fs::read_to_string(&path).unwrap();
        for def in METRICS {
            assert!(
                doc.contains(&format!("`{}`", def.name)),
                "{} not in docs",
                def.name
            );
            assert!(doc.contains(def.help), "help of {} not in docs", def.name);
        }
        assert!(
            doc == rendered,
            "docs/metrics.md is stale: regenerate it with NETSENSOR_BLESS=1 cargo test \
             -p netsensor metrics_doc"
        );
    }
}
