//! Shared by the admin tool's integration tests: the real engines, a unique namespace per
//! test, realistic flow documents indexed with `_bulk` at controlled times, and a way to
//! run the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use netsensor_elastic::{Cluster, ClusterConfig};
use serde_json::{json, Value};

pub use netsensor_testkit::stack::Engine;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const DAY: i64 = 86_400 * NANOS_PER_SEC;
/// 2025-01-01T00:00:00Z (`date -u -d 2025-01-01 +%s` = 1735689600).
pub const JAN_1_2025: i64 = 1_735_689_600 * NANOS_PER_SEC;

/// A running engine and a namespace of our own on it.
pub struct Fixture {
    pub engine: Engine,
    pub url: String,
    pub cluster: Cluster,
    pub namespace: String,
    pub stream: String,
    pub ca_file: Option<PathBuf>,
    pub password: Option<String>,
}

/// Starts the engine (or finds it running) through dev/stack; fails the test when it
/// cannot be started.
pub fn service(engine: Engine) -> netsensor_testkit::stack::Service {
    netsensor_testkit::stack::ensure(engine)
}

/// A namespace no other test (or earlier run) uses.
pub fn unique_namespace(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "admt{}{}{:x}",
        test.replace(['-', ' '], "_").to_lowercase(),
        N.fetch_add(1, Ordering::SeqCst),
        (nanos as u64 ^ u64::from(std::process::id())) & 0xffffff
    )
}

impl Fixture {
    /// Engine up, templates for a fresh namespace installed, flow data stream named.
    pub async fn new(engine: Engine, test: &str) -> Fixture {
        let service = service(engine);
        let mut config = ClusterConfig::new(service.url.clone());
        config.ca_file = service.ca_file.clone();
        if let Some(password) = &service.password {
            config.auth = netsensor_elastic::Auth::Basic {
                username: "elastic".into(),
                password: netsensor_elastic::Sensitive::new(password.clone()),
            };
        }
        let cluster = Cluster::new(&config).unwrap();
        let namespace = unique_namespace(test);
        let stream = format!("logs-netsensor.flow-{namespace}");
        let fixture = Fixture {
            engine,
            url: service.url.clone(),
            cluster,
            namespace,
            stream,
            ca_file: service.ca_file.clone(),
            password: service.password.clone(),
        };
        fixture.install_template().await;
        fixture
    }

    /// Installs the product's templates for this namespace only, with `setup` itself
    /// (templates scoped to the namespace, so the cluster-wide ones are not disturbed).
    async fn install_template(&self) {
        let out = json_out(&self.admin(&[
            "setup",
            "--json",
            "--namespace",
            &self.namespace,
            "--template-scope",
            &self.namespace,
            "--no-lifecycle",
            "--no-roles",
        ]));
        let created = |object: &str| {
            out["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["object"] == object && s["outcome"] == "created")
        };
        assert!(
            created(&format!("data stream {}", self.stream)),
            "setup did not create {}: {out}",
            self.stream
        );
    }

    /// Indexes `count` flow records spread evenly over `[from, to)` (nanoseconds) and
    /// refreshes. Returns the documents.
    pub async fn index_flows(&self, from: i64, to: i64, count: usize) -> Vec<Value> {
        let step = (to - from) / count as i64;
        let docs: Vec<Value> = (0..count)
            .map(|i| flow_doc(&self.namespace, from + step * i as i64, i))
            .collect();
        self.bulk(&self.stream, &docs).await;
        docs
    }

    /// `_bulk` create into `stream`, every item must succeed.
    pub async fn bulk(&self, stream: &str, docs: &[Value]) {
        let mut body = String::new();
        for doc in docs {
            body.push_str(&json!({"create": {"_id": doc["event"]["id"]}}).to_string());
            body.push('\n');
            body.push_str(&doc.to_string());
            body.push('\n');
        }
        let answer = self
            .cluster
            .send(
                reqwest::Method::POST,
                &format!("/{stream}/_bulk?refresh=true"),
                Some(("application/x-ndjson", body.into_bytes())),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let value: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(value["errors"], false, "{}", answer.body);
    }

    /// Rolls the flow data stream over.
    pub async fn roll_over(&self) {
        self.cluster
            .post(&format!("/{}/_rollover", self.stream), &json!({}))
            .await
            .unwrap();
    }

    /// Backing indices of the flow data stream, oldest first.
    pub async fn backing_indices(&self) -> Vec<String> {
        let answer = self
            .cluster
            .get(&format!(
                "/_resolve/index/{}?expand_wildcards=all",
                self.stream
            ))
            .await
            .unwrap();
        let mut names: Vec<String> = answer["data_streams"][0]["backing_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        names.sort_by_key(|n| n.rsplit('-').next().unwrap().parse::<u64>().unwrap());
        names
    }

    /// Documents of `target` with `@timestamp` in `[from, to)`.
    pub async fn count(&self, target: &str, from: i64, to: i64) -> u64 {
        let answer = self
            .cluster
            .post(
                &format!("/{target}/_count"),
                &json!({"query": {"range": {"@timestamp": {
                    "gte": rfc3339(from), "lt": rfc3339(to),
                    "format": "strict_date_optional_time_nanos"}}}}),
            )
            .await
            .unwrap();
        answer["count"].as_u64().unwrap()
    }

    /// All documents of `target`.
    pub async fn count_all(&self, target: &str) -> u64 {
        let refresh = self
            .cluster
            .send(reqwest::Method::POST, &format!("/{target}/_refresh"), None)
            .await
            .unwrap();
        assert_eq!(refresh.status, 200, "{}", refresh.body);
        let answer = self
            .cluster
            .post(
                &format!("/{target}/_count"),
                &json!({"query": {"match_all": {}}}),
            )
            .await
            .unwrap();
        answer["count"].as_u64().unwrap()
    }

    /// Runs the admin tool against this engine.
    pub fn admin(&self, args: &[&str]) -> Output {
        let mut command = admin_command(&self.url);
        if let Some(ca) = &self.ca_file {
            command.arg("--ca-file").arg(ca);
        }
        command.args(args);
        if let Some(password) = &self.password {
            command.env("NETSENSOR_ES_PASSWORD", password);
        }
        command.output().unwrap()
    }
}

/// The admin binary with `--url` and no connection settings from the environment.
pub fn admin_command(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netsensor-admin"));
    for var in [
        "NETSENSOR_ES_URL",
        "NETSENSOR_ES_USERNAME",
        "NETSENSOR_ES_PASSWORD",
        "NETSENSOR_ES_PASSWORD_FILE",
        "NETSENSOR_ES_API_KEY",
        "NETSENSOR_ES_API_KEY_FILE",
        "NETSENSOR_ES_CA_FILE",
    ] {
        command.env_remove(var);
    }
    command.arg("--url").arg(url);
    command
}

/// The summary requests the product ships.
pub fn requests_dir() -> PathBuf {
    match std::env::var_os("NETSENSOR_REQUESTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("elasticsearch")
            .join("requests.d"),
    }
}

/// The flow summary requests' names.
pub fn flow_request_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(requests_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("flow-")
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no flow summary requests in {}",
        requests_dir().display()
    );
    names
}

/// A realistic flow record at `ts` (nanoseconds): a TCP or UDP conversation from a LAN
/// host to a public server, with ECS fields as the sensor writes them.
pub fn flow_doc(namespace: &str, ts: i64, i: usize) -> Value {
    let (transport, iana, port, service) = match i % 3 {
        0 => ("tcp", "6", 443, "https"),
        1 => ("udp", "17", 53, "dns"),
        _ => ("tcp", "6", 22, "ssh"),
    };
    let src = format!("192.168.1.{}", 10 + i % 5);
    let dst = ["93.184.216.34", "1.1.1.1", "151.101.1.69"][i % 3];
    let bytes = 500 + (i as i64 * 37) % 4000;
    let country = ["US", "AU", "DE"][i % 3];
    json!({
        "@timestamp": rfc3339(ts),
        "event": {
            "kind": "event", "category": ["network"], "type": ["connection", "end"],
            "dataset": "netsensor.flow", "module": "netsensor",
            "id": format!("{namespace}-{ts}-{i}"),
            "start": rfc3339(ts), "end": rfc3339(ts + 2 * NANOS_PER_SEC),
            "duration": 2 * NANOS_PER_SEC,
        },
        "observer": {"name": "test-sensor", "type": "sensor", "product": "netsensor"},
        "network": {
            "type": "ipv4", "transport": transport, "iana_number": iana,
            "direction": "egress", "bytes": bytes, "packets": 4 + i % 7,
        },
        "source": {"ip": src, "port": 40000 + i % 20000, "bytes": bytes / 3, "packets": 2},
        "destination": {"ip": dst, "port": port, "bytes": bytes - bytes / 3, "packets": 2 + i % 7,
                        "geo": {"country_iso_code": country}},
        "related": {"ip": [src, dst]},
        "netsensor": {"service": service, "flow": {"state": "closed", "final": true, "sequence": 0}},
    })
}

/// RFC 3339 with nanoseconds.
pub fn rfc3339(ns: i64) -> String {
    let mut buf = [0u8; 30];
    netsensor_schema::Timestamp(ns).format(&mut buf).to_owned()
}

/// stdout and stderr of a run, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Parses stdout as JSON (the run must have succeeded).
pub fn json_out(output: &Output) -> Value {
    assert!(output.status.success(), "{}", show(output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", show(output)))
}

/// Reads a gzipped JSON file.
pub fn read_gz_json(path: &Path) -> Value {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}
