//! Reading the frames of one TPACKET_V3 block.
//!
//! The kernel fills a block, then hands it to user space (`TP_STATUS_USER`); from then on
//! it does not touch the block until it is handed back, so the walk here works on a plain
//! byte slice and trusts nothing in it: every offset and length is checked against the
//! block, and a header that points outside it ends the walk of that block (counted by the
//! caller), never a panic.

use std::mem::size_of;

/// Offset of `num_pkts` in `tpacket_block_desc` (version, offset_to_priv, block_status).
const NUM_PKTS: usize = 12;
/// Offset of `offset_to_first_pkt`.
const FIRST_PKT: usize = 16;
/// Size of `tpacket3_hdr`; the `sockaddr_ll` follows at this offset (already aligned).
const HDR_LEN: usize = size_of::<libc::tpacket3_hdr>();
/// Offset of `sll_pkttype` in the `sockaddr_ll` after the frame header.
const PKTTYPE: usize = HDR_LEN + 10;
/// Frame header plus `sockaddr_ll`: the least a frame occupies before its data.
const FRAME_MIN: usize = libc::TPACKET3_HDRLEN;

/// Where the walk of a block stands: frames left and the offset of the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    /// Frames left according to the block header.
    pub remaining: u32,
    /// Offset of the next frame header in the block.
    pub offset: usize,
}

impl Cursor {
    /// The start of a block handed to user space.
    pub fn start(block: &[u8]) -> Cursor {
        Cursor {
            remaining: read_u32(block, NUM_PKTS).unwrap_or(0),
            offset: read_u32(block, FIRST_PKT).unwrap_or(0) as usize,
        }
    }
}

/// One frame of a block, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawFrame<'a> {
    /// Seconds of the capture time.
    pub sec: u32,
    /// Nanoseconds of the capture time (TPACKET_V3 always gives nanoseconds).
    pub nsec: u32,
    /// Length on the wire (`tp_len`).
    pub wire_len: u32,
    /// `tp_status` bits (VLAN validity, timestamp source).
    pub status: u32,
    /// VLAN TCI the NIC or the stack took out of the frame, valid with TP_STATUS_VLAN_VALID.
    pub vlan_tci: u16,
    /// VLAN TPID, valid with TP_STATUS_VLAN_TPID_VALID.
    pub vlan_tpid: u16,
    /// `sll_pkttype`: PACKET_HOST, PACKET_OUTGOING, …
    pub pkttype: u8,
    /// The captured bytes (`tp_snaplen` of them) from the link-layer header on.
    pub data: &'a [u8],
}

/// A frame header that does not fit its block: the rest of the block is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed;

/// The frame at `cursor`, advancing it; `None` when the block has no frame left.
pub(super) fn next_frame<'a>(
    block: &'a [u8],
    cursor: &mut Cursor,
) -> Option<Result<RawFrame<'a>, Malformed>> {
    if cursor.remaining == 0 {
        return None;
    }
    let parsed = parse_frame(block, cursor.offset);
    cursor.remaining -= 1;
    match parsed {
        Err(malformed) => {
            cursor.remaining = 0;
            Some(Err(malformed))
        }
        Ok((frame, next)) => {
            if cursor.remaining > 0 {
                // Only the last frame of a block has tp_next_offset 0; elsewhere it would
                // make the walk read the same frame again, so the next read fails instead.
                cursor.offset = match next {
                    0 => usize::MAX,
                    next => cursor.offset.saturating_add(next as usize),
                };
            }
            Some(Ok(frame))
        }
    }
}

/// The frame whose header starts at `offset`, with its `tp_next_offset`.
fn parse_frame(block: &[u8], offset: usize) -> Result<(RawFrame<'_>, u32), Malformed> {
    let header = block
        .get(offset..offset.checked_add(FRAME_MIN).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    let field = |at: usize| read_u32(header, at).ok_or(Malformed);
    let next = field(0)?;
    let snaplen = field(12)? as usize;
    let mac = read_u16(header, 24).ok_or(Malformed)? as usize;
    if mac < FRAME_MIN {
        return Err(Malformed);
    }
    let start = offset.checked_add(mac).ok_or(Malformed)?;
    let data = block
        .get(start..start.checked_add(snaplen).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    let frame = RawFrame {
        sec: field(4)?,
        nsec: field(8)?,
        wire_len: field(16)?,
        status: field(20)?,
        vlan_tci: field(32)? as u16,
        vlan_tpid: read_u16(header, 36).ok_or(Malformed)?,
        pkttype: *header.get(PKTTYPE).ok_or(Malformed)?,
        data,
    };
    Ok((frame, next))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at + 4)?;
    Some(u32::from_ne_bytes(raw.try_into().ok()?))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let raw = bytes.get(at..at + 2)?;
    Some(u16::from_ne_bytes(raw.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the kernel lays it out: header, then frames at 16-byte aligned offsets.
    struct BlockBuilder {
        bytes: Vec<u8>,
        frames: Vec<usize>,
    }

    const FIRST: usize = 48;

    impl BlockBuilder {
        fn new(size: usize) -> Self {
            BlockBuilder {
                bytes: vec![0; size],
                frames: Vec::new(),
            }
        }

        fn put32(&mut self, at: usize, value: u32) {
            self.bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        }

        fn put16(&mut self, at: usize, value: u16) {
            self.bytes[at..at + 2].copy_from_slice(&value.to_ne_bytes());
        }

        /// Adds a frame with `data`; returns its header offset.
        fn frame(&mut self, data: &[u8], pkttype: u8) -> usize {
            let offset = match self.frames.last() {
                None => FIRST,
                Some(&last) => {
                    let snap = read_u32(&self.bytes, last + 12).unwrap() as usize;
                    (last + FRAME_MIN + 2 + snap).next_multiple_of(16)
                }
            };
            if let Some(&last) = self.frames.last() {
                self.put32(last, (offset - last) as u32);
            }
            let mac = FRAME_MIN + 2;
            self.put32(offset + 4, 1_700_000_000);
            self.put32(offset + 8, 123 + self.frames.len() as u32);
            self.put32(offset + 12, data.len() as u32);
            self.put32(offset + 16, data.len() as u32 + 10);
            self.put16(offset + 24, mac as u16);
            self.bytes[offset + PKTTYPE] = pkttype;
            self.bytes[offset + mac..offset + mac + data.len()].copy_from_slice(data);
            self.frames.push(offset);
            self.put32(NUM_PKTS, self.frames.len() as u32);
            self.put32(FIRST_PKT, FIRST as u32);
            offset
        }
    }

    fn walk(block: &[u8]) -> (Vec<Vec<u8>>, usize) {
        let mut cursor = Cursor::start(block);
        let (mut good, mut bad) = (Vec::new(), 0);
        while let Some(frame) = next_frame(block, &mut cursor) {
            match frame {
                Ok(frame) => good.push(frame.data.to_vec()),
                Err(Malformed) => bad += 1,
            }
        }
        (good, bad)
    }

    #[test]
    fn walks_every_frame_of_a_block() {
        let mut block = BlockBuilder::new(4096);
        block.frame(b"first frame", 0);
        block.frame(&[7; 100], 4);
        block.frame(b"third", 1);
        let mut cursor = Cursor::start(&block.bytes);
        let first = next_frame(&block.bytes, &mut cursor).unwrap().unwrap();
        assert_eq!(first.data, b"first frame");
        assert_eq!(first.wire_len, 21);
        assert_eq!(
            (first.sec, first.nsec, first.pkttype),
            (1_700_000_000, 123, 0)
        );
        let second = next_frame(&block.bytes, &mut cursor).unwrap().unwrap();
        assert_eq!((second.data, second.pkttype), (&[7u8; 100][..], 4));
        let third = next_frame(&block.bytes, &mut cursor).unwrap().unwrap();
        assert_eq!(third.data, b"third");
        assert_eq!(next_frame(&block.bytes, &mut cursor), None);
    }

    #[test]
    fn snaplen_beyond_the_block_is_skipped_not_read() {
        let mut block = BlockBuilder::new(1024);
        let first = block.frame(b"ok", 0);
        let second = block.frame(b"cut", 0);
        block.frame(b"never reached", 0);
        block.put32(second + 12, 100_000);
        let (good, bad) = walk(&block.bytes);
        assert_eq!(good, vec![b"ok".to_vec()]);
        assert_eq!(bad, 1);
        // A next offset past the end is malformed as well.
        block.put32(first, 1 << 20);
        assert_eq!(walk(&block.bytes).1, 1);
    }

    #[test]
    fn zero_next_offset_before_the_last_frame_is_malformed() {
        let mut block = BlockBuilder::new(1024);
        let first = block.frame(b"a", 0);
        block.frame(b"b", 0);
        block.put32(first, 0);
        let (good, bad) = walk(&block.bytes);
        assert_eq!((good.len(), bad), (1, 1));
    }

    #[test]
    fn odd_headers_never_panic() {
        // Every header field set to extreme values, in blocks of several sizes.
        for size in [0, 10, 47, 48, 100, 512] {
            for value in [0u32, 1, 15, 16, 68, 70, u32::MAX, u32::MAX / 2] {
                let mut bytes = vec![0xa5u8; size];
                for at in (0..size.saturating_sub(3)).step_by(4) {
                    bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
                }
                let _ = walk(&bytes);
            }
        }
    }
}
