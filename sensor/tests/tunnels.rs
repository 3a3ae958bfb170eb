//! Tunnel decapsulation checked against tshark.
//!
//! For every frame of the tunnel fixtures (VXLAN, GENEVE, GRE, MPLS) and of the crafted
//! tunnel captures (`dev/fixtures/crafted/make_tunnels.py`: ERSPAN I/II/III, IP-in-IP, 6in4,
//! MPLS pseudowire, VXLAN in GRE, keyed GRE), the record must describe tshark's innermost
//! packet — addresses, transport, ports, application layer — and `netsensor.tunnel.*` /
//! `netsensor.mpls.labels` its outer layers. The innermost packet is read from tshark's
//! `frame.protocols` chain: the last IP layer before the transport, not counting an IP
//! header quoted inside an ICMP error (the sensor, like tshark's own conversation tables,
//! reports the ICMP packet). Malformed tunnel headers leave the outer packet and count a
//! `tunnel` decode error; flows are keyed by the tunnel id.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netsensor::capture::offline::PcapFile;
use netsensor::capture::{FrameMeta, SourceInfo};
use netsensor::decode::{self, DecodeOptions, Layer, TunnelKind};
use netsensor::enrich::Enricher;
use netsensor::records::PacketBuilder;
use serde_json::Value;

use common::{get, text};

/// The tunnel fixtures among the public captures.
const FIXTURES: &[&str] = &[
    "vxlan-icmp-arp.pcap",
    "geneve-ssh-icmp.pcap",
    "gre-ipv4-mixed.pcap",
    "mpls-in-vlan-http.pcap",
];

/// The crafted tunnel captures that decode cleanly.
const CRAFTED: &[&str] = &[
    "tunnel-erspan1.pcap",
    "tunnel-erspan2.pcap",
    "tunnel-erspan3.pcap",
    "tunnel-ipip.pcap",
    "tunnel-6in4.pcap",
    "tunnel-mpls-pw.pcap",
    "tunnel-vxlan-in-gre.pcap",
    "tunnel-gre-keyed.pcap",
];

const MALFORMED: &str = "tunnel-malformed.pcap";

/// tshark fields read per frame, every occurrence.
const FIELDS: &[&str] = &[
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "vxlan.vni",
    "geneve.vni",
    "gre.key",
    "erspan.spanid",
    "mpls.label",
    "http.request.method",
    "dns.qry.name",
    "_ws.malformed",
    "_ws.expert.severity",
    "communityid",
];

fn crafted_dir() -> PathBuf {
    common::repo().join("dev/fixtures/crafted")
}

fn all_captures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = FIXTURES
        .iter()
        .map(|name| common::fixtures_dir().join(name))
        .collect();
    paths.extend(CRAFTED.iter().map(|name| crafted_dir().join(name)));
    paths
}

/// One frame as tshark dissected it.
struct Frame {
    protocols: Vec<String>,
    fields: BTreeMap<&'static str, Vec<String>>,
}

impl Frame {
    fn nth(&self, field: &str, n: usize) -> Option<&str> {
        self.fields.get(field)?.get(n).map(String::as_str)
    }

    fn all(&self, field: &str) -> &[String] {
        self.fields.get(field).map_or(&[], Vec::as_slice)
    }

    /// Position in `protocols` of the IP layer the record must describe, its family, and
    /// its occurrence among that family's layers; None without IP.
    fn innermost_ip(&self) -> Option<(usize, bool, usize)> {
        let mut found = None;
        let (mut v4, mut v6) = (0, 0);
        for (at, proto) in self.protocols.iter().enumerate() {
            match proto.as_str() {
                "ip" => {
                    found = Some((at, false, v4));
                    v4 += 1;
                }
                "ipv6" => {
                    found = Some((at, true, v6));
                    v6 += 1;
                }
                // Past the packet's own transport (or inside an ICMP error): done.
                "tcp" | "icmp" | "icmpv6" | "sctp" => break,
                "udp" if !self.udp_carries_tunnel(at) => break,
                // A tunnel after the last IP layer: the packet inside is not IP (ARP).
                "vxlan" | "geneve" | "gre" | "mpls" => found = None,
                _ => {}
            }
        }
        found
    }

    fn udp_carries_tunnel(&self, at: usize) -> bool {
        matches!(
            self.protocols.get(at + 1).map(String::as_str),
            Some("vxlan" | "geneve")
        )
    }

    /// The transport after the innermost IP layer and its occurrence among its kind.
    fn innermost_transport(&self) -> Option<(&str, usize)> {
        let (at, _, _) = self.innermost_ip()?;
        let proto = self.protocols.get(at + 1)?.as_str();
        let name = match proto {
            "tcp" | "udp" | "icmp" | "icmpv6" => proto,
            _ => return None,
        };
        let occurrence = self.protocols[..at].iter().filter(|p| *p == proto).count();
        Some((name, occurrence))
    }

    /// The outermost encapsulation per the protocol chain, the number of layers, and the
    /// first IP layer (family) when one comes before the encapsulation.
    fn tunnel(&self) -> Option<(&'static str, u8)> {
        let chain: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let inner = self.innermost_ip().map_or(chain.len(), |(at, _, _)| at);
        let mut kind = None;
        let mut depth = 0u8;
        let mut previous_ip: Option<&str> = None;
        for (at, proto) in chain.iter().enumerate().take(inner + 1) {
            let layer = match *proto {
                "gre" if chain.get(at + 1) == Some(&"erspan") => Some("erspan"),
                "gre" => Some("gre"),
                "vxlan" => Some("vxlan"),
                "geneve" => Some("geneve"),
                "mpls" => Some("mpls"),
                "ip" | "ipv6" => match previous_ip {
                    Some(outer) if chain[at - 1] == outer => Some(match (outer, *proto) {
                        ("ip", "ip") => "ipip",
                        ("ip", _) => "ipv6-in-ipv4",
                        (_, "ip") => "ipv4-in-ipv6",
                        _ => "ipv6-in-ipv6",
                    }),
                    _ => None,
                },
                _ => None,
            };
            if matches!(*proto, "ip" | "ipv6") {
                previous_ip = Some(proto);
            }
            if let Some(layer) = layer {
                kind.get_or_insert(layer);
                depth += 1;
            }
        }
        // An ARP frame inside a tunnel.
        kind.map(|kind| (kind, depth))
    }

    /// The id the record must carry: that of the outermost layer with one.
    fn tunnel_id(&self) -> Option<u64> {
        for proto in &self.protocols {
            let field = match proto.as_str() {
                "gre" => "gre.key",
                "erspan" => "erspan.spanid",
                "vxlan" => "vxlan.vni",
                "geneve" => "geneve.vni",
                _ => continue,
            };
            if let Some(value) = self.nth(field, 0) {
                return Some(common::tshark_number(value));
            }
        }
        None
    }

    /// Source and destination of the first IP header.
    fn first_ip(&self) -> Option<(String, String)> {
        let first = self
            .protocols
            .iter()
            .find(|p| matches!(p.as_str(), "ip" | "ipv6"))?;
        let (src, dst) = if first == "ip" {
            ("ip.src", "ip.dst")
        } else {
            ("ipv6.src", "ipv6.dst")
        };
        Some((self.nth(src, 0)?.to_owned(), self.nth(dst, 0)?.to_owned()))
    }

    /// Source and destination of the outermost IP header, when it is not the packet's own
    /// (MPLS over Ethernet has none).
    fn outer_ip(&self) -> Option<(String, String)> {
        let first = self
            .protocols
            .iter()
            .position(|p| matches!(p.as_str(), "ip" | "ipv6"))?;
        match self.innermost_ip() {
            Some((inner, _, _)) if inner == first => None,
            _ => self.first_ip(),
        }
    }
}

fn tshark_frames(path: &Path) -> Vec<Frame> {
    common::require_tshark();
    common::tshark_fields(path, &["--enable-protocol", "communityid"], FIELDS)
        .into_iter()
        .map(|columns| {
            let mut fields = BTreeMap::new();
            for (field, values) in FIELDS.iter().zip(columns) {
                fields.insert(*field, values);
            }
            let protocols = fields["frame.protocols"]
                .first()
                .map(|chain| chain.split(':').map(str::to_owned).collect())
                .unwrap_or_default();
            Frame { protocols, fields }
        })
        .collect()
}

fn replay_records(path: &Path, records: &str) -> Vec<Value> {
    let output = common::netsensor()
        .arg("replay")
        .arg(path)
        .args(["--records", records, "--out", "-", "--no-progress"])
        .output()
        .expect("run netsensor");
    let replay = common::from_output(&output);
    assert_eq!(
        replay.code,
        Some(0),
        "{}: {}",
        path.display(),
        replay.stderr
    );
    replay.records
}

fn field(record: &Value, path: &str) -> Option<String> {
    get(record, path).and_then(text)
}

/// Compares one record with tshark's frame; returns the disagreements.
fn disagreements(frame: &Frame, record: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut expect = |name: &str, want: Option<String>| {
        let got = field(record, name);
        if got != want {
            out.push(format!("{name}: record {got:?}, tshark {want:?}"));
        }
    };
    match frame.innermost_ip() {
        Some((_, v6, n)) => {
            let (src, dst) = if v6 {
                ("ipv6.src", "ipv6.dst")
            } else {
                ("ip.src", "ip.dst")
            };
            expect("source.ip", frame.nth(src, n).map(str::to_owned));
            expect("destination.ip", frame.nth(dst, n).map(str::to_owned));
        }
        None => {
            expect("source.ip", None);
            if frame.protocols.iter().any(|p| p == "arp") {
                expect("network.type", Some("arp".into()));
            }
        }
    }
    let transport = frame.innermost_transport();
    expect(
        "network.transport",
        transport.map(|(name, _)| match name {
            "icmpv6" => "ipv6-icmp".to_owned(),
            other => other.to_owned(),
        }),
    );
    let ports = transport.and_then(|(name, n)| match name {
        "tcp" | "udp" => Some((
            frame.nth(&format!("{name}.srcport"), n)?.to_owned(),
            frame.nth(&format!("{name}.dstport"), n)?.to_owned(),
        )),
        _ => None,
    });
    expect("source.port", ports.as_ref().map(|p| p.0.clone()));
    expect("destination.port", ports.as_ref().map(|p| p.1.clone()));
    if transport.is_some() {
        // tshark hashes the innermost flow too.
        expect(
            "network.community_id",
            frame.nth("communityid", 0).map(str::to_owned),
        );
    }
    if matches!(transport, Some(("tcp" | "udp", _))) {
        expect(
            "http.request.method",
            frame.nth("http.request.method", 0).map(str::to_owned),
        );
        expect(
            "dns.question.name",
            frame.nth("dns.qry.name", 0).map(str::to_owned),
        );
    }
    let tunnel = frame.tunnel();
    expect(
        "netsensor.tunnel.type",
        tunnel.map(|(kind, _)| kind.to_owned()),
    );
    expect(
        "netsensor.tunnel.depth",
        tunnel.map(|(_, depth)| depth.to_string()),
    );
    expect(
        "netsensor.tunnel.id",
        tunnel.and(frame.tunnel_id()).map(|id| id.to_string()),
    );
    let outer = tunnel.and(frame.outer_ip());
    expect(
        "netsensor.tunnel.source.ip",
        outer.as_ref().map(|o| o.0.clone()),
    );
    expect(
        "netsensor.tunnel.destination.ip",
        outer.as_ref().map(|o| o.1.clone()),
    );
    let labels = frame.all("mpls.label");
    expect(
        "netsensor.mpls.labels",
        (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|l| common::tshark_number(l).to_string())
                .collect::<Vec<_>>()
                .join(",")
        }),
    );
    out
}

#[test]
fn records_describe_the_innermost_packet_and_the_outer_layer_as_tshark_does() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut tunnelled = BTreeMap::<String, usize>::new();
    for path in all_captures() {
        let frames = tshark_frames(&path);
        let records = replay_records(&path, "packet");
        assert_eq!(frames.len(), records.len(), "{}", path.display());
        for (i, (frame, record)) in frames.iter().zip(&records).enumerate() {
            checked += 1;
            if let Some(kind) = field(record, "netsensor.tunnel.type") {
                *tunnelled.entry(kind).or_default() += 1;
            }
            for problem in disagreements(frame, record) {
                failures.push(format!(
                    "{} frame {}: {problem} ({})",
                    common::file_name(&path),
                    i + 1,
                    frame.protocols.join(":")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every kind of tunnel the captures hold was seen (a check that checks nothing fails).
    for kind in [
        "vxlan",
        "geneve",
        "gre",
        "erspan",
        "mpls",
        "ipip",
        "ipv6-in-ipv4",
        "ipv4-in-ipv6",
        "ipv6-in-ipv6",
    ] {
        assert!(
            tunnelled.contains_key(kind),
            "no {kind} record: {tunnelled:?}"
        );
    }
    eprintln!("{checked} frames agree with tshark; tunnelled records by type: {tunnelled:?}");
}

/// Reads every frame of a capture with its metadata.
fn frames_of(path: &Path) -> Vec<(FrameMeta, Vec<u8>)> {
    let mut file = PcapFile::open(path).unwrap();
    let mut out = Vec::new();
    let mut data = Vec::new();
    while let Some(meta) = file.next_frame(&mut data).unwrap() {
        out.push((meta, data.clone()));
    }
    out
}

/// Builds every frame's record with `options`; returns the records and their errors.
fn build(path: &Path, options: DecodeOptions) -> Vec<(Value, Option<Layer>)> {
    let mut builder =
        PacketBuilder::new(Arc::new(Enricher::default()), "s", "h").with_decode_options(options);
    let source = SourceInfo::default();
    let mut out = Vec::new();
    for (meta, frame) in frames_of(path) {
        let mut line = Vec::new();
        let emitted = builder
            .write_ndjson(&source, &meta, &frame, &mut line)
            .unwrap();
        out.push((serde_json::from_slice(&line).unwrap(), emitted.error));
    }
    out
}

#[test]
fn malformed_tunnel_headers_are_counted_and_the_outer_packet_stands() {
    let path = crafted_dir().join(MALFORMED);
    let frames = tshark_frames(&path);
    let records = build(&path, DecodeOptions::default());
    assert_eq!(frames.len(), 4);
    assert_eq!(records.len(), frames.len());
    for (i, (frame, (record, error))) in frames.iter().zip(&records).enumerate() {
        let at = format!("{MALFORMED} frame {}", i + 1);
        // tshark finds each broken: a malformed-packet or error-severity expert item.
        let flagged = !frame.all("_ws.malformed").is_empty()
            || frame
                .all("_ws.expert.severity")
                .iter()
                .any(|s| common::tshark_number(s) >= 0x0060_0000);
        assert!(
            flagged,
            "{at}: tshark does not flag it ({frame:?})",
            frame = frame.protocols
        );
        assert_eq!(*error, Some(Layer::Tunnel), "{at}");
        let (src, dst) = frame.first_ip().unwrap();
        assert_eq!(field(record, "source.ip"), Some(src), "{at}");
        assert_eq!(field(record, "destination.ip"), Some(dst), "{at}");
        assert_eq!(field(record, "netsensor.tunnel.type"), None, "{at}");
        // The outer transport stands: UDP for the VXLAN/GENEVE frames, GRE for the rest.
        let outer_transport = frame.protocols.get(3).cloned();
        assert_eq!(field(record, "network.transport"), outer_transport, "{at}");
    }
    assert_eq!(Layer::Tunnel.as_str(), "tunnel");
    assert!(Layer::ALL.contains(&Layer::Tunnel));
}

#[test]
fn every_truncation_of_every_tunnel_frame_decodes_without_panicking() {
    // Cut at every length, each tunnel frame must decode (no panic); a cut inside a tunnel
    // header stops decapsulation above it (fewer layers removed than from the whole
    // frame). Every byte flipped in turn must not panic either.
    let mut paths = all_captures();
    paths.push(crafted_dir().join(MALFORMED));
    let options = DecodeOptions::default();
    let depth = |decoded: &decode::Decoded<'_>| decoded.tunnel.map_or(0, |t| t.depth);
    let (mut cuts, mut tunnel_errors, mut flips) = (0, 0, 0);
    for path in paths {
        for (meta, frame) in frames_of(&path).into_iter().take(4) {
            let whole = depth(&decode::decode_with(
                &options,
                meta.link,
                &frame,
                meta.wire_len,
            ));
            for len in 0..frame.len() {
                let decoded =
                    decode::decode_with(&options, meta.link, &frame[..len], meta.wire_len);
                cuts += 1;
                if decoded.error == Some(Layer::Tunnel) {
                    tunnel_errors += 1;
                    assert!(
                        depth(&decoded) < whole.max(1),
                        "{} cut at {len}: {decoded:?}",
                        path.display()
                    );
                }
            }
            let mut flipped = frame.clone();
            for at in 0..flipped.len() {
                flipped[at] ^= 0xff;
                let _ = decode::decode_with(&options, meta.link, &flipped, meta.wire_len);
                flipped[at] ^= 0xff;
                flips += 1;
            }
        }
    }
    assert!(
        tunnel_errors > 0,
        "no cut hit a tunnel header in {cuts} cuts"
    );
    assert!(flips > 1000, "{flips} flips");
}

#[test]
fn decapsulate_false_reports_the_outer_packet() {
    let path = common::fixtures_dir().join("vxlan-icmp-arp.pcap");
    let frames = tshark_frames(&path);
    let records = build(&path, DecodeOptions::outer_only());
    for (frame, (record, error)) in frames.iter().zip(&records) {
        let (src, dst) = frame.first_ip().unwrap();
        assert_eq!(field(record, "source.ip"), Some(src));
        assert_eq!(field(record, "destination.ip"), Some(dst));
        assert_eq!(field(record, "network.transport").as_deref(), Some("udp"));
        assert_eq!(field(record, "destination.port").as_deref(), Some("4789"));
        assert_eq!(field(record, "netsensor.tunnel.type"), None);
        assert_eq!(*error, None);
    }
    // The same capture decapsulated by default.
    let inner = build(&path, DecodeOptions::default());
    assert_eq!(
        field(&inner[0].0, "netsensor.tunnel.type").as_deref(),
        Some("vxlan")
    );

    // VXLAN on a port that is not configured stays UDP; configured, it is removed.
    let elsewhere = DecodeOptions {
        vxlan_ports: vec![8472],
        ..DecodeOptions::default()
    };
    assert!(!elsewhere.is_tunnel_udp_port(4789));
    assert!(elsewhere.is_tunnel_udp_port(8472) && elsewhere.is_tunnel_udp_port(6081));
    assert!(!DecodeOptions::outer_only().is_tunnel_udp_port(4789));
    let (meta, frame) = &frames_of(&path)[0];
    let decoded = decode::decode_with(&elsewhere, meta.link, frame, meta.wire_len);
    assert!(decoded.tunnel.is_none());
    assert_eq!(decoded.transport.ports().map(|p| p.1), Some(4789));

    // max_depth stops inside nested tunnels: VXLAN in GRE, one layer removed, is the
    // VXLAN packet between the tunnel endpoints.
    let nested = crafted_dir().join("tunnel-vxlan-in-gre.pcap");
    let (meta, frame) = &frames_of(&nested)[0];
    let one = DecodeOptions {
        max_depth: 1,
        ..DecodeOptions::default()
    };
    let decoded = decode::decode_with(&one, meta.link, frame, meta.wire_len);
    let tunnel = decoded.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.depth), (TunnelKind::Gre, 1));
    assert_eq!(
        decoded.ip().map(|ip| ip.src.to_string()).as_deref(),
        Some("172.16.0.1")
    );
    let all = decode::decode_with(&DecodeOptions::default(), meta.link, frame, meta.wire_len);
    let tunnel = all.tunnel.unwrap();
    assert_eq!(
        (tunnel.kind, tunnel.id, tunnel.depth),
        (TunnelKind::Gre, Some(5000), 2)
    );
}

/// One flow record, reduced to what the tests compare.
#[derive(Debug)]
struct Flow {
    /// Initiator `ip:port`.
    from: String,
    /// Responder `ip:port`.
    to: String,
    kind: Option<String>,
    id: Option<String>,
    packets: u64,
}

/// The flow records of a replay.
fn flows(path: &Path, records: &str) -> Vec<Flow> {
    replay_records(path, records)
        .iter()
        .filter(|r| field(r, "event.dataset").as_deref() == Some("netsensor.flow"))
        .map(|r| {
            let end = |side: &str| {
                format!(
                    "{}:{}",
                    field(r, &format!("{side}.ip")).unwrap_or_default(),
                    field(r, &format!("{side}.port")).unwrap_or_default()
                )
            };
            Flow {
                from: end("source"),
                to: end("destination"),
                kind: field(r, "netsensor.tunnel.type"),
                id: field(r, "netsensor.tunnel.id"),
                packets: get(r, "network.packets")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            }
        })
        .collect()
}

#[test]
fn keyed_gre_flows_with_one_inner_tuple_stay_apart() {
    let path = crafted_dir().join("tunnel-gre-keyed.pcap");
    for records in ["packet,flow", "flow"] {
        let flows = flows(&path, records);
        let same_tuple: Vec<_> = flows
            .iter()
            .filter(|f| f.from == "10.60.0.1:40008" && f.to == "10.60.0.53:53")
            .collect();
        let keys: Vec<_> = same_tuple.iter().map(|f| f.id.clone()).collect();
        assert_eq!(same_tuple.len(), 2, "--records {records}: {flows:?}");
        assert!(
            keys.contains(&Some("1".into())) && keys.contains(&Some("2".into())),
            "{flows:?}"
        );
        assert!(
            same_tuple
                .iter()
                .all(|f| f.kind.as_deref() == Some("gre") && f.packets == 2),
            "{flows:?}"
        );
    }
}

#[test]
fn flows_of_vxlan_and_geneve_fixtures_are_the_inner_conversations() {
    for (name, kind) in [
        ("vxlan-icmp-arp.pcap", "vxlan"),
        ("geneve-ssh-icmp.pcap", "geneve"),
    ] {
        let path = common::fixtures_dir().join(name);
        let frames = tshark_frames(&path);
        let inner_addresses: std::collections::BTreeSet<String> = frames
            .iter()
            .filter_map(|f| {
                let (_, v6, n) = f.innermost_ip()?;
                let src = if v6 { "ipv6.src" } else { "ip.src" };
                f.nth(src, n).map(str::to_owned)
            })
            .collect();
        let ip_frames = frames.iter().filter(|f| f.innermost_ip().is_some()).count() as u64;
        for records in ["packet,flow", "flow"] {
            let flows = flows(&path, records);
            assert!(!flows.is_empty(), "{name}");
            for flow in &flows {
                for end in [&flow.from, &flow.to] {
                    let ip = end.rsplit_once(':').map_or(end.as_str(), |(ip, _)| ip);
                    assert!(
                        inner_addresses.contains(ip),
                        "{name} --records {records}: {end} is no inner address {inner_addresses:?}"
                    );
                }
                assert_eq!(
                    flow.kind.as_deref(),
                    Some(kind),
                    "{name} --records {records}: {flow:?}"
                );
            }
            let packets: u64 = flows.iter().map(|f| f.packets).sum();
            assert_eq!(packets, ip_frames, "{name} --records {records}: {flows:?}");
        }
    }
}

#[test]
fn crafted_captures_are_what_make_tunnels_py_writes() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(crafted_dir().join("make_tunnels.py"))
        .arg(dir.path())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let mut names: Vec<&str> = CRAFTED.to_vec();
    names.push(MALFORMED);
    for name in names {
        let fresh = std::fs::read(dir.path().join(name)).unwrap();
        let committed = std::fs::read(crafted_dir().join(name)).unwrap();
        assert!(
            fresh == committed,
            "{name} differs from what make_tunnels.py writes"
        );
    }
}

#[test]
fn pseudonymised_records_hide_the_outer_addresses_too() {
    // The tunnel endpoints identify hosts as much as the inner addresses do.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pseudonym.key"),
        "tunnel-test-key-0123456789abcdef0123456789",
    )
    .unwrap();
    let config = dir.path().join("sensor.yaml");
    std::fs::write(
        &config,
        "listeners: { metrics: null, query: null }\n\
         privacy: { pseudonymize: { key: { file: pseudonym.key } } }\n",
    )
    .unwrap();
    for path in [
        common::fixtures_dir().join("vxlan-icmp-arp.pcap"),
        crafted_dir().join("tunnel-erspan2.pcap"),
    ] {
        let plain = replay_records(&path, "packet");
        let output = common::netsensor()
            .arg("replay")
            .arg(&path)
            .args([
                "--records",
                "packet",
                "--out",
                "-",
                "--no-progress",
                "--config",
            ])
            .arg(&config)
            .output()
            .expect("run netsensor");
        let hidden = common::from_output(&output);
        assert_eq!(hidden.code, Some(0), "{}", hidden.stderr);
        assert_eq!(plain.len(), hidden.records.len());
        let outer: std::collections::BTreeSet<String> = plain
            .iter()
            .flat_map(|r| {
                [
                    "netsensor.tunnel.source.ip",
                    "netsensor.tunnel.destination.ip",
                ]
                .map(|name| field(r, name))
            })
            .flatten()
            .collect();
        assert!(outer.len() >= 2, "{}: {outer:?}", path.display());
        for record in &hidden.records {
            let text = record.to_string();
            for ip in &outer {
                assert!(
                    !text.contains(&format!("\"{ip}\"")),
                    "outer address {ip} leaked: {text}"
                );
            }
            assert!(
                field(record, "netsensor.tunnel.source.ip").is_some(),
                "{text}"
            );
        }
    }
}

#[test]
fn the_tunnels_configuration_reaches_replay() {
    // `tunnels:` in the configuration file: off reports the outer packet; a VXLAN port list
    // without 4789 leaves the fixture's VXLAN as UDP; the defaults decapsulate.
    let dir = tempfile::tempdir().unwrap();
    let path = common::fixtures_dir().join("vxlan-icmp-arp.pcap");
    let frames = tshark_frames(&path);
    let run = |tunnels: &str| {
        let config = dir.path().join("sensor.yaml");
        std::fs::write(
            &config,
            format!("listeners: {{ metrics: null, query: null }}\n{tunnels}\n"),
        )
        .unwrap();
        let output = common::netsensor()
            .arg("replay")
            .arg(&path)
            .args([
                "--records",
                "packet",
                "--out",
                "-",
                "--no-progress",
                "--config",
            ])
            .arg(&config)
            .output()
            .expect("run netsensor");
        let replay = common::from_output(&output);
        assert_eq!(replay.code, Some(0), "{tunnels}: {}", replay.stderr);
        replay.records
    };
    for tunnels in [
        "tunnels: { decapsulate: false }",
        "tunnels: { vxlan_ports: [8472] }",
    ] {
        let records = run(tunnels);
        assert_eq!(records.len(), frames.len());
        for (frame, record) in frames.iter().zip(&records) {
            assert_eq!(
                field(record, "source.ip"),
                frame.first_ip().map(|ip| ip.0),
                "{tunnels}"
            );
            assert_eq!(
                field(record, "destination.port").as_deref(),
                Some("4789"),
                "{tunnels}"
            );
            assert_eq!(field(record, "netsensor.tunnel.type"), None, "{tunnels}");
        }
    }
    let records = run("tunnels: { max_depth: 1 }");
    assert!(records
        .iter()
        .all(|r| field(r, "netsensor.tunnel.type").as_deref() == Some("vxlan")));
}
