//! Well-known service names for transport ports, and the list of cleartext services that
//! can carry credentials.
//!
//! The tables are compiled in (sorted static slices, binary search): a lookup is a few
//! comparisons, needs no file at start-up and never allocates, so it runs per packet.
//!
//! Names follow the IANA "Service Name and Transport Protocol Port Number Registry"
//! (`service-names-port-numbers.csv`), with three kinds of deliberate exceptions, each
//! marked in the table by its [`NameSource`]:
//!
//! - [`NameSource::Renamed`]: IANA's name is correct but not what users and ECS expect:
//!   53 `domain` → `dns`, 520/udp `router` → `rip`.
//! - [`NameSource::DeFacto`]: IANA assigned the port to a service nobody runs any more,
//!   while one well-known product owns it in practice: 902 `vmware-authd` (IANA
//!   `ideafarm-door`), 1521 `oracle` (`ncube-lm`), 2082 `cpanel` (`infowave`), 2181
//!   `zookeeper` (`eforward`), 3128 `http-proxy` (`ndl-aas`), 5601 `kibana`
//!   (`esmagent`), 6443 `kubernetes-api` (`sun-sr-https`), 8000 `http-alt` (`irdmi`; IANA's
//!   own name for 8008/8080), 8443 `https-alt` (`pcsync-https`), 9092 `kafka`
//!   (`XmlIpcRegSvc`), 9200 `elasticsearch` (`wap-wsp`), 9300 `elasticsearch-transport`
//!   (`vrace`).
//! - Where IANA lists several names for one port, the table keeps the current one
//!   (113 `ident`, 465 `submissions`, 1701 `l2tp`, 2049 `nfs`, 3478 `stun`, 512/udp `biff`).
//!
//! IANA reserves most numbers on both TCP and UDP even where the service only ever runs
//! over one of them. The UDP and SCTP tables list only services that really use that
//! transport, so 22/udp has no name while 443/udp is `https` (QUIC), 514/tcp is `shell`
//! and 514/udp `syslog`.

/// Where a table name comes from (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// The name as the IANA registry spells it for this port and transport.
    Iana,
    /// IANA's service, under the name users and ECS expect.
    Renamed,
    /// IANA's assignment is obsolete; the name of the service that owns the port in practice.
    DeFacto,
}

/// One row of a port table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortService {
    /// Transport port number.
    pub port: u16,
    /// Service name reported in `netsensor.service`.
    pub name: &'static str,
    /// Where the name comes from.
    pub source: NameSource,
}

const fn iana(port: u16, name: &'static str) -> PortService {
    PortService {
        port,
        name,
        source: NameSource::Iana,
    }
}

const fn renamed(port: u16, name: &'static str) -> PortService {
    PortService {
        port,
        name,
        source: NameSource::Renamed,
    }
}

const fn de_facto(port: u16, name: &'static str) -> PortService {
    PortService {
        port,
        name,
        source: NameSource::DeFacto,
    }
}

/// IP protocol number of TCP.
const TCP: u8 = 6;
/// IP protocol number of UDP.
const UDP: u8 = 17;
/// IP protocol number of SCTP.
const SCTP: u8 = 132;

/// TCP services, sorted by port (a test checks the order).
pub static TCP_SERVICES: &[PortService] = &[
    iana(7, "echo"),
    iana(9, "discard"),
    iana(13, "daytime"),
    iana(19, "chargen"),
    iana(20, "ftp-data"),
    iana(21, "ftp"),
    iana(22, "ssh"),
    iana(23, "telnet"),
    iana(25, "smtp"),
    iana(37, "time"),
    iana(43, "nicname"),
    iana(49, "tacacs"),
    renamed(53, "dns"),
    iana(70, "gopher"),
    iana(79, "finger"),
    iana(80, "http"),
    iana(88, "kerberos"),
    iana(102, "iso-tsap"),
    iana(110, "pop3"),
    iana(111, "sunrpc"),
    iana(113, "ident"),
    iana(119, "nntp"),
    iana(135, "epmap"),
    iana(139, "netbios-ssn"),
    iana(143, "imap"),
    iana(179, "bgp"),
    iana(194, "irc"),
    iana(389, "ldap"),
    iana(427, "svrloc"),
    iana(443, "https"),
    iana(445, "microsoft-ds"),
    iana(464, "kpasswd"),
    iana(465, "submissions"),
    iana(502, "mbap"),
    iana(512, "exec"),
    iana(513, "login"),
    iana(514, "shell"),
    iana(515, "printer"),
    iana(543, "klogin"),
    iana(544, "kshell"),
    iana(548, "afpovertcp"),
    iana(554, "rtsp"),
    iana(563, "nntps"),
    iana(587, "submission"),
    iana(593, "http-rpc-epmap"),
    iana(631, "ipp"),
    iana(636, "ldaps"),
    iana(646, "ldp"),
    iana(749, "kerberos-adm"),
    iana(853, "domain-s"),
    iana(860, "iscsi"),
    iana(873, "rsync"),
    de_facto(902, "vmware-authd"),
    iana(953, "rndc"),
    iana(989, "ftps-data"),
    iana(990, "ftps"),
    iana(992, "telnets"),
    iana(993, "imaps"),
    iana(995, "pop3s"),
    iana(1080, "socks"),
    iana(1099, "rmiregistry"),
    iana(1194, "openvpn"),
    iana(1433, "ms-sql-s"),
    iana(1494, "ica"),
    de_facto(1521, "oracle"),
    iana(1720, "h323hostcall"),
    iana(1723, "pptp"),
    iana(1883, "mqtt"),
    iana(1935, "macromedia-fcs"),
    iana(2000, "cisco-sccp"),
    iana(2049, "nfs"),
    de_facto(2082, "cpanel"),
    iana(2083, "radsec"),
    de_facto(2181, "zookeeper"),
    iana(2375, "docker"),
    iana(2376, "docker-s"),
    iana(2377, "swarm"),
    iana(2379, "etcd-client"),
    iana(2380, "etcd-server"),
    iana(2404, "iec-104"),
    iana(2947, "gpsd"),
    de_facto(3128, "http-proxy"),
    iana(3260, "iscsi-target"),
    iana(3268, "msft-gc"),
    iana(3269, "msft-gc-ssl"),
    iana(3306, "mysql"),
    iana(3389, "ms-wbt-server"),
    iana(3478, "stun"),
    iana(3690, "svn"),
    iana(3868, "diameter"),
    iana(4369, "epmd"),
    iana(4739, "ipfix"),
    iana(4840, "opcua-tcp"),
    iana(5060, "sip"),
    iana(5061, "sips"),
    iana(5222, "xmpp-client"),
    iana(5269, "xmpp-server"),
    iana(5349, "stuns"),
    iana(5432, "postgresql"),
    de_facto(5601, "kibana"),
    iana(5666, "nrpe"),
    iana(5671, "amqps"),
    iana(5672, "amqp"),
    iana(5900, "rfb"),
    iana(5984, "couchdb"),
    iana(5985, "wsman"),
    iana(5986, "wsmans"),
    iana(6000, "x11"),
    iana(6379, "redis"),
    de_facto(6443, "kubernetes-api"),
    iana(6514, "syslog-tls"),
    iana(6653, "openflow"),
    iana(6667, "ircu"),
    iana(6697, "ircs-u"),
    iana(7474, "neo4j"),
    iana(7547, "cwmp"),
    de_facto(8000, "http-alt"),
    iana(8008, "http-alt"),
    iana(8080, "http-alt"),
    de_facto(8443, "https-alt"),
    iana(8883, "secure-mqtt"),
    de_facto(9092, "kafka"),
    iana(9100, "pdl-datastream"),
    de_facto(9200, "elasticsearch"),
    de_facto(9300, "elasticsearch-transport"),
    iana(9418, "git"),
    iana(10050, "zabbix-agent"),
    iana(10051, "zabbix-trapper"),
    iana(11211, "memcache"),
    iana(20000, "dnp"),
    iana(27017, "mongodb"),
    iana(44818, "EtherNet-IP-2"),
];

/// UDP services, sorted by port (a test checks the order).
pub static UDP_SERVICES: &[PortService] = &[
    iana(7, "echo"),
    iana(9, "discard"),
    iana(19, "chargen"),
    renamed(53, "dns"),
    iana(67, "bootps"),
    iana(68, "bootpc"),
    iana(69, "tftp"),
    iana(88, "kerberos"),
    iana(111, "sunrpc"),
    iana(123, "ntp"),
    iana(137, "netbios-ns"),
    iana(138, "netbios-dgm"),
    iana(161, "snmp"),
    iana(162, "snmptrap"),
    iana(177, "xdmcp"),
    iana(389, "ldap"),
    iana(427, "svrloc"),
    iana(443, "https"),
    iana(464, "kpasswd"),
    iana(500, "isakmp"),
    iana(512, "biff"),
    iana(513, "who"),
    iana(514, "syslog"),
    renamed(520, "rip"),
    iana(521, "ripng"),
    iana(546, "dhcpv6-client"),
    iana(547, "dhcpv6-server"),
    iana(623, "asf-rmcp"),
    iana(853, "domain-s"),
    iana(1194, "openvpn"),
    iana(1434, "ms-sql-m"),
    iana(1701, "l2tp"),
    iana(1812, "radius"),
    iana(1813, "radius-acct"),
    iana(1900, "ssdp"),
    iana(1985, "hsrp"),
    iana(2049, "nfs"),
    iana(2123, "gtp-control"),
    iana(2152, "gtp-user"),
    iana(3478, "stun"),
    iana(3503, "lsp-ping"),
    iana(3544, "teredo"),
    iana(3702, "ws-discovery"),
    iana(3784, "bfd-control"),
    iana(4500, "ipsec-nat-t"),
    iana(4739, "ipfix"),
    iana(4754, "gre-in-udp"),
    iana(4784, "bfd-multi-ctl"),
    iana(4789, "vxlan"),
    iana(5004, "avt-profile-1"),
    iana(5005, "avt-profile-2"),
    iana(5060, "sip"),
    iana(5246, "capwap-control"),
    iana(5247, "capwap-data"),
    iana(5351, "pcp"),
    iana(5353, "mdns"),
    iana(5355, "llmnr"),
    iana(5683, "coap"),
    iana(5684, "coaps"),
    iana(6081, "geneve"),
    iana(6343, "sflow"),
    iana(6514, "syslog-tls"),
    iana(11211, "memcache"),
    iana(20000, "dnp"),
    iana(44818, "EtherNet-IP-2"),
    iana(47808, "bacnet"),
];

/// SCTP services, sorted by port (a test checks the order).
pub static SCTP_SERVICES: &[PortService] = &[
    iana(80, "http"),
    iana(179, "bgp"),
    iana(443, "https"),
    iana(2904, "m2ua"),
    iana(2905, "m3ua"),
    iana(2944, "megaco-h248"),
    iana(2945, "h248-binary"),
    iana(3565, "m2pa"),
    iana(3868, "diameter"),
    iana(5060, "sip"),
    iana(5061, "sips"),
    iana(9900, "iua"),
    iana(14001, "sua"),
    iana(29118, "sgsap"),
    iana(29168, "sbcap"),
    iana(36412, "s1-control"),
    iana(36422, "x2-control"),
    iana(38412, "ng-control"),
    iana(38422, "xn-control"),
    iana(38462, "e1-interface"),
    iana(38472, "f1-control"),
];

/// The port table of a transport protocol (6 TCP, 17 UDP, 132 SCTP); empty for others.
pub fn services_for(proto: u8) -> &'static [PortService] {
    match proto {
        TCP => TCP_SERVICES,
        UDP => UDP_SERVICES,
        SCTP => SCTP_SERVICES,
        _ => &[],
    }
}

/// IANA service name for a transport port (proto 6 tcp, 17 udp, 132 sctp), if well known.
///
/// Names follow the IANA registry except for the documented renames (53 is `dns`); see
/// the module documentation. Other protocols and unlisted ports give `None`.
pub fn port_service(proto: u8, port: u16) -> Option<&'static str> {
    let table = services_for(proto);
    table
        .binary_search_by_key(&port, |row| row.port)
        .ok()
        .and_then(|i| table.get(i))
        .map(|row| row.name)
}

/// Which endpoint of a connection runs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSide {
    /// The packet's source port is the service port (a server's reply).
    Source,
    /// The packet's destination port is the service port (a client's request).
    Destination,
}

/// Which side is the server: returns the service of the server-side port and whether it is
/// the destination.
///
/// Rule: if exactly one port has a service, that one; if both do, the lower port number
/// (the higher one is more likely an ephemeral port that happens to be listed); on a tie
/// (same port both ways) the destination; if neither has one, `None`.
pub fn server_service(
    proto: u8,
    src_port: u16,
    dst_port: u16,
) -> Option<(&'static str, ServerSide)> {
    match (port_service(proto, src_port), port_service(proto, dst_port)) {
        (Some(src), Some(dst)) => {
            if src_port < dst_port {
                Some((src, ServerSide::Source))
            } else {
                Some((dst, ServerSide::Destination))
            }
        }
        (Some(src), None) => Some((src, ServerSide::Source)),
        (None, Some(dst)) => Some((dst, ServerSide::Destination)),
        (None, None) => None,
    }
}

/// Services (as [`port_service`] names them) whose protocol is cleartext and can carry
/// credentials: `netsensor.insecure`.
///
/// - `telnet` (23), `ftp` (21) and `ftp-data` (20), `tftp` (69/udp);
/// - the BSD r-commands `exec` (rexec, 512/tcp), `login` (rlogin, 513/tcp),
///   `shell` (rsh, 514/tcp) — 512–514/udp are `biff`, `who` and `syslog` and are not listed;
/// - `pop3` (110) and `imap` (143): the client logs in on every session and STARTTLS is
///   optional, so the port alone is a fair signal;
/// - `snmp` and `snmptrap` (161/162): v1/v2c send the community string in clear (SNMPv3
///   cannot be told apart by port, so it is flagged too);
/// - `http` (80), `http-alt` (8000, 8008, 8080), and any connection whose payload the
///   decoder recognised as HTTP (application protocol `http`);
/// - `ldap` (389): simple binds send the password in clear.
///
/// Not listed: `smtp` (25). Port 25 is mostly MTA-to-MTA relay without authentication and
/// upgrades to TLS with STARTTLS on the same port, so flagging it by port would mark most
/// mail traffic; client submission with AUTH uses 587/465, which are TLS-protected.
pub const INSECURE_SERVICES: &[&str] = &[
    "telnet", "ftp", "ftp-data", "tftp", "exec", "login", "shell", "pop3", "imap", "snmp",
    "snmptrap", "http", "http-alt", "ldap",
];

/// Application protocols that prove the payload is encrypted, overriding the port.
const ENCRYPTED_APP_PROTOCOLS: &[&str] = &["tls", "ssl", "ssh", "quic", "dtls"];

/// True for cleartext protocols that can carry credentials (see [`INSECURE_SERVICES`]).
///
/// `service` is the server-side port's name from [`server_service`]; `app_protocol` is
/// what the payload showed (`http`, `tls`, …), compared case-insensitively. Payload
/// evidence wins over the port: an application protocol that is itself in the list marks
/// the traffic insecure on any port, and an encrypted one (`tls`, `ssh`, …) clears it even
/// on an insecure port (TLS on port 80).
pub fn is_insecure(service: Option<&str>, app_protocol: Option<&str>) -> bool {
    let listed = |name: &str| {
        INSECURE_SERVICES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
    };
    if let Some(app) = app_protocol {
        if listed(app) {
            return true;
        }
        if ENCRYPTED_APP_PROTOCOLS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(app))
        {
            return false;
        }
    }
    service.is_some_and(listed)
}

/// docs/services.md, rendered from the tables and [`INSECURE_SERVICES`] (a test keeps the
/// committed file in step).
pub fn render_markdown() -> String {
    use std::fmt::Write as _;

    let mut out = String::from(
        "# Service names\n\n\
         <!-- Generated from sensor/src/enrich/service.rs; regenerate with \
         NETSENSOR_BLESS=1 cargo test -p netsensor services_doc. -->\n\n\
         `netsensor.service` is the well-known service of the server-side port: when both \
         ports have a name, the lower port; on a tie, the destination. \
         `netsensor.source.service` and `netsensor.destination.service` name each side's \
         port. Names follow the IANA Service Name and Transport Protocol Port Number \
         Registry, except where the Source column says otherwise:\n\n\
         - **renamed**: IANA's service under the name users and ECS expect \
         (`domain` is `dns`, UDP `router` is `rip`).\n\
         - **de facto**: IANA's assignment is obsolete and one well-known product owns the \
         port in practice (9092 is `kafka`, not `XmlIpcRegSvc`).\n\n\
         The UDP and SCTP tables list only services that really run over that transport.\n",
    );
    let _ = write!(
        out,
        "\n## Insecure services\n\n`netsensor.insecure` is true when the server-side \
         service is one of these cleartext protocols that can carry credentials, or when the \
         payload was recognised as one (HTTP on any port); a payload recognised as TLS, SSH \
         or QUIC clears it. SMTP (25) is deliberately not listed: it is mostly \
         unauthenticated relay and upgrades to TLS with STARTTLS on the same port.\n\n"
    );
    for name in INSECURE_SERVICES {
        let _ = writeln!(out, "- `{name}`");
    }
    for (title, table) in [
        ("TCP", TCP_SERVICES),
        ("UDP", UDP_SERVICES),
        ("SCTP", SCTP_SERVICES),
    ] {
        let _ = write!(
            out,
            "\n## {title}\n\n| Port | Service | Source |\n| ---: | --- | --- |\n"
        );
        for row in table {
            let source = match row.source {
                NameSource::Iana => "IANA",
                NameSource::Renamed => "renamed",
                NameSource::DeFacto => "de facto",
            };
            let _ = writeln!(out, "| {} | `{}` | {source} |", row.port, row.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for (proto, table) in [
            (TCP, TCP_SERVICES),
            (UDP, UDP_SERVICES),
            (SCTP, SCTP_SERVICES),
        ] {
            for pair in table.windows(2) {
                assert!(
                    pair[0].port < pair[1].port,
                    "proto {proto}: {:?} then {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn table_covers_at_least_150_ports() {
        let mut ports: Vec<u16> = TCP_SERVICES
            .iter()
            .chain(UDP_SERVICES)
            .chain(SCTP_SERVICES)
            .map(|r| r.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert!(ports.len() >= 150, "only {} distinct ports", ports.len());
    }

    #[test]
    fn every_row_is_found_by_lookup() {
        for (proto, table) in [
            (TCP, TCP_SERVICES),
            (UDP, UDP_SERVICES),
            (SCTP, SCTP_SERVICES),
        ] {
            for row in table {
                assert_eq!(
                    port_service(proto, row.port),
                    Some(row.name),
                    "{proto}/{}",
                    row.port
                );
            }
        }
    }

    #[test]
    fn tcp_mappings() {
        // IANA service-names-port-numbers.csv spellings.
        assert_eq!(port_service(6, 22), Some("ssh"));
        assert_eq!(port_service(6, 80), Some("http"));
        assert_eq!(port_service(6, 443), Some("https"));
        assert_eq!(port_service(6, 445), Some("microsoft-ds"));
        assert_eq!(port_service(6, 514), Some("shell"));
        assert_eq!(port_service(6, 3389), Some("ms-wbt-server"));
        assert_eq!(port_service(6, 5432), Some("postgresql"));
        assert_eq!(port_service(6, 53), Some("dns"));
        assert_eq!(port_service(6, 9092), Some("kafka"));
        assert_eq!(port_service(6, 1), None);
        assert_eq!(port_service(6, 65535), None);
        assert_eq!(port_service(6, 123), None, "ntp is UDP-only in practice");
    }

    #[test]
    fn udp_mappings() {
        assert_eq!(port_service(17, 53), Some("dns"));
        assert_eq!(port_service(17, 67), Some("bootps"));
        assert_eq!(port_service(17, 123), Some("ntp"));
        assert_eq!(port_service(17, 443), Some("https"));
        assert_eq!(port_service(17, 514), Some("syslog"));
        assert_eq!(port_service(17, 520), Some("rip"));
        assert_eq!(port_service(17, 4789), Some("vxlan"));
        assert_eq!(port_service(17, 6081), Some("geneve"));
        assert_eq!(port_service(17, 22), None);
        assert_eq!(port_service(17, 80), None);
    }

    #[test]
    fn sctp_and_other_protocols() {
        assert_eq!(port_service(132, 3868), Some("diameter"));
        assert_eq!(port_service(132, 36412), Some("s1-control"));
        assert_eq!(port_service(132, 22), None);
        assert_eq!(port_service(1, 80), None);
        assert_eq!(port_service(47, 80), None);
    }

    #[test]
    fn server_side_selection() {
        // Client request: ephemeral source, service destination.
        assert_eq!(
            server_service(6, 51234, 443),
            Some(("https", ServerSide::Destination))
        );
        // Server reply.
        assert_eq!(
            server_service(6, 443, 51234),
            Some(("https", ServerSide::Source))
        );
        // Both listed: the lower port wins (FTP active data 20 → client port that is 3306).
        assert_eq!(
            server_service(6, 20, 3306),
            Some(("ftp-data", ServerSide::Source))
        );
        assert_eq!(
            server_service(6, 3306, 80),
            Some(("http", ServerSide::Destination))
        );
        // Tie: the destination.
        assert_eq!(
            server_service(17, 53, 53),
            Some(("dns", ServerSide::Destination))
        );
        assert_eq!(
            server_service(17, 123, 123),
            Some(("ntp", ServerSide::Destination))
        );
        // Neither.
        assert_eq!(server_service(6, 40000, 50001), None);
        assert_eq!(server_service(58, 0, 0), None);
    }

    #[test]
    fn insecure_by_service_and_payload() {
        for (proto, port) in [
            (6, 23),
            (6, 21),
            (6, 20),
            (17, 69),
            (6, 512),
            (6, 513),
            (6, 514),
            (6, 110),
            (6, 143),
            (17, 161),
            (17, 162),
            (6, 80),
            (6, 8080),
            (6, 8000),
            (6, 389),
        ] {
            let service = port_service(proto, port);
            assert!(is_insecure(service, None), "{proto}/{port} = {service:?}");
        }
        for (proto, port) in [
            (6, 22),
            (6, 443),
            (6, 993),
            (6, 25),
            (6, 587),
            (17, 514),
            (17, 53),
        ] {
            let service = port_service(proto, port);
            assert!(!is_insecure(service, None), "{proto}/{port} = {service:?}");
        }
        assert!(is_insecure(None, Some("http")));
        assert!(is_insecure(Some("kafka"), Some("HTTP")));
        assert!(!is_insecure(Some("http"), Some("tls")));
        assert!(is_insecure(Some("http"), Some("dns")));
        assert!(!is_insecure(None, None));
    }

    #[test]
    fn insecure_list_names_exist_in_tables() {
        for name in INSECURE_SERVICES {
            let found = TCP_SERVICES
                .iter()
                .chain(UDP_SERVICES)
                .any(|r| r.name == *name);
            assert!(found, "{name} is not a table name");
        }
    }

    #[test]
    fn services_doc_matches_table() {
        let rendered = render_markdown();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/services.md");
        if std::env::var_os("NETSENSOR_BLESS").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let doc = std::fs::read_to_string(path).unwrap();
        assert!(
            doc == rendered,
            "docs/services.md is stale: regenerate it with NETSENSOR_BLESS=1 cargo test \
             -p netsensor services_doc"
        );
    }
}
