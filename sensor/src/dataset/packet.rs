//! One TCP segment rewritten for a dataset sample: a fresh IP header with zero addresses,
//! the TCP header with zero ports, both checksums recomputed.
//!
//! The IP header is rebuilt from the decoder's facts rather than copied, so IPv4 options
//! and IPv6 extension headers (record route, timestamps and routing headers carry
//! addresses) never reach the sample.

use crate::decode::{Decoded, IpInfo, TcpInfo, Transport};

/// A decoded TCP segment: what the dataset needs of one frame.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// IP facts.
    pub ip: &'a IpInfo,
    /// TCP facts.
    pub tcp: TcpInfo,
    /// Source and destination ports.
    pub ports: (u16, u16),
    /// The TCP header as captured (options included).
    pub header: &'a [u8],
    /// The payload as captured (may be shorter than `tcp.payload_length`).
    pub payload: &'a [u8],
}

/// Why a frame cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IP, or IP but not TCP.
    NotTcp,
    /// An IP fragment: the segment is not whole in this frame.
    Fragment,
    /// A header the decoder could not read whole.
    Malformed,
}

/// Picks the TCP segment out of a decoded frame. The TCP header is located in the frame
/// just before the payload the decoder returned; its data-offset byte, ports and sequence
/// number must agree with the decoder, or the frame counts as malformed.
pub fn segment<'a>(frame: &'a [u8], decoded: &'a Decoded<'a>) -> Result<Segment<'a>, Skip> {
    let Some(ip) = decoded.ip() else {
        return Err(Skip::NotTcp);
    };
    if ip.protocol != 6 {
        return Err(Skip::NotTcp);
    }
    if ip.mf || ip.fragment_offset != 0 {
        return Err(Skip::Fragment);
    }
    let Transport::Tcp {
        src_port,
        dst_port,
        info: Some(tcp),
    } = decoded.transport
    else {
        return Err(Skip::Malformed);
    };
    if tcp.options.malformed {
        return Err(Skip::Malformed);
    }
    let payload_at = (decoded.payload.as_ptr() as usize)
        .checked_sub(frame.as_ptr() as usize)
        .filter(|at| *at <= frame.len())
        .ok_or(Skip::Malformed)?;
    let header = (20..=60)
        .step_by(4)
        .filter_map(|len: usize| {
            let start = payload_at.checked_sub(len)?;
            let header = frame.get(start..payload_at)?;
            let fits = usize::from(header[12] >> 4) * 4 == len
                && header[0..2] == src_port.to_be_bytes()
                && header[2..4] == dst_port.to_be_bytes()
                && header[4..8] == tcp.seq.to_be_bytes();
            fits.then_some(header)
        })
        .next()
        .ok_or(Skip::Malformed)?;
    // Ethernet padding after the IP packet is not payload.
    let payload_len = usize::try_from(tcp.payload_length).unwrap_or(usize::MAX);
    let payload = decoded
        .payload
        .get(..payload_len)
        .unwrap_or(decoded.payload);
    Ok(Segment {
        ip,
        tcp,
        ports: (src_port, dst_port),
        header,
        payload,
    })
}

impl Segment<'_> {
    /// True when the capture holds fewer payload bytes than were on the wire (snap length).
    pub fn truncated(&self) -> bool {
        (self.payload.len() as u64) < u64::from(self.tcp.payload_length)
    }

    /// The anonymized raw-IP packet: zero addresses and ports, valid checksums.
    pub fn anonymized(&self) -> Vec<u8> {
        let tcp_len = self.header.len() + self.payload.len();
        let mut tcp = Vec::with_capacity(tcp_len);
        tcp.extend_from_slice(self.header);
        tcp.extend_from_slice(self.payload);
        tcp[0..4].fill(0);
        tcp[16..18].fill(0);
        let v6 = self.ip.src.is_ipv6();
        let mut out = Vec::with_capacity(tcp_len + if v6 { 40 } else { 20 });
        if v6 {
            let flow = self.ip.flow_label.unwrap_or(0) & 0xf_ffff;
            let class = (u32::from(self.ip.dscp) << 2) | u32::from(self.ip.ecn & 3);
            let word = (6u32 << 28) | (class << 20) | flow;
            out.extend_from_slice(&word.to_be_bytes());
            out.extend_from_slice(&u16::try_from(tcp_len).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(&[6, self.ip.ttl]);
            out.extend_from_slice(&[0; 32]);
        } else {
            let total = u16::try_from(20 + tcp_len).unwrap_or(u16::MAX);
            let flags: u16 = if self.ip.df == Some(true) { 0x4000 } else { 0 };
            out.push(0x45);
            out.push((self.ip.dscp << 2) | (self.ip.ecn & 3));
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&self.ip.id.unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&[self.ip.ttl, 6, 0, 0]);
            out.extend_from_slice(&[0; 8]);
            let sum = checksum(0, &out);
            out[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        // Pseudo-header with zero addresses: protocol 6 and the segment length.
        let pseudo = 6 + tcp_len as u32;
        let sum = checksum(pseudo, &tcp);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        out.extend_from_slice(&tcp);
        out
    }
}

/// The Internet checksum (RFC 1071) of `data`, starting from the partial sum `initial`.
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::decode::decode_wire;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2, its complement 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(0, &data), 0x220d);
        // A header with its checksum in place sums to zero.
        let mut header = [
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let sum = checksum(0, &header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(0, &header), 0);
    }

    #[test]
    fn ipv4_options_are_dropped_and_fields_zeroed() {
        // IPv4 with a 4-byte option (IHL 6), TCP 1234 -> 80 with 3 payload bytes.
        let mut frame = vec![
            0x46, 0, 0, 47, 0, 7, 0x40, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 0,
        ];
        frame.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 9, 0, 0, 0, 0, 0x50, 0x18]);
        frame.extend_from_slice(&[0x10, 0, 0xaa, 0xbb, 0, 0, b'a', b'b', b'c']);
        let decoded = decode_wire(LinkType::Raw, &frame, frame.len() as u32);
        let seg = segment(&frame, &decoded).expect("segment");
        assert_eq!(seg.payload, b"abc");
        let out = seg.anonymized();
        assert_eq!(out.len(), 20 + 20 + 3);
        assert_eq!(out[0], 0x45);
        assert_eq!(&out[12..20], &[0; 8], "addresses");
        assert_eq!(&out[20..24], &[0; 4], "ports");
        assert_eq!(checksum(0, &out[..20]), 0, "IP checksum");
        assert_eq!(checksum(6 + 23, &out[20..]), 0, "TCP checksum");
        assert_eq!(&out[24..28], &[0, 0, 0, 9], "sequence number kept");
    }
}
