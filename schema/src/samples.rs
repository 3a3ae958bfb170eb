//! Sample records with every field of their kind populated, for tests here and downstream:
//! the schema's own field-table check, the index-template mapping tests and the dashboard
//! proofs all build on the same records instead of keeping copies.

use std::net::{IpAddr, Ipv4Addr};

use crate::*;

/// A packet record with every optional part populated; DNS answers, resolved addresses
/// and text come from the caller (they are what the record borrows).
pub fn packet<'a>(
    answers: &'a [DnsAnswerSpan],
    resolved: &'a [IpAddr],
    text: &'a str,
) -> PacketRecord<'a> {
    let ip_a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let ip_b = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let geo = Geo {
        country_iso_code: Some("DE"),
        country_name: Some("Germany"),
        continent_name: Some("Europe"),
        city_name: Some("Berlin"),
        location: Some(GeoPoint {
            lat: 52.5,
            lon: 13.4,
        }),
    };
    let asn = AutonomousSystem {
        number: Some(64500),
        organization: Some(Organization { name: "Example" }),
    };
    let endpoint = |ip| Endpoint {
        ip: Some(ip),
        port: Some(443),
        mac: Some(Mac([1, 2, 3, 4, 5, 6])),
        bytes: None,
        packets: None,
        geo: Some(geo),
        as_: Some(asn),
    };
    PacketRecord {
        timestamp: Timestamp(1),
        event: Event::packet(EventId(7)),
        observer: Observer {
            name: "s",
            hostname: "h",
            type_: "sensor",
            product: "netsensor",
            version: "0",
            ingress: Some(Ingress {
                interface: Interface { name: "eth0" },
            }),
        },
        network: Network {
            type_: Some("ipv4"),
            transport: Some("tcp"),
            iana_number: Some(KeywordNumber(6)),
            protocol: Some("tls"),
            direction: "ingress",
            bytes: 60,
            packets: 1,
            community_id: Some(CommunityId([b'x'; 30])),
            vlan: Some(Vlan {
                id: KeywordNumber(10),
            }),
            inner: Some(InnerVlan {
                vlan: Vlan {
                    id: KeywordNumber(20),
                },
            }),
        },
        source: endpoint(ip_a),
        destination: endpoint(ip_b),
        related: Related {
            ip: [ip_a, ip_b].into_iter().collect(),
        },
        dns: Some(Dns {
            id: 1,
            type_: "answer",
            op_code: "QUERY",
            response_code: Some("NOERROR"),
            header_flags: ["RD"].into_iter().collect(),
            question: Some(DnsQuestion {
                name: "a.example.com",
                type_: "A",
                class: "IN",
                registered_domain: Some("example.com"),
            }),
            answers: DnsAnswers {
                text,
                items: answers,
            },
            resolved_ip: resolved,
        }),
        tls: Some(Tls {
            version: Some("1.3"),
            version_protocol: "tls",
            client: TlsClient {
                server_name: Some("example.com"),
                ja3: Some("abc"),
            },
        }),
        http: Some(Http {
            request: Some(HttpRequest { method: "GET" }),
            response: Some(HttpResponse { status_code: 200 }),
            version: Some("1.1"),
        }),
        url: Some(Url {
            original: "/",
            domain: Some("example.com"),
        }),
        user_agent: Some(UserAgent { original: "curl" }),
        netsensor: Netsensor {
            service: Some("https"),
            source: Some(SideService { service: "https" }),
            destination: Some(SideService { service: "https" }),
            vlan: Some(VlanIds {
                ids: [KeywordNumber(10)].into_iter().collect(),
            }),
            ip: Some(IpDetails {
                id: Some(1),
                header_length: Some(20),
                df: Some(true),
                flow_label: Some(0),
                ..IpDetails::default()
            }),
            tcp: Some(TcpDetails {
                flags: ["SYN"].into_iter().collect(),
                mss: Some(1460),
                window_scale: Some(7),
                options: "M1460",
                ..TcpDetails::default()
            }),
            udp: Some(UdpDetails { length: 8 }),
            icmp: Some(IcmpDetails { type_: 8, code: 0 }),
            packet: Some(PacketDetails::default()),
            os: Some(OsGuess { name: "Linux" }),
            insecure: true,
            flow: None,
            tunnel: Some(Tunnel {
                type_: "vxlan",
                id: Some(100),
                source: Some(TunnelEndpoint { ip: ip_a }),
                destination: Some(TunnelEndpoint { ip: ip_b }),
                depth: 1,
            }),
            mpls: Some(Mpls {
                labels: [16, 17].into_iter().collect(),
            }),
            sample_rate: SampleRate(1),
        },
    }
}

/// A final flow record with every field, at `ns` with event id `id`.
pub fn flow(ns: i64, id: u128) -> FlowRecord<'static> {
    let packet = packet(&[], &[], "");
    let with_volume = |endpoint: &Endpoint<'static>| Endpoint {
        mac: None,
        bytes: Some(100),
        packets: Some(2),
        ..endpoint.clone()
    };
    FlowRecord {
        timestamp: Timestamp(ns),
        event: Event::flow(EventId(id), Timestamp(ns), Timestamp(ns + 4), true),
        observer: Observer {
            ingress: None,
            ..packet.observer.clone()
        },
        network: packet.network.clone(),
        source: with_volume(&packet.source),
        destination: with_volume(&packet.destination),
        related: packet.related.clone(),
        netsensor: Netsensor {
            service: Some("https"),
            source: Some(SideService { service: "https" }),
            destination: Some(SideService { service: "https" }),
            vlan: packet.netsensor.vlan.clone(),
            os: Some(OsGuess { name: "Linux" }),
            insecure: true,
            flow: Some(FlowDetails {
                state: "closed",
                last: true,
                start: Timestamp(ns),
                sequence: 0,
                end_reason: "fin",
                tcp_flags: ["SYN", "FIN"].into_iter().collect(),
            }),
            tunnel: packet.netsensor.tunnel.map(|tunnel| Tunnel {
                source: None,
                destination: None,
                ..tunnel
            }),
            ..Netsensor::default()
        },
    }
}

/// A top-N rollup record with every field, at `ns` with event id `id`.
pub fn rollup(ns: i64, id: u128) -> RollupRecord<'static> {
    let packet = packet(&[], &[], "");
    RollupRecord {
        timestamp: Timestamp(ns),
        event: Event::rollup(EventId(id), Timestamp(ns), Timestamp(ns + 10)),
        observer: Observer {
            ingress: None,
            ..packet.observer.clone()
        },
        network: Volume {
            bytes: 10,
            packets: 1,
        },
        netsensor: RollupNetsensor {
            rollup: RollupDetails {
                interval_ms: 10_000,
                dimension: "destination",
                key: "192.0.2.1",
                rank: Some(1),
            },
        },
    }
}
