//! The AF_PACKET backend and interface selection on real interfaces, in network namespaces.
//!
//! Each test makes its own namespaces (`nsaf-<pid>-<n>-a` and `-b`) joined by a veth pair
//! (`afa` in a, `afb` in b) with no addresses and IPv6 off, so the link is silent except
//! for what the test sends: fixture captures replayed with tcpreplay from one end, captured
//! at the other. Nothing is routed anywhere, and every namespace is deleted by a guard, also
//! when an assertion fails. The capture code runs in a thread that joined namespace a
//! (setns), as the sensor would run inside it.
//!
//! The tests need root (namespaces) and fail, never skip, without it or without a tool.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netsensor::capture::afpacket::{AfPacketGroup, AfPacketRing, AfPacketSettings};
use netsensor::capture::live::{Direction, LiveError, LiveSettings};
use netsensor::capture::select::{list_interfaces, select, Selector};
use netsensor::capture::{FrameBatch, LinkType, LiveSource};
use netsensor::config::InterfaceSelection;

/// Commands the tests run, with the Debian package providing each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("tcpreplay", "tcpreplay"),
    ("tcpdump", "tcpdump"),
    ("setpriv", "util-linux"),
];
/// The veth end the tests capture on (in namespace a), and its peer (in b).
const IF_A: &str = "afa";
const IF_B: &str = "afb";
/// Replay rate: bounded, so the veth's backlog never overflows on a busy machine.
const PPS: &str = "10000";
/// Longest a test waits for frames it expects.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------

/// Two namespaces and a veth pair between them; deleted on drop.
struct Net {
    a: String,
    b: String,
}

impl Net {
    fn new() -> Net {
        require_root_and_tools();
        remove_stale_namespaces();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "nsaf-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let net = Net {
            a: format!("{prefix}-a"),
            b: format!("{prefix}-b"),
        };
        ip(&["netns", "add", &net.a]);
        ip(&["netns", "add", &net.b]);
        ip(&[
            "link", "add", IF_A, "netns", &net.a, "type", "veth", "peer", "name", IF_B, "netns",
            &net.b,
        ]);
        for (ns, iface) in [(&net.a, IF_A), (&net.b, IF_B)] {
            silence(ns, iface);
            // Room for the fixtures' VLAN-tagged full-size frames.
            ip(&["-n", ns, "link", "set", iface, "mtu", "9000"]);
            ip(&["-n", ns, "link", "set", iface, "up"]);
        }
        // Sending works once the kernel has seen the carrier (and activated the queue).
        let deadline = Instant::now() + WAIT;
        while !(link_up(&net.a, IF_A) && link_up(&net.b, IF_B)) {
            assert!(Instant::now() < deadline, "the veth pair never came up");
            std::thread::sleep(Duration::from_millis(20));
        }
        net
    }

    /// Replays `pcap` out of the veth end in namespace b (`from_b`) or a, and waits for
    /// it; returns the frames tcpreplay reports sent.
    fn replay(&self, from_b: bool, pcap: &Path) -> usize {
        finish_replay(self.start_replay(from_b, pcap))
    }

    /// Starts replaying `pcap` (see [`Net::replay`]); [`finish_replay`] waits for it.
    fn start_replay(&self, from_b: bool, pcap: &Path) -> std::process::Child {
        let (ns, iface) = if from_b {
            (&self.b, IF_B)
        } else {
            (&self.a, IF_A)
        };
        Command::new("ip")
            .args(["netns", "exec", ns, "tcpreplay", "-i", iface, "--pps", PPS])
            .arg(pcap)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tcpreplay")
    }

    /// Runs `f` in a thread that joined namespace a.
    fn in_a<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.a, f)
    }
}

/// Waits for a replay; returns the frames tcpreplay reports sent (and none failed).
fn finish_replay(child: std::process::Child) -> usize {
    let out = child.wait_with_output().expect("wait for tcpreplay");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpreplay failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |label: &str| -> usize {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in tcpreplay's output: {text}"))
    };
    assert_eq!(count("Failed packets:"), 0, "{text}");
    count("Successful packets:")
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// No spontaneous traffic: no addresses are configured, and IPv6 (router and neighbour
/// solicitations, MLD reports) is off.
fn silence(ns: &str, iface: &str) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw"])
        .arg(format!("net.ipv6.conf.{iface}.disable_ipv6=1"))
        .output()
        .expect("run sysctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` in a new thread that joined network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = PathBuf::from("/run/netns").join(ns);
    let thread = std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: the descriptor is an open namespace file; setns only changes this
        // thread's network namespace.
        let result = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(result, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    });
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn require_root_and_tools() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests create network namespaces and must run as root"
    );
    for (tool, package) in TOOLS {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(found, "{tool} is missing: apt-get install {package}");
    }
}

/// Deletes namespaces left by earlier runs whose process is gone.
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix("nsaf-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Capturing and the reference
// ---------------------------------------------------------------------------------------

/// One captured or source frame.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Frame {
    bytes: Vec<u8>,
    wire_len: u32,
}

fn settings(interface: &str) -> AfPacketSettings {
    let mut settings = AfPacketSettings::new(LiveSettings {
        interface: interface.into(),
        promiscuous: true,
        direction: Direction::InOut,
        filter: None,
        snaplen_bytes: 262_144,
        buffer_size_bytes: 1 << 20,
        immediate: false,
        timeout_ms: 50,
    });
    // Larger than any fixture, so the tests can replay first and read afterwards.
    settings.block_size_bytes = 1 << 20;
    settings.block_count = 8;
    settings
}

/// Reads the rings until they hold `expected` frames in all (or the wait runs out), then
/// once more to catch anything beyond; returns each ring's frames with their timestamps.
fn read_rings(rings: &mut [AfPacketRing], expected: usize) -> Vec<Vec<(Frame, i64)>> {
    let mut out = vec![Vec::new(); rings.len()];
    let deadline = Instant::now() + WAIT;
    let mut batch = FrameBatch::with_capacity(512);
    let mut extra_round = false;
    loop {
        for (ring, frames) in rings.iter_mut().zip(out.iter_mut()) {
            batch.clear();
            ring.fill(&mut batch, 512).expect("fill");
            for (meta, bytes) in batch.iter() {
                assert_eq!(meta.cap_len as usize, bytes.len());
                frames.push((
                    Frame {
                        bytes: bytes.to_vec(),
                        wire_len: meta.wire_len,
                    },
                    meta.timestamp_ns,
                ));
            }
        }
        let total: usize = out.iter().map(Vec::len).sum();
        if extra_round || Instant::now() > deadline {
            return out;
        }
        extra_round = total >= expected;
    }
}

/// The frames of a capture file.
fn source_frames(path: &Path) -> Vec<Frame> {
    let mut capture = pcap::Capture::from_file(path).expect("open fixture");
    let mut frames = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        frames.push(Frame {
            bytes: packet.data.to_vec(),
            wire_len: packet.header.len,
        });
    }
    frames
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join(name)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

/// Whether `part` is a subsequence of `whole` (frames of one ring keep the wire order).
fn is_subsequence(part: &[Frame], whole: &[Frame]) -> bool {
    let mut rest = part.iter().peekable();
    for frame in whole {
        if rest.peek() == Some(&frame) {
            rest.next();
        }
    }
    rest.peek().is_none()
}

fn sorted(mut frames: Vec<Frame>) -> Vec<Frame> {
    frames.sort();
    frames
}

// ---------------------------------------------------------------------------------------
// AF_PACKET
// ---------------------------------------------------------------------------------------

/// One ring: every replayed frame once, in order, byte for byte, with its wire length and
/// a nanosecond timestamp taken during the test; tcpdump on the same interface sees the
/// same frames.
#[test]
fn one_ring_captures_what_was_sent_like_tcpdump() {
    let net = Net::new();
    let pcap = fixture("http-dns-wikipedia-mixed.pcap");
    let source = source_frames(&pcap);
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("tcpdump.pcap");
    let mut tcpdump = Command::new("ip")
        .args([
            "netns", "exec", &net.a, "tcpdump", "-i", IF_A, "-s", "0", "-U", "-n",
        ])
        .args(["--immediate-mode", "--time-stamp-precision=nano"])
        .args(["-c", &source.len().to_string(), "-w"])
        .arg(&dump)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tcpdump");
    let (rings, start) = net.in_a(|| (AfPacketGroup::open(&settings(IF_A), 1), now_ns()));
    let mut rings = rings.expect("open one ring");
    assert_eq!(rings.len(), 1);
    assert_eq!(rings[0].name(), "afa#0");
    let _stderr = wait_for_tcpdump(&mut tcpdump);
    let replay = net.start_replay(true, &pcap);
    let expected = source.len();
    let captured = net.in_a(move || read_rings(&mut rings, expected)).remove(0);
    assert_eq!(finish_replay(replay), source.len());
    let end = now_ns();
    let frames: Vec<Frame> = captured.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(frames.len(), source.len(), "frames captured");
    assert!(
        frames == source,
        "the captured frames are the sent ones, in order"
    );
    let stamps: Vec<i64> = captured.iter().map(|(_, ts)| *ts).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "timestamps in order"
    );
    assert!(
        stamps.iter().all(|&ts| (start..=end).contains(&ts)),
        "timestamps of this run"
    );
    let status = tcpdump.wait().expect("tcpdump ends after -c frames");
    assert!(status.success());
    assert!(
        source_frames(&dump) == frames,
        "tcpdump saw the same frames"
    );
}

/// Waits until tcpdump listens; returns its stderr, to be kept open until it exits.
fn wait_for_tcpdump(
    tcpdump: &mut std::process::Child,
) -> std::io::BufReader<std::process::ChildStderr> {
    use std::io::{BufRead, BufReader};
    let mut stderr = BufReader::new(tcpdump.stderr.take().expect("tcpdump stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("tcpdump prints a line when listening");
    assert!(line.contains("listening on"), "tcpdump: {line}");
    stderr
}

/// Two rings in one fanout group: every frame lands in exactly one ring, each ring keeps
/// the wire order of its frames, and both rings get some (many flows, kernel flow hash).
#[test]
fn two_rings_capture_every_frame_exactly_once() {
    let net = Net::new();
    let pcap = fixture("mixed-large-many-protocols.pcap");
    let source = source_frames(&pcap);
    let mut rings = net
        .in_a(|| AfPacketGroup::open(&settings(IF_A), 2))
        .expect("open two rings");
    assert_eq!(rings.len(), 2);
    assert_eq!(rings[0].fanout_group(), rings[1].fanout_group());
    // Read while replaying: blocks are handed over every block timeout, however full.
    let replay = net.start_replay(true, &pcap);
    let expected = source.len();
    let per_ring = net.in_a(move || {
        let frames = read_rings(&mut rings, expected);
        let drops: Vec<_> = rings.iter_mut().map(|r| r.kernel_drops()).collect();
        (frames, drops)
    });
    let (per_ring, drops) = per_ring;
    assert_eq!(finish_replay(replay), source.len());
    for d in &drops {
        assert_eq!((d.dropped, d.ring_errors), (0, 0), "{drops:?}");
    }
    let rings: Vec<Vec<Frame>> = per_ring
        .into_iter()
        .map(|r| r.into_iter().map(|(f, _)| f).collect())
        .collect();
    let counts: Vec<usize> = rings.iter().map(Vec::len).collect();
    assert_eq!(counts.iter().sum::<usize>(), source.len(), "{counts:?}");
    assert!(counts.iter().all(|&c| c > 0), "both rings used: {counts:?}");
    let all: Vec<Frame> = rings.iter().flatten().cloned().collect();
    assert!(
        sorted(all) == sorted(source.clone()),
        "each frame exactly once"
    );
    for ring in &rings {
        assert!(is_subsequence(ring, &source), "a ring keeps the wire order");
    }
}

/// A BPF filter keeps exactly the frames libpcap's own matcher keeps, and the snap length
/// cuts the copies but not the wire length.
#[test]
fn filter_and_snaplen_apply() {
    let net = Net::new();
    let pcap = fixture("http-dns-wikipedia-mixed.pcap");
    let program = pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .unwrap()
        .compile("udp", true)
        .unwrap();
    let expected: Vec<Frame> = source_frames(&pcap)
        .into_iter()
        .filter(|f| program.filter(&f.bytes))
        .map(|f| Frame {
            bytes: f.bytes[..f.bytes.len().min(60)].to_vec(),
            wire_len: f.wire_len,
        })
        .collect();
    let all = source_frames(&pcap).len();
    assert!(
        !expected.is_empty() && expected.len() < all,
        "fixture has UDP and more"
    );
    let mut settings = settings(IF_A);
    settings.capture.filter = Some("udp".into());
    settings.capture.snaplen_bytes = 60;
    let mut rings = net
        .in_a(move || AfPacketGroup::open(&settings, 2))
        .expect("open");
    let replay = net.start_replay(true, &pcap);
    let count = expected.len();
    let captured: Vec<Frame> = net
        .in_a(move || read_rings(&mut rings, count))
        .into_iter()
        .flatten()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(finish_replay(replay), all);
    assert!(
        sorted(captured) == sorted(expected),
        "only UDP, cut at 60 bytes"
    );
}

/// A VLAN tag the receiving stack takes out of the frame is put back.
#[test]
fn vlan_tags_are_put_back() {
    let net = Net::new();
    let pcap = fixture("vlan-8021q-http.pcap");
    let source = source_frames(&pcap);
    let mut rings = net
        .in_a(|| AfPacketGroup::open(&settings(IF_A), 1))
        .expect("open");
    let replay = net.start_replay(true, &pcap);
    let count = source.len();
    let captured: Vec<Frame> = net
        .in_a(move || read_rings(&mut rings, count))
        .remove(0)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(finish_replay(replay), count);
    assert!(captured == source, "tagged frames byte for byte");
}

/// A tun interface carries raw IP (no link header): the ring reports it as such, and the
/// filter is compiled for raw IP. Packets written into the tun device are what it receives.
#[test]
fn raw_ip_on_a_tun_interface() {
    use std::io::Write;
    let net = Net::new();
    let mut udp = source_frames(&fixture("rawip-ipv4-dns.pcap"));
    udp.extend(source_frames(&fixture("rawip-ipv6-dns.pcap")));
    // An ICMP echo request (IPv4, 28 bytes): not UDP, so the filter must drop it.
    let icmp: Vec<u8> = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 1, 0, 1,
    ];
    let ns = net.a.clone();
    let expected = udp.clone();
    let (link, captured) = net.in_a(move || {
        let mut tun = open_tun("aftun0");
        ip(&["-n", &ns, "link", "set", "aftun0", "up"]);
        let mut settings = settings("aftun0");
        settings.capture.filter = Some("udp".into());
        let mut rings = AfPacketGroup::open(&settings, 1).expect("open tun");
        tun.write_all(&icmp).expect("write to tun");
        for frame in &udp {
            tun.write_all(&frame.bytes).expect("write to tun");
        }
        let link = rings[0].link();
        let frames = read_rings(&mut rings, udp.len()).remove(0);
        (link, frames)
    });
    assert_eq!(link, LinkType::Raw);
    let captured: Vec<Frame> = captured.into_iter().map(|(f, _)| f).collect();
    assert!(captured == expected, "{captured:?}");
}

/// A tun device named `name` in this thread's namespace, held open (so it has carrier).
fn open_tun(name: &str) -> File {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .expect("open /dev/net/tun");
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the ifreq it is given, which lives across the call.
    let result = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut request) };
    assert_eq!(result, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
    tun
}

/// `in` sees only what the interface received, `out` only what it sent.
#[test]
fn direction_in_and_out() {
    let net = Net::new();
    let received = fixture("dns-a-aaaa-mx.pcap");
    let sent = fixture("icmp-echo.pcap");
    let mut inbound = settings(IF_A);
    inbound.capture.direction = Direction::In;
    let mut outbound = settings(IF_A);
    outbound.capture.direction = Direction::Out;
    let (mut rings_in, mut rings_out) = net.in_a(move || {
        (
            AfPacketGroup::open(&inbound, 1).expect("open in"),
            AfPacketGroup::open(&outbound, 1).expect("open out"),
        )
    });
    let replays = [
        net.start_replay(true, &received),
        net.start_replay(false, &sent),
    ];
    let (got_in, got_out) = net.in_a(move || {
        let got_in = read_rings(&mut rings_in, source_frames(&received).len());
        let got_out = read_rings(&mut rings_out, source_frames(&sent).len());
        (got_in, got_out)
    });
    for replay in replays {
        finish_replay(replay);
    }
    let frames = |r: Vec<Vec<(Frame, i64)>>| -> Vec<Frame> {
        r.into_iter().flatten().map(|(f, _)| f).collect()
    };
    assert!(frames(got_in) == source_frames(&fixture("dns-a-aaaa-mx.pcap")));
    assert!(frames(got_out) == source_frames(&fixture("icmp-echo.pcap")));
}

/// A ring left unread fills up: the kernel counts the frames it could not store, and
/// those plus the ones read are the ones sent.
#[test]
fn drops_are_counted_when_the_ring_is_full() {
    let net = Net::new();
    let pcap = fixture("http-dns-wikipedia-mixed.pcap");
    let mut settings = settings(IF_A);
    settings.block_size_bytes = 4096;
    settings.block_count = 1;
    let mut rings = net
        .in_a(move || AfPacketGroup::open(&settings, 1))
        .expect("open");
    let sent = net.replay(true, &pcap);
    let (captured, drops) = net.in_a(move || {
        // Nothing more is coming: one round of reads empties the ring.
        let frames = read_rings(&mut rings, 0).remove(0);
        (frames.len(), rings[0].kernel_drops())
    });
    assert!(captured > 0 && drops.dropped > 0, "{captured} {drops:?}");
    assert_eq!(captured as u64 + drops.dropped, sent as u64, "{drops:?}");
    assert!(drops.freeze_queue > 0, "{drops:?}");
}

/// An interface that does not exist is named in the error; one removed while captured
/// ends the capture with an error naming it.
#[test]
fn missing_and_vanishing_interfaces() {
    let net = Net::new();
    let error = net
        .in_a(|| AfPacketGroup::open(&settings("nosuch0"), 2).err())
        .expect("an error");
    assert!(
        matches!(error, LiveError::NoSuchInterface { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("nosuch0"), "{error}");

    let mut rings = net
        .in_a(|| AfPacketGroup::open(&settings(IF_A), 1))
        .expect("open");
    ip(&["-n", &net.a, "link", "del", IF_A]);
    let result = net.in_a(move || {
        let mut batch = FrameBatch::default();
        let deadline = Instant::now() + WAIT;
        loop {
            match rings[0].fill(&mut batch, 16) {
                Err(error) => return Some(error),
                Ok(_) if Instant::now() > deadline => return None,
                Ok(_) => {}
            }
        }
    });
    let error = result.expect("reading a removed interface fails");
    assert!(
        matches!(error, LiveError::InterfaceGone { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(IF_A), "{error}");
}

/// The sensor opens AF_PACKET rings (promiscuous, fanout) as `nobody` with CAP_NET_RAW and
/// nothing else; without it, the error names the interface and the capability.
#[test]
fn cap_net_raw_is_enough() {
    use std::os::unix::fs::PermissionsExt;
    let net = Net::new();
    let dir = tempfile::Builder::new()
        .prefix("netsensor-afpacket-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("netsensor");
    std::fs::copy(env!("CARGO_BIN_EXE_netsensor"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "captures:\n  - interface: {IF_A}\n    promiscuous: true\n    backend: af_packet\n\
             \x20   af_packet: {{ block_size_bytes: 65536, block_count: 4 }}\n\
             pipeline: {{ workers: 2 }}\noutputs:\n  stdout: {{ enabled: true }}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = |caps: &str| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.a,
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
            ])
            .args(["--clear-groups", "--no-new-privs"])
            .arg(format!("--inh-caps=-all{caps}"))
            .arg(format!("--ambient-caps=-all{caps}"))
            .arg(format!("--bounding-set=-all{caps}"))
            .arg(&binary)
            .args(["check-config", "--connect", "--config"])
            .arg(&config)
            .output()
            .expect("run netsensor")
    };
    let with = check(",+net_raw");
    assert!(
        with.status.success(),
        "with CAP_NET_RAW: {}",
        String::from_utf8_lossy(&with.stderr)
    );
    let without = check("");
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        !without.status.success(),
        "without CAP_NET_RAW it must fail"
    );
    assert!(
        stderr.contains("CAP_NET_RAW") && stderr.contains(IF_A),
        "{stderr}"
    );
}

/// An interface that goes down and up again keeps its rings: the kernel's ENETDOWN is not
/// an error, and frames sent after it is up again are captured.
#[test]
fn interface_down_and_up_keeps_capturing() {
    let net = Net::new();
    let pcap = fixture("icmp-echo.pcap");
    let source = source_frames(&pcap);
    let mut rings = net
        .in_a(|| AfPacketGroup::open(&settings(IF_A), 2))
        .expect("open");
    ip(&["-n", &net.a, "link", "set", IF_A, "down"]);
    let mut rings = net.in_a(move || {
        // The reads see the socket error and carry on.
        let mut batch = FrameBatch::default();
        for ring in &mut rings {
            assert_eq!(ring.fill(&mut batch, 16).expect("no error while down"), 0);
        }
        rings
    });
    ip(&["-n", &net.a, "link", "set", IF_A, "up"]);
    // The peer sends only once it has carrier again.
    let deadline = Instant::now() + WAIT;
    while !link_up(&net.b, IF_B) {
        assert!(Instant::now() < deadline, "{IF_B} never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let replay = net.start_replay(true, &pcap);
    let count = source.len();
    let captured: Vec<Frame> = net
        .in_a(move || read_rings(&mut rings, count))
        .into_iter()
        .flatten()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(finish_replay(replay), count);
    assert!(
        sorted(captured) == sorted(source),
        "captured after down and up"
    );
}

/// Whether the interface is up with carrier (`state UP`).
fn link_up(ns: &str, iface: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", iface])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).contains("state UP")
}

// ---------------------------------------------------------------------------------------
// Interface selection
// ---------------------------------------------------------------------------------------

fn selection(include: &[&str], exclude: &[&str]) -> InterfaceSelection {
    InterfaceSelection {
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
    }
}

/// Globs and excludes select from the namespace's interfaces (lo, afa).
#[test]
fn selection_by_globs_and_excludes() {
    let net = Net::new();
    let ns = net.a.clone();
    let (all, af, not_lo, none) = in_netns(&ns, || {
        (
            list_interfaces().unwrap(),
            select(&selection(&["af?"], &[])).unwrap(),
            select(&selection(&["*"], &["lo"])).unwrap(),
            select(&selection(&["eth*", "[b-z]f*"], &[])).unwrap(),
        )
    });
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["afa", "lo"]);
    assert_eq!(af, ["afa"]);
    assert_eq!(not_lo, ["afa"]);
    assert!(none.is_empty(), "{none:?}");
}

/// A veth created after the selector started is `added` at the next poll and `removed`
/// after it is deleted; an excluded one never shows; one re-created under the same name
/// is removed and added.
#[test]
fn selector_reports_interfaces_that_come_and_go() {
    let net = Net::new();
    let ns = net.a.clone();
    let mut selector = in_netns(&ns, || {
        let mut selector = Selector::new(selection(&["sel*"], &["sel9"]), Duration::ZERO);
        let first = selector.poll().unwrap();
        assert!(first.is_empty(), "{first:?}");
        selector
    });
    let veth = |action: &str| match action {
        "add" => ip(&[
            "-n", &ns, "link", "add", "sel0", "type", "veth", "peer", "name", "sel9",
        ]),
        _ => ip(&["-n", &ns, "link", "del", "sel0"]),
    };
    let poll = |selector: Selector| {
        in_netns(&ns, move || {
            let mut selector = selector;
            let changes = selector.poll().unwrap();
            (selector, changes)
        })
    };
    veth("add");
    let (s, changes) = poll(selector);
    assert_eq!(
        (changes.added, changes.removed),
        (vec!["sel0".to_string()], vec![])
    );
    assert_eq!(s.current(), ["sel0"]);
    let (s, changes) = poll(s);
    assert!(changes.is_empty(), "{changes:?}");
    veth("del");
    veth("add");
    let (s, changes) = poll(s);
    assert_eq!(
        (changes.added.clone(), changes.removed.clone()),
        (vec!["sel0".into()], vec!["sel0".into()])
    );
    veth("del");
    let (s, changes) = poll(s);
    assert_eq!(
        (changes.added, changes.removed),
        (vec![], vec!["sel0".to_string()])
    );
    selector = s;
    assert!(selector.current().is_empty());
}
