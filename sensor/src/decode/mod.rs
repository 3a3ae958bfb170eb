//! Frame decoding: link layer → VLAN tags → IPv4/IPv6 (extension headers walked) →
//! TCP/UDP/ICMP/ICMPv6, plus ARP.
//!
//! Decoding is lax: a frame cut off at the snap length, or with a broken header, keeps every
//! layer decoded before the break and reports the layer that failed in
//! [`Decoded::error`], which the pipeline counts by layer. Nothing here panics on input and
//! nothing allocates: [`Decoded`] borrows the frame.
//!
//! etherparse does the Ethernet, VLAN, IP and extension-header work. The link types it does
//! not know (SLL2, BSD loopback) and the transport layer are handled here, so that a first
//! IP fragment still yields its ports, and a TCP header cut inside its options (snap length)
//! still yields its fixed fields: ports, flags, sequence numbers and window.

pub mod app;
pub mod fast;
mod link;
mod tcp_options;
pub mod tunnel;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;
use etherparse::{
    ip_number, IpNumber, Ipv6ExtensionsSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TcpSlice,
    UdpSlice,
};
use netsensor_schema::{MAX_MPLS_LABELS, MAX_VLAN_TAGS};

use crate::capture::LinkType;
pub use tcp_options::TcpOptions;
pub use tunnel::{DecodeOptions, TunnelInfo, TunnelKind};

/// The layer at which decoding stopped; also the `layer` label of
/// `netsensor_decode_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Link-layer header (Ethernet, SLL, loopback).
    Link,
    /// 802.1Q / 802.1ad tag.
    Vlan,
    /// ARP.
    Arp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 header.
    Ipv6,
    /// IPv6 extension header or IPv4 authentication header.
    Ipv6Ext,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// ICMP header.
    Icmp,
    /// ICMPv6 header.
    Icmpv6,
    /// DNS message.
    Dns,
    /// TLS ClientHello.
    Tls,
    /// HTTP/1 head.
    Http,
    /// Tunnel header (VXLAN, GENEVE, GRE, ERSPAN, MPLS) or the packet inside it.
    Tunnel,
}

impl Layer {
    /// Every layer, for pre-registering metric label values.
    pub const ALL: [Layer; 14] = [
        Layer::Link,
        Layer::Vlan,
        Layer::Arp,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Ipv6Ext,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmp,
        Layer::Icmpv6,
        Layer::Dns,
        Layer::Tls,
        Layer::Http,
        Layer::Tunnel,
    ];

    /// Metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Vlan => "vlan",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Ext => "ipv6_ext",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
            Layer::Icmpv6 => "icmpv6",
            Layer::Dns => "dns",
            Layer::Tls => "tls",
            Layer::Http => "http",
            Layer::Tunnel => "tunnel",
        }
    }

    /// Position in [`Layer::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Whether the capturing host sent or received the frame, when the link layer says so
/// (Linux cooked captures carry a packet type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// Addressed to this host (or broadcast/multicast it received).
    Incoming,
    /// Sent by this host.
    Outgoing,
}

/// Link-layer facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Source MAC (Ethernet, or the SLL sender address when it is 6 bytes).
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC (Ethernet only).
    pub dst_mac: Option<[u8; 6]>,
    /// Direction from the SLL packet type.
    pub direction: Option<LinkDirection>,
}

/// IP header facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol of the payload after extension headers (IANA number).
    pub protocol: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 identification.
    pub id: Option<u16>,
    /// DSCP.
    pub dscp: u8,
    /// ECN.
    pub ecn: u8,
    /// IPv4 header length in bytes.
    pub header_length: Option<u16>,
    /// IPv4 total length, or IPv6 payload length + 40.
    pub total_length: u32,
    /// IPv4 don't-fragment.
    pub df: Option<bool>,
    /// More fragments.
    pub mf: bool,
    /// Fragment offset in bytes.
    pub fragment_offset: u16,
    /// IPv6 flow label.
    pub flow_label: Option<u32>,
    /// Length of the IP payload according to the headers (not the capture).
    pub payload_length: u32,
}

impl IpInfo {
    /// True for a non-first fragment, which carries no transport header.
    pub const fn is_later_fragment(&self) -> bool {
        self.fragment_offset != 0
    }
}

/// TCP header facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Flag bits of byte 13 (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window (unscaled).
    pub window: u16,
    /// Parsed options.
    pub options: TcpOptions,
    /// Payload bytes per the IP length (the capture may hold fewer).
    pub payload_length: u32,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
    /// Names in the order `netsensor.tcp.flags` lists them.
    pub const NAMES: [(u8, &str); 8] = [
        (SYN, "SYN"),
        (ACK, "ACK"),
        (FIN, "FIN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (URG, "URG"),
        (ECE, "ECE"),
        (CWR, "CWR"),
    ];
}

/// Transport-layer facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No transport header decoded (later fragment, unknown protocol, broken header).
    None,
    /// TCP. `info` is None when only the ports could be read.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Header details, when the whole header was present and valid.
        info: Option<TcpInfo>,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// UDP length field; None when the header was cut before its end.
        length: Option<u16>,
    },
    /// SCTP (only the ports are read).
    Sctp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP (v6 = false) or ICMPv6 (v6 = true).
    Icmp {
        /// True for ICMPv6.
        v6: bool,
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
}

impl Transport {
    /// Source and destination ports of TCP and UDP.
    pub const fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp {
                src_port, dst_port, ..
            }
            | Transport::Sctp { src_port, dst_port } => Some((src_port, dst_port)),
            _ => None,
        }
    }
}

/// The network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Nothing decoded above the link layer.
    None,
    /// ARP.
    Arp,
    /// IPv4 or IPv6.
    Ip(IpInfo),
}

/// A decoded frame; borrows the frame's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Link-layer facts.
    pub link: LinkInfo,
    /// VLAN ids, outermost first.
    pub vlans: ArrayVec<u16, MAX_VLAN_TAGS>,
    /// Network layer.
    pub network: Network,
    /// Transport layer.
    pub transport: Transport,
    /// Transport payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
    /// The layer that failed to decode, if any.
    pub error: Option<Layer>,
    /// The encapsulation removed to reach this packet, if any.
    pub tunnel: Option<TunnelInfo>,
    /// MPLS labels of the stacks removed, top of stack first.
    pub mpls: ArrayVec<u32, MAX_MPLS_LABELS>,
}

impl Decoded<'_> {
    /// The IP facts, if the frame carried IP.
    pub const fn ip(&self) -> Option<&IpInfo> {
        match &self.network {
            Network::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    fn empty() -> Self {
        Decoded {
            link: LinkInfo::default(),
            vlans: ArrayVec::new(),
            network: Network::None,
            transport: Transport::None,
            payload: &[],
            error: None,
            tunnel: None,
            mpls: ArrayVec::new(),
        }
    }
}

/// Decodes one frame of the given link type with the default [`DecodeOptions`] (tunnels
/// removed). Lengths come from the headers, as if the frame was captured whole or cut only
/// by the snap length.
pub fn decode(link_type: LinkType, frame: &[u8]) -> Decoded<'_> {
    decode_frame(&DEFAULT_OPTIONS, link_type, frame, None)
}

/// Decodes one frame knowing its length on the wire, with the default [`DecodeOptions`].
/// A frame shorter on the wire than its IP total length says was cut before it was
/// captured, so the TCP payload length is capped at the bytes that were on the wire (tshark
/// does the same).
pub fn decode_wire(link_type: LinkType, frame: &[u8], wire_len: u32) -> Decoded<'_> {
    decode_frame(&DEFAULT_OPTIONS, link_type, frame, Some(wire_len))
}

/// Decodes one frame knowing its length on the wire, as `options` say (decapsulation,
/// depth, tunnel ports).
pub fn decode_with<'a>(
    options: &DecodeOptions,
    link_type: LinkType,
    frame: &'a [u8],
    wire_len: u32,
) -> Decoded<'a> {
    decode_frame(options, link_type, frame, Some(wire_len))
}

/// The defaults of [`decode`] and [`decode_wire`], built once.
static DEFAULT_OPTIONS: std::sync::LazyLock<DecodeOptions> =
    std::sync::LazyLock::new(DecodeOptions::default);

fn decode_frame<'a>(
    options: &DecodeOptions,
    link_type: LinkType,
    frame: &'a [u8],
    wire_len: Option<u32>,
) -> Decoded<'a> {
    let mut out = Decoded::empty();
    let sliced = match link::slice(link_type, frame, &mut out.link) {
        Ok(sliced) => sliced,
        Err(layer) => {
            out.error = Some(layer);
            return out;
        }
    };
    let wire = wire_len.map(|len| WireLimit { frame, len });
    decode_sliced(&sliced, wire, &mut out);
    if options.decapsulate && options.max_depth > 0 {
        return tunnel::decapsulate(options, sliced, wire, out);
    }
    out
}

/// The frame and its length on the wire.
#[derive(Clone, Copy)]
struct WireLimit<'a> {
    frame: &'a [u8],
    len: u32,
}

impl WireLimit<'_> {
    /// Bytes that were on the wire from the start of `part` (a sub-slice of the frame) on.
    fn from(&self, part: &[u8]) -> Option<u32> {
        let start = (part.as_ptr() as usize).checked_sub(self.frame.as_ptr() as usize)?;
        (start <= self.frame.len()).then(|| self.len.saturating_sub(start as u32))
    }
}

fn decode_sliced<'a>(
    sliced: &LaxSlicedPacket<'a>,
    wire: Option<WireLimit<'_>>,
    out: &mut Decoded<'a>,
) {
    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        out.link.src_mac = Some(eth.source());
        out.link.dst_mac = Some(eth.destination());
    }
    for ext in &sliced.link_exts {
        if let etherparse::LaxLinkExtSlice::Vlan(vlan) = ext {
            // More tags than MAX_VLAN_TAGS keep the outermost ones.
            let _ = out.vlans.try_push(vlan.vlan_identifier().value());
        }
    }
    if let Some((_, layer)) = &sliced.stop_err {
        out.error = Some(map_layer(*layer));
    }
    match &sliced.net {
        Some(LaxNetSlice::Arp(_)) => out.network = Network::Arp,
        Some(LaxNetSlice::Ipv4(ipv4)) => {
            let header = ipv4.header();
            let payload = ipv4.payload();
            let header_len = u16::from(header.ihl()) * 4;
            let ip = IpInfo {
                src: IpAddr::V4(Ipv4Addr::from(header.source())),
                dst: IpAddr::V4(Ipv4Addr::from(header.destination())),
                protocol: payload.ip_number.0,
                ttl: header.ttl(),
                id: Some(header.identification()),
                dscp: header.dcp().value(),
                ecn: header.ecn().value(),
                header_length: Some(header_len),
                total_length: u32::from(header.total_len()),
                df: Some(header.dont_fragment()),
                mf: header.more_fragments(),
                fragment_offset: header.fragments_offset().value().saturating_mul(8),
                flow_label: None,
                payload_length: u32::from(header.total_len())
                    .saturating_sub(u32::from(header_len))
                    .saturating_sub(ipv4_ext_len(ipv4)),
            };
            out.network = Network::Ip(ip);
            decode_transport(payload.payload, &ip, wire, out);
        }
        Some(LaxNetSlice::Ipv6(ipv6)) => {
            let header = ipv6.header();
            let payload = ipv6.payload();
            let (mf, offset) = ipv6_fragment(ipv6.extensions());
            let ext_len = ipv6.extensions().slice().len() as u32;
            let ip = IpInfo {
                src: IpAddr::V6(Ipv6Addr::from(header.source())),
                dst: IpAddr::V6(Ipv6Addr::from(header.destination())),
                protocol: payload.ip_number.0,
                ttl: header.hop_limit(),
                id: None,
                dscp: header.dscp().value(),
                ecn: header.ecn().value(),
                header_length: None,
                total_length: u32::from(header.payload_length()) + 40,
                df: None,
                mf,
                fragment_offset: offset,
                flow_label: Some(header.flow_label().value()),
                payload_length: u32::from(header.payload_length()).saturating_sub(ext_len),
            };
            out.network = Network::Ip(ip);
            decode_transport(payload.payload, &ip, wire, out);
        }
        None => {}
    }
}

/// More-fragments flag and fragment offset (bytes) from an IPv6 extension chain.
///
/// Walks the chain itself, bounds-checked: etherparse's `Ipv6ExtensionSliceIter` trusts the
/// last header's next-header value and reads past a chain that `LaxSlicedPacket` cut short
/// (e.g. Hop-by-Hop after Destination Options), which is undefined behaviour.
fn ipv6_fragment(exts: &Ipv6ExtensionsSlice<'_>) -> (bool, u16) {
    let (mut mf, mut offset) = (false, 0u16);
    let mut next = exts.first_header();
    let mut rest = exts.slice();
    while let Some(header) = next {
        let len = match header {
            ip_number::IPV6_HOP_BY_HOP | ip_number::IPV6_ROUTE | ip_number::IPV6_DEST_OPTIONS => {
                rest.get(1).map(|&n| (usize::from(n) + 1) * 8)
            }
            ip_number::IPV6_FRAG => Some(8),
            ip_number::AUTH => rest.get(1).map(|&n| (usize::from(n) + 2) * 4),
            _ => None,
        };
        let Some((bytes, tail)) = len.and_then(|len| rest.split_at_checked(len)) else {
            break;
        };
        if header == ip_number::IPV6_FRAG {
            if let Some(&[hi, lo]) = bytes.get(2..4) {
                let field = u16::from_be_bytes([hi, lo]);
                offset = field & 0xfff8;
                mf = field & 1 != 0;
            }
        }
        next = bytes.first().map(|&n| IpNumber(n));
        rest = tail;
    }
    (mf, offset)
}

/// Length of an IPv4 authentication header, which etherparse treats as an extension.
fn ipv4_ext_len(ipv4: &etherparse::LaxIpv4Slice<'_>) -> u32 {
    ipv4.extensions()
        .auth
        .map_or(0, |auth| auth.slice().len() as u32)
}

/// Decodes the transport header from the IP payload. Transport errors replace an earlier
/// "incomplete IP payload" error only when nothing failed before.
fn decode_transport<'a>(
    payload: &'a [u8],
    ip: &IpInfo,
    wire: Option<WireLimit<'_>>,
    out: &mut Decoded<'a>,
) {
    if ip.is_later_fragment() {
        return;
    }
    let fail = |out: &mut Decoded<'a>, layer| {
        if out.error.is_none() {
            out.error = Some(layer);
        }
    };
    match ip.protocol {
        6 => match TcpSlice::from_slice(payload) {
            Ok(tcp) => {
                let flags = payload.get(13).copied().unwrap_or(0);
                let header_len = u32::from(tcp.data_offset()) * 4;
                out.transport = Transport::Tcp {
                    src_port: tcp.source_port(),
                    dst_port: tcp.destination_port(),
                    info: Some(TcpInfo {
                        flags,
                        seq: tcp.sequence_number(),
                        ack: tcp.acknowledgment_number(),
                        window: tcp.window_size(),
                        options: TcpOptions::parse(tcp.options()),
                        // On a first fragment this counts the whole segment, whose rest
                        // arrives in later fragments.
                        payload_length: wire
                            .and_then(|wire| wire.from(payload))
                            .map_or(ip.payload_length, |on_wire| ip.payload_length.min(on_wire))
                            .saturating_sub(header_len),
                    }),
                };
                out.payload = tcp.payload();
            }
            Err(_) => {
                // A header cut inside its options (snap length) or with a data offset past
                // the segment still has its fixed 20 bytes: keep them, and the options
                // that were captured (marked malformed).
                if let Some(fixed) = payload.get(..20) {
                    let be32 = |at: usize| {
                        u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
                    };
                    let header_len = u32::from(fixed[12] >> 4) * 4;
                    let options_end = (header_len as usize).clamp(20, payload.len());
                    let mut options =
                        TcpOptions::parse(payload.get(20..options_end).unwrap_or(&[]));
                    options.malformed = true;
                    out.transport = Transport::Tcp {
                        src_port: u16::from_be_bytes([fixed[0], fixed[1]]),
                        dst_port: u16::from_be_bytes([fixed[2], fixed[3]]),
                        info: Some(TcpInfo {
                            flags: fixed[13],
                            seq: be32(4),
                            ack: be32(8),
                            window: u16::from_be_bytes([fixed[14], fixed[15]]),
                            options,
                            payload_length: wire
                                .and_then(|wire| wire.from(payload))
                                .map_or(ip.payload_length, |on_wire| ip.payload_length.min(on_wire))
                                .saturating_sub(header_len),
                        }),
                    };
                } else if let Some((src_port, dst_port)) = read_ports(payload) {
                    out.transport = Transport::Tcp {
                        src_port,
                        dst_port,
                        info: None,
                    };
                }
                fail(out, Layer::Tcp);
            }
        },
        17 => match UdpSlice::from_slice_lax(payload) {
            Ok(udp) => {
                out.transport = Transport::Udp {
                    src_port: udp.source_port(),
                    dst_port: udp.destination_port(),
                    length: Some(udp.length()),
                };
                out.payload = udp.payload();
            }
            Err(_) => {
                if let Some((src_port, dst_port)) = read_ports(payload) {
                    out.transport = Transport::Udp {
                        src_port,
                        dst_port,
                        length: None,
                    };
                }
                fail(out, Layer::Udp);
            }
        },
        1 | 58 => {
            let v6 = ip.protocol == 58;
            match (payload.first(), payload.get(1)) {
                (Some(&icmp_type), Some(&code)) if payload.len() >= 4 => {
                    out.transport = Transport::Icmp {
                        v6,
                        icmp_type,
                        code,
                    };
                    out.payload = payload.get(8..).unwrap_or(&[]);
                }
                _ => fail(out, if v6 { Layer::Icmpv6 } else { Layer::Icmp }),
            }
        }
        132 => {
            if let Some((src_port, dst_port)) = read_ports(payload) {
                out.transport = Transport::Sctp { src_port, dst_port };
            }
        }
        _ => {}
    }
}

fn read_ports(payload: &[u8]) -> Option<(u16, u16)> {
    let bytes = payload.get(..4)?;
    Some((
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]]),
    ))
}

fn map_layer(layer: etherparse::err::Layer) -> Layer {
    use etherparse::err::Layer as E;
    match layer {
        E::LinuxSllHeader | E::Ethernet2Header | E::EtherPayload => Layer::Link,
        E::VlanHeader | E::MacsecHeader | E::MacsecPacket => Layer::Vlan,
        E::Ipv4Header | E::Ipv4Packet | E::IpHeader => Layer::Ipv4,
        E::Ipv6Header | E::Ipv6Packet => Layer::Ipv6,
        E::IpAuthHeader
        | E::Ipv6ExtHeader
        | E::Ipv6HopByHopHeader
        | E::Ipv6DestOptionsHeader
        | E::Ipv6RouteHeader
        | E::Ipv6FragHeader => Layer::Ipv6Ext,
        E::UdpHeader | E::UdpPayload => Layer::Udp,
        E::TcpHeader => Layer::Tcp,
        E::Icmpv4 | E::Icmpv4Timestamp | E::Icmpv4TimestampReply | E::Igmp => Layer::Icmp,
        E::Icmpv6 => Layer::Icmpv6,
        E::Arp => Layer::Arp,
        #[allow(unreachable_patterns)]
        _ => Layer::Link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_header_cut_before_its_length_keeps_ports_only() {
        // malformed-too-small-headers.pcap frame 3: IPv4 total length 24, so the UDP
        // header has only its ports; tshark shows the ports and no length.
        let frame = [
            0x45, 0, 0, 24, 0, 1, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0x81, 0x58, 0, 0x35,
        ];
        let decoded = decode(LinkType::Raw, &frame);
        assert_eq!(
            decoded.transport,
            Transport::Udp {
                src_port: 33112,
                dst_port: 53,
                length: None
            }
        );
        assert_eq!(decoded.error, Some(Layer::Udp));
    }

    #[test]
    fn tcp_payload_length_is_capped_by_the_wire_length() {
        // telnet-session.pcap frame 18: IPv4 total length 137, but the frame on the wire
        // stops after 4 payload bytes (tshark: "IPv4 total length exceeds packet length").
        let mut frame = vec![
            0x45, 0, 0, 137, 0, 1, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        frame.extend_from_slice(&[0x06, 0x0e, 0, 23, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18]);
        frame.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, b'a', b'b', b'c', b'd']);
        let payload_length = |decoded: Decoded<'_>| match decoded.transport {
            Transport::Tcp {
                info: Some(info), ..
            } => info.payload_length,
            other => panic!("{other:?}"),
        };
        assert_eq!(payload_length(decode_wire(LinkType::Raw, &frame, 44)), 4);
        // Cut by the snap length only: the IP header's length stands.
        assert_eq!(payload_length(decode_wire(LinkType::Raw, &frame, 137)), 97);
        assert_eq!(payload_length(decode(LinkType::Raw, &frame)), 97);
    }
}
