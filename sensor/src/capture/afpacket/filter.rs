//! Capture filters for AF_PACKET sockets: compiled by libpcap, run by the kernel.
//!
//! The same expression a `pcap` capture takes is compiled for the interface's link type on
//! a dead libpcap handle, and the classic BPF program is attached with SO_ATTACH_FILTER.

use pcap::{Capture, Linktype};

use crate::capture::LinkType;

/// BPF_RET | BPF_K: return a constant.
const RET_K: u16 = 0x06;

/// A classic BPF program in the kernel's `sock_filter` form.
#[derive(Clone)]
pub(super) struct Program(pub Vec<libc::sock_filter>);

impl Program {
    /// Accepts nothing: attached while a fanout group is assembled, so a socket that is
    /// bound but not yet in the group does not capture packets the group also gets.
    pub fn reject_all() -> Program {
        Program(vec![ret(0)])
    }

    /// Accepts every packet whole.
    pub fn accept_all() -> Program {
        Program(vec![ret(u32::MAX)])
    }

    /// Compiles `expression` for frames of `link`.
    pub fn compile(expression: &str, link: LinkType) -> Result<Program, FilterError> {
        let linktype = match link {
            // pcap_open_dead takes a DLT: raw IP is DLT_RAW (12 on Linux), not LINKTYPE_RAW.
            LinkType::Raw => Linktype(12),
            _ => Linktype::ETHERNET,
        };
        let dead = Capture::dead(linktype).map_err(FilterError::Pcap)?;
        let program = dead.compile(expression, true).map_err(FilterError::Pcap)?;
        let instructions = program
            .get_instructions()
            .iter()
            .map(|instruction| parse_instruction(&instruction.to_string()))
            .collect::<Option<Vec<_>>>()
            .ok_or(FilterError::Instructions)?;
        Ok(Program(
            instructions.into_iter().map(widen_accept).collect(),
        ))
    }
}

/// Why a filter could not be turned into a kernel program.
#[derive(Debug)]
pub(super) enum FilterError {
    /// libpcap's compiler rejected the expression.
    Pcap(pcap::Error),
    /// libpcap's instructions were not in the expected `code jt jf k` form.
    Instructions,
}

fn ret(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The pcap crate shows an instruction as `code jt jf k` (its only public view of one).
fn parse_instruction(text: &str) -> Option<libc::sock_filter> {
    let mut parts = text.split(' ');
    let instruction = libc::sock_filter {
        code: parts.next()?.parse().ok()?,
        jt: parts.next()?.parse().ok()?,
        jf: parts.next()?.parse().ok()?,
        k: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(instruction)
}

/// libpcap's accepting `ret #snaplen` uses the dead handle's snap length (65535); the
/// kernel would cut frames to it, so accepting returns take the whole frame instead and
/// the capture's own snap length applies when frames are copied out of the ring.
fn widen_accept(instruction: libc::sock_filter) -> libc::sock_filter {
    if instruction.code == RET_K && instruction.k != 0 {
        ret(u32::MAX)
    } else {
        instruction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_filter_compiles_to_a_kernel_program() {
        let program = Program::compile("udp", LinkType::Ethernet).unwrap();
        // Accepting returns take the whole frame, rejecting ones stay 0.
        let returns: Vec<u32> = program
            .0
            .iter()
            .filter(|i| i.code == RET_K)
            .map(|i| i.k)
            .collect();
        assert!(
            returns.contains(&u32::MAX) && returns.contains(&0),
            "{returns:?}"
        );
        // It loads the EtherType first (offset 12, halfword: BPF_LD|BPF_H|BPF_ABS = 0x28).
        assert_eq!((program.0[0].code, program.0[0].k), (0x28, 12));
    }

    #[test]
    fn raw_ip_filter_starts_at_the_ip_header() {
        let program = Program::compile("udp", LinkType::Raw).unwrap();
        // BPF_LDX|BPF_B|BPF_MSH or BPF_LD|BPF_B|BPF_ABS of the IP version/protocol byte:
        // the first load reads offset 0 or 9, never the Ethernet type at 12.
        assert_ne!(program.0[0].k, 12);
    }

    #[test]
    fn bad_expression_is_an_error() {
        assert!(matches!(
            Program::compile("udp and and", LinkType::Ethernet),
            Err(FilterError::Pcap(_))
        ));
    }

    #[test]
    fn instruction_text_is_parsed_strictly() {
        let parsed = parse_instruction("40 0 0 12").unwrap();
        assert_eq!(
            (parsed.code, parsed.jt, parsed.jf, parsed.k),
            (40, 0, 0, 12)
        );
        assert!(parse_instruction("40 0 0").is_none());
        assert!(parse_instruction("40 0 0 12 9").is_none());
        assert!(parse_instruction("x 0 0 12").is_none());
    }
}
