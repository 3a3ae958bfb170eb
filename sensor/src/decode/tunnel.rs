//! Tunnel decapsulation: VXLAN, GENEVE, GRE (keyed, with checksum/sequence, transparent
//! Ethernet bridging), ERSPAN types I–III, MPLS label stacks (with pseudowire control
//! word), IP-in-IP and IPv6-in-IPv4 (and both over IPv6).
//!
//! Mirrored and overlay traffic is only useful once the mirror is removed: the record then
//! describes the innermost packet, and what the outer layers said (type, id, outer
//! addresses, depth, MPLS labels) is kept in [`TunnelInfo`]. A malformed tunnel header
//! stops decapsulation where it is: the packet decoded so far stands and the error is
//! counted as [`Layer::Tunnel`]. Like the rest of the decoder this reads the frame in place,
//! allocates nothing and never panics on input.

use std::net::IpAddr;

use arrayvec::ArrayVec;
use etherparse::{LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice};
use netsensor_schema::MAX_MPLS_LABELS;

use super::{decode_sliced, Decoded, Layer, Network, Transport, WireLimit};

/// How far the decoder goes: whether it decapsulates, how deep, and which UDP ports carry
/// VXLAN and GENEVE (deployments move them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Remove tunnels; false reports the outer packet, as before tunnels were decoded.
    pub decapsulate: bool,
    /// Most encapsulation layers removed (a tunnel in a tunnel counts twice).
    pub max_depth: u8,
    /// UDP ports that carry VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP ports that carry GENEVE.
    pub geneve_ports: Vec<u16>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            decapsulate: true,
            max_depth: 4,
            vxlan_ports: vec![4789],
            geneve_ports: vec![6081],
        }
    }
}

impl DecodeOptions {
    /// The options of the `tunnels` configuration, with `decapsulate` resolved per capture
    /// (a capture's own setting, else `tunnels.decapsulate`; replay uses the latter).
    pub fn from_config(tunnels: &crate::config::TunnelsConfig, decapsulate: bool) -> Self {
        DecodeOptions {
            decapsulate,
            max_depth: tunnels.max_depth,
            vxlan_ports: tunnels.vxlan_ports.clone(),
            geneve_ports: tunnels.geneve_ports.clone(),
        }
    }

    /// The options that report every packet as captured (no decapsulation).
    pub fn outer_only() -> Self {
        DecodeOptions {
            decapsulate: false,
            ..DecodeOptions::default()
        }
    }

    /// True when UDP `port` may carry a tunnel this decoder removes, so a fast path that
    /// skips tunnels knows to hand the frame to the full decoder.
    pub fn is_tunnel_udp_port(&self, port: u16) -> bool {
        self.decapsulate && (self.vxlan_ports.contains(&port) || self.geneve_ports.contains(&port))
    }

    /// True when IP protocol `protocol` may carry a tunnel this decoder removes (GRE,
    /// IP-in-IP, IPv6-in-IP).
    pub fn is_tunnel_ip_protocol(&self, protocol: u8) -> bool {
        self.decapsulate && matches!(protocol, GRE | IPIP | IPV6)
    }
}

/// IP protocol numbers that carry tunnels.
const GRE: u8 = 47;
const IPIP: u8 = 4;
const IPV6: u8 = 41;

/// EtherTypes a tunnel can carry.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;

/// True for the EtherTypes of an MPLS label stack (unicast and multicast).
pub const fn is_mpls_ether_type(ether_type: u16) -> bool {
    matches!(ether_type, ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST)
}

/// The kind of an encapsulation layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN over UDP.
    Vxlan,
    /// GENEVE over UDP.
    Geneve,
    /// GRE (keyed or not), carrying IP, Ethernet or MPLS.
    Gre,
    /// ERSPAN type I, II or III (over GRE).
    Erspan,
    /// An MPLS label stack.
    Mpls,
    /// IPv4 in IPv4 (protocol 4).
    IpIp,
    /// IPv6 in IPv4 (protocol 41, 6in4).
    Ipv6InIpv4,
    /// IPv4 in IPv6.
    Ipv4InIpv6,
    /// IPv6 in IPv6.
    Ipv6InIpv6,
}

impl TunnelKind {
    /// Every kind, in code order.
    pub const ALL: [TunnelKind; 9] = [
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::Gre,
        TunnelKind::Erspan,
        TunnelKind::Mpls,
        TunnelKind::IpIp,
        TunnelKind::Ipv6InIpv4,
        TunnelKind::Ipv4InIpv6,
        TunnelKind::Ipv6InIpv6,
    ];

    /// The `netsensor.tunnel.type` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Mpls => "mpls",
            TunnelKind::IpIp => "ipip",
            TunnelKind::Ipv6InIpv4 => "ipv6-in-ipv4",
            TunnelKind::Ipv4InIpv6 => "ipv4-in-ipv6",
            TunnelKind::Ipv6InIpv6 => "ipv6-in-ipv6",
        }
    }

    /// A small code for compact storage (flow keys): 1-based position in [`Self::ALL`].
    pub const fn code(self) -> u8 {
        self as u8 + 1
    }

    /// The kind of a [`Self::code`].
    pub fn from_code(code: u8) -> Option<TunnelKind> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// What the removed encapsulation said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelInfo {
    /// The outermost layer removed.
    pub kind: TunnelKind,
    /// VNI, GRE key or ERSPAN session id of the outermost layer that has one.
    pub id: Option<u32>,
    /// Source and destination of the outermost IP header (None for MPLS over Ethernet).
    pub outer: Option<(IpAddr, IpAddr)>,
    /// Layers removed.
    pub depth: u8,
}

/// What follows an encapsulation header.
#[derive(Debug, Clone, Copy)]
enum Next<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
}

/// One encapsulation layer, parsed.
#[derive(Debug, Clone)]
struct Step<'a> {
    kind: TunnelKind,
    id: Option<u32>,
    labels: ArrayVec<u32, MAX_MPLS_LABELS>,
    next: Next<'a>,
}

impl<'a> Step<'a> {
    fn new(kind: TunnelKind, id: Option<u32>, next: Next<'a>) -> Self {
        Step {
            kind,
            id,
            labels: ArrayVec::new(),
            next,
        }
    }
}

/// A tunnel header that is there but broken.
#[derive(Debug, Clone, Copy)]
struct Malformed;

/// Removes up to `options.max_depth` encapsulation layers from `outer` (decoded from
/// `sliced`) and returns the innermost packet, with [`Decoded::tunnel`] set when anything
/// was removed.
pub(super) fn decapsulate<'a>(
    options: &DecodeOptions,
    sliced: LaxSlicedPacket<'a>,
    wire: Option<WireLimit<'_>>,
    outer: Decoded<'a>,
) -> Decoded<'a> {
    let mut current = outer;
    let mut current_sliced = sliced;
    let mut info: Option<TunnelInfo> = None;
    while info.map_or(0, |i| i.depth) < options.max_depth {
        let step = match next_layer(options, &current_sliced, &current) {
            None => break,
            Some(Ok(step)) => step,
            Some(Err(Malformed)) => {
                current.error.get_or_insert(Layer::Tunnel);
                break;
            }
        };
        let inner_sliced = match step.next {
            Next::Ethernet(bytes) => LaxSlicedPacket::from_ethernet(bytes).ok(),
            Next::Ip(bytes) => LaxSlicedPacket::from_ip(bytes).ok(),
        };
        let Some(inner_sliced) = inner_sliced else {
            current.error.get_or_insert(Layer::Tunnel);
            break;
        };
        let mut inner = Decoded::empty();
        // IP-in-IP has no inner link layer: the outer frame's addresses and direction
        // stand; an inner Ethernet header replaces the MACs. VLAN tags and MPLS labels
        // accumulate, outermost first.
        inner.link = current.link;
        inner.vlans = current.vlans.clone();
        inner.mpls = current.mpls.clone();
        for label in &step.labels {
            let _ = inner.mpls.try_push(*label);
        }
        decode_sliced(&inner_sliced, wire, &mut inner);
        let outer_ips = current.ip().map(|ip| (ip.src, ip.dst));
        info = Some(match info {
            None => TunnelInfo {
                kind: step.kind,
                id: step.id,
                outer: outer_ips,
                depth: 1,
            },
            Some(prev) => TunnelInfo {
                id: prev.id.or(step.id),
                outer: prev.outer.or(outer_ips),
                depth: prev.depth.saturating_add(1),
                ..prev
            },
        });
        current = inner;
        current_sliced = inner_sliced;
    }
    current.tunnel = info;
    current
}

/// The encapsulation `decoded` carries, if any: None when it carries none (or one this
/// decoder leaves alone), an error when its header is broken.
fn next_layer<'a>(
    options: &DecodeOptions,
    sliced: &LaxSlicedPacket<'a>,
    decoded: &Decoded<'a>,
) -> Option<Result<Step<'a>, Malformed>> {
    match &decoded.network {
        Network::Ip(ip) => {
            // A fragment's tunnel header or inner packet is incomplete: leave it whole.
            if ip.mf || ip.fragment_offset != 0 {
                return None;
            }
            let v4 = ip.src.is_ipv4();
            match ip.protocol {
                17 => {
                    let Transport::Udp {
                        src_port,
                        dst_port,
                        length: Some(_),
                    } = decoded.transport
                    else {
                        return None;
                    };
                    let payload = decoded.payload;
                    // The destination port names the tunnel; a reply from a well-known
                    // port is tried after it, as Wireshark does.
                    for port in [dst_port, src_port] {
                        if options.vxlan_ports.contains(&port) {
                            return Some(vxlan(payload));
                        }
                        if options.geneve_ports.contains(&port) {
                            return geneve(payload);
                        }
                    }
                    None
                }
                GRE => gre(ip_payload(sliced)?),
                IPIP => Some(Ok(Step::new(
                    if v4 {
                        TunnelKind::IpIp
                    } else {
                        TunnelKind::Ipv4InIpv6
                    },
                    None,
                    Next::Ip(ip_payload(sliced)?),
                ))),
                IPV6 => Some(Ok(Step::new(
                    if v4 {
                        TunnelKind::Ipv6InIpv4
                    } else {
                        TunnelKind::Ipv6InIpv6
                    },
                    None,
                    Next::Ip(ip_payload(sliced)?),
                ))),
                _ => None,
            }
        }
        Network::None => {
            let (ether_type, payload) = ether_payload(sliced)?;
            if is_mpls_ether_type(ether_type) {
                mpls(payload).map(|r| r.map(|(labels, next)| mpls_step(labels, next)))
            } else {
                None
            }
        }
        Network::Arp => None,
    }
}

/// The IP payload as captured.
fn ip_payload<'a>(sliced: &LaxSlicedPacket<'a>) -> Option<&'a [u8]> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(ipv4)) => Some(ipv4.payload().payload),
        Some(LaxNetSlice::Ipv6(ipv6)) => Some(ipv6.payload().payload),
        _ => None,
    }
}

/// The EtherType and payload after the link header and its VLAN tags, for the EtherTypes
/// etherparse leaves undecoded (MPLS).
fn ether_payload<'a>(sliced: &LaxSlicedPacket<'a>) -> Option<(u16, &'a [u8])> {
    let payload = match sliced.link_exts.last() {
        Some(LaxLinkExtSlice::Vlan(vlan)) => vlan.payload(),
        Some(LaxLinkExtSlice::Macsec(_)) => return None,
        None => match sliced.link.as_ref()? {
            LinkSlice::Ethernet2(eth) => eth.payload(),
            LinkSlice::EtherPayload(payload) => payload.clone(),
            _ => return None,
        },
    };
    Some((payload.ether_type.0, payload.payload))
}

/// VXLAN (RFC 7348): 8 bytes (flags, VNI), then Ethernet.
fn vxlan(payload: &[u8]) -> Result<Step<'_>, Malformed> {
    let (header, rest) = payload.split_first_chunk::<8>().ok_or(Malformed)?;
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    Ok(Step::new(
        TunnelKind::Vxlan,
        Some(vni),
        Next::Ethernet(rest),
    ))
}

/// GENEVE (RFC 8926): 8 bytes plus options whose lengths must add up to the header's
/// option length; then the protocol the header names.
fn geneve(payload: &[u8]) -> Option<Result<Step<'_>, Malformed>> {
    let Some((header, rest)) = payload.split_first_chunk::<8>() else {
        return Some(Err(Malformed));
    };
    if header[0] >> 6 != 0 {
        return Some(Err(Malformed));
    }
    let options_len = usize::from(header[0] & 0x3f) * 4;
    let Some((mut options, inner)) = rest.split_at_checked(options_len) else {
        return Some(Err(Malformed));
    };
    while !options.is_empty() {
        // Class (2), type (1), reserved bits and length in 4-byte words (1), data.
        let Some(&len_byte) = options.get(3) else {
            return Some(Err(Malformed));
        };
        let Some(tail) = options.get(4 + usize::from(len_byte & 0x1f) * 4..) else {
            return Some(Err(Malformed));
        };
        options = tail;
    }
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    let next = match u16::from_be_bytes([header[2], header[3]]) {
        ETHERTYPE_TEB => Next::Ethernet(inner),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Next::Ip(inner),
        _ => return None,
    };
    Some(Ok(Step::new(TunnelKind::Geneve, Some(vni), next)))
}

/// GRE (RFC 2784/2890): flags, protocol, then optional checksum, key and sequence number.
/// Version 1 (PPTP) and source-routed GRE are left alone.
fn gre(payload: &[u8]) -> Option<Result<Step<'_>, Malformed>> {
    let Some((header, _)) = payload.split_first_chunk::<4>() else {
        return Some(Err(Malformed));
    };
    let flags = u16::from_be_bytes([header[0], header[1]]);
    let protocol = u16::from_be_bytes([header[2], header[3]]);
    let (checksum, routing, keyed, sequenced) = (
        flags & 0x8000 != 0,
        flags & 0x4000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    if flags & 0x0007 != 0 || routing {
        return None;
    }
    let mut at = 4 + if checksum { 4 } else { 0 };
    let key = if keyed {
        let Some(&[a, b, c, d]) = payload.get(at..at + 4) else {
            return Some(Err(Malformed));
        };
        at += 4;
        Some(u32::from_be_bytes([a, b, c, d]))
    } else {
        None
    };
    if sequenced {
        at += 4;
    }
    let Some(rest) = payload.get(at..) else {
        return Some(Err(Malformed));
    };
    let step = match protocol {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Step::new(TunnelKind::Gre, key, Next::Ip(rest)),
        ETHERTYPE_TEB => Step::new(TunnelKind::Gre, key, Next::Ethernet(rest)),
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => {
            // GRE and the label stack it carries count as one layer.
            let (labels, next) = match mpls(rest)? {
                Ok(stack) => stack,
                Err(e) => return Some(Err(e)),
            };
            Step {
                kind: TunnelKind::Gre,
                id: key,
                labels,
                next,
            }
        }
        // Type II has a sequence number and an 8-byte header; type I has neither.
        ETHERTYPE_ERSPAN_2 if !sequenced => {
            Step::new(TunnelKind::Erspan, None, Next::Ethernet(rest))
        }
        ETHERTYPE_ERSPAN_2 => {
            let Some((erspan, frame)) = rest.split_first_chunk::<8>() else {
                return Some(Err(Malformed));
            };
            Step::new(
                TunnelKind::Erspan,
                Some(span_id(erspan)),
                Next::Ethernet(frame),
            )
        }
        ETHERTYPE_ERSPAN_3 => return erspan3(rest),
        _ => return None,
    };
    Some(Ok(step))
}

/// ERSPAN session id: the low 10 bits of bytes 2–3 (types II and III).
fn span_id(header: &[u8; 8]) -> u32 {
    u32::from(u16::from_be_bytes([header[2], header[3]]) & 0x3ff)
}

/// ERSPAN type III: 12 bytes, an 8-byte platform-specific sub-header when the O bit is
/// set, then the mirrored frame (Ethernet, or IP for frame type 2).
fn erspan3(payload: &[u8]) -> Option<Result<Step<'_>, Malformed>> {
    let Some((header, rest)) = payload.split_first_chunk::<12>() else {
        return Some(Err(Malformed));
    };
    let rest = if header[11] & 1 != 0 {
        match rest.get(8..) {
            Some(rest) => rest,
            None => return Some(Err(Malformed)),
        }
    } else {
        rest
    };
    let next = match (header[10] >> 2) & 0x1f {
        0 => Next::Ethernet(rest),
        2 => Next::Ip(rest),
        _ => return None,
    };
    let first = header.first_chunk::<8>()?;
    Some(Ok(Step::new(
        TunnelKind::Erspan,
        Some(span_id(first)),
        next,
    )))
}

/// An MPLS label stack down to its bottom entry, and what it carries: IPv4 or IPv6 by the
/// first nibble, or (nibble 0) a pseudowire control word followed by Ethernet. None when
/// the payload is none of these.
fn mpls(payload: &[u8]) -> Option<Result<(ArrayVec<u32, MAX_MPLS_LABELS>, Next<'_>), Malformed>> {
    let mut labels = ArrayVec::new();
    let mut rest = payload;
    loop {
        let Some((entry, tail)) = rest.split_first_chunk::<4>() else {
            return Some(Err(Malformed));
        };
        let entry = u32::from_be_bytes(*entry);
        // Deeper stacks keep their top labels.
        let _ = labels.try_push(entry >> 12);
        rest = tail;
        if entry & 0x100 != 0 {
            break;
        }
    }
    let next = match rest.first()? >> 4 {
        4 | 6 => Next::Ip(rest),
        0 => Next::Ethernet(rest.get(4..)?),
        _ => return None,
    };
    Some(Ok((labels, next)))
}

fn mpls_step<'a>(labels: ArrayVec<u32, MAX_MPLS_LABELS>, next: Next<'a>) -> Step<'a> {
    Step {
        kind: TunnelKind::Mpls,
        id: None,
        labels,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geneve_options_must_add_up() {
        // Option length 2 words, one option claiming 3 words of data.
        let mut header = vec![0x02, 0, 0x65, 0x58, 0, 0, 7, 0];
        header.extend_from_slice(&[0x01, 0x02, 0x03, 0x03, 0, 0, 0, 0]);
        assert!(matches!(geneve(&header), Some(Err(Malformed))));
        // The same option claiming 1 word fits.
        header[11] = 0x01;
        assert!(matches!(geneve(&header), Some(Ok(_))));
    }

    #[test]
    fn options_follow_the_tunnels_configuration() {
        let tunnels = crate::config::TunnelsConfig {
            decapsulate: true,
            max_depth: 2,
            vxlan_ports: vec![8472],
            geneve_ports: vec![],
        };
        let options = DecodeOptions::from_config(&tunnels, false);
        assert!(!options.decapsulate && !options.is_tunnel_udp_port(8472));
        let options = DecodeOptions::from_config(&tunnels, true);
        assert_eq!(options.max_depth, 2);
        assert!(options.is_tunnel_udp_port(8472) && !options.is_tunnel_udp_port(6081));
        assert!(options.is_tunnel_ip_protocol(47) && !options.is_tunnel_ip_protocol(6));
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in TunnelKind::ALL {
            assert_eq!(TunnelKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(TunnelKind::from_code(0), None);
    }

    #[test]
    fn short_headers_are_malformed_not_panics() {
        for len in 0..16 {
            let bytes = vec![0xffu8; len];
            let _ = vxlan(&bytes);
            let _ = geneve(&bytes);
            let _ = gre(&bytes);
            let _ = erspan3(&bytes);
            let _ = mpls(&bytes);
        }
        assert!(vxlan(&[0; 7]).is_err());
        assert!(matches!(gre(&[0x20, 0, 8, 0, 1]), Some(Err(Malformed))));
    }
}
