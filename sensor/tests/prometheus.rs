//! The sensor's `/metrics` page against the real Prometheus tools (Debian `prometheus`):
//! `promtool check metrics` accepts the live page, a real Prometheus server on loopback
//! scrapes a running sensor every second and evaluates the shipped alert rules against it,
//! and every `netsensor_*` series an alert rule reads is exported by a running sensor.
//!
//! The sensor replays a capture at 4× its recorded pace (dev/fixtures/pcaps/ics-modbus.pcap:
//! 166 frames spread over 56 s), so its counters grow for about 14 s, on 127.0.0.1 only. The
//! tests fail, never skip, when promtool or prometheus is missing: `dev/install-deps.sh`
//! installs them.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, wait_until};
use serde_json::Value;

/// Longest wait for anything the tests wait for.
const WAIT: Duration = Duration::from_secs(20);
/// How often a wait checks its condition.
const POLL: Duration = Duration::from_millis(200);

fn require(program: &str) {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(program).is_file());
    assert!(
        found,
        "`{program}` is missing: install the Debian package prometheus (dev/install-deps.sh)"
    );
}

/// A child process killed when the test ends, passed or failed.
struct Guard {
    child: Child,
    log: PathBuf,
}

impl Guard {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self, what: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{what} exited early ({status}):\n{}", self.log());
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 (no chunking, the server closes): status and body.
fn http_get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A sensor replaying the fixture with timing, serving /metrics on a free loopback port.
fn start_sensor(dir: &Path) -> (Guard, SocketAddr) {
    start_sensor_with(dir, "")
}

/// A replay serving /metrics, writing packet records to a file in `dir`, with `outputs`
/// (YAML lines under `outputs:`) besides.
fn start_sensor_with(dir: &Path, outputs: &str) -> (Guard, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: prom-test, data_directory: {} }}\n\
             listeners:\n  metrics: {{ address: \"{addr}\" }}\n\
             records: [packet]\n\
             outputs:\n  file: {{ path: {} }}\n{outputs}",
            dir.display(),
            dir.join("records.ndjson").display()
        ),
    )
    .unwrap();
    let log = dir.join("netsensor.log");
    let child = Command::new(env!("CARGO_BIN_EXE_netsensor"))
        .arg("replay")
        .arg("--speed")
        .arg("4")
        .arg("--no-progress")
        .arg("--config")
        .arg(&config)
        .arg(common::repo().join("dev/fixtures/pcaps/ics-modbus.pcap"))
        .env_remove("NETSENSOR_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut sensor = Guard { child, log };
    let served = wait_until(WAIT, POLL, || {
        sensor.assert_running("netsensor replay");
        http_get(addr, "/metrics", None).is_some_and(|(status, _)| status == 200)
    });
    assert!(served, "/metrics not served on {addr}:\n{}", sensor.log());
    (sensor, addr)
}

fn metrics_page(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/metrics", None).expect("/metrics answers");
    assert_eq!(status, 200, "{body}");
    body
}

/// The series of a Prometheus text page: (metric name, labels) of every sample line.
fn series(page: &str) -> Vec<(String, Vec<(String, String)>)> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, _value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels))
        })
        .collect()
}

/// `promtool check metrics` accepts the page a running sensor serves, lint rules included.
#[test]
fn promtool_accepts_the_live_metrics_page() {
    require("promtool");
    let dir = tempfile::tempdir().unwrap();
    let (_sensor, addr) = start_sensor(dir.path());
    let page = metrics_page(addr);
    common::promtool_check_metrics(&page);
    // Scrapers that ask for OpenMetrics get it, terminated by `# EOF`.
    let (status, open) = http_get(
        addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(open.trim_end().ends_with("# EOF"), "{open}");
}

/// A rule's use of the sensor's metrics: names, label matchers and grouping labels.
#[derive(Debug, Default)]
struct RuleUse {
    metrics: BTreeSet<String>,
    /// (metric, label, value) from `label="value"` and `label=~"a|b"` matchers.
    matchers: Vec<(String, String, String)>,
    /// Labels in `by (...)`, besides the target labels Prometheus adds.
    by_labels: BTreeSet<String>,
}

/// Reads the `netsensor_*` metrics, matchers and `by` labels of one PromQL expression.
fn rule_use(expr: &str) -> RuleUse {
    let mut use_ = RuleUse::default();
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let word = &expr[start..i];
        let rest = expr[i..].trim_start();
        if word == "by" && rest.starts_with('(') {
            let close = rest.find(')').unwrap();
            for label in rest[1..close].split(',').map(str::trim) {
                if !["instance", "job"].contains(&label) {
                    use_.by_labels.insert(label.to_owned());
                }
            }
        } else if word.starts_with("netsensor_") {
            use_.metrics.insert(word.to_owned());
            if let Some(inner) = rest.strip_prefix('{') {
                let close = inner.find('}').unwrap();
                for matcher in inner[..close].split(',') {
                    let (label, value) = if let Some((l, v)) = matcher.split_once("=~") {
                        (l, v)
                    } else if let Some((l, v)) = matcher.split_once('=') {
                        assert!(
                            !l.ends_with('!'),
                            "negative matchers are not checked: {expr}"
                        );
                        (l, v)
                    } else {
                        continue;
                    };
                    for alternative in value.trim().trim_matches('"').split('|') {
                        use_.matchers.push((
                            word.to_owned(),
                            label.trim().to_owned(),
                            alternative.to_owned(),
                        ));
                    }
                }
            }
        }
    }
    use_
}

#[test]
fn rule_use_reads_metrics_matchers_and_grouping() {
    let u = rule_use(
        "sum by (instance, capture, reason) (rate(netsensor_packets_dropped_total\
         {reason=~\"kernel|interface\"}[5m])) / sum(rate(netsensor_x_total[1m])) > 0",
    );
    assert_eq!(
        u.metrics.into_iter().collect::<Vec<_>>(),
        ["netsensor_packets_dropped_total", "netsensor_x_total"]
    );
    assert_eq!(
        u.by_labels.into_iter().collect::<Vec<_>>(),
        ["capture", "reason"]
    );
    let dropped = "netsensor_packets_dropped_total".to_owned();
    assert_eq!(
        u.matchers,
        [
            (dropped.clone(), "reason".into(), "kernel".into()),
            (dropped, "reason".into(), "interface".into())
        ]
    );
}

/// Every `netsensor_*` metric an alert rule reads is on a running sensor's page, with every
/// label value its matchers select and every label it groups by.
#[test]
fn every_metric_in_the_alert_rules_is_exported() {
    let rules_text =
        std::fs::read_to_string(common::repo().join("dev/prometheus/alerts.yml")).unwrap();
    let rules: Value = serde_yaml_ng::from_str(&rules_text).unwrap();
    let exprs: Vec<(String, String)> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| {
            (
                r["alert"].as_str().unwrap_or("?").to_owned(),
                r["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!exprs.is_empty(), "no rules in alerts.yml");
    let dir = tempfile::tempdir().unwrap();
    // A network output too (to a closed port: it spools), so its metrics are on the page.
    let elasticsearch = format!(
        "  elasticsearch: {{ enabled: true, urls: [\"http://127.0.0.1:{}\"] }}\n",
        free_port()
    );
    let (_sensor, addr) = start_sensor_with(dir.path(), &elasticsearch);
    let page = metrics_page(addr);
    let exported = series(&page);
    let mut used = 0;
    for (alert, expr) in &exprs {
        let use_ = rule_use(expr);
        used += use_.metrics.len();
        for metric in &use_.metrics {
            assert!(
                exported.iter().any(|(name, _)| name == metric),
                "alert {alert} reads {metric}, which the sensor does not export:\n{page}"
            );
        }
        for (metric, label, value) in &use_.matchers {
            assert!(
                exported.iter().any(|(name, labels)| name == metric
                    && labels.iter().any(|(l, v)| l == label && v == value)),
                "alert {alert} selects {metric}{{{label}=\"{value}\"}}, which is not \
                 exported:\n{page}"
            );
        }
        for label in &use_.by_labels {
            assert!(
                exported
                    .iter()
                    .any(|(name, labels)| use_.metrics.contains(name)
                        && labels.iter().any(|(l, _)| l == label)),
                "alert {alert} groups by `{label}`, which none of {:?} carries",
                use_.metrics
            );
        }
    }
    assert!(used > 0, "the rules read no netsensor_* metric");
}

/// The shipped example configuration and rules pass promtool, and the rule unit tests pass.
#[test]
fn shipped_prometheus_config_and_rules_are_valid() {
    require("promtool");
    for args in [
        vec!["check", "config", "dev/prometheus/prometheus.yml"],
        vec!["check", "rules", "dev/prometheus/alerts.yml"],
        vec!["test", "rules", "dev/prometheus/alerts_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(common::repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Prometheus's query API, `GET /api/v1/query?query=...`: the instant vector.
fn query(prometheus: SocketAddr, promql: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", encode(promql));
    let Some((200, body)) = http_get(prometheus, &path, None) else {
        return Vec::new();
    };
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["status"], "success", "{body}");
    response["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The single sample value of a query, if there is exactly one series.
fn single_value(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    match query(prometheus, promql).as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// A real Prometheus (1 s scrape and rule interval) scrapes the sensor: `up` is 1, the
/// received counter grows between queries, and every shipped alert rule evaluates cleanly.
#[test]
fn prometheus_scrapes_a_running_sensor() {
    require("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let (mut sensor, sensor_addr) = start_sensor(dir.path());
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: netsensor\n    scrape_interval: 1s\n    \
             scrape_timeout: 1s\n    static_configs:\n      - targets: [\"{sensor_addr}\"]\n",
            common::repo().join("dev/prometheus/alerts.yml").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut prometheus = Guard { child, log };
    let ready = wait_until(WAIT, POLL, || {
        prometheus.assert_running("prometheus");
        http_get(prom_addr, "/-/ready", None).is_some_and(|(status, _)| status == 200)
    });
    assert!(
        ready,
        "prometheus not ready on {prom_addr}:\n{}",
        prometheus.log()
    );

    let up = wait_until(WAIT, POLL, || {
        single_value(prom_addr, "up{job=\"netsensor\"}") == Some(1.0)
    });
    let targets = http_get(prom_addr, "/api/v1/targets", None).map(|(_, b)| b);
    assert!(
        up,
        "up{{job=\"netsensor\"}} never became 1; targets: {targets:?}"
    );

    let received = "netsensor_packets_received_total{job=\"netsensor\",capture=\"replay\"}";
    let mut first = None;
    assert!(
        wait_until(WAIT, POLL, || {
            first = single_value(prom_addr, received);
            first.is_some()
        }),
        "no {received} in Prometheus"
    );
    let first = first.unwrap();
    let mut later = first;
    let grew = wait_until(WAIT, POLL, || {
        sensor.assert_running("netsensor replay");
        later = single_value(prom_addr, received).unwrap_or(later);
        later > first
    });
    assert!(grew, "{received} stayed at {first} in Prometheus");

    // Every alert rule has been evaluated against the scraped data without an error.
    let mut rules = Vec::new();
    let evaluated = wait_until(WAIT, POLL, || {
        let Some((200, body)) = http_get(prom_addr, "/api/v1/rules", None) else {
            return false;
        };
        let response: Value = serde_json::from_str(&body).unwrap();
        rules = response["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect();
        !rules.is_empty()
            && rules.iter().all(|r| {
                r["health"] == "ok"
                    && !r["lastEvaluation"]
                        .as_str()
                        .unwrap_or("0")
                        .starts_with("0001")
            })
    });
    assert!(
        evaluated,
        "alert rules not all evaluated cleanly: {}",
        serde_json::to_string_pretty(&rules).unwrap()
    );
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(names.contains("NetsensorCaptureDrops"), "{names:?}");
}
