//! The fast header path (`decode::fast`) against the full decoder: whenever the fast path
//! answers, its answer is the full decoder's, field by field.
//!
//! - every frame of every fixture (dev/fixtures/pcaps and dev/fixtures/crafted), and each
//!   of those frames cut short and with its wire length changed;
//! - random bytes and fixture frames with random bytes overwritten: never a panic, and
//!   equal or `None`.

mod common;

use std::path::PathBuf;

use netsensor::capture::offline::PcapFile;
use netsensor::capture::LinkType;
use netsensor::decode::{self, fast, DecodeOptions, Decoded};
use proptest::prelude::*;

/// The decoder settings checked: the default (decapsulating VXLAN and GENEVE on their
/// ports), none decapsulated, and tunnels on ports of common services (DNS, HTTPS).
fn all_options() -> &'static [DecodeOptions] {
    static OPTIONS: std::sync::OnceLock<Vec<DecodeOptions>> = std::sync::OnceLock::new();
    OPTIONS.get_or_init(|| {
        vec![
            DecodeOptions::default(),
            DecodeOptions::outer_only(),
            DecodeOptions {
                vxlan_ports: vec![53, 4789],
                geneve_ports: vec![443],
                ..DecodeOptions::default()
            },
        ]
    })
}

/// The fast path's answer under each of [`all_options`], checked against the full
/// decoder's; true when it answered under the default options.
fn check(link: LinkType, frame: &[u8], wire_len: u32, what: &dyn Fn() -> String) -> bool {
    let mut answered = false;
    for (i, options) in all_options().iter().enumerate() {
        let Some(fast) = fast::decode_wire(options, link, frame, wire_len) else {
            continue;
        };
        answered |= i == 0;
        let full: Decoded<'_> = decode::decode_with(options, link, frame, wire_len);
        assert_eq!(fast, full, "{} (options {options:?})", what());
        // Equal slices could still point elsewhere in the frame: the payload must be the
        // same bytes of the frame, not a copy that happens to match.
        assert_eq!(fast.payload.as_ptr(), full.payload.as_ptr(), "{}", what());
        if let decode::Transport::Udp {
            src_port, dst_port, ..
        } = fast.transport
        {
            assert!(
                !options.is_tunnel_udp_port(src_port) && !options.is_tunnel_udp_port(dst_port),
                "{}: a tunnel port answered",
                what()
            );
        }
        // In place, with TCP options only for SYNs (the flows-only path): the same answer,
        // but for the options of other segments, left empty.
        let mut lean = fast::empty();
        let wanted = fast::TcpOptionsWanted::SynOnly;
        assert!(
            fast::decode_into(options, link, frame, wire_len, wanted, &mut lean),
            "{}",
            what()
        );
        let mut expected = full.clone();
        if let decode::Transport::Tcp {
            info: Some(info), ..
        } = &mut expected.transport
        {
            if info.flags & decode::tcp_flags::SYN == 0 {
                info.options = decode::TcpOptions::default();
            }
        }
        assert_eq!(lean, expected, "{} (SYN options only)", what());
    }
    answered
}

struct Frame {
    link: LinkType,
    data: Vec<u8>,
    wire_len: u32,
}

fn capture_files() -> Vec<PathBuf> {
    let mut files = common::fixtures();
    let crafted = common::repo().join("dev/fixtures/crafted");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&crafted)
        .expect("read dev/fixtures/crafted")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    more.sort();
    assert!(
        !more.is_empty(),
        "no crafted captures in {}",
        crafted.display()
    );
    files.extend(more);
    files
}

fn frames_of(path: &std::path::Path) -> Vec<Frame> {
    // Fixtures that are broken on purpose may end in an error: their frames up to it count.
    let Ok(mut file) = PcapFile::open(path) else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    let mut data = Vec::new();
    while let Ok(Some(meta)) = file.next_frame(&mut data) {
        frames.push(Frame {
            link: meta.link,
            data: data.clone(),
            wire_len: meta.wire_len,
        });
    }
    frames
}

fn all_frames() -> &'static [Frame] {
    static FRAMES: std::sync::OnceLock<Vec<Frame>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(|| capture_files().iter().flat_map(|p| frames_of(p)).collect())
}

#[test]
fn fast_path_equals_the_full_decoder_on_every_fixture() {
    let (mut frames, mut answered, mut files_answered) = (0usize, 0usize, 0usize);
    for path in capture_files() {
        let name = common::file_name(&path);
        let mut answered_here = 0;
        for (i, frame) in frames_of(&path).iter().enumerate() {
            frames += 1;
            let what = || format!("{name} frame {}", i + 1);
            if check(frame.link, &frame.data, frame.wire_len, &what) {
                answered_here += 1;
            }
            // The same frame cut short (snap length) and with other wire lengths.
            for cut in [
                frame.data.len().saturating_sub(1),
                frame.data.len() / 2,
                54,
                34,
                14,
            ] {
                if let Some(data) = frame.data.get(..cut) {
                    let what = || format!("{name} frame {} cut at {cut}", i + 1);
                    check(frame.link, data, frame.wire_len, &what);
                    check(frame.link, data, cut as u32, &what);
                }
            }
            for wire_len in [0, 40, frame.wire_len / 2, frame.wire_len + 100] {
                let what = || format!("{name} frame {} wire length {wire_len}", i + 1);
                check(frame.link, &frame.data, wire_len, &what);
            }
        }
        answered += answered_here;
        files_answered += usize::from(answered_here > 0);
    }
    println!("fast path answered {answered} of {frames} frames, in {files_answered} captures");
    // The fixtures are mostly plain TCP/UDP over Ethernet: a fast path that gives up on
    // them is no fast path.
    assert!(frames > 5_000, "only {frames} fixture frames");
    assert!(
        answered * 10 > frames * 8,
        "answered {answered} of {frames}"
    );
}

#[test]
fn tunnel_ports_are_left_to_the_full_decoder() {
    let mut seen = 0;
    for frame in all_frames() {
        let full = decode::decode_wire(frame.link, &frame.data, frame.wire_len);
        let decode::Transport::Udp {
            src_port, dst_port, ..
        } = full.transport
        else {
            continue;
        };
        let options = DecodeOptions {
            vxlan_ports: vec![dst_port],
            ..DecodeOptions::default()
        };
        let answered = fast::decode_wire(&options, frame.link, &frame.data, frame.wire_len);
        if full.error.is_none() {
            seen += 1;
        }
        assert!(
            answered.is_none(),
            "UDP {src_port} -> {dst_port} answered on a tunnel port"
        );
    }
    assert!(seen > 100, "only {seen} UDP frames in the fixtures");
}

fn link_type() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::Ethernet),
        Just(LinkType::LinuxSll),
        Just(LinkType::LinuxSll2),
        Just(LinkType::Raw),
        Just(LinkType::Ipv4),
        Just(LinkType::Ipv6),
        Just(LinkType::Null),
    ]
}

/// A header that steers random bytes into the layers the fast path reads.
fn steered_frame() -> impl Strategy<Value = (LinkType, Vec<u8>)> {
    let ether = prop_oneof![
        Just(vec![0x08, 0x00, 0x45]),
        Just(vec![0x86, 0xdd, 0x60]),
        Just(vec![0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45]),
        Just(vec![
            0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60
        ]),
        Just(vec![
            0x81, 0x00, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00, 0x45
        ]),
    ];
    (
        link_type(),
        ether,
        prop::collection::vec(any::<u8>(), 0..120),
        any::<u8>(),
    )
        .prop_map(|(link, ether, rest, protocol)| {
            let mut frame = Vec::new();
            match link {
                LinkType::Ethernet => {
                    frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
                    frame.extend_from_slice(&ether);
                }
                LinkType::LinuxSll => {
                    frame.extend_from_slice(&[0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
                    frame.extend_from_slice(&ether);
                }
                _ => frame.push(if protocol & 1 == 0 { 0x45 } else { 0x60 }),
            }
            frame.extend_from_slice(&rest);
            // Aim the protocol byte (IPv4 byte 9, IPv6 byte 6) at TCP, UDP or ICMP often.
            let ip = frame.len() - rest.len() - 1;
            let aim = [6u8, 17, 1, 58, protocol][usize::from(protocol % 5)];
            for at in [ip + 9, ip + 6] {
                if let Some(byte) = frame.get_mut(at) {
                    *byte = aim;
                }
            }
            (link, frame)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2048)
    ))]

    #[test]
    fn random_bytes_equal_or_none(link in link_type(), data in prop::collection::vec(any::<u8>(), 0..200), wire in any::<u32>()) {
        check(link, &data, wire, &|| format!("{link:?} {data:02x?} wire {wire}"));
    }

    #[test]
    fn steered_bytes_equal_or_none((link, data) in steered_frame(), wire in any::<u32>()) {
        check(link, &data, wire, &|| format!("{link:?} {data:02x?} wire {wire}"));
        let len = data.len() as u32;
        check(link, &data, len, &|| format!("{link:?} {data:02x?} wire {len}"));
    }

    #[test]
    fn mutated_fixture_frames_equal_or_none(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let frames = all_frames();
        let frame = &frames[pick.index(frames.len())];
        let mut data = frame.data.clone();
        if !data.is_empty() {
            // Mostly the headers: the first 80 bytes.
            let span = data.len().min(80);
            for (at, byte) in &edits {
                data[at.index(span)] = *byte;
            }
        }
        let what = || format!("{:?} {:02x?} wire {}", frame.link, data, frame.wire_len);
        check(frame.link, &data, frame.wire_len, &what);
        let cut = cut.index(data.len() + 1);
        check(frame.link, &data[..cut], frame.wire_len, &what);
    }
}
