//! Flow records, checked three ways:
//!
//! - against tshark: on every capture fixture (and every crafted capture), the flow records
//!   summed per conversation (protocol and the two endpoints, directions matched) give the
//!   packets and bytes per direction that tshark's per-frame dissection gives, except for
//!   the understood cases in [`EXCEPTIONS`]; an exception that no longer occurs fails too;
//! - for their own invariants: one final record per flow, contiguous sequences, distinct
//!   event ids, totals equal to the per-side sums, spans ordered and disjoint;
//! - on crafted captures (`dev/fixtures/crafted/`, written by `make.py` there) whose
//!   timestamps and TCP exchanges make each way a flow ends happen at a known time: idle
//!   and active timeouts, FIN and RST with the linger, reuse of a closed 5-tuple, eviction
//!   from a tiny table, and a FIN handshake acknowledged across the 2^32 sequence wrap.
//!
//! tshark reads every frame with TCP desegmentation and IP defragmentation off, so it sees
//! the frames the sensor sees. A conversation is keyed by the outermost IP header, as flows
//! are: tunnels are not decapsulated, ICMP is keyed by addresses only (the sensor's ICMP
//! "ports" are the Community ID type/code mapping, not comparable with tshark), and later
//! IPv4 fragments carry no ports (port 0 on both sides). The tests that need tshark fail
//! when it is not installed (`make deps`): an absent oracle proves nothing.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::tshark_number as number;
use serde_json::Value;

/// tshark fields read for every frame, in `-e` order.
const TSHARK_FIELDS: &[&str] = &[
    "frame.number",
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.cur_rt",
    "ip.proto",
    "ah.next_header",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.hopopts.nxt",
    "ipv6.routing.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.dstopts.nxt",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "sctp.srcport",
    "sctp.dstport",
];

/// A known disagreement: (file, conversation as printed in the report or `*`, reason).
type Exception = (&'static str, &'static str, &'static str);

const NO_PPPOE: &str = "PPPoE session (EtherType 0x8864) is not decoded: the packet records \
                        have no IP layer, so there are no flows; tshark sees the IPv6 inside";
const NO_MPLS: &str = "MPLS label stack (EtherType 0x8847) is not decoded: the packet records \
                       have no IP layer, so there are no flows; tshark sees the IPv4 below \
                       the labels";

/// Conversations where tshark and the flow records are known to disagree.
#[rustfmt::skip]
const EXCEPTIONS: &[Exception] = &[
    ("pppoe-session.pcap", "*", NO_PPPOE),
    ("mpls-in-vlan-http.pcap", "*", NO_MPLS),
];

// ----- conversations ---------------------------------------------------------------------

/// One endpoint of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ep {
    ip: IpAddr,
    port: u16,
}

/// A conversation: protocol and the two endpoints in canonical order (`a <= b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Conv {
    proto: u8,
    a: Ep,
    b: Ep,
}

impl std::fmt::Display for Conv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ep = |e: &Ep| match e.ip {
            IpAddr::V4(v4) => format!("{v4}:{}", e.port),
            IpAddr::V6(v6) => format!("[{v6}]:{}", e.port),
        };
        write!(
            f,
            "proto {} {} <-> {}",
            self.proto,
            ep(&self.a),
            ep(&self.b)
        )
    }
}

/// Packets and bytes per direction: index 0 sent by `a`, 1 by `b` (all in 0 when a == b).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    packets: [u64; 2],
    bytes: [u64; 2],
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a->b {} pkts {} B, b->a {} pkts {} B",
            self.packets[0], self.bytes[0], self.packets[1], self.bytes[1]
        )
    }
}

type Conversations = BTreeMap<Conv, Totals>;

/// The conversation of a packet from `src` to `dst` and the direction index of its sender.
fn conv(proto: u8, src: Ep, dst: Ep) -> (Conv, usize) {
    if src <= dst {
        (
            Conv {
                proto,
                a: src,
                b: dst,
            },
            0,
        )
    } else {
        (
            Conv {
                proto,
                a: dst,
                b: src,
            },
            1,
        )
    }
}

/// Ports only for the transports whose flows carry them.
fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// Adds what `sender` sent in a conversation.
fn add(convs: &mut Conversations, proto: u8, sender: Ep, receiver: Ep, packets: u64, bytes: u64) {
    let (key, dir) = conv(proto, sender, receiver);
    let totals = convs.entry(key).or_default();
    totals.packets[dir] += packets;
    totals.bytes[dir] += bytes;
}

// ----- tshark side -----------------------------------------------------------------------

/// Every occurrence of every field of one frame.
struct Frame(Vec<Vec<String>>);

impl Frame {
    fn nth(&self, field: &str, n: usize) -> Option<&str> {
        let at = TSHARK_FIELDS
            .iter()
            .position(|f| *f == field)
            .unwrap_or_else(|| panic!("{field} is not in TSHARK_FIELDS"));
        self.0[at].get(n).map(String::as_str)
    }

    fn first(&self, field: &str) -> Option<&str> {
        self.nth(field, 0)
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|_| panic!("not an address: {text:?}"))
}

fn run_tshark(path: &Path) -> Vec<Frame> {
    common::tshark_fields(path, &[], TSHARK_FIELDS)
        .into_iter()
        .map(Frame)
        .collect()
}

/// The outermost IP layer of a frame: (protocol, source, destination, wire length), or None
/// when tshark finds no complete outer IP header (ARP, cut headers, ...).
fn tshark_packet(t: &Frame) -> Option<(u8, Ep, Ep, u64)> {
    let len = number(t.first("frame.len")?);
    let network = t
        .first("frame.protocols")
        .unwrap_or("")
        .split(':')
        .find(|p| matches!(*p, "ip" | "ipv6" | "arp"))?;
    let (src, dst, proto) = match network {
        "ip" => {
            let proto = t.first("ip.proto").map(number);
            let proto = match proto {
                Some(51) => t.first("ah.next_header").map(number).or(proto),
                _ => proto,
            };
            // With a source-route option tshark shows the route's final hop as ip.dst and
            // the header's destination as ip.cur_rt; records keep the header's.
            let dst = t.first("ip.cur_rt").or_else(|| t.first("ip.dst"))?;
            (ip(t.first("ip.src")?), ip(dst), proto?)
        }
        "ipv6" => {
            let next = common::ipv6_upper_protocol(|field, n| t.nth(field, n));
            (ip(t.first("ipv6.src")?), ip(t.first("ipv6.dst")?), next?)
        }
        _ => return None,
    };
    let proto = u8::try_from(proto).expect("protocol number");
    let prefix = match proto {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        _ => "",
    };
    // Transport fields at their first occurrence belong to the outer header (a quoted
    // header inside an ICMP error comes later, and ICMP takes no ports anyway). A later
    // fragment has none: port 0, as in the flow key.
    let port = |which: &str| {
        (!prefix.is_empty())
            .then(|| t.first(&format!("{prefix}.{which}")))
            .flatten()
            .map_or(0, |p| u16::try_from(number(p)).expect("port"))
    };
    Some((
        proto,
        Ep {
            ip: src,
            port: port("srcport"),
        },
        Ep {
            ip: dst,
            port: port("dstport"),
        },
        len,
    ))
}

/// tshark's conversations of a capture.
fn tshark_conversations(path: &Path) -> Conversations {
    let mut convs = Conversations::new();
    for frame in run_tshark(path) {
        if let Some((proto, src, dst, len)) = tshark_packet(&frame) {
            add(&mut convs, proto, src, dst, 1, len);
        }
    }
    convs
}

// ----- flow record side ------------------------------------------------------------------

fn get<'a>(record: &'a Value, path: &str) -> &'a Value {
    common::get(record, path).unwrap_or(&Value::Null)
}

fn u64_at(record: &Value, path: &str) -> u64 {
    get(record, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{path} is not a count in {record}"))
}

fn str_at<'a>(record: &'a Value, path: &str) -> &'a str {
    get(record, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string in {record}"))
}

fn proto_of(record: &Value) -> u8 {
    str_at(record, "network.iana_number")
        .parse()
        .expect("network.iana_number")
}

/// The endpoint on `side` (`source` or `destination`) as the conversation key takes it.
fn endpoint(record: &Value, side: &str) -> Ep {
    let port = if has_ports(proto_of(record)) {
        get(record, &format!("{side}.port")).as_u64().unwrap_or(0)
    } else {
        0
    };
    Ep {
        ip: ip(str_at(record, &format!("{side}.ip"))),
        port: u16::try_from(port).expect("port"),
    }
}

/// The flow records' conversations: every record's per-side counts, summed.
fn flow_conversations(records: &[Value]) -> Conversations {
    let mut convs = Conversations::new();
    for record in records {
        let proto = proto_of(record);
        let (src, dst) = (endpoint(record, "source"), endpoint(record, "destination"));
        for (from, to, side) in [(src, dst, "source"), (dst, src, "destination")] {
            let packets = u64_at(record, &format!("{side}.packets"));
            let bytes = u64_at(record, &format!("{side}.bytes"));
            add(&mut convs, proto, from, to, packets, bytes);
        }
    }
    convs.retain(|_, t| *t != Totals::default());
    convs
}

/// Differences between tshark's conversations and the flow records', as report lines.
fn differences(tshark: &Conversations, flows: &Conversations) -> Vec<(String, String)> {
    let keys: std::collections::BTreeSet<&Conv> = tshark.keys().chain(flows.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (t, f) = (tshark.get(key), flows.get(key));
            (t != f).then(|| {
                let show =
                    |x: Option<&Totals>| x.map_or_else(|| "absent".to_owned(), |x| x.to_string());
                (
                    key.to_string(),
                    format!("tshark: {}; flows: {}", show(t), show(f)),
                )
            })
        })
        .collect()
}

// ----- running netsensor -----------------------------------------------------------------

/// Replays `path` emitting flow records only, with `flows` as the config's flows section
/// (YAML flow-mapping body, e.g. `idle_timeout_secs: 30`).
fn replay_flows(path: &Path, flows: &str) -> Vec<Value> {
    replay_records(path, flows, "flow")
        .into_iter()
        .inspect(|record| {
            assert_eq!(
                str_at(record, "event.dataset"),
                "netsensor.flow",
                "only flow records were asked for"
            );
        })
        .collect()
}

/// The records of replaying `path` with `--records RECORDS` and flow settings `flows`.
fn replay_records(path: &Path, flows: &str, records: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            // Outer packets, as tshark's conversations count them (tests/tunnels.rs checks
            // the decapsulated flows).
            "sensor: {{ name: flow-test }}\nlisteners: {{ metrics: null }}\nflows: {{ {flows} }}\n\
             tunnels: {{ decapsulate: false }}\n"
        ),
    )
    .expect("write config");
    let output = common::netsensor()
        .arg("replay")
        .arg(path)
        .arg("--config")
        .arg(&config)
        .args(["--records", records, "--out", "-", "--no-progress"])
        .output()
        .expect("run netsensor");
    let replay = common::from_output(&output);
    assert_eq!(
        replay.code,
        Some(0),
        "replay of {} failed: {}",
        path.display(),
        replay.stderr
    );
    replay.records
}

/// tshark's conversations of each capture in `paths`, from one tshark run over the
/// captures concatenated by `mergecap -a` (tshark's start-up dominates a run per file). The
/// frames are split back by the frame counts of MANIFEST.tsv. Only IP addresses and ports
/// are read, which no state carried over from an earlier file changes.
fn tshark_conversations_of_all(paths: &[PathBuf]) -> Vec<Conversations> {
    let counts: HashMap<String, usize> = common::manifest_packets().into_iter().collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let merged = dir.path().join("all.pcapng");
    let status = Command::new("mergecap")
        .args(["-a", "-F", "pcapng", "-w"])
        .arg(&merged)
        .args(paths)
        .status()
        .expect("run mergecap (installed with tshark)");
    assert!(status.success(), "mergecap failed");
    let mut frames = run_tshark(&merged).into_iter();
    let mut out = Vec::new();
    for path in paths {
        let name = common::file_name(path);
        let count = *counts
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no frame count in MANIFEST.tsv"));
        let mut convs = Conversations::new();
        for frame in frames.by_ref().take(count) {
            if let Some((proto, src, dst, len)) = tshark_packet(&frame) {
                add(&mut convs, proto, src, dst, 1, len);
            }
        }
        out.push(convs);
    }
    assert_eq!(
        frames.count(),
        0,
        "tshark read more frames than MANIFEST.tsv lists"
    );
    out
}

/// A fixture's flow records (default flow settings) and tshark's conversations.
struct Fixture {
    name: String,
    path: PathBuf,
    records: Vec<Value>,
    tshark: Conversations,
}

/// Replays every fixture, while tshark dissects them all, once per test binary.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        common::require_tshark();
        let paths = common::fixtures();
        assert!(!paths.is_empty(), "no fixtures found");
        let (records, tshark) = std::thread::scope(|scope| {
            let dissect = scope.spawn(|| tshark_conversations_of_all(&paths));
            let records: Vec<_> = paths.iter().map(|p| replay_flows(p, "")).collect();
            (records, dissect.join().expect("tshark thread"))
        });
        paths
            .iter()
            .zip(records)
            .zip(tshark)
            .map(|((path, records), tshark)| Fixture {
                name: common::file_name(path),
                path: path.clone(),
                records,
                tshark,
            })
            .collect()
    })
}

/// The crafted captures' directory.
fn crafted(name: &str) -> PathBuf {
    common::repo().join("dev/fixtures/crafted").join(name)
}

// ----- invariants ------------------------------------------------------------------------

/// Identity of a flow across its records: the record's 5-tuple as oriented (initiator
/// first), VLAN ids and first-seen time.
fn flow_identity(record: &Value) -> String {
    format!(
        "{} {}:{} -> {}:{} vlan {} start {}",
        str_at(record, "network.iana_number"),
        str_at(record, "source.ip"),
        get(record, "source.port"),
        str_at(record, "destination.ip"),
        get(record, "destination.port"),
        get(record, "netsensor.vlan.ids"),
        str_at(record, "netsensor.flow.start"),
    )
}

/// The records of each flow, in sequence order.
fn flows_of(records: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut flows: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for record in records {
        flows.entry(flow_identity(record)).or_default().push(record);
    }
    for records in flows.values_mut() {
        records.sort_by_key(|r| u64_at(r, "netsensor.flow.sequence"));
    }
    flows
}

/// Timestamps are RFC 3339 UTC with nine fraction digits, so they order as text.
fn time(record: &Value, path: &str) -> String {
    let text = str_at(record, path).to_owned();
    assert!(
        text.len() == 30 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
        "{path} {text:?} is not RFC 3339 with nanoseconds"
    );
    text
}

/// Every invariant of one capture's flow records; returns the violations.
fn invariant_violations(records: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut ids = HashSet::new();
    for record in records {
        let id = str_at(record, "event.id");
        if !ids.insert(id.to_owned()) {
            bad.push(format!("duplicate event.id {id}"));
        }
        for (total, a, b) in [
            ("network.bytes", "source.bytes", "destination.bytes"),
            ("network.packets", "source.packets", "destination.packets"),
        ] {
            if u64_at(record, total) != u64_at(record, a) + u64_at(record, b) {
                bad.push(format!("{total} != {a} + {b} in {record}"));
            }
        }
        let (start, end) = (time(record, "event.start"), time(record, "event.end"));
        if time(record, "@timestamp") != start || start > end {
            bad.push(format!(
                "span @timestamp/event.start/event.end wrong in {record}"
            ));
        }
        let final_ = get(record, "netsensor.flow.final").as_bool() == Some(true);
        let interim = str_at(record, "netsensor.flow.end_reason") == "active_timeout";
        if final_ == interim {
            bad.push(format!("final is {final_} for end reason in {record}"));
        }
        if time(record, "netsensor.flow.start") > start {
            bad.push(format!("flow.start after the span start in {record}"));
        }
    }
    for (flow, records) in flows_of(records) {
        let sequences: Vec<u64> = records
            .iter()
            .map(|r| u64_at(r, "netsensor.flow.sequence"))
            .collect();
        if sequences != (0..records.len() as u64).collect::<Vec<_>>() {
            bad.push(format!("{flow}: sequences {sequences:?}"));
        }
        let finals: Vec<bool> = records
            .iter()
            .map(|r| get(r, "netsensor.flow.final").as_bool() == Some(true))
            .collect();
        if finals.iter().filter(|f| **f).count() != 1 || finals.last() != Some(&true) {
            bad.push(format!("{flow}: final flags by sequence {finals:?}"));
        }
        if time(records[0], "event.start") != time(records[0], "netsensor.flow.start") {
            bad.push(format!("{flow}: first span does not start at flow.start"));
        }
        for pair in records.windows(2) {
            if time(pair[0], "event.end") > time(pair[1], "event.start") {
                bad.push(format!("{flow}: spans overlap or are out of order"));
            }
        }
    }
    bad
}

// ----- fixtures against tshark -----------------------------------------------------------

/// Fails listing every difference not excepted and every exception that no longer occurs.
fn check(differences: &[(String, String, String)], exceptions: &[Exception]) {
    let mut used = HashSet::new();
    let mut report = String::new();
    let mut unlisted = 0;
    for (file, conv, what) in differences {
        let listed = exceptions
            .iter()
            .position(|(f, c, _)| f == file && (*c == "*" || c == conv));
        match listed {
            Some(at) => {
                used.insert(at);
            }
            None => {
                unlisted += 1;
                let _ = writeln!(report, "  {file} {conv}: {what}");
            }
        }
    }
    let stale: Vec<_> = exceptions
        .iter()
        .enumerate()
        .filter(|(at, _)| !used.contains(at))
        .map(|(_, e)| e)
        .collect();
    for (file, conv, reason) in &stale {
        let _ = writeln!(
            report,
            "  stale exception (no longer occurs): {file} {conv} ({reason})"
        );
    }
    assert!(
        unlisted == 0 && stale.is_empty(),
        "{unlisted} unlisted difference(s), {} stale exception(s):\n{report}",
        stale.len()
    );
}

#[test]
fn flow_totals_agree_with_tshark_conversations() {
    let mut all = Vec::new();
    for fixture in fixtures() {
        let flows = flow_conversations(&fixture.records);
        for (conv, what) in differences(&fixture.tshark, &flows) {
            all.push((fixture.name.clone(), conv, what));
        }
    }
    check(&all, EXCEPTIONS);
}

/// Flows-only replays take the headers-only path (no packet record is built); with packet
/// records on, flows are fed from the records. Both must give the same flow records.
#[test]
fn the_headers_only_flow_path_gives_the_same_flows_as_the_record_path() {
    let mut compared = 0;
    for fixture in fixtures() {
        let from_records: Vec<Value> = replay_records(&fixture.path, "", "packet,flow")
            .into_iter()
            .filter(|r| str_at(r, "event.dataset") == "netsensor.flow")
            .collect();
        assert_eq!(
            from_records.len(),
            fixture.records.len(),
            "{}: flow record counts differ between the two paths",
            fixture.name
        );
        for (a, b) in fixture.records.iter().zip(&from_records) {
            assert_eq!(a, b, "{}: flow records differ", fixture.name);
            compared += 1;
        }
    }
    assert!(compared > 300, "only {compared} flow records compared");
}

#[test]
fn tshark_finds_conversations_in_the_fixtures() {
    // Guards the comparison above against an oracle that silently sees nothing.
    let fixtures = fixtures();
    let with_ip = fixtures.iter().filter(|f| !f.tshark.is_empty()).count();
    assert!(
        with_ip >= fixtures.len() * 3 / 4,
        "{with_ip} of {} captures",
        fixtures.len()
    );
    let records: usize = fixtures.iter().map(|f| f.records.len()).sum();
    assert!(
        records > 300,
        "only {records} flow records over all fixtures"
    );
}

#[test]
fn flow_records_keep_their_invariants_on_every_fixture() {
    let mut report = String::new();
    for fixture in fixtures() {
        for violation in invariant_violations(&fixture.records) {
            let _ = writeln!(report, "  {}: {violation}", fixture.name);
        }
        // Replay ends every flow with end_of_input (or how TCP ended it).
        for record in &fixture.records {
            let reason = str_at(record, "netsensor.flow.end_reason");
            if !matches!(
                reason,
                "end_of_input" | "fin" | "rst" | "idle_timeout" | "active_timeout"
            ) {
                let _ = writeln!(report, "  {}: unexpected end reason {reason}", fixture.name);
            }
        }
    }
    assert!(
        report.is_empty(),
        "flow record invariants broken:\n{report}"
    );
}

#[test]
fn real_sequence_wraparound_capture_matches_tshark() {
    let fixture = fixtures()
        .iter()
        .find(|f| f.name == "tcp-seq-wraparound.pcap")
        .expect("fixture tcp-seq-wraparound.pcap");
    assert!(!fixture.tshark.is_empty());
    assert_eq!(
        differences(&fixture.tshark, &flow_conversations(&fixture.records)),
        vec![]
    );
    assert!(invariant_violations(&fixture.records).is_empty());
}

// ----- crafted captures ------------------------------------------------------------------

/// `2024-01-01T00:00:00Z` (the crafted captures' time 0) plus `micros`, as records print it.
fn at(micros: u64) -> String {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    assert!(secs < 86_400);
    format!(
        "2024-01-01T{:02}:{:02}:{:02}.{:06}000Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        frac
    )
}

/// Replays a crafted capture and checks what every capture must satisfy: the invariants,
/// and per-conversation totals equal to tshark's.
fn crafted_flows(name: &str, flows: &str) -> Vec<Value> {
    common::require_tshark();
    let path = crafted(name);
    let records = replay_flows(&path, flows);
    let violations = invariant_violations(&records);
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    let tshark = tshark_conversations(&path);
    assert!(!tshark.is_empty());
    assert_eq!(
        differences(&tshark, &flow_conversations(&records)),
        vec![],
        "{name}"
    );
    records
}

fn reason(record: &Value) -> &str {
    str_at(record, "netsensor.flow.end_reason")
}

fn state(record: &Value) -> &str {
    str_at(record, "netsensor.flow.state")
}

fn packets(record: &Value) -> u64 {
    u64_at(record, "network.packets")
}

#[test]
fn idle_timeout_splits_a_flow_at_a_gap() {
    // Packets at 0, 10, 10.5 (reply), 20, then 60 s: the 40 s gap exceeds the 30 s idle
    // timeout, so the packet at 60 s is a second flow.
    let records = crafted_flows("udp-idle-gap.pcap", "idle_timeout_secs: 30");
    let flows = flows_of(&records);
    assert_eq!(flows.len(), 2, "{records:#?}");
    let first = &records[0];
    assert_eq!(reason(first), "idle_timeout");
    assert_eq!(state(first), "timeout");
    assert_eq!(packets(first), 4);
    assert_eq!(u64_at(first, "destination.packets"), 1);
    assert_eq!(time(first, "event.start"), at(0));
    assert_eq!(time(first, "event.end"), at(20_000_000));
    let second = &records[1];
    assert_eq!(reason(second), "end_of_input");
    assert_eq!(packets(second), 1);
    assert_eq!(time(second, "netsensor.flow.start"), at(60_000_000));
    assert_eq!(time(second, "event.end"), at(60_000_000));
}

#[test]
fn active_timeout_emits_interim_records_of_a_long_flow() {
    // Handshake at 0 s, a segment and its ACK every 10 s to 700 s, FIN handshake at 705 s.
    let records = crafted_flows(
        "tcp-long-active.pcap",
        "idle_timeout_secs: 30, active_timeout_secs: 300",
    );
    assert_eq!(flows_of(&records).len(), 1, "{records:#?}");
    let reasons: Vec<&str> = records.iter().map(reason).collect();
    assert_eq!(reasons, ["active_timeout", "active_timeout", "fin"]);
    for interim in &records[..2] {
        assert_eq!(state(interim), "established");
        assert_eq!(get(interim, "netsensor.flow.final"), &Value::Bool(false));
    }
    let last = &records[2];
    assert_eq!(state(last), "closed");
    assert_eq!(time(last, "event.end"), at(705_003_000));
    // Each interim record covers about one active timeout: it is due 300 s after its span
    // began, and is emitted at the latest with the next packet (10 s apart here).
    let secs = |r: &Value, path: &str| {
        let t = time(r, path);
        let h: u64 = t[11..13].parse().unwrap();
        let m: u64 = t[14..16].parse().unwrap();
        let s: u64 = t[17..19].parse().unwrap();
        h * 3600 + m * 60 + s
    };
    for interim in &records[..2] {
        let span = secs(interim, "event.end") - secs(interim, "event.start");
        assert!(
            (290..=310).contains(&span),
            "interim span {span} s: {interim}"
        );
    }
    // Deltas: the records add up to the capture (3 + 140 + 4 frames).
    assert_eq!(records.iter().map(packets).sum::<u64>(), 147);
    let sum = |path: &str| records.iter().map(|r| u64_at(r, path)).sum::<u64>();
    assert_eq!(sum("source.packets"), 2 + 70 + 2);
    assert_eq!(sum("destination.packets"), 1 + 70 + 2);
    assert_eq!(sum("source.bytes"), 2 * 54 + 70 * 154 + 2 * 54);
}

#[test]
fn fin_and_rst_end_flows_after_the_linger_and_a_reused_tuple_is_a_new_flow() {
    let records = crafted_flows("tcp-fin-rst-reuse.pcap", "linger_ms: 1000");
    let by_port = |port: u64| -> Vec<&Value> {
        let mut v: Vec<&Value> = records
            .iter()
            .filter(|r| get(r, "source.port").as_u64() == Some(port))
            .collect();
        v.sort_by_key(|r| time(r, "netsensor.flow.start"));
        v
    };
    // FIN: the client's FIN, the server's ACK and FIN, the client's last ACK at 1.015 s.
    let reused = by_port(42000);
    assert_eq!(reused.len(), 2, "closed flow and its reuse: {reused:#?}");
    let closed = reused[0];
    assert_eq!((reason(closed), state(closed)), ("fin", "closed"));
    assert_eq!(packets(closed), 9);
    assert_eq!(time(closed, "event.end"), at(1_015_000));
    assert_eq!(get(closed, "netsensor.flow.final"), &Value::Bool(true));
    // The SYN on the same 5-tuple at 5 s, after the linger, starts a second flow.
    let again = reused[1];
    assert_eq!(time(again, "netsensor.flow.start"), at(5_000_000));
    assert_eq!((reason(again), state(again)), ("end_of_input", "new"));
    assert_eq!(packets(again), 2);
    // RST at 2.010 s; the retransmitted RST at 2.210 s falls in the linger and is absorbed.
    let reset = by_port(42001);
    assert_eq!(reset.len(), 1, "{reset:#?}");
    assert_eq!((reason(reset[0]), state(reset[0])), ("rst", "reset"));
    assert_eq!(packets(reset[0]), 6);
    assert_eq!(time(reset[0], "event.end"), at(2_210_000));
    let flags = text_list(get(reset[0], "netsensor.flow.tcp_flags"));
    for flag in ["SYN", "ACK", "PSH", "RST"] {
        assert!(flags.contains(&flag.to_owned()), "{flag} in {flags:?}");
    }
}

fn text_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_table_evicts_its_oldest_flows() {
    // 100 UDP request/reply flows one after another, client ports 30000..30099, with room
    // for 10: each new flow evicts the oldest, so the first 90 are evicted and the last 10
    // end with the input.
    let records = crafted_flows("udp-many-flows.pcap", "max_flows: 10");
    assert_eq!(records.len(), 100);
    let mut evicted = Vec::new();
    let mut ended = Vec::new();
    for record in &records {
        let port = u64_at(record, "source.port");
        match reason(record) {
            "evicted" => evicted.push(port),
            "end_of_input" => ended.push(port),
            other => panic!("end reason {other}"),
        }
        assert_eq!(u64_at(record, "source.packets"), 1);
        assert_eq!(u64_at(record, "destination.packets"), 1);
        assert_eq!(get(record, "netsensor.flow.final"), &Value::Bool(true));
    }
    evicted.sort_unstable();
    ended.sort_unstable();
    assert_eq!(evicted, (30000..30090).collect::<Vec<_>>());
    assert_eq!(ended, (30090..30100).collect::<Vec<_>>());
    assert_eq!(records.iter().map(packets).sum::<u64>(), 200);
}

#[test]
fn a_fin_handshake_acknowledged_across_the_sequence_wrap_closes_the_flow() {
    // Client ISN 2^32-50, server ISN 2^32-202; 200 bytes each way; the server's FIN sits at
    // 2^32-1 and the client's last ACK (3.0 s) acknowledges it with 0. A naive comparison
    // would leave the flow open until the end of the input (10 s).
    let records = crafted_flows("tcp-seq-wrap-fin.pcap", "linger_ms: 1000");
    let tcp: Vec<&Value> = records.iter().filter(|r| proto_of(r) == 6).collect();
    assert_eq!(tcp.len(), 1, "{tcp:#?}");
    let flow = tcp[0];
    assert_eq!((reason(flow), state(flow)), ("fin", "closed"));
    assert_eq!(time(flow, "event.end"), at(3_000_000));
    assert_eq!(u64_at(flow, "source.packets"), 7);
    assert_eq!(u64_at(flow, "destination.packets"), 4);
    assert_eq!(u64_at(flow, "source.bytes"), 5 * 54 + 2 * 154);
    assert_eq!(u64_at(flow, "destination.bytes"), 2 * 54 + 2 * 154);
}

#[test]
fn crafted_captures_match_their_generator() {
    // The committed captures are what make.py writes (it is deterministic); regenerate
    // them with `python3 dev/fixtures/crafted/make.py` after changing it.
    let names = [
        "udp-idle-gap.pcap",
        "tcp-long-active.pcap",
        "tcp-fin-rst-reuse.pcap",
        "udp-many-flows.pcap",
        "tcp-seq-wrap-fin.pcap",
    ];
    if !common::have_program("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = std::fs::read_to_string(crafted("make.py")).unwrap();
    let copy = dir.path().join("make.py");
    std::fs::write(&copy, script).unwrap();
    let status = Command::new("python3").arg(&copy).status().unwrap();
    assert!(status.success());
    for name in names {
        let fresh = std::fs::read(dir.path().join(name)).unwrap();
        let committed = std::fs::read(crafted(name)).unwrap();
        assert!(fresh == committed, "{name} differs from make.py's output");
    }
}
