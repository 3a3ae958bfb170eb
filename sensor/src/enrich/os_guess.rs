//! Passive OS guess from the SYN and SYN-ACK a host sends (`netsensor.os.name`).
//!
//! Each TCP/IP stack writes its handshake options in its own order and starts from a
//! fixed TTL, so the option layout plus the initial TTL names the stack without sending
//! anything (the idea behind p0f). The signatures live in one static table,
//! [`OS_SIGNATURES`], which docs/os-signatures.md documents row by row. Matching is a few
//! string comparisons over the layout the decoder already built: no allocation per packet.
//!
//! Only layouts that one stack family alone produces are listed. Layouts several stacks
//! share (an MSS alone with TTL 64, `M,N,W,N,N,T`, `M,N,W`) give `None` rather than a
//! coin toss.

/// What the fingerprint is taken from: the IP and TCP headers of one SYN or SYN-ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynFingerprint<'a> {
    /// Observed IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 don't-fragment bit; `false` for IPv6, which has none.
    pub df: bool,
    /// TCP window (unscaled, as on the wire).
    pub window: u16,
    /// MSS option value, if present.
    pub mss: Option<u16>,
    /// Window-scale option shift, if present.
    pub window_scale: Option<u8>,
    /// Option layout, p0f style, e.g. `M1460,S,T,N,W7`: each option in order,
    /// comma-separated: `M<mss>`, `S` (SACK permitted), `T` (timestamps), `N` (NOP),
    /// `W<scale>`, `E` (end of list), `?<kind>` for unknown kinds.
    pub options: &'a str,
    /// True for a SYN-ACK (the server's side), false for a SYN (the client's).
    pub syn_ack: bool,
}

/// Which handshake packets a signature applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packets {
    /// Only the client's SYN.
    Syn,
    /// Only the server's SYN-ACK.
    SynAck,
    /// Both.
    Both,
}

/// What a signature requires of the don't-fragment bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DfRule {
    /// Either value. Most stacks set DF on IPv4, but IPv6 has no DF bit and middleboxes
    /// clear it, so a missing DF does not rule a stack out.
    Any,
    /// DF must be clear.
    Clear,
}

/// One OS signature (see docs/os-signatures.md for the reasoning behind each row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsSignature {
    /// Name reported in `netsensor.os.name`.
    pub name: &'static str,
    /// The initial TTL the stack uses (compared with [`initial_ttl`] of the observed one).
    pub initial_ttl: u8,
    /// Don't-fragment requirement.
    pub df: DfRule,
    /// Which handshake packets the layouts describe.
    pub packets: Packets,
    /// Option layouts, kinds only (`M,S,T,N,W`): values are ignored, as is trailing
    /// end-of-list padding. The fingerprint must equal one of them exactly.
    pub layouts: &'static [&'static str],
    /// Allowed TCP windows; empty means any.
    pub windows: &'static [u16],
}

/// The signature table, in match order (the first matching row wins; a test checks that
/// every row's own layouts are not claimed by an earlier row).
pub static OS_SIGNATURES: &[OsSignature] = &[
    OsSignature {
        name: "Linux",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Both,
        // Full set; timestamps disabled (SYN) or not offered by the client (SYN-ACK).
        layouts: &["M,S,T,N,W", "M,N,N,S,N,W"],
        windows: &[],
    },
    OsSignature {
        name: "Linux",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::SynAck,
        // Linux drops what the client did not offer: here, SACK.
        layouts: &["M,N,N,T,N,W"],
        windows: &[],
    },
    OsSignature {
        name: "Windows",
        initial_ttl: 128,
        df: DfRule::Any,
        packets: Packets::Both,
        // Vista and later; XP/2003 (no window scaling); timestamps enabled.
        layouts: &["M,N,W,N,N,S", "M,N,N,S", "M,N,W,S,T"],
        windows: &[],
    },
    OsSignature {
        name: "Windows",
        initial_ttl: 64,
        df: DfRule::Clear,
        packets: Packets::Syn,
        // IPv6: Windows takes the hop limit from router advertisements (usually 64).
        layouts: &["M,N,W,N,N,S"],
        windows: &[8192, 64240, 65535],
    },
    OsSignature {
        name: "macOS",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Both,
        // Timestamps before SACK-permitted, then end-of-list padding; also iOS.
        layouts: &["M,N,W,N,N,T,S", "M,N,N,T,S"],
        windows: &[],
    },
    OsSignature {
        name: "FreeBSD",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Both,
        layouts: &["M,N,W,S,T"],
        windows: &[],
    },
    OsSignature {
        name: "NetBSD",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Both,
        layouts: &["M,N,W,S,N,N,N,N,T", "M,N,W,N,N,T,S,N,N"],
        windows: &[],
    },
    OsSignature {
        name: "OpenBSD",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Syn,
        layouts: &["M,N,N,S,N,W,N,N,T"],
        windows: &[],
    },
    OsSignature {
        name: "Solaris",
        initial_ttl: 64,
        df: DfRule::Any,
        packets: Packets::Both,
        // Solaris 8-11 put timestamps before the MSS; without timestamps it looks like
        // Windows Vista+ but starts from TTL 64.
        layouts: &["N,N,T,M,N,W,N,N,S", "N,N,T,M,N,W", "N,N,T,M", "M,N,W,N,N,S"],
        windows: &[],
    },
    OsSignature {
        name: "Cisco IOS",
        initial_ttl: 255,
        df: DfRule::Clear,
        packets: Packets::Both,
        layouts: &["M"],
        windows: &[],
    },
];

/// The initial TTL the observed TTL most likely started from (32, 64, 128, 255): the
/// smallest common default not below it.
pub fn initial_ttl(observed: u8) -> u8 {
    match observed {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

/// Passive OS guess of the host that sent this SYN or SYN-ACK; `None` when no signature
/// matches (unknown stack, ambiguous layout, unknown option kinds).
pub fn guess_os(fp: &SynFingerprint<'_>) -> Option<&'static str> {
    let ttl = initial_ttl(fp.ttl);
    let options = trim_end_of_list(fp.options);
    OS_SIGNATURES
        .iter()
        .find(|sig| {
            sig.initial_ttl == ttl
                && applies_to(sig.packets, fp.syn_ack)
                && (sig.df == DfRule::Any || !fp.df)
                && (sig.windows.is_empty() || sig.windows.contains(&fp.window))
                && sig
                    .layouts
                    .iter()
                    .any(|layout| same_layout(options, layout))
        })
        .map(|sig| sig.name)
}

fn applies_to(packets: Packets, syn_ack: bool) -> bool {
    match packets {
        Packets::Both => true,
        Packets::Syn => !syn_ack,
        Packets::SynAck => syn_ack,
    }
}

/// Drops trailing end-of-list tokens (`…,S,E,E` → `…,S`): stacks pad differently and
/// decoders may stop at the first EOL.
fn trim_end_of_list(mut options: &str) -> &str {
    loop {
        if let Some(rest) = options.strip_suffix(",E") {
            options = rest;
        } else if options == "E" {
            return "";
        } else {
            return options;
        }
    }
}

/// True when `options` has exactly the option kinds of `layout`, in order (`M1460` matches
/// `M`, `W7` matches `W`; `S`, `T`, `N`, `E` must be bare; `?…` never matches).
fn same_layout(options: &str, layout: &str) -> bool {
    let mut tokens = options.split(',');
    let mut kinds = layout.split(',');
    loop {
        match (tokens.next(), kinds.next()) {
            (None, None) => return true,
            (Some(token), Some(kind)) if token_is(token, kind) => {}
            _ => return false,
        }
    }
}

fn token_is(token: &str, kind: &str) -> bool {
    match kind {
        "M" | "W" => token
            .strip_prefix(kind)
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit())),
        _ => token == kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(ttl: u8, df: bool, window: u16, options: &str, syn_ack: bool) -> SynFingerprint<'_> {
        SynFingerprint {
            ttl,
            df,
            window,
            mss: None,
            window_scale: None,
            options,
            syn_ack,
        }
    }

    #[test]
    fn initial_ttl_rounds_up_to_common_defaults() {
        assert_eq!(initial_ttl(0), 32);
        assert_eq!(initial_ttl(32), 32);
        assert_eq!(initial_ttl(33), 64);
        assert_eq!(initial_ttl(49), 64);
        assert_eq!(initial_ttl(64), 64);
        assert_eq!(initial_ttl(65), 128);
        assert_eq!(initial_ttl(112), 128);
        assert_eq!(initial_ttl(128), 128);
        assert_eq!(initial_ttl(129), 255);
        assert_eq!(initial_ttl(255), 255);
    }

    /// Real handshakes from dev/fixtures/pcaps, read with
    /// `tshark -Y 'tcp.flags.syn==1' -e ip.ttl -e ip.flags.df -e tcp.window_size_value
    /// -e tcp.options` (layout decoded by hand from the option bytes). The expected OS is
    /// known from the capture itself where it says so (banner, User-Agent), otherwise from
    /// the stack's documented option order (see docs/os-signatures.md).
    #[test]
    fn real_fixture_handshakes() {
        let cases = [
            // http-dns-wikipedia-mixed.pcap, 141.142.220.118 SYN; its HTTP User-Agent says
            // "X11; U; Linux x86_64 … Ubuntu/10.04".
            (fp(64, true, 5840, "M1460,S,T,N,W7", false), Some("Linux")),
            // Same capture, 208.80.152.3 (Wikimedia) SYN-ACK, 15 hops away.
            (fp(49, true, 5792, "M1460,S,T,N,W9", true), Some("Linux")),
            // ftp-ipv4-session.pcap, 141.142.220.235 SYN (client).
            (fp(64, true, 14600, "M1460,S,T,N,W6", false), Some("Linux")),
            // ssh-session.pcap, 131.159.14.23 SYN-ACK (OpenSSH_3.9p1) to a client that
            // offered no SACK: Linux answers NOP,NOP,TS,NOP,WS.
            (fp(44, true, 5792, "M1460,N,N,T,N,W2", true), Some("Linux")),
            // mixed-large-many-protocols.pcap, 137.116.210.57 SYN-ACK to a Windows client
            // (no timestamps offered): Linux answers NOP,NOP,SACK,NOP,WS.
            (fp(49, true, 14600, "M1360,N,N,S,N,W7", true), Some("Linux")),
            // cid-suricata-ipv6-seed7.pcap, 2600:1f13:… (AWS EC2, 9001-byte MTU) SYN over
            // IPv6: no DF bit, hop limit 64.
            (fp(64, false, 26823, "M8941,S,T,N,W7", false), Some("Linux")),
            // mixed-large-many-protocols.pcap, 10.0.0.1 SYN; its User-Agent says
            // "Windows NT 6.1" (Windows 7).
            (
                fp(128, true, 8192, "M1460,N,W2,N,N,S", false),
                Some("Windows"),
            ),
            // Same capture, 168.61.58.14 (Microsoft Azure) SYN-ACK, 17 hops away.
            (
                fp(111, true, 8192, "M1360,N,W8,N,N,S", true),
                Some("Windows"),
            ),
            // http-dns-wikipedia-mixed.pcap, 173.192.163.128 SYN-ACK: XP/2003-style
            // layout, window 16384, DF cleared on the way.
            (fp(112, false, 16384, "M1460,N,N,S", true), Some("Windows")),
            // pcap-nanosecond-sll-tcp.pcap, 137.116.81.94 (Azure) SYN-ACK with timestamps:
            // window 8192 and scale 8 are Windows defaults.
            (fp(117, true, 8192, "M1440,N,W8,S,T", true), Some("Windows")),
            // cid-spec-ipv6.pcap, 2001:470:e5bf:dead:4957:2174:e82c:4887 SYN over IPv6 with
            // hop limit 64 (router-advertised), window 8192, scale 8: Windows 7.
            (
                fp(64, false, 8192, "M1420,N,W8,N,N,S", false),
                Some("Windows"),
            ),
            // http-post.pcap, 141.142.228.5 SYN (curl/7.29.0): Apple's TS-before-SACK
            // layout with two EOL pad bytes.
            (
                fp(64, true, 65535, "M1460,N,W4,N,N,T,S,E,E", false),
                Some("macOS"),
            ),
            // ftp-ipv4-session.pcap, 199.233.217.249 = ftp.NetBSD.org ("NetBSD-ftpd
            // 20100320" banner): active-mode data SYN and the control SYN-ACK.
            (
                fp(48, true, 32768, "M1460,N,W6,S,N,N,N,N,T", false),
                Some("NetBSD"),
            ),
            (
                fp(48, true, 4096, "M1460,N,W6,N,N,T,S,N,N", true),
                Some("NetBSD"),
            ),
            // ssh-session.pcap, 192.150.186.169 SYN (OpenSSH_3.8.1p1): M,N,W,N,N,T without
            // SACK is shared by old FreeBSD, Mac OS X 10.2-10.4 and others: no guess.
            (fp(64, true, 65535, "M1460,N,W0,N,N,T", false), None),
            // tcp-syn-rst-refused.pcap, 1.1.1.1 SYN with no options at all (crafted).
            (fp(64, false, 8192, "", false), None),
            // dns-over-tcp.pcap, 209.87.249.18 SYN-ACK: MSS only at TTL 128, typical of a
            // load balancer or firewall answering for the server: no guess.
            (fp(128, false, 64240, "M1460", true), None),
            // mixed-large-many-protocols.pcap, 172.233.179.195 SYN-ACK: MSS only at TTL 64.
            (fp(52, true, 14600, "M1360", true), None),
            // tcp-retransmissions.pcap, 172.17.96.77 SYN-ACK with an unusual layout.
            (fp(62, true, 32768, "M1460,W0,N,N,N,T", true), None),
        ];
        for (fingerprint, expected) in cases {
            assert_eq!(guess_os(&fingerprint), expected, "{fingerprint:?}");
        }
    }

    /// One synthetic fingerprint per table layout: each must come back as its own row's
    /// name (so no earlier row shadows it).
    #[test]
    fn every_signature_layout_matches_its_row() {
        for sig in OS_SIGNATURES {
            for layout in sig.layouts {
                let options: String = layout
                    .split(',')
                    .map(|k| match k {
                        "M" => "M1460".to_string(),
                        "W" => "W7".to_string(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let window = sig.windows.first().copied().unwrap_or(29200);
                let df = sig.df == DfRule::Any;
                for syn_ack in [false, true] {
                    if !applies_to(sig.packets, syn_ack) {
                        continue;
                    }
                    let fingerprint = fp(sig.initial_ttl - 10, df, window, &options, syn_ack);
                    assert_eq!(
                        guess_os(&fingerprint),
                        Some(sig.name),
                        "{sig:?} {fingerprint:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn synthetic_rows() {
        // Cisco IOS: TTL 255, MSS only, no DF, window 4128.
        assert_eq!(
            guess_os(&fp(254, false, 4128, "M536", false)),
            Some("Cisco IOS")
        );
        assert_eq!(
            guess_os(&fp(250, true, 4128, "M536", false)),
            None,
            "DF set"
        );
        // FreeBSD SYN.
        assert_eq!(
            guess_os(&fp(64, true, 65535, "M1460,N,W6,S,T", false)),
            Some("FreeBSD")
        );
        // Same layout from TTL 128 is Windows with timestamps, not FreeBSD.
        assert_eq!(
            guess_os(&fp(120, true, 65535, "M1460,N,W8,S,T", false)),
            Some("Windows")
        );
        // OpenBSD SYN.
        let openbsd = "M1460,N,N,S,N,W3,N,N,T";
        assert_eq!(
            guess_os(&fp(64, true, 16384, openbsd, false)),
            Some("OpenBSD")
        );
        // Solaris 10: Windows layout but TTL 64 with DF (IPv4).
        assert_eq!(
            guess_os(&fp(60, true, 49640, "M1460,N,W0,N,N,S", false)),
            Some("Solaris")
        );
        assert_eq!(
            guess_os(&fp(64, true, 49232, "N,N,T,M1460,N,W0,N,N,S", true)),
            Some("Solaris")
        );
        // Decoders that keep one EOL, or none, still match macOS.
        assert_eq!(
            guess_os(&fp(64, true, 65535, "M1460,N,W6,N,N,T,S,E", false)),
            Some("macOS")
        );
        assert_eq!(
            guess_os(&fp(64, true, 65535, "M1460,N,W6,N,N,T,S", false)),
            Some("macOS")
        );
        // SYN-ACK-only Linux layouts are not accepted on a SYN.
        let no_sack = "M1460,N,N,T,N,W7";
        assert_eq!(guess_os(&fp(64, true, 29200, no_sack, false)), None);
        assert_eq!(guess_os(&fp(64, true, 29200, no_sack, true)), Some("Linux"));
        // MSS, SACK, timestamps without window scaling: Linux and FreeBSD SYN-ACKs alike.
        assert_eq!(guess_os(&fp(64, true, 29200, "M1460,S,T", true)), None);
    }

    #[test]
    fn unknown_stuff_is_none() {
        assert_eq!(
            guess_os(&fp(64, true, 5840, "M1460,S,T,N,W7,?30", false)),
            None
        );
        assert_eq!(
            guess_os(&fp(64, true, 5840, "?253,M1460,S,T,N,W7", false)),
            None
        );
        assert_eq!(
            guess_os(&fp(30, true, 5840, "M1460,S,T,N,W7", false)),
            None,
            "TTL 32"
        );
        assert_eq!(
            guess_os(&fp(200, true, 5840, "M1460,S,T,N,W7", false)),
            None,
            "TTL 255"
        );
        assert_eq!(guess_os(&fp(64, true, 5840, "Mx,S,T,N,W7", false)), None);
        assert_eq!(
            guess_os(&fp(64, true, 5840, "M1460,S,T,N,W7,", false)),
            None
        );
        assert_eq!(guess_os(&fp(64, true, 5840, "E", false)), None);
        assert_eq!(guess_os(&fp(64, true, 5840, ",,,", false)), None);
        assert_eq!(
            guess_os(&fp(64, true, 5840, "M1460,S,T,N,W", false)),
            Some("Linux")
        );
    }

    /// docs/os-signatures.md documents every row: each layout and name must appear in it.
    #[test]
    fn signatures_are_documented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/os-signatures.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for sig in OS_SIGNATURES {
            assert!(
                doc.contains(&format!("### {}", sig.name)),
                "no section for {}",
                sig.name
            );
            for layout in sig.layouts {
                assert!(
                    doc.contains(&format!("`{layout}`")),
                    "{layout} of {} not in docs",
                    sig.name
                );
            }
        }
    }
}
