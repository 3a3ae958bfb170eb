//! OpenTelemetry push of the sensor's metrics over OTLP/HTTP (optional, off by default).
//!
//! The metrics are defined once, in [`METRICS`]; this module only re-publishes them. For
//! every row it registers an observable OpenTelemetry instrument whose callback reads the
//! current values from the same prometheus-client registry (by rendering
//! [`Metrics::encode_prometheus_text`], our own tested format, and picking that family's
//! samples). A [`PeriodicReader`] collects them every `interval` on its own thread and the
//! `opentelemetry-otlp` exporter POSTs an `ExportMetricsServiceRequest` (protobuf) to the
//! configured endpoint. The capture threads never wait on it.
//!
//! Why the `opentelemetry` crates (SDK + `opentelemetry-otlp`) rather than building the
//! protobuf by hand with `opentelemetry-proto`: the SDK owns the OTLP data model (start
//! times of cumulative sums, resource and scope, the `http-proto` encoding, status and
//! partial-success handling), so we write no protocol code and follow the spec as the
//! crates do. The cost is ~50 small crates (reqwest, shared with the Elasticsearch output,
//! prost, url/idna), no C code. OTLP over https is still refused: the TLS settings
//! (CA file, client certificates) are not wired to this exporter yet. We hand the exporter our own blocking reqwest client, wrapped to remember the
//! transport error, because the exporter itself reports only "network error".
//!
//! Mapping (as the OpenTelemetry Prometheus-compatibility spec converts Prometheus to OTLP):
//!
//! | Prometheus (`/metrics`)            | OTLP                                               |
//! |------------------------------------|----------------------------------------------------|
//! | counter `netsensor_x_total{l="v"}` | monotonic cumulative int `Sum` `netsensor_x`, `l=v` |
//! | gauge `netsensor_y{l="v"}`         | int `Gauge` `netsensor_y`, attribute `l=v`         |
//! | `# HELP` text                      | description (with the final full stop)             |
//!
//! Counters lose their `_total` suffix, which an OTLP-to-Prometheus bridge adds back for
//! monotonic sums, so both paths end at the same series name. No units are set, so such a
//! bridge adds no unit suffixes either. The resource carries `service.name=netsensor` and
//! `service.version`; the instrumentation scope is `netsensor`.
//!
//! Failures never stop the sensor: each failed export is counted ([`OtlpExporter::stats`])
//! and logged at most once a minute with the number held back; the next export sends the
//! cumulative values again, so there are no retries. Header values (credentials) are sent
//! on every request and never logged or printed. Only `http://` endpoints are accepted:
//! this build has no TLS stack. The standard `OTEL_EXPORTER_OTLP_HEADERS` and
//! `OTEL_RESOURCE_ATTRIBUTES` variables are honoured in addition to the config.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::metrics::{AsyncInstrument, Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{
    ExporterBuildError, MetricExporter, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use super::metrics::{MetricDef, MetricKind, Metrics, METRICS};
use super::ratelimit::{Clock, MonotonicClock, RateGate};

/// The `service.name` resource attribute and the instrumentation scope name.
pub const SERVICE_NAME: &str = "netsensor";

/// At most one export-failure warning per this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Shortest and longest HTTP timeout; within these it follows the interval.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`spawn`] needs, from `telemetry.otlp` in the config.
#[derive(Clone)]
pub struct OtlpSettings {
    /// Full URL of the metrics endpoint, e.g. `http://127.0.0.1:4318/v1/metrics`.
    pub endpoint: String,
    /// Time between exports; > 0.
    pub interval: Duration,
    /// Extra HTTP headers sent on every request (e.g. `Authorization`); values are secret.
    pub headers: Vec<(String, String)>,
    /// The `service.version` resource attribute (the sensor's version).
    pub service_version: String,
}

impl fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "**REDACTED**"))
            .collect();
        f.debug_struct("OtlpSettings")
            .field("endpoint", &self.endpoint)
            .field("interval", &self.interval)
            .field("headers", &headers)
            .field("service_version", &self.service_version)
            .finish()
    }
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http://` URL with a host.
    #[error(
        "telemetry.otlp.endpoint {endpoint:?}: {reason} (expected e.g. \
         http://127.0.0.1:4318/v1/metrics)"
    )]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The interval is zero.
    #[error("telemetry.otlp.interval_secs must be greater than 0")]
    Interval,
    /// A header name or value cannot be sent over HTTP (the value is not shown).
    #[error("telemetry.otlp.headers: header {name:?} has an invalid name or value")]
    Header {
        /// The header name as configured.
        name: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the OTLP HTTP client: {0}")]
    Client(String),
    /// The OpenTelemetry exporter rejected its configuration.
    #[error("cannot build the OTLP metric exporter")]
    Exporter(#[source] ExporterBuildError),
}

/// Counts of export attempts so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OtlpStats {
    /// Exports the endpoint accepted.
    pub exported: u64,
    /// Exports that failed (connection, timeout or non-2xx status).
    pub failed: u64,
    /// The most recent failure, if any (never contains header values).
    pub last_error: Option<String>,
}

/// A running OTLP exporter. Dropping it exports once more and stops the export thread;
/// the drop waits for that export at most 5 s (the SDK's shutdown timeout).
pub struct OtlpExporter {
    provider: SdkMeterProvider,
    state: Arc<ExportState>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.state.endpoint)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Exports so far.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            exported: self.state.exported.load(Ordering::Relaxed),
            failed: self.state.failed.load(Ordering::Relaxed),
            last_error: lock(&self.state.last_error).clone(),
        }
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Collects and exports once more, then joins the reader thread; a failure of that
        // last export is already counted and logged by `ExportState::record`.
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(error = %error, "OTLP exporter shutdown reported an error.");
        }
    }
}

/// Starts exporting `metrics` to `settings.endpoint` every `settings.interval`.
///
/// The first export happens one interval after the start; returns at once.
pub fn spawn(settings: OtlpSettings, metrics: Metrics) -> Result<OtlpExporter, OtlpError> {
    check_endpoint(&settings.endpoint)?;
    if settings.interval.is_zero() {
        return Err(OtlpError::Interval);
    }
    let mut headers = HashMap::with_capacity(settings.headers.len());
    for (name, value) in &settings.headers {
        let valid =
            http::HeaderName::from_str(name).is_ok() && http::HeaderValue::from_str(value).is_ok();
        if !valid {
            return Err(OtlpError::Header { name: name.clone() });
        }
        headers.insert(name.clone(), value.clone());
    }
    let timeout = settings.interval.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
    let state = Arc::new(ExportState::new(settings.endpoint.clone()));
    let client = RecordingClient {
        inner: blocking_client(timeout)?,
        state: Arc::clone(&state),
    };
    let exporter = MetricExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(settings.endpoint.clone())
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_headers(headers)
        // Cumulative values: the next export repairs a lost one, so never retry.
        .with_retry_policy(RetryPolicy::disabled())
        .with_temporality(Temporality::Cumulative)
        .build()
        .map_err(OtlpError::Exporter)?;
    let reader = PeriodicReader::builder(CountingExporter {
        inner: exporter,
        state: Arc::clone(&state),
    })
    .with_interval(settings.interval)
    .build();
    let resource = Resource::builder()
        .with_service_name(SERVICE_NAME)
        .with_attribute(KeyValue::new(
            "service.version",
            settings.service_version.clone(),
        ))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .build();
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder(SERVICE_NAME)
            .with_version(settings.service_version)
            .build(),
    );
    for def in METRICS {
        register(&meter, def, &metrics);
    }
    tracing::info!(
        endpoint = %settings.endpoint,
        interval_secs = settings.interval.as_secs_f64(),
        "Exporting metrics over OTLP."
    );
    Ok(OtlpExporter { provider, state })
}

/// The OTLP name of a metric: counters drop `_total` (see the module doc).
pub fn otel_name(def: &MetricDef) -> &'static str {
    match def.kind {
        MetricKind::Counter => def.name.strip_suffix("_total").unwrap_or(def.name),
        MetricKind::Gauge | MetricKind::Histogram => def.name,
    }
}

/// Registers the observable instrument of one table row.
fn register(meter: &Meter, def: &'static MetricDef, metrics: &Metrics) {
    let description = format!("{}.", def.help);
    let metrics = metrics.clone();
    match def.kind {
        MetricKind::Counter => {
            meter
                .u64_observable_counter(otel_name(def))
                .with_description(description)
                .with_callback(move |observer| observe(&metrics, def, observer))
                .build();
        }
        MetricKind::Gauge => {
            meter
                .i64_observable_gauge(otel_name(def))
                .with_description(description)
                .with_callback(move |observer| observe(&metrics, def, observer))
                .build();
        }
        // Observable instruments cannot carry buckets; histograms stay on /metrics.
        MetricKind::Histogram => {}
    }
}

/// Reports every series of `def` from the current page.
fn observe<T: FromStr>(
    metrics: &Metrics,
    def: &'static MetricDef,
    observer: &dyn AsyncInstrument<T>,
) {
    let page = metrics.encode_prometheus_text();
    for line in page.lines() {
        let Some(sample) = parse_sample(line) else {
            continue;
        };
        if sample.name != def.name {
            continue;
        }
        // Our counters and gauges are integers; anything else would be a bug upstream.
        let Ok(value) = sample.value.parse::<T>() else {
            continue;
        };
        let attributes: Vec<KeyValue> = sample
            .labels
            .into_iter()
            .map(|(name, value)| {
                let key = match def.labels.iter().find(|l| **l == name) {
                    Some(known) => Key::from_static_str(known),
                    None => Key::new(name.to_owned()),
                };
                KeyValue::new(key, value)
            })
            .collect();
        observer.observe(value, &attributes);
    }
}

/// One sample line of the Prometheus text format.
#[derive(Debug, PartialEq, Eq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: &'a str,
}

/// Parses `name{label="value",...} value [timestamp]`; `None` for comments, blank lines
/// and anything malformed.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after_eq) = inner.split_once("=\"")?;
            let (value, after_value) = unescape_label_value(after_eq)?;
            labels.push((label, value));
            inner = after_value.strip_prefix(',').unwrap_or(after_value);
        }
    }
    let value = rest.split_whitespace().next()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Reads a label value up to its closing quote; returns it unescaped and the rest.
fn unescape_label_value(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, s.get(i + 1..)?)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Checks that `endpoint` is an `http://` URL with a host.
fn check_endpoint(endpoint: &str) -> Result<(), OtlpError> {
    let fail = |reason| OtlpError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let uri = http::Uri::from_str(endpoint).map_err(|_| fail("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(fail("https is not supported by this build (no TLS)")),
        _ => return Err(fail("the scheme must be http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(fail("the URL has no host"));
    }
    // It would be logged with the endpoint; credentials belong in a (secret) header.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(fail(
            "credentials in the URL are not supported, use headers",
        ));
    }
    Ok(())
}

/// A blocking reqwest client, built on a thread of its own: reqwest's blocking client
/// panics when built or dropped inside an async runtime, and the caller may be in one.
fn blocking_client(timeout: Duration) -> Result<reqwest::blocking::Client, OtlpError> {
    netsensor_elastic::connection::install_crypto_provider();
    std::thread::Builder::new()
        .name("otlp-client-init".to_owned())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
                .map_err(|e| OtlpError::Client(error_chain(&e)))
        })
        .map_err(|e| OtlpError::Client(format!("cannot start a thread: {e}")))?
        .join()
        .map_err(|_| OtlpError::Client("the client thread panicked".to_owned()))?
}

/// `error: cause: cause`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters and the log gate shared by the exporter wrapper and the HTTP client.
#[derive(Debug)]
struct ExportState {
    endpoint: String,
    exported: AtomicU64,
    failed: AtomicU64,
    failing: AtomicBool,
    /// The transport error of the request in flight (the exporter only says "network
    /// error"); taken when that export's result is recorded.
    transport_error: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
    gate: RateGate,
    clock: MonotonicClock,
}

impl ExportState {
    fn new(endpoint: String) -> Self {
        ExportState {
            endpoint,
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            transport_error: Mutex::new(None),
            last_error: Mutex::new(None),
            gate: RateGate::new(),
            clock: MonotonicClock::default(),
        }
    }

    /// Counts one export and logs a failure (rate-limited) or the recovery.
    fn record(&self, result: &OTelSdkResult) {
        let transport = lock(&self.transport_error).take();
        match result {
            Ok(()) => {
                self.exported.fetch_add(1, Ordering::Relaxed);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "OTLP metric export recovered.");
                }
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.failing.store(true, Ordering::Relaxed);
                let text = match transport {
                    Some(detail) => format!("{error}: {detail}"),
                    None => error.to_string(),
                };
                let interval = u64::try_from(LOG_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
                if let Some(suppressed) = self.gate.allow(self.clock.now_ns(), interval) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        error = %text,
                        suppressed = suppressed.count(),
                        "Failed to export metrics over OTLP{suppressed}."
                    );
                }
                *lock(&self.last_error) = Some(text);
            }
        }
    }
}

/// The OTLP exporter, counting and logging each export's outcome.
#[derive(Debug)]
struct CountingExporter {
    inner: MetricExporter,
    state: Arc<ExportState>,
}

impl PushMetricExporter for CountingExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.state.record(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// The blocking reqwest client, keeping the transport error for the log.
#[derive(Debug)]
struct RecordingClient {
    inner: reqwest::blocking::Client,
    state: Arc<ExportState>,
}

#[async_trait]
impl HttpClient for RecordingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        // Runs on the reader's own thread (the SDK drives exports with a plain executor),
        // so blocking here blocks nothing else.
        let result = self.inner.send_bytes(request).await;
        if let Err(error) = &result {
            *lock(&self.state.transport_error) = Some(error_chain(error.as_ref()));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{DropReason, OutputResult, PACKETS_RECEIVED};
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue as PbKeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
    };
    use prost::Message as _;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::Instant;

    /// One request as the test receiver saw it.
    #[derive(Debug)]
    struct Received {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: ExportMetricsServiceRequest,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A minimal OTLP/HTTP receiver on loopback answering every request with `status`.
    fn receiver(status: u16) -> (String, mpsc::Receiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let tx = tx.clone();
                std::thread::spawn(move || serve(stream, status, &tx));
            }
        });
        (endpoint, rx)
    }

    /// Serves HTTP/1.1 requests on one (keep-alive) connection.
    fn serve(stream: TcpStream, status: u16, tx: &mpsc::Sender<Received>) {
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap().to_owned();
            let path = parts.next().unwrap().to_owned();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .expect("the exporter sends Content-Length");
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
            let reason = if status == 200 { "OK" } else { "Error" };
            write!(
                writer,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-protobuf\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .unwrap();
            writer.flush().unwrap();
            let _ = tx.send(Received {
                method,
                path,
                headers,
                body,
            });
        }
    }

    fn settings(endpoint: &str, interval: Duration) -> OtlpSettings {
        OtlpSettings {
            endpoint: endpoint.to_owned(),
            interval,
            headers: vec![
                ("Authorization".to_owned(), "Bearer s3cret-token".to_owned()),
                ("X-Scope-OrgID".to_owned(), "tenant-a".to_owned()),
            ],
            service_version: "9.8.7".to_owned(),
        }
    }

    fn string_attr<'a>(attrs: &'a [PbKeyValue], key: &str) -> Option<&'a str> {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    fn metrics_of(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
        req.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .collect()
    }

    fn find<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
        metrics_of(req)
            .into_iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} not exported"))
    }

    /// The data points of a monotonic cumulative sum.
    fn sum_points(m: &Metric) -> &[NumberDataPoint] {
        match &m.data {
            Some(metric::Data::Sum(sum)) => {
                assert!(sum.is_monotonic, "{} is not monotonic", m.name);
                assert_eq!(
                    sum.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32,
                    "{}",
                    m.name
                );
                &sum.data_points
            }
            other => panic!("{} is not a Sum: {other:?}", m.name),
        }
    }

    fn gauge_points(m: &Metric) -> &[NumberDataPoint] {
        match &m.data {
            Some(metric::Data::Gauge(gauge)) => &gauge.data_points,
            other => panic!("{} is not a Gauge: {other:?}", m.name),
        }
    }

    /// The integer value of the point whose attributes are exactly `attrs`.
    fn value(points: &[NumberDataPoint], attrs: &[(&str, &str)]) -> Option<i64> {
        let point = points.iter().find(|p| {
            p.attributes.len() == attrs.len()
                && attrs
                    .iter()
                    .all(|(k, v)| string_attr(&p.attributes, k) == Some(*v))
        })?;
        match point.value {
            Some(number_data_point::Value::AsInt(v)) => Some(v),
            other => panic!("not an integer point: {other:?}"),
        }
    }

    /// Waits for a request that satisfies `pred`.
    fn wait_for(rx: &mpsc::Receiver<Received>, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = rx
                .recv_timeout(left)
                .expect("no matching OTLP request in 20 s");
            if pred(&got) {
                return got;
            }
        }
    }

    fn packets(req: &Received) -> Option<i64> {
        let m = metrics_of(&req.body)
            .into_iter()
            .find(|m| m.name == "netsensor_packets_received")?;
        value(sum_points(m), &[("capture", "eth0")])
    }

    #[test]
    fn exports_the_registry_to_an_otlp_receiver() {
        let m = Metrics::with_build("9.8.7", 1_700_000_000);
        m.packets_received("eth0").inc_by(42);
        m.bytes_received("eth0").inc_by(4_242);
        m.packets_dropped("eth0", DropReason::QueueFull).inc_by(3);
        m.output_records("es-main", OutputResult::Sent).inc_by(10);
        m.queue_depth("es-main").set(7);
        m.capture_up("eth0").set(1);

        let (endpoint, rx) = receiver(200);
        let exporter = spawn(settings(&endpoint, Duration::from_millis(200)), m.clone()).unwrap();
        let got = wait_for(&rx, |r| packets(r) == Some(42));

        assert_eq!(got.method, "POST");
        assert_eq!(got.path, "/v1/metrics");
        assert_eq!(got.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(got.header("authorization"), Some("Bearer s3cret-token"));
        assert_eq!(got.header("x-scope-orgid"), Some("tenant-a"));

        let req = &got.body;
        assert_eq!(req.resource_metrics.len(), 1);
        let resource = req.resource_metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            string_attr(&resource.attributes, "service.name"),
            Some("netsensor")
        );
        assert_eq!(
            string_attr(&resource.attributes, "service.version"),
            Some("9.8.7")
        );
        let scope = req.resource_metrics[0].scope_metrics[0]
            .scope
            .as_ref()
            .unwrap();
        assert_eq!(scope.name, "netsensor");
        assert_eq!(scope.version, "9.8.7");

        let received = find(req, "netsensor_packets_received");
        assert_eq!(received.description, format!("{}.", PACKETS_RECEIVED.help));
        assert_eq!(received.unit, "");
        assert_eq!(
            value(sum_points(received), &[("capture", "eth0")]),
            Some(42)
        );
        let bytes = find(req, "netsensor_bytes_received");
        assert_eq!(
            value(sum_points(bytes), &[("capture", "eth0")]),
            Some(4_242)
        );
        let dropped = sum_points(find(req, "netsensor_packets_dropped"));
        assert_eq!(
            value(dropped, &[("capture", "eth0"), ("reason", "queue_full")]),
            Some(3)
        );
        let out = sum_points(find(req, "netsensor_output_records"));
        assert_eq!(
            value(out, &[("output", "es-main"), ("result", "sent")]),
            Some(10)
        );
        // Pre-registered series are exported at zero, with the label as attribute.
        let decode = sum_points(find(req, "netsensor_decode_errors"));
        assert_eq!(value(decode, &[("layer", "http")]), Some(0));

        let depth = gauge_points(find(req, "netsensor_queue_depth"));
        assert_eq!(value(depth, &[("queue", "es-main")]), Some(7));
        let up = gauge_points(find(req, "netsensor_capture_up"));
        assert_eq!(value(up, &[("capture", "eth0")]), Some(1));
        let start = gauge_points(find(req, "netsensor_start_time_seconds"));
        assert_eq!(value(start, &[]), Some(1_700_000_000));
        let build = gauge_points(find(req, "netsensor_build_info"));
        assert_eq!(value(build, &[("version", "9.8.7")]), Some(1));

        // Exactly the table's metrics, under their OTLP names, each once.
        let mut names: Vec<&str> = metrics_of(req).iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate metrics: {names:?}");
        for name in &names {
            assert!(
                METRICS.iter().any(|d| otel_name(d) == *name),
                "{name} is not in METRICS"
            );
        }
        assert!(!names.iter().any(|n| n.ends_with("_total")), "{names:?}");

        // Later exports carry the live value.
        m.packets_received("eth0").inc_by(8);
        let later = wait_for(&rx, |r| packets(r) == Some(50));
        let start_times: Vec<u64> = sum_points(find(&later.body, "netsensor_packets_received"))
            .iter()
            .map(|p| p.start_time_unix_nano)
            .collect();
        assert!(start_times.iter().all(|t| *t > 0), "{start_times:?}");

        // The receiver answers before the exporter counts: wait for the count.
        let deadline = Instant::now() + Duration::from_secs(20);
        while exporter.stats().exported < 2 {
            assert!(Instant::now() < deadline, "{:?}", exporter.stats());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(exporter.stats().failed, 0, "{:?}", exporter.stats());

        // Drop flushes once more.
        m.packets_received("eth0").inc_by(50);
        drop(exporter);
        wait_for(&rx, |r| packets(r) == Some(100));
    }

    #[test]
    fn endpoint_down_is_counted_without_panicking() {
        // A port that was just free: connections are refused.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let m = Metrics::with_build("1", 0);
        m.packets_received("eth0").inc_by(5);
        let endpoint = format!("http://127.0.0.1:{port}/v1/metrics");
        let exporter = spawn(settings(&endpoint, Duration::from_millis(50)), m).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while exporter.stats().failed < 3 {
            assert!(Instant::now() < deadline, "{:?}", exporter.stats());
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = exporter.stats();
        assert_eq!(stats.exported, 0);
        let error = stats.last_error.unwrap();
        assert!(error.contains("refused"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let started = Instant::now();
        drop(exporter);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn error_status_is_counted_as_failure() {
        let (endpoint, rx) = receiver(503);
        let exporter = spawn(
            settings(&endpoint, Duration::from_millis(100)),
            Metrics::with_build("1", 0),
        )
        .unwrap();
        let got = wait_for(&rx, |_| true);
        assert_eq!(got.header("authorization"), Some("Bearer s3cret-token"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while exporter.stats().failed == 0 {
            assert!(Instant::now() < deadline, "{:?}", exporter.stats());
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = exporter.stats();
        assert_eq!(stats.exported, 0);
        assert!(stats.last_error.unwrap().contains("503"));
    }

    #[test]
    fn rejects_bad_settings() {
        let m = Metrics::with_build("1", 0);
        let ok = settings("http://127.0.0.1:4318/v1/metrics", Duration::from_secs(60));
        for endpoint in [
            "https://collector:4318/v1/metrics",
            "127.0.0.1:4318",
            "ftp://x/v1/metrics",
            "http:///v1/metrics",
            "http://user:pw@collector:4318/v1/metrics",
            "not a url",
        ] {
            let s = OtlpSettings {
                endpoint: endpoint.to_owned(),
                ..ok.clone()
            };
            let err = spawn(s, m.clone()).unwrap_err();
            assert!(
                matches!(err, OtlpError::Endpoint { .. }),
                "{endpoint}: {err}"
            );
        }
        let s = OtlpSettings {
            interval: Duration::ZERO,
            ..ok.clone()
        };
        assert!(matches!(spawn(s, m.clone()), Err(OtlpError::Interval)));
        for (name, value) in [("Bad Header", "x"), ("X-Token", "line\nbreak")] {
            let s = OtlpSettings {
                headers: vec![(name.to_owned(), value.to_owned())],
                ..ok.clone()
            };
            let err = spawn(s, m.clone()).unwrap_err();
            assert!(matches!(err, OtlpError::Header { .. }), "{err}");
            assert!(!err.to_string().contains("break"), "{err}");
        }
    }

    #[test]
    fn debug_hides_header_values() {
        let s = settings("http://127.0.0.1:1/v1/metrics", Duration::from_secs(1));
        let shown = format!("{s:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("tenant-a"), "{shown}");
    }

    #[test]
    fn parses_text_format_samples() {
        assert_eq!(
            parse_sample(r#"netsensor_x_total{capture="eth0",reason="queue_full"} 42"#),
            Some(Sample {
                name: "netsensor_x_total",
                labels: vec![("capture", "eth0".into()), ("reason", "queue_full".into())],
                value: "42",
            })
        );
        assert_eq!(
            parse_sample("netsensor_start_time_seconds 1700000000 1700000001000"),
            Some(Sample {
                name: "netsensor_start_time_seconds",
                labels: vec![],
                value: "1700000000",
            })
        );
        // Escapes per the text format: \\, \" and \n; a `}` or `,` inside quotes is data.
        assert_eq!(
            parse_sample(r#"m{a="x\"y\\z\n",b="p}q,r"} -3"#),
            Some(Sample {
                name: "m",
                labels: vec![("a", "x\"y\\z\n".into()), ("b", "p}q,r".into())],
                value: "-3",
            })
        );
        assert_eq!(parse_sample("m{} 1").map(|s| s.value), Some("1"));
        for bad in ["# HELP m x", "", "m", r#"m{a="x} 1"#, "m{a} 1"] {
            assert_eq!(parse_sample(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counter_names_drop_total() {
        for def in METRICS {
            let name = otel_name(def);
            match def.kind {
                MetricKind::Counter => assert_eq!(format!("{name}_total"), def.name),
                MetricKind::Gauge | MetricKind::Histogram => assert_eq!(name, def.name),
            }
        }
    }
}
