//! Property tests of the decoder and the packet record.
//!
//! Two kinds of input:
//! - arbitrary bytes under every link type (plain, and behind a plausible link/IP header so
//!   the deeper layers see garbage too): decoding and serializing never panic, and the record
//!   is one line of JSON whose keys all come from the field table;
//! - frames built by etherparse's `PacketBuilder` from random header values: every value
//!   decodes back exactly, and the same frame cut at any length still decodes every layer
//!   whose header lies wholly before the cut (lax decoding).

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use etherparse::{
    IpDscp, IpEcn, IpFragOffset, IpHeaders, IpNumber, Ipv4Header, Ipv4Options, Ipv6FlowLabel,
    Ipv6Header, PacketBuilder, PacketBuilderStep, TcpOptionElement, VlanId,
};
use netsensor::capture::{FrameMeta, LinkType, SourceInfo};
use netsensor::decode::{decode, decode_wire, tcp_flags, Decoded, Network, Transport};
use netsensor::enrich::Enricher;
use netsensor::records::PacketBuilder as RecordBuilder;
use netsensor_schema::{fields_for, RecordKind};
use proptest::prelude::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// 256 cases per property (a few seconds in debug builds); `PROPTEST_CASES` overrides it
/// for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

fn link_type() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::Ethernet),
        Just(LinkType::LinuxSll),
        Just(LinkType::LinuxSll2),
        Just(LinkType::Raw),
        Just(LinkType::Ipv4),
        Just(LinkType::Ipv6),
        Just(LinkType::Null),
        Just(LinkType::Loop),
        any::<u32>().prop_map(LinkType::Other),
    ]
}

/// Random bytes, or random bytes behind a header that steers the decoder into a given layer
/// (an Ethernet header with a chosen EtherType, an IP version nibble, a loopback family, an
/// IPv4/IPv6 header with a chosen protocol), so garbage reaches VLAN, IP, extension headers,
/// transport and the app-layer parsers.
fn frame_for(link: LinkType) -> BoxedStrategy<Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..200);
    let ip_proto = prop::sample::select(vec![0u8, 1, 6, 17, 43, 44, 47, 50, 51, 58, 59, 60, 132]);
    let ipv4 = (raw.clone(), ip_proto.clone(), 5u8..=15, any::<u16>()).prop_map(
        |(rest, proto, ihl, total)| {
            let mut v = vec![
                0x40 | ihl,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                0,
                0,
                0,
                64,
            ];
            v.push(proto);
            v.extend_from_slice(&[0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            v.extend(rest);
            v
        },
    );
    let ipv6 = (raw.clone(), ip_proto, any::<u16>()).prop_map(|(rest, proto, plen)| {
        let mut v = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, proto, 64];
        v.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        v.extend_from_slice(&[0; 12]);
        v.extend_from_slice(&[0xfe, 0x80]);
        v.extend_from_slice(&[0; 13]);
        v.push(1);
        v.extend(rest);
        v
    });
    let ip = prop_oneof![ipv4, ipv6].boxed();
    let ethertype = prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806]);
    match link {
        LinkType::Ethernet => prop_oneof![
            raw.clone(),
            (ethertype, raw.clone()).prop_map(|(et, rest)| {
                let mut v = vec![0u8; 12];
                v.extend_from_slice(&et.to_be_bytes());
                v.extend(rest);
                v
            }),
            ip.clone().prop_map(|ip| {
                let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
                if ip.first().is_some_and(|b| b >> 4 == 6) {
                    v[12..14].copy_from_slice(&[0x86, 0xdd]);
                }
                v.extend(ip);
                v
            }),
        ]
        .boxed(),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => prop_oneof![raw, ip].boxed(),
        LinkType::Null | LinkType::Loop => {
            let family = prop::sample::select(vec![2u32, 10, 24, 28, 30, 7]);
            prop_oneof![
                raw,
                (family, ip, any::<bool>()).prop_map(move |(family, ip, le)| {
                    let mut v = if le && link == LinkType::Null {
                        family.to_le_bytes().to_vec()
                    } else {
                        family.to_be_bytes().to_vec()
                    };
                    v.extend(ip);
                    v
                }),
            ]
            .boxed()
        }
        LinkType::LinuxSll => (0u16..6, any::<u16>(), ethertype, raw.clone())
            .prop_map(|(ptype, alen, et, rest)| {
                let mut v = ptype.to_be_bytes().to_vec();
                v.extend_from_slice(&[0, 1]);
                v.extend_from_slice(&(alen % 9).to_be_bytes());
                v.extend_from_slice(&[0; 8]);
                v.extend_from_slice(&et.to_be_bytes());
                v.extend(rest);
                v
            })
            .boxed(),
        LinkType::LinuxSll2 => prop_oneof![
            raw.clone(),
            (ethertype, 0u8..6, any::<u8>(), raw).prop_map(|(et, ptype, alen, rest)| {
                let mut v = et.to_be_bytes().to_vec();
                v.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, ptype, alen % 9]);
                v.extend_from_slice(&[0; 8]);
                v.extend(rest);
                v
            }),
        ]
        .boxed(),
        LinkType::Other(_) => raw.boxed(),
    }
}

fn any_frame() -> impl Strategy<Value = (LinkType, Vec<u8>)> {
    link_type().prop_flat_map(|link| (Just(link), frame_for(link)))
}

fn builder() -> RecordBuilder {
    RecordBuilder::new(Arc::new(Enricher::default()), "prop-sensor", "prop-host")
}

fn source() -> SourceInfo {
    SourceInfo {
        interface: "prop.pcap".to_owned(),
        id_seed: 7,
        local_macs: vec![[2, 0, 0, 0, 0, 1]],
        fixed_direction: None,
    }
}

fn meta(link: LinkType, cap_len: usize, extra_wire: u32) -> FrameMeta {
    let cap_len = u32::try_from(cap_len).unwrap();
    FrameMeta {
        timestamp_ns: 1_700_000_000_123_456_789,
        wire_len: cap_len + extra_wire,
        cap_len,
        link,
        number: 42,
    }
}

/// The packet record of `frame`, checked to be exactly one line of JSON whose keys are all
/// packet fields of the field table, and parsed.
fn record_of(link: LinkType, frame: &[u8], extra_wire: u32) -> Value {
    let mut out = Vec::new();
    builder()
        .write_ndjson(
            &source(),
            &meta(link, frame.len(), extra_wire),
            frame,
            &mut out,
        )
        .expect("serializing a record never fails");
    assert_eq!(out.last(), Some(&b'\n'), "record ends with a newline");
    assert_eq!(
        out.iter().filter(|&&b| b == b'\n').count(),
        1,
        "exactly one line"
    );
    let value: Value = serde_json::from_slice(&out).expect("record is JSON");
    assert!(value.is_object());
    let allowed: HashSet<&str> = fields_for(RecordKind::Packet).map(|f| f.name).collect();
    for key in common::leaf_paths(&value, &allowed) {
        assert!(
            allowed.contains(key.as_str()),
            "key `{key}` is not a packet field"
        );
    }
    assert_eq!(
        value["netsensor"]["packet"]["captured_length"].as_u64(),
        Some(frame.len() as u64)
    );
    value
}

/// The transport payload lies inside the frame (it borrows it).
fn assert_payload_inside(decoded: &Decoded<'_>, frame: &[u8]) {
    let range = frame.as_ptr_range();
    let payload = decoded.payload.as_ptr_range();
    if !decoded.payload.is_empty() {
        assert!(
            range.start <= payload.start && payload.end <= range.end,
            "payload slice outside the frame"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_and_serialize_to_schema_fields(
        (link, frame) in any_frame(),
        extra_wire in prop_oneof![Just(0u32), 0u32..2000],
    ) {
        let decoded = decode(link, &frame);
        assert_payload_inside(&decoded, &frame);
        if let LinkType::Other(_) = link {
            prop_assert!(decoded.error.is_some());
        }
        let record = record_of(link, &frame, extra_wire);
        prop_assert_eq!(
            record["netsensor"]["packet"]["truncated"].as_bool(),
            Some(extra_wire > 0)
        );
        prop_assert_eq!(
            record["network"]["bytes"].as_u64(),
            Some(frame.len() as u64 + u64::from(extra_wire))
        );
    }
}

// ---------------------------------------------------------------------------------------
// Structured frames
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Ip {
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        ttl: u8,
        id: u16,
        dscp: u8,
        ecn: u8,
        df: bool,
        options: Vec<u8>,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        hop_limit: u8,
        traffic_class: u8,
        flow_label: u32,
    },
}

#[derive(Debug, Clone)]
enum L4 {
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        ack: Option<u32>,
        window: u16,
        /// SYN, FIN, RST, PSH, ECE, CWR.
        flags: [bool; 6],
        mss: Option<u16>,
        window_scale: Option<u8>,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    },
}

#[derive(Debug, Clone)]
struct Spec {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlans: Vec<u16>,
    ip: Ip,
    l4: L4,
    payload: Vec<u8>,
}

fn ip_strategy() -> impl Strategy<Value = Ip> {
    let v4 = (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<u16>(),
        0u8..64,
        0u8..4,
        any::<bool>(),
        // IPv4 options: 0..=40 bytes in steps of 4.
        (0usize..=10).prop_flat_map(|words| prop::collection::vec(any::<u8>(), words * 4)),
    )
        .prop_map(|(src, dst, ttl, id, dscp, ecn, df, options)| Ip::V4 {
            src,
            dst,
            ttl,
            id,
            dscp,
            ecn,
            df,
            options,
        });
    let v6 = (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        any::<u8>(),
        0u32..(1 << 20),
    )
        .prop_map(|(src, dst, hop_limit, traffic_class, flow_label)| Ip::V6 {
            src,
            dst,
            hop_limit,
            traffic_class,
            flow_label,
        });
    prop_oneof![v4, v6]
}

fn l4_strategy() -> impl Strategy<Value = L4> {
    let tcp = (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        any::<u16>(),
        any::<[bool; 6]>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..=14),
    )
        .prop_map(
            |(src, dst, seq, ack, window, flags, mss, window_scale)| L4::Tcp {
                src,
                dst,
                seq,
                ack,
                window,
                flags,
                mss,
                window_scale,
            },
        );
    let udp = (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| L4::Udp { src, dst });
    let icmp =
        (any::<u8>(), any::<u8>(), any::<[u8; 4]>()).prop_map(|(icmp_type, code, rest)| L4::Icmp {
            icmp_type,
            code,
            rest,
        });
    prop_oneof![tcp, udp, icmp]
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        prop::collection::vec(0u16..4096, 0..=2),
        ip_strategy(),
        l4_strategy(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(src_mac, dst_mac, vlans, ip, l4, payload)| Spec {
            src_mac,
            dst_mac,
            vlans,
            ip,
            l4,
            payload,
        })
}

fn ip_headers(ip: &Ip) -> IpHeaders {
    match ip {
        Ip::V4 {
            src,
            dst,
            ttl,
            id,
            dscp,
            ecn,
            df,
            options,
        } => IpHeaders::Ipv4(
            Ipv4Header {
                dscp: IpDscp::try_new(*dscp).unwrap(),
                ecn: IpEcn::try_new(*ecn).unwrap(),
                identification: *id,
                dont_fragment: *df,
                more_fragments: false,
                fragment_offset: IpFragOffset::ZERO,
                time_to_live: *ttl,
                protocol: IpNumber::UDP, // replaced by the builder
                source: *src,
                destination: *dst,
                options: Ipv4Options::try_from(options.as_slice()).unwrap(),
                ..Default::default()
            },
            Default::default(),
        ),
        Ip::V6 {
            src,
            dst,
            hop_limit,
            traffic_class,
            flow_label,
        } => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: *traffic_class,
                flow_label: Ipv6FlowLabel::try_new(*flow_label).unwrap(),
                hop_limit: *hop_limit,
                source: *src,
                destination: *dst,
                ..Default::default()
            },
            Default::default(),
        ),
    }
}

/// Header lengths of the built frame: link (Ethernet + tags), IP, transport.
struct Layout {
    link: usize,
    ip: usize,
    l4: usize,
}

fn tcp_option_len(mss: Option<u16>, window_scale: Option<u8>) -> usize {
    let raw: usize = mss.map_or(0, |_| 4) + window_scale.map_or(0, |_| 3);
    raw.div_ceil(4) * 4
}

fn build(spec: &Spec) -> (Vec<u8>, Layout) {
    let eth = PacketBuilder::ethernet2(spec.src_mac, spec.dst_mac);
    let ip = ip_headers(&spec.ip);
    let step: PacketBuilderStep<IpHeaders> = match spec.vlans.as_slice() {
        [] => eth.ip(ip),
        [one] => eth.single_vlan(VlanId::try_new(*one).unwrap()).ip(ip),
        [outer, inner, ..] => eth
            .double_vlan(
                VlanId::try_new(*outer).unwrap(),
                VlanId::try_new(*inner).unwrap(),
            )
            .ip(ip),
    };
    let mut frame = Vec::new();
    let l4_len = match &spec.l4 {
        L4::Tcp {
            src,
            dst,
            seq,
            ack,
            window,
            flags,
            mss,
            window_scale,
        } => {
            let mut tcp = step.tcp(*src, *dst, *seq, *window);
            let setters: [fn(PacketBuilderStep<_>) -> PacketBuilderStep<_>; 6] = [
                |t| t.syn(),
                |t| t.fin(),
                |t| t.rst(),
                |t| t.psh(),
                |t| t.ece(),
                |t| t.cwr(),
            ];
            for (set, on) in setters.iter().zip(flags) {
                if *on {
                    tcp = set(tcp);
                }
            }
            if let Some(ack) = ack {
                tcp = tcp.ack(*ack);
            }
            let mut options = Vec::new();
            if let Some(mss) = mss {
                options.push(TcpOptionElement::MaximumSegmentSize(*mss));
            }
            if let Some(shift) = window_scale {
                options.push(TcpOptionElement::WindowScale(*shift));
            }
            if !options.is_empty() {
                tcp = tcp.options(&options).unwrap();
            }
            tcp.write(&mut frame, &spec.payload).unwrap();
            20 + tcp_option_len(*mss, *window_scale)
        }
        L4::Udp { src, dst } => {
            step.udp(*src, *dst)
                .write(&mut frame, &spec.payload)
                .unwrap();
            8
        }
        L4::Icmp {
            icmp_type,
            code,
            rest,
        } => {
            match spec.ip {
                Ip::V4 { .. } => step
                    .icmpv4_raw(*icmp_type, *code, *rest)
                    .write(&mut frame, &spec.payload)
                    .unwrap(),
                Ip::V6 { .. } => step
                    .icmpv6_raw(*icmp_type, *code, *rest)
                    .write(&mut frame, &spec.payload)
                    .unwrap(),
            }
            8
        }
    };
    let layout = Layout {
        link: 14 + 4 * spec.vlans.len(),
        ip: match &spec.ip {
            Ip::V4 { options, .. } => 20 + options.len(),
            Ip::V6 { .. } => 40,
        },
        l4: l4_len,
    };
    assert_eq!(
        frame.len(),
        layout.link + layout.ip + layout.l4 + spec.payload.len(),
        "layout matches the built frame"
    );
    (frame, layout)
}

fn protocol(spec: &Spec) -> u8 {
    match (&spec.l4, &spec.ip) {
        (L4::Tcp { .. }, _) => 6,
        (L4::Udp { .. }, _) => 17,
        (L4::Icmp { .. }, Ip::V4 { .. }) => 1,
        (L4::Icmp { .. }, Ip::V6 { .. }) => 58,
    }
}

fn expected_flags(l4: &L4) -> u8 {
    let L4::Tcp { flags, ack, .. } = l4 else {
        return 0;
    };
    let bits = [
        tcp_flags::SYN,
        tcp_flags::FIN,
        tcp_flags::RST,
        tcp_flags::PSH,
        tcp_flags::ECE,
        tcp_flags::CWR,
    ];
    let mut out = bits
        .iter()
        .zip(flags)
        .filter(|(_, on)| **on)
        .fold(0, |acc, (bit, _)| acc | bit);
    if ack.is_some() {
        out |= tcp_flags::ACK;
    }
    out
}

/// Checks the link, VLAN and IP facts of `decoded` against `spec`.
fn check_ip(decoded: &Decoded<'_>, spec: &Spec, l4_len: usize) {
    let ip = decoded.ip().expect("IP layer decoded");
    assert_eq!(ip.protocol, protocol(spec));
    assert!(!ip.mf);
    assert_eq!(ip.fragment_offset, 0);
    let ip_payload = u32::try_from(l4_len + spec.payload.len()).unwrap();
    assert_eq!(ip.payload_length, ip_payload);
    match &spec.ip {
        Ip::V4 {
            src,
            dst,
            ttl,
            id,
            dscp,
            ecn,
            df,
            options,
        } => {
            assert_eq!(ip.src, IpAddr::V4(Ipv4Addr::from(*src)));
            assert_eq!(ip.dst, IpAddr::V4(Ipv4Addr::from(*dst)));
            assert_eq!(ip.ttl, *ttl);
            assert_eq!(ip.id, Some(*id));
            assert_eq!(ip.dscp, *dscp);
            assert_eq!(ip.ecn, *ecn);
            assert_eq!(ip.df, Some(*df));
            let header_len = 20 + options.len() as u16;
            assert_eq!(ip.header_length, Some(header_len));
            assert_eq!(ip.total_length, u32::from(header_len) + ip_payload);
            assert_eq!(ip.flow_label, None);
        }
        Ip::V6 {
            src,
            dst,
            hop_limit,
            traffic_class,
            flow_label,
        } => {
            assert_eq!(ip.src, IpAddr::V6(Ipv6Addr::from(*src)));
            assert_eq!(ip.dst, IpAddr::V6(Ipv6Addr::from(*dst)));
            assert_eq!(ip.ttl, *hop_limit);
            assert_eq!(ip.id, None);
            assert_eq!(ip.dscp, traffic_class >> 2);
            assert_eq!(ip.ecn, traffic_class & 3);
            assert_eq!(ip.df, None);
            assert_eq!(ip.header_length, None);
            assert_eq!(ip.total_length, 40 + ip_payload);
            assert_eq!(ip.flow_label, Some(*flow_label));
        }
    }
}

fn check_ports(decoded: &Decoded<'_>, l4: &L4) {
    match (l4, decoded.transport) {
        (
            L4::Tcp { src, dst, .. },
            Transport::Tcp {
                src_port, dst_port, ..
            },
        )
        | (
            L4::Udp { src, dst },
            Transport::Udp {
                src_port, dst_port, ..
            },
        ) => {
            assert_eq!((src_port, dst_port), (*src, *dst));
        }
        (
            L4::Icmp {
                icmp_type, code, ..
            },
            Transport::Icmp {
                icmp_type: t,
                code: c,
                ..
            },
        ) => {
            assert_eq!((t, c), (*icmp_type, *code));
        }
        (l4, transport) => panic!("built {l4:?}, decoded {transport:?}"),
    }
}

fn check_full(decoded: &Decoded<'_>, spec: &Spec, layout: &Layout) {
    assert_eq!(decoded.error, None);
    assert_eq!(decoded.link.src_mac, Some(spec.src_mac));
    assert_eq!(decoded.link.dst_mac, Some(spec.dst_mac));
    assert_eq!(decoded.vlans.as_slice(), spec.vlans.as_slice());
    check_ip(decoded, spec, layout.l4);
    check_ports(decoded, &spec.l4);
    assert_eq!(decoded.payload, spec.payload.as_slice());
    match (&spec.l4, decoded.transport) {
        (
            L4::Tcp {
                seq,
                ack,
                window,
                mss,
                window_scale,
                ..
            },
            Transport::Tcp { info, .. },
        ) => {
            let info = info.expect("whole TCP header decoded");
            assert_eq!(info.flags, expected_flags(&spec.l4));
            assert_eq!(info.seq, *seq);
            assert_eq!(info.ack, ack.unwrap_or(0));
            assert_eq!(info.window, *window);
            assert_eq!(info.options.mss, *mss);
            assert_eq!(info.options.window_scale, *window_scale);
            assert!(!info.options.malformed);
            assert_eq!(info.payload_length, spec.payload.len() as u32);
        }
        (L4::Udp { .. }, Transport::Udp { length, .. }) => {
            assert_eq!(length.map(usize::from), Some(8 + spec.payload.len()));
        }
        (L4::Icmp { .. }, Transport::Icmp { v6, .. }) => {
            assert_eq!(v6, matches!(spec.ip, Ip::V6 { .. }));
        }
        (l4, transport) => panic!("built {l4:?}, decoded {transport:?}"),
    }
}

/// The record of a well-formed frame carries the same values as the decoder.
fn check_record(record: &Value, spec: &Spec) {
    let (src_ip, dst_ip, ttl) = match &spec.ip {
        Ip::V4 { src, dst, ttl, .. } => (
            Ipv4Addr::from(*src).to_string(),
            Ipv4Addr::from(*dst).to_string(),
            *ttl,
        ),
        Ip::V6 {
            src,
            dst,
            hop_limit,
            ..
        } => (
            Ipv6Addr::from(*src).to_string(),
            Ipv6Addr::from(*dst).to_string(),
            *hop_limit,
        ),
    };
    assert_eq!(record["source"]["ip"].as_str(), Some(src_ip.as_str()));
    assert_eq!(record["destination"]["ip"].as_str(), Some(dst_ip.as_str()));
    assert_eq!(
        record["netsensor"]["ip"]["ttl"].as_u64(),
        Some(u64::from(ttl))
    );
    assert_eq!(
        record["network"]["iana_number"].as_str(),
        Some(protocol(spec).to_string().as_str())
    );
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join("-")
    };
    assert_eq!(
        record["source"]["mac"].as_str(),
        Some(mac(spec.src_mac).as_str())
    );
    match spec.vlans.first() {
        Some(outer) => assert_eq!(
            record["network"]["vlan"]["id"].as_str(),
            Some(outer.to_string().as_str())
        ),
        None => assert!(record["network"].get("vlan").is_none()),
    }
    match &spec.l4 {
        L4::Tcp { src, dst, seq, .. } => {
            assert_eq!(record["source"]["port"].as_u64(), Some(u64::from(*src)));
            assert_eq!(
                record["destination"]["port"].as_u64(),
                Some(u64::from(*dst))
            );
            assert_eq!(
                record["netsensor"]["tcp"]["seq"].as_u64(),
                Some(u64::from(*seq))
            );
            let flags: Vec<&str> = record["netsensor"]["tcp"]["flags"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let want: Vec<&str> = tcp_flags::NAMES
                .iter()
                .filter(|(bit, _)| expected_flags(&spec.l4) & bit != 0)
                .map(|(_, name)| *name)
                .collect();
            assert_eq!(flags, want);
        }
        L4::Udp { src, dst } => {
            assert_eq!(record["source"]["port"].as_u64(), Some(u64::from(*src)));
            assert_eq!(
                record["destination"]["port"].as_u64(),
                Some(u64::from(*dst))
            );
            assert_eq!(
                record["netsensor"]["udp"]["length"].as_u64(),
                Some(8 + spec.payload.len() as u64)
            );
        }
        L4::Icmp {
            icmp_type, code, ..
        } => {
            assert_eq!(
                record["netsensor"]["icmp"]["type"].as_u64(),
                Some(u64::from(*icmp_type))
            );
            assert_eq!(
                record["netsensor"]["icmp"]["code"].as_u64(),
                Some(u64::from(*code))
            );
        }
    }
}

/// Lax decoding of `frame[..cut]`: every layer whose header ends at or before the cut is
/// decoded with the built values.
fn check_truncated(decoded: &Decoded<'_>, spec: &Spec, layout: &Layout, cut: usize) {
    if cut < 14 {
        assert_eq!(decoded.link.src_mac, None);
        assert!(decoded.error.is_some(), "a cut Ethernet header is an error");
        return;
    }
    assert_eq!(decoded.link.src_mac, Some(spec.src_mac));
    assert_eq!(decoded.link.dst_mac, Some(spec.dst_mac));
    let tags_inside = (cut - 14) / 4;
    let want_vlans = &spec.vlans[..spec.vlans.len().min(tags_inside)];
    assert_eq!(
        decoded.vlans.as_slice(),
        want_vlans,
        "VLAN tags before the cut"
    );
    let ip_end = layout.link + layout.ip;
    if cut < ip_end {
        assert_eq!(
            decoded.network,
            Network::None,
            "no IP layer from a cut header"
        );
        assert!(decoded.error.is_some(), "a cut header is an error");
        return;
    }
    check_ip(decoded, spec, layout.l4);
    let l4_end = ip_end + layout.l4;
    let ports_end = ip_end + 4;
    match (&spec.l4, decoded.transport) {
        (L4::Icmp { .. }, _) if cut >= ports_end => check_ports(decoded, &spec.l4),
        (L4::Tcp { .. } | L4::Udp { .. }, _) if cut >= ports_end => check_ports(decoded, &spec.l4),
        (_, transport) => assert_eq!(transport, Transport::None),
    }
    if let (L4::Udp { .. }, Transport::Udp { length, .. }) = (&spec.l4, decoded.transport) {
        let whole = (cut >= l4_end).then_some(8 + spec.payload.len() as u16);
        assert_eq!(length, whole, "UDP length only from a whole header");
    }
    if let (L4::Tcp { seq, .. }, Transport::Tcp { info, .. }) = (&spec.l4, decoded.transport) {
        if cut >= ip_end + 20 {
            // The fixed 20 bytes are kept even when the options are cut.
            let info = info.expect("fixed TCP header inside the cut");
            assert_eq!(info.seq, *seq);
            assert_eq!(info.flags, expected_flags(&spec.l4));
            assert_eq!(
                info.options.malformed,
                cut < l4_end,
                "cut options are marked"
            );
        } else {
            assert!(
                info.is_none(),
                "a TCP header cut inside its fixed part yields ports only"
            );
        }
    }
    if cut >= l4_end {
        let kept = cut - l4_end;
        assert_eq!(
            decoded.payload,
            &spec.payload[..kept],
            "payload is the captured part"
        );
    } else {
        assert!(decoded.payload.is_empty());
        assert!(
            decoded.error.is_some(),
            "a cut transport header is an error"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn built_frames_round_trip(spec in spec_strategy()) {
        let (frame, layout) = build(&spec);
        let decoded = decode(LinkType::Ethernet, &frame);
        check_full(&decoded, &spec, &layout);
        let wire_len = u32::try_from(frame.len()).unwrap();
        prop_assert_eq!(&decode_wire(LinkType::Ethernet, &frame, wire_len), &decoded);
        let record = record_of(LinkType::Ethernet, &frame, 0);
        check_record(&record, &spec);
    }

    #[test]
    fn truncated_frames_keep_complete_layers(
        spec in spec_strategy(),
        cut_ratio in 0.0f64..=1.0,
        extra in 0u32..100,
    ) {
        let (frame, layout) = build(&spec);
        let cut = ((frame.len() as f64) * cut_ratio) as usize;
        let cut = cut.min(frame.len());
        let truncated = &frame[..cut];
        let decoded = decode(LinkType::Ethernet, truncated);
        assert_payload_inside(&decoded, truncated);
        check_truncated(&decoded, &spec, &layout, cut);
        // Cut before capture (the wire held only `cut` bytes): the TCP payload length counts
        // only the bytes that were on the wire.
        let on_wire = decode_wire(LinkType::Ethernet, truncated, cut as u32);
        check_truncated(&on_wire, &spec, &layout, cut);
        if let Transport::Tcp { info: Some(info), .. } = on_wire.transport {
            let tcp_end = layout.link + layout.ip + layout.l4;
            // A header cut inside its options leaves no payload on the wire.
            prop_assert_eq!(info.payload_length as usize, cut.saturating_sub(tcp_end));
        }
        let wire_extra = u32::try_from(frame.len() - cut).unwrap() + extra;
        let record = record_of(LinkType::Ethernet, truncated, wire_extra);
        prop_assert_eq!(record["netsensor"]["packet"]["truncated"].as_bool(), Some(wire_extra > 0));
    }
}

/// Each cut point of one frame of every shape, exhaustively (cheap, and catches off-by-one
/// errors that random cut points may miss).
#[test]
fn every_cut_of_sample_frames() {
    let samples = [
        Spec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            vlans: vec![100, 200],
            ip: Ip::V4 {
                src: [192, 0, 2, 1],
                dst: [198, 51, 100, 7],
                ttl: 63,
                id: 0x1234,
                dscp: 46,
                ecn: 1,
                df: true,
                options: vec![1, 1, 1, 0],
            },
            l4: L4::Tcp {
                src: 51000,
                dst: 443,
                seq: 1,
                ack: Some(2),
                window: 65535,
                flags: [true, false, false, true, false, false],
                mss: Some(1460),
                window_scale: Some(7),
            },
            payload: b"hello".to_vec(),
        },
        Spec {
            src_mac: [2, 0, 0, 0, 0, 3],
            dst_mac: [2, 0, 0, 0, 0, 4],
            vlans: vec![7],
            ip: Ip::V6 {
                src: [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                dst: [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                hop_limit: 255,
                traffic_class: 0xb9,
                flow_label: 0xabcde,
            },
            l4: L4::Udp { src: 5353, dst: 53 },
            payload: vec![0; 20],
        },
        Spec {
            src_mac: [2, 0, 0, 0, 0, 5],
            dst_mac: [2, 0, 0, 0, 0, 6],
            vlans: vec![],
            ip: Ip::V4 {
                src: [10, 0, 0, 1],
                dst: [10, 0, 0, 2],
                ttl: 1,
                id: 0,
                dscp: 0,
                ecn: 0,
                df: false,
                options: vec![],
            },
            l4: L4::Icmp {
                icmp_type: 8,
                code: 0,
                rest: [0, 1, 0, 2],
            },
            payload: vec![0xaa; 8],
        },
    ];
    for spec in &samples {
        let (frame, layout) = build(spec);
        check_full(&decode(LinkType::Ethernet, &frame), spec, &layout);
        for cut in 0..=frame.len() {
            let decoded = decode(LinkType::Ethernet, &frame[..cut]);
            check_truncated(&decoded, spec, &layout, cut);
        }
    }
}

/// Regression: an IPv6 extension chain that etherparse's lax slicer stops inside (here a
/// Destination Options header whose next header is Hop-by-Hop, which may only come first)
/// must not be walked past the end of the sliced extensions. etherparse 0.21's
/// `Ipv6ExtensionSliceIter` trusts the last header's next-header value and reads out of
/// bounds (undefined behaviour; a debug build aborts).
#[test]
fn ipv6_extension_chain_stopped_by_lax_slicer() {
    for (next_in_ext, tail) in [
        (0u8, &[][..]),               // Hop-by-Hop not at the start
        (43, &[6u8, 0xff, 0, 0][..]), // Routing header cut short
        (44, &[6u8, 0, 0][..]),       // Fragment header cut short
        (60, &[17u8][..]),            // second Destination Options cut short
    ] {
        let mut packet = vec![0x60, 0, 0, 0];
        let payload_len = 8 + tail.len();
        packet.extend_from_slice(&(payload_len as u16).to_be_bytes());
        packet.extend_from_slice(&[60, 64]); // next header: Destination Options
        packet.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        packet.extend_from_slice(&[0; 12]);
        packet.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        packet.extend_from_slice(&[0; 11]);
        packet.push(2);
        packet.extend_from_slice(&[next_in_ext, 0, 1, 4, 0, 0, 0, 0]); // 8-byte dest opts
        packet.extend_from_slice(tail);
        let decoded = decode(LinkType::Raw, &packet);
        let ip = decoded.ip().expect("IPv6 header decoded");
        assert_eq!(ip.ttl, 64);
        assert!(
            decoded.error.is_some(),
            "broken extension chain is reported"
        );
        record_of(LinkType::Raw, &packet, 0);
    }
}
