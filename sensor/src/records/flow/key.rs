//! The bidirectional flow key: both endpoints in a canonical order, so the two directions
//! of a conversation find the same entry.

use std::net::{IpAddr, Ipv6Addr};

use arrayvec::ArrayVec;

use crate::decode::{TunnelInfo, TunnelKind};

/// Which side of the canonical key a packet was sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The lower (address, port) endpoint.
    Low,
    /// The higher (address, port) endpoint.
    High,
}

/// One endpoint: address (IPv4 stored mapped into 16 bytes) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Address bytes; IPv4 as an IPv4-mapped IPv6 address.
    pub addr: [u8; 16],
    /// Port (ICMP: the Community ID type/code mapping).
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from an address and port.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        let addr = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        Endpoint { addr, port }
    }

    /// The address, as the family it was captured in.
    pub fn ip(&self, v6: bool) -> IpAddr {
        let v6addr = Ipv6Addr::from(self.addr);
        if v6 {
            IpAddr::V6(v6addr)
        } else {
            v6addr
                .to_ipv4_mapped()
                .map_or(IpAddr::V6(v6addr), IpAddr::V4)
        }
    }
}

/// The encapsulation a flow was seen in, as part of its key: overlapping cloud subnets
/// reuse the same inner 5-tuples in different VNIs, GRE keys or mirror sessions. Six bytes
/// with 2-byte alignment, so the IPv4 key stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TunnelKey {
    /// [`TunnelKind::code`] of the outermost layer (0: not tunnelled); bit 7 set when
    /// `id` holds an id.
    kind: u8,
    /// Layers removed.
    depth: u8,
    /// The tunnel id, high and low half.
    id: [u16; 2],
}

impl TunnelKey {
    const HAS_ID: u8 = 0x80;

    /// The key part of a decapsulated packet's tunnel (the default when not tunnelled).
    pub fn of(tunnel: Option<&TunnelInfo>) -> Self {
        tunnel.map_or_else(TunnelKey::default, |t| {
            TunnelKey::new(t.kind, t.id, t.depth)
        })
    }

    /// The key part of `kind` with `id`, `depth` layers deep.
    pub fn new(kind: TunnelKind, id: Option<u32>, depth: u8) -> Self {
        let value = id.unwrap_or(0);
        TunnelKey {
            kind: kind.code() | if id.is_some() { Self::HAS_ID } else { 0 },
            depth,
            id: [(value >> 16) as u16, value as u16],
        }
    }

    /// The outermost layer's kind; None when not tunnelled.
    pub fn kind(&self) -> Option<TunnelKind> {
        TunnelKind::from_code(self.kind & !Self::HAS_ID)
    }

    /// The tunnel id, if the tunnel has one.
    pub fn id(&self) -> Option<u32> {
        (self.kind & Self::HAS_ID != 0).then(|| u32::from(self.id[0]) << 16 | u32::from(self.id[1]))
    }

    /// Layers removed.
    pub const fn depth(&self) -> u8 {
        self.depth
    }

    /// True when the flow was not tunnelled.
    pub const fn is_none(&self) -> bool {
        self.kind == 0
    }
}

/// A flow's identity: the two endpoints in canonical order, the transport, the family,
/// the VLAN tags (outer, inner; 0 when absent) and the tunnel, so the same 5-tuple on two
/// VLANs or in two VNIs is two flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The lower endpoint.
    pub low: Endpoint,
    /// The higher endpoint.
    pub high: Endpoint,
    /// IANA protocol number.
    pub protocol: u8,
    /// True for IPv6.
    pub v6: bool,
    /// Outer and inner VLAN ids.
    pub vlans: [u16; 2],
    /// The encapsulation the flow was seen in.
    pub tunnel: TunnelKey,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and the side the packet came from.
    pub fn new(
        src: Endpoint,
        dst: Endpoint,
        protocol: u8,
        v6: bool,
        vlans: [u16; 2],
    ) -> (Self, Side) {
        if src <= dst {
            (
                FlowKey {
                    low: src,
                    high: dst,
                    protocol,
                    v6,
                    vlans,
                    tunnel: TunnelKey::default(),
                },
                Side::Low,
            )
        } else {
            (
                FlowKey {
                    low: dst,
                    high: src,
                    protocol,
                    v6,
                    vlans,
                    tunnel: TunnelKey::default(),
                },
                Side::High,
            )
        }
    }

    /// The same key in `tunnel`.
    pub const fn in_tunnel(self, tunnel: TunnelKey) -> Self {
        FlowKey { tunnel, ..self }
    }

    /// The endpoint on `side`.
    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Low => self.low,
            Side::High => self.high,
        }
    }

    /// Bytes that identify the key in record ids; the tunnel's six bytes are appended only
    /// for tunnelled flows, so other flows keep the ids they had before tunnels were keyed.
    pub fn id_bytes(&self) -> ArrayVec<u8, 47> {
        let mut out = [0u8; 47];
        out[..16].copy_from_slice(&self.low.addr);
        out[16..32].copy_from_slice(&self.high.addr);
        out[32..34].copy_from_slice(&self.low.port.to_be_bytes());
        out[34..36].copy_from_slice(&self.high.port.to_be_bytes());
        out[36] = self.protocol;
        out[37..39].copy_from_slice(&self.vlans[0].to_be_bytes());
        out[39..41].copy_from_slice(&self.vlans[1].to_be_bytes());
        out[41] = self.tunnel.kind;
        out[42] = self.tunnel.depth;
        out[43..45].copy_from_slice(&self.tunnel.id[0].to_be_bytes());
        out[45..47].copy_from_slice(&self.tunnel.id[1].to_be_bytes());
        let mut bytes = ArrayVec::from(out);
        if self.tunnel.is_none() {
            bytes.truncate(41);
        }
        bytes
    }
}

impl Side {
    /// The other side.
    pub const fn other(self) -> Side {
        match self {
            Side::Low => Side::High,
            Side::High => Side::Low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let a = Endpoint::new("192.0.2.1".parse().unwrap(), 40000);
        let b = Endpoint::new("198.51.100.2".parse().unwrap(), 443);
        let (k1, s1) = FlowKey::new(a, b, 6, false, [0, 0]);
        let (k2, s2) = FlowKey::new(b, a, 6, false, [0, 0]);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.endpoint(s1), a);
        assert_eq!(a.ip(false), "192.0.2.1".parse::<IpAddr>().unwrap());
        let (k3, _) = FlowKey::new(a, b, 6, false, [10, 0]);
        assert_ne!(k1, k3, "VLAN separates flows");
    }

    #[test]
    fn tunnel_ids_separate_flows_and_round_trip() {
        let a = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let b = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
        let (plain, _) = FlowKey::new(a, b, 6, false, [0, 0]);
        let vni = |id| TunnelKey::new(TunnelKind::Vxlan, Some(id), 1);
        let (k1, k2) = (plain.in_tunnel(vni(100)), plain.in_tunnel(vni(200)));
        assert_ne!(k1, k2);
        assert_ne!(k1, plain);
        assert_ne!(k1.id_bytes(), k2.id_bytes());
        assert_eq!(plain.id_bytes().len(), 41);
        let key = TunnelKey::new(TunnelKind::Gre, Some(0xdead_beef), 2);
        assert_eq!(
            (key.kind(), key.id(), key.depth()),
            (Some(TunnelKind::Gre), Some(0xdead_beef), 2)
        );
        let unkeyed = TunnelKey::new(TunnelKind::Gre, None, 1);
        assert_eq!(unkeyed.id(), None);
        assert_ne!(unkeyed, TunnelKey::new(TunnelKind::Gre, Some(0), 1));
        assert!(TunnelKey::of(None).is_none());
    }
}
