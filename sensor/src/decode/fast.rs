//! A fast header path for the common frames, used when flows are the only consumer.
//!
//! The full decoder ([`super::decode_wire`]) slices every frame with etherparse's lax
//! slicer, which builds and copies several hundred bytes of slices per frame; on the
//! flows-only path that was a third of the processing thread. [`decode_wire`] here reads
//! the plain cases straight from the bytes: Ethernet (up to two 802.1Q/802.1ad tags), Linux
//! cooked (SLL, SLL2) and raw IP, carrying IPv4 without fragmentation or IPv6 without
//! extension headers, carrying TCP, UDP or ICMP/ICMPv6 whose headers are whole. For those
//! it returns exactly what the full decoder returns (`tests/fast_decode.rs` checks it on
//! every fixture and on random bytes); for anything else — fragments, extension headers,
//! IP options with an AH, truncated or inconsistent lengths, ARP, MPLS and tunnels (IP in
//! IP, GRE, the tunnel UDP ports) — it returns `None`, and the caller uses the full
//! decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    DecodeOptions, Decoded, IpInfo, LinkDirection, Network, TcpInfo, TcpOptions, Transport,
};
use crate::capture::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the old QinQ EtherType: the tags etherparse walks.
const VLAN_ETHERTYPES: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Tags read here; a frame with more goes to the full decoder.
const MAX_TAGS: usize = 2;

/// Decodes `frame` like [`super::decode_with`] with the same `options` when it is one of
/// the plain cases above; `None` otherwise. UDP on the ports `options` decapsulate is left
/// to the full decoder.
pub fn decode_wire<'a>(
    options: &DecodeOptions,
    link_type: LinkType,
    frame: &'a [u8],
    wire_len: u32,
) -> Option<Decoded<'a>> {
    let mut out = empty();
    decode_into(
        options,
        link_type,
        frame,
        wire_len,
        TcpOptionsWanted::All,
        &mut out,
    )
    .then_some(out)
}

/// An empty [`Decoded`] for [`decode_into`] to fill.
pub fn empty<'a>() -> Decoded<'a> {
    Decoded::empty()
}

/// Which TCP headers get their options parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOptionsWanted {
    /// Every one, as the full decoder does.
    All,
    /// Only those of SYN and SYN-ACK segments (what the OS guess reads); the others keep
    /// [`TcpOptions::default`]. Flows use nothing else of the options.
    SynOnly,
}

/// [`decode_wire`] into `out` (which must be [`empty`]), so the caller's `Decoded` — a few
/// hundred bytes — is filled where it lies instead of being returned and moved. True when
/// the fast path answered; when false, `out` holds a partial answer to be discarded.
#[inline]
pub fn decode_into<'a>(
    options: &DecodeOptions,
    link_type: LinkType,
    frame: &'a [u8],
    wire_len: u32,
    tcp_options: TcpOptionsWanted,
    out: &mut Decoded<'a>,
) -> bool {
    fill(options, link_type, frame, wire_len, tcp_options, out).is_some()
}

#[inline]
fn fill<'a>(
    options: &DecodeOptions,
    link_type: LinkType,
    frame: &'a [u8],
    wire_len: u32,
    tcp_options: TcpOptionsWanted,
    out: &mut Decoded<'a>,
) -> Option<()> {
    let (ether_type, at) = match link_type {
        LinkType::Ethernet => {
            let header = frame.get(..14)?;
            out.link.dst_mac = Some(mac(&header[0..6]));
            out.link.src_mac = Some(mac(&header[6..12]));
            (be16(header, 12), 14)
        }
        LinkType::LinuxSll => {
            let header = frame.get(..16)?;
            if be16(header, 4) == 6 {
                out.link.src_mac = Some(mac(&header[6..12]));
            }
            out.link.direction = sll_direction(be16(header, 0));
            (be16(header, 14), 16)
        }
        LinkType::LinuxSll2 => {
            let header = frame.get(..20)?;
            if header[11] == 6 {
                out.link.src_mac = Some(mac(&header[12..18]));
            }
            out.link.direction = sll_direction(u16::from(header[10]));
            (be16(header, 0), 20)
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            let ether_type = match frame.first()? >> 4 {
                4 => ETHERTYPE_IPV4,
                6 => ETHERTYPE_IPV6,
                _ => return None,
            };
            (ether_type, 0)
        }
        _ => return None,
    };
    let (mut ether_type, mut at) = (ether_type, at);
    while VLAN_ETHERTYPES.contains(&ether_type) {
        if out.vlans.len() == MAX_TAGS {
            return None;
        }
        let tag = frame.get(at..at + 4)?;
        out.vlans.push(be16(tag, 0) & 0x0fff);
        ether_type = be16(tag, 2);
        at += 4;
    }
    let packet = &frame[at..];
    let (ip, payload) = match ether_type {
        ETHERTYPE_IPV4 => ipv4(packet)?,
        ETHERTYPE_IPV6 => ipv6(packet)?,
        _ => return None,
    };
    out.network = Network::Ip(ip);
    // Bytes of the frame on the wire from the transport header on, as the full decoder's
    // `WireLimit::from` counts them (`payload` lies inside `frame`).
    let start = payload.as_ptr() as usize - frame.as_ptr() as usize;
    let on_wire = wire_len.saturating_sub(start as u32);
    match ip.protocol {
        6 => {
            let fixed = payload.get(..20)?;
            let header_len = usize::from(fixed[12] >> 4) * 4;
            if header_len < 20 || header_len > payload.len() {
                return None;
            }
            out.transport = Transport::Tcp {
                src_port: be16(fixed, 0),
                dst_port: be16(fixed, 2),
                info: Some(TcpInfo {
                    flags: fixed[13],
                    seq: be32(fixed, 4),
                    ack: be32(fixed, 8),
                    window: be16(fixed, 14),
                    options: if tcp_options == TcpOptionsWanted::All || fixed[13] & 0x02 != 0 {
                        TcpOptions::parse(&payload[20..header_len])
                    } else {
                        TcpOptions::default()
                    },
                    payload_length: ip
                        .payload_length
                        .min(on_wire)
                        .saturating_sub(header_len as u32),
                }),
            };
            out.payload = &payload[header_len..];
        }
        17 => {
            let header = payload.get(..8)?;
            let (src_port, dst_port) = (be16(header, 0), be16(header, 2));
            let length = be16(header, 4);
            if length < 8 || usize::from(length) > payload.len() {
                return None;
            }
            if options.is_tunnel_udp_port(src_port) || options.is_tunnel_udp_port(dst_port) {
                return None;
            }
            out.transport = Transport::Udp {
                src_port,
                dst_port,
                length: Some(length),
            };
            out.payload = &payload[8..usize::from(length)];
        }
        1 | 58 => {
            let v6 = ip.protocol == 58;
            // etherparse wants 8 bytes, and exactly 20 for an ICMPv4 timestamp (reply)
            // with code 0; the full decoder reports its complaint as an error.
            if payload.len() < 8 || (!v6 && matches!(payload[0], 13 | 14) && payload[1] == 0) {
                return None;
            }
            out.transport = Transport::Icmp {
                v6,
                icmp_type: payload[0],
                code: payload[1],
            };
            out.payload = &payload[8..];
        }
        _ => return None,
    }
    Some(())
}

/// An IPv4 header whose lengths agree with the bytes captured, no fragment, no AH; its
/// facts and its payload (cut at the total length, past any Ethernet padding).
#[inline]
fn ipv4(packet: &[u8]) -> Option<(IpInfo, &[u8])> {
    let fixed = packet.get(..20)?;
    if fixed[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(fixed[0] & 0xf) * 4;
    let total_len = be16(fixed, 2);
    if header_len < 20
        || usize::from(total_len) < header_len
        || usize::from(total_len) > packet.len()
    {
        return None;
    }
    let flags = be16(fixed, 6);
    // More fragments, or a fragment offset: the full decoder handles fragments.
    if flags & 0x3fff != 0 {
        return None;
    }
    let protocol = fixed[9];
    if !matches!(protocol, 1 | 6 | 17) {
        return None;
    }
    let ip = IpInfo {
        src: IpAddr::V4(Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15])),
        dst: IpAddr::V4(Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19])),
        protocol,
        ttl: fixed[8],
        id: Some(be16(fixed, 4)),
        dscp: fixed[1] >> 2,
        ecn: fixed[1] & 3,
        header_length: Some(header_len as u16),
        total_length: u32::from(total_len),
        df: Some(flags & 0x4000 != 0),
        mf: false,
        fragment_offset: 0,
        flow_label: None,
        payload_length: u32::from(total_len) - header_len as u32,
    };
    Some((ip, &packet[header_len..usize::from(total_len)]))
}

/// An IPv6 header straight followed by TCP, UDP or ICMPv6, whose payload length agrees
/// with the bytes captured; its facts and its payload.
#[inline]
fn ipv6(packet: &[u8]) -> Option<(IpInfo, &[u8])> {
    let fixed = packet.get(..40)?;
    if fixed[0] >> 4 != 6 {
        return None;
    }
    let payload_len = be16(fixed, 4);
    // 0 is a jumbogram's (or an odd packet's); the full decoder takes what was captured.
    if payload_len == 0 || 40 + usize::from(payload_len) > packet.len() {
        return None;
    }
    let protocol = fixed[6];
    if !matches!(protocol, 6 | 17 | 58) {
        return None;
    }
    let traffic_class = (fixed[0] << 4) | (fixed[1] >> 4);
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&fixed[8..24]);
    dst.copy_from_slice(&fixed[24..40]);
    let ip = IpInfo {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        protocol,
        ttl: fixed[7],
        id: None,
        dscp: traffic_class >> 2,
        ecn: traffic_class & 3,
        header_length: None,
        total_length: u32::from(payload_len) + 40,
        df: None,
        mf: false,
        fragment_offset: 0,
        flow_label: Some(u32::from_be_bytes([0, fixed[1] & 0xf, fixed[2], fixed[3]])),
        payload_length: u32::from(payload_len),
    };
    Some((ip, &packet[40..40 + usize::from(payload_len)]))
}

#[inline]
fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

#[inline]
fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline]
fn mac(bytes: &[u8]) -> [u8; 6] {
    [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]]
}

/// SLL packet types, as the full decoder reads them.
#[inline]
fn sll_direction(packet_type: u16) -> Option<LinkDirection> {
    match packet_type {
        0..=2 => Some(LinkDirection::Incoming),
        4 => Some(LinkDirection::Outgoing),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_udp_over_two_vlan_tags_matches_the_full_decoder() {
        let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xa8];
        frame.extend_from_slice(&[0x00, 0x64, 0x81, 0x00, 0x20, 0xc8, 0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45, 0x10, 0, 30, 0, 7, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        frame.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 10, 0, 0, b'h', b'i', 0, 0]);
        let wire = frame.len() as u32;
        let options = DecodeOptions::default();
        let fast = decode_wire(&options, LinkType::Ethernet, &frame, wire).expect("plain");
        assert_eq!(
            fast,
            super::super::decode_wire(LinkType::Ethernet, &frame, wire)
        );
        assert_eq!(fast.vlans.as_slice(), &[100, 200]);
        assert_eq!(fast.payload, b"hi");
        // The same frame on a tunnel port is left to the full decoder.
        let dns_is_vxlan = DecodeOptions {
            vxlan_ports: vec![53],
            ..DecodeOptions::default()
        };
        assert!(decode_wire(&dns_is_vxlan, LinkType::Ethernet, &frame, wire).is_none());
    }
}
