//! Store and query tests over a small synthetic capture.
//!
//! The capture is a list of packets. Flow and rollup records are derived from it here, the
//! way the sensor derives them (flows: per-direction deltas, one flow split by an active
//! timeout; rollups: every packet once per dimension per 10 s interval, `unknown` for a
//! missing value), stored through [`SqliteOutput`], and every query module's answer is
//! compared with the same figure computed straight from the packets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use super::query::{self, Filters, Format, Module, QueryRequest, QueryResult, TimeRange};
use super::*;

const S: i64 = 1_000_000_000;
/// 2017-07-14T02:42:00Z (`date -u -d @1500000120`), a multiple of the 10 s interval.
const T0: i64 = 1_500_000_120 * S;
const INTERVAL: i64 = 10 * S;

#[derive(Clone, Copy)]
struct Pkt {
    /// Flow index and record (segment) of the flow this packet is counted in.
    flow: usize,
    segment: u32,
    t: i64,
    src: &'static str,
    sport: Option<u16>,
    dst: &'static str,
    dport: Option<u16>,
    transport: &'static str,
    bytes: u64,
}

fn ms(n: i64) -> i64 {
    n * 1_000_000
}

#[rustfmt::skip]
fn capture() -> Vec<Pkt> {
    let p = |flow, segment, t, src, sport, dst, dport, transport, bytes| Pkt {
        flow, segment, t: T0 + t, src, sport, dst, dport, transport, bytes,
    };
    vec![
        // Flow 0: HTTP, split by an active timeout into two records.
        p(0, 0, ms(100), "10.0.0.5", Some(40000), "66.35.250.204", Some(80), "tcp", 74),
        p(0, 0, ms(200), "66.35.250.204", Some(80), "10.0.0.5", Some(40000), "tcp", 74),
        p(0, 0, ms(300), "10.0.0.5", Some(40000), "66.35.250.204", Some(80), "tcp", 66),
        p(0, 0, ms(1000), "10.0.0.5", Some(40000), "66.35.250.204", Some(80), "tcp", 500),
        p(0, 0, ms(1500), "66.35.250.204", Some(80), "10.0.0.5", Some(40000), "tcp", 1514),
        p(0, 1, ms(12000), "66.35.250.204", Some(80), "10.0.0.5", Some(40000), "tcp", 1514),
        p(0, 1, ms(12100), "10.0.0.5", Some(40000), "66.35.250.204", Some(80), "tcp", 66),
        // Flow 1: DNS.
        p(1, 0, ms(2000), "10.0.0.5", Some(5353), "8.8.8.8", Some(53), "udp", 80),
        p(1, 0, ms(2050), "8.8.8.8", Some(53), "10.0.0.5", Some(5353), "udp", 120),
        // Flow 2: HTTPS from outside in.
        p(2, 0, ms(21000), "128.232.110.120", Some(34855), "10.0.0.7", Some(443), "tcp", 60),
        p(2, 0, ms(21500), "10.0.0.7", Some(443), "128.232.110.120", Some(34855), "tcp", 1200),
        p(2, 0, ms(22000), "128.232.110.120", Some(34855), "10.0.0.7", Some(443), "tcp", 900),
        // Flow 3: ICMPv6 echo, no ports, no service, no country.
        p(3, 0, ms(25000), "2001:db8::1", None, "2001:db8::2", None, "ipv6-icmp", 104),
        p(3, 0, ms(25001), "2001:db8::2", None, "2001:db8::1", None, "ipv6-icmp", 104),
        // Flow 4: one packet, never answered, the newest packet of the capture.
        p(4, 0, ms(29999), "10.0.0.9", Some(1234), "192.0.2.1", Some(9999), "udp", 200),
    ]
}

fn country(ip: &str) -> Option<&'static str> {
    match ip {
        "66.35.250.204" | "8.8.8.8" => Some("US"),
        "128.232.110.120" => Some("GB"),
        _ => None,
    }
}

fn service(p: &Pkt) -> Option<&'static str> {
    let known = |port| match port {
        Some(80) => Some("http"),
        Some(443) => Some("https"),
        Some(53) => Some("dns"),
        _ => None,
    };
    known(p.dport).or(known(p.sport))
}

fn direction(p: &Pkt) -> &'static str {
    if p.src.starts_with("10.") {
        "egress"
    } else if p.dst.starts_with("10.") {
        "ingress"
    } else {
        "unknown"
    }
}

fn size_class(bytes: u64) -> &'static str {
    match bytes {
        0..128 => "small",
        128..1024 => "medium",
        _ => "large",
    }
}

fn ts(ns: i64) -> String {
    format_rfc3339(ns)
}

/// One flow record per (flow, segment): counts of that segment's packets.
fn flow_lines(packets: &[Pkt]) -> Vec<String> {
    let mut segments: BTreeMap<(usize, u32), Vec<Pkt>> = BTreeMap::new();
    for p in packets {
        segments.entry((p.flow, p.segment)).or_default().push(*p);
    }
    let last_segment: BTreeMap<usize, u32> = segments.keys().map(|&(f, s)| (f, s)).collect();
    let first_seen: BTreeMap<usize, &Pkt> = packets.iter().rev().map(|p| (p.flow, p)).collect();
    segments
        .iter()
        .map(|(&(flow, segment), pkts)| {
            let init = first_seen[&flow];
            let sum = |from_init: bool, f: fn(&Pkt) -> u64| -> u64 {
                pkts.iter()
                    .filter(|p| (p.src == init.src) == from_init)
                    .map(f)
                    .sum()
            };
            let start = pkts.iter().map(|p| p.t).min().unwrap();
            let end = pkts.iter().map(|p| p.t).max().unwrap();
            let last = last_segment[&flow] == segment;
            let mut source = json!({"ip": init.src, "bytes": sum(true, |p| p.bytes),
                "packets": sum(true, |_| 1)});
            let mut destination = json!({"ip": init.dst, "bytes": sum(false, |p| p.bytes),
                "packets": sum(false, |_| 1)});
            if let Some(port) = init.sport {
                source["port"] = json!(port);
                destination["port"] = json!(init.dport);
            }
            if let Some(c) = country(init.src) {
                source["geo"] = json!({"country_iso_code": c, "country_name": "x"});
            }
            if let Some(c) = country(init.dst) {
                destination["geo"] = json!({"country_iso_code": c});
            }
            let mut netsensor = json!({
                "insecure": false,
                "flow": {"state": if last { "closed" } else { "established" }, "final": last,
                    "start": ts(init.t), "sequence": segment,
                    "end_reason": if last { "fin" } else { "active_timeout" }},
            });
            if let Some(s) = service(init) {
                netsensor["service"] = json!(s);
            }
            json!({
                "@timestamp": ts(start),
                "event": {"kind": "event", "category": ["network"],
                    "type": ["connection", if last { "end" } else { "info" }],
                    "dataset": "netsensor.flow", "module": "netsensor",
                    "id": format!("flow-{flow}-{segment}"), "start": ts(start), "end": ts(end),
                    "duration": end - start},
                "observer": {"name": "vm", "hostname": "vm", "type": "sensor",
                    "product": "netsensor", "version": "0.1.0"},
                "network": {"type": if init.src.contains(':') { "ipv6" } else { "ipv4" },
                    "transport": init.transport, "direction": direction(init),
                    "bytes": sum(true, |p| p.bytes) + sum(false, |p| p.bytes),
                    "packets": pkts.len(), "community_id": format!("1:flow{flow}")},
                "source": source,
                "destination": destination,
                "related": {"ip": [init.src, init.dst]},
                "netsensor": netsensor,
            })
            .to_string()
        })
        .collect()
}

/// Rollup records: per 10 s interval, every dimension, `unknown` for missing values, and
/// the top 20 destinations.
fn rollup_lines(packets: &[Pkt]) -> Vec<String> {
    let mut counts: BTreeMap<(i64, &str, String), (u64, u64)> = BTreeMap::new();
    for p in packets {
        let interval = p.t - p.t.rem_euclid(INTERVAL);
        let keys = [
            ("transport", p.transport),
            ("service", service(p).unwrap_or("unknown")),
            ("direction", direction(p)),
            ("size_class", size_class(p.bytes)),
            ("source_country", country(p.src).unwrap_or("unknown")),
            ("destination_country", country(p.dst).unwrap_or("unknown")),
            ("destination", p.dst),
        ];
        for (dimension, key) in keys {
            let c = counts
                .entry((interval, dimension, key.to_owned()))
                .or_default();
            c.0 += p.bytes;
            c.1 += 1;
        }
    }
    counts
        .iter()
        .map(|((interval, dimension, key), (bytes, packets))| {
            let mut rollup = json!({"interval_ms": 10000, "dimension": dimension, "key": key});
            if *dimension == "destination" {
                rollup["rank"] = json!(1);
            }
            json!({
                "@timestamp": ts(*interval),
                "event": {"kind": "event", "category": ["network"], "type": ["info"],
                    "dataset": "netsensor.rollup", "module": "netsensor",
                    "id": format!("rollup-{interval}-{dimension}-{key}"),
                    "start": ts(*interval), "end": ts(interval + INTERVAL)},
                "observer": {"name": "vm", "hostname": "vm", "type": "sensor",
                    "product": "netsensor", "version": "0.1.0"},
                "network": {"bytes": bytes, "packets": packets},
                "netsensor": {"rollup": rollup},
            })
            .to_string()
        })
        .collect()
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn settings(dir: &Path) -> SqliteSettings {
    SqliteSettings {
        path: dir.join("data").join("netsensor.db"),
        retention_secs: 0,
        max_bytes: 0,
    }
}

/// A store holding the capture's flows and (when `rollups`) rollups, in two batches each.
fn stored(dir: &Path, rollups: bool) -> SqliteSettings {
    let settings = settings(dir);
    let mut out = SqliteOutput::open(&settings).unwrap();
    let packets = capture();
    let flows = flow_lines(&packets);
    let (a, b) = flows.split_at(2);
    out.write_batch(RecordKind::Flow, &ndjson(a)).unwrap();
    out.write_batch(RecordKind::Flow, &ndjson(b)).unwrap();
    if rollups {
        let lines = rollup_lines(&packets);
        let (a, b) = lines.split_at(lines.len() / 2);
        out.write_batch(RecordKind::Rollup, &ndjson(a)).unwrap();
        out.write_batch(RecordKind::Rollup, &ndjson(b)).unwrap();
    }
    out.flush().unwrap();
    assert_eq!(out.stats().malformed, 0);
    settings
}

fn ask(db: &Path, module: Module, range: &str, filters: Filters, now: i64) -> QueryResult {
    let req = QueryRequest::new(module.name(), Some(range), filters, Format::Json).unwrap();
    let result = query::run(db, &req, now).unwrap();
    assert!(
        !result.rows.is_empty(),
        "{module} over {range} returned nothing"
    );
    result
}

/// Rows as maps keyed by the first `key_columns` columns, values the remaining columns.
fn keyed(result: &QueryResult, key_columns: usize) -> BTreeMap<Vec<String>, Vec<u64>> {
    result
        .rows
        .iter()
        .map(|row| {
            let key = row[..key_columns]
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            let values = row[key_columns..]
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            (key, values)
        })
        .collect()
}

/// Bytes and packets of `packets` grouped by `key`.
fn by<K: Ord>(packets: &[Pkt], key: impl Fn(&Pkt) -> K) -> BTreeMap<K, Vec<u64>> {
    let mut map: BTreeMap<K, Vec<u64>> = BTreeMap::new();
    for p in packets {
        let e = map.entry(key(p)).or_insert_with(|| vec![0, 0]);
        e[0] += p.bytes;
        e[1] += 1;
    }
    map
}

fn one(s: impl Into<String>) -> Vec<String> {
    vec![s.into()]
}

const WHOLE: &str = "2017-07-14T02:42:00Z,2017-07-14T02:43:00Z";
const NOW: i64 = T0 + 3600 * S;

/// Every aggregate module over the whole capture, against figures from the packets.
fn check_aggregates(db: &Path, packets: &[Pkt], range: &str, flow_only: bool) {
    let none = Filters::default;
    let protocols = ask(db, Module::Protocols, range, none(), NOW);
    assert_eq!(protocols.columns, ["transport", "bytes", "packets"]);
    assert_eq!(keyed(&protocols, 1), by(packets, |p| one(p.transport)));
    // Sorted by bytes, descending.
    let bytes: Vec<u64> = protocols
        .rows
        .iter()
        .map(|r| r[1].as_u64().unwrap())
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{bytes:?}");

    let services = ask(db, Module::Services, range, none(), NOW);
    let expected = if flow_only {
        // A flow's service is its server port's, for both directions.
        by(packets, |p| {
            let init = packets.iter().find(|q| q.flow == p.flow).unwrap();
            one(service(init).unwrap_or("unknown"))
        })
    } else {
        by(packets, |p| one(service(p).unwrap_or("unknown")))
    };
    assert_eq!(keyed(&services, 1), expected);

    let countries = ask(db, Module::Countries, range, none(), NOW);
    let src = by(packets, |p| country(p.src).unwrap_or("unknown"));
    let dst = by(packets, |p| country(p.dst).unwrap_or("unknown"));
    let mut expected: BTreeMap<Vec<String>, Vec<u64>> = BTreeMap::new();
    for c in src.keys().chain(dst.keys()) {
        let s = src.get(c).cloned().unwrap_or(vec![0, 0]);
        let d = dst.get(c).cloned().unwrap_or(vec![0, 0]);
        expected.insert(one(*c), vec![s[0], s[1], d[0], d[1]]);
    }
    assert_eq!(keyed(&countries, 1), expected);
    assert!(expected.contains_key(&one("GB")) && expected.contains_key(&one("unknown")));

    // Per packet: what each address received.
    let top = ask(db, Module::TopDestinations, range, none(), NOW);
    assert_eq!(top.source, "flows");
    assert_eq!(keyed(&top, 1), by(packets, |p| one(p.dst)));
    assert_eq!(
        top.rows[0][0], "10.0.0.5",
        "the biggest receiver comes first"
    );

    let conversations = ask(db, Module::Conversations, range, none(), NOW);
    let mut expected: BTreeMap<Vec<String>, Vec<u64>> = BTreeMap::new();
    let mut flows: BTreeMap<Vec<String>, BTreeSet<usize>> = BTreeMap::new();
    for p in packets {
        let (a, b) = if p.src <= p.dst {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        let pair = vec![a.to_owned(), b.to_owned()];
        let e = expected.entry(pair.clone()).or_insert(vec![0; 7]);
        let i = if p.src == a { 0 } else { 2 };
        e[i] += p.bytes;
        e[i + 1] += 1;
        e[4] += p.bytes;
        e[5] += 1;
        flows.entry(pair).or_default().insert(p.flow);
    }
    for (pair, set) in flows {
        expected.get_mut(&pair).unwrap()[6] = set.len() as u64;
    }
    assert_eq!(keyed(&conversations, 2), expected);
}

#[test]
fn every_module_matches_the_packets() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let db = &settings.path;
    let packets = capture();
    for range in [WHOLE, "last-1h:last", "-2h:0"] {
        check_aggregates(db, &packets, range, false);
    }

    let traffic = ask(db, Module::Traffic, WHOLE, Filters::default(), NOW);
    assert_eq!(traffic.columns, ["start", "end", "bytes", "packets"]);
    assert_eq!(traffic.source, "rollups (size_class)");
    let expected = by(&packets, |p| {
        let start = p.t - p.t.rem_euclid(INTERVAL);
        vec![ts(start), ts(start + INTERVAL)]
    });
    assert_eq!(keyed(&traffic, 2), expected);
    assert_eq!(traffic.rows.len(), 3);

    let flows = ask(db, Module::Flows, WHOLE, Filters::default(), NOW);
    assert_eq!(flows.rows.len(), 6);
    let total = |r: &QueryResult, col: &str| -> u64 {
        let i = r.columns.iter().position(|c| c == col).unwrap();
        r.rows.iter().map(|row| row[i].as_u64().unwrap()).sum()
    };
    assert_eq!(
        total(&flows, "bytes"),
        packets.iter().map(|p| p.bytes).sum::<u64>()
    );
    assert_eq!(total(&flows, "packets"), packets.len() as u64);
    // The first row is flow 0's interim record, as stored.
    let first: BTreeMap<&str, &Value> = flows
        .columns
        .iter()
        .map(String::as_str)
        .zip(&flows.rows[0])
        .collect();
    assert_eq!(first["start"], &json!("2017-07-14T02:42:00.100000000Z"));
    assert_eq!(first["source_ip"], &json!("10.0.0.5"));
    assert_eq!(first["destination_port"], &json!(80));
    assert_eq!(first["destination_country"], &json!("US"));
    assert_eq!(first["source_country"], &Value::Null);
    assert_eq!(first["service"], &json!("http"));
    assert_eq!(first["final"], &json!(false));
    assert_eq!(first["end_reason"], &json!("active_timeout"));
    assert_eq!(first["source_bytes"], &json!(74 + 66 + 500));
    assert_eq!(first["destination_packets"], &json!(2));
}

#[test]
fn a_store_without_rollups_answers_from_flows() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), false);
    let packets = capture();
    check_aggregates(&settings.path, &packets, WHOLE, true);
    let protocols = ask(
        &settings.path,
        Module::Protocols,
        WHOLE,
        Filters::default(),
        NOW,
    );
    assert_eq!(protocols.source, "flows");
    // Flow-based traffic buckets by flow start: totals agree with the packets.
    let traffic = ask(
        &settings.path,
        Module::Traffic,
        WHOLE,
        Filters::default(),
        NOW,
    );
    assert!(traffic.source.starts_with("flows"));
    let sum = |i: usize| {
        traffic
            .rows
            .iter()
            .map(|r| r[i].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum(2), packets.iter().map(|p| p.bytes).sum::<u64>());
    assert_eq!(sum(3), packets.len() as u64);
    assert_eq!(traffic.rows[0][0], json!("2017-07-14T02:42:00.000000000Z"));
}

#[test]
fn ranges_select_by_record_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let db = &settings.path;
    let packets = capture();
    let in_interval = |n: i64| -> Vec<Pkt> {
        packets
            .iter()
            .copied()
            .filter(|p| (p.t - T0).div_euclid(INTERVAL) == n)
            .collect()
    };
    // The newest record is the last rollup interval, ending at T0 + 30 s.
    let last = ask(
        db,
        Module::Protocols,
        "last-10s:last",
        Filters::default(),
        NOW,
    );
    assert_eq!(last.start_ns, T0 + 20 * S);
    assert_eq!(last.end_ns, T0 + 30 * S);
    assert_eq!(keyed(&last, 1), by(&in_interval(2), |p| one(p.transport)));
    let middle = ask(
        db,
        Module::Services,
        "last-20s:last-10s",
        Filters::default(),
        NOW,
    );
    assert_eq!(
        keyed(&middle, 1),
        by(&in_interval(1), |p| one(service(p).unwrap_or("unknown")))
    );
    let first = ask(
        db,
        Module::Traffic,
        "2017-07-14T02:42:00Z,2017-07-14T02:42:10Z",
        Filters::default(),
        NOW,
    );
    assert_eq!(first.rows.len(), 1);
    assert_eq!(
        first.rows[0][2],
        json!(in_interval(0).iter().map(|p| p.bytes).sum::<u64>())
    );
    // Relative to now: the capture is an hour old.
    let now_range = QueryRequest::new("protocols", Some("-5m:0"), Filters::default(), Format::Json);
    let empty = query::run(db, &now_range.unwrap(), NOW).unwrap();
    assert!(empty.rows.is_empty());
    assert_eq!(empty.end_ns - empty.start_ns, 300 * S);
    let hit = ask(db, Module::Flows, "-61m:-59m", Filters::default(), NOW);
    assert_eq!(hit.rows.len(), 6);

    // Without rollups, `last` is the newest flow's end, or just after its start when it has
    // no length (flow 4 is a single packet), so `last-1s:last` still holds it.
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), false);
    let tail = ask(
        &settings.path,
        Module::Flows,
        "last-1s:last",
        Filters::default(),
        NOW,
    );
    assert_eq!(tail.rows.len(), 1);
    assert_eq!(tail.rows[0][2], json!("10.0.0.9"));
}

#[test]
fn flows_and_conversations_filter_by_address_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let db = &settings.path;
    let filters =
        |addr: Option<&str>, port: Option<&str>| Filters::parse(addr, port, None).unwrap();
    let by_addr = ask(
        db,
        Module::Flows,
        WHOLE,
        filters(Some("10.0.0.5"), None),
        NOW,
    );
    assert_eq!(by_addr.rows.len(), 3, "flow 0 (two records) and flow 1");
    let by_port = ask(db, Module::Flows, WHOLE, filters(None, Some("443")), NOW);
    assert_eq!(by_port.rows.len(), 1);
    assert_eq!(by_port.rows[0][2], json!("128.232.110.120"));
    let both = ask(
        db,
        Module::Flows,
        WHOLE,
        filters(Some("10.0.0.5"), Some("53")),
        NOW,
    );
    assert_eq!(both.rows.len(), 1);
    // IPv6 addresses are matched in canonical form whatever the spelling.
    let v6 = ask(
        db,
        Module::Flows,
        WHOLE,
        filters(Some("2001:0db8:0::2"), None),
        NOW,
    );
    assert_eq!(v6.rows.len(), 1);
    let conv = ask(
        db,
        Module::Conversations,
        WHOLE,
        filters(None, Some("80")),
        NOW,
    );
    assert_eq!(conv.rows.len(), 1);
    assert_eq!(
        conv.rows[0][6],
        json!(74 + 74 + 66 + 500 + 1514 + 1514 + 66)
    );
    // A limit cuts rows.
    let limited = Filters::parse(None, None, Some("2")).unwrap();
    assert_eq!(ask(db, Module::Flows, WHOLE, limited, NOW).rows.len(), 2);
    // Filters do not apply to aggregates of rollups.
    let err = QueryRequest::new(
        "protocols",
        None,
        filters(Some("10.0.0.5"), None),
        Format::Json,
    )
    .unwrap_err();
    assert!(err.to_string().contains("flows and conversations"), "{err}");
    for (addr, port, limit) in [(Some("10.0.0"), None, None), (None, Some("65536"), None)] {
        assert!(Filters::parse(addr, port, limit).is_err());
    }
    assert!(Filters::parse(None, None, Some("0")).is_err());
}

#[test]
fn redelivered_records_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let mut out = SqliteOutput::open(&settings).unwrap();
    let lines = flow_lines(&capture());
    let batch = ndjson(&lines);
    out.write_batch(RecordKind::Flow, &batch).unwrap();
    out.write_batch(RecordKind::Flow, &batch).unwrap();
    let stats = out.stats();
    assert_eq!(stats.flows_stored, lines.len() as u64);
    assert_eq!(stats.duplicates, lines.len() as u64);
    drop(out);
    // A new process re-sends them too (the store outlives the sensor).
    let mut out = SqliteOutput::open(&settings).unwrap();
    out.write_batch(RecordKind::Flow, &batch).unwrap();
    assert_eq!(out.stats().flows_stored, 0);
    let count: i64 = out
        .conn
        .query_row("SELECT COUNT(*) FROM flows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, lines.len() as i64);
}

#[test]
fn malformed_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let mut out = SqliteOutput::open(&settings).unwrap();
    let mut lines = flow_lines(&capture());
    let good = lines.len() as u64;
    let mut no_id: Value = serde_json::from_str(&lines[0]).unwrap();
    no_id["event"].as_object_mut().unwrap().remove("id");
    let mut bad_time: Value = serde_json::from_str(&lines[1]).unwrap();
    bad_time["event"]["start"] = json!("yesterday");
    lines.push(no_id.to_string());
    lines.push(bad_time.to_string());
    lines.push("{\"event\": {\"id\": \"cut".to_owned()); // the last line, cut off
    out.write_batch(RecordKind::Flow, lines.join("\n").as_bytes())
        .unwrap();
    assert_eq!(out.stats().malformed, 3);
    assert_eq!(out.stats().flows_stored, good);
    // A rollup batch sent as flows is all malformed, and stores nothing.
    let rollups = rollup_lines(&capture());
    out.write_batch(RecordKind::Flow, &ndjson(&rollups[..3]))
        .unwrap();
    assert_eq!(out.stats().malformed, 6);
    // Packet batches are ignored entirely.
    out.write_batch(RecordKind::Packet, b"{\"not\": \"stored\"}\n")
        .unwrap();
    assert_eq!(out.stats().malformed, 6);
    // Escaped strings are accepted (borrowed text falls back to owned).
    let mut escaped: Value = serde_json::from_str(&rollups[0]).unwrap();
    escaped["event"]["id"] = json!("quote\"d");
    out.write_batch(RecordKind::Rollup, escaped.to_string().as_bytes())
        .unwrap();
    assert_eq!(out.stats().rollups_stored, 1);
}

#[test]
fn a_batch_is_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let mut out = SqliteOutput::open(&settings).unwrap();
    // A reader holding a snapshot from before the batch sees none of it, then all of it.
    let reader = open_read_only(&settings.path).unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT COUNT(*) FROM flows", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&reader), 0);
    let lines = flow_lines(&capture());
    let before = out.conn.total_changes();
    out.write_batch(RecordKind::Flow, &ndjson(&lines)).unwrap();
    assert_eq!(out.conn.total_changes() - before, lines.len() as u64);
    assert!(out.conn.is_autocommit(), "no transaction left open");
    assert_eq!(count(&reader), lines.len() as i64);
    // A batch whose last record cannot be inserted leaves none of its records behind.
    out.conn
        .execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON rollups WHEN NEW.id LIKE '%-unknown' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let mut rollups = rollup_lines(&capture());
    rollups.retain(|l| !l.contains("-unknown\""));
    let good = rollups.len();
    let mut last: Value = serde_json::from_str(&rollups[0]).unwrap();
    last["event"]["id"] = json!("last-unknown");
    rollups.push(last.to_string());
    let err = out
        .write_batch(RecordKind::Rollup, &ndjson(&rollups))
        .unwrap_err();
    assert!(format!("{:?}", err).contains("boom"), "{err:?}");
    assert!(
        out.conn.is_autocommit(),
        "the failed transaction was rolled back"
    );
    let rows = |c: &Connection| -> i64 {
        c.query_row("SELECT COUNT(*) FROM rollups", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&reader), 0);
    assert_eq!(out.stats().rollups_stored, 0);
    // Without the bad record the same batch is stored whole.
    rollups.pop();
    out.write_batch(RecordKind::Rollup, &ndjson(&rollups))
        .unwrap();
    assert_eq!(rows(&reader), good as i64);
}

#[test]
fn retention_by_age_keeps_the_newest_span() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path());
    settings.retention_secs = 15;
    let mut out = SqliteOutput::open(&settings).unwrap();
    let packets = capture();
    out.write_batch(RecordKind::Flow, &ndjson(&flow_lines(&packets)))
        .unwrap();
    out.write_batch(RecordKind::Rollup, &ndjson(&rollup_lines(&packets)))
        .unwrap();
    // Newest start: T0 + 29.999 s (flow 4); cutoff T0 + 14.999 s. `now` is far later: an
    // old capture replayed keeps its newest 15 s.
    let deleted = out.enforce_retention(NOW).unwrap();
    assert!(deleted > 0);
    let min_start = |out: &SqliteOutput, table: &str| -> i64 {
        out.conn
            .query_row(&format!("SELECT MIN(ts_start) FROM {table}"), [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(min_start(&out, "flows"), T0 + ms(21000));
    assert_eq!(min_start(&out, "rollups"), T0 + 20 * S);
    assert_eq!(out.stats().retention_deleted, deleted);
    // With the newest record in the future (a wrong clock), the cutoff counts from now:
    // at T0 + 50 s the cutoff is T0 + 35 s, not 15 s before the bogus T0 + 100 s.
    let template: Value = serde_json::from_str(&flow_lines(&packets)[0]).unwrap();
    let at = |id: &str, t: i64| {
        let mut v = template.clone();
        v["event"]["id"] = json!(id);
        v["event"]["start"] = json!(ts(t));
        v["event"]["end"] = json!(ts(t));
        v.to_string()
    };
    let lines = [at("recent", T0 + 40 * S), at("future", T0 + 100 * S)];
    out.write_batch(RecordKind::Flow, &ndjson(&lines)).unwrap();
    let deleted = out.enforce_retention(T0 + 50 * S).unwrap();
    assert_eq!(min_start(&out, "flows"), T0 + 40 * S);
    assert!(deleted > 0);
    // A second run in the same state deletes nothing.
    assert_eq!(out.enforce_retention(T0 + 50 * S).unwrap(), 0);
}

#[test]
fn retention_by_size_deletes_the_oldest_rows() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let mut out = SqliteOutput::open(&settings).unwrap();
    // 2000 minutes of one-record flows.
    let template: Value = serde_json::from_str(&flow_lines(&capture())[2]).unwrap();
    for chunk in 0..4 {
        let lines: Vec<String> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                let mut v = template.clone();
                v["event"]["id"] = json!(format!("size-{n}"));
                v["event"]["start"] = json!(ts(T0 + n * 60 * S));
                v["event"]["end"] = json!(ts(T0 + n * 60 * S + S));
                v.to_string()
            })
            .collect();
        out.write_batch(RecordKind::Flow, &ndjson(&lines)).unwrap();
    }
    let full = used_bytes(&out.conn).unwrap();
    assert!(full > 200_000, "{full}");
    out.settings.max_bytes = full / 2;
    let deleted = out.enforce_retention(NOW).unwrap();
    assert!(deleted > 0);
    assert!(used_bytes(&out.conn).unwrap() <= full / 2);
    let (oldest, newest, count): (i64, i64, i64) = out
        .conn
        .query_row(
            "SELECT MIN(ts_start), MAX(ts_start), COUNT(*) FROM flows",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(newest, T0 + 1999 * 60 * S, "the newest rows are kept");
    assert_eq!(count as u64, 2000 - deleted);
    assert_eq!(
        (newest - oldest) / (60 * S) + 1,
        count,
        "only the oldest were deleted"
    );
    // Freed pages went back to the file system (incremental auto-vacuum).
    let free: i64 = out
        .conn
        .pragma_query_value(None, "freelist_count", |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0);
}

#[test]
fn open_sets_wal_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let out = SqliteOutput::open(&settings).unwrap();
    let mode: String = out
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let vacuum: i64 = out
        .conn
        .pragma_query_value(None, "auto_vacuum", |r| r.get(0))
        .unwrap();
    assert_eq!(vacuum, 2, "incremental");
    out.conn
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(out);
    let err = SqliteOutput::open(&settings).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
}

#[test]
fn queries_read_a_closed_store_and_report_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    // The writer is closed (dropped in `stored`): read-only queries still work.
    ask(
        &settings.path,
        Module::Countries,
        WHOLE,
        Filters::default(),
        NOW,
    );
    let req = QueryRequest::new("flows", None, Filters::default(), Format::Json).unwrap();
    let err = query::run(&dir.path().join("nope.db"), &req, NOW).unwrap_err();
    assert!(matches!(err, query::QueryError::NoStore { .. }));
    assert!(!err.is_client_error());
    assert!(
        !dir.path().join("nope.db").exists(),
        "a query never creates a store"
    );
}

#[test]
fn table_and_json_renderings() {
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let result = ask(
        &settings.path,
        Module::Protocols,
        WHOLE,
        Filters::default(),
        NOW,
    );
    let json: Value = serde_json::from_str(&result.to_json()).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), result.rows.len());
    let tcp_bytes: u64 = capture()
        .iter()
        .filter(|p| p.transport == "tcp")
        .map(|p| p.bytes)
        .sum();
    assert_eq!(
        rows[0],
        json!({"transport": "tcp", "bytes": tcp_bytes, "packets": 10})
    );
    let table = result.render(Format::Table);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("# protocols from 2017-07-14T02:42:00.000000000Z"),
        "{table}"
    );
    assert!(lines[0].contains("source: rollups (transport)"));
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["transport", "bytes", "packets"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["tcp", &tcp_bytes.to_string(), "10"]
    );
    // Numbers are right-aligned: every row's line has the same length.
    let widths: Vec<usize> = lines[1..].iter().map(|l| l.len()).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{table}");
    assert_eq!(lines.len(), 2 + result.rows.len());
}

#[test]
fn time_range_forms_and_errors() {
    let rel = |anchor, secs: i64| query::Bound::Relative {
        anchor,
        offset_ns: -secs * S,
    };
    use query::Anchor::{Last, Now};
    let parsed = |s: &str| TimeRange::parse(s).unwrap();
    assert_eq!(
        parsed("-5m:0"),
        TimeRange {
            start: rel(Now, 300),
            end: rel(Now, 0)
        }
    );
    assert_eq!(
        parsed("-1h:-5m"),
        TimeRange {
            start: rel(Now, 3600),
            end: rel(Now, 300)
        }
    );
    assert_eq!(
        parsed("last-5m:last"),
        TimeRange {
            start: rel(Last, 300),
            end: rel(Last, 0)
        }
    );
    assert_eq!(
        parsed("last-1h:last-5m"),
        TimeRange {
            start: rel(Last, 3600),
            end: rel(Last, 300)
        }
    );
    assert_eq!(
        parsed(" -2d:-90s "),
        TimeRange {
            start: rel(Now, 172_800),
            end: rel(Now, 90)
        }
    );
    assert_eq!(
        parsed("2024-01-01T00:00:00Z,2024-01-02T00:00:00+00:00"),
        TimeRange {
            start: query::Bound::Absolute(1_704_067_200 * S),
            end: query::Bound::Absolute(1_704_153_600 * S),
        }
    );
    assert_eq!(TimeRange::default(), parsed(query::DEFAULT_RANGE));
    // Resolution: `last` falls back to now on an empty store.
    assert_eq!(
        parsed("last-5m:last").resolve(1000 * S, None).unwrap(),
        (700 * S, 1000 * S)
    );
    assert_eq!(
        parsed("last-5m:last").resolve(0, Some(1000 * S)).unwrap(),
        (700 * S, 1000 * S)
    );
    // Mixed anchors are allowed but must still be ordered once resolved.
    let mixed = parsed("last-1m:0");
    assert!(mixed.resolve(1000 * S, Some(10_000 * S)).is_err());

    for bad in [
        "",
        "5m",
        "-5m",
        "5m:0",
        "-5:0",
        "-5x:0",
        "-m:0",
        "0:-5m",
        "-5m:-5m",
        "last:last-1m",
        "now-5m:now",
        "lastt-5m:last",
        "-99999999999999d:0",
        "2024-01-02T00:00:00Z,2024-01-01T00:00:00Z",
        "2024-01-01,2024-01-02",
        "yesterday,today",
    ] {
        let err = TimeRange::parse(bad).unwrap_err();
        let text = err.to_string();
        assert!(err.is_client_error());
        assert!(text.contains(query::RANGE_FORMS), "{bad:?}: {text}");
        assert!(text.contains(&format!("{bad:?}")), "{bad:?}: {text}");
    }
}

#[test]
fn unknown_modules_list_the_valid_ones() {
    for name in Module::ALL.map(Module::name) {
        assert_eq!(name.parse::<Module>().unwrap().name(), name);
    }
    assert_eq!(
        "Top-Destinations".parse::<Module>().unwrap(),
        Module::TopDestinations
    );
    let err = "talkers".parse::<Module>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown query module \"talkers\"; valid modules: traffic, protocols, services, \
         top-destinations, countries, conversations, flows, tunnels"
    );
    assert!(err.is_client_error());
    assert!("xml"
        .parse::<Format>()
        .unwrap_err()
        .to_string()
        .contains("table, json"));
}

#[test]
fn http_answers_and_refusals() {
    use super::http::{http_response, JSON, TEXT};
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let db = &settings.path;
    let packets = capture();

    let ok = http_response(db, Some("module=protocols&time=last-1h:last"), NOW);
    assert_eq!((ok.status, ok.content_type), (200, JSON), "{}", ok.body);
    let rows: Vec<Value> = serde_json::from_str(&ok.body).unwrap();
    let expected = by(&packets, |p| p.transport);
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let want = &expected[row["transport"].as_str().unwrap()];
        assert_eq!(
            (
                row["bytes"].as_u64().unwrap(),
                row["packets"].as_u64().unwrap()
            ),
            (want[0], want[1])
        );
    }
    // Percent-encoded absolute range, `+` kept as a plus sign in an offset.
    let encoded = "module=traffic&time=2017-07-14T04%3A42%3A00%2B02:00,2017-07-14T02:43:00Z";
    let ok = http_response(db, Some(encoded), NOW);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&ok.body).unwrap().len(),
        3
    );
    let plus = http_response(
        db,
        Some(
            "module=flows&time=2017-07-14T04:42:00+02:00,2017-07-14T02:43:00Z&port=53&format=table",
        ),
        NOW,
    );
    assert_eq!(
        (plus.status, plus.content_type),
        (200, TEXT),
        "{}",
        plus.body
    );
    assert!(plus.body.contains("8.8.8.8"), "{}", plus.body);

    let refused = |q: Option<&str>, needle: &str| {
        let a = http_response(db, q, NOW);
        assert_eq!((a.status, a.content_type), (400, TEXT), "{q:?}: {}", a.body);
        assert!(a.body.contains(needle), "{q:?}: {}", a.body);
    };
    let modules = "traffic, protocols, services, top-destinations, countries, conversations, flows";
    refused(Some("module=talkers"), modules);
    refused(None, modules);
    refused(Some("time=-5m:0"), modules);
    refused(Some("module=traffic&time=5m"), query::RANGE_FORMS);
    refused(Some("module=traffic&time="), query::RANGE_FORMS);
    refused(Some("module=traffic&range=-5m:0"), query::HTTP_PARAMETERS);
    refused(Some("module=traffic&module=flows"), "more than once");
    refused(Some("module=flows&port=http"), "port number");
    refused(Some("module=traffic&format=xml"), "table, json");
    refused(
        Some("module=countries&addr=10.0.0.5"),
        "flows and conversations",
    );

    let missing = http_response(&dir.path().join("none.db"), Some("module=flows"), NOW);
    assert_eq!(missing.status, 503);
    assert!(missing.body.contains("no embedded store"));
}

#[test]
fn http_router_serves_on_loopback() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let settings = stored(dir.path(), true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = super::http::router(settings.path.clone());
    let get = move |target: &str| -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let (ok, bad) = runtime.block_on(async move {
        tokio::spawn(async move { axum::serve(listener, app).await });
        tokio::task::spawn_blocking(move || {
            (
                get("/query?module=services&time=last-1h:last"),
                get("/query?module=nope"),
            )
        })
        .await
        .unwrap()
    });
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{ok}"
    );
    assert!(ok.contains("\"service\":\"http\""), "{ok}");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(bad.contains("valid modules: traffic"), "{bad}");
}

/// The record types the sensor serializes, not hand-written JSON: field names must match.
#[test]
fn records_of_the_schema_types_are_stored() {
    use netsensor_schema::{
        Endpoint, Event, EventId, FlowDetails, FlowRecord, Geo, Netsensor, Network, Observer,
        Related, RollupDetails, RollupNetsensor, RollupRecord, SideService, Timestamp, Volume,
    };
    let observer = Observer {
        name: "vm",
        hostname: "vm",
        type_: "sensor",
        product: "netsensor",
        version: "0.1.0",
        ingress: None,
    };
    let (src, dst) = (
        "128.232.110.120".parse().unwrap(),
        "66.35.250.204".parse().unwrap(),
    );
    let start = Timestamp(T0);
    let end = Timestamp(T0 + 454_536_000);
    let flow = FlowRecord {
        timestamp: start,
        event: Event::flow(EventId(0xee9d), start, end, true),
        observer: observer.clone(),
        network: Network {
            type_: Some("ipv4"),
            transport: Some("tcp"),
            protocol: Some("http"),
            direction: "unknown",
            bytes: 3035,
            packets: 12,
            ..Network::default()
        },
        source: Endpoint {
            ip: Some(src),
            port: Some(34855),
            bytes: Some(900),
            packets: Some(6),
            geo: Some(Geo {
                country_iso_code: Some("GB"),
                ..Geo::default()
            }),
            ..Endpoint::default()
        },
        destination: Endpoint {
            ip: Some(dst),
            port: Some(80),
            bytes: Some(2135),
            packets: Some(6),
            ..Endpoint::default()
        },
        related: Related::default(),
        netsensor: Netsensor {
            service: Some("http"),
            destination: Some(SideService { service: "http" }),
            insecure: true,
            flow: Some(FlowDetails {
                state: "closed",
                last: true,
                start,
                sequence: 0,
                end_reason: "fin",
                tcp_flags: Default::default(),
            }),
            ..Netsensor::default()
        },
    };
    let rollup = RollupRecord {
        timestamp: start,
        event: Event::rollup(EventId(0xabc), start, Timestamp(T0 + INTERVAL)),
        observer,
        network: Volume {
            bytes: 3035,
            packets: 12,
        },
        netsensor: RollupNetsensor {
            rollup: RollupDetails {
                interval_ms: 10_000,
                dimension: "transport",
                key: "tcp",
                rank: None,
            },
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let mut out = SqliteOutput::open(&settings).unwrap();
    let line = |v: String| ndjson(&[v]);
    out.write_batch(
        RecordKind::Flow,
        &line(serde_json::to_string(&flow).unwrap()),
    )
    .unwrap();
    out.write_batch(
        RecordKind::Rollup,
        &line(serde_json::to_string(&rollup).unwrap()),
    )
    .unwrap();
    assert_eq!(
        (out.stats().flows_stored, out.stats().rollups_stored),
        (1, 1)
    );
    assert_eq!(out.stats().malformed, 0);
    let flows = ask(
        &settings.path,
        Module::Flows,
        WHOLE,
        Filters::default(),
        NOW,
    );
    let row: BTreeMap<&str, &Value> = flows
        .columns
        .iter()
        .map(String::as_str)
        .zip(&flows.rows[0])
        .collect();
    assert_eq!(row["end"], &json!("2017-07-14T02:42:00.454536000Z"));
    assert_eq!(row["source_country"], &json!("GB"));
    assert_eq!(row["protocol"], &json!("http"));
    assert_eq!(row["source_bytes"], &json!(900));
    assert_eq!(row["destination_bytes"], &json!(2135));
    assert_eq!(row["final"], &json!(true));
    let protocols = ask(
        &settings.path,
        Module::Protocols,
        WHOLE,
        Filters::default(),
        NOW,
    );
    assert_eq!(protocols.rows, [vec![json!("tcp"), json!(3035), json!(12)]]);
}

/// A version-1 store (before the tunnel columns) opens as the current version with its rows
/// kept, and takes records with tunnels.
#[test]
fn a_version_1_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    {
        std::fs::create_dir_all(settings.path.parent().unwrap()).unwrap();
        let conn = rusqlite::Connection::open(&settings.path).unwrap();
        let v1 = SCHEMA_SQL
            .replace("    tunnel_type  TEXT,", "")
            .replace("    tunnel_id    INTEGER,", "");
        let v1: String = v1
            .lines()
            .filter(|l| !l.contains("netsensor.tunnel"))
            .collect::<Vec<_>>()
            .join("\n");
        conn.execute_batch(&v1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO flows (id, ts_start, ts_end, src_bytes, src_packets, dst_bytes, \
             dst_packets, bytes, packets, sample_rate, final) \
             VALUES ('old', 1, 2, 10, 1, 0, 0, 10, 1, 1, 1)",
            [],
        )
        .unwrap();
    }
    let mut out = SqliteOutput::open(&settings).unwrap();
    let version: i64 = out
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let record = serde_json::to_value(netsensor_schema::samples::flow(2_000_000_000, 7)).unwrap();
    let tunnel = &record["netsensor"]["tunnel"];
    assert!(
        tunnel["type"].is_string(),
        "the sample has a tunnel: {record}"
    );
    let mut line = serde_json::to_vec(&record).unwrap();
    line.push(b'\n');
    out.write_batch(RecordKind::Flow, &line).unwrap();
    let row = |id: &str| -> (Option<String>, Option<i64>) {
        out.conn
            .query_row(
                "SELECT tunnel_type, tunnel_id FROM flows WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    assert_eq!(row("old"), (None, None), "the old row is kept");
    let new_id = record["event"]["id"].as_str().unwrap();
    assert_eq!(
        row(new_id),
        (
            tunnel["type"].as_str().map(str::to_owned),
            tunnel["id"].as_i64()
        ),
        "{record}"
    );
}
