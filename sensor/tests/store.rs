//! The embedded store and its queries, end to end through the binary.
//!
//! Two real captures (years apart) are replayed with packet, flow and rollup records going
//! both to an NDJSON file and to the SQLite store. Every query module's answer
//! (`netsensor query MODULE --time START,END --format json`) must equal the same figures
//! computed here, independently, from the packet records in the file (per transport,
//! service, country, destination address, address pair, 10 s interval), and must not be
//! empty: a query that answers nothing proves nothing. `flows` is compared with the flow
//! records in the file for an address and a port filter. Then the time-range forms, the
//! refusals (bad module, bad range, misplaced filter, missing store) and `GET /query` on
//! the listener that `netsensor replay` starts when `listeners.query` is configured.
//!
//! A missing value is grouped under `unknown`, as the rollups do
//! (`docs/store-and-query.md`). The GeoIP databases that `make geo` installs are needed
//! so that `countries` has countries to show.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{fixtures_dir, free_port, get, netsensor, parse_ndjson};

const SECOND: i64 = 1_000_000_000;
/// The rollup interval (the default): 10 s, aligned to the epoch.
const INTERVAL_NS: i64 = 10 * SECOND;
/// The captures replayed into the shared store: 2011-03-18 (6 s) and 2010-06 to 2015-01.
const CAPTURES: [&str; 2] = [
    "http-dns-wikipedia-mixed.pcap",
    "mixed-large-many-protocols.pcap",
];
/// Covers both captures.
const ALL: &str = "2010-01-01T00:00:00Z,2016-01-01T00:00:00Z";
/// The hour of the wikipedia capture only (no flow of the other capture crosses it).
const WIKI_HOUR: &str = "2011-03-18T19:00:00Z,2011-03-18T20:00:00Z";
/// A day with no data.
const EMPTY_DAY: &str = "2020-01-01T00:00:00Z,2020-01-02T00:00:00Z";
const MODULES: [&str; 8] = [
    "traffic",
    "protocols",
    "services",
    "top-destinations",
    "countries",
    "conversations",
    "flows",
    "tunnels",
];

// ---------------------------------------------------------------------------------------
// Setup

/// The GeoIP databases that `make geo` installs (`$NETSENSOR_GEO_DIR`, else `.cache/geo`).
fn geo_yaml() -> String {
    let dir = common::geo_dir();
    let country = dir.join("country.mmdb");
    let asn = dir.join("asn.mmdb");
    for path in [&country, &asn] {
        assert!(
            path.is_file(),
            "{} is missing: run `make geo` (dev/geo/install.sh) to install the default GeoIP \
             databases, or set NETSENSOR_GEO_DIR to where they are",
            path.display()
        );
    }
    format!(
        "enrichment:\n  geoip:\n    country_database: {}\n    asn_database: {}\n",
        json!(country.display().to_string()),
        json!(asn.display().to_string())
    )
}

/// A scratch directory under the target directory (`CARGO_TARGET_TMPDIR`), removed on drop.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("store-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir")
}

/// Runs `netsensor ARGS…` to completion and returns its output.
fn run(args: &[&str]) -> Output {
    netsensor().args(args).output().expect("run netsensor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The store filled by replaying [`CAPTURES`], and the records that went to the file.
struct Stored {
    db: PathBuf,
    packets: Vec<Value>,
    flows: Vec<Value>,
    rollups: Vec<Value>,
}

fn stored() -> &'static Stored {
    static STORED: OnceLock<Stored> = OnceLock::new();
    STORED.get_or_init(|| {
        // A fixed directory, emptied at each run: a static is never dropped, so a temporary
        // directory would be left behind by every run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-shared");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the previous run's store");
        }
        std::fs::create_dir_all(&dir).expect("create the store directory");
        let records = dir.join("records.ndjson");
        let config = dir.join("netsensor.yaml");
        std::fs::write(
            &config,
            format!(
                "sensor: {{name: t, data_directory: {data}}}\n\
                 records: [packet, flow, rollup]\n\
                 outputs:\n  file: {{path: {records}}}\n  \
                 sqlite: {{enabled: true, retention_secs: 0, max_bytes: 0}}\n\
                 listeners: {{metrics: null, query: null}}\n{geo}",
                data = json!(dir.display().to_string()),
                records = json!(records.display().to_string()),
                geo = geo_yaml(),
            ),
        )
        .expect("write config");
        // One replay per capture: each capture's packets are in time order, so the rollup
        // intervals are plain 10 s buckets of packet time.
        for capture in CAPTURES {
            let o = netsensor()
                .arg("replay")
                .arg(fixtures_dir().join(capture))
                .arg("--config")
                .arg(&config)
                .arg("--no-progress")
                .output()
                .expect("run netsensor replay");
            assert_eq!(o.status.code(), Some(0), "replay {capture}: {}", stderr(&o));
        }
        let all = parse_ndjson(&std::fs::read(&records).expect("read records"));
        let of = |dataset: &str| -> Vec<Value> {
            all.iter()
                .filter(|r| str_at(r, "event.dataset") == Some(dataset))
                .cloned()
                .collect()
        };
        let stored = Stored {
            db: dir.join("netsensor.db"),
            packets: of("netsensor.packet"),
            flows: of("netsensor.flow"),
            rollups: of("netsensor.rollup"),
        };
        assert!(
            stored.db.is_file(),
            "the store was not created in the data directory"
        );
        assert!(!stored.packets.is_empty() && !stored.flows.is_empty());
        assert!(!stored.rollups.is_empty());
        for r in &stored.rollups {
            assert_eq!(
                get(r, "netsensor.rollup.interval_ms").and_then(Value::as_u64),
                Some(10_000),
                "rollups are expected at the default 10 s interval"
            );
        }
        stored
    })
}

fn str_at<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    get(record, path).and_then(Value::as_str)
}

fn u64_at(record: &Value, path: &str) -> u64 {
    get(record, path).and_then(Value::as_u64).unwrap_or(0)
}

/// `netsensor query MODULE --db DB --time RANGE --format json EXTRA…`, parsed; fails the
/// test on a non-zero exit.
fn query(db: &Path, module: &str, range: &str, extra: &[&str]) -> Vec<Value> {
    let o = netsensor()
        .args(["query", module, "--db"])
        .arg(db)
        .args(["--time", range, "--format", "json"])
        .args(extra)
        .output()
        .expect("run netsensor query");
    assert_eq!(
        o.status.code(),
        Some(0),
        "query {module} {range} {extra:?}: {}",
        stderr(&o)
    );
    match serde_json::from_slice(&o.stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("query {module}: not a JSON array: {other:?} {}", stdout(&o)),
    }
}

// ---------------------------------------------------------------------------------------
// Time, computed here rather than with the code under test.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.f…]Z` (what the records and the store write) in nanoseconds.
fn ns(text: &str) -> i64 {
    let bad = || -> ! { panic!("unexpected timestamp {text:?}") };
    let t = text.strip_suffix('Z').unwrap_or_else(|| bad());
    let (date, time) = t.split_once('T').unwrap_or_else(|| bad());
    let num = |s: &str| s.parse::<i64>().unwrap_or_else(|_| bad());
    let d: Vec<i64> = date.split('-').map(num).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let h: Vec<i64> = hms.split(':').map(num).collect();
    let nanos = if frac.is_empty() {
        0
    } else {
        num(&format!("{frac:0<9}")[..9])
    };
    let days = days_from_civil(d[0], d[1], d[2]);
    (days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2]) * SECOND + nanos
}

/// Nanoseconds as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the store's output form.
fn rfc3339(t: i64) -> String {
    let (secs, nanos) = (t.div_euclid(SECOND), t.rem_euclid(SECOND));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `[start, end)` of an absolute `START,END` range.
fn bounds(range: &str) -> (i64, i64) {
    let (a, b) = range.split_once(',').expect("absolute range");
    (ns(a), ns(b))
}

#[test]
fn time_helpers_agree_with_known_instants() {
    // 2024-03-01T00:00:00Z is 1709251200 s after the epoch (date -u -d … +%s).
    assert_eq!(ns("2024-03-01T00:00:00Z"), 1_709_251_200 * SECOND);
    assert_eq!(ns("1970-01-01T00:00:00.5Z"), SECOND / 2);
    let t = ns("2011-03-18T19:06:07.096535000Z");
    assert_eq!(rfc3339(t), "2011-03-18T19:06:07.096535000Z");
    assert_eq!(
        rfc3339(ns("2016-02-29T23:59:59Z") + SECOND),
        "2016-03-01T00:00:00.000000000Z"
    );
}

// ---------------------------------------------------------------------------------------
// Expected figures, from the packet records.

/// Bytes and packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Volume {
    bytes: u64,
    packets: u64,
}

impl Volume {
    fn add(&mut self, record: &Value) {
        self.bytes += u64_at(record, "network.bytes");
        self.packets += u64_at(record, "network.packets");
    }
}

/// The rollup interval a packet counts in.
fn interval_of(packet: &Value) -> i64 {
    let t = ns(str_at(packet, "@timestamp").expect("@timestamp"));
    t - t.rem_euclid(INTERVAL_NS)
}

/// Packets whose interval starts in `[start, end)` (rollups belong to a range by their
/// interval start).
fn packets_in(s: &Stored, (start, end): (i64, i64)) -> Vec<&Value> {
    s.packets
        .iter()
        .filter(|p| (start..end).contains(&interval_of(p)))
        .collect()
}

/// Flow records whose span starts in `[start, end)`.
fn flows_in(s: &Stored, (start, end): (i64, i64)) -> Vec<&Value> {
    s.flows
        .iter()
        .filter(|f| (start..end).contains(&ns(str_at(f, "event.start").expect("event.start"))))
        .collect()
}

/// A value as the rollups key it: missing → `unknown`.
fn key(record: &Value, path: &str) -> String {
    str_at(record, path).unwrap_or("unknown").to_owned()
}

/// A country as the rollups key it: two ASCII letters or digits, else `unknown`.
fn country_key(record: &Value, side: &str) -> String {
    match str_at(record, &format!("{side}.geo.country_iso_code")) {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric()) => c.to_owned(),
        _ => "unknown".to_owned(),
    }
}

fn by_key(packets: &[&Value], key_of: impl Fn(&Value) -> String) -> BTreeMap<String, Volume> {
    let mut out: BTreeMap<String, Volume> = BTreeMap::new();
    for p in packets {
        out.entry(key_of(p)).or_default().add(p);
    }
    out
}

/// Rows keyed by `column`, with `bytes` and `packets`, as a map (asserting no key repeats).
fn rows_by(rows: &[Value], column: &str) -> BTreeMap<String, Volume> {
    let mut out = BTreeMap::new();
    for row in rows {
        let k = row[column]
            .as_str()
            .unwrap_or_else(|| panic!("{column} in {row}"));
        let v = Volume {
            bytes: row["bytes"].as_u64().expect("bytes"),
            packets: row["packets"].as_u64().expect("packets"),
        };
        assert!(out.insert(k.to_owned(), v).is_none(), "{k} twice");
    }
    out
}

/// Rows must be sorted by bytes descending, then key ascending.
fn assert_sorted_by_bytes(rows: &[Value], bytes: impl Fn(&Value) -> u64, key: &str) {
    let order: Vec<(std::cmp::Reverse<u64>, String)> = rows
        .iter()
        .map(|r| {
            (
                std::cmp::Reverse(bytes(r)),
                r[key].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "rows not sorted by bytes, then {key}");
}

// ---------------------------------------------------------------------------------------
// Every module equals the figures of the packet records.

fn check_traffic(s: &Stored, range: &str) {
    let packets = packets_in(s, bounds(range));
    let mut expected: BTreeMap<i64, Volume> = BTreeMap::new();
    for p in &packets {
        expected.entry(interval_of(p)).or_default().add(p);
    }
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|(start, v)| {
            json!({"start": rfc3339(start), "end": rfc3339(start + INTERVAL_NS),
                   "bytes": v.bytes, "packets": v.packets})
        })
        .collect();
    let rows = query(&s.db, "traffic", range, &[]);
    assert!(!rows.is_empty(), "traffic {range}: no rows");
    assert_eq!(rows, expected, "traffic {range}");
}

fn check_by_key(s: &Stored, range: &str, module: &str, column: &str, path: &str) {
    let packets = packets_in(s, bounds(range));
    let expected = by_key(&packets, |p| key(p, path));
    let rows = query(&s.db, module, range, &[]);
    assert!(!rows.is_empty(), "{module} {range}: no rows");
    assert_sorted_by_bytes(&rows, |r| r["bytes"].as_u64().unwrap_or(0), column);
    assert_eq!(rows_by(&rows, column), expected, "{module} {range}");
}

fn check_countries(s: &Stored, range: &str) {
    let packets = packets_in(s, bounds(range));
    let mut expected: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for p in &packets {
        let (b, n) = (u64_at(p, "network.bytes"), u64_at(p, "network.packets"));
        let src = expected.entry(country_key(p, "source")).or_default();
        src[0] += b;
        src[1] += n;
        let dst = expected.entry(country_key(p, "destination")).or_default();
        dst[2] += b;
        dst[3] += n;
    }
    let rows = query(&s.db, "countries", range, &[]);
    assert!(!rows.is_empty(), "countries {range}: no rows");
    assert!(
        rows.iter().any(|r| r["country"] != "unknown"),
        "countries {range}: only unknown; are the GeoIP databases current?"
    );
    let total = |r: &Value| {
        r["source_bytes"].as_u64().unwrap_or(0) + r["destination_bytes"].as_u64().unwrap_or(0)
    };
    assert_sorted_by_bytes(&rows, total, "country");
    let got: BTreeMap<String, [u64; 4]> = rows
        .iter()
        .map(|r| {
            let n = |c: &str| r[c].as_u64().unwrap_or_else(|| panic!("{c} in {r}"));
            (
                r["country"].as_str().expect("country").to_owned(),
                [
                    n("source_bytes"),
                    n("source_packets"),
                    n("destination_bytes"),
                    n("destination_packets"),
                ],
            )
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "a country twice");
    assert_eq!(got, expected, "countries {range}");
}

fn check_top_destinations(s: &Stored, range: &str) {
    let packets = packets_in(s, bounds(range));
    let with_destination: Vec<&Value> = packets
        .iter()
        .copied()
        .filter(|p| str_at(p, "destination.ip").is_some())
        .collect();
    let expected = by_key(&with_destination, |p| key(p, "destination.ip"));
    let rows = query(&s.db, "top-destinations", range, &["--limit", "100000"]);
    assert!(!rows.is_empty(), "top-destinations {range}: no rows");
    assert_sorted_by_bytes(&rows, |r| r["bytes"].as_u64().unwrap_or(0), "destination");
    assert_eq!(
        rows_by(&rows, "destination"),
        expected,
        "top-destinations {range}"
    );
    // Without --limit: the first 20 of the same order.
    let top = query(&s.db, "top-destinations", range, &[]);
    assert_eq!(top.len(), rows.len().min(20));
    assert_eq!(top[..], rows[..top.len()]);
}

fn check_conversations(s: &Stored, range: &str) {
    let packets = packets_in(s, bounds(range));
    // (a, b) with a <= b in text order → [a→b bytes, packets, b→a bytes, packets].
    let mut expected: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    for p in &packets {
        let (Some(src), Some(dst)) = (str_at(p, "source.ip"), str_at(p, "destination.ip")) else {
            continue;
        };
        let (b, n) = (u64_at(p, "network.bytes"), u64_at(p, "network.packets"));
        let (pair, forward) = if src <= dst {
            ((src.to_owned(), dst.to_owned()), true)
        } else {
            ((dst.to_owned(), src.to_owned()), false)
        };
        let e = expected.entry(pair).or_default();
        let at = if forward { 0 } else { 2 };
        e[at] += b;
        e[at + 1] += n;
    }
    // Distinct flows per pair, from the flow records (Community ID and first-seen time).
    let mut flows: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for f in flows_in(s, bounds(range)) {
        let (Some(src), Some(dst)) = (str_at(f, "source.ip"), str_at(f, "destination.ip")) else {
            continue;
        };
        let pair = if src <= dst { (src, dst) } else { (dst, src) };
        let id = str_at(f, "network.community_id").or(str_at(f, "event.id"));
        let first = str_at(f, "netsensor.flow.start").or(str_at(f, "event.start"));
        flows
            .entry((pair.0.to_owned(), pair.1.to_owned()))
            .or_default()
            .insert((id.unwrap_or("").to_owned(), first.unwrap_or("").to_owned()));
    }
    let rows = query(&s.db, "conversations", range, &["--limit", "100000"]);
    assert!(!rows.is_empty(), "conversations {range}: no rows");
    assert_sorted_by_bytes(&rows, |r| r["bytes"].as_u64().unwrap_or(0), "address_a");
    let mut got: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    for r in &rows {
        let n = |c: &str| r[c].as_u64().unwrap_or_else(|| panic!("{c} in {r}"));
        let pair = (
            r["address_a"].as_str().expect("address_a").to_owned(),
            r["address_b"].as_str().expect("address_b").to_owned(),
        );
        assert!(pair.0 <= pair.1, "address_a after address_b in {r}");
        assert_eq!(n("bytes"), n("bytes_a_to_b") + n("bytes_b_to_a"), "{r}");
        assert_eq!(
            n("packets"),
            n("packets_a_to_b") + n("packets_b_to_a"),
            "{r}"
        );
        let distinct = flows.get(&pair).map_or(0, BTreeSet::len) as u64;
        assert_eq!(n("flows"), distinct, "distinct flows of {pair:?}");
        let values = [
            n("bytes_a_to_b"),
            n("packets_a_to_b"),
            n("bytes_b_to_a"),
            n("packets_b_to_a"),
        ];
        assert!(got.insert(pair, values).is_none(), "a pair twice: {r}");
    }
    assert_eq!(got, expected, "conversations {range}");
}

/// The columns of a `flows` row, from a flow record.
fn flow_row(f: &Value) -> Value {
    let text = |path: &str| get(f, path).cloned().unwrap_or(Value::Null);
    let time = |path: &str| json!(rfc3339(ns(str_at(f, path).expect(path))));
    json!({
        "start": time("event.start"),
        "end": time("event.end"),
        "source_ip": text("source.ip"),
        "source_port": text("source.port"),
        "destination_ip": text("destination.ip"),
        "destination_port": text("destination.port"),
        "transport": text("network.transport"),
        "protocol": text("network.protocol"),
        "service": text("netsensor.service"),
        "source_country": text("source.geo.country_iso_code"),
        "destination_country": text("destination.geo.country_iso_code"),
        "source_bytes": u64_at(f, "source.bytes"),
        "source_packets": u64_at(f, "source.packets"),
        "destination_bytes": u64_at(f, "destination.bytes"),
        "destination_packets": u64_at(f, "destination.packets"),
        "bytes": u64_at(f, "network.bytes"),
        "packets": u64_at(f, "network.packets"),
        "state": text("netsensor.flow.state"),
        "end_reason": text("netsensor.flow.end_reason"),
        "final": get(f, "netsensor.flow.final").cloned().unwrap_or(json!(false)),
        "sample_rate": get(f, "netsensor.sample_rate").cloned().unwrap_or(json!(1)),
        "tunnel_type": text("netsensor.tunnel.type"),
        "tunnel_id": text("netsensor.tunnel.id"),
    })
}

fn check_flows(s: &Stored, range: &str, addr: Option<&str>, port: Option<u64>) {
    let mut expected: Vec<(i64, String, Value)> = flows_in(s, bounds(range))
        .into_iter()
        .filter(|f| {
            addr.is_none_or(|a| {
                str_at(f, "source.ip") == Some(a) || str_at(f, "destination.ip") == Some(a)
            })
        })
        .filter(|f| {
            port.is_none_or(|p| {
                get(f, "source.port").and_then(Value::as_u64) == Some(p)
                    || get(f, "destination.port").and_then(Value::as_u64) == Some(p)
            })
        })
        .map(|f| {
            let start = ns(str_at(f, "event.start").expect("event.start"));
            (
                start,
                str_at(f, "event.id").expect("id").to_owned(),
                flow_row(f),
            )
        })
        .collect();
    expected.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let expected: Vec<Value> = expected.into_iter().map(|(_, _, row)| row).collect();
    let port_text = port.map(|p| p.to_string());
    let mut extra = Vec::new();
    if let Some(a) = addr {
        extra.extend(["--addr", a]);
    }
    if let Some(p) = &port_text {
        extra.extend(["--port", p.as_str()]);
    }
    let rows = query(&s.db, "flows", range, &extra);
    assert!(!rows.is_empty(), "flows {range} {extra:?}: no rows");
    assert_eq!(rows, expected, "flows {range} {extra:?}");
}

#[test]
fn every_module_equals_the_packet_records_over_both_captures() {
    let s = stored();
    for range in [ALL, WIKI_HOUR] {
        check_traffic(s, range);
        check_by_key(s, range, "protocols", "transport", "network.transport");
        check_by_key(s, range, "services", "service", "netsensor.service");
        check_countries(s, range);
        check_top_destinations(s, range);
        check_conversations(s, range);
    }
    // The wikipedia hour is a strict part of the whole.
    assert!(
        query(&s.db, "traffic", WIKI_HOUR, &[]).len() < query(&s.db, "traffic", ALL, &[]).len()
    );
}

/// `tunnels` over the tunnel captures (VXLAN, GENEVE, GRE, MPLS, keyed GRE): bytes, packets
/// and flows per tunnel type and id equal the sums over the flow records, and every kind of
/// tunnel in the captures shows.
#[test]
fn tunnels_module_equals_the_flow_records_of_the_tunnel_captures() {
    let dir = scratch();
    let records = dir.path().join("records.ndjson");
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{name: t, data_directory: {data}}}\n\
             records: [flow]\n\
             outputs:\n  file: {{path: {records}}}\n  \
             sqlite: {{enabled: true, retention_secs: 0, max_bytes: 0}}\n\
             listeners: {{metrics: null, query: null}}\n",
            data = json!(dir.path().display().to_string()),
            records = json!(records.display().to_string()),
        ),
    )
    .unwrap();
    let captures = [
        fixtures_dir().join("vxlan-icmp-arp.pcap"),
        fixtures_dir().join("geneve-ssh-icmp.pcap"),
        fixtures_dir().join("gre-ipv4-mixed.pcap"),
        fixtures_dir().join("mpls-in-vlan-http.pcap"),
        common::repo().join("dev/fixtures/crafted/tunnel-gre-keyed.pcap"),
    ];
    for capture in &captures {
        let o = netsensor()
            .arg("replay")
            .arg(capture)
            .arg("--config")
            .arg(&config)
            .arg("--no-progress")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "replay {capture:?}: {}",
            stderr(&o)
        );
    }
    let flows = parse_ndjson(&std::fs::read(&records).unwrap());
    // (type, id) -> [bytes, packets, flows]
    let mut expected: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    let mut flow_keys = BTreeSet::new();
    for f in &flows {
        let Some(kind) = str_at(f, "netsensor.tunnel.type") else {
            continue;
        };
        let id = get(f, "netsensor.tunnel.id").map_or("null".to_owned(), Value::to_string);
        let entry = expected.entry((kind.to_owned(), id.clone())).or_default();
        entry[0] += u64_at(f, "network.bytes");
        entry[1] += u64_at(f, "network.packets");
        let flow = (
            kind.to_owned(),
            id,
            str_at(f, "network.community_id")
                .unwrap_or_default()
                .to_owned(),
            str_at(f, "netsensor.flow.start")
                .unwrap_or_default()
                .to_owned(),
        );
        if flow_keys.insert(flow) {
            entry[2] += 1;
        }
    }
    let kinds: BTreeSet<&str> = expected.keys().map(|(k, _)| k.as_str()).collect();
    for kind in ["vxlan", "geneve", "gre", "mpls"] {
        assert!(kinds.contains(kind), "no {kind} flows in {kinds:?}");
    }
    let db = dir.path().join("netsensor.db");
    let rows = query(
        &db,
        "tunnels",
        "2000-01-01T00:00:00Z,2030-01-01T00:00:00Z",
        &[],
    );
    let got: BTreeMap<(String, String), [u64; 3]> = rows
        .iter()
        .map(|r| {
            let kind = r["tunnel_type"].as_str().expect("tunnel_type").to_owned();
            let n = |c: &str| r[c].as_u64().unwrap_or_else(|| panic!("{c} in {r}"));
            (
                (kind, r["tunnel_id"].to_string()),
                [n("bytes"), n("packets"), n("flows")],
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Two keyed GRE tunnels carry the same inner flow: two rows, one flow each.
    let keyed: Vec<_> = got
        .keys()
        .filter(|(k, id)| k == "gre" && id != "null")
        .collect();
    assert!(keyed.len() >= 2, "keyed GRE tunnels apart: {keyed:?}");
}

#[test]
fn flows_filtered_by_address_and_port_equal_the_flow_records() {
    let s = stored();
    check_flows(s, ALL, None, Some(53));
    check_flows(s, ALL, Some("10.0.0.1"), None);
    check_flows(s, ALL, Some("10.0.0.1"), Some(443));
    check_flows(s, WIKI_HOUR, None, Some(80));
    // IPv6 address filter (the wikipedia capture has link-local mDNS).
    check_flows(s, WIKI_HOUR, Some("fe80::217:f2ff:fed7:cf65"), None);
    // Conversations take the same filters: only pairs with flows on port 53.
    let rows = query(
        &s.db,
        "conversations",
        ALL,
        &["--port", "53", "--limit", "100000"],
    );
    assert!(!rows.is_empty());
    let dns_pairs: BTreeSet<(String, String)> = s
        .flows
        .iter()
        .filter(|f| u64_at(f, "source.port") == 53 || u64_at(f, "destination.port") == 53)
        .filter_map(|f| {
            let (a, b) = (str_at(f, "source.ip")?, str_at(f, "destination.ip")?);
            Some(if a <= b {
                (a.into(), b.into())
            } else {
                (b.into(), a.into())
            })
        })
        .collect();
    let got: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["address_a"].as_str().unwrap().into(),
                r["address_b"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(got, dns_pairs);
}

// ---------------------------------------------------------------------------------------
// Time ranges.

/// The end of the newest stored record, from the file: rollup and flow `event.end` (just
/// after the start for a record without length).
fn last_ns(s: &Stored) -> i64 {
    s.flows
        .iter()
        .chain(&s.rollups)
        .map(|r| {
            let start = ns(str_at(r, "event.start").expect("event.start"));
            let end = str_at(r, "event.end").map_or(start, ns);
            end.max(start + 1)
        })
        .max()
        .expect("records")
}

#[test]
fn last_relative_range_returns_the_newest_data() {
    let s = stored();
    let last = last_ns(s);
    let range = format!("{},{}", rfc3339(last - 300 * SECOND), rfc3339(last));
    let rows = query(&s.db, "traffic", "last-5m:last", &[]);
    assert!(!rows.is_empty(), "last-5m:last: no rows");
    assert_eq!(rows, query(&s.db, "traffic", &range, &[]));
    // The newest interval is the newest packet's.
    let newest = s.packets.iter().map(interval_of).max().expect("packets");
    assert_eq!(rows.last().unwrap()["start"], json!(rfc3339(newest)));
    for module in MODULES {
        assert_eq!(
            query(&s.db, module, "last-5m:last", &[]),
            query(&s.db, module, &range, &[]),
            "{module}: last-5m:last differs from the same absolute range"
        );
    }
    // The table names the resolved range.
    let o = run(&[
        "query",
        "protocols",
        "--db",
        s.db.to_str().unwrap(),
        "--time",
        "last-5m:last",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let header = stdout(&o).lines().next().unwrap_or("").to_owned();
    assert!(
        header.starts_with(&format!(
            "# protocols from {} to {}, source: rollups (transport), ",
            rfc3339(last - 300 * SECOND),
            rfc3339(last)
        )),
        "{header}"
    );
    // last-1h:last is the default.
    let o = run(&[
        "query",
        "traffic",
        "--db",
        s.db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let default: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(default, json!(query(&s.db, "traffic", "last-1h:last", &[])));
}

#[test]
fn ranges_without_data_answer_no_rows_and_succeed() {
    let s = stored();
    let db = s.db.to_str().unwrap();
    for module in MODULES {
        // The captures are years old: nothing in the last five minutes.
        for range in ["-5m:0", EMPTY_DAY] {
            assert_eq!(
                query(&s.db, module, range, &[]),
                Vec::<Value>::new(),
                "{module} {range}"
            );
            let o = run(&["query", module, "--db", db, "--time", range]);
            assert_eq!(o.status.code(), Some(0), "{module} {range}: {}", stderr(&o));
            let table = stdout(&o);
            let header = table.lines().next().unwrap_or("");
            assert!(
                header.starts_with(&format!("# {module} from ")) && header.ends_with(", 0 rows"),
                "{module} {range}: {table}"
            );
        }
    }
}

#[test]
fn bad_module_and_bad_range_are_refused_with_the_valid_choices() {
    let s = stored();
    let db = s.db.to_str().unwrap();
    let o = run(&["query", "talkers", "--db", db]);
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains("talkers"), "{err}");
    assert!(
        err.contains("valid modules: traffic, protocols, services, top-destinations, countries, conversations, flows"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    for range in [
        "yesterday",
        "-5x:0",
        "-5m",
        "5m:0",
        "0:-5m",
        "last:last-5m",
        "2024-01-02T00:00:00Z,2024-01-01T00:00:00Z",
        "2024-01-01,2024-01-02",
        "",
    ] {
        let o = run(&["query", "traffic", "--db", db, "--time", range]);
        assert_ne!(o.status.code(), Some(0), "{range:?} accepted");
        let err = stderr(&o);
        assert!(err.contains("invalid time range"), "{range:?}: {err}");
        for form in [
            "-5m:0",
            "last-5m:last",
            "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z",
        ] {
            assert!(err.contains(form), "{range:?}: {form} not listed: {err}");
        }
        assert!(o.stdout.is_empty());
    }
    // Filters where they do not apply, bad filter values, a bad format, no store.
    for (args, says) in [
        (
            &["protocols", "--port", "53"][..],
            "applies to modules flows and conversations",
        ),
        (
            &["flows", "--addr", "10.0.0"][..],
            "an IPv4 or IPv6 address",
        ),
        (&["flows", "--port", "70000"][..], "a port number"),
        (&["flows", "--limit", "0"][..], "a row count"),
        (
            &["flows", "--format", "xml"][..],
            "valid formats: table, json",
        ),
    ] {
        let o = netsensor()
            .arg("query")
            .args(args)
            .args(["--db", db, "--time", ALL])
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0), "{args:?} accepted");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let missing = s.db.with_file_name("absent.db");
    let o = netsensor()
        .args(["query", "traffic", "--db"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("no embedded store at"),
        "{}",
        stderr(&o)
    );
    assert!(!missing.exists(), "a query created the store");
}

// ---------------------------------------------------------------------------------------
// GET /query on the listener of a running replay.

/// A plain HTTP/1.0 GET; returns (status, content type, body).
fn http_get(addr: &str, target: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line of {head}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Kills the replay if the test fails while it runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn http_query_answers_like_the_command_line_while_replay_runs() {
    let dir = scratch();
    let capture = fixtures_dir().join(CAPTURES[0]); // 6.4 s of capture time
    let addr = format!("127.0.0.1:{}", free_port());
    let db = dir.path().join("store/netsensor.db");
    let config = |query: &str| {
        format!(
            "sensor: {{name: t, data_directory: {data}}}\n\
             records: [flow, rollup]\n\
             outputs: {{sqlite: {{enabled: true, path: {db}, retention_secs: 0}}}}\n\
             listeners: {{metrics: null, query: {query}}}\n{geo}",
            data = json!(dir.path().display().to_string()),
            db = json!(db.display().to_string()),
            geo = geo_yaml(),
        )
    };
    // Fill the store first (the slow replay below stores the same records again, which
    // the store ignores as duplicates), so the answers can be compared exactly.
    let fast = dir.path().join("fast.yaml");
    std::fs::write(&fast, config("null")).unwrap();
    let o = netsensor()
        .arg("replay")
        .arg(&capture)
        .arg("--config")
        .arg(&fast)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cli = |module: &str, range: &str| query(&db, module, range, &[]);
    let before: Vec<Vec<Value>> = MODULES.iter().map(|m| cli(m, WIKI_HOUR)).collect();

    let slow = dir.path().join("slow.yaml");
    std::fs::write(&slow, config(&format!("{{address: {}}}", json!(addr)))).unwrap();
    let mut replay = Running(
        netsensor()
            .arg("replay")
            .arg(&capture)
            .arg("--config")
            .arg(&slow)
            .args(["--speed", "1", "--no-progress"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&addr).is_err() {
        if let Some(status) = replay.0.try_wait().unwrap() {
            let mut err = String::new();
            replay
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("replay exited ({status}) without serving /query on {addr}: {err}");
        }
        assert!(Instant::now() < deadline, "no /query listener on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The wikipedia capture has no tunnels: `tunnels` is covered by its own test.
    for module in MODULES.into_iter().filter(|m| *m != "tunnels") {
        let (status, content_type, body) =
            http_get(&addr, &format!("/query?module={module}&time={WIKI_HOUR}"));
        assert_eq!(status, 200, "{module}: {body}");
        assert_eq!(content_type, "application/json", "{module}");
        let rows: Value = serde_json::from_str(&body).expect("JSON body");
        assert_ne!(rows, json!([]), "{module}: no rows over HTTP");
        assert_eq!(
            rows,
            json!(cli(module, WIKI_HOUR)),
            "{module}: HTTP differs from the CLI"
        );
    }
    // Relative to the newest record, an unencoded `+` offset, filters, the table format.
    let (status, _, body) = http_get(&addr, "/query?module=protocols&time=last-5m:last");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!(cli("protocols", "last-5m:last"))
    );
    let (status, _, body) = http_get(
        &addr,
        "/query?module=services&time=2011-03-18T20:00:00+01:00,2011-03-18T21:00:00%2B01:00",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!(cli("services", WIKI_HOUR))
    );
    let (status, _, body) = http_get(
        &addr,
        &format!("/query?module=flows&time={WIKI_HOUR}&port=80&addr=208.80.152.2"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!(query(
            &db,
            "flows",
            WIKI_HOUR,
            &["--port", "80", "--addr", "208.80.152.2"]
        ))
    );
    let (status, content_type, body) = http_get(
        &addr,
        &format!("/query?module=protocols&time={WIKI_HOUR}&format=table"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        body.starts_with("# protocols from 2011-03-18T19:00:00.000000000Z"),
        "{body}"
    );
    // No data in the range: 200 with an empty array.
    let (status, _, body) = http_get(&addr, &format!("/query?module=traffic&time={EMPTY_DAY}"));
    assert_eq!((status, body.trim()), (200, "[]"));

    // Refusals: 400 with the valid choices.
    let (status, content_type, body) = http_get(&addr, "/query?module=talkers&time=-5m:0");
    assert_eq!(status, 400, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(body.contains("talkers"), "{body}");
    assert!(
        body.contains(&format!("valid modules: {}", MODULES.join(", "))),
        "{body}"
    );
    let (status, _, body) = http_get(&addr, "/query");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(&format!("valid modules: {}", MODULES.join(", "))),
        "{body}"
    );
    for range in ["yesterday", "0:-5m", "-5m"] {
        let (status, _, body) = http_get(&addr, &format!("/query?module=traffic&time={range}"));
        assert_eq!(status, 400, "{range}: {body}");
        for form in [
            "-5m:0",
            "last-5m:last",
            "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z",
        ] {
            assert!(body.contains(form), "{range}: {form} not listed: {body}");
        }
    }
    let (status, _, body) = http_get(&addr, "/query?module=traffic&range=-5m:0");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("accepted parameters: module, time, format, addr, port, limit"),
        "{body}"
    );
    let (status, _, body) = http_get(&addr, "/query?module=protocols&port=53");
    assert_eq!(status, 400, "{body}");

    // The replay was still running: the listener is the one it started.
    assert!(
        replay.0.try_wait().unwrap().is_none(),
        "the replay ended before the HTTP checks finished; the checks may have hit a stale port"
    );
    let status = replay.0.wait().unwrap();
    assert!(status.success(), "replay --speed 1 failed: {status}");
    // The listener goes away with the replay.
    assert!(
        TcpStream::connect(&addr).is_err(),
        "/query still served after the replay ended"
    );
    // The second replay stored nothing new: every record was a duplicate.
    for (module, rows) in MODULES.iter().zip(&before) {
        assert_eq!(
            &cli(module, WIKI_HOUR),
            rows,
            "{module} changed by the second replay"
        );
    }
}
