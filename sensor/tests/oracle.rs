//! The tshark oracle: every capture fixture is replayed through the `netsensor` binary and
//! each packet record is compared field by field with tshark's dissection of the same frame
//! (`tshark -T fields`, TCP desegmentation and IP defragmentation off).
//!
//! Agreement must be total, except for the cases listed in [`EXCEPTIONS`] /
//! [`CID_EXCEPTIONS`], each with its reason. The test fails on any mismatch that is not
//! listed, and on any listed exception that no longer happens, so the list stays honest.
//!
//! The fixtures are replayed with `tunnels.decapsulate: false`, so records describe the
//! outermost IP packet (`tests/tunnels.rs` holds the decapsulated view against tshark's
//! innermost layer), and the packet inside an ICMP error is not decoded. tshark fields that occur several times are therefore
//! read at their first (outermost) occurrence, and transport fields are only taken when the
//! outer IP header's protocol says so.
//!
//! The tests that need tshark fail when it is not installed (`make deps` installs it): an
//! oracle that is absent proves nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::tshark_number as number;
use netsensor_schema::{fields_for, RecordKind};
use serde_json::Value;

/// tshark fields read for every frame, in `-e` order.
const TSHARK_FIELDS: &[&str] = &[
    "frame.number",
    "frame.len",
    "frame.cap_len",
    "frame.protocols",
    "eth.src",
    "eth.dst",
    "sll.src.eth",
    "ieee8021ad.id",
    "vlan.id",
    "ip.src",
    "ip.dst",
    "ip.cur_rt",
    "ip.proto",
    "ip.ttl",
    "ip.id",
    "ip.flags.df",
    "ip.flags.mf",
    "ip.frag_offset",
    "ip.hdr_len",
    "ip.len",
    "ip.dsfield.dscp",
    "ip.dsfield.ecn",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.hlim",
    "ipv6.plen",
    "ipv6.flow",
    "ipv6.tclass.dscp",
    "ipv6.tclass.ecn",
    "ipv6.hopopts.nxt",
    "ipv6.routing.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.dstopts.nxt",
    "ah.next_header",
    "ipv6.fraghdr.more",
    "ipv6.fraghdr.offset",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.window_size_value",
    "tcp.len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "sctp.srcport",
    "sctp.dstport",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "dns.flags.rcode",
    "tls.handshake.extensions_server_name",
    "http.request.method",
    "http.host",
    "communityid",
];

/// Record fields compared with tshark (JSON paths).
const COMPARED: &[&str] = &[
    "network.bytes",
    "netsensor.packet.captured_length",
    "source.mac",
    "destination.mac",
    "netsensor.vlan.ids",
    "network.vlan.id",
    "network.inner.vlan.id",
    "network.type",
    "source.ip",
    "destination.ip",
    "network.iana_number",
    "netsensor.ip.ttl",
    "netsensor.ip.id",
    "netsensor.ip.df",
    "netsensor.ip.mf",
    "netsensor.ip.fragment_offset",
    "netsensor.ip.header_length",
    "netsensor.ip.total_length",
    "netsensor.ip.dscp",
    "netsensor.ip.ecn",
    "netsensor.ip.flow_label",
    "source.port",
    "destination.port",
    "netsensor.tcp.flags",
    "netsensor.tcp.seq",
    "netsensor.tcp.ack",
    "netsensor.tcp.window",
    "netsensor.tcp.payload_length",
    "netsensor.tcp.mss",
    "netsensor.tcp.window_scale",
    "netsensor.udp.length",
    "netsensor.icmp.type",
    "netsensor.icmp.code",
    "dns.question.name",
    "dns.question.type",
    "dns.response_code",
    "tls.client.server_name",
    "http.request.method",
    "url.domain",
];

/// A known disagreement: (file, frame number or `*`, record field, reason).
type Exception = (&'static str, &'static str, &'static str, &'static str);

/// In an exception's field column: every compared field from `network.type` on (the IP
/// layer and everything above it), for frames whose IP layer the decoder does not reach.
const IP_AND_ABOVE: &str = "<ip and above>";

const NO_PPPOE: &str = "PPPoE session (EtherType 0x8864) is not decoded: no IP layer in the \
                        record, tshark decodes the IPv6 inside";
const NO_MPLS: &str = "MPLS label stack (EtherType 0x8847) is not decoded: no IP layer in the \
                       record, tshark decodes the IPv4 below the labels";
const SSDP: &str = "SSDP is HTTP over UDP/1900; the HTTP parser runs on TCP payloads only";
const CUT_REQUEST_LINE: &str = "app parser: the request line is cut (snap length 96) before \
                                its end; the HTTP parser wants the whole line, tshark reports \
                                the method of the partial line";
const GRE_DNS: &str = "GRE is not decapsulated: the DNS query is inside the tunnel";
const ICMP_QUOTE: &str = "the DNS message quoted inside an ICMP error is not parsed: records \
                          describe the outer packet";
const TCP_CUT: &str = "data offset 7 (28 bytes) but the IP length leaves a 20-byte segment: \
                       the fixed fields agree, tshark gives no segment length for such a \
                       header while the record says 0 payload bytes";
const IPV4_CUT: &str = "frame cut at 20 bytes, 6 bytes into the IPv4 header: tshark shows the \
                        fields before the cut; the record only takes complete IP headers";
const IPV6_CUT: &str = "IPv6 header cut at 39 of 40 bytes: tshark shows the fields before the \
                        cut; the record only takes complete IP headers";
const BAD_IHL: &str = "IHL 4 (16 bytes) is below the minimum of 20: tshark shows the version \
                       and header length before rejecting the header; the record has no IP \
                       layer";

/// Disagreements with tshark's dissection that are understood and accepted.
#[rustfmt::skip]
const EXCEPTIONS: &[Exception] = &[
    ("pppoe-session.pcap", "*", IP_AND_ABOVE, NO_PPPOE),
    ("mpls-in-vlan-http.pcap", "*", IP_AND_ABOVE, NO_MPLS),
    ("gre-ipv4-mixed.pcap", "*", "dns.question.name", GRE_DNS),
    ("gre-ipv4-mixed.pcap", "*", "dns.question.type", GRE_DNS),
    ("icmp-unreach-port-udp.pcap", "1", "dns.question.name", ICMP_QUOTE),
    ("icmp-unreach-port-udp.pcap", "1", "dns.question.type", ICMP_QUOTE),
    ("icmp-unreach-port-udp.pcap", "1", "dns.response_code", ICMP_QUOTE),
    ("malformed-ipv4-bad-ihl.pcap", "1", "network.type", BAD_IHL),
    ("malformed-ipv4-bad-ihl.pcap", "1", "netsensor.ip.header_length", BAD_IHL),
    ("malformed-ipv6-short-header.pcap", "1", IP_AND_ABOVE, IPV6_CUT),
    ("malformed-tcp-bad-offset.pcap", "*", "netsensor.tcp.payload_length", TCP_CUT),
    ("trunc-ipv4-header-cut.pcap", "1", IP_AND_ABOVE, IPV4_CUT),
    (
        "sll2-icmp-icmp6-arp.pcap",
        "6",
        "network.type",
        "RARP (EtherType 0x8035): tshark's ARP dissector takes it, the decoder only knows \
         ARP (0x0806)",
    ),
    (
        "tcp-retransmissions.pcap",
        "*",
        "http.request.method",
        "HTTP on TCP port 4000: tshark dissects HTTP on registered ports only, the parser \
         recognises a request by its content",
    ),
    ("cid-spec-tcp.pcap", "4", "http.request.method", CUT_REQUEST_LINE),
    ("cid-spec-combined.pcap", "56", "http.request.method", CUT_REQUEST_LINE),
    (
        "mixed-large-many-protocols.pcap",
        "1296",
        "http.request.method",
        "app parser: a 1360-byte request line continues in the next segment (no \
         reassembly); tshark reports the method of the partial line",
    ),
    ("mixed-large-many-protocols.pcap", "*", "http.request.method", SSDP),
    ("mixed-large-many-protocols.pcap", "*", "url.domain", SSDP),
];

const CUT_UDP: &str = "UDP header cut before its length field: tshark hashes the tuple without \
                       ports, the record with the ports it read (the flow's usual ID)";
const TUNNEL_CID: &str = "tunnel not decapsulated: tshark hashes the inner flow, the record the \
                          outer UDP flow";
const IPV6_LATER_FRAGMENT: &str = "later IPv6 fragment: tshark computes no Community ID (it does \
                                   for later IPv4 fragments); the record hashes the port-less \
                                   tuple as for IPv4";
const BAD_IPV6_LENGTH: &str = "IPv6 payload length 0 or too short for the transport header: \
                               tshark computes no Community ID";
const SOURCE_ROUTE: &str = "strict source route: tshark hashes the route's final hop (0.0.0.0) \
                            as destination, the record the header's destination";

/// Disagreements with tshark's Community ID.
#[rustfmt::skip]
const CID_EXCEPTIONS: &[Exception] = &[
    ("geneve-ssh-icmp.pcap", "*", "network.community_id", TUNNEL_CID),
    ("vxlan-icmp-arp.pcap", "*", "network.community_id", TUNNEL_CID),
    ("garbage-0x30-udp.pcap", "1", "network.community_id", CUT_UDP),
    ("malformed-too-small-headers.pcap", "3", "network.community_id", CUT_UDP),
    ("malformed-too-small-headers.pcap", "5", "network.community_id", BAD_IPV6_LENGTH),
    ("malformed-too-small-headers.pcap", "6", "network.community_id", BAD_IPV6_LENGTH),
    ("malformed-too-small-headers.pcap", "7", "network.community_id", BAD_IPV6_LENGTH),
    ("ipv4-options-rr-ts-ra.pcap", "6", "network.community_id", SOURCE_ROUTE),
    ("ipv4-options-rr-ts-ra.pcap", "7", "network.community_id", SOURCE_ROUTE),
    ("ipv6-frag-dns-txt.pcap", "4", "network.community_id", IPV6_LATER_FRAGMENT),
    ("ipv6-frag-dns-txt.pcap", "7", "network.community_id", IPV6_LATER_FRAGMENT),
    ("ipv6-frag-dns-txt.pcap", "8", "network.community_id", IPV6_LATER_FRAGMENT),
];

/// One frame as tshark dissected it: every occurrence of every field.
struct TsharkFrame {
    values: Vec<Vec<String>>,
}

impl TsharkFrame {
    fn all(&self, field: &str) -> &[String] {
        let at = TSHARK_FIELDS
            .iter()
            .position(|f| *f == field)
            .unwrap_or_else(|| panic!("{field} is not in TSHARK_FIELDS"));
        &self.values[at]
    }

    fn first(&self, field: &str) -> Option<&str> {
        self.all(field).first().map(String::as_str)
    }

    fn nth(&self, field: &str, n: usize) -> Option<&str> {
        self.all(field).get(n).map(String::as_str)
    }
}

/// A fixture with netsensor's records and (when tshark is installed) tshark's frames.
struct Fixture {
    name: String,
    path: PathBuf,
    replay: common::Replay,
    tshark: Option<BTreeMap<u64, TsharkFrame>>,
}

/// Replays and dissects every fixture once per test binary.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let paths = common::fixtures();
        assert!(!paths.is_empty(), "no fixtures found");
        let (replays, dissected) = std::thread::scope(|scope| {
            let dissect = scope.spawn(|| common::have_program("tshark").then(|| dissect(&paths)));
            let replays: Vec<_> = paths.iter().map(|p| common::replay_outer(p)).collect();
            (replays, dissect.join().expect("tshark thread"))
        });
        let mut dissected = dissected.map(Vec::into_iter);
        paths
            .iter()
            .zip(replays)
            .map(|(path, replay)| Fixture {
                name: common::file_name(path),
                path: path.clone(),
                replay,
                tshark: dissected.as_mut().and_then(Iterator::next),
            })
            .collect()
    })
}

/// tshark's frames of each file, two files at a time. (Concatenating the fixtures into one
/// tshark run would be faster, but tshark's conversation state then leaks between files and
/// changes its dissection.)
fn dissect(paths: &[PathBuf]) -> Vec<BTreeMap<u64, TsharkFrame>> {
    let (even, odd): (Vec<_>, Vec<_>) = paths.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let (even, odd) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| odd.iter().map(|(_, p)| run_tshark(p)).collect::<Vec<_>>());
        let mine: Vec<_> = even.iter().map(|(_, p)| run_tshark(p)).collect();
        (mine, worker.join().expect("tshark worker"))
    });
    let (mut even, mut odd) = (even.into_iter(), odd.into_iter());
    (0..paths.len())
        .map(|i| {
            if i % 2 == 0 { even.next() } else { odd.next() }.expect("one dissection per file")
        })
        .collect()
}

fn run_tshark(path: &Path) -> BTreeMap<u64, TsharkFrame> {
    let options = [
        "--enable-protocol",
        "communityid",
        "-o",
        "udp.try_heuristic_first:FALSE",
        "-o",
        "tcp.try_heuristic_first:FALSE",
    ];
    common::tshark_fields(path, &options, TSHARK_FIELDS)
        .into_iter()
        .map(|values| {
            let number = values[0][0].parse().expect("frame.number");
            (number, TsharkFrame { values })
        })
        .collect()
}

// ----- tshark value → record value ---------------------------------------------------------

fn mac(text: &str) -> String {
    text.to_ascii_uppercase().replace(':', "-")
}

fn ip(text: &str) -> String {
    text.parse::<IpAddr>()
        .map_or_else(|_| text.to_owned(), |ip| ip.to_string())
}

/// tshark prints booleans as `1`/`0` (4.0) or `True`/`False` (4.2+).
fn boolean(text: &str) -> bool {
    matches!(text, "1" | "True" | "true")
}

/// Integers in tshark's decimal or `0x` hexadecimal form.
fn dec(text: &str) -> String {
    number(text).to_string()
}

/// `netsensor.tcp.flags` order; tshark's 12-bit field also holds the AE (NS) bit, which the
/// record does not carry.
const TCP_FLAG_NAMES: [(u64, &str); 8] = [
    (0x02, "SYN"),
    (0x10, "ACK"),
    (0x01, "FIN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
];

fn tcp_flags(text: &str) -> String {
    let bits = number(text);
    TCP_FLAG_NAMES
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// DNS record type mnemonics (IANA registry), `TYPE<n>` otherwise (RFC 3597).
fn dns_type(text: &str) -> String {
    let n = number(text);
    let name = match n {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return format!("TYPE{n}"),
    };
    name.to_owned()
}

/// DNS response code mnemonics (RFC 1035, 2136); the number otherwise.
fn dns_rcode(text: &str) -> String {
    let n = number(text);
    let name = match n {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return n.to_string(),
    };
    name.to_owned()
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> String {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]).to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name.to_owned()
        }
        _ => host.to_owned(),
    }
}

type Fields = BTreeMap<&'static str, Option<String>>;

/// What the record should hold according to tshark.
fn expected(t: &TsharkFrame) -> Fields {
    let mut out: Fields = COMPARED.iter().map(|k| (*k, None)).collect();
    let mut set = |key: &'static str, value: Option<String>| {
        assert!(COMPARED.contains(&key), "{key} not in COMPARED");
        out.insert(key, value);
    };
    set("network.bytes", t.first("frame.len").map(dec));
    set(
        "netsensor.packet.captured_length",
        t.first("frame.cap_len").map(dec),
    );
    set(
        "source.mac",
        t.first("eth.src")
            .or_else(|| t.first("sll.src.eth"))
            .map(mac),
    );
    set("destination.mac", t.first("eth.dst").map(mac));

    // Tags and the outer network layer, in the order tshark's protocol stack lists them.
    let protocols: Vec<&str> = t
        .first("frame.protocols")
        .unwrap_or("")
        .split(':')
        .collect();
    let (mut ad, mut q) = (0, 0);
    let mut vlans = Vec::new();
    let mut network = None;
    for proto in &protocols {
        match *proto {
            "ieee8021ad" => {
                vlans.extend(t.nth("ieee8021ad.id", ad).map(dec));
                ad += 1;
            }
            "vlan" => {
                vlans.extend(t.nth("vlan.id", q).map(dec));
                q += 1;
            }
            "ip" | "ipv6" | "arp" => {
                network = Some(*proto);
                break;
            }
            _ => {}
        }
    }
    if !vlans.is_empty() {
        set("netsensor.vlan.ids", Some(vlans.join(",")));
        set("network.vlan.id", vlans.first().cloned());
        set("network.inner.vlan.id", vlans.get(1).cloned());
    }
    let protocol = match network {
        Some("arp") => {
            set("network.type", Some("arp".into()));
            return out;
        }
        Some("ip") => {
            set("network.type", Some("ipv4".into()));
            set("source.ip", t.first("ip.src").map(ip));
            // With a source-route option tshark shows the route's final hop as ip.dst and
            // the header's destination as ip.cur_rt; the record keeps the header's.
            set(
                "destination.ip",
                t.first("ip.cur_rt").or_else(|| t.first("ip.dst")).map(ip),
            );
            set("netsensor.ip.ttl", t.first("ip.ttl").map(dec));
            set("netsensor.ip.id", t.first("ip.id").map(dec));
            set(
                "netsensor.ip.df",
                t.first("ip.flags.df").map(|v| boolean(v).to_string()),
            );
            set(
                "netsensor.ip.mf",
                t.first("ip.flags.mf").map(|v| boolean(v).to_string()),
            );
            // tshark prints the offset in 8-byte units, the record in bytes.
            set(
                "netsensor.ip.fragment_offset",
                t.first("ip.frag_offset")
                    .map(|v| (number(v) * 8).to_string()),
            );
            set("netsensor.ip.header_length", t.first("ip.hdr_len").map(dec));
            set("netsensor.ip.total_length", t.first("ip.len").map(dec));
            set("netsensor.ip.dscp", t.first("ip.dsfield.dscp").map(dec));
            set("netsensor.ip.ecn", t.first("ip.dsfield.ecn").map(dec));
            let proto = t.first("ip.proto").map(number);
            match proto {
                Some(51) => t.first("ah.next_header").map(number).or(proto),
                _ => proto,
            }
        }
        Some("ipv6") => {
            set("network.type", Some("ipv6".into()));
            set("source.ip", t.first("ipv6.src").map(ip));
            set("destination.ip", t.first("ipv6.dst").map(ip));
            set("netsensor.ip.ttl", t.first("ipv6.hlim").map(dec));
            set(
                "netsensor.ip.total_length",
                t.first("ipv6.plen").map(|v| (number(v) + 40).to_string()),
            );
            set("netsensor.ip.dscp", t.first("ipv6.tclass.dscp").map(dec));
            set("netsensor.ip.ecn", t.first("ipv6.tclass.ecn").map(dec));
            set("netsensor.ip.flow_label", t.first("ipv6.flow").map(dec));
            set(
                "netsensor.ip.mf",
                Some(
                    t.first("ipv6.fraghdr.more")
                        .is_some_and(boolean)
                        .to_string(),
                ),
            );
            set(
                "netsensor.ip.fragment_offset",
                Some(
                    t.first("ipv6.fraghdr.offset")
                        .map_or(0, |v| number(v) * 8)
                        .to_string(),
                ),
            );
            common::ipv6_upper_protocol(|field, n| t.nth(field, n))
        }
        _ => return out,
    };
    set("network.iana_number", protocol.map(|p| p.to_string()));
    let ports = |out: &mut dyn FnMut(&'static str, Option<String>), s: &str, d: &str| {
        out("source.port", t.first(s).map(dec));
        out("destination.port", t.first(d).map(dec));
    };
    match protocol {
        Some(6) if t.first("tcp.srcport").is_some() => {
            ports(&mut set, "tcp.srcport", "tcp.dstport");
            set("netsensor.tcp.flags", t.first("tcp.flags").map(tcp_flags));
            set("netsensor.tcp.seq", t.first("tcp.seq_raw").map(dec));
            set("netsensor.tcp.ack", t.first("tcp.ack_raw").map(dec));
            set(
                "netsensor.tcp.window",
                t.first("tcp.window_size_value").map(dec),
            );
            set("netsensor.tcp.payload_length", t.first("tcp.len").map(dec));
            set("netsensor.tcp.mss", t.first("tcp.options.mss_val").map(dec));
            set(
                "netsensor.tcp.window_scale",
                t.first("tcp.options.wscale.shift").map(dec),
            );
        }
        Some(17) if t.first("udp.srcport").is_some() => {
            ports(&mut set, "udp.srcport", "udp.dstport");
            set("netsensor.udp.length", t.first("udp.length").map(dec));
        }
        Some(132) => ports(&mut set, "sctp.srcport", "sctp.dstport"),
        Some(1) => {
            set("netsensor.icmp.type", t.first("icmp.type").map(dec));
            set("netsensor.icmp.code", t.first("icmp.code").map(dec));
        }
        Some(58) => {
            set("netsensor.icmp.type", t.first("icmpv6.type").map(dec));
            set("netsensor.icmp.code", t.first("icmpv6.code").map(dec));
        }
        _ => {}
    }
    set(
        "dns.question.name",
        t.first("dns.qry.name").map(str::to_owned),
    );
    set("dns.question.type", t.first("dns.qry.type").map(dns_type));
    let response = t.first("dns.flags.response").is_some_and(boolean);
    set(
        "dns.response_code",
        t.first("dns.flags.rcode")
            .filter(|_| response)
            .map(dns_rcode),
    );
    set(
        "tls.client.server_name",
        t.first("tls.handshake.extensions_server_name")
            .map(str::to_owned),
    );
    set(
        "http.request.method",
        t.first("http.request.method").map(str::to_owned),
    );
    set("url.domain", t.first("http.host").map(strip_port));
    out
}

/// The compared fields of one record.
fn actual(record: &Value) -> Fields {
    COMPARED
        .iter()
        .map(|key| (*key, common::get(record, key).and_then(common::text)))
        .collect()
}

// ----- comparison --------------------------------------------------------------------------

/// One disagreement.
struct Mismatch {
    file: String,
    frame: u64,
    field: &'static str,
    ours: Option<String>,
    tshark: Option<String>,
}

fn show(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(absent)")
}

fn records_by_number(fixture: &Fixture) -> BTreeMap<u64, &Value> {
    let mut by_number = BTreeMap::new();
    for record in &fixture.replay.records {
        let number = common::get(record, "netsensor.packet.number")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{}: record without a packet number", fixture.name));
        assert!(
            by_number.insert(number, record).is_none(),
            "{}: two records for frame {number}",
            fixture.name
        );
    }
    by_number
}

fn ip_or_above(field: &str) -> bool {
    let at = |name: &str| COMPARED.iter().position(|f| *f == name);
    at(field) >= at("network.type")
}

/// Fails listing every mismatch not excepted and every exception that no longer occurs.
fn check(mismatches: &[Mismatch], exceptions: &[Exception], what: &str) {
    let mut used = HashSet::new();
    let mut report = String::new();
    let mut unlisted = 0;
    for m in mismatches {
        let frame = m.frame.to_string();
        let listed = exceptions.iter().position(|(file, f, field, _)| {
            *file == m.file
                && (*f == "*" || *f == frame)
                && (*field == m.field || (*field == IP_AND_ABOVE && ip_or_above(m.field)))
        });
        match listed {
            Some(at) => {
                used.insert(at);
            }
            None => {
                unlisted += 1;
                if unlisted <= 300 {
                    let _ = writeln!(
                        report,
                        "  {} frame {} {}: ours={} tshark={}",
                        m.file,
                        m.frame,
                        m.field,
                        show(&m.ours),
                        show(&m.tshark)
                    );
                }
            }
        }
    }
    let stale: Vec<_> = exceptions
        .iter()
        .enumerate()
        .filter(|(at, _)| !used.contains(at))
        .map(|(_, e)| e)
        .collect();
    for (file, frame, field, reason) in &stale {
        let _ = writeln!(
            report,
            "  stale exception (no longer occurs): {file} frame {frame} {field} ({reason})"
        );
    }
    assert!(
        unlisted == 0 && stale.is_empty(),
        "{what}: {unlisted} unlisted mismatch(es), {} stale exception(s):\n{report}",
        stale.len()
    );
}

#[test]
fn records_agree_with_tshark() {
    common::require_tshark();
    let mut mismatches = Vec::new();
    let mut frames = 0;
    for fixture in fixtures() {
        let tshark = fixture.tshark.as_ref().expect("tshark output");
        let ours = records_by_number(fixture);
        let numbers: BTreeSet<u64> = tshark.keys().chain(ours.keys()).copied().collect();
        for number in numbers {
            frames += 1;
            let (Some(t), Some(record)) = (tshark.get(&number), ours.get(&number)) else {
                mismatches.push(Mismatch {
                    file: fixture.name.clone(),
                    frame: number,
                    field: "netsensor.packet.number",
                    ours: ours.contains_key(&number).then(|| number.to_string()),
                    tshark: tshark.contains_key(&number).then(|| number.to_string()),
                });
                continue;
            };
            let want = expected(t);
            let have = actual(record);
            for field in COMPARED {
                if want[field] != have[field] {
                    mismatches.push(Mismatch {
                        file: fixture.name.clone(),
                        frame: number,
                        field,
                        ours: have[field].clone(),
                        tshark: want[field].clone(),
                    });
                }
            }
        }
    }
    assert!(frames > 5000, "only {frames} frames compared");
    check(&mismatches, EXCEPTIONS, "records vs tshark");
}

#[test]
fn community_id_agrees_with_tshark() {
    common::require_tshark();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for fixture in fixtures() {
        let tshark = fixture.tshark.as_ref().expect("tshark output");
        for (number, record) in records_by_number(fixture) {
            let transport = common::get(record, "network.transport").and_then(Value::as_str);
            if !matches!(transport, Some("tcp" | "udp" | "icmp" | "ipv6-icmp")) {
                continue;
            }
            compared += 1;
            let ours = common::get(record, "network.community_id").and_then(common::text);
            let theirs = tshark
                .get(&number)
                .and_then(|t| t.first("communityid"))
                .map(str::to_owned);
            if ours != theirs {
                mismatches.push(Mismatch {
                    file: fixture.name.clone(),
                    frame: number,
                    field: "network.community_id",
                    ours,
                    tshark: theirs,
                });
            }
        }
    }
    assert!(compared > 5000, "only {compared} records compared");
    check(&mismatches, CID_EXCEPTIONS, "Community ID vs tshark");
}

#[test]
fn record_keys_are_in_the_field_table() {
    let known: HashSet<&str> = fields_for(RecordKind::Packet).map(|f| f.name).collect();
    let mut unknown = BTreeSet::new();
    let mut records = 0;
    for fixture in fixtures() {
        for record in &fixture.replay.records {
            records += 1;
            for key in common::leaf_paths(record, &known) {
                if !known.contains(key.as_str()) {
                    unknown.insert(format!("{key} (first in {})", fixture.name));
                }
            }
        }
    }
    assert!(records > 5000);
    // One line per unknown key is enough to find it.
    let mut seen = HashSet::new();
    let unknown: Vec<_> = unknown
        .into_iter()
        .filter(|line| seen.insert(line.split(' ').next().unwrap_or("").to_owned()))
        .collect();
    assert!(
        unknown.is_empty(),
        "keys missing from the field table: {unknown:#?}"
    );
}

#[test]
fn event_ids_are_deterministic_and_distinct() {
    for fixture in fixtures() {
        let ids: Vec<&str> = fixture
            .replay
            .records
            .iter()
            .map(|r| {
                common::get(r, "event.id")
                    .and_then(Value::as_str)
                    .expect("event.id")
            })
            .collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "{}: repeated event.id",
            fixture.name
        );
        let again = common::replay_outer(&fixture.path);
        let ids_again: Vec<&str> = again
            .records
            .iter()
            .map(|r| {
                common::get(r, "event.id")
                    .and_then(Value::as_str)
                    .expect("event.id")
            })
            .collect();
        assert_eq!(
            ids, ids_again,
            "{}: event.id differs between runs",
            fixture.name
        );
    }
}

/// Every fixture, the malformed ones included, gives one record per frame, exit code 0 and
/// no panic.
#[test]
fn every_frame_gives_one_record_without_failing() {
    let manifest: HashMap<String, usize> = common::manifest_packets().into_iter().collect();
    for malformed in [
        "malformed-ipv4-bad-ihl.pcap",
        "malformed-ipv6-short-header.pcap",
        "malformed-tcp-bad-offset.pcap",
        "malformed-too-small-headers.pcap",
        "garbage-0x30-udp.pcap",
        "trunc-ipv4-header-cut.pcap",
        "snaplen68-tcp-truncated.pcap",
    ] {
        assert!(
            fixtures().iter().any(|f| f.name == malformed),
            "fixture {malformed} missing"
        );
    }
    for fixture in fixtures() {
        let replay = &fixture.replay;
        assert!(
            !replay.stderr.contains("panicked"),
            "{}: panic: {}",
            fixture.name,
            replay.stderr
        );
        assert_eq!(replay.code, Some(0), "{}: {}", fixture.name, replay.stderr);
        let frames = manifest
            .get(&fixture.name)
            .unwrap_or_else(|| panic!("{} not in MANIFEST.tsv", fixture.name));
        assert_eq!(replay.records.len(), *frames, "{}", fixture.name);
        let numbers: Vec<u64> = records_by_number(fixture).into_keys().collect();
        assert_eq!(
            numbers,
            (1..=*frames as u64).collect::<Vec<_>>(),
            "{}",
            fixture.name
        );
    }
}

/// Byte offsets of the records of a classic pcap file.
fn pcap_record_offsets(bytes: &[u8]) -> Vec<usize> {
    let little = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file"),
    };
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let len: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let len = if little {
            u32::from_le_bytes(len)
        } else {
            u32::from_be_bytes(len)
        };
        at += 16 + len as usize;
    }
    offsets
}

/// A capture cut inside a record: the records before the cut are emitted, then the run
/// fails with exit code 2 and names the file and the byte offset of the damaged record.
#[test]
fn truncated_file_fails_after_emitting_earlier_records() {
    let original = std::fs::read(common::fixtures_dir().join("tcp-rst-injection.pcap")).unwrap();
    let offsets = pcap_record_offsets(&original);
    assert!(offsets.len() > 4);
    let dir = tempfile::tempdir().unwrap();
    let cut_record = 3; // 0-based: records 1..=3 are complete
    let start = offsets[cut_record];
    // Cut inside the record header, and inside the record's data.
    for (label, cut) in [("header", start + 7), ("data", start + 16 + 10)] {
        let path = dir.path().join(format!("cut-in-{label}.pcap"));
        std::fs::write(&path, &original[..cut]).unwrap();
        let replay = common::replay(&path);
        assert_eq!(replay.code, Some(2), "cut in {label}: {}", replay.stderr);
        assert!(!replay.stderr.contains("panicked"), "{}", replay.stderr);
        assert!(
            replay.stderr.contains(&common::file_name(&path)),
            "cut in {label}: stderr does not name the file: {}",
            replay.stderr
        );
        assert!(
            replay.stderr.contains(&format!("offset {start}")),
            "cut in {label}: stderr does not name byte offset {start}: {}",
            replay.stderr
        );
        let numbers: Vec<u64> = replay
            .records
            .iter()
            .filter_map(|r| common::get(r, "netsensor.packet.number").and_then(Value::as_u64))
            .collect();
        assert_eq!(numbers, vec![1, 2, 3], "cut in {label}");
    }
}
