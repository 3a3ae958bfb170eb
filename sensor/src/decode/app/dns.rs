//! DNS message summary: header, first question, answer records and the EDNS DO bit.
//!
//! Names are decompressed with a hop limit and the 255-byte name limit, so a pointer loop
//! ends as [`AppError::Malformed`] instead of spinning. A message cut after its header still
//! yields a summary of what was read, flagged [`DnsSummary::is_truncated`]; only a header
//! shorter than 12 bytes is [`AppError::Truncated`].
//!
//! Presentation forms written for `dns.answers[].data`:
//! * A / AAAA: the address (also added to `dns.resolved_ip`);
//! * CNAME, NS, PTR, DNAME: the target name; MX: `pref exchange`;
//!   SOA: `mname rname serial refresh retry expire minimum`; SRV: `prio weight port target`;
//! * TXT: every character-string in double quotes, separated by one space, with `"` and `\`
//!   escaped by a backslash and bytes outside printable ASCII as `\DDD` (the zone-file form
//!   `dig` prints, so strings that contain spaces stay unambiguous);
//! * anything else, or a known type whose data does not parse: RFC 3597 `\# len hex`.
//!
//! Names are printed as on the wire (case kept), without the trailing dot; the root is `.`.
//! Label bytes `.` and `\` are escaped with a backslash, bytes outside printable ASCII as
//! `\DDD`. At most [`MAX_ANSWERS`] answers are kept and each data text is cut at
//! [`MAX_DATA_TEXT`] bytes.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;
use netsensor_schema::{Dns, DnsAnswerSpan, DnsAnswers, DnsQuestion};

use super::{be16, be32, push_hex, to_u32, AppError, AppScratch, TextRef};

/// Most answer records kept per message; later answers are skipped (still bounds-checked).
pub const MAX_ANSWERS: usize = 32;
/// Longest `data` text kept per answer, in bytes; longer data is cut.
pub const MAX_DATA_TEXT: usize = 4096;
/// Longest name on the wire (RFC 1035 §3.1), counting length octets.
const MAX_NAME_WIRE: usize = 255;
/// Most compression pointers followed in one name. A name has at most 127 labels, so a
/// legitimate name never needs more.
const MAX_POINTER_HOPS: usize = 128;
/// DNS header length.
const HEADER_LEN: usize = 12;
/// RR type of the EDNS pseudo-record.
const TYPE_OPT: u16 = 41;

/// What [`parse_dns`] found; strings live in the [`AppScratch`] it was given.
#[derive(Debug, Clone, Copy)]
pub struct DnsSummary {
    id: u16,
    flags: u16,
    op_code: TextRef,
    response_code: TextRef,
    dnssec_ok: bool,
    question: Option<QuestionRef>,
    truncated: bool,
}

/// The first question as references into the scratch text.
#[derive(Debug, Clone, Copy)]
struct QuestionRef {
    name: TextRef,
    type_: TextRef,
    class: TextRef,
    registered_domain: Option<TextRef>,
}

impl DnsSummary {
    /// The ECS `dns` object; `scratch` must be the one given to [`parse_dns`], unchanged.
    pub fn record<'a>(&self, scratch: &'a AppScratch) -> Dns<'a> {
        let text = scratch.text.as_str();
        let mut header_flags = ArrayVec::new();
        for (bit, name) in [
            (0x0400, "AA"),
            (0x0200, "TC"),
            (0x0100, "RD"),
            (0x0080, "RA"),
            (0x0020, "AD"),
            (0x0010, "CD"),
        ] {
            if self.flags & bit != 0 {
                header_flags.push(name);
            }
        }
        if self.dnssec_ok {
            header_flags.push("DO");
        }
        Dns {
            id: self.id,
            type_: if self.is_response() {
                "answer"
            } else {
                "query"
            },
            op_code: self.op_code.get(text),
            response_code: self.is_response().then(|| self.response_code.get(text)),
            header_flags,
            question: self.question.map(|q| DnsQuestion {
                name: q.name.get(text),
                type_: q.type_.get(text),
                class: q.class.get(text),
                registered_domain: q.registered_domain.map(|r| r.get(text)),
            }),
            answers: DnsAnswers {
                text,
                items: &scratch.answers,
            },
            resolved_ip: &scratch.resolved,
        }
    }

    /// True for a response (QR bit set).
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// True when the message ended before every section it declares was read; the summary
    /// holds what came before the cut. (Not the TC header flag, which is in `header_flags`.)
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// Parses a DNS message. With `over_tcp`, `payload` starts with the 2-byte length prefix
/// (RFC 1035 §4.2.2) and only the first message of the segment is read.
///
/// Answers go to `scratch.answers`, A/AAAA addresses to `scratch.resolved`, strings to
/// `scratch.text`; the caller clears `scratch` before each packet.
///
/// # Errors
/// [`AppError::Truncated`] when fewer than 12 header bytes are present;
/// [`AppError::Malformed`] for a bad owner or question name (pointer loop, pointer past the
/// end, reserved label type, name over 255 bytes).
pub fn parse_dns(
    payload: &[u8],
    over_tcp: bool,
    scratch: &mut AppScratch,
) -> Result<DnsSummary, AppError> {
    let msg = if over_tcp {
        let len = usize::from(be16(payload, 0).ok_or(AppError::Truncated)?);
        let body = payload.get(2..).unwrap_or_default();
        body.get(..len).unwrap_or(body)
    } else {
        payload
    };
    let id = be16(msg, 0).ok_or(AppError::Truncated)?;
    let flags = be16(msg, 2).ok_or(AppError::Truncated)?;
    if msg.len() < HEADER_LEN {
        return Err(AppError::Truncated);
    }
    // On Malformed, leave the scratch as it was found.
    let marks = (
        scratch.text.len(),
        scratch.answers.len(),
        scratch.resolved.len(),
    );
    let opcode = (flags >> 11) & 0x0f;
    let op_code = mnemonic(&mut scratch.text, opcode_name(opcode), "", opcode);
    let mut summary = DnsSummary {
        id,
        flags,
        op_code,
        response_code: TextRef::Static(""),
        dnssec_ok: false,
        question: None,
        truncated: false,
    };
    let mut rcode = flags & 0x000f;
    match parse_sections(msg, scratch, &mut summary, &mut rcode) {
        Ok(()) => {}
        Err(AppError::Truncated) => summary.truncated = true,
        Err(AppError::Malformed) => {
            scratch.text.truncate(marks.0);
            scratch.answers.truncate(marks.1);
            scratch.resolved.truncate(marks.2);
            return Err(AppError::Malformed);
        }
    }
    if summary.is_response() {
        summary.response_code = mnemonic(&mut scratch.text, rcode_name(rcode), "", rcode);
    }
    Ok(summary)
}

/// Reads question, answer, authority and additional sections after the header.
fn parse_sections(
    msg: &[u8],
    scratch: &mut AppScratch,
    summary: &mut DnsSummary,
    rcode: &mut u16,
) -> Result<(), AppError> {
    let count = |at| be16(msg, at).unwrap_or(0);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let mut pos = HEADER_LEN;
    // Every iteration below consumes at least one byte of `msg` or returns, so the counts
    // (at most 65535 each) cannot make a loop outlive the message.
    for i in 0..qdcount {
        if i == 0 {
            let mark = scratch.text.len();
            match parse_question(msg, pos, &mut scratch.text) {
                Ok((question, next)) => {
                    summary.question = Some(question);
                    pos = next;
                }
                Err(e) => {
                    scratch.text.truncate(mark);
                    return Err(e);
                }
            }
        } else {
            pos = skip_name(msg, pos)?;
            pos = checked_within(msg, pos, 4)?;
        }
    }
    for _ in 0..ancount {
        if scratch.answers.len() < MAX_ANSWERS {
            let mark = scratch.text.len();
            match parse_answer(msg, pos, scratch) {
                Ok(next) => pos = next,
                Err(e) => {
                    scratch.text.truncate(mark);
                    return Err(e);
                }
            }
        } else {
            pos = skip_rr(msg, pos)?.next;
        }
    }
    for _ in 0..nscount {
        pos = skip_rr(msg, pos)?.next;
    }
    for _ in 0..arcount {
        let rr = skip_rr(msg, pos)?;
        if rr.type_ == TYPE_OPT {
            // The OPT TTL holds extended RCODE (8 bits), version (8) and DO + Z (16).
            summary.dnssec_ok = rr.ttl & 0x8000 != 0;
            *rcode = (((rr.ttl >> 24) as u16) << 4) | (*rcode & 0x0f);
        }
        pos = rr.next;
    }
    Ok(())
}

/// `pos + n` when that many bytes follow `pos`.
fn checked_within(msg: &[u8], pos: usize, n: usize) -> Result<usize, AppError> {
    let end = pos.checked_add(n).ok_or(AppError::Malformed)?;
    if end > msg.len() {
        return Err(AppError::Truncated);
    }
    Ok(end)
}

/// Parses the question at `pos`: its name, type and class, and its registered domain.
fn parse_question(
    msg: &[u8],
    pos: usize,
    text: &mut String,
) -> Result<(QuestionRef, usize), AppError> {
    let start = text.len();
    let after_name = read_name(msg, pos, text)?;
    let name = TextRef::since(text, start);
    let qtype = be16(msg, after_name).ok_or(AppError::Truncated)?;
    let qclass = be16(msg, after_name + 2).ok_or(AppError::Truncated)?;
    let registered_domain = registered_domain(text, name);
    let type_ = mnemonic(text, type_name(qtype), "TYPE", qtype);
    let class = mnemonic(text, class_name(qclass), "CLASS", qclass);
    Ok((
        QuestionRef {
            name,
            type_,
            class,
            registered_domain,
        },
        after_name + 4,
    ))
}

/// The registered domain of `name` per the public suffix list. The list matches lower-case
/// labels, so a name with upper-case letters is looked up in a lower-cased copy (and the
/// registered domain is then that lower-case text).
fn registered_domain(text: &mut String, name: TextRef) -> Option<TextRef> {
    let TextRef::Span(start, end) = name else {
        return None;
    };
    let (start, end) = (start as usize, end as usize);
    let len = end.checked_sub(start)?;
    let base = if text
        .get(start..end)?
        .bytes()
        .any(|b| b.is_ascii_uppercase())
    {
        let copy = text.len();
        for i in start..end {
            let byte = text.as_bytes().get(i).copied()?;
            // Names are written as ASCII (other bytes escaped), so bytes are chars.
            text.push(char::from(byte.to_ascii_lowercase()));
        }
        copy
    } else {
        start
    };
    let lower = text.get(base..base + len)?;
    let domain = psl::domain_str(lower)?;
    if !lower.ends_with(domain) {
        return None;
    }
    let offset = len - domain.len();
    Some(TextRef::Span(to_u32(base + offset), to_u32(base + len)))
}

/// Parses the answer RR at `pos` into `scratch` and returns the offset after it.
fn parse_answer(msg: &[u8], pos: usize, scratch: &mut AppScratch) -> Result<usize, AppError> {
    let text = &mut scratch.text;
    let name_start = text.len();
    let after_name = read_name(msg, pos, text)?;
    let name = span(name_start, text.len());
    let fixed = msg
        .get(after_name..checked_within(msg, after_name, 10)?)
        .ok_or(AppError::Truncated)?;
    let rr_type = be16(fixed, 0).ok_or(AppError::Truncated)?;
    let rr_class = be16(fixed, 2).ok_or(AppError::Truncated)?;
    let ttl = be32(fixed, 4).ok_or(AppError::Truncated)?;
    let rdlen = usize::from(be16(fixed, 8).ok_or(AppError::Truncated)?);
    let rdata_start = after_name + 10;
    let next = checked_within(msg, rdata_start, rdlen)?;
    let rdata = msg.get(rdata_start..next).ok_or(AppError::Truncated)?;

    let type_ = mnemonic_span(text, type_name(rr_type), "TYPE", rr_type);
    let class = mnemonic_span(text, class_name(rr_class), "CLASS", rr_class);
    let data_start = text.len();
    let address = match write_rdata(msg, rdata_start, rdata, rr_type, text) {
        Ok(address) => address,
        Err(()) => {
            text.truncate(data_start);
            write_generic(rdata, text);
            None
        }
    };
    if text.len() - data_start > MAX_DATA_TEXT {
        // All data text is ASCII, so any byte offset is a char boundary; stay safe anyway.
        let mut cut = data_start + MAX_DATA_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let data = span(data_start, text.len());
    if let Some(ip) = address {
        scratch.resolved.push(ip);
    }
    scratch.answers.push(DnsAnswerSpan {
        name,
        type_,
        class,
        ttl,
        data,
    });
    Ok(next)
}

/// A `Range<u32>` over the scratch text.
fn span(start: usize, end: usize) -> std::ops::Range<u32> {
    to_u32(start)..to_u32(end)
}

/// Writes the presentation form of `rdata` (which starts at `rdata_start` in `msg`).
/// `Err(())` when the data does not fit its type; the caller then writes RFC 3597 form.
fn write_rdata(
    msg: &[u8],
    rdata_start: usize,
    rdata: &[u8],
    rr_type: u16,
    text: &mut String,
) -> Result<Option<IpAddr>, ()> {
    let rdata_end = rdata_start + rdata.len();
    // A name inside RDATA must end inside RDATA (pointers may lead anywhere before).
    let name_at = |at: usize, text: &mut String| -> Result<usize, ()> {
        let next = read_name(msg, at, text).map_err(|_| ())?;
        if next > rdata_end {
            return Err(());
        }
        Ok(next)
    };
    let u16_at = |at: usize| be16(rdata, at).ok_or(());
    let u32_at = |at: usize| be32(rdata, at).ok_or(());
    match rr_type {
        1 => {
            let octets: [u8; 4] = rdata.try_into().map_err(|_| ())?;
            let ip = IpAddr::V4(Ipv4Addr::from(octets));
            let _ = write!(text, "{ip}");
            return Ok(Some(ip));
        }
        28 => {
            let octets: [u8; 16] = rdata.try_into().map_err(|_| ())?;
            let ip = IpAddr::V6(Ipv6Addr::from(octets));
            let _ = write!(text, "{ip}");
            return Ok(Some(ip));
        }
        // NS, CNAME, PTR, DNAME
        2 | 5 | 12 | 39 => {
            if name_at(rdata_start, text)? != rdata_end {
                return Err(());
            }
        }
        15 => {
            let _ = write!(text, "{} ", u16_at(0)?);
            if name_at(rdata_start + 2, text)? != rdata_end {
                return Err(());
            }
        }
        6 => {
            let after_mname = name_at(rdata_start, text)?;
            text.push(' ');
            let after_rname = name_at(after_mname, text)?;
            let at = after_rname - rdata_start;
            if at + 20 != rdata.len() {
                return Err(());
            }
            for i in 0..5 {
                let _ = write!(text, " {}", u32_at(at + 4 * i)?);
            }
        }
        33 => {
            let _ = write!(text, "{} {} {} ", u16_at(0)?, u16_at(2)?, u16_at(4)?);
            if name_at(rdata_start + 6, text)? != rdata_end {
                return Err(());
            }
        }
        16 => write_txt(rdata, text)?,
        _ => return Err(()),
    }
    Ok(None)
}

/// TXT: each character-string quoted, joined by one space (the form `dig` prints).
fn write_txt(rdata: &[u8], text: &mut String) -> Result<(), ()> {
    let start = text.len();
    let mut rest = rdata;
    if rest.is_empty() {
        return Err(());
    }
    while let Some((&len, tail)) = rest.split_first() {
        let s = tail.get(..usize::from(len)).ok_or(())?;
        rest = tail.get(usize::from(len)..).unwrap_or_default();
        if text.len() > start {
            text.push(' ');
        }
        text.push('"');
        for &b in s {
            match b {
                b'"' | b'\\' => {
                    text.push('\\');
                    text.push(char::from(b));
                }
                0x20..=0x7e => text.push(char::from(b)),
                _ => {
                    let _ = write!(text, "\\{b:03}");
                }
            }
            if text.len() - start > MAX_DATA_TEXT {
                return Ok(());
            }
        }
        text.push('"');
    }
    Ok(())
}

/// RFC 3597 §5 generic form: `\# <length> <hex>` (just `\# 0` when empty). Only the first half
/// of [`MAX_DATA_TEXT`] in bytes is rendered; the caller cuts the text to the limit.
fn write_generic(rdata: &[u8], text: &mut String) {
    let _ = write!(text, "\\# {}", rdata.len());
    if !rdata.is_empty() {
        text.push(' ');
        push_hex(text, rdata.get(..MAX_DATA_TEXT / 2).unwrap_or(rdata));
    }
}

/// The fixed fields of a skipped resource record.
struct SkippedRr {
    type_: u16,
    ttl: u32,
    next: usize,
}

/// Skips the RR at `pos` without decompressing its name.
fn skip_rr(msg: &[u8], pos: usize) -> Result<SkippedRr, AppError> {
    let after_name = skip_name(msg, pos)?;
    let type_ = be16(msg, after_name).ok_or(AppError::Truncated)?;
    let ttl = be32(msg, after_name + 4).ok_or(AppError::Truncated)?;
    let rdlen = be16(msg, after_name + 8).ok_or(AppError::Truncated)?;
    let next = checked_within(msg, after_name + 10, usize::from(rdlen))?;
    Ok(SkippedRr { type_, ttl, next })
}

/// The offset just after the name at `pos`, in place (a pointer ends the name).
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, AppError> {
    let start = pos;
    loop {
        let len = *msg.get(pos).ok_or(AppError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xc0 => return checked_within(msg, pos, 2),
            _ => return Err(AppError::Malformed),
        }
        if pos - start >= MAX_NAME_WIRE {
            return Err(AppError::Malformed);
        }
    }
}

/// Appends the presentation form of the (possibly compressed) name at `pos` to `text` and
/// returns the offset just after the name where it starts. On error `text` is unchanged.
fn read_name(msg: &[u8], pos: usize, text: &mut String) -> Result<usize, AppError> {
    let mark = text.len();
    let result = read_name_inner(msg, pos, text);
    if result.is_err() {
        text.truncate(mark);
    }
    result
}

fn read_name_inner(msg: &[u8], mut pos: usize, text: &mut String) -> Result<usize, AppError> {
    let mut resume = None;
    let mut hops = 0;
    let mut wire_len = 1; // the terminating root label
    let mut labels = 0;
    loop {
        let len = *msg.get(pos).ok_or(AppError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                if labels == 0 {
                    text.push('.');
                }
                return Ok(resume.unwrap_or(pos + 1));
            }
            0x00 => {
                let len = usize::from(len);
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE {
                    return Err(AppError::Malformed);
                }
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(AppError::Truncated)?;
                if labels > 0 {
                    text.push('.');
                }
                push_label(text, label);
                labels += 1;
                pos += 1 + len;
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(AppError::Truncated)?;
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(AppError::Malformed);
                }
                resume.get_or_insert(pos + 2);
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                if target >= msg.len() {
                    return Err(AppError::Malformed);
                }
                pos = target;
            }
            // 0x40 (extended label types, RFC 6891 §5) and 0x80 are not in use.
            _ => return Err(AppError::Malformed),
        }
    }
}

/// One label in zone-file form: `.` and `\` escaped, other non-printables as `\DDD`.
fn push_label(text: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                text.push('\\');
                text.push(char::from(b));
            }
            0x21..=0x7e => text.push(char::from(b)),
            _ => {
                let _ = write!(text, "\\{b:03}");
            }
        }
    }
}

/// A known mnemonic, or `prefix` followed by the number written into `text`.
fn mnemonic(text: &mut String, known: Option<&'static str>, prefix: &str, n: u16) -> TextRef {
    match known {
        Some(name) => TextRef::Static(name),
        None => {
            let start = text.len();
            let _ = write!(text, "{prefix}{n}");
            TextRef::since(text, start)
        }
    }
}

/// Like [`mnemonic`], but always written into `text` (answer spans are ranges).
fn mnemonic_span(
    text: &mut String,
    known: Option<&'static str>,
    prefix: &str,
    n: u16,
) -> std::ops::Range<u32> {
    let start = text.len();
    match known {
        Some(name) => text.push_str(name),
        None => {
            let _ = write!(text, "{prefix}{n}");
        }
    }
    span(start, text.len())
}

/// Operation code mnemonics (IANA DNS OpCodes).
fn opcode_name(op: u16) -> Option<&'static str> {
    Some(match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => return None,
    })
}

/// Response code mnemonics (IANA DNS RCODEs; 16 and up need EDNS).
fn rcode_name(rcode: u16) -> Option<&'static str> {
    Some(match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        23 => "BADCOOKIE",
        _ => return None,
    })
}

/// RR type mnemonics (IANA DNS Resource Record TYPEs).
fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return None,
    })
}

/// Class mnemonics. The whole 16-bit field is used, so an mDNS record with the cache-flush
/// bit set shows as e.g. `CLASS32769`.
fn class_name(c: u16) -> Option<&'static str> {
    Some(match c {
        1 => "IN",
        3 => "CH",
        4 => "HS",
        254 => "NONE",
        255 => "ANY",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            out.extend_from_slice(&c.to_be_bytes());
        }
        out
    }

    fn name(dotted: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in dotted.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn question(owner: &[u8], qtype: u16, qclass: u16) -> Vec<u8> {
        let mut out = owner.to_vec();
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&qclass.to_be_bytes());
        out
    }

    fn rr(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut out = owner.to_vec();
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&class.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        out
    }

    /// Pointer to the question name, which these messages always put at offset 12.
    const PTR_Q: [u8; 2] = [0xc0, 0x0c];

    /// (name, type, class, ttl, data) of every answer.
    fn answers(s: &AppScratch) -> Vec<(String, String, String, u32, String)> {
        let get = |r: &std::ops::Range<u32>| s.text[r.start as usize..r.end as usize].to_string();
        s.answers
            .iter()
            .map(|a| {
                (
                    get(&a.name),
                    get(&a.type_),
                    get(&a.class),
                    a.ttl,
                    get(&a.data),
                )
            })
            .collect()
    }

    fn data(s: &AppScratch) -> Vec<String> {
        answers(s).into_iter().map(|a| a.4).collect()
    }

    fn parse(msg: &[u8]) -> (Result<DnsSummary, AppError>, AppScratch) {
        let mut scratch = AppScratch::default();
        let result = parse_dns(msg, false, &mut scratch);
        (result, scratch)
    }

    // --- Real captures. Payload hex and expectations are from tshark 4.0.17:
    // `tshark -r F -T fields -e udp.payload -e dns.qry.name -e dns.flags.rcode -e dns.a ...`

    /// dns-a-aaaa-mx.pcap frame 1: id 0x1a2d, query google.com A, RD + AD, EDNS DO 0.
    const A_QUERY: &str =
        "1a2d0120000100000000000106676f6f676c6503636f6d00000100010000291000000000000000";
    /// dns-a-aaaa-mx.pcap frame 2: 12 A answers (ttl 299), rcode 0, RD + RA.
    const A_RESPONSE: &str = "1a2d81800001000c0000000106676f6f676c6503636f6d0000010001c00c000100010000012b0004d8c5f2f4c00c000100010000012b0004d8c5f2d9c00c000100010000012b0004d8c5f2d8c00c000100010000012b0004d8c5f2d2c00c000100010000012b0004d8c5f2edc00c000100010000012b0004d8c5f2e7c00c000100010000012b0004d8c5f2eec00c000100010000012b0004d8c5f2e6c00c000100010000012b0004d8c5f2e0c00c000100010000012b0004d8c5f2fbc00c000100010000012b0004d8c5f2dfc00c000100010000012b0004d8c5f2f50000290200000000000000";
    /// dns-a-aaaa-mx.pcap frame 4: AAAA 2607:f8b0:400f:801::200e.
    const AAAA_RESPONSE: &str = "8d708180000100010000000106676f6f676c6503636f6d00001c0001c00c001c00010000012b00102607f8b0400f0801000000000000200e0000290200000000000000";
    /// dns-a-aaaa-mx.pcap frame 6: MX 10 aspmx.l.google.com … 50 alt4.aspmx.l.google.com,
    /// ttl 599.
    const MX_RESPONSE: &str = "56168180000100050000000106676f6f676c6503636f6d00000f0001c00c000f000100000257000c000a056173706d78016cc00cc00c000f0001000002570009001404616c7431c02ac00c000f0001000002570009001e04616c7432c02ac00c000f0001000002570009002804616c7433c02ac00c000f0001000002570009003204616c7434c02a0000290200000000000000";
    /// dns-nxdomain-soa.pcap frame 2: dne.oisf.net A, rcode 3, SOA only in authority.
    const NXDOMAIN: &str = "82958183000100000001000103646e65046f697366036e65740000010001c01000060001000003830045066e732d31313009617773646e732d313303636f6d0011617773646e732d686f73746d617374657206616d617a6f6ec03b0000000100001c200000038400127500000151800000290200000000000000";
    /// dns-txt-multiple.pcap frame 2: CNAME, CNAME, TXT of two strings (127 + 98 bytes),
    /// then 5 NS (authority) and 5 A (additional), AA + RD.
    const TXT_RESPONSE: &str = "6daf8500000100030005000504666c6b720a5f646f6d61696e6b657906666c69636b7203636f6d0000100001c00c000500010000038400070466613134c011c0380005000100000384001804666131340a5f646f6d61696e6b6579057961686f6fc023c04b0010000100001c2000e37f6b3d7273613b20703d4d4947664d413047435371475349623344514542415155414134474e4144434269514b4267514450645066794a4d32523247714d795a4d31666c547a46654449552b65374b6d694b527735797a335868742b6367454969486d6d356c49474275574363357274697930436378655070716363504b6a6e624853724449323350552b484f75714a366572674531494f734c364c4f4567473659543533764d62385a36556942537359506c724445432b384355496b544c4d4c584a6175524b35624e524b56314154477a4746706633546a5a745777494441514142c050000200010002a3000006036e7335c05bc050000200010002a3000006036e7334c05bc050000200010002a3000006036e7333c05bc050000200010002a3000006036e7332c05bc050000200010002a3000006036e7331c05bc1a60001000100127500000444b48310c19400010001001275000004448eff10c18200010001001275000004cb54dd35c17000010001001275000004628a0b9dc15e0001000100127500000477a0f77c";
    /// dns-over-tcp.pcap frame 6 (tcp.payload, length-prefixed): www.tcpdump.org A,
    /// answers 192.139.46.66 and 198.199.88.104 (ttl 60), AA + RD, rcode 0.
    const TCP_RESPONSE: &str = "00e0431985000001000200020005037777770774637064756d70036f72670000010001c00c000100010000003c0004c08b2e42c00c000100010000003c0004c6c75868c01000020001000151800012036e69630973616e64656c6d616e02636100c0100002000100015180001203736e7308636f6f7065726978036e657400c04d000100010000012c0004d157f912c04d001c00010000012c00102607f0b0000f000000000000babef00dc06b0001000100001c200004616b850fc06b001c000100001c20001026003c0300000000f03c91fffe96e8ef0000291000000000000000";
    /// http-dns-wikipedia-mixed.pcap frame 21: CNAME upload.pmtpa.wikimedia.org (ttl 124)
    /// + A 208.80.152.3 (ttl 2156); NS and A records in authority/additional.
    const CNAME_RESPONSE: &str = "65f0818000010002000300030675706c6f61640977696b696d65646961036f72670000010001c00c000500010000007c000f0675706c6f616405706d747061c013c032000100010000086c0004d0509803c013000200010000c0480006036e7331c013c013000200010000c0480006036e7332c013c013000200010000c0480006036e7330c013c081000100010000085d0004d0509882c05d000100010000085d0004d050988ec06f000100010000085d00045bc6ae04";
    /// http-dns-wikipedia-mixed.pcap frame 2 (mDNS): no question, one SRV answer
    /// "priority 0, weight 0, port 22, target gemini.local", class IN + cache flush, AA.
    const MDNS_SRV: &str = "0000840000000001000000040667656d696e69095f736674702d737368045f746370056c6f63616c000021800100000078000f0000000000160667656d696e69c022c039001c8001000000780010fe800000000000000217f2fffed7cf65c039000180010000007800048d8edc32c00c002f8001000000780009c00c00050000800040c039002f8001000000780008c039000440000008";

    #[test]
    fn tshark_a_query() {
        let mut s = AppScratch::default();
        let sum = parse_dns(&hex(A_QUERY), false, &mut s).unwrap();
        let rec = sum.record(&s);
        assert_eq!(
            (rec.id, rec.type_, rec.op_code, rec.response_code),
            (0x1a2d, "query", "QUERY", None)
        );
        assert_eq!(rec.header_flags.as_slice(), ["RD", "AD"]);
        let q = rec.question.unwrap();
        assert_eq!(
            (q.name, q.type_, q.class, q.registered_domain),
            ("google.com", "A", "IN", Some("google.com"))
        );
        assert!(rec.answers.is_empty() && !sum.is_truncated() && !sum.is_response());
    }

    #[test]
    fn tshark_a_response() {
        let (sum, s) = parse(&hex(A_RESPONSE));
        let rec = sum.unwrap().record(&s);
        assert_eq!((rec.type_, rec.response_code), ("answer", Some("NOERROR")));
        assert_eq!(rec.header_flags.as_slice(), ["RD", "RA"]);
        let all = answers(&s);
        assert_eq!(all.len(), 12);
        assert_eq!(
            all[0],
            (
                "google.com".into(),
                "A".into(),
                "IN".into(),
                299,
                "216.197.242.244".into()
            )
        );
        let ips: Vec<String> = rec.resolved_ip.iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips.join(","), "216.197.242.244,216.197.242.217,216.197.242.216,216.197.242.210,216.197.242.237,216.197.242.231,216.197.242.238,216.197.242.230,216.197.242.224,216.197.242.251,216.197.242.223,216.197.242.245");
    }

    #[test]
    fn tshark_aaaa_and_mx() {
        let (sum, s) = parse(&hex(AAAA_RESPONSE));
        assert_eq!(sum.unwrap().record(&s).question.unwrap().type_, "AAAA");
        assert_eq!(answers(&s)[0].1, "AAAA");
        assert_eq!(data(&s), ["2607:f8b0:400f:801::200e"]);
        assert_eq!(
            s.resolved,
            ["2607:f8b0:400f:801::200e".parse::<IpAddr>().unwrap()]
        );

        let (sum, s) = parse(&hex(MX_RESPONSE));
        assert_eq!(sum.unwrap().record(&s).question.unwrap().type_, "MX");
        assert_eq!(
            data(&s),
            [
                "10 aspmx.l.google.com",
                "20 alt1.aspmx.l.google.com",
                "30 alt2.aspmx.l.google.com",
                "40 alt3.aspmx.l.google.com",
                "50 alt4.aspmx.l.google.com"
            ]
        );
        assert!(answers(&s).iter().all(|a| a.1 == "MX" && a.3 == 599));
        assert!(s.resolved.is_empty());
    }

    #[test]
    fn tshark_nxdomain_keeps_authority_out_of_answers() {
        let (sum, s) = parse(&hex(NXDOMAIN));
        let rec = sum.unwrap().record(&s);
        assert_eq!((rec.id, rec.response_code), (0x8295, Some("NXDOMAIN")));
        assert_eq!(rec.header_flags.as_slice(), ["RD", "RA"]);
        let q = rec.question.unwrap();
        assert_eq!(
            (q.name, q.registered_domain),
            ("dne.oisf.net", Some("oisf.net"))
        );
        assert!(rec.answers.is_empty());
    }

    #[test]
    fn tshark_txt_multiple_strings() {
        let (sum, s) = parse(&hex(TXT_RESPONSE));
        let rec = sum.unwrap().record(&s);
        assert_eq!(rec.header_flags.as_slice(), ["AA", "RD"]);
        let q = rec.question.unwrap();
        assert_eq!(
            (q.name, q.type_, q.registered_domain),
            ("flkr._domainkey.flickr.com", "TXT", Some("flickr.com"))
        );
        let all = answers(&s);
        assert_eq!(
            all.len(),
            3,
            "authority and additional records are not answers"
        );
        assert_eq!(
            all[0],
            (
                "flkr._domainkey.flickr.com".into(),
                "CNAME".into(),
                "IN".into(),
                900,
                "fa14._domainkey.flickr.com".into()
            )
        );
        assert_eq!(all[1].4, "fa14._domainkey.yahoo.com");
        assert_eq!((all[2].1.as_str(), all[2].3), ("TXT", 7200));
        let first = "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDPdPfyJM2R2GqMyZM1flTzFeDIU+e7KmiKRw5yz3Xht+cgEIiHmm5lIGBuWCc5rtiy0CcxePpqccPKjn";
        let second = "HSrDI23PU+HOuqJ6ergE1IOsL6LOEgG6YT53vMb8Z6UiBSsYPlrDEC+8CUIkTLMLXJauRK5bNRKV1ATGzGFpf3TjZtWwIDAQAB";
        assert_eq!((first.len(), second.len()), (127, 98));
        assert_eq!(all[2].4, format!("\"{first}\" \"{second}\""));
        assert!(
            s.resolved.is_empty(),
            "additional A records are not resolved_ip"
        );
    }

    #[test]
    fn tshark_dns_over_tcp() {
        let mut s = AppScratch::default();
        let sum = parse_dns(&hex(TCP_RESPONSE), true, &mut s).unwrap();
        let rec = sum.record(&s);
        assert_eq!((rec.id, rec.response_code), (0x4319, Some("NOERROR")));
        assert_eq!(rec.header_flags.as_slice(), ["AA", "RD"]);
        assert_eq!(rec.question.unwrap().name, "www.tcpdump.org");
        assert_eq!(data(&s), ["192.139.46.66", "198.199.88.104"]);
        assert!(answers(&s).iter().all(|a| a.3 == 60));
        // Without the prefix the bytes do not line up.
        let mut s2 = AppScratch::default();
        let plain = parse_dns(&hex(TCP_RESPONSE), false, &mut s2);
        assert!(plain.map(|x| x.record(&s2).id != 0x4319).unwrap_or(true));
    }

    #[test]
    fn tshark_cname_chain_and_mdns_srv() {
        let (sum, s) = parse(&hex(CNAME_RESPONSE));
        let rec = sum.unwrap().record(&s);
        assert_eq!(
            rec.question.unwrap().registered_domain,
            Some("wikimedia.org")
        );
        let all = answers(&s);
        assert_eq!(
            all[0],
            (
                "upload.wikimedia.org".into(),
                "CNAME".into(),
                "IN".into(),
                124,
                "upload.pmtpa.wikimedia.org".into()
            )
        );
        assert_eq!(
            all[1],
            (
                "upload.pmtpa.wikimedia.org".into(),
                "A".into(),
                "IN".into(),
                2156,
                "208.80.152.3".into()
            )
        );
        assert_eq!(all.len(), 2);

        let (sum, s) = parse(&hex(MDNS_SRV));
        let rec = sum.unwrap().record(&s);
        assert!(rec.question.is_none());
        assert_eq!(rec.header_flags.as_slice(), ["AA"]);
        assert_eq!(
            answers(&s),
            [(
                "gemini._sftp-ssh._tcp.local".into(),
                "SRV".into(),
                "CLASS32769".into(),
                120,
                "0 0 22 gemini.local".into()
            )]
        );
    }

    // --- Hand-built messages.

    /// A response for `q` with the given answers (owner = pointer to the question).
    fn response(q: &str, qtype: u16, answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut msg = header(7, 0x8180, [1, answers.len() as u16, 0, 0]);
        msg.extend(question(&name(q), qtype, 1));
        for (t, rdata) in answers {
            msg.extend(rr(&PTR_Q, *t, 1, 300, rdata));
        }
        msg
    }

    #[test]
    fn every_data_type_has_its_presentation_form() {
        let mut mx = vec![0, 5];
        mx.extend(name("mail.example.com"));
        let mut soa = name("ns1.example.com");
        soa.extend(name("hostmaster.example.com"));
        for n in [2024010101u32, 7200, 3600, 1209600, 300] {
            soa.extend(n.to_be_bytes());
        }
        let mut srv = vec![0, 10, 0, 60, 0x14, 0x66];
        srv.extend(name("sip.example.com"));
        let txt = b"\x05hello\x0asay \"hi\" \\\x02\x00\xff\x00";
        let caa = b"\x00\x05issueca.example";
        let msg = response(
            "example.com",
            255,
            &[
                (1, &[192, 0, 2, 1]),
                (
                    28,
                    &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                ),
                (5, &name("www.example.com")),
                (2, &name("ns1.example.com")),
                (12, &PTR_Q),
                (15, &mx),
                (16, txt),
                (6, &soa),
                (33, &srv),
                (257, caa),
                (0xff00, &[]),
                (1, &[1, 2, 3]),
                (39, &name("example.net")),
            ],
        );
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        assert_eq!(rec.question.as_ref().unwrap().type_, "ANY");
        assert_eq!(
            data(&s),
            [
                "192.0.2.1",
                "2001:db8::1",
                "www.example.com",
                "ns1.example.com",
                "example.com",
                "5 mail.example.com",
                r#""hello" "say \"hi\" \\" "\000\255" """#,
                "ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300",
                "10 60 5222 sip.example.com",
                r"\# 17 0005697373756563612e6578616d706c65",
                r"\# 0",
                r"\# 3 010203",
                "example.net",
            ]
        );
        let types: Vec<String> = answers(&s).into_iter().map(|a| a.1).collect();
        assert_eq!(
            types,
            [
                "A",
                "AAAA",
                "CNAME",
                "NS",
                "PTR",
                "MX",
                "TXT",
                "SOA",
                "SRV",
                "CAA",
                "TYPE65280",
                "A",
                "DNAME"
            ]
        );
        assert_eq!(
            rec.resolved_ip.len(),
            2,
            "a malformed A is shown as hex, not resolved"
        );
        let json = serde_json::to_value(&rec).unwrap();
        assert_eq!(json["answers"][9]["type"], "CAA");
        assert_eq!(json["answers"][0]["ttl"], 300);
        assert_eq!(json["response_code"], "NOERROR");
    }

    #[test]
    fn rdata_name_that_overruns_its_rdata_falls_back_to_hex() {
        // CNAME rdata claims 2 bytes but the name inside is longer.
        let mut msg = header(1, 0x8180, [1, 1, 0, 0]);
        msg.extend(question(&name("a.example"), 1, 1));
        let target = name("b.example");
        let mut rec = rr(&PTR_Q, 5, 1, 1, &target);
        let rdlen_at = rec.len() - target.len() - 2;
        rec[rdlen_at..rdlen_at + 2].copy_from_slice(&2u16.to_be_bytes());
        rec.truncate(rdlen_at + 2 + 2);
        msg.extend(rec);
        let (sum, s) = parse(&msg);
        assert!(sum.is_ok());
        assert_eq!(data(&s), [r"\# 2 0162"]);
    }

    #[test]
    fn pointer_loops_and_bad_pointers_are_malformed() {
        // Question name is a pointer to itself.
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend([0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // Two pointers pointing at each other, after a label.
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend([1, b'a', 0xc0, 0x10, 0xc0, 0x0e, 0, 1, 0, 1]);
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // A label followed by a pointer back to that label: grows until 255 bytes.
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend([3, b'a', b'b', b'c', 0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // Pointer past the end of the message.
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend([0xc1, 0x00, 0, 1, 0, 1]);
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // Reserved label type 0b10.
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend([0x80, 0, 0, 1, 0, 1]);
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // Pointer loop in an answer owner name, after a good answer: nothing is kept.
        let mut msg = response("example.com", 1, &[(1, &[192, 0, 2, 1])]);
        msg[7] = 2;
        msg.extend(rr(&[0xc0, 0x1d], 1, 1, 1, &[1, 2, 3, 4]));
        let loop_at = msg.len() - 16;
        msg[loop_at..loop_at + 2].copy_from_slice(&(loop_at as u16 | 0xc000).to_be_bytes());
        let (result, s) = parse(&msg);
        assert_eq!(result.unwrap_err(), AppError::Malformed);
        assert!(s.text.is_empty() && s.answers.is_empty() && s.resolved.is_empty());
    }

    #[test]
    fn name_limits() {
        // 4 labels of 63 bytes = 256 wire bytes with the root: one too many.
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend(question(&name(&long), 1, 1));
        assert_eq!(parse(&msg).0.unwrap_err(), AppError::Malformed);
        // 3×63 + 61 = 255 wire bytes: allowed.
        let ok = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        let mut msg = header(1, 0, [1, 0, 0, 0]);
        msg.extend(question(&name(&ok), 1, 1));
        let (sum, s) = parse(&msg);
        assert_eq!(sum.unwrap().record(&s).question.unwrap().name, ok);
    }

    #[test]
    fn root_escapes_and_case() {
        let mut msg = header(1, 0x2800, [1, 0, 0, 0]); // opcode 5 (UPDATE)
        msg.extend(question(&[0], 2, 3));
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        let q = rec.question.unwrap();
        assert_eq!(
            (rec.op_code, q.name, q.type_, q.class, q.registered_domain),
            ("UPDATE", ".", "NS", "CH", None)
        );

        let mut msg = header(1, 0x1800, [1, 0, 0, 0]); // opcode 3: unassigned
        msg.extend(question(
            b"\x03a.b\x02\x00\\\x03WwW\x07ExAmPlE\x02CO\x02uk\x00",
            0xff00,
            0x8001,
        ));
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        let q = rec.question.unwrap();
        assert_eq!(rec.op_code, "3");
        assert_eq!(q.name, r"a\.b.\000\\.WwW.ExAmPlE.CO.uk");
        assert_eq!((q.type_, q.class), ("TYPE65280", "CLASS32769"));
        assert_eq!(q.registered_domain, Some("example.co.uk"));
    }

    #[test]
    fn edns_do_bit_and_extended_rcode() {
        let mut msg = header(9, 0x0100, [1, 0, 0, 1]);
        msg.extend(question(&name("example.org"), 48, 1));
        msg.extend(rr(&[0], TYPE_OPT, 1232, 0x0000_8000, &[]));
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        assert_eq!(rec.header_flags.as_slice(), ["RD", "DO"]);
        assert_eq!(rec.question.unwrap().type_, "DNSKEY");

        // Response with extended RCODE 1 (<< 4) and header RCODE 0 = 16, BADVERS; CD set.
        let mut msg = header(9, 0x8010, [0, 0, 0, 1]);
        msg.extend(rr(&[0], TYPE_OPT, 1232, 0x0100_0000, &[]));
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        assert_eq!(
            (rec.response_code, rec.header_flags.as_slice()),
            (Some("BADVERS"), &["CD"][..])
        );

        let mut msg = header(9, 0x800c, [0, 0, 0, 0]); // rcode 12: unassigned
        msg[3] |= 0;
        let (sum, s) = parse(&msg);
        assert_eq!(sum.unwrap().record(&s).response_code, Some("12"));
    }

    #[test]
    fn truncated_messages_keep_what_was_read() {
        assert_eq!(parse(&[0; 11]).0.unwrap_err(), AppError::Truncated);
        let mut s = AppScratch::default();
        assert_eq!(
            parse_dns(&[0], true, &mut s).unwrap_err(),
            AppError::Truncated
        );
        assert_eq!(
            parse_dns(&[0, 30, 1, 2, 3], true, &mut s).unwrap_err(),
            AppError::Truncated
        );

        let full = hex(A_RESPONSE);
        // Cut in the middle of the third answer's address.
        let cut = &full[..12 + 16 + 16 * 2 + 14];
        let (sum, s) = parse(cut);
        let sum = sum.unwrap();
        assert!(sum.is_truncated());
        let rec = sum.record(&s);
        assert_eq!(rec.question.unwrap().name, "google.com");
        assert_eq!(data(&s), ["216.197.242.244", "216.197.242.217"]);
        assert_eq!(rec.resolved_ip.len(), 2);
        assert!(!s.text.contains("216.197.242.216"));

        // Cut inside the question: header only.
        let (sum, s) = parse(&full[..20]);
        let sum = sum.unwrap();
        assert!(sum.is_truncated());
        assert!(sum.record(&s).question.is_none());
        assert_eq!(sum.record(&s).response_code, Some("NOERROR"));
        assert!(s.text.is_empty() || !s.text.contains("goo"));

        // TCP: the length prefix announces more than the segment holds.
        let tcp = hex(TCP_RESPONSE);
        let mut s = AppScratch::default();
        let sum = parse_dns(&tcp[..60], true, &mut s).unwrap();
        assert!(sum.is_truncated());
        assert_eq!(data(&s), ["192.139.46.66"]);
    }

    #[test]
    fn answers_are_capped_but_opt_is_still_read() {
        let mut msg = header(3, 0x8180, [1, 40, 0, 1]);
        msg.extend(question(&name("many.example"), 1, 1));
        for i in 0..40u8 {
            msg.extend(rr(&PTR_Q, 1, 1, 5, &[10, 0, 0, i]));
        }
        msg.extend(rr(&[0], TYPE_OPT, 512, 0x8000, &[]));
        let (sum, s) = parse(&msg);
        let rec = sum.unwrap().record(&s);
        assert_eq!(rec.answers.items.len(), MAX_ANSWERS);
        assert_eq!(rec.resolved_ip.len(), MAX_ANSWERS);
        assert!(rec.header_flags.contains(&"DO"));
    }

    #[test]
    fn long_data_is_cut() {
        let mut txt = Vec::new();
        for _ in 0..40 {
            txt.push(255);
            txt.extend([b'x'; 255]);
        }
        let big = vec![0xab; 5000];
        let msg = response("example.com", 16, &[(16, &txt), (99, &big)]);
        let (sum, s) = parse(&msg);
        assert!(sum.is_ok());
        let d = data(&s);
        assert_eq!(d[0].len(), MAX_DATA_TEXT);
        assert!(d[0].starts_with("\"xxx"));
        assert_eq!(d[1].len(), MAX_DATA_TEXT);
        assert!(d[1].starts_with(r"\# 5000 abab"));
    }

    #[test]
    fn warm_scratch_does_not_grow() {
        let msg = hex(TXT_RESPONSE);
        let mut s = AppScratch::default();
        parse_dns(&msg, false, &mut s).unwrap();
        let caps = (
            s.text.capacity(),
            s.answers.capacity(),
            s.resolved.capacity(),
        );
        for _ in 0..3 {
            s.clear();
            parse_dns(&msg, false, &mut s).unwrap();
            assert_eq!(
                caps,
                (
                    s.text.capacity(),
                    s.answers.capacity(),
                    s.resolved.capacity()
                )
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            tcp in any::<bool>(),
        ) {
            let mut s = AppScratch::default();
            if let Ok(sum) = parse_dns(&bytes, tcp, &mut s) {
                let rec = sum.record(&s);
                let _ = serde_json::to_string(&rec).unwrap();
                prop_assert!(rec.answers.items.len() <= MAX_ANSWERS);
            }
        }

        #[test]
        fn random_tail_after_valid_header_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            // Plausible counts make the section parsers run over the random bytes.
            let mut msg = header(1, 0x8180, [1, 3, 1, 2]);
            msg.extend(tail);
            let mut s = AppScratch::default();
            let _ = parse_dns(&msg, false, &mut s);
        }

        #[test]
        fn generated_query_round_trips_its_name(
            labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,20}", 1..6),
            qtype in any::<u16>(),
            id in any::<u16>(),
            tcp in any::<bool>(),
        ) {
            let dotted = labels.join(".");
            let mut msg = header(id, 0x0100, [1, 0, 0, 0]);
            msg.extend(question(&name(&dotted), qtype, 1));
            if tcp {
                let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
                framed.extend(msg);
                msg = framed;
            }
            let mut s = AppScratch::default();
            let sum = parse_dns(&msg, tcp, &mut s).unwrap();
            let rec = sum.record(&s);
            prop_assert!(!sum.is_truncated());
            prop_assert_eq!(rec.id, id);
            prop_assert_eq!(rec.question.unwrap().name, dotted.as_str());
        }
    }
}
