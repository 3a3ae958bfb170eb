//! The bidirectional flow key: both endpoints in a canonical order, so the two directions
//! of a conversation find the same entry.

use std::net::{IpAddr, Ipv6Addr};

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

/// A flow's identity: the two endpoints in canonical order, the transport, the family and
/// the VLAN tags (outer, inner; 0 when absent), so the same 5-tuple on two VLANs is two flows.
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
                },
                Side::High,
            )
        }
    }

    /// The endpoint on `side`.
    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Low => self.low,
            Side::High => self.high,
        }
    }

    /// Bytes that identify the key in record ids.
    pub fn id_bytes(&self) -> [u8; 41] {
        let mut out = [0u8; 41];
        out[..16].copy_from_slice(&self.low.addr);
        out[16..32].copy_from_slice(&self.high.addr);
        out[32..34].copy_from_slice(&self.low.port.to_be_bytes());
        out[34..36].copy_from_slice(&self.high.port.to_be_bytes());
        out[36] = self.protocol;
        out[37..39].copy_from_slice(&self.vlans[0].to_be_bytes());
        out[39..41].copy_from_slice(&self.vlans[1].to_be_bytes());
        out
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
}
