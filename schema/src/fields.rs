//! The field table: the one list of every record field.

/// A record kind; each is written to its own data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// One record per captured frame.
    Packet,
    /// One record per flow at its end or active timeout.
    Flow,
    /// One record per interval × dimension × key.
    Rollup,
}

impl RecordKind {
    /// Every kind, in data-path order.
    pub const ALL: [RecordKind; 3] = [RecordKind::Packet, RecordKind::Flow, RecordKind::Rollup];

    /// The name used in configs, CLI flags and `event.dataset` (`netsensor.<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            RecordKind::Packet => "packet",
            RecordKind::Flow => "flow",
            RecordKind::Rollup => "rollup",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            RecordKind::Packet => P,
            RecordKind::Flow => F,
            RecordKind::Rollup => R,
        }
    }
}

/// Elasticsearch mapping type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EsType {
    /// `keyword`
    Keyword,
    /// `long`
    Long,
    /// `boolean`
    Boolean,
    /// `ip`
    Ip,
    /// `date_nanos`
    DateNanos,
    /// `geo_point`
    GeoPoint,
    /// `date` (millisecond precision), for times the cluster sets itself.
    Date,
    /// `text` (analysed full text), the core fallback of `match_only_text`.
    Text,
    /// `constant_keyword` (optional module): one value per index, stored in the mapping.
    ConstantKeyword,
    /// `wildcard` (optional module): long free-form strings searched by pattern.
    Wildcard,
    /// `match_only_text` (optional module): full text without scoring data, smaller.
    MatchOnlyText,
}

impl EsType {
    /// The mapping type's name in an index template.
    pub const fn name(self) -> &'static str {
        match self {
            EsType::Keyword => "keyword",
            EsType::Long => "long",
            EsType::Boolean => "boolean",
            EsType::Ip => "ip",
            EsType::DateNanos => "date_nanos",
            EsType::GeoPoint => "geo_point",
            EsType::Date => "date",
            EsType::Text => "text",
            EsType::ConstantKeyword => "constant_keyword",
            EsType::Wildcard => "wildcard",
            EsType::MatchOnlyText => "match_only_text",
        }
    }

    /// The core type that holds the same values where the engine lacks this type's
    /// optional module; core types are their own fallback.
    pub const fn core_fallback(self) -> EsType {
        match self {
            EsType::ConstantKeyword | EsType::Wildcard => EsType::Keyword,
            EsType::MatchOnlyText => EsType::Text,
            other => other,
        }
    }
}

/// One field of the record schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Dotted path, e.g. `source.geo.country_iso_code`.
    pub name: &'static str,
    /// Mapping type; always a core type, which every engine has.
    pub es_type: EsType,
    /// Whether the field holds a list of values.
    pub array: bool,
    kinds: u8,
    /// One-line description for the docs and the template's `_meta`.
    pub description: &'static str,
    /// Better type from an optional engine module (`constant_keyword`, `wildcard`), used
    /// instead of `es_type` where the cluster has the module; `es_type` is its fallback.
    pub module_type: Option<EsType>,
    /// Whether the mapping adds a full-text sub-field `<name>.text` (`match_only_text`, or
    /// `text` where the engine lacks it), as ECS does for free-form strings.
    pub text_subfield: bool,
}

impl Field {
    /// True when records of `kind` carry this field.
    pub const fn in_kind(&self, kind: RecordKind) -> bool {
        self.kinds & kind.bit() != 0
    }

    const fn prefer(self, module_type: EsType) -> Field {
        Field {
            module_type: Some(module_type),
            ..self
        }
    }

    const fn with_text(self) -> Field {
        Field {
            text_subfield: true,
            ..self
        }
    }
}

const P: u8 = 1;
const F: u8 = 2;
const R: u8 = 4;
const ALL: u8 = P | F | R;

const fn f(name: &'static str, es_type: EsType, kinds: u8, description: &'static str) -> Field {
    Field {
        name,
        es_type,
        array: false,
        kinds,
        description,
        module_type: None,
        text_subfield: false,
    }
}

const fn list(name: &'static str, es_type: EsType, kinds: u8, description: &'static str) -> Field {
    Field {
        name,
        es_type,
        array: true,
        kinds,
        description,
        module_type: None,
        text_subfield: false,
    }
}

use EsType::{Boolean as B, DateNanos as D, GeoPoint as G, Ip, Keyword as K, Long as L};
use EsType::{ConstantKeyword as CONSTANT, Wildcard as WILDCARD};

/// Every field of every record kind. Templates, docs and tests derive from this list.
#[rustfmt::skip]
pub const FIELDS: &[Field] = &[
    f("@timestamp", D, ALL, "Packet: capture time. Flow and rollup: start of the span the record covers."),
    f("event.kind", K, ALL, "Always `event`."),
    list("event.category", K, ALL, "Always `[\"network\"]`."),
    list("event.type", K, ALL, "Packet: `[connection, info]`; flow: `[connection, end]` on the final record, `[connection, info]` before."),
    f("event.dataset", K, ALL, "`netsensor.packet`, `netsensor.flow` or `netsensor.rollup`.").prefer(CONSTANT),
    f("event.module", K, ALL, "Always `netsensor`.").prefer(CONSTANT),
    f("event.id", K, ALL, "Deterministic record id; the Elasticsearch `_id`."),
    f("event.start", D, F | R, "Start of the span this record's counts cover."),
    f("event.end", D, F | R, "End of the span this record's counts cover."),
    f("event.duration", L, F, "Duration of the span in nanoseconds."),
    f("observer.name", K, ALL, "Sensor name from the configuration."),
    f("observer.hostname", K, ALL, "Host name of the sensor."),
    f("observer.type", K, ALL, "Always `sensor`."),
    f("observer.product", K, ALL, "Always `netsensor`."),
    f("observer.version", K, ALL, "Sensor version."),
    f("observer.ingress.interface.name", K, P, "Capture interface, or the pcap file name on replay."),
    f("network.type", K, P | F, "`ipv4`, `ipv6`, `arp`, …"),
    f("network.transport", K, P | F, "Lower-case IANA transport name: `tcp`, `udp`, `icmp`, `ipv6-icmp`, …"),
    f("network.iana_number", K, P | F, "IANA protocol number, e.g. `6`."),
    f("network.protocol", K, P | F, "Application protocol when the payload confirms it: `dns`, `http`, `tls`, …"),
    f("network.direction", K, P | F, "`ingress` or `egress` relative to the capture interface, else `unknown`."),
    f("network.bytes", L, ALL, "Wire length of the frame; flows and rollups: total of the span."),
    f("network.packets", L, ALL, "Packets (1 for a packet record)."),
    f("network.community_id", K, P | F, "Community ID v1 (seed 0)."),
    f("network.vlan.id", K, P | F, "Outermost VLAN tag."),
    f("network.inner.vlan.id", K, P | F, "Second VLAN tag."),
    f("source.ip", Ip, P | F, "Source address."),
    f("source.port", L, P | F, "Source port."),
    f("source.mac", K, P, "Source MAC, `AA-BB-CC-DD-EE-FF`."),
    f("source.bytes", L, F, "Bytes sent by the flow's initiator."),
    f("source.packets", L, F, "Packets sent by the flow's initiator."),
    f("source.geo.country_iso_code", K, P | F, "Source country, ISO 3166-1 alpha-2."),
    f("source.geo.country_name", K, P | F, "Source country name."),
    f("source.geo.continent_name", K, P | F, "Source continent name."),
    f("source.geo.city_name", K, P | F, "Source city (needs a City database)."),
    f("source.geo.location", G, P | F, "Source latitude/longitude (needs a City database)."),
    f("source.as.number", L, P | F, "Source autonomous system number."),
    f("source.as.organization.name", K, P | F, "Source autonomous system organization."),
    f("destination.ip", Ip, P | F, "Destination address."),
    f("destination.port", L, P | F, "Destination port."),
    f("destination.mac", K, P, "Destination MAC, `AA-BB-CC-DD-EE-FF`."),
    f("destination.bytes", L, F, "Bytes sent by the flow's responder."),
    f("destination.packets", L, F, "Packets sent by the flow's responder."),
    f("destination.geo.country_iso_code", K, P | F, "Destination country, ISO 3166-1 alpha-2."),
    f("destination.geo.country_name", K, P | F, "Destination country name."),
    f("destination.geo.continent_name", K, P | F, "Destination continent name."),
    f("destination.geo.city_name", K, P | F, "Destination city (needs a City database)."),
    f("destination.geo.location", G, P | F, "Destination latitude/longitude (needs a City database)."),
    f("destination.as.number", L, P | F, "Destination autonomous system number."),
    f("destination.as.organization.name", K, P | F, "Destination autonomous system organization."),
    list("related.ip", Ip, P | F, "Both endpoints' addresses."),
    f("dns.id", L, P, "DNS transaction id."),
    f("dns.type", K, P, "`query` or `answer`."),
    f("dns.op_code", K, P, "DNS operation code, e.g. `QUERY`."),
    f("dns.response_code", K, P, "DNS response code, e.g. `NOERROR`, `NXDOMAIN`."),
    list("dns.header_flags", K, P, "DNS header flags set: `AA`, `TC`, `RD`, `RA`, `AD`, `CD`, `DO`."),
    f("dns.question.name", K, P, "Queried name."),
    f("dns.question.type", K, P, "Queried record type."),
    f("dns.question.class", K, P, "Queried class."),
    f("dns.question.registered_domain", K, P, "Registered domain of the queried name (public suffix list)."),
    f("dns.answers.name", K, P, "Answer owner name."),
    f("dns.answers.type", K, P, "Answer record type."),
    f("dns.answers.class", K, P, "Answer class."),
    f("dns.answers.ttl", L, P, "Answer time to live in seconds."),
    f("dns.answers.data", K, P, "Answer data in presentation form."),
    list("dns.resolved_ip", Ip, P, "Addresses from A and AAAA answers."),
    f("tls.version", K, P, "TLS version offered, e.g. `1.3`."),
    f("tls.version_protocol", K, P, "Always `tls`."),
    f("tls.client.server_name", K, P, "Server Name Indication of the ClientHello."),
    f("tls.client.ja3", K, P, "JA3 fingerprint of the ClientHello."),
    f("http.request.method", K, P, "HTTP request method."),
    f("http.response.status_code", L, P, "HTTP response status code."),
    f("http.version", K, P, "HTTP version, e.g. `1.1`."),
    f("url.original", K, P, "Request target with credentials and secret query values scrubbed.").prefer(WILDCARD).with_text(),
    f("url.domain", K, P, "Host header of the request."),
    f("user_agent.original", K, P, "User-Agent header of the request.").with_text(),
    f("netsensor.service", K, P | F, "Well-known service of the server-side port."),
    f("netsensor.source.service", K, P | F, "Well-known service of the source port."),
    f("netsensor.destination.service", K, P | F, "Well-known service of the destination port."),
    list("netsensor.vlan.ids", K, P | F, "Every VLAN tag, outermost first."),
    f("netsensor.ip.ttl", L, P, "IPv4 TTL or IPv6 hop limit."),
    f("netsensor.ip.id", L, P, "IPv4 identification."),
    f("netsensor.ip.dscp", L, P, "Differentiated services code point."),
    f("netsensor.ip.ecn", L, P, "Explicit congestion notification bits."),
    f("netsensor.ip.header_length", L, P, "IPv4 header length in bytes."),
    f("netsensor.ip.total_length", L, P, "IPv4 total length, or IPv6 payload length plus 40."),
    f("netsensor.ip.df", B, P, "IPv4 don't-fragment flag."),
    f("netsensor.ip.mf", B, P, "More-fragments flag."),
    f("netsensor.ip.fragment_offset", L, P, "Fragment offset in bytes."),
    f("netsensor.ip.flow_label", L, P, "IPv6 flow label."),
    list("netsensor.tcp.flags", K, P, "TCP flags set."),
    f("netsensor.tcp.seq", L, P, "TCP sequence number."),
    f("netsensor.tcp.ack", L, P, "TCP acknowledgement number."),
    f("netsensor.tcp.window", L, P, "TCP window (unscaled)."),
    f("netsensor.tcp.mss", L, P, "TCP MSS option."),
    f("netsensor.tcp.window_scale", L, P, "TCP window scale option."),
    f("netsensor.tcp.options", K, P, "TCP option layout, p0f style, e.g. `M1460,S,T,N,W7`."),
    f("netsensor.tcp.payload_length", L, P, "TCP payload bytes of the segment."),
    f("netsensor.udp.length", L, P, "UDP length field."),
    f("netsensor.icmp.type", L, P, "ICMP or ICMPv6 type."),
    f("netsensor.icmp.code", L, P, "ICMP or ICMPv6 code."),
    f("netsensor.packet.number", L, P, "Frame number: 1-based in the file on replay, capture sequence live."),
    f("netsensor.packet.captured_length", L, P, "Bytes captured (at most the snap length)."),
    f("netsensor.packet.truncated", B, P, "Capture shorter than the wire length."),
    f("netsensor.packet.size_class", K, P, "`small` (<128 B), `medium` (128–1023 B) or `large` (≥1024 B)."),
    f("netsensor.os.name", K, P | F, "Passive OS guess of the source: `Linux`, `Windows`, `macOS`, `Cisco IOS`, …"),
    f("netsensor.insecure", B, P | F, "Cleartext protocol that can carry credentials (telnet, ftp, tftp, rlogin/rsh, pop3, imap, snmp, http)."),
    f("netsensor.tunnel.type", K, P | F, "Outermost encapsulation removed: `vxlan`, `geneve`, `gre`, `erspan`, `mpls`, `ipip`, `ipv6-in-ipv4`, `ipv6-in-ipv6`, `ipv4-in-ipv6`."),
    f("netsensor.tunnel.id", L, P | F, "Id of the outermost encapsulation that has one: VXLAN/GENEVE VNI, GRE key or ERSPAN session id; part of the flow key."),
    f("netsensor.tunnel.source.ip", Ip, P, "Source address of the outermost IP header."),
    f("netsensor.tunnel.destination.ip", Ip, P, "Destination address of the outermost IP header."),
    f("netsensor.tunnel.depth", L, P | F, "Encapsulation layers removed to reach the packet the record describes."),
    list("netsensor.mpls.labels", L, P, "MPLS labels, top of stack first."),
    f("netsensor.sample_rate", L, ALL, "1 in N flows kept by load shedding; 1 = all."),
    f("netsensor.flow.state", K, F, "`new`, `established`, `closed`, `reset` or `timeout`."),
    f("netsensor.flow.final", B, F, "Last record of this flow."),
    f("netsensor.flow.start", D, F, "When the flow was first seen."),
    f("netsensor.flow.sequence", L, F, "Position of this record among the flow's records, from 0."),
    f("netsensor.flow.end_reason", K, F, "`fin`, `rst`, `idle_timeout`, `active_timeout`, `evicted`, `end_of_input` or `shutdown`."),
    list("netsensor.flow.tcp_flags", K, F, "Union of TCP flags seen."),
    f("netsensor.rollup.interval_ms", L, R, "Rollup interval in milliseconds."),
    f("netsensor.rollup.dimension", K, R, "`transport`, `service`, `direction`, `size_class`, `source_country`, `destination_country` or `destination`."),
    f("netsensor.rollup.key", K, R, "Value of the dimension, e.g. `tcp`, `https`, `DE`."),
    f("netsensor.rollup.rank", L, R, "Rank among the top N (top-N dimensions only)."),
];

/// The fields carried by records of `kind`.
pub fn fields_for(kind: RecordKind) -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(move |field| field.in_kind(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for field in FIELDS {
            assert!(seen.insert(field.name), "duplicate field {}", field.name);
        }
    }

    #[test]
    fn table_types_are_core_and_module_types_fall_back_to_them() {
        for field in FIELDS {
            assert_eq!(
                field.es_type.core_fallback(),
                field.es_type,
                "{}",
                field.name
            );
            if let Some(module_type) = field.module_type {
                assert_eq!(module_type.core_fallback(), field.es_type, "{}", field.name);
                assert_ne!(module_type, field.es_type, "{}", field.name);
            }
        }
    }

    #[test]
    fn no_field_is_both_leaf_and_object() {
        for a in FIELDS {
            let prefix = format!("{}.", a.name);
            assert!(
                !FIELDS.iter().any(|b| b.name.starts_with(&prefix)),
                "{} is a leaf and an object",
                a.name
            );
        }
    }
}
