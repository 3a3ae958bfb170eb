//! Packet records: decode a frame, enrich it, and serialize one ECS record as a line of
//! NDJSON — without allocating once the worker's buffers are warm.

use std::net::IpAddr;
use std::sync::Arc;

use netsensor_schema::{
    size_class, AutonomousSystem, CommunityId, DnsAnswers, Endpoint, Event, Geo, IcmpDetails,
    InnerVlan, IpDetails, KeywordNumber, Mac, Mpls, Netsensor, Network, Observer, OsGuess,
    PacketDetails, PacketRecord, Related, SideService, TcpDetails, Timestamp, Tunnel,
    TunnelEndpoint, UdpDetails, Vlan, VlanIds,
};

use crate::capture::FrameMeta;
pub use crate::capture::SourceInfo;
use crate::decode::app::dns::{parse_dns, DnsSummary};
use crate::decode::app::http::{parse_http, HttpSummary};
use crate::decode::app::tls::{parse_client_hello, TlsSummary};
use crate::decode::app::AppScratch;
use crate::decode::{self, tcp_flags, DecodeOptions, Decoded, Layer, LinkDirection, Transport};
use crate::enrich::community_id::{community_id, icmp_ports};
use crate::enrich::os_guess::{guess_os, SynFingerprint};
use crate::enrich::service::{is_insecure, port_service, server_service};
use crate::enrich::Enricher;
use crate::records::flow::{country_code, FlowHeaders, FlowPacket, FlowRecorder};
use crate::records::id::packet_id;

/// A few facts about an emitted record, for run summaries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Emitted {
    /// `network.transport`.
    pub transport: Option<&'static str>,
    /// `netsensor.service`.
    pub service: Option<&'static str>,
    /// Source and destination country codes.
    pub countries: [Option<[u8; 2]>; 2],
    /// The layer that failed to decode, if any.
    pub error: Option<Layer>,
}

/// Turns frames into packet records; one per worker thread.
#[derive(Debug)]
pub struct PacketBuilder {
    enricher: Arc<Enricher>,
    observer_name: String,
    hostname: String,
    scratch: AppScratch,
    decode_options: DecodeOptions,
}

enum App {
    None,
    Dns(DnsSummary, &'static str),
    Tls(TlsSummary),
    Http(HttpSummary),
}

impl PacketBuilder {
    /// A builder for the given observer (sensor name and host name).
    pub fn new(enricher: Arc<Enricher>, observer_name: &str, hostname: &str) -> Self {
        PacketBuilder {
            enricher,
            observer_name: observer_name.to_owned(),
            hostname: hostname.to_owned(),
            scratch: AppScratch::default(),
            decode_options: DecodeOptions::default(),
        }
    }

    /// The same builder decoding as `options` say (decapsulation, depth, tunnel ports);
    /// [`DecodeOptions::default`] until set.
    pub fn with_decode_options(mut self, options: DecodeOptions) -> Self {
        self.decode_options = options;
        self
    }

    /// How this builder decodes frames.
    pub fn decode_options(&self) -> &DecodeOptions {
        &self.decode_options
    }

    /// The observer name records carry.
    pub fn observer_name(&self) -> &str {
        &self.observer_name
    }

    /// The host name records carry.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// A flow recorder for the same enricher and observer.
    pub fn flow_recorder(
        &self,
        settings: crate::records::FlowSettings,
    ) -> crate::records::FlowRecorder {
        crate::records::FlowRecorder::new(
            settings,
            Arc::clone(&self.enricher),
            &self.observer_name,
            &self.hostname,
        )
    }

    /// Decodes `frame`, builds its record and appends it to `out` as one NDJSON line.
    pub fn write_ndjson(
        &mut self,
        source: &SourceInfo,
        meta: &FrameMeta,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Emitted, serde_json::Error> {
        self.with_record(source, meta, frame, |record, error| {
            serde_json::to_writer(&mut *out, record)?;
            out.push(b'\n');
            Ok(Emitted::of(record, error))
        })
    }

    /// Decodes `frame`, builds its record and hands it to `use_record` together with the
    /// layer that failed to decode, if any. The record borrows the builder's buffers, so it
    /// lives only for the call; flows and rollups read what they need from it.
    pub fn with_record<R>(
        &mut self,
        source: &SourceInfo,
        meta: &FrameMeta,
        frame: &[u8],
        use_record: impl FnOnce(&PacketRecord<'_>, Option<Layer>) -> R,
    ) -> R {
        let decoded = decode::decode_with(&self.decode_options, meta.link, frame, meta.wire_len);
        let mut error = decoded.error;
        self.scratch.clear();
        let app = if self.enricher.app_layer {
            match parse_app(&decoded, self.enricher.scrub_urls, &mut self.scratch) {
                Ok(app) => app,
                Err(layer) => {
                    error = error.or(Some(layer));
                    App::None
                }
            }
        } else {
            App::None
        };
        let enricher = &*self.enricher;
        if let Some(pseudonymizer) = &enricher.pseudonymizer {
            // DNS answers name the addresses later connections use: pseudonymise them the
            // same way, so they still match those connections' records.
            for ip in &mut self.scratch.resolved {
                *ip = pseudonymizer.pseudonym(*ip);
            }
        }
        let record = build(
            enricher,
            Observer::sensor(&self.observer_name, &self.hostname, Some(&source.interface)),
            source,
            meta,
            &decoded,
            &app,
            &self.scratch,
        );
        use_record(&record, error)
    }
}

impl PacketBuilder {
    /// The flows-only path: decodes `frame`'s headers and hands the flow table's view of
    /// it to `flows`, without building the packet record — no services, address lists,
    /// flag names or GeoIP per packet, and the app layer parsed only while the flow's
    /// application protocol is still unknown (see `flow::table::APP_PROTOCOL_PACKETS`).
    /// Gives the same flows as [`FlowRecorder::observe`] on the full record (a test
    /// replays every fixture both ways). Returns the layer that failed to decode, if any.
    pub fn observe_flow(
        &mut self,
        source: &SourceInfo,
        meta: &FrameMeta,
        frame: &[u8],
        flows: &mut FlowRecorder,
    ) -> Option<Layer> {
        // The plain frames take the fast header path; it gives the full decoder's answer
        // or none (tunnels, fragments, extension headers, odd lengths).
        let options = &self.decode_options;
        let mut decoded = decode::fast::empty();
        // TCP options serve only the OS guess of SYNs here.
        let wanted = decode::fast::TcpOptionsWanted::SynOnly;
        if !decode::fast::decode_into(
            options,
            meta.link,
            frame,
            meta.wire_len,
            wanted,
            &mut decoded,
        ) {
            decoded = decode::decode_with(options, meta.link, frame, meta.wire_len);
        }
        let decoded = &decoded;
        let mut error = decoded.error;
        let ip = decoded.ip()?;
        let enricher = &*self.enricher;
        let (mut tcp, mut sender_os) = (None, None);
        let ports = match &decoded.transport {
            Transport::Icmp {
                v6,
                icmp_type,
                code,
            } => {
                let (sport, dport, _) = icmp_ports(*v6, *icmp_type, *code);
                (sport, dport)
            }
            transport => transport.ports().unwrap_or((0, 0)),
        };
        if let Transport::Tcp { info: Some(t), .. } = &decoded.transport {
            tcp = Some((t.flags, t.seq, t.ack, t.payload_length));
            if enricher.os_guess && t.flags & tcp_flags::SYN != 0 {
                // Matching the signature table costs ~2 000 instructions, and a host's stack
                // sends the same SYN every time: recent answers are kept per thread, keyed
                // by everything the guess reads.
                type Seen = Option<(
                    (u8, bool, u16, bool, decode::TcpOptions),
                    Option<&'static str>,
                )>;
                thread_local! {
                    static SEEN: std::cell::RefCell<[Seen; 128]> =
                        const { std::cell::RefCell::new([None; 128]) };
                }
                let (df, syn_ack) = (ip.df.unwrap_or(false), t.flags & tcp_flags::ACK != 0);
                let key = (ip.ttl, df, t.window, syn_ack, t.options);
                let slot = (usize::from(ip.ttl)
                    ^ usize::from(t.window)
                    ^ (usize::from(t.options.mss.unwrap_or(0)) << 2)
                    ^ (t.options.layout.len() << 4))
                    % 128;
                sender_os = SEEN.with_borrow_mut(|seen| match &seen[slot] {
                    Some((k, guess)) if *k == key => *guess,
                    _ => {
                        let guess = guess_os(&SynFingerprint {
                            ttl: ip.ttl,
                            df,
                            window: t.window,
                            mss: t.options.mss,
                            window_scale: t.options.window_scale,
                            options: t.options.layout.as_str(),
                            syn_ack,
                        });
                        seen[slot] = Some((key, guess));
                        guess
                    }
                });
            }
        }
        // As on the record path: flows look countries up once, at export, except when
        // addresses are pseudonymised (the pseudonyms have no country).
        let (src, dst, countries) = match &enricher.pseudonymizer {
            Some(p) => {
                let country =
                    |ip| country_code(enricher.geoip.lookup(ip).0.and_then(|g| g.country_iso_code));
                let countries = [country(ip.src), country(ip.dst)];
                (p.pseudonym(ip.src), p.pseudonym(ip.dst), countries)
            }
            None => (ip.src, ip.dst, [[0, 0]; 2]),
        };
        let vlan = |i: usize| decoded.vlans.get(i).copied().unwrap_or(0);
        let packet = FlowPacket::new(
            FlowHeaders {
                src,
                dst,
                protocol: ip.protocol,
                ports,
                vlans: [vlan(0), vlan(1)],
                time_ns: meta.timestamp_ns,
                bytes: u64::from(meta.wire_len),
                packet_id: packet_id(source.id_seed, meta.number).0 as u64,
                tcp,
            },
            None,
            sender_os,
            countries,
            direction(source, decoded),
        )
        // A decapsulated packet's flow is keyed in its tunnel, as on the record path.
        .in_tunnel(crate::records::flow::key::TunnelKey::of(
            decoded.tunnel.as_ref(),
        ));
        let scratch = &mut self.scratch;
        flows.observe_packet(&packet, || {
            if !enricher.app_layer {
                return None;
            }
            scratch.clear();
            // Only the kind of summary is kept here, never its text: scrubbing URLs (which
            // changes only the text) would be wasted work.
            match parse_app(decoded, false, scratch) {
                Ok(App::None) => None,
                Ok(App::Dns(_, protocol)) => Some(protocol),
                Ok(App::Tls(_)) => Some("tls"),
                Ok(App::Http(_)) => Some("http"),
                Err(layer) => {
                    error = error.or(Some(layer));
                    None
                }
            }
        });
        error
    }
}

impl Emitted {
    /// The summary facts of `record`.
    pub fn of(record: &PacketRecord<'_>, error: Option<Layer>) -> Self {
        Emitted {
            transport: record.network.transport,
            service: record.netsensor.service,
            countries: [country(&record.source), country(&record.destination)],
            error,
        }
    }
}

fn country(endpoint: &Endpoint<'_>) -> Option<[u8; 2]> {
    let code = endpoint.geo.as_ref()?.country_iso_code?.as_bytes();
    code.try_into().ok()
}

/// Runs the app-layer parser the ports and payload point to.
fn parse_app(
    decoded: &Decoded<'_>,
    scrub_urls: bool,
    scratch: &mut AppScratch,
) -> Result<App, Layer> {
    let payload = decoded.payload;
    if payload.is_empty() {
        return Ok(App::None);
    }
    let (tcp, ports) = match decoded.transport {
        Transport::Tcp {
            src_port, dst_port, ..
        } => (true, (src_port, dst_port)),
        Transport::Udp {
            src_port, dst_port, ..
        } => (false, (src_port, dst_port)),
        _ => return Ok(App::None),
    };
    let dns_protocol = [ports.0, ports.1].iter().find_map(|port| match port {
        53 => Some("dns"),
        5353 if !tcp => Some("mdns"),
        5355 => Some("llmnr"),
        _ => None,
    });
    if let Some(protocol) = dns_protocol {
        return parse_dns(payload, tcp, scratch)
            .map(|summary| App::Dns(summary, protocol))
            .map_err(|_| Layer::Dns);
    }
    if !tcp {
        return Ok(App::None);
    }
    if payload[0] == 0x16 {
        return match parse_client_hello(payload, scratch) {
            Ok(Some(summary)) => Ok(App::Tls(summary)),
            Ok(None) => Ok(App::None),
            Err(_) => Err(Layer::Tls),
        };
    }
    match parse_http(payload, scrub_urls, scratch) {
        Ok(Some(summary)) => Ok(App::Http(summary)),
        Ok(None) => Ok(App::None),
        Err(_) => Err(Layer::Http),
    }
}

#[allow(clippy::too_many_arguments)]
fn build<'a>(
    enricher: &'a Enricher,
    observer: Observer<'a>,
    source: &SourceInfo,
    meta: &FrameMeta,
    decoded: &'a Decoded<'_>,
    app: &App,
    scratch: &'a AppScratch,
) -> PacketRecord<'a> {
    let wire_len = u64::from(meta.wire_len);
    let mut network = Network {
        direction: direction(source, decoded),
        bytes: wire_len,
        packets: 1,
        ..Network::default()
    };
    // MAC addresses identify hosts as well as IP addresses do: pseudonymisation drops them.
    let keep_macs = enricher.pseudonymizer.is_none();
    let mut src = Endpoint {
        mac: decoded.link.src_mac.filter(|_| keep_macs).map(Mac),
        ..Endpoint::default()
    };
    let mut dst = Endpoint {
        mac: decoded.link.dst_mac.filter(|_| keep_macs).map(Mac),
        ..Endpoint::default()
    };
    let mut related = Related::default();
    let mut ns = Netsensor {
        packet: Some(PacketDetails {
            number: meta.number,
            captured_length: meta.cap_len,
            truncated: meta.cap_len < meta.wire_len,
            size_class: size_class(wire_len),
        }),
        ..Netsensor::default()
    };
    if let Some(&outer) = decoded.vlans.first() {
        network.vlan = Some(Vlan {
            id: KeywordNumber(u32::from(outer)),
        });
        if let Some(&inner) = decoded.vlans.get(1) {
            network.inner = Some(InnerVlan {
                vlan: Vlan {
                    id: KeywordNumber(u32::from(inner)),
                },
            });
        }
        ns.vlan = Some(VlanIds {
            ids: decoded
                .vlans
                .iter()
                .map(|&id| KeywordNumber(u32::from(id)))
                .collect(),
        });
    }
    ns.tunnel = decoded.tunnel.map(|tunnel| {
        // The outer addresses identify hosts just as the inner ones do.
        let outer = tunnel
            .outer
            .map(|(src, dst)| match &enricher.pseudonymizer {
                Some(p) => (p.pseudonym(src), p.pseudonym(dst)),
                None => (src, dst),
            });
        Tunnel {
            type_: tunnel.kind.as_str(),
            id: tunnel.id,
            source: outer.map(|(ip, _)| TunnelEndpoint { ip }),
            destination: outer.map(|(_, ip)| TunnelEndpoint { ip }),
            depth: tunnel.depth,
        }
    });
    if !decoded.mpls.is_empty() {
        ns.mpls = Some(Mpls {
            labels: decoded.mpls.clone(),
        });
    }
    match decoded.network {
        decode::Network::None => {}
        decode::Network::Arp => network.type_ = Some("arp"),
        decode::Network::Ip(ip) => {
            network.type_ = Some(if ip.src.is_ipv4() { "ipv4" } else { "ipv6" });
            network.transport = Some(transport_name(ip.protocol));
            network.iana_number = Some(KeywordNumber(u32::from(ip.protocol)));
            let (src_geo, src_as) = enricher.geoip.lookup(ip.src);
            let (dst_geo, dst_as) = enricher.geoip.lookup(ip.dst);
            set_geo(&mut src, src_geo, src_as);
            set_geo(&mut dst, dst_geo, dst_as);
            let (src_ip, dst_ip) = match &enricher.pseudonymizer {
                Some(p) => (p.pseudonym(ip.src), p.pseudonym(ip.dst)),
                None => (ip.src, ip.dst),
            };
            src.ip = Some(src_ip);
            dst.ip = Some(dst_ip);
            related.ip.push(src_ip);
            if dst_ip != src_ip {
                related.ip.push(dst_ip);
            }
            ns.ip = Some(IpDetails {
                ttl: ip.ttl,
                id: ip.id,
                dscp: ip.dscp,
                ecn: ip.ecn,
                header_length: ip.header_length,
                total_length: ip.total_length,
                df: ip.df,
                mf: ip.mf,
                fragment_offset: ip.fragment_offset,
                flow_label: ip.flow_label,
            });
            network.community_id = Some(flow_id(
                enricher.community_id_seed,
                src_ip,
                dst_ip,
                ip.protocol,
                decoded,
            ));
            transport_details(
                enricher, decoded, ip.ttl, ip.df, &mut src, &mut dst, &mut ns,
            );
        }
    }
    let mut record = PacketRecord {
        timestamp: Timestamp(meta.timestamp_ns),
        event: Event::packet(packet_id(source.id_seed, meta.number)),
        observer,
        network,
        source: src,
        destination: dst,
        related,
        dns: None,
        tls: None,
        http: None,
        url: None,
        user_agent: None,
        netsensor: ns,
    };
    match app {
        App::None => {}
        App::Dns(summary, protocol) => {
            record.network.protocol = Some(protocol);
            let mut dns = summary.record(scratch);
            if enricher.pseudonymizer.is_some() {
                // Answer data holds addresses (and names) as text; only the pseudonymised
                // `dns.resolved_ip` stays.
                dns.answers = DnsAnswers::default();
                // A reverse lookup's name spells the address out: keep only its zone.
                if let Some(question) = &mut dns.question {
                    if let Some(zone) = reverse_zone(question.name) {
                        question.name = zone;
                        question.registered_domain = None;
                    }
                }
            }
            record.dns = Some(dns);
        }
        App::Tls(summary) => {
            record.network.protocol = Some("tls");
            record.tls = Some(summary.record(scratch));
        }
        App::Http(summary) => {
            record.network.protocol = Some("http");
            record.http = Some(summary.http(scratch));
            record.url = summary.url(scratch);
            // An IP-literal Host is an address in clear text: no URL when pseudonymising.
            let ip_host = record
                .url
                .as_ref()
                .and_then(|u| u.domain)
                .is_some_and(|host| {
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok()
                });
            if enricher.pseudonymizer.is_some() && ip_host {
                record.url = None;
            }
            record.user_agent = summary.user_agent(scratch);
        }
    }
    record.netsensor.insecure = is_insecure(record.netsensor.service, record.network.protocol);
    record
}

/// `in-addr.arpa` or `ip6.arpa` when `name` is a reverse-lookup name.
fn reverse_zone(name: &str) -> Option<&'static str> {
    let lower = |suffix: &str| {
        name.len() >= suffix.len()
            && name
                .get(name.len() - suffix.len()..)
                .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
    };
    if lower("in-addr.arpa") {
        Some("in-addr.arpa")
    } else if lower("ip6.arpa") {
        Some("ip6.arpa")
    } else {
        None
    }
}

fn set_geo<'a>(
    endpoint: &mut Endpoint<'a>,
    geo: Option<Geo<'a>>,
    asn: Option<AutonomousSystem<'a>>,
) {
    endpoint.geo = geo;
    endpoint.as_ = asn;
}

fn transport_details<'a>(
    enricher: &Enricher,
    decoded: &'a Decoded<'_>,
    ttl: u8,
    df: Option<bool>,
    src: &mut Endpoint<'_>,
    dst: &mut Endpoint<'_>,
    ns: &mut Netsensor<'a>,
) {
    let Some(ip) = decoded.ip() else { return };
    if let Some((src_port, dst_port)) = decoded.transport.ports() {
        src.port = Some(src_port);
        dst.port = Some(dst_port);
        ns.source = port_service(ip.protocol, src_port).map(|service| SideService { service });
        ns.destination = port_service(ip.protocol, dst_port).map(|service| SideService { service });
        ns.service = server_service(ip.protocol, src_port, dst_port).map(|(service, _)| service);
    }
    match &decoded.transport {
        Transport::Tcp {
            info: Some(tcp), ..
        } => {
            let details = TcpDetails {
                flags: tcp_flags::NAMES
                    .iter()
                    .filter(|(bit, _)| tcp.flags & bit != 0)
                    .map(|&(_, name)| name)
                    .collect(),
                flag_bits: tcp.flags,
                seq: tcp.seq,
                ack: tcp.ack,
                window: tcp.window,
                mss: tcp.options.mss,
                window_scale: tcp.options.window_scale,
                options: tcp.options.layout.as_str(),
                payload_length: tcp.payload_length,
            };
            if enricher.os_guess && tcp.flags & tcp_flags::SYN != 0 {
                let fingerprint = SynFingerprint {
                    ttl,
                    df: df.unwrap_or(false),
                    window: tcp.window,
                    mss: tcp.options.mss,
                    window_scale: tcp.options.window_scale,
                    options: tcp.options.layout.as_str(),
                    syn_ack: tcp.flags & tcp_flags::ACK != 0,
                };
                ns.os = guess_os(&fingerprint).map(|name| OsGuess { name });
            }
            ns.tcp = Some(details);
        }
        Transport::Udp { length, .. } => ns.udp = length.map(|length| UdpDetails { length }),
        Transport::Icmp {
            icmp_type, code, ..
        } => {
            ns.icmp = Some(IcmpDetails {
                type_: *icmp_type,
                code: *code,
            })
        }
        _ => {}
    }
}

/// Community ID over the (possibly pseudonymised) addresses.
fn flow_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    decoded: &Decoded<'_>,
) -> CommunityId {
    let ports = match decoded.transport {
        Transport::Icmp {
            v6,
            icmp_type,
            code,
        } => {
            let (sport, dport, _) = icmp_ports(v6, icmp_type, code);
            Some((sport, dport))
        }
        ref transport => transport.ports(),
    };
    community_id(seed, src, dst, protocol, ports)
}

fn direction(source: &SourceInfo, decoded: &Decoded<'_>) -> &'static str {
    if let Some(fixed) = source.fixed_direction {
        return fixed;
    }
    let local = |mac: Option<[u8; 6]>| mac.is_some_and(|mac| source.local_macs.contains(&mac));
    if local(decoded.link.src_mac) {
        return "egress";
    }
    if local(decoded.link.dst_mac) {
        return "ingress";
    }
    match decoded.link.direction {
        Some(LinkDirection::Incoming) => "ingress",
        Some(LinkDirection::Outgoing) => "egress",
        None => "unknown",
    }
}

/// Lower-case IANA keyword of an IP protocol number, as ECS's `network.transport` uses it.
pub const fn transport_name(protocol: u8) -> &'static str {
    match protocol {
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        88 => "eigrp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        115 => "l2tp",
        132 => "sctp",
        136 => "udplite",
        46 => "rsvp",
        0 => "hopopt",
        43 => "ipv6-route",
        44 => "ipv6-frag",
        59 => "ipv6-nonxt",
        60 => "ipv6-opts",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::enrich::Pseudonymizer;

    /// An Ethernet frame carrying a DNS PTR query for 4.3.2.1.in-addr.arpa.
    fn ptr_query() -> Vec<u8> {
        let mut dns = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["4", "3", "2", "1", "in-addr", "arpa"] {
            dns.push(label.len() as u8);
            dns.extend_from_slice(label.as_bytes());
        }
        dns.extend_from_slice(&[0, 0, 12, 0, 1]);
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 0, 2, 10], [198, 51, 100, 53], 64)
            .udp(40000, 53);
        let mut frame = Vec::new();
        builder.write(&mut frame, &dns).unwrap();
        frame
    }

    fn question_name(enricher: Enricher) -> String {
        let frame = ptr_query();
        let meta = FrameMeta {
            timestamp_ns: 0,
            wire_len: frame.len() as u32,
            cap_len: frame.len() as u32,
            link: LinkType::Ethernet,
            number: 1,
        };
        let mut builder = PacketBuilder::new(Arc::new(enricher), "t", "h");
        builder.with_record(&SourceInfo::default(), &meta, &frame, |record, _| {
            record
                .dns
                .as_ref()
                .and_then(|d| d.question.as_ref())
                .unwrap()
                .name
                .to_owned()
        })
    }

    #[test]
    fn reverse_lookups_keep_only_their_zone_when_pseudonymising() {
        assert_eq!(question_name(Enricher::default()), "4.3.2.1.in-addr.arpa");
        let hidden = Enricher {
            pseudonymizer: Some(Pseudonymizer::new(b"0123456789abcdef")),
            ..Enricher::default()
        };
        assert_eq!(question_name(hidden), "in-addr.arpa");
        assert_eq!(reverse_zone("B.8.D.0.1.0.0.2.IP6.ARPA"), Some("ip6.arpa"));
        assert_eq!(reverse_zone("example.com"), None);
        assert_eq!(reverse_zone("arpa"), None);
    }
}
