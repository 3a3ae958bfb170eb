//! Live capture with libpcap, and the errors and counters every live source shares.
//!
//! One [`LiveCapture`] per configured interface, each read by its own thread. The kernel's
//! drop counters (`pcap_stats`) are read on every batch flush and reported as deltas.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Direction as PcapDirection, Precision};
use thiserror::Error;

use super::{FrameBatch, FrameMeta, LinkType};

pub use crate::config::Direction;

/// Settings of one live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    /// Interface name.
    pub interface: String,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Direction filter (pcap_setdirection).
    pub direction: Direction,
    /// BPF filter expression.
    pub filter: Option<String>,
    /// Snap length in bytes.
    pub snaplen_bytes: u32,
    /// Kernel buffer size in bytes.
    pub buffer_size_bytes: u32,
    /// Deliver packets as they arrive instead of buffering.
    pub immediate: bool,
    /// libpcap read timeout in milliseconds (also the longest a partial batch waits).
    pub timeout_ms: u32,
}

/// Errors opening or reading a live capture.
#[derive(Debug, Error)]
pub enum LiveError {
    /// libpcap refused to open the interface.
    #[error("cannot open interface {interface}{}", permission_hint(source))]
    Open {
        /// Interface name.
        interface: String,
        /// libpcap's error.
        source: pcap::Error,
    },
    /// The BPF filter does not compile.
    #[error("capture filter for {interface} does not compile: {filter:?}")]
    Filter {
        /// Interface name.
        interface: String,
        /// The filter text.
        filter: String,
        /// libpcap's message.
        source: pcap::Error,
    },
    /// Setting the direction failed.
    #[error("cannot set capture direction on {interface}")]
    Direction {
        /// Interface name.
        interface: String,
        /// libpcap's error.
        source: pcap::Error,
    },
    /// Reading failed.
    #[error("reading from {interface} failed")]
    Read {
        /// Interface name.
        interface: String,
        /// libpcap's error.
        source: pcap::Error,
    },
    /// A system call of the AF_PACKET backend failed.
    #[error(
        "AF_PACKET capture on {interface}: {call} failed{}",
        errno_hint(source)
    )]
    AfPacket {
        /// Interface name.
        interface: String,
        /// The call (and socket option) that failed, e.g. `setsockopt(PACKET_RX_RING)`.
        call: &'static str,
        /// The errno.
        source: std::io::Error,
    },
    /// The interface does not exist (in this network namespace).
    #[error("interface {interface:?} does not exist")]
    NoSuchInterface {
        /// Interface name.
        interface: String,
    },
    /// The interface was removed while it was captured.
    #[error("interface {interface} disappeared while capturing")]
    InterfaceGone {
        /// Interface name.
        interface: String,
    },
    /// The AF_PACKET ring settings are unusable.
    #[error("AF_PACKET settings for {interface}: {reason}")]
    Settings {
        /// Interface name.
        interface: String,
        /// What is wrong.
        reason: String,
    },
    /// The interface's link type is not one the AF_PACKET backend reads.
    #[error(
        "interface {interface} has link type ARPHRD {arphrd}, which the af_packet backend \
         does not read (use backend: pcap)"
    )]
    UnsupportedLink {
        /// Interface name.
        interface: String,
        /// The kernel's ARPHRD_* number.
        arphrd: u16,
    },
}

/// The capability hint for a failed system call, when it failed for lack of permission.
fn errno_hint(error: &std::io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => " (the sensor needs CAP_NET_RAW)",
        _ => "",
    }
}

/// The capability hint for errors that are about permission, and only for those.
fn permission_hint(error: &pcap::Error) -> &'static str {
    let text = error.to_string();
    if text.contains("not permitted") || text.contains("ermission denied") {
        " (the sensor needs CAP_NET_RAW)"
    } else {
        ""
    }
}

/// Kernel counters since the previous read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelDrops {
    /// Dropped for lack of buffer space (ps_drop).
    pub dropped: u64,
    /// Dropped by the interface or driver (ps_ifdrop).
    pub if_dropped: u64,
    /// AF_PACKET: how often the ring was full, every block waiting for user space
    /// (`tp_freeze_q_cnt`); a count of events, not of packets. Always 0 with libpcap.
    pub freeze_queue: u64,
    /// AF_PACKET: frames skipped because their header in the ring did not fit its block.
    /// Always 0 with libpcap.
    pub ring_errors: u64,
}

/// An open live capture.
pub struct LiveCapture {
    capture: Capture<Active>,
    settings: LiveSettings,
    link: LinkType,
    next_number: u64,
    last_stats: (u32, u32),
    /// Largest frame expected on this interface (MTU plus link header); larger frames
    /// come from offloads (GRO/LRO/TSO).
    max_frame: Option<u32>,
}

impl LiveCapture {
    /// Opens the interface and applies direction and filter.
    pub fn open(settings: LiveSettings) -> Result<Self, LiveError> {
        let interface = settings.interface.clone();
        let open_err = |source| LiveError::Open {
            interface: interface.clone(),
            source,
        };
        let inactive = Capture::from_device(interface.as_str()).map_err(open_err)?;
        let mut capture = inactive
            .promisc(settings.promiscuous)
            .snaplen(clamp_i32(settings.snaplen_bytes))
            .buffer_size(clamp_i32(settings.buffer_size_bytes))
            .immediate_mode(settings.immediate)
            .timeout(clamp_i32(settings.timeout_ms.max(1)))
            .precision(Precision::Nano)
            .open()
            .map_err(open_err)?;
        let direction = match settings.direction {
            Direction::In => PcapDirection::In,
            Direction::Out => PcapDirection::Out,
            Direction::InOut => PcapDirection::InOut,
        };
        if settings.direction != Direction::InOut {
            capture
                .direction(direction)
                .map_err(|source| LiveError::Direction {
                    interface: interface.clone(),
                    source,
                })?;
        }
        if let Some(filter) = &settings.filter {
            capture
                .filter(filter, true)
                .map_err(|source| LiveError::Filter {
                    interface: interface.clone(),
                    filter: filter.clone(),
                    source,
                })?;
        }
        // libpcap 1.10 on Linux does not return on the read timeout while no packet
        // arrives, so the capture is non-blocking and `fill` waits with poll(2) itself.
        let capture = capture.setnonblock().map_err(open_err)?;
        let link = LinkType::from_linktype(capture.get_datalink().0 as u32);
        let max_frame = read_sys(&interface, "mtu").map(|mtu| mtu + 18);
        Ok(LiveCapture {
            capture,
            settings,
            link,
            next_number: 1,
            last_stats: (0, 0),
            max_frame,
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.settings.interface
    }

    /// Largest expected frame size (MTU + link header), when the MTU is known.
    pub fn max_frame(&self) -> Option<u32> {
        self.max_frame
    }

    /// Reads frames into `batch` until it holds `max_frames` or the read timeout expires.
    /// Returns the number of frames added.
    pub fn fill(&mut self, batch: &mut FrameBatch, max_frames: usize) -> Result<usize, LiveError> {
        let mut added = 0;
        let deadline =
            Instant::now() + Duration::from_millis(u64::from(self.settings.timeout_ms.max(1)));
        while added < max_frames {
            match self.capture.next_packet() {
                Ok(packet) => {
                    let header = packet.header;
                    // With nanosecond precision libpcap stores nanoseconds in tv_usec.
                    // time_t and suseconds_t are i64 here but narrower on some targets.
                    #[allow(clippy::useless_conversion)]
                    let timestamp_ns = i64::from(header.ts.tv_sec)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(i64::from(header.ts.tv_usec));
                    let meta = FrameMeta {
                        timestamp_ns,
                        wire_len: header.len,
                        cap_len: header.caplen,
                        link: self.link,
                        number: self.next_number,
                    };
                    self.next_number += 1;
                    batch.push(meta, packet.data);
                    added += 1;
                }
                Err(pcap::Error::TimeoutExpired) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    let wait_ms = i32::try_from((deadline - now).as_millis()).unwrap_or(i32::MAX);
                    let mut ready = libc::pollfd {
                        fd: self.capture.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: `ready` is one valid pollfd and the count is 1. An error or
                    // a timeout just leads to the next non-blocking read.
                    unsafe { libc::poll(&mut ready, 1, wait_ms.max(1)) };
                }
                Err(source) => {
                    return Err(LiveError::Read {
                        interface: self.settings.interface.clone(),
                        source,
                    })
                }
            }
        }
        Ok(added)
    }

    /// Kernel drop counters since the previous call.
    pub fn kernel_drops(&mut self) -> KernelDrops {
        match self.capture.stats() {
            Ok(stats) => {
                let (drop, if_drop) = self.last_stats;
                self.last_stats = (stats.dropped, stats.if_dropped);
                KernelDrops {
                    dropped: u64::from(stats.dropped.wrapping_sub(drop)),
                    if_dropped: u64::from(stats.if_dropped.wrapping_sub(if_drop)),
                    ..KernelDrops::default()
                }
            }
            Err(_) => KernelDrops::default(),
        }
    }
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Reads a numeric attribute of an interface from sysfs.
fn read_sys(interface: &str, attribute: &str) -> Option<u32> {
    let path = Path::new("/sys/class/net").join(interface).join(attribute);
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// MAC address of an interface, from sysfs.
pub fn interface_mac(interface: &str) -> Option<[u8; 6]> {
    let path = Path::new("/sys/class/net").join(interface).join("address");
    let text = std::fs::read_to_string(path).ok()?;
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    (mac != [0; 6]).then_some(mac)
}

/// One capture device as `netsensor interfaces` lists it.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    /// Name.
    pub name: String,
    /// Addresses.
    pub addresses: Vec<std::net::IpAddr>,
    /// Flags: up, running, loopback, wireless.
    pub flags: Vec<&'static str>,
    /// Description from libpcap, if any.
    pub description: Option<String>,
}

/// Lists capture devices.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, pcap::Error> {
    Ok(pcap::Device::list()?
        .into_iter()
        .map(|device| {
            let flags = &device.flags;
            let mut names = Vec::new();
            if flags.is_up() {
                names.push("up");
            }
            if flags.is_running() {
                names.push("running");
            }
            if flags.is_loopback() {
                names.push("loopback");
            }
            if flags.is_wireless() {
                names.push("wireless");
            }
            InterfaceInfo {
                name: device.name,
                addresses: device.addresses.iter().map(|a| a.addr).collect(),
                flags: names,
                description: device.desc,
            }
        })
        .collect())
}

impl super::LiveSource for LiveCapture {
    fn name(&self) -> &str {
        self.interface()
    }

    fn fill(&mut self, batch: &mut FrameBatch, max_frames: usize) -> Result<usize, LiveError> {
        LiveCapture::fill(self, batch, max_frames)
    }

    fn kernel_drops(&mut self) -> KernelDrops {
        LiveCapture::kernel_drops(self)
    }

    fn max_frame(&self) -> Option<u32> {
        LiveCapture::max_frame(self)
    }
}
