//! Flow records: a bidirectional flow table fed from packet records, and the ECS flow
//! records it exports (see [`table`] for when records are emitted and what they count).

pub mod key;
mod shard;
pub mod table;
pub mod tcp;
pub mod writer;

use std::net::IpAddr;
use std::sync::Arc;

use arrayvec::ArrayVec;
use netsensor_schema::{
    Endpoint as EcsEndpoint, Event, FlowDetails, FlowRecord, InnerVlan, KeywordNumber, Netsensor,
    Network, Observer, OsGuess, PacketRecord, Related, SideService, Timestamp, Tunnel, Vlan,
    VlanIds,
};

use crate::decode::tcp_flags;
use crate::enrich::community_id::{community_id, icmp_ports};
use crate::enrich::os_guess::OS_SIGNATURES;
use crate::enrich::service::{is_insecure, port_service, server_service};
use crate::enrich::{Enricher, GeoIp};
use crate::records::id::{flow_id, observer_seed};
use crate::records::packet::transport_name;
use key::{Endpoint, FlowKey, Side, TunnelKey};
pub use table::FlowPacket;
pub use table::{EndReason, FlowCounters, FlowExport, FlowSettings, FlowTable};
use table::{FlowFacts, APP_PROTOCOLS};
pub use writer::{BackgroundFlowWriter, FlowWriter};

/// Keeps the flow table and turns its exports into NDJSON flow records.
#[derive(Debug)]
pub struct FlowRecorder {
    table: FlowTable,
    exports: Vec<FlowExport>,
    writer: FlowWriter,
}

impl FlowRecorder {
    /// A recorder for the given observer.
    pub fn new(
        settings: FlowSettings,
        enricher: Arc<Enricher>,
        observer: &str,
        host: &str,
    ) -> Self {
        FlowRecorder {
            table: FlowTable::new(settings),
            exports: Vec::new(),
            writer: FlowWriter::new(enricher, observer, host, observer_seed(observer)),
        }
    }

    /// Accounts a packet record (non-IP records are ignored).
    pub fn observe(&mut self, record: &PacketRecord<'_>) {
        if let Some(packet) = flow_packet(record) {
            self.table.observe(&packet, &mut self.exports);
        }
    }

    /// Accounts a packet given as the flow table's view of it; `app_protocol` names its
    /// application protocol and is called only when the flow still needs it.
    pub fn observe_packet(
        &mut self,
        packet: &FlowPacket,
        app_protocol: impl FnOnce() -> Option<&'static str>,
    ) {
        self.table.observe_with(
            packet,
            || app_protocol_code(app_protocol()),
            &mut self.exports,
        );
    }

    /// Exports what is due at `now_ns` (packet time on replay, wall clock live).
    pub fn expire(&mut self, now_ns: i64) {
        self.table.expire(now_ns, &mut self.exports);
    }

    /// Exports every open flow as final.
    pub fn flush_all(&mut self, reason: EndReason) {
        self.table.flush_all(reason, &mut self.exports);
    }

    /// Counters of the table.
    pub fn counters(&self) -> FlowCounters {
        self.table.counters()
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Writes the records exported so far to `out` as NDJSON; returns how many.
    pub fn write_ndjson(&mut self, out: &mut Vec<u8>) -> Result<usize, serde_json::Error> {
        let result = self.writer.write(&self.exports, out);
        self.exports.clear();
        result
    }

    /// The writer of this recorder's records, e.g. to run it on another thread.
    pub fn writer(&self) -> FlowWriter {
        self.writer.clone()
    }

    /// Hands the records exported so far to `background` instead of writing them here.
    pub fn hand_over(&mut self, background: &mut BackgroundFlowWriter) {
        background.submit(&mut self.exports);
    }
}

/// What the flow table needs from a packet record (the path used when packet records or
/// rollups are built anyway; [`crate::records::packet::PacketBuilder::with_flow_packet`]
/// derives the same from the decoded headers when flows are the only consumer).
fn flow_packet(record: &PacketRecord<'_>) -> Option<FlowPacket> {
    let (src_ip, dst_ip) = (record.source.ip?, record.destination.ip?);
    let protocol = u8::try_from(record.network.iana_number?.0).ok()?;
    let ns = &record.netsensor;
    let ports = match (&ns.icmp, record.source.port, record.destination.port) {
        (Some(icmp), ..) => {
            let (sport, dport, _) = icmp_ports(src_ip.is_ipv6(), icmp.type_, icmp.code);
            (sport, dport)
        }
        (None, Some(sport), Some(dport)) => (sport, dport),
        _ => (0, 0),
    };
    let vlan = |v: Option<&Vlan>| v.map_or(0, |v| v.id.0 as u16);
    let vlans = [
        vlan(record.network.vlan.as_ref()),
        vlan(record.network.inner.map(|i| i.vlan).as_ref()),
    ];
    let country = |endpoint: &EcsEndpoint<'_>| {
        country_code(endpoint.geo.as_ref().and_then(|g| g.country_iso_code))
    };
    let tunnel = ns.tunnel.as_ref().map_or_else(TunnelKey::default, |t| {
        crate::decode::TunnelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == t.type_)
            .map_or_else(TunnelKey::default, |kind| {
                TunnelKey::new(kind, t.id, t.depth)
            })
    });
    let packet = FlowPacket::new(
        FlowHeaders {
            src: src_ip,
            dst: dst_ip,
            protocol,
            ports,
            vlans,
            time_ns: record.timestamp.0,
            bytes: record.network.bytes,
            packet_id: record.event.id.0 as u64,
            tcp: ns
                .tcp
                .as_ref()
                .map(|t| (t.flag_bits, t.seq, t.ack, t.payload_length)),
        },
        record.network.protocol,
        ns.os.as_ref().map(|os| os.name),
        [country(&record.source), country(&record.destination)],
        record.network.direction,
    );
    Some(packet.in_tunnel(tunnel))
}

/// The header facts of one packet that make its flow key and counts.
#[derive(Debug, Clone, Copy)]
pub struct FlowHeaders {
    /// Source address (pseudonymised when the records are).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IANA protocol number.
    pub protocol: u8,
    /// Source and destination port (ICMP: the Community ID type/code mapping; 0 without).
    pub ports: (u16, u16),
    /// Outer and inner VLAN ids (0: none).
    pub vlans: [u16; 2],
    /// Capture time (ns).
    pub time_ns: i64,
    /// Wire length.
    pub bytes: u64,
    /// The packet's record id (low 64 bits).
    pub packet_id: u64,
    /// TCP flags, seq, ack and payload length.
    pub tcp: Option<(u8, u32, u32, u32)>,
}

impl FlowPacket {
    /// The flow table's view of a packet: its key, side and counts, and the small facts
    /// (application protocol, OS guess of the sender, countries of source and destination,
    /// `network.direction`) encoded as the table keeps them.
    pub fn new(
        headers: FlowHeaders,
        app_protocol: Option<&str>,
        sender_os: Option<&str>,
        countries: [[u8; 2]; 2],
        direction: &str,
    ) -> FlowPacket {
        let (src_port, dst_port) = headers.ports;
        let (key, side) = FlowKey::new(
            Endpoint::new(headers.src, src_port),
            Endpoint::new(headers.dst, dst_port),
            headers.protocol,
            headers.src.is_ipv6(),
            headers.vlans,
        );
        let mut facts = FlowFacts {
            app_protocol: app_protocol_code(app_protocol),
            direction: match direction {
                "ingress" => 1,
                "egress" => 2,
                _ => 0,
            },
            ..FlowFacts::default()
        };
        let sender = usize::from(side == Side::High);
        if let Some(name) = sender_os {
            facts.os[sender] = OS_SIGNATURES
                .iter()
                .position(|s| s.name == name)
                .map_or(0, |i| (i + 1) as u8);
        }
        facts.countries[sender] = countries[0];
        facts.countries[sender ^ 1] = countries[1];
        FlowPacket {
            key,
            side,
            time_ns: headers.time_ns,
            bytes: headers.bytes,
            packet_id: headers.packet_id,
            tcp: headers.tcp,
            facts,
        }
    }
}

impl FlowPacket {
    /// The same packet, keyed in `tunnel` (from [`TunnelKey::of`] on the decoded frame's
    /// [`crate::decode::Decoded::tunnel`]): callers that build a [`FlowPacket`] from
    /// decoded headers add the tunnel this way.
    pub fn in_tunnel(self, tunnel: TunnelKey) -> Self {
        FlowPacket {
            key: self.key.in_tunnel(tunnel),
            ..self
        }
    }
}

/// An application protocol as the flow table keeps it (0: unknown).
fn app_protocol_code(name: Option<&str>) -> u8 {
    name.and_then(|name| APP_PROTOCOLS.iter().position(|p| *p == name))
        .map_or(0, |i| i as u8 + 1)
}

/// A country code as the flow table keeps it (`[0, 0]`: unknown).
pub fn country_code(iso_code: Option<&str>) -> [u8; 2] {
    iso_code
        .and_then(|c| c.as_bytes().try_into().ok())
        .unwrap_or([0, 0])
}

/// Builds the ECS flow record of one export.
fn flow_record<'a>(
    export: &FlowExport,
    enricher: &'a Enricher,
    observer: Observer<'a>,
    id_seed: u64,
) -> FlowRecord<'a> {
    let key = &export.key;
    let init_side = export.initiator;
    let (init, resp) = (key.endpoint(init_side), key.endpoint(init_side.other()));
    let (init_ip, resp_ip) = (init.ip(key.v6), resp.ip(key.v6));
    let icmp = matches!(key.protocol, 1 | 58);
    let has_ports = matches!(key.protocol, 6 | 17 | 132);
    let country_index = |side: Side| usize::from(side == Side::High);
    let endpoint = |ip: IpAddr, port: u16, side: Side, dir: usize| {
        let (geo, asn) = if enricher.pseudonymizer.is_none() {
            enricher.geoip.lookup(ip)
        } else {
            let code = export.facts.countries[country_index(side)];
            let geo = std::str::from_utf8(&code).ok().and_then(GeoIp::country_geo);
            (geo, None)
        };
        EcsEndpoint {
            ip: Some(ip),
            port: has_ports.then_some(port),
            mac: None,
            bytes: Some(export.bytes[dir]),
            packets: Some(export.packets[dir]),
            geo,
            as_: asn,
        }
    };
    let app_protocol = usize::from(export.facts.app_protocol)
        .checked_sub(1)
        .and_then(|i| APP_PROTOCOLS.get(i).copied());
    let service = has_ports
        .then(|| server_service(key.protocol, init.port, resp.port).map(|(s, _)| s))
        .flatten();
    let side_service = |port| {
        has_ports
            .then(|| port_service(key.protocol, port))
            .flatten()
            .map(|service| SideService { service })
    };
    let os = usize::from(export.facts.os[country_index(init_side)])
        .checked_sub(1)
        .and_then(|i| OS_SIGNATURES.get(i))
        .map(|sig| OsGuess { name: sig.name });
    let ports = (has_ports || icmp).then_some((init.port, resp.port));
    let vlan_ids: ArrayVec<KeywordNumber, { netsensor_schema::MAX_VLAN_TAGS }> = key
        .vlans
        .iter()
        .take_while(|&&id| id != 0)
        .map(|&id| KeywordNumber(u32::from(id)))
        .collect();
    let mut related = Related::default();
    related.ip.push(init_ip);
    if resp_ip != init_ip {
        related.ip.push(resp_ip);
    }
    let (start, end) = (Timestamp(export.span.0), Timestamp(export.span.1));
    FlowRecord {
        timestamp: start,
        event: Event::flow(
            flow_id(
                id_seed,
                &key.id_bytes(),
                export.first_seen,
                export.opener,
                export.sequence,
            ),
            start,
            end,
            export.reason.is_final(),
        ),
        observer,
        network: Network {
            type_: Some(if key.v6 { "ipv6" } else { "ipv4" }),
            transport: Some(transport_name(key.protocol)),
            iana_number: Some(KeywordNumber(u32::from(key.protocol))),
            protocol: app_protocol,
            direction: match export.facts.direction {
                1 => "ingress",
                2 => "egress",
                _ => "unknown",
            },
            bytes: export.bytes[0] + export.bytes[1],
            packets: export.packets[0] + export.packets[1],
            community_id: Some(community_id(
                enricher.community_id_seed,
                init_ip,
                resp_ip,
                key.protocol,
                ports,
            )),
            vlan: vlan_ids.first().map(|&id| Vlan { id }),
            inner: vlan_ids.get(1).map(|&id| InnerVlan { vlan: Vlan { id } }),
        },
        source: endpoint(init_ip, init.port, init_side, 0),
        destination: endpoint(resp_ip, resp.port, init_side.other(), 1),
        related,
        netsensor: Netsensor {
            service,
            source: side_service(init.port),
            destination: side_service(resp.port),
            vlan: (!vlan_ids.is_empty()).then(|| VlanIds {
                ids: vlan_ids.clone(),
            }),
            os,
            insecure: is_insecure(service, app_protocol),
            tunnel: key.tunnel.kind().map(|kind| Tunnel {
                type_: kind.as_str(),
                id: key.tunnel.id(),
                source: None,
                destination: None,
                depth: key.tunnel.depth(),
            }),
            flow: Some(FlowDetails {
                state: export.state,
                last: export.reason.is_final(),
                start: Timestamp(export.first_seen),
                sequence: export.sequence,
                end_reason: export.reason.as_str(),
                tcp_flags: tcp_flags::NAMES
                    .iter()
                    .filter(|(bit, _)| export.tcp_flags & bit != 0)
                    .map(|&(_, name)| name)
                    .collect(),
            }),
            ..Netsensor::default()
        },
    }
}
