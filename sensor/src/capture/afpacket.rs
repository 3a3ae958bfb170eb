//! Linux AF_PACKET capture: TPACKET_V3 mmap rings joined in one fanout group.
//!
//! [`AfPacketGroup::open`] opens N sockets on one interface, each with its own ring, and
//! joins them in one `PACKET_FANOUT` group, so the kernel spreads the interface's packets
//! over the rings and each packet lands in exactly one. Each [`AfPacketRing`] is a
//! [`LiveSource`](super::LiveSource) read by its own capture thread; the pipeline then
//! hands every packet to the worker owning its (inner, direction-free) flow key, so the
//! kernel's choice of ring only spreads the capture work. The default fanout mode is the
//! kernel's symmetric flow hash, which keeps each outer flow on one ring and so in order.
//! `PACKET_FANOUT_FLAG_DEFRAG` is always set: IPv4 fragments are reassembled before the
//! group picks a ring, so they follow their flow (and are captured reassembled).
//!
//! Filters are compiled by libpcap and run in the kernel (SO_ATTACH_FILTER); direction and
//! snap length are applied while frames are copied out of the ring.

mod block;
mod filter;

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tracing::warn;

use self::block::{Cursor, Malformed, RawFrame};
use self::filter::{FilterError, Program};
use super::live::{Direction, KernelDrops, LiveError, LiveSettings};
use super::{FrameBatch, FrameMeta, LinkType};
use crate::config::AfPacketConfig;

/// Offset of `block_status` in `tpacket_block_desc` (after `version`, `offset_to_priv`).
const BLOCK_STATUS: usize = 8;
/// `tp_frame_size` given to the kernel: TPACKET_V3 frames are variable, but the request
/// must still name a frame size dividing the block size.
const FRAME_SIZE: u32 = 2048;
/// ETH_P_ALL in network byte order, as bind(2) and socket(2) take it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// How the kernel spreads an interface's packets over the rings of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FanoutMode {
    /// `PACKET_FANOUT_HASH`: the kernel's symmetric flow hash of the outer headers; each
    /// outer flow stays on one ring, in order.
    #[default]
    Hash,
    /// `PACKET_FANOUT_CPU`: the ring of the CPU that received the packet (follows RSS).
    Cpu,
    /// `PACKET_FANOUT_LB`: round robin, even load but a flow's packets cross rings.
    LoadBalance,
}

impl FanoutMode {
    fn kernel_value(self) -> u32 {
        match self {
            FanoutMode::Hash => libc::PACKET_FANOUT_HASH,
            FanoutMode::Cpu => libc::PACKET_FANOUT_CPU,
            FanoutMode::LoadBalance => libc::PACKET_FANOUT_LB,
        }
    }
}

/// Settings of one AF_PACKET capture (one interface, N rings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketSettings {
    /// Interface, promiscuous mode, direction, filter, snap length and the read timeout
    /// (`timeout_ms`: the longest `fill` waits); `buffer_size_bytes` and `immediate` are
    /// libpcap's and not used here.
    pub capture: LiveSettings,
    /// Size of one ring block: a power of two, at least the page size.
    pub block_size_bytes: u32,
    /// Blocks per ring.
    pub block_count: u32,
    /// How long the kernel fills a block before handing it over anyway.
    pub block_timeout: Duration,
    /// Fanout group id; `None`: the kernel picks one not in use (PACKET_FANOUT_FLAG_UNIQUEID).
    pub fanout_group: Option<u16>,
    /// How packets are spread over the rings.
    pub fanout_mode: FanoutMode,
}

impl AfPacketSettings {
    /// The settings of a configured capture: `capture` (built from the capture's
    /// configuration for one selected interface) with its `af_packet` ring settings.
    pub fn from_config(capture: LiveSettings, ring: &AfPacketConfig) -> Self {
        AfPacketSettings {
            capture,
            block_size_bytes: ring.block_size_bytes,
            block_count: ring.block_count,
            block_timeout: ring.block_timeout,
            fanout_group: ring.fanout_group,
            fanout_mode: FanoutMode::Hash,
        }
    }

    /// The configuration's defaults (1 MiB blocks, 64 per ring, 10 ms) for `capture`.
    pub fn new(capture: LiveSettings) -> Self {
        AfPacketSettings {
            capture,
            block_size_bytes: 1 << 20,
            block_count: 64,
            block_timeout: Duration::from_millis(10),
            fanout_group: None,
            fanout_mode: FanoutMode::Hash,
        }
    }
}

/// Opens the rings of one interface's fanout group.
pub struct AfPacketGroup;

impl AfPacketGroup {
    /// Opens `rings` sockets (at least one) on the interface, each with its own mmap ring,
    /// joined in one fanout group. Frames that arrive while the group is assembled are
    /// dropped by a reject-all filter, so no packet is captured twice.
    pub fn open(settings: &AfPacketSettings, rings: usize) -> Result<Vec<AfPacketRing>, LiveError> {
        let interface = settings.capture.interface.as_str();
        let geometry = Geometry::check(settings)?;
        let ifindex = interface_index(interface)?;
        let mut sockets = Vec::with_capacity(rings.max(1));
        for _ in 0..rings.max(1) {
            sockets.push(Socket::new(interface)?);
        }
        let info = sockets[0].link_info(interface)?;
        let program = match &settings.capture.filter {
            Some(expression) => Program::compile(expression, info.link).map_err(|e| match e {
                FilterError::Pcap(source) => LiveError::Filter {
                    interface: interface.to_string(),
                    filter: expression.clone(),
                    source,
                },
                FilterError::Instructions => LiveError::Settings {
                    interface: interface.to_string(),
                    reason: "libpcap's compiled filter has an unexpected form".into(),
                },
            })?,
            None => Program::accept_all(),
        };
        let mut group = settings.fanout_group;
        let mut opened = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            socket.attach(&Program::reject_all())?;
            socket.set_option(
                libc::PACKET_VERSION,
                &(libc::tpacket_versions::TPACKET_V3 as libc::c_int),
                "setsockopt(PACKET_VERSION)",
            )?;
            socket.set_option(
                libc::PACKET_RX_RING,
                &geometry.request(),
                "setsockopt(PACKET_RX_RING)",
            )?;
            let map = RingMap::new(&socket, geometry.ring_bytes())?;
            socket.bind(ifindex)?;
            if settings.capture.promiscuous {
                socket.promiscuous(ifindex)?;
            }
            group = Some(socket.join_fanout(group, settings.fanout_mode)?);
            opened.push(AfPacketRing {
                name: format!("{interface}#{index}"),
                interface: interface.to_string(),
                socket,
                map,
                ifindex,
                block_size: geometry.block_size,
                block_count: geometry.block_count,
                block: 0,
                cursor: None,
                link: info.link,
                snaplen: settings.capture.snaplen_bytes as usize,
                direction: settings.capture.direction,
                timeout: Duration::from_millis(u64::from(settings.capture.timeout_ms.max(1))),
                next_number: 1,
                max_frame: info.mtu.map(|mtu| mtu + 18),
                ring_errors: 0,
                fanout_group: group.unwrap_or(0),
            });
        }
        // Every socket is in the group now: from here each packet reaches one ring.
        for ring in &opened {
            ring.socket.attach(&program)?;
        }
        Ok(opened)
    }
}

/// Block size and count of a ring, checked.
struct Geometry {
    block_size: usize,
    block_count: usize,
    timeout_ms: u32,
}

impl Geometry {
    fn check(settings: &AfPacketSettings) -> Result<Geometry, LiveError> {
        let bad = |reason: String| LiveError::Settings {
            interface: settings.capture.interface.clone(),
            reason,
        };
        let size = settings.block_size_bytes;
        let page = page_size();
        if !size.is_power_of_two() || (size as usize) < page {
            return Err(bad(format!(
                "block_size_bytes {size} must be a power of two of at least the page size ({page})"
            )));
        }
        if settings.block_count == 0 {
            return Err(bad("block_count must be at least 1".into()));
        }
        let total = u64::from(size) * u64::from(settings.block_count);
        if total > u64::from(u32::MAX) || usize::try_from(total).is_err() {
            return Err(bad(format!(
                "a ring of {} blocks of {size} bytes ({total} bytes) is larger than 4 GiB",
                settings.block_count
            )));
        }
        Ok(Geometry {
            block_size: size as usize,
            block_count: settings.block_count as usize,
            timeout_ms: u32::try_from(settings.block_timeout.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
        })
    }

    fn ring_bytes(&self) -> usize {
        self.block_size * self.block_count
    }

    fn request(&self) -> libc::tpacket_req3 {
        let frames_per_block = self.block_size as u32 / FRAME_SIZE;
        libc::tpacket_req3 {
            tp_block_size: self.block_size as u32,
            tp_block_nr: self.block_count as u32,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: frames_per_block * self.block_count as u32,
            tp_retire_blk_tov: self.timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096)
}

/// The interface's index in this thread's network namespace.
fn interface_index(interface: &str) -> Result<libc::c_uint, LiveError> {
    let missing = || LiveError::NoSuchInterface {
        interface: interface.to_string(),
    };
    let name = CString::new(interface).map_err(|_| missing())?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(missing())
    } else {
        Ok(index)
    }
}

/// Link type and MTU of the interface.
struct LinkInfo {
    link: LinkType,
    mtu: Option<u32>,
}

/// One AF_PACKET socket, with the interface name for errors.
struct Socket {
    fd: OwnedFd,
    interface: String,
}

impl Socket {
    /// An AF_PACKET socket that receives nothing until it is bound.
    fn new(interface: &str) -> Result<Socket, LiveError> {
        // SAFETY: socket(2) takes no pointers. Protocol 0: no packet is queued before
        // the ring and filter are in place and bind(2) names the interface.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(LiveError::AfPacket {
                interface: interface.to_string(),
                call: "socket(AF_PACKET)",
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            interface: interface.to_string(),
        })
    }

    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn error(&self, call: &'static str) -> LiveError {
        LiveError::AfPacket {
            interface: self.interface.clone(),
            call,
            source: io::Error::last_os_error(),
        }
    }

    /// setsockopt(SOL_PACKET, name, value).
    fn set_option<T>(
        &self,
        name: libc::c_int,
        value: &T,
        call: &'static str,
    ) -> Result<(), LiveError> {
        self.set_option_at(libc::SOL_PACKET, name, value, call)
    }

    fn set_option_at<T>(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
        call: &'static str,
    ) -> Result<(), LiveError> {
        // SAFETY: `value` points to a live `T` of exactly the length passed; the kernel
        // only reads it during the call.
        let result = unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(self.error(call))
        }
    }

    /// getsockopt(SOL_PACKET, name) into a `T` the kernel fills.
    fn get_option<T: Default>(
        &self,
        name: libc::c_int,
        call: &'static str,
    ) -> Result<T, LiveError> {
        let mut value = T::default();
        let mut len = size_of::<T>() as libc::socklen_t;
        // SAFETY: `value` is a live `T` and `len` its size; the kernel writes at most
        // `len` bytes and stores the length it wrote.
        let result = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_PACKET,
                name,
                (&mut value as *mut T).cast(),
                &mut len,
            )
        };
        if result == 0 {
            Ok(value)
        } else {
            Err(self.error(call))
        }
    }

    /// Attaches a classic BPF program (replacing the previous one).
    fn attach(&self, program: &Program) -> Result<(), LiveError> {
        let fprog = libc::sock_fprog {
            len: u16::try_from(program.0.len()).map_err(|_| LiveError::Settings {
                interface: self.interface.clone(),
                reason: format!("the capture filter has {} instructions", program.0.len()),
            })?,
            filter: program.0.as_ptr().cast_mut(),
        };
        // The kernel copies the program; `program` outlives the call.
        self.set_option_at(
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog,
            "setsockopt(SO_ATTACH_FILTER)",
        )
    }

    /// Link type (from the hardware address family) and MTU of the interface.
    fn link_info(&self, interface: &str) -> Result<LinkInfo, LiveError> {
        let mut request = self.ifreq(interface);
        // SAFETY: `request` is a valid ifreq naming the interface; SIOCGIFHWADDR writes
        // only into it.
        if unsafe { libc::ioctl(self.fd(), libc::SIOCGIFHWADDR, &mut request) } != 0 {
            return Err(self.error("ioctl(SIOCGIFHWADDR)"));
        }
        // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
        let arphrd = unsafe { request.ifr_ifru.ifru_hwaddr.sa_family };
        let link = match arphrd {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => LinkType::Ethernet,
            libc::ARPHRD_NONE => LinkType::Raw,
            other => {
                return Err(LiveError::UnsupportedLink {
                    interface: interface.to_string(),
                    arphrd: other,
                })
            }
        };
        let mut request = self.ifreq(interface);
        // SAFETY: as above, for SIOCGIFMTU.
        let mtu = if unsafe { libc::ioctl(self.fd(), libc::SIOCGIFMTU, &mut request) } == 0 {
            // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member.
            u32::try_from(unsafe { request.ifr_ifru.ifru_mtu }).ok()
        } else {
            None
        };
        Ok(LinkInfo { link, mtu })
    }

    /// The index of interface `name` in the socket's network namespace (which need not
    /// be the calling thread's).
    fn index_of(&self, name: &str) -> Option<libc::c_uint> {
        let mut request = self.ifreq(name);
        // SAFETY: `request` is a valid ifreq naming the interface; SIOCGIFINDEX writes
        // only into it.
        if unsafe { libc::ioctl(self.fd(), libc::SIOCGIFINDEX, &mut request) } != 0 {
            return None;
        }
        // SAFETY: SIOCGIFINDEX filled the `ifru_ifindex` member.
        libc::c_uint::try_from(unsafe { request.ifr_ifru.ifru_ifindex }).ok()
    }

    fn ifreq(&self, interface: &str) -> libc::ifreq {
        // SAFETY: ifreq is plain old data; all zeros is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request
            .ifr_name
            .iter_mut()
            .zip(interface.bytes().take(libc::IFNAMSIZ - 1))
        {
            *slot = byte as libc::c_char;
        }
        request
    }

    fn bind(&self, ifindex: libc::c_uint) -> Result<(), LiveError> {
        // SAFETY: sockaddr_ll is plain old data; all zeros is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_ALL_BE;
        address.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `address` is a live sockaddr_ll and the length is its size.
        let result = unsafe {
            libc::bind(
                self.fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(self.error("bind"))
        }
    }

    /// Promiscuous mode for as long as the socket is open (the kernel counts members).
    fn promiscuous(&self, ifindex: libc::c_uint) -> Result<(), LiveError> {
        let request = libc::packet_mreq {
            mr_ifindex: ifindex as libc::c_int,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        self.set_option(
            libc::PACKET_ADD_MEMBERSHIP,
            &request,
            "setsockopt(PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC)",
        )
    }

    /// Joins fanout group `group`, or with `None` a new group with an id the kernel picks;
    /// returns the group id.
    fn join_fanout(&self, group: Option<u16>, mode: FanoutMode) -> Result<u16, LiveError> {
        let flags = mode.kernel_value() | libc::PACKET_FANOUT_FLAG_DEFRAG;
        let (id, flags) = match group {
            Some(id) => (id, flags),
            None => (0, flags | libc::PACKET_FANOUT_FLAG_UNIQUEID),
        };
        let value = (u32::from(id) | (flags << 16)) as libc::c_int;
        self.set_option(libc::PACKET_FANOUT, &value, "setsockopt(PACKET_FANOUT)")?;
        if group.is_some() {
            return Ok(id);
        }
        let joined: libc::c_int =
            self.get_option(libc::PACKET_FANOUT, "getsockopt(PACKET_FANOUT)")?;
        Ok((joined as u32 & 0xffff) as u16)
    }

    /// The pending socket error (SO_ERROR), which reading clears.
    fn take_error(&self) -> Option<io::Error> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` is a live c_int and `len` its size.
        let result = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (result == 0 && value != 0).then(|| io::Error::from_raw_os_error(value))
    }
}

/// The ring's memory, shared with the kernel.
struct RingMap {
    ptr: NonNull<u8>,
    len: usize,
}

impl RingMap {
    fn new(socket: &Socket, len: usize) -> Result<RingMap, LiveError> {
        // SAFETY: maps `len` bytes of the socket's ring (set up with PACKET_RX_RING of
        // exactly this size); no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                socket.fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(socket.error("mmap"));
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| socket.error("mmap"))?;
        Ok(RingMap { ptr, len })
    }

    /// The status word of block `index`, which the kernel and we hand back and forth.
    fn status(&self, index: usize, block_size: usize) -> &AtomicU32 {
        let offset = index * block_size + BLOCK_STATUS;
        debug_assert!(offset + 4 <= self.len);
        // SAFETY: the offset lies inside the mapping (index < block count) and is 4-byte
        // aligned (blocks are page aligned); the kernel accesses the word atomically too,
        // and the mapping lives as long as `self`.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast()) }
    }

    /// Block `index` as bytes. Only valid while its status says TP_STATUS_USER (checked
    /// with Acquire ordering): the kernel does not write a block user space owns.
    fn block(&self, index: usize, block_size: usize) -> &[u8] {
        debug_assert!((index + 1) * block_size <= self.len);
        // SAFETY: the range lies inside the mapping; the caller only reads blocks handed
        // to user space, which the kernel leaves alone until they are handed back.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(index * block_size), block_size) }
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One ring of a fanout group: a [`LiveSource`](super::LiveSource) read by one thread.
pub struct AfPacketRing {
    name: String,
    interface: String,
    // Field order: the mapping goes before the socket closes.
    map: RingMap,
    socket: Socket,
    ifindex: libc::c_uint,
    block_size: usize,
    block_count: usize,
    /// The block the walk is at.
    block: usize,
    /// Set while the current block is owned by user space and partly read.
    cursor: Option<Cursor>,
    link: LinkType,
    snaplen: usize,
    direction: Direction,
    timeout: Duration,
    next_number: u64,
    max_frame: Option<u32>,
    ring_errors: u64,
    fanout_group: u16,
}

// SAFETY: the ring's memory is reached only through `&mut self` (one thread at a time);
// the kernel side synchronises through the block status words.
unsafe impl Send for AfPacketRing {}

impl AfPacketRing {
    /// The interface this ring captures on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The fanout group id (as the kernel knows it; useful in logs).
    pub fn fanout_group(&self) -> u16 {
        self.fanout_group
    }

    /// Link type of the frames.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Appends up to `max_frames` frames; waits up to the read timeout only while none
    /// has arrived, and returns as soon as the ready blocks are read.
    pub fn fill(&mut self, batch: &mut FrameBatch, max_frames: usize) -> Result<usize, LiveError> {
        let deadline = Instant::now() + self.timeout;
        let mut added = 0;
        while added < max_frames {
            let mut cursor = match self.cursor {
                Some(cursor) => cursor,
                None if self.block_ready() => {
                    Cursor::start(self.map.block(self.block, self.block_size))
                }
                None => {
                    let now = Instant::now();
                    if added > 0 || now >= deadline {
                        break;
                    }
                    self.wait(deadline - now)?;
                    continue;
                }
            };
            let block = self.map.block(self.block, self.block_size);
            while added < max_frames {
                match block::next_frame(block, &mut cursor) {
                    None => break,
                    Some(Err(Malformed)) => self.ring_errors += 1,
                    Some(Ok(frame)) => {
                        if self.wanted(&frame) {
                            push_frame(batch, &frame, self.link, self.snaplen, self.next_number);
                            self.next_number += 1;
                            added += 1;
                        }
                    }
                }
            }
            if cursor.remaining == 0 {
                self.release_block();
            } else {
                self.cursor = Some(cursor);
            }
        }
        Ok(added)
    }

    fn block_ready(&self) -> bool {
        self.map
            .status(self.block, self.block_size)
            .load(Ordering::Acquire)
            & libc::TP_STATUS_USER
            != 0
    }

    /// Hands the current block back to the kernel and moves to the next.
    fn release_block(&mut self) {
        self.map
            .status(self.block, self.block_size)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.cursor = None;
        self.block = (self.block + 1) % self.block_count;
    }

    /// Whether the configured direction keeps the frame.
    fn wanted(&self, frame: &RawFrame<'_>) -> bool {
        let outgoing = frame.pkttype == libc::PACKET_OUTGOING;
        match self.direction {
            Direction::InOut => true,
            Direction::In => !outgoing,
            Direction::Out => outgoing,
        }
    }

    /// Waits for the kernel to hand over a block, at most `wait`.
    fn wait(&mut self, wait: Duration) -> Result<(), LiveError> {
        let mut ready = libc::pollfd {
            fd: self.socket.fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: `ready` is one valid pollfd and the count is 1.
        let result = unsafe { libc::poll(&mut ready, 1, wait_ms) };
        if result < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(LiveError::AfPacket {
                interface: self.interface.clone(),
                call: "poll",
                source: error,
            });
        }
        if ready.revents & libc::POLLERR != 0 {
            if let Some(error) = self.socket.take_error() {
                // ENETDOWN comes when the interface goes down (capture resumes when it is
                // up again) and when it is removed (the ring stays empty for good).
                if self.socket.index_of(&self.interface) != Some(self.ifindex) {
                    return Err(LiveError::InterfaceGone {
                        interface: self.interface.clone(),
                    });
                }
                warn!(interface = %self.interface, ring = %self.name, %error, "Capture socket error.");
            }
        }
        Ok(())
    }

    /// Kernel counters since the previous call (PACKET_STATISTICS resets them).
    pub fn kernel_drops(&mut self) -> KernelDrops {
        let stats = self
            .socket
            .get_option::<TpacketStats>(libc::PACKET_STATISTICS, "getsockopt(PACKET_STATISTICS)")
            .unwrap_or_default();
        KernelDrops {
            dropped: u64::from(stats.drops),
            if_dropped: 0,
            freeze_queue: u64::from(stats.freeze_queue),
            ring_errors: std::mem::take(&mut self.ring_errors),
        }
    }
}

/// `struct tpacket_stats_v3`, with Default for getsockopt.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct TpacketStats {
    packets: u32,
    drops: u32,
    freeze_queue: u32,
}

const _: () = assert!(size_of::<TpacketStats>() == size_of::<libc::tpacket_stats_v3>());

/// Copies one frame into the batch, at most `snaplen` bytes. A VLAN tag the kernel took
/// out of the frame (offload, or the stack's untagging) is put back where it was, as
/// libpcap does, so the bytes are the ones on the wire.
fn push_frame(
    batch: &mut FrameBatch,
    frame: &RawFrame<'_>,
    link: LinkType,
    snaplen: usize,
    number: u64,
) {
    let timestamp_ns = i64::from(frame.sec) * 1_000_000_000 + i64::from(frame.nsec);
    let start = batch.data.len();
    let mut wire_len = frame.wire_len;
    let tagged = frame.status & libc::TP_STATUS_VLAN_VALID != 0
        && link == LinkType::Ethernet
        && frame.data.len() >= 12;
    if tagged {
        let tpid = if frame.status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && frame.vlan_tpid != 0 {
            frame.vlan_tpid
        } else {
            0x8100
        };
        let (macs, rest) = frame.data.split_at(12);
        batch.data.extend_from_slice(macs);
        batch.data.extend_from_slice(&tpid.to_be_bytes());
        batch.data.extend_from_slice(&frame.vlan_tci.to_be_bytes());
        batch.data.extend_from_slice(rest);
        wire_len = wire_len.saturating_add(4);
    } else {
        batch
            .data
            .extend_from_slice(&frame.data[..frame.data.len().min(snaplen)]);
    }
    batch
        .data
        .truncate(start + snaplen.min(batch.data.len() - start));
    let cap_len = (batch.data.len() - start) as u32;
    let meta = FrameMeta {
        timestamp_ns,
        wire_len: wire_len.max(cap_len),
        cap_len,
        link,
        number,
    };
    batch.frames.push((meta, start..batch.data.len()));
}

impl super::LiveSource for AfPacketRing {
    fn name(&self) -> &str {
        &self.name
    }

    fn fill(&mut self, batch: &mut FrameBatch, max_frames: usize) -> Result<usize, LiveError> {
        AfPacketRing::fill(self, batch, max_frames)
    }

    fn kernel_drops(&mut self) -> KernelDrops {
        AfPacketRing::kernel_drops(self)
    }

    fn max_frame(&self) -> Option<u32> {
        self.max_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AfPacketSettings {
        AfPacketSettings::new(LiveSettings {
            interface: "lo".into(),
            promiscuous: false,
            direction: Direction::InOut,
            filter: None,
            snaplen_bytes: 65535,
            buffer_size_bytes: 1 << 20,
            immediate: false,
            timeout_ms: 100,
        })
    }

    #[test]
    fn ring_geometry_is_checked() {
        let mut bad = settings();
        bad.block_size_bytes = 3000;
        let error = Geometry::check(&bad).err().unwrap().to_string();
        assert!(
            error.contains("power of two") && error.contains("lo"),
            "{error}"
        );
        bad.block_size_bytes = 1024;
        assert!(Geometry::check(&bad).is_err());
        bad.block_size_bytes = 1 << 20;
        bad.block_count = 0;
        assert!(Geometry::check(&bad).is_err());
        bad.block_count = 1 << 20;
        assert!(Geometry::check(&bad).is_err());
        let good = Geometry::check(&settings()).unwrap();
        let request = good.request();
        assert_eq!(request.tp_block_size % request.tp_frame_size, 0);
        assert_eq!(
            request.tp_frame_nr,
            request.tp_block_size / request.tp_frame_size * request.tp_block_nr
        );
        assert_eq!(request.tp_retire_blk_tov, 10);
    }

    #[test]
    fn vlan_tag_is_put_back_and_snaplen_applies() {
        let data: Vec<u8> = (0u8..40).collect();
        let frame = RawFrame {
            sec: 2,
            nsec: 5,
            wire_len: 60,
            status: libc::TP_STATUS_VLAN_VALID,
            vlan_tci: 0x0064,
            vlan_tpid: 0,
            pkttype: 0,
            data: &data,
        };
        let mut batch = FrameBatch::default();
        push_frame(&mut batch, &frame, LinkType::Ethernet, 20, 7);
        let (meta, bytes) = batch.iter().next().unwrap();
        assert_eq!(&bytes[..12], &data[..12]);
        assert_eq!(&bytes[12..16], &[0x81, 0x00, 0x00, 0x64]);
        assert_eq!(&bytes[16..], &data[12..16]);
        assert_eq!((meta.cap_len, meta.wire_len, meta.number), (20, 64, 7));
        assert_eq!(meta.timestamp_ns, 2_000_000_005);
        let plain = RawFrame { status: 0, ..frame };
        push_frame(&mut batch, &plain, LinkType::Ethernet, 1000, 8);
        let (meta, bytes) = batch.iter().nth(1).unwrap();
        assert_eq!((bytes, meta.cap_len, meta.wire_len), (&data[..], 40, 60));
    }

    #[test]
    fn unknown_interface_is_named() {
        let mut settings = settings();
        settings.capture.interface = "nonexistent0".into();
        let error = AfPacketGroup::open(&settings, 1).err().unwrap().to_string();
        assert!(error.contains("nonexistent0"), "{error}");
    }
}
