//! Link layers etherparse does not cover, mapped onto its EtherType/IP entry points.

use etherparse::{EtherType, LaxSlicedPacket};

use super::{Layer, LinkDirection, LinkInfo};
use crate::capture::LinkType;

/// BSD loopback address families that mean IPv4 / IPv6 (they differ per OS).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [10, 24, 28];
const AF_INET6_OTHER: u32 = 30;
/// EtherTypes accepted in place of an address family in a loopback header.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Slices a frame into etherparse's lax layers, reading link-only facts into `link`.
pub(super) fn slice<'a>(
    link_type: LinkType,
    frame: &'a [u8],
    link: &mut LinkInfo,
) -> Result<LaxSlicedPacket<'a>, Layer> {
    match link_type {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).map_err(|_| Layer::Link),
        LinkType::LinuxSll => {
            let header = frame.get(..16).ok_or(Layer::Link)?;
            let packet_type = u16::from_be_bytes([header[0], header[1]]);
            let addr_len = u16::from_be_bytes([header[4], header[5]]);
            if addr_len == 6 {
                link.src_mac = mac(&header[6..12]);
            }
            link.direction = sll_direction(packet_type);
            let protocol = u16::from_be_bytes([header[14], header[15]]);
            Ok(from_ether_type(protocol, &frame[16..]))
        }
        LinkType::LinuxSll2 => {
            let header = frame.get(..20).ok_or(Layer::Link)?;
            let protocol = u16::from_be_bytes([header[0], header[1]]);
            let packet_type = u16::from(header[10]);
            if header[11] == 6 {
                link.src_mac = mac(&header[12..18]);
            }
            link.direction = sll_direction(packet_type);
            Ok(from_ether_type(protocol, &frame[20..]))
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => from_ip(frame),
        LinkType::Null | LinkType::Loop => {
            let header = frame.get(..4).ok_or(Layer::Link)?;
            let bytes = [header[0], header[1], header[2], header[3]];
            // DLT_NULL is in the capturing host's byte order; DLT_LOOP is big-endian.
            let family = if link_type == LinkType::Loop {
                u32::from_be_bytes(bytes)
            } else {
                let le = u32::from_le_bytes(bytes);
                if le < 0x100 {
                    le
                } else {
                    u32::from_be_bytes(bytes)
                }
            };
            let payload = &frame[4..];
            if family == AF_INET || AF_INET6.contains(&family) || family == AF_INET6_OTHER {
                return from_ip(payload);
            }
            // Some loopback captures carry an EtherType in the header's last two bytes
            // instead of an address family (Wireshark's null dissector accepts them too).
            match u16::from_be_bytes([header[2], header[3]]) {
                ether_type @ (ETHERTYPE_IPV4 | ETHERTYPE_IPV6) => {
                    Ok(from_ether_type(ether_type, payload))
                }
                _ => Err(Layer::Link),
            }
        }
        LinkType::Other(_) => Err(Layer::Link),
    }
}

fn from_ip(payload: &[u8]) -> Result<LaxSlicedPacket<'_>, Layer> {
    LaxSlicedPacket::from_ip(payload).map_err(|_| match payload.first().map(|b| b >> 4) {
        Some(6) => Layer::Ipv6,
        _ => Layer::Ipv4,
    })
}

fn from_ether_type(protocol: u16, payload: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(EtherType(protocol), payload)
}

fn mac(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

/// SLL packet types: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us.
fn sll_direction(packet_type: u16) -> Option<LinkDirection> {
    match packet_type {
        0..=2 => Some(LinkDirection::Incoming),
        4 => Some(LinkDirection::Outgoing),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Network, Transport};
    use crate::capture::LinkType;

    /// IPv4/UDP header (20 + 8 bytes) from 10.0.0.138:53 to 10.0.0.1:58125.
    const IPV4_UDP: [u8; 28] = [
        0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 138, 10, 0, 0, 1, 0, 53, 0xe3, 0x0d,
        0, 8, 0, 0,
    ];

    #[test]
    fn loopback_header_with_an_ether_type() {
        // null-loopback-mixed.pcap frame 3: `0f 00 08 00` is no address family in either
        // byte order; its last two bytes are the IPv4 EtherType (tshark: "Type: IPv4").
        let mut frame = vec![0x0f, 0x00, 0x08, 0x00];
        frame.extend_from_slice(&IPV4_UDP);
        let decoded = decode(LinkType::Null, &frame);
        assert!(matches!(decoded.network, Network::Ip(_)), "{decoded:?}");
        assert_eq!(decoded.transport.ports(), Some((53, 58125)));
        // An unknown family with no EtherType stays a link error.
        frame[..4].copy_from_slice(&[0, 0, 0, 7]);
        let decoded = decode(LinkType::Null, &frame);
        assert_eq!(
            (decoded.network, decoded.transport),
            (Network::None, Transport::None)
        );
    }
}
