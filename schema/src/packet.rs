//! The packet record and the ECS objects it is made of.
//!
//! Every optional field is skipped when empty, so a record carries only what was decoded.
//! Field names follow ECS; `netsensor.*` holds what ECS lacks (see `record-schema.md`).

use std::net::IpAddr;
use std::ops::Range;

use arrayvec::ArrayVec;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::values::{CommunityId, EventId, KeywordNumber, Mac, Timestamp};

/// Most VLAN tags kept per frame (outermost first); deeper stacks keep the outer ones.
pub const MAX_VLAN_TAGS: usize = 4;

/// Most MPLS labels kept per frame (top of stack first); deeper stacks keep the top ones.
pub const MAX_MPLS_LABELS: usize = 8;

/// One record per captured frame (`event.dataset: netsensor.packet`).
#[derive(Debug, Clone, Serialize)]
pub struct PacketRecord<'a> {
    /// Capture time.
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// ECS `event.*`.
    pub event: Event,
    /// ECS `observer.*`: the sensor and its capture interface.
    pub observer: Observer<'a>,
    /// ECS `network.*`.
    pub network: Network,
    /// ECS `source.*`.
    #[serde(skip_serializing_if = "Endpoint::is_empty")]
    pub source: Endpoint<'a>,
    /// ECS `destination.*`.
    #[serde(skip_serializing_if = "Endpoint::is_empty")]
    pub destination: Endpoint<'a>,
    /// ECS `related.*`.
    #[serde(skip_serializing_if = "Related::is_empty")]
    pub related: Related,
    /// ECS `dns.*`, when the frame carried a DNS message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns<'a>>,
    /// ECS `tls.*`, when the frame carried a TLS ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls<'a>>,
    /// ECS `http.*`, when the frame carried an HTTP/1 request or response line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http<'a>>,
    /// ECS `url.*` of an HTTP request (credentials and secret query values scrubbed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Url<'a>>,
    /// ECS `user_agent.*` of an HTTP request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<UserAgent<'a>>,
    /// Vendor fields without an ECS equivalent.
    pub netsensor: Netsensor<'a>,
}

/// ECS `event.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Always `event`.
    pub kind: &'static str,
    /// Always `["network"]`.
    pub category: &'static [&'static str],
    /// `["connection","info"]` for packets.
    #[serde(rename = "type")]
    pub type_: &'static [&'static str],
    /// `netsensor.packet`, `netsensor.flow` or `netsensor.rollup`.
    pub dataset: &'static str,
    /// Always `netsensor`.
    pub module: &'static str,
    /// Deterministic record id, also the Elasticsearch `_id`.
    pub id: EventId,
    /// Flows and rollups: start of the span this record's counts cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// Flows and rollups: end of the span this record's counts cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// Flows: length of the span in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
}

impl Event {
    /// The `event` object of a packet record.
    pub const fn packet(id: EventId) -> Self {
        Event {
            kind: "event",
            category: &["network"],
            type_: &["connection", "info"],
            dataset: "netsensor.packet",
            module: "netsensor",
            id,
            start: None,
            end: None,
            duration: None,
        }
    }

    /// The `event` object of a flow record covering `start..end`; `last` marks the flow's
    /// final record.
    pub const fn flow(id: EventId, start: Timestamp, end: Timestamp, last: bool) -> Self {
        Event {
            kind: "event",
            category: &["network"],
            type_: if last {
                &["connection", "end"]
            } else {
                &["connection", "info"]
            },
            dataset: "netsensor.flow",
            module: "netsensor",
            id,
            start: Some(start),
            end: Some(end),
            duration: Some(end.0.saturating_sub(start.0)),
        }
    }

    /// The `event` object of a rollup record covering `start..end`.
    pub const fn rollup(id: EventId, start: Timestamp, end: Timestamp) -> Self {
        Event {
            kind: "event",
            category: &["network"],
            type_: &["info"],
            dataset: "netsensor.rollup",
            module: "netsensor",
            id,
            start: Some(start),
            end: Some(end),
            duration: None,
        }
    }
}

/// ECS `observer.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Observer<'a> {
    /// Sensor name from the configuration.
    pub name: &'a str,
    /// Host name of the machine the sensor runs on.
    pub hostname: &'a str,
    /// Always `sensor`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Always `netsensor`.
    pub product: &'static str,
    /// The sensor's version.
    pub version: &'static str,
    /// The capture interface (or pcap file name on replay); rollups, which cover every
    /// interface, have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress<'a>>,
}

impl<'a> Observer<'a> {
    /// The netsensor observer `name` on `hostname`, capturing on `interface` (None for
    /// records that cover every interface). The version is the workspace's, which the
    /// sensor and this crate share.
    pub const fn sensor(name: &'a str, hostname: &'a str, interface: Option<&'a str>) -> Self {
        Observer {
            name,
            hostname,
            type_: "sensor",
            product: "netsensor",
            version: env!("CARGO_PKG_VERSION"),
            ingress: match interface {
                Some(name) => Some(Ingress {
                    interface: Interface { name },
                }),
                None => None,
            },
        }
    }
}

/// ECS `observer.ingress`.
#[derive(Debug, Clone, Serialize)]
pub struct Ingress<'a> {
    /// ECS `observer.ingress.interface`.
    pub interface: Interface<'a>,
}

/// ECS `observer.ingress.interface`.
#[derive(Debug, Clone, Serialize)]
pub struct Interface<'a> {
    /// Interface name, or the pcap file name on replay.
    pub name: &'a str,
}

/// ECS `network.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Network {
    /// `ipv4`, `ipv6`, `arp`, …
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<&'static str>,
    /// Lower-case IANA name of the transport: `tcp`, `udp`, `icmp`, `ipv6-icmp`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<&'static str>,
    /// IANA protocol number as a keyword, e.g. `"6"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iana_number: Option<KeywordNumber>,
    /// Application protocol when the payload confirms it: `dns`, `http`, `tls`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// `ingress`, `egress` or `unknown`.
    pub direction: &'static str,
    /// Frame length on the wire.
    pub bytes: u64,
    /// Packets (1 for a packet record).
    pub packets: u64,
    /// Community ID v1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<CommunityId>,
    /// Outermost VLAN tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// Second VLAN tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<InnerVlan>,
}

/// ECS `network.vlan`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Vlan {
    /// VLAN id as a keyword.
    pub id: KeywordNumber,
}

/// ECS `network.inner`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct InnerVlan {
    /// The second VLAN tag.
    pub vlan: Vlan,
}

/// ECS `source.*` / `destination.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Endpoint<'a> {
    /// IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Transport port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// Bytes sent by this side (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Packets sent by this side (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// GeoIP location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo<'a>>,
    /// Autonomous system.
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_: Option<AutonomousSystem<'a>>,
}

impl Endpoint<'_> {
    /// True when no field is set (ARP-less, IP-less frames).
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.port.is_none() && self.mac.is_none() && self.bytes.is_none()
    }
}

/// ECS `*.geo`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Geo<'a> {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso_code: Option<&'a str>,
    /// English country name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<&'a str>,
    /// English continent name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent_name: Option<&'a str>,
    /// City name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city_name: Option<&'a str>,
    /// Latitude and longitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

/// An Elasticsearch `geo_point` as an object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// ECS `*.as`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AutonomousSystem<'a> {
    /// AS number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// AS organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization<'a>>,
}

/// ECS `*.as.organization`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Organization<'a> {
    /// Organization name.
    pub name: &'a str,
}

/// ECS `related.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Related {
    /// Both endpoints' addresses.
    pub ip: ArrayVec<IpAddr, 2>,
}

impl Related {
    /// True when no address is set.
    pub fn is_empty(&self) -> bool {
        self.ip.is_empty()
    }
}

/// ECS `dns.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Dns<'a> {
    /// Transaction id.
    pub id: u16,
    /// `query` or `answer`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Operation code, e.g. `QUERY`.
    pub op_code: &'a str,
    /// Response code, e.g. `NOERROR`, `NXDOMAIN` (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<&'a str>,
    /// Header flags that are set: `AA`, `TC`, `RD`, `RA`, `AD`, `CD`, `DO`.
    pub header_flags: ArrayVec<&'static str, 7>,
    /// The first question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<DnsQuestion<'a>>,
    /// Answer records.
    #[serde(skip_serializing_if = "DnsAnswers::is_empty")]
    pub answers: DnsAnswers<'a>,
    /// Addresses from A/AAAA answers.
    #[serde(skip_serializing_if = "<[IpAddr]>::is_empty")]
    pub resolved_ip: &'a [IpAddr],
}

/// ECS `dns.question`.
#[derive(Debug, Clone, Serialize)]
pub struct DnsQuestion<'a> {
    /// Queried name, without the trailing dot.
    pub name: &'a str,
    /// Record type mnemonic (`A`, `AAAA`, …, or `TYPE65280`).
    #[serde(rename = "type")]
    pub type_: &'a str,
    /// Class mnemonic (`IN`, …).
    pub class: &'a str,
    /// Registered domain per the public suffix list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_domain: Option<&'a str>,
}

/// One answer record as ranges into a shared text buffer, so answers can be collected
/// into a reused buffer without allocating per packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsAnswerSpan {
    /// Owner name.
    pub name: Range<u32>,
    /// Type mnemonic.
    pub type_: Range<u32>,
    /// Class mnemonic.
    pub class: Range<u32>,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Record data in presentation form.
    pub data: Range<u32>,
}

/// ECS `dns.answers`: a list of `{name, type, class, ttl, data}` objects.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsAnswers<'a> {
    /// The text the spans point into.
    pub text: &'a str,
    /// The answers, in message order.
    pub items: &'a [DnsAnswerSpan],
}

impl DnsAnswers<'_> {
    /// True when there are no answers.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn slice(&self, range: &Range<u32>) -> &str {
        self.text
            .get(range.start as usize..range.end as usize)
            .unwrap_or("")
    }
}

impl Serialize for DnsAnswers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct One<'s>(&'s DnsAnswers<'s>, &'s DnsAnswerSpan);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let (all, span) = (self.0, self.1);
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("name", all.slice(&span.name))?;
                map.serialize_entry("type", all.slice(&span.type_))?;
                map.serialize_entry("class", all.slice(&span.class))?;
                map.serialize_entry("ttl", &span.ttl)?;
                map.serialize_entry("data", all.slice(&span.data))?;
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.items.len()))?;
        for span in self.items {
            seq.serialize_element(&One(self, span))?;
        }
        seq.end()
    }
}

/// ECS `tls.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Tls<'a> {
    /// Version offered, e.g. `1.2`, `1.3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// Always `tls`.
    pub version_protocol: &'static str,
    /// ClientHello details.
    pub client: TlsClient<'a>,
}

/// ECS `tls.client`.
#[derive(Debug, Clone, Serialize)]
pub struct TlsClient<'a> {
    /// Server Name Indication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<&'a str>,
    /// JA3 fingerprint (MD5, hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<&'a str>,
}

/// ECS `http.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Http<'a> {
    /// Request line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HttpRequest<'a>>,
    /// Status line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
    /// Protocol version, e.g. `1.1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'a str>,
}

/// ECS `http.request`.
#[derive(Debug, Clone, Serialize)]
pub struct HttpRequest<'a> {
    /// Request method, e.g. `GET`.
    pub method: &'a str,
}

/// ECS `http.response`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HttpResponse {
    /// Status code.
    pub status_code: u16,
}

/// ECS `url.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Url<'a> {
    /// Request target, credentials and secret-looking query values scrubbed.
    pub original: &'a str,
    /// The Host header (port removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'a str>,
}

/// ECS `user_agent.*`.
#[derive(Debug, Clone, Serialize)]
pub struct UserAgent<'a> {
    /// The User-Agent header.
    pub original: &'a str,
}

/// `netsensor.*`: fields ECS has no place for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Netsensor<'a> {
    /// Well-known service of the server-side port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'static str>,
    /// Service of the source port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SideService>,
    /// Service of the destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<SideService>,
    /// All VLAN tags, outermost first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<VlanIds>,
    /// IPv4/IPv6 header details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpDetails>,
    /// TCP header details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDetails<'a>>,
    /// UDP header details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpDetails>,
    /// ICMP/ICMPv6 type and code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpDetails>,
    /// Frame numbering and sizes (packet records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketDetails>,
    /// Passive OS guess of the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<OsGuess>,
    /// Cleartext protocol that can carry credentials.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Flow state and position (flow records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowDetails>,
    /// The encapsulation removed to reach the packet the record describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// MPLS label stack the packet was carried in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpls: Option<Mpls>,
    /// 1 in N flows kept by load shedding (1: every flow), so counts can be scaled back.
    pub sample_rate: SampleRate,
}

/// `netsensor.sample_rate`: 1 in this many flows was kept. Defaults to 1 (nothing shed),
/// so records built before load shedding existed stay correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SampleRate(pub u32);

impl Default for SampleRate {
    fn default() -> Self {
        SampleRate(1)
    }
}

/// `netsensor.tunnel`: the outer layer of a decapsulated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tunnel {
    /// `vxlan`, `geneve`, `gre`, `erspan`, `mpls`, `ipip`, `ipv6-in-ipv4`, … (outermost).
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// VNI, GRE key or ERSPAN session id of the outermost layer that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Outermost IP header's source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<TunnelEndpoint>,
    /// Outermost IP header's destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<TunnelEndpoint>,
    /// Encapsulation layers removed.
    pub depth: u8,
}

/// `netsensor.tunnel.source` / `netsensor.tunnel.destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TunnelEndpoint {
    /// Outer IP address.
    pub ip: IpAddr,
}

/// `netsensor.mpls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mpls {
    /// Labels, top of stack first.
    pub labels: ArrayVec<u32, MAX_MPLS_LABELS>,
}

/// `netsensor.flow`.
#[derive(Debug, Clone, Serialize)]
pub struct FlowDetails {
    /// `new`, `established`, `closed`, `reset` or `timeout`.
    pub state: &'static str,
    /// Last record of this flow.
    #[serde(rename = "final")]
    pub last: bool,
    /// When the flow was first seen.
    pub start: Timestamp,
    /// Position among the flow's records, from 0.
    pub sequence: u32,
    /// Why this record was emitted.
    pub end_reason: &'static str,
    /// Union of TCP flags seen (TCP flows).
    #[serde(skip_serializing_if = "ArrayVec::is_empty")]
    pub tcp_flags: ArrayVec<&'static str, 8>,
}

/// One record per flow at its end or active timeout (`event.dataset: netsensor.flow`).
/// Counts are deltas since the flow's previous record.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRecord<'a> {
    /// Start of the span this record covers.
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// ECS `event.*` with start, end and duration.
    pub event: Event,
    /// ECS `observer.*`.
    pub observer: Observer<'a>,
    /// ECS `network.*`; bytes and packets are the span's totals.
    pub network: Network,
    /// The initiator, with its bytes and packets.
    pub source: Endpoint<'a>,
    /// The responder, with its bytes and packets.
    pub destination: Endpoint<'a>,
    /// ECS `related.*`.
    #[serde(skip_serializing_if = "Related::is_empty")]
    pub related: Related,
    /// Vendor fields, including `netsensor.flow`.
    pub netsensor: Netsensor<'a>,
}

/// `network` of a rollup record: only the volumes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Volume {
    /// Bytes on the wire.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
}

/// `netsensor.rollup`.
#[derive(Debug, Clone, Serialize)]
pub struct RollupDetails<'a> {
    /// Interval length in milliseconds.
    pub interval_ms: u64,
    /// `transport`, `service`, `direction`, `size_class`, `source_country`,
    /// `destination_country` or `destination` (top N).
    pub dimension: &'static str,
    /// The dimension's value, e.g. `tcp`, `https`, `DE`, an address.
    pub key: &'a str,
    /// Rank among the top N (top-N dimensions only), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
}

/// `netsensor` of a rollup record.
#[derive(Debug, Clone)]
pub struct RollupNetsensor<'a> {
    /// Interval, dimension and key.
    pub rollup: RollupDetails<'a>,
}

impl RollupNetsensor<'_> {
    /// Rollups are counted before load shedding samples flows, so they always cover every
    /// packet: their `netsensor.sample_rate` is 1.
    pub const SAMPLE_RATE: SampleRate = SampleRate(1);
}

impl Serialize for RollupNetsensor<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("rollup", &self.rollup)?;
        map.serialize_entry("sample_rate", &Self::SAMPLE_RATE)?;
        map.end()
    }
}

/// One record per interval × dimension × key (`event.dataset: netsensor.rollup`).
#[derive(Debug, Clone, Serialize)]
pub struct RollupRecord<'a> {
    /// Start of the interval.
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// ECS `event.*` with start and end of the interval.
    pub event: Event,
    /// ECS `observer.*`.
    pub observer: Observer<'a>,
    /// Volumes of the interval for this key.
    pub network: Volume,
    /// Interval, dimension and key.
    pub netsensor: RollupNetsensor<'a>,
}

/// `netsensor.source` / `netsensor.destination`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SideService {
    /// Well-known service name of this side's port.
    pub service: &'static str,
}

/// `netsensor.vlan`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VlanIds {
    /// Every VLAN tag, outermost first.
    pub ids: ArrayVec<KeywordNumber, MAX_VLAN_TAGS>,
}

/// `netsensor.ip`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct IpDetails {
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// Differentiated services code point.
    pub dscp: u8,
    /// Explicit congestion notification bits.
    pub ecn: u8,
    /// IPv4 header length in bytes (with options).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_length: Option<u16>,
    /// IPv4 total length or IPv6 payload length + 40.
    pub total_length: u32,
    /// Don't fragment (IPv4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub df: Option<bool>,
    /// More fragments.
    pub mf: bool,
    /// Fragment offset in bytes.
    pub fragment_offset: u16,
    /// IPv6 flow label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_label: Option<u32>,
}

/// `netsensor.tcp`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TcpDetails<'a> {
    /// Flags set: `SYN`, `ACK`, `FIN`, `RST`, `PSH`, `URG`, `ECE`, `CWR`.
    pub flags: ArrayVec<&'static str, 8>,
    /// The same flags as the header's bits (CWR ECE URG ACK PSH RST SYN FIN), for flow
    /// tracking; not serialized.
    #[serde(skip)]
    pub flag_bits: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window (unscaled).
    pub window: u16,
    /// MSS option.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<u16>,
    /// Window scale option.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_scale: Option<u8>,
    /// Option layout, p0f style, e.g. `M1460,S,T,N,W7`.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub options: &'a str,
    /// Payload bytes in this segment (from the IP length, not the capture).
    pub payload_length: u32,
}

/// `netsensor.udp`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UdpDetails {
    /// UDP length field.
    pub length: u16,
}

/// `netsensor.icmp`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct IcmpDetails {
    /// ICMP type.
    #[serde(rename = "type")]
    pub type_: u8,
    /// ICMP code.
    pub code: u8,
}

/// `netsensor.packet`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PacketDetails {
    /// Frame number (1-based in the file on replay, capture sequence live).
    pub number: u64,
    /// Bytes captured (≤ snaplen).
    pub captured_length: u32,
    /// Capture shorter than the wire length.
    pub truncated: bool,
    /// `small` (<128 B), `medium` (128–1023) or `large` (≥1024).
    pub size_class: &'static str,
}

/// `netsensor.os`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OsGuess {
    /// `Linux`, `Windows`, `macOS`, `Cisco IOS`, …
    pub name: &'static str,
}

/// The packet-size class of the thesis's packet-size model.
pub const fn size_class(wire_length: u64) -> &'static str {
    match wire_length {
        0..=127 => "small",
        128..=1023 => "medium",
        _ => "large",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{fields_for, RecordKind};
    use std::collections::BTreeSet;

    /// Collects the dotted path of every leaf value, treating arrays as their elements.
    fn leaf_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) if prefix.ends_with("location") => {
                assert!(map.contains_key("lat") && map.contains_key("lon"));
                out.insert(prefix.to_string());
            }
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    leaf_paths(child, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    leaf_paths(item, prefix, out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    /// Asserts that the serialized `record` has exactly the fields the table gives `kind`.
    fn assert_matches_table(kind: RecordKind, value: &serde_json::Value) {
        let mut serialized = BTreeSet::new();
        leaf_paths(value, "", &mut serialized);
        let table: BTreeSet<String> = fields_for(kind).map(|f| f.name.to_string()).collect();
        let extra: Vec<_> = serialized.difference(&table).collect();
        let missing: Vec<_> = table.difference(&serialized).collect();
        assert!(
            extra.is_empty(),
            "{kind:?}: serialized but not in FIELDS: {extra:?}"
        );
        assert!(
            missing.is_empty(),
            "{kind:?}: in FIELDS but never serialized: {missing:?}"
        );
    }

    #[test]
    fn packet_record_and_field_table_agree() {
        let text = "a.example.comAIN192.0.2.9";
        let answers = [DnsAnswerSpan {
            name: 0..13,
            type_: 13..14,
            class: 14..16,
            ttl: 60,
            data: 16..25,
        }];
        let resolved: [IpAddr; 1] = ["192.0.2.9".parse().unwrap()];
        let record = crate::samples::packet(&answers, &resolved, text);
        let value = serde_json::to_value(&record).unwrap();
        assert_matches_table(RecordKind::Packet, &value);
        assert_eq!(value["dns"]["answers"][0]["data"], "192.0.2.9");
        assert_eq!(value["network"]["iana_number"], "6");
    }

    #[test]
    fn flow_record_and_field_table_agree() {
        let record = crate::samples::flow(1, 1);
        let value = serde_json::to_value(&record).unwrap();
        assert_matches_table(RecordKind::Flow, &value);
        assert_eq!(value["event"]["type"][1], "end");
        assert_eq!(value["event"]["duration"], 4);
        assert_eq!(value["netsensor"]["flow"]["final"], true);
    }

    #[test]
    fn rollup_record_and_field_table_agree() {
        let record = crate::samples::rollup(0, 2);
        let value = serde_json::to_value(&record).unwrap();
        assert_matches_table(RecordKind::Rollup, &value);
    }

    #[test]
    fn size_classes_follow_the_thesis_model() {
        assert_eq!(size_class(60), "small");
        assert_eq!(size_class(127), "small");
        assert_eq!(size_class(128), "medium");
        assert_eq!(size_class(1023), "medium");
        assert_eq!(size_class(1024), "large");
    }
}
