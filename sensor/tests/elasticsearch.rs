//! The `elasticsearch` output against the real engines that `dev/stack` runs: every
//! fixture replayed into Elasticsearch and OpenSearch and compared field by field with
//! the NDJSON the file output writes, idempotent retries, flows with interim records, an
//! engine stopped and started in the middle of a replay, documents the mapping rejects,
//! and TLS with basic auth and API keys on the secured node.
//!
//! Each test uses its own data stream namespace (and its own templates, scoped to it), so
//! tests running in parallel never see each other's documents. A test fails when its
//! engine cannot be started.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use netsensor::outputs::spool::{Spool, SpoolSettings};
use netsensor_elastic::setup::{self, SetupOptions};
use netsensor_elastic::templates::Scope;
use netsensor_elastic::{Auth, Cluster, ClusterConfig, Sensitive};
use netsensor_testkit::stack::{self, Engine, Service};
use serde_json::{json, Value};

/// The outage test stops an engine: it runs alone among this file's tests.
static ENGINES: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    ENGINES.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    ENGINES.write().unwrap_or_else(|e| e.into_inner())
}

/// A namespace no other test (or earlier run) uses; no test's namespace is a prefix of
/// another's, so their scoped templates never overlap.
fn namespace(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}_{}_{nanos}_{}x",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One engine with a client for checking what landed.
struct Target {
    engine: Engine,
    service: Service,
    cluster: Cluster,
    rt: tokio::runtime::Runtime,
}

impl Target {
    fn new(engine: Engine) -> Target {
        let service = stack::ensure(engine);
        let mut config = ClusterConfig::new(service.url.clone());
        config.ca_file = service.ca_file.clone();
        if let Some(password) = &service.password {
            config.auth = Auth::Basic {
                username: "elastic".into(),
                password: Sensitive::new(password.clone()),
            };
        }
        let cluster = Cluster::new(&config).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Target {
            engine,
            service,
            cluster,
            rt,
        }
    }

    /// Installs netsensor's own templates for `ns` only (no lifecycle, no roles).
    fn install(&self, ns: &str) {
        let options = SetupOptions {
            namespaces: vec![ns.to_owned()],
            scope: Scope::Namespace(ns.to_owned()),
            lifecycle: false,
            create_data_streams: false,
            roles: false,
            sensor_api_key: None,
        };
        self.rt
            .block_on(setup::install(&self.cluster, &options))
            .unwrap_or_else(|e| panic!("setup on {}: {e}", self.engine));
    }

    fn put(&self, path: &str, body: &Value) -> Value {
        self.rt
            .block_on(self.cluster.put(path, body))
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
    }

    /// Refreshes and counts the documents of a data stream (0 when it does not exist).
    fn count(&self, data_stream: &str) -> u64 {
        let exists = self
            .rt
            .block_on(self.cluster.exists(&format!("/{data_stream}")))
            .unwrap();
        if !exists {
            return 0;
        }
        let refreshed = self
            .rt
            .block_on(self.cluster.send(
                reqwest::Method::POST,
                &format!("/{data_stream}/_refresh"),
                None,
            ))
            .unwrap();
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        let answer = self
            .rt
            .block_on(self.cluster.get(&format!("/{data_stream}/_count")))
            .unwrap();
        answer["count"].as_u64().unwrap()
    }

    /// Every document of a data stream (at most 10000), `_id` → `_source`.
    fn documents(&self, data_stream: &str) -> HashMap<String, Value> {
        self.count(data_stream);
        let answer = self
            .rt
            .block_on(self.cluster.post(
                &format!("/{data_stream}/_search"),
                &json!({"size": 10000, "query": {"match_all": {}}}),
            ))
            .unwrap();
        answer["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| {
                (
                    hit["_id"].as_str().unwrap().to_owned(),
                    without_ingested(hit["_source"].clone()),
                )
            })
            .collect()
    }
}

/// The document without `event.ingested`, which the ingest pipeline adds where the engine
/// has one (OpenSearch): everything else must be exactly what the sensor sent.
fn without_ingested(mut source: Value) -> Value {
    if let Some(event) = source.get_mut("event").and_then(Value::as_object_mut) {
        if let Some(ingested) = event.remove("ingested") {
            assert!(
                ingested.as_str().is_some_and(|t| t.ends_with('Z')),
                "{ingested}"
            );
        }
    }
    source
}

fn data_stream(kind: &str, ns: &str) -> String {
    format!("logs-netsensor.{kind}-{ns}")
}

/// A configuration file for a replay into `ns`: `records`, extra keys for the output
/// (indented YAML lines), and extra top-level YAML.
fn config(
    dir: &Path,
    service: &Service,
    ns: &str,
    records: &str,
    output: &str,
    top: &str,
) -> PathBuf {
    let text = format!(
        "sensor: {{ name: estest, data_directory: {data} }}\n\
         records: [{records}]\n\
         listeners: {{ metrics: null, query: null }}\n\
         {top}\n\
         outputs:\n  \
           elasticsearch:\n    \
             enabled: true\n    \
             urls: \"{url}\"\n    \
             namespace: {ns}\n    \
             batch: {{ max_wait_ms: 100 }}\n\
         {output}\n",
        data = dir.join("data").display(),
        url = service.url,
    );
    let path = dir.join("netsensor.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn replay(config: &Path, files: &[PathBuf], extra: &[&str]) -> Output {
    common::netsensor()
        .args(["replay", "--no-progress", "--config"])
        .arg(config)
        .args(extra)
        .args(files)
        .output()
        .unwrap()
}

/// The NDJSON the file output writes for the same replay, by `event.id`.
fn reference(config: &Path, files: &[PathBuf]) -> BTreeMap<String, Value> {
    let out = replay(config, files, &["--out", "-"]);
    common::parse_ndjson(&out.stdout)
        .into_iter()
        .map(|r| (r["event"]["id"].as_str().unwrap().to_owned(), r))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A counter from the output's closing log line (`sent=… duplicates=…`).
fn stopped_field(log: &str, field: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("Elasticsearch output stopped."))
        .unwrap_or_else(|| panic!("no closing line in:\n{log}"));
    let key = format!("{field}=");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {field} in {line}"));
    line[at + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Records left in a spool directory (nothing is acknowledged: the spool stays as it is).
fn spooled_records(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let mut spool = Spool::open(SpoolSettings {
        dir: dir.to_owned(),
        max_bytes: u64::MAX,
        segment_bytes: 1 << 20,
    })
    .unwrap();
    let mut records = 0;
    while let Some(entry) = spool.read_next().unwrap() {
        records += entry.payload.iter().filter(|&&b| b == b'\n').count();
    }
    records
}

fn spool_dir(dir: &Path) -> PathBuf {
    dir.join("data/spool/elasticsearch")
}

fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "spool"))
        })
        .count()
    })
}

// --- every fixture, field by field ---------------------------------------------------

fn fixtures_round_trip(engine: Engine) {
    let _guard = shared();
    let target = Target::new(engine);
    let ns = namespace("fixtures");
    target.install(&ns);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &target.service, &ns, "packet", "", "");
    let files = common::fixtures();
    let want = reference(&cfg, &files);
    let out = replay(&cfg, &files, &[]);
    let log = stderr(&out);
    assert!(want.len() > 5000, "{}", want.len());
    let packets: u64 = log
        .lines()
        .find(|l| l.contains("Run finished."))
        .and_then(|l| l.split("packets=").nth(1))
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no run summary in:\n{log}"));
    let got = target.documents(&data_stream("packet", &ns));
    assert_eq!(got.len() as u64, packets, "documents vs packets\n{log}");
    assert_eq!(got.len(), want.len(), "documents vs NDJSON records");
    for (id, record) in &want {
        let source = got.get(id).unwrap_or_else(|| panic!("{id} is not indexed"));
        assert_eq!(
            source, record,
            "document {id} differs from the NDJSON record"
        );
    }
    assert_eq!(stopped_field(&log, "sent"), packets, "{log}");
    assert_eq!(stopped_field(&log, "dead_lettered"), 0, "{log}");
    assert_eq!(segment_files(&spool_dir(dir.path())), 0);
}

#[test]
fn every_fixture_round_trips_elasticsearch() {
    fixtures_round_trip(Engine::Elasticsearch);
}

#[test]
fn every_fixture_round_trips_opensearch() {
    fixtures_round_trip(Engine::OpenSearch);
}

// --- idempotence ---------------------------------------------------------------------

fn replay_twice(engine: Engine) {
    let _guard = shared();
    let target = Target::new(engine);
    let ns = namespace("twice");
    target.install(&ns);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &target.service, &ns, "packet, flow", "", "");
    let files = vec![common::fixtures_dir().join("http-dns-wikipedia-mixed.pcap")];
    let want = reference(&cfg, &files);
    let first = replay(&cfg, &files, &[]);
    let second = replay(&cfg, &files, &[]);
    let packets = target.count(&data_stream("packet", &ns));
    let flows = target.count(&data_stream("flow", &ns));
    assert_eq!(packets, 136);
    assert_eq!(packets + flows, want.len() as u64);
    let log = stderr(&second);
    assert_eq!(stopped_field(&stderr(&first), "duplicates"), 0);
    // Every record of the second run was already there: 409, counted as delivered.
    assert_eq!(
        stopped_field(&log, "duplicates"),
        want.len() as u64,
        "{log}"
    );
    assert_eq!(stopped_field(&log, "sent"), want.len() as u64, "{log}");
}

#[test]
fn the_same_replay_twice_leaves_no_duplicates_elasticsearch() {
    replay_twice(Engine::Elasticsearch);
}

#[test]
fn the_same_replay_twice_leaves_no_duplicates_opensearch() {
    replay_twice(Engine::OpenSearch);
}

// --- flows with interim records ------------------------------------------------------

fn interim_flows(engine: Engine) {
    let _guard = shared();
    let target = Target::new(engine);
    let ns = namespace("flows");
    target.install(&ns);
    let dir = tempfile::tempdir().unwrap();
    let top = "flows: { active_timeout_secs: 10 }";
    let cfg = config(dir.path(), &target.service, &ns, "flow", "", top);
    // A 31-second TCP connection: two active timeouts, then its FIN.
    let files = vec![common::fixtures_dir().join("tcp-retransmissions.pcap")];
    let want = reference(&cfg, &files);
    let out = replay(&cfg, &files, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = target.documents(&data_stream("flow", &ns));
    assert_eq!(got.len(), want.len());
    let last = want
        .values()
        .find(|r| r["netsensor"]["flow"]["sequence"] == 2)
        .expect("a flow with three records");
    let key = (
        &last["network"]["community_id"],
        &last["netsensor"]["flow"]["start"],
    );
    let mut sequences: Vec<(i64, String)> = got
        .values()
        .filter(|d| {
            (
                &d["network"]["community_id"],
                &d["netsensor"]["flow"]["start"],
            ) == key
        })
        .map(|d| {
            (
                d["netsensor"]["flow"]["sequence"].as_i64().unwrap(),
                d["netsensor"]["flow"]["end_reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    sequences.sort();
    assert_eq!(
        sequences,
        vec![
            (0, "active_timeout".to_owned()),
            (1, "active_timeout".to_owned()),
            (2, "fin".to_owned())
        ]
    );
    for (id, record) in &want {
        assert_eq!(got.get(id), Some(record), "{id}");
    }
}

#[test]
fn a_flow_over_two_active_timeouts_has_three_documents_elasticsearch() {
    interim_flows(Engine::Elasticsearch);
}

#[test]
fn a_flow_over_two_active_timeouts_has_three_documents_opensearch() {
    interim_flows(Engine::OpenSearch);
}

// --- an engine stopped in the middle of a replay --------------------------------------

/// A classic pcap of the first `frames` frames of a fixture, re-stamped `gap` apart, so
/// that a replay at real-time speed lasts `frames × gap`.
fn paced_capture(out: &Path, frames: usize, gap: Duration) {
    let bytes =
        std::fs::read(common::fixtures_dir().join("mixed-large-many-protocols.pcap")).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut pcap = bytes[..24].to_vec();
    let mut at = 24;
    let start = 1_700_000_000u64 * 1_000_000;
    for i in 0..frames {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let micros = start + i as u64 * gap.as_micros() as u64;
        pcap.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        pcap.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        pcap.extend_from_slice(&bytes[at + 8..at + 16 + incl]);
        at += 16 + incl;
    }
    std::fs::write(out, pcap).unwrap();
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, page) = stack::http_get(port, "/metrics").ok()?;
    page.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn outage(engine: Engine) {
    let _guard = exclusive();
    let target = Target::new(engine);
    let ns = namespace("outage");
    target.install(&ns);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("paced.pcap");
    let frames = 1500;
    paced_capture(&capture, frames, Duration::from_millis(10));
    let port = common::free_port();
    let top = format!("listeners: {{ metrics: {{ address: \"127.0.0.1:{port}\" }} }}");
    // A small memory queue, so that the outage spills into the spool; a long shutdown
    // allowance, so that the replay waits for the engine to come back.
    let output = "    memory_queue_bytes: 65536\n    shutdown_timeout_ms: 240000\n    \
                  retry: { initial_backoff_ms: 50, max_backoff_ms: 1000 }";
    let cfg = config(dir.path(), &target.service, &ns, "packet", output, "");
    // The listener goes in a second document key: replace the `listeners` line.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("listeners: { metrics: null, query: null }", &top);
    std::fs::write(&cfg, text).unwrap();

    let mut child = common::netsensor()
        .args(["replay", "--no-progress", "--speed", "1", "--config"])
        .arg(&cfg)
        .arg(&capture)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stream = data_stream("packet", &ns);
    assert!(
        common::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            target.count(&stream) > 0
        }),
        "nothing was indexed before the outage"
    );
    stack::stop(engine);
    let stopped = Instant::now();
    let retried = common::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        metric(
            port,
            "netsensor_output_retries_total{output=\"elasticsearch\"}",
        )
        .is_some_and(|v| v > 0.0)
    });
    let up = metric(port, "netsensor_output_up{output=\"elasticsearch\"}");
    std::thread::sleep(Duration::from_secs(2).saturating_sub(stopped.elapsed()));
    stack::start(engine);
    let target = Target::new(engine);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the replay did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        retried,
        "no retries in the metrics during the outage\n{log}"
    );
    assert_eq!(up, Some(0.0), "the output is down during the outage");
    assert!(status.success(), "{log}");
    // Every record exactly once: each has its own _id, so the count says it all.
    assert_eq!(target.count(&stream), frames as u64, "{log}");
    assert!(stopped_field(&log, "spooled") > 0, "{log}");
    assert_eq!(stopped_field(&log, "dropped"), 0, "{log}");
    assert_eq!(stopped_field(&log, "spool_bytes"), 0, "{log}");
    assert_eq!(
        segment_files(&spool_dir(dir.path())),
        0,
        "the spool is drained"
    );
}

#[test]
fn an_engine_stopped_mid_replay_loses_nothing_elasticsearch() {
    outage(Engine::Elasticsearch);
}

#[test]
fn an_engine_stopped_mid_replay_loses_nothing_opensearch() {
    outage(Engine::OpenSearch);
}

// --- documents the mapping rejects ---------------------------------------------------

fn partial_failure(engine: Engine) {
    let _guard = shared();
    let target = Target::new(engine);
    let ns = namespace("reject");
    // A template of our own for this namespace that maps network.protocol (a string such
    // as "dns" in the records) as a number: those documents fail, the others land.
    target.put(
        &format!("/_index_template/netsensor-test-{ns}"),
        &json!({
            // Exact names: a wildcard inside the pattern would overlap other tests'.
            "index_patterns": [data_stream("packet", &ns)],
            "priority": 950,
            "data_stream": {},
            "template": {
                "settings": {"number_of_replicas": 0},
                "mappings": {"properties": {
                    "@timestamp": {"type": "date_nanos"},
                    "network": {"properties": {"protocol": {"type": "long"}}}
                }}
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let output = format!("    dead_letter_path: {}", dead.display());
    let cfg = config(dir.path(), &target.service, &ns, "packet", &output, "");
    let files = vec![common::fixtures_dir().join("http-dns-wikipedia-mixed.pcap")];
    let want = reference(&cfg, &files);
    let rejected: Vec<&String> = want
        .iter()
        .filter(|(_, r)| r["network"]["protocol"].is_string())
        .map(|(id, _)| id)
        .collect();
    assert!(!rejected.is_empty() && rejected.len() < want.len());
    let out = replay(&cfg, &files, &[]);
    let log = stderr(&out);
    let got = target.documents(&data_stream("packet", &ns));
    assert_eq!(got.len(), want.len() - rejected.len(), "{log}");
    let lines = common::parse_ndjson(&std::fs::read(&dead).unwrap());
    assert_eq!(lines.len(), rejected.len(), "{log}");
    for line in &lines {
        let id = line["record"]["event"]["id"].as_str().unwrap();
        assert!(rejected.contains(&&id.to_owned()), "{id}");
        assert_eq!(&line["record"], &want[id], "the record is kept as it was");
        assert_eq!(line["status"], 400);
        let kind = line["error"]["type"].as_str().unwrap();
        assert!(kind.ends_with("parsing_exception"), "{kind}");
        assert!(
            line["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("network.protocol"),
            "{line}"
        );
        assert_eq!(line["index"], data_stream("packet", &ns).as_str());
    }
    assert_eq!(stopped_field(&log, "dead_lettered"), rejected.len() as u64);
    assert_eq!(
        stopped_field(&log, "retries"),
        0,
        "rejections are not retried"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "a replay that lost records says so in its exit code: {log}"
    );
    assert!(
        log.contains(&format!("{} record(s) were not delivered", rejected.len())),
        "{log}"
    );
}

#[test]
fn documents_the_mapping_rejects_go_to_the_dead_letter_file_elasticsearch() {
    partial_failure(Engine::Elasticsearch);
}

#[test]
fn documents_the_mapping_rejects_go_to_the_dead_letter_file_opensearch() {
    partial_failure(Engine::OpenSearch);
}

// --- TLS, basic auth and API keys ----------------------------------------------------

/// A configuration for the secured node; `credentials` are the output's YAML lines.
fn secure_config(dir: &Path, service: &Service, ns: &str, credentials: &str) -> PathBuf {
    config(dir, service, ns, "packet", credentials, "")
}

#[test]
fn tls_with_basic_auth_and_with_an_api_key_elasticsearch() {
    let _guard = shared();
    let target = Target::new(Engine::ElasticsearchSecure);
    let service = &target.service;
    let ca = service.ca_file.clone().expect("the secure node has a CA");
    let dir = tempfile::tempdir().unwrap();
    let files = vec![common::fixtures_dir().join("dns-a-aaaa-mx.pcap")];

    // Basic auth, password from a file.
    let ns = namespace("basic");
    target.install(&ns);
    let password = dir.path().join("password");
    std::fs::write(&password, service.password.as_deref().unwrap()).unwrap();
    let basic = dir.path().join("basic");
    std::fs::create_dir(&basic).unwrap();
    let creds = format!(
        "    username: elastic\n    password: {{ file: {} }}\n    ca_file: {}",
        password.display(),
        ca.display()
    );
    let cfg = secure_config(&basic, service, &ns, &creds);
    let want = reference(&cfg, &files);
    let out = replay(&cfg, &files, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        target.count(&data_stream("packet", &ns)),
        want.len() as u64,
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(service.password.as_deref().unwrap()));

    // The least-privilege API key that setup creates for the sensor, from an env var.
    let ns = namespace("apikey");
    let report = target
        .rt
        .block_on(setup::install(
            &target.cluster,
            &SetupOptions {
                namespaces: vec![ns.clone()],
                scope: Scope::Namespace(ns.clone()),
                lifecycle: false,
                create_data_streams: false,
                roles: true,
                sensor_api_key: Some(format!("netsensor-test-{ns}")),
            },
        ))
        .unwrap();
    let key = report.sensor_api_key.expect("an API key").encoded;
    let keyed = dir.path().join("keyed");
    std::fs::create_dir(&keyed).unwrap();
    let creds = format!(
        "    api_key: {{ env: NETSENSOR_TEST_ES_KEY }}\n    ca_file: {}",
        ca.display()
    );
    let cfg = secure_config(&keyed, service, &ns, &creds);
    let out = Command::new(env!("CARGO_BIN_EXE_netsensor"))
        .env("NETSENSOR_TEST_ES_KEY", key.expose())
        .args(["replay", "--no-progress", "--config"])
        .arg(&cfg)
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        target.count(&data_stream("packet", &ns)),
        want.len() as u64,
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(key.expose()));
}

/// A refused credential or an untrusted certificate: one clear error, no retry loop, and
/// every record in the spool for later.
fn refused(credentials: impl Fn(&Path, &Service) -> String, expect: &[&str]) {
    let _guard = shared();
    let target = Target::new(Engine::ElasticsearchSecure);
    let ns = namespace("refused");
    let dir = tempfile::tempdir().unwrap();
    let files = vec![common::fixtures_dir().join("http-dns-wikipedia-mixed.pcap")];
    let creds = format!(
        "{}\n    shutdown_timeout_ms: 1500\n    retry: {{ initial_backoff_ms: 100, max_backoff_ms: 1000 }}",
        credentials(dir.path(), &target.service)
    );
    let cfg = secure_config(dir.path(), &target.service, &ns, &creds);
    let started = Instant::now();
    let out = replay(&cfg, &files, &[]);
    let log = stderr(&out);
    assert!(started.elapsed() < Duration::from_secs(60), "{log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("The cluster refuses the sensor"))
        .collect();
    assert!(
        !errors.is_empty() && errors.len() <= 2,
        "one clear error, not a retry loop:\n{log}"
    );
    for needle in expect {
        assert!(
            errors[0].contains(needle),
            "{needle:?} not in {}",
            errors[0]
        );
    }
    assert_eq!(stopped_field(&log, "sent"), 0);
    assert_eq!(stopped_field(&log, "dropped"), 0);
    assert_eq!(spooled_records(&spool_dir(dir.path())), 136, "{log}");
    assert_eq!(target.count(&data_stream("packet", &ns)), 0);
}

#[test]
fn a_wrong_password_is_a_clear_error_and_records_are_spooled_elasticsearch() {
    refused(
        |dir, service| {
            let password = dir.join("wrong");
            std::fs::write(&password, "not-the-password").unwrap();
            format!(
                "    username: elastic\n    password: {{ file: {} }}\n    ca_file: {}",
                password.display(),
                service.ca_file.as_ref().unwrap().display()
            )
        },
        &["401"],
    );
}

#[test]
fn an_untrusted_certificate_is_a_clear_error_and_records_are_spooled_elasticsearch() {
    refused(
        |dir, service| {
            // A CA of our own, which did not sign the node's certificate.
            let ca = dir.join("other-ca.pem");
            let status = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", "/CN=not the stack CA", "-keyout"])
                .arg(dir.join("other-ca.key"))
                .arg("-out")
                .arg(&ca)
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success());
            let password = dir.join("password");
            std::fs::write(&password, service.password.as_deref().unwrap()).unwrap();
            format!(
                "    username: elastic\n    password: {{ file: {} }}\n    ca_file: {}",
                password.display(),
                ca.display()
            )
        },
        &["TLS"],
    );
}

// --- check-config --connect ----------------------------------------------------------

fn check_config_connect(engine: Engine, product: &str) {
    let _guard = shared();
    let target = Target::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &target.service, "default", "packet", "", "");
    let out = common::netsensor()
        .args(["check-config", "--connect"])
        .arg(&cfg)
        .output()
        .unwrap();
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("{} is {product} ", target.service.url)),
        "{log}"
    );
}

#[test]
fn check_config_connect_names_the_engine_elasticsearch() {
    check_config_connect(Engine::Elasticsearch, "Elasticsearch");
}

#[test]
fn check_config_connect_names_the_engine_opensearch() {
    check_config_connect(Engine::OpenSearch, "OpenSearch");
}

#[test]
fn check_config_connect_refuses_a_wrong_password_elasticsearch() {
    let _guard = shared();
    let target = Target::new(Engine::ElasticsearchSecure);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("wrong");
    std::fs::write(&password, "not-the-password").unwrap();
    let creds = format!(
        "    username: elastic\n    password: {{ file: {} }}\n    ca_file: {}",
        password.display(),
        target.service.ca_file.as_ref().unwrap().display()
    );
    let cfg = config(dir.path(), &target.service, "default", "packet", &creds, "");
    let out = common::netsensor()
        .args(["check-config", "--connect"])
        .arg(&cfg)
        .output()
        .unwrap();
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("HTTP 401"), "{log}");
    assert!(!log.contains("not-the-password"), "{log}");
}
