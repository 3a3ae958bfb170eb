//! Community ID v1 flow hashing (<https://github.com/corelight/community-id-spec>).
//!
//! The id lets users pivot from our records to Zeek, Suricata or Elastic Agent data about
//! the same flow with one string comparison, so it must match the reference implementation
//! (pycommunityid) bit for bit: the tests replay the spec's baseline files.
//!
//! Hash input, all in network byte order: seed (2 bytes) · lower endpoint address ·
//! higher endpoint address · IP protocol (1 byte) · 0 (1 byte) · lower endpoint port ·
//! higher endpoint port (2 bytes each, omitted for port-less protocols). The id is
//! `"1:"` followed by the base64 of the SHA-1 digest. Everything runs in stack buffers: no
//! heap allocation per packet.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use netsensor_schema::CommunityId;
use sha1::{Digest as _, Sha1};

/// IP protocol number of ICMP.
const PROTO_ICMP: u8 = 1;
/// IP protocol number of ICMPv6.
const PROTO_ICMPV6: u8 = 58;

/// Length of `"1:"` plus the 28 base64 characters of a 20-byte SHA-1 digest.
const ID_LEN: usize = 30;

/// Community ID v1 of one packet's endpoints.
///
/// `ports` is the endpoint pair as the spec sees it: for TCP, UDP and SCTP the
/// (source, destination) ports; for ICMP (`proto` 1) and ICMPv6 (`proto` 58) the message's
/// (type, code), which this function maps with [`icmp_ports`] (the mapping is idempotent,
/// so values that are already mapped give the same id); `None` for port-less protocols
/// (the hash then covers addresses and protocol only).
///
/// Both directions of a flow give the same id: endpoints are ordered by address, then by
/// port. One-way ICMP messages (errors, unsolicited messages) are never reordered, as in
/// pycommunityid and Zeek.
///
/// Both addresses of a packet always share a family. If they do not, no error is raised:
/// the id covers the bytes as given (4 and 16 of them), ordered by byte-wise comparison,
/// which is what pycommunityid computes for such a tuple. This never panics.
pub fn community_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
) -> CommunityId {
    let (ports, one_way) = match (proto, ports) {
        (PROTO_ICMP | PROTO_ICMPV6, Some((icmp_type, icmp_code))) => {
            let (sport, dport, one_way) = map_icmp(proto == PROTO_ICMPV6, icmp_type, icmp_code);
            (Some((sport, dport)), one_way)
        }
        (_, ports) => (ports, false),
    };

    let src = AddrBytes::new(src);
    let dst = AddrBytes::new(dst);
    let (sport, dport) = match ports {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    let ordered = one_way
        || src.as_slice() < dst.as_slice()
        || (src.as_slice() == dst.as_slice() && sport < dport);
    let (first, second, first_port, second_port) = if ordered {
        (src, dst, sport, dport)
    } else {
        (dst, src, dport, sport)
    };

    let mut hasher = Sha1::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(first.as_slice());
    hasher.update(second.as_slice());
    hasher.update([proto, 0]);
    if let (Some(a), Some(b)) = (first_port, second_port) {
        hasher.update(a.to_be_bytes());
        hasher.update(b.to_be_bytes());
    }
    let digest = hasher.finalize();

    let mut id = [b'='; ID_LEN];
    let (prefix, rest) = id.split_at_mut(2);
    prefix.copy_from_slice(b"1:");
    // A 20-byte digest always encodes to exactly 28 characters, which `rest` holds.
    let written = STANDARD.encode_slice(digest, rest).unwrap_or(0);
    debug_assert_eq!(written, ID_LEN - 2);
    CommunityId(id)
}

/// ICMP (`v6 = false`) / ICMPv6 (`v6 = true`) type/code → (sport, dport, one_way) per the
/// spec's mapping table (taken from Zeek).
///
/// Request/response types map to (type, counterpart type) so that both directions of an
/// exchange land in one flow: ICMP echo 8↔0, timestamp 13↔14, information 15↔16, router
/// solicitation 10↔9, address mask 17↔18; ICMPv6 echo 128↔129, MLD query/report 130↔131,
/// router 133↔134 and neighbor 135↔136 solicitation/advertisement, who-are-you 139↔140,
/// home agent address discovery 144↔145. Every other type is one-way and maps to
/// (type, code).
pub fn icmp_ports(v6: bool, icmp_type: u8, icmp_code: u8) -> (u16, u16, bool) {
    map_icmp(v6, u16::from(icmp_type), u16::from(icmp_code))
}

/// [`icmp_ports`] over port-sized values; a "type" above 255 has no counterpart.
fn map_icmp(v6: bool, icmp_type: u16, icmp_code: u16) -> (u16, u16, bool) {
    let counterpart = u8::try_from(icmp_type).ok().and_then(|t| {
        if v6 {
            icmpv6_counterpart(t)
        } else {
            icmpv4_counterpart(t)
        }
    });
    match counterpart {
        Some(other) => (icmp_type, u16::from(other), false),
        None => (icmp_type, icmp_code, true),
    }
}

/// The ICMP type answering (or answered by) `icmp_type`, if it is a two-way message.
fn icmpv4_counterpart(icmp_type: u8) -> Option<u8> {
    match icmp_type {
        8 => Some(0),   // echo request → echo reply
        0 => Some(8),   // echo reply → echo request
        13 => Some(14), // timestamp
        14 => Some(13), // timestamp reply
        15 => Some(16), // information request
        16 => Some(15), // information reply
        10 => Some(9),  // router solicitation
        9 => Some(10),  // router advertisement
        17 => Some(18), // address mask request
        18 => Some(17), // address mask reply
        _ => None,
    }
}

/// The ICMPv6 type answering (or answered by) `icmp_type`, if it is a two-way message.
fn icmpv6_counterpart(icmp_type: u8) -> Option<u8> {
    match icmp_type {
        128 => Some(129), // echo request
        129 => Some(128), // echo reply
        130 => Some(131), // MLD listener query
        131 => Some(130), // MLD listener report
        133 => Some(134), // router solicitation
        134 => Some(133), // router advertisement
        135 => Some(136), // neighbor solicitation
        136 => Some(135), // neighbor advertisement
        139 => Some(140), // who-are-you request
        140 => Some(139), // who-are-you reply
        144 => Some(145), // home agent address discovery request
        145 => Some(144), // home agent address discovery reply
        _ => None,
    }
}

/// An address in network byte order, on the stack.
#[derive(Clone, Copy)]
struct AddrBytes {
    buf: [u8; 16],
    len: usize,
}

impl AddrBytes {
    fn new(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let mut buf = [0; 16];
                let (head, _) = buf.split_at_mut(4);
                head.copy_from_slice(&v4.octets());
                Self { buf, len: 4 }
            }
            IpAddr::V6(v6) => Self {
                buf: v6.octets(),
                len: 16,
            },
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[derive(serde::Deserialize)]
    struct BaselineEntry {
        proto: u8,
        saddr: IpAddr,
        daddr: IpAddr,
        sport: Option<u16>,
        dport: Option<u16>,
        communityid: String,
    }

    fn baseline(name: &str) -> Vec<BaselineEntry> {
        let path = format!(
            "{}/../dev/fixtures/pcaps/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn check_baseline(name: &str, seed: u16) {
        let entries = baseline(name);
        assert_eq!(entries.len(), 23, "{name}: the spec baseline has 23 tuples");
        for e in &entries {
            let ports = e.sport.zip(e.dport);
            let id = community_id(seed, e.saddr, e.daddr, e.proto, ports);
            assert_eq!(
                id.as_str(),
                e.communityid,
                "{name}: proto {} {} {:?} -> {} {:?}",
                e.proto,
                e.saddr,
                e.sport,
                e.daddr,
                e.dport
            );
        }
    }

    #[test]
    fn spec_baseline_default_seed() {
        check_baseline("cid-spec-baseline_deflt.json", 0);
    }

    #[test]
    fn spec_baseline_seed_1() {
        check_baseline("cid-spec-baseline_seed1.json", 1);
    }

    /// The baseline's ICMP ports are already mapped; feeding (type, port-as-code) through
    /// `icmp_ports` must reproduce them (two-way types give their counterpart, one-way types
    /// keep their code).
    #[test]
    fn baseline_icmp_ports_match_mapping() {
        let mut checked = 0;
        for e in baseline("cid-spec-baseline_deflt.json") {
            if e.proto != PROTO_ICMP && e.proto != PROTO_ICMPV6 {
                continue;
            }
            let (Some(sport), Some(dport)) = (e.sport, e.dport) else {
                panic!("ICMP w/o ports")
            };
            let t = u8::try_from(sport).unwrap();
            let c = u8::try_from(dport).unwrap();
            let (s, d, _) = icmp_ports(e.proto == PROTO_ICMPV6, t, c);
            assert_eq!((s, d), (sport, dport), "{} -> {}", e.saddr, e.daddr);
            checked += 1;
        }
        assert_eq!(checked, 13);
    }

    /// One parsed table row: proto, src, dst, ports, expected ids.
    type Row<'a> = (u8, IpAddr, IpAddr, Option<(u16, u16)>, Vec<&'a str>);

    /// Parses `proto src dst sport dport id…` rows; `-` for absent ports.
    fn rows(table: &str) -> impl Iterator<Item = Row<'_>> {
        table
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let ports = match (f[3], f[4]) {
                    ("-", "-") => None,
                    (s, d) => Some((s.parse().unwrap(), d.parse().unwrap())),
                };
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    ports,
                    f[5..].to_vec(),
                )
            })
    }

    /// The spec README's hand-picked table: proto, src, dst, ports, id with seed 0, id with
    /// seed 1. ICMP and ICMPv6 rows are given as raw type/code (echo reply is 0/0), so the
    /// function's own mapping is exercised.
    #[test]
    fn spec_readme_table() {
        const A6: &str = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
        const B6: &str = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";
        let table = format!(
            "
            6   1.2.3.4 5.6.7.8 1122 3344 1:wCb3OG7yAFWelaUydu0D+125CLM= 1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=
            6   5.6.7.8 1.2.3.4 3344 1122 1:wCb3OG7yAFWelaUydu0D+125CLM= 1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=
            17  1.2.3.4 5.6.7.8 1122 3344 1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg= 1:OShq+iKDAMVouh/4bMxB9Sz4amw=
            17  5.6.7.8 1.2.3.4 3344 1122 1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg= 1:OShq+iKDAMVouh/4bMxB9Sz4amw=
            132 1.2.3.4 5.6.7.8 1122 3344 1:EKt4MsxuyaE6mL+hmrEkQ9csDD8= 1:uitchpn5MMGAQKBJh7bIr/bAr7s=
            132 5.6.7.8 1.2.3.4 3344 1122 1:EKt4MsxuyaE6mL+hmrEkQ9csDD8= 1:uitchpn5MMGAQKBJh7bIr/bAr7s=
            # ICMP echo request and reply; time exceeded (one-way)
            1   1.2.3.4 5.6.7.8 8    0    1:crodRHL2FEsHjbv3UkRrfbs4bZ0= 1:9pr4ZGTICiuZoIh90RRYE2RyXpU=
            1   5.6.7.8 1.2.3.4 0    0    1:crodRHL2FEsHjbv3UkRrfbs4bZ0= 1:9pr4ZGTICiuZoIh90RRYE2RyXpU=
            1   1.2.3.4 5.6.7.8 11   0    1:f/YiSyWqczrTgfUCZlBUnvHRcPk= 1:1DD7cWGC/Yg91YGsQeni8du3pIA=
            # ICMPv6 echo request and reply; type 146 (one-way)
            58  {A6} {B6} 128 0 1:0bf7hyMJUwt3fMED7z8LIfRpBeo= 1:IO27GQzPuCtNnwFvjWALMHu5tJE=
            58  {B6} {A6} 129 0 1:0bf7hyMJUwt3fMED7z8LIfRpBeo= 1:IO27GQzPuCtNnwFvjWALMHu5tJE=
            58  {A6} {B6} 146 0 1:fYC8+pz24E+EhANP1EZhpX0Dw10= 1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=
            # RSVP: port-less
            46  1.2.3.4 5.6.7.8 - - 1:ikv3kmf89luf73WPz1jOs49S768= 1:/buhqeOmaRCopOZFy9HnoJd5XW8=
            46  5.6.7.8 1.2.3.4 - - 1:ikv3kmf89luf73WPz1jOs49S768= 1:/buhqeOmaRCopOZFy9HnoJd5XW8=
            46  {A6} {B6}       - - 1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0= 1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=
            46  {B6} {A6}       - - 1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0= 1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=
            "
        );
        let mut n = 0;
        for (proto, src, dst, ports, ids) in rows(&table) {
            for (seed, expected) in [(0, ids[0]), (1, ids[1])] {
                let id = community_id(seed, src, dst, proto, ports);
                assert_eq!(
                    id.as_str(),
                    expected,
                    "seed {seed}: {proto} {src} {dst} {ports:?}"
                );
            }
            n += 1;
        }
        assert_eq!(n, 16);
    }

    /// Values from `tshark --enable-protocol communityid` (Wireshark's own implementation,
    /// seed 0) over repo fixtures, and Suricata's expectations in the suricata-verify files
    /// (seed 1 and 7). Columns: seed, proto, src, dst, ports or raw ICMP type/code, id.
    #[test]
    fn matches_tshark_and_suricata() {
        let table = "
            # icmp-echo.pcap: reply given as raw 0/0, and the request
            0 1   172.217.11.78 172.16.133.2 0 0 1:gp8b/PCBmrLjQ2f9cKsFjc1+900=
            0 1   172.16.133.2 172.217.11.78 8 0 1:gp8b/PCBmrLjQ2f9cKsFjc1+900=
            # icmp6-echo.pcap
            0 58  2001:4860:8006::63 2620:0:e00:400e:d1d:db37:beb:5aac 129 0 1:CK4vAOXRvkt0H1zTqK7KQ1ZQong=
            # icmp-unreach-port-udp.pcap: one-way, higher source address must not be swapped
            0 1   192.168.1.102 192.168.1.1 3 3 1:GGvyj18dEx42K7edkkcDklsnKqs=
            # icmp6-unreach-embedded-ext.pcap: same for ICMPv6 destination unreachable
            0 58  fe80::dead fe80::beef 1 0 1:yKjGzNwCjlAeVWScG1SfMn5ewIE=
            # icmp6-nd-mld-options.pcap: neighbor solicitation; MLDv2 report (143, one-way)
            0 58  :: ff02::1:fff5:0 135 0 1:ATo6nBDRD9KwEIPVRBiYSPWK0UM=
            0 58  fe80::c000:54ff:fef5:0 ff02::16 143 0 1:N7F+ZbfCXg77HJEYKUgBa0LZ/tY=
            # udp-localhost.pcap: same address, ports decide
            0 17  127.0.0.1 127.0.0.1 12345 31337 1:eXUvjnMSyQ6GnhJvlmwmZp0+++Q=
            0 17  127.0.0.1 127.0.0.1 31337 12345 1:eXUvjnMSyQ6GnhJvlmwmZp0+++Q=
            # cid-spec-sctp.pcap
            0 132 192.168.170.8 192.168.170.56 7 7 1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=
            # cid-suricata-sameip-seed1.pcap: tshark (seed 0), Suricata (seed 1)
            0 6   192.168.0.254 192.168.0.254 3306 56162 1:0HUQbshhYbATQXDHv/ysOs0DlZA=
            1 6   192.168.0.254 192.168.0.254 56162 3306 1:IJQHtzXv/tXud3FtXIufkDsfEd4=
            # cid-suricata-ipv4-seed7 and -ipv6-seed7 (Suricata, seed 7)
            7 6   172.26.0.39 172.217.14.206 35958 443 1:IwiTNfuO7aCaamMijl+7/X9uLx0=
            7 6   2600:1f13:f8:d400:3a6:303c:e011:18eb 2607:f8b0:400a:800::200e 60202 443 1:ptJhMvufAbB5nLDNW77cB800wFM=
            7 6   2001:4860:4860::8888 2600:1f13:f8:d400:3a6:303c:e011:18eb 443 33892 1:PGf+a0eBbs1OhuPtJmsF0Sm51v4=
        ";
        let mut n = 0;
        for line in table
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        {
            let (seed, rest) = line.trim().split_once(' ').unwrap();
            let seed: u16 = seed.parse().unwrap();
            for (proto, src, dst, ports, ids) in rows(rest) {
                let id = community_id(seed, src, dst, proto, ports);
                assert_eq!(
                    id.as_str(),
                    ids[0],
                    "seed {seed}: {proto} {src} {dst} {ports:?}"
                );
                n += 1;
            }
        }
        assert_eq!(n, 15);
    }

    #[test]
    fn icmp_mapping_table() {
        // Two-way ICMP types map to their counterpart whatever the code.
        for (t, other) in [
            (8, 0),
            (0, 8),
            (13, 14),
            (14, 13),
            (15, 16),
            (16, 15),
            (10, 9),
            (9, 10),
            (17, 18),
            (18, 17),
        ] {
            assert_eq!(
                icmp_ports(false, t, 5),
                (u16::from(t), other, false),
                "icmp {t}"
            );
        }
        for (t, other) in [
            (128, 129),
            (129, 128),
            (130, 131),
            (131, 130),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (139, 140),
            (140, 139),
            (144, 145),
            (145, 144),
        ] {
            assert_eq!(
                icmp_ports(true, t, 5),
                (u16::from(t), other, false),
                "icmpv6 {t}"
            );
        }
        // One-way: (type, code).
        assert_eq!(icmp_ports(false, 3, 3), (3, 3, true));
        assert_eq!(icmp_ports(false, 11, 1), (11, 1, true));
        assert_eq!(
            icmp_ports(false, 128, 0),
            (128, 0, true),
            "128 is only special in ICMPv6"
        );
        assert_eq!(
            icmp_ports(true, 8, 0),
            (8, 0, true),
            "8 is only special in ICMPv4"
        );
        assert_eq!(icmp_ports(true, 1, 4), (1, 4, true));
        assert_eq!(icmp_ports(true, 143, 0), (143, 0, true));
    }

    #[test]
    fn format_and_symmetry() {
        let a = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let id = community_id(0, a, b, 6, Some((1, 2)));
        assert_eq!(id.0.len(), 30);
        assert!(id.as_str().starts_with("1:"));
        assert!(id.as_str().ends_with('='));
        assert_eq!(id.as_str(), community_id(0, b, a, 6, Some((2, 1))).as_str());
        assert_ne!(id.as_str(), community_id(1, a, b, 6, Some((1, 2))).as_str());
    }

    #[test]
    fn mixed_families_do_not_panic_and_stay_symmetric() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v6: IpAddr = "::1".parse().unwrap();
        let x = community_id(0, v4, v6, 17, Some((1000, 53)));
        let y = community_id(0, v6, v4, 17, Some((53, 1000)));
        assert_eq!(x.as_str(), y.as_str());
        // Hash over seed · ::1 · 10.0.0.1 (byte-wise order: 0x00… < 0x0a…) · 17 · 0 · ports.
        let mut input = Vec::new();
        input.extend_from_slice(&0u16.to_be_bytes());
        input.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        input.extend_from_slice(&[10, 0, 0, 1, 17, 0]);
        input.extend_from_slice(&53u16.to_be_bytes());
        input.extend_from_slice(&1000u16.to_be_bytes());
        let expected = format!("1:{}", STANDARD.encode(Sha1::digest(&input)));
        assert_eq!(x.as_str(), expected);
    }
}
