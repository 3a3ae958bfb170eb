//! TLS ClientHello summary: server name (SNI), offered version and the JA3 fingerprint.
//!
//! Only the first TLS record of a segment is read. A ClientHello split across TCP segments
//! is parsed as far as this segment goes: when the SNI was read completely the summary is
//! returned without a JA3 (which needs every extension), otherwise [`AppError::Truncated`].
//!
//! JA3 (<https://github.com/salesforce/ja3>): `SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats`, decimal values joined by `-`, GREASE values (RFC 8701,
//! `0x?a?a`) removed, hashed with MD5. Both the string and the hex digest are written to the
//! scratch text, so computing it allocates nothing.

use std::fmt::Write as _;

use md5::{Digest, Md5};
use netsensor_schema::{Tls, TlsClient};

use super::{be16, push_hex, push_lossy, AppError, AppScratch, TextRef};

/// Longest server name kept, in bytes (DNS names are at most 253).
const MAX_SERVER_NAME: usize = 1024;
/// TLS record content type of a handshake.
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Extension numbers (IANA TLS ExtensionType Values).
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// What [`parse_client_hello`] found; strings live in the [`AppScratch`] it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSummary {
    version: Option<&'static str>,
    server_name: Option<TextRef>,
    ja3: Option<TextRef>,
    ja3_string: Option<TextRef>,
}

impl TlsSummary {
    /// The ECS `tls` object; `scratch` must be the one given to [`parse_client_hello`].
    pub fn record<'a>(&self, scratch: &'a AppScratch) -> Tls<'a> {
        let text = scratch.text.as_str();
        Tls {
            version: self.version,
            version_protocol: "tls",
            client: TlsClient {
                server_name: self.server_name.map(|r| r.get(text)),
                ja3: self.ja3.map(|r| r.get(text)),
            },
        }
    }

    /// The JA3 string the fingerprint hashes (for debugging and tests).
    pub fn ja3_string<'a>(&self, scratch: &'a AppScratch) -> Option<&'a str> {
        self.ja3_string.map(|r| r.get(&scratch.text))
    }
}

/// Offsets of the parts of a ClientHello that the summary needs, all into the hello body.
#[derive(Default)]
struct Parts<'p> {
    client_version: u16,
    ciphers: &'p [u8],
    /// The extension block, when it was read to its end.
    extensions: Option<&'p [u8]>,
    server_name: Option<&'p [u8]>,
    supported_versions: Option<&'p [u8]>,
    groups: Option<&'p [u8]>,
    point_formats: Option<&'p [u8]>,
}

/// Parses a TLS ClientHello at the start of `payload`.
///
/// Ok(None) when the payload is not a TLS handshake record carrying a ClientHello.
///
/// # Errors
/// [`AppError::Truncated`] when the payload ends before the server name extension was read
/// (or before it is known that there is none); [`AppError::Malformed`] when lengths inside
/// the ClientHello contradict each other.
pub fn parse_client_hello(
    payload: &[u8],
    scratch: &mut AppScratch,
) -> Result<Option<TlsSummary>, AppError> {
    let (Some(&CONTENT_HANDSHAKE), Some(&3), Some(&minor)) =
        (payload.first(), payload.get(1), payload.get(2))
    else {
        return Ok(None);
    };
    if minor > 4 {
        return Ok(None);
    }
    let Some(record_len) = be16(payload, 3) else {
        return Ok(None);
    };
    let available = payload.get(5..).unwrap_or_default();
    let record = available
        .get(..usize::from(record_len))
        .unwrap_or(available);
    let Some((&HANDSHAKE_CLIENT_HELLO, handshake)) = record.split_first() else {
        return Ok(None);
    };
    let declared = match handshake.get(..3) {
        Some(&[a, b, c]) => usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c),
        _ => return Err(AppError::Truncated),
    };
    let rest = handshake.get(3..).unwrap_or_default();
    let (hello, cut) = match rest.get(..declared) {
        Some(hello) => (hello, false),
        None => (rest, true),
    };
    let parts = parse_parts(hello, cut)?;

    let text = &mut scratch.text;
    let server_name = parts.server_name.and_then(|name| {
        let start = text.len();
        push_lossy(text, name, MAX_SERVER_NAME);
        (text.len() > start).then(|| TextRef::since(text, start))
    });
    let (ja3_string, ja3) = match parts.extensions {
        Some(extensions) => {
            let (string, digest) = write_ja3(&parts, extensions, text);
            (Some(string), Some(digest))
        }
        None => (None, None),
    };
    let version = parts
        .supported_versions
        .and_then(highest_supported_version)
        .or_else(|| version_name(parts.client_version).map(|(_, name)| name));
    Ok(Some(TlsSummary {
        version,
        server_name,
        ja3,
        ja3_string,
    }))
}

/// A bounds-checked reader over one ClientHello body.
struct Reader<'p> {
    buf: &'p [u8],
    pos: usize,
    /// Running out of bytes means the payload was cut (else the lengths are inconsistent).
    cut: bool,
}

impl<'p> Reader<'p> {
    fn short(&self) -> AppError {
        if self.cut {
            AppError::Truncated
        } else {
            AppError::Malformed
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&'p [u8], AppError> {
        let end = self.pos.checked_add(n).ok_or(AppError::Malformed)?;
        let out = self.buf.get(self.pos..end).ok_or_else(|| self.short())?;
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, AppError> {
        Ok(self.bytes(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, AppError> {
        be16(self.bytes(2)?, 0).ok_or(AppError::Malformed)
    }

    /// A vector with a `u8` length prefix.
    fn vec8(&mut self) -> Result<&'p [u8], AppError> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }

    /// A vector with a `u16` length prefix.
    fn vec16(&mut self) -> Result<&'p [u8], AppError> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Splits the ClientHello body into the parts the summary needs.
fn parse_parts(hello: &[u8], cut: bool) -> Result<Parts<'_>, AppError> {
    let mut r = Reader {
        buf: hello,
        pos: 0,
        cut,
    };
    let mut parts = Parts {
        client_version: r.u16()?,
        ..Parts::default()
    };
    r.bytes(32)?; // random
    let session_id = r.vec8()?;
    if session_id.len() > 32 {
        return Err(AppError::Malformed);
    }
    parts.ciphers = r.vec16()?;
    if !parts.ciphers.len().is_multiple_of(2) {
        return Err(AppError::Malformed);
    }
    r.vec8()?; // compression methods
    if r.at_end() && !cut {
        // A ClientHello without extensions (RFC 5246 §7.4.1.2 allows it).
        parts.extensions = Some(&[]);
        return Ok(parts);
    }
    let declared = usize::from(r.u16()?);
    let available = hello.get(r.pos..).unwrap_or_default();
    let (block, block_cut) = match available.get(..declared) {
        Some(block) => (block, false),
        None if cut => (available, true),
        None => return Err(AppError::Malformed),
    };
    let mut ext = Reader {
        buf: block,
        pos: 0,
        cut: block_cut,
    };
    // Each extension consumes at least 4 bytes, so this ends with the block.
    while !ext.at_end() {
        let parsed = ext.u16().and_then(|t| Ok((t, ext.vec16()?)));
        let (ext_type, data) = match parsed {
            Ok(found) => found,
            Err(AppError::Truncated) if parts.server_name.is_some() => return Ok(parts),
            Err(e) => return Err(e),
        };
        match ext_type {
            EXT_SERVER_NAME => parts.server_name = first_host_name(data)?,
            EXT_SUPPORTED_GROUPS => parts.groups = Some(data),
            EXT_EC_POINT_FORMATS => parts.point_formats = Some(data),
            EXT_SUPPORTED_VERSIONS => parts.supported_versions = Some(data),
            _ => {}
        }
    }
    if block_cut {
        if parts.server_name.is_some() {
            return Ok(parts);
        }
        return Err(AppError::Truncated);
    }
    parts.extensions = Some(block);
    Ok(parts)
}

/// The first `host_name` entry of a server_name extension (RFC 6066 §3).
fn first_host_name(data: &[u8]) -> Result<Option<&[u8]>, AppError> {
    let mut r = Reader {
        buf: data,
        pos: 0,
        cut: false,
    };
    let list = r.vec16()?;
    let mut entries = Reader {
        buf: list,
        pos: 0,
        cut: false,
    };
    while !entries.at_end() {
        let name_type = entries.u8()?;
        let name = entries.vec16()?;
        if name_type == 0 {
            return Ok((!name.is_empty()).then_some(name));
        }
    }
    Ok(None)
}

/// True for the reserved GREASE values 0x0a0a, 0x1a1a, …, 0xfafa (RFC 8701).
fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// `tls.version` for a protocol version, with a rank to pick the highest. TLS 1.3 drafts
/// (0x7fxx) count as 1.3. SSL 3.0 and unknown values have none.
fn version_name(version: u16) -> Option<(u8, &'static str)> {
    match version {
        0x0301 => Some((1, "1.0")),
        0x0302 => Some((2, "1.1")),
        0x0303 => Some((3, "1.2")),
        0x0304 | 0x7f00..=0x7fff => Some((4, "1.3")),
        _ => None,
    }
}

/// The highest known version in a ClientHello supported_versions extension (RFC 8446
/// §4.2.1): a `u8` length, then `u16` versions. GREASE values are not known versions.
fn highest_supported_version(data: &[u8]) -> Option<&'static str> {
    let (&len, rest) = data.split_first()?;
    let list = rest.get(..usize::from(len)).unwrap_or(rest);
    list.chunks_exact(2)
        .filter_map(|pair| version_name(be16(pair, 0)?))
        .max_by_key(|&(rank, _)| rank)
        .map(|(_, name)| name)
}

/// Writes the JA3 string and its MD5 hex digest; returns references to both.
fn write_ja3(parts: &Parts<'_>, extensions: &[u8], text: &mut String) -> (TextRef, TextRef) {
    let start = text.len();
    let _ = write!(text, "{},", parts.client_version);
    push_u16_list(text, parts.ciphers);
    text.push(',');
    let mut first = true;
    let mut r = Reader {
        buf: extensions,
        pos: 0,
        cut: false,
    };
    // The block was validated by `parse_parts`; stop at the first inconsistency anyway.
    while let Ok(ext_type) = r.u16() {
        if r.vec16().is_err() {
            break;
        }
        if !is_grease(ext_type) {
            if !first {
                text.push('-');
            }
            let _ = write!(text, "{ext_type}");
            first = false;
        }
    }
    text.push(',');
    if let Some(groups) = parts.groups {
        // A `u16` length, then `u16` named groups (RFC 8422 §5.1.1).
        let list = be16(groups, 0).and_then(|n| groups.get(2..2 + usize::from(n)));
        push_u16_list(text, list.unwrap_or_default());
    }
    text.push(',');
    if let Some(formats) = parts.point_formats {
        // A `u8` length, then `u8` formats.
        let list = formats
            .split_first()
            .and_then(|(&n, rest)| rest.get(..usize::from(n)));
        for (i, format) in list.unwrap_or_default().iter().enumerate() {
            if i > 0 {
                text.push('-');
            }
            let _ = write!(text, "{format}");
        }
    }
    let string = TextRef::since(text, start);
    let digest = Md5::digest(string.get(text).as_bytes());
    let hex_start = text.len();
    push_hex(text, &digest);
    (string, TextRef::since(text, hex_start))
}

/// Big-endian `u16` values in decimal joined by `-`, GREASE values left out.
fn push_u16_list(text: &mut String, bytes: &[u8]) {
    let mut first = true;
    for pair in bytes.chunks_exact(2) {
        let Some(value) = be16(pair, 0) else { continue };
        if is_grease(value) {
            continue;
        }
        if !first {
            text.push('-');
        }
        let _ = write!(text, "{value}");
        first = false;
    }
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

    /// A ClientHello payload captured from a real pcap, with tshark 4.0.17's JA3 for it
    /// (`tshark -r F -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3_full
    /// -e tls.handshake.ja3 -e tcp.payload`).
    struct Fixture {
        payload: &'static str,
        ja3_full: &'static str,
        ja3: &'static str,
    }

    /// cid-suricata-ipv4-seed7.pcap frame 4; tshark `tls.handshake.ja3` =
    /// e690df036922288311144cc96acf6515.
    const IPV4_SEED7: Fixture = Fixture {
        payload: "1603010200010001fc03032a9008a494c5216b165f4a3ce9d9a18714d00b4866a9ff51528af98b59657881206f0ea66abbb2f8ac25d72ab49f82d0f00a9cc58a1c75d443f26176907c30775d00481302130313011304c02cc030cca9cca8c0adc02bc02fc0acc023c027c00ac014c009c013009dc09d009cc09c003d003c0035002f009fccaac09f009ec09e006b00670039003300ff0100016b00000014001200000f697076342e676f6f676c652e636f6d000b000403000102000a000c000a001d0017001e00190018337400000010000e000c02683208687474702f312e31001600000017000000310000000d002600240403050306030807080808090804080a0805080b08060401050106010303030102030201002b00050403040303002d00020101003300260024001d002063375f136b1d8a371c27dac916258577a89e2e521dd99f421dc4c79a574e7937001500b200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ja3_full: "771,4866-4867-4865-4868-49196-49200-52393-52392-49325-49195-49199-49324-49187-49191-49162-49172-49161-49171-157-49309-156-49308-61-60-53-47-159-52394-49311-158-49310-107-103-57-51-255,0-11-10-13172-16-22-23-49-13-43-45-51-21,29-23-30-25-24,0-1-2",
        ja3: "e690df036922288311144cc96acf6515",
    };
    /// cid-suricata-ipv6-seed7.pcap frame 4; tshark `tls.handshake.ja3` =
    /// 7a15285d4efc355608b304698cd7f9ab.
    const IPV6_SEED7: Fixture = Fixture {
        payload: "16030101130100010f0303f8eb97c1cf968564200e3ac75ce74f3be694a92ea17d03afce58225d1cd665e32051c627d7d3b91ac53a0eb982517d2ec32225cd5aec60010277432a7bbe41dade0026c02bc02fc02cc030cca9cca8c009c013c00ac014009c009d002f0035c012000a130113021303010000a00000000f000d00000a646e732e676f6f676c65000500050100000000000a000a0008001d001700180019000b00020100000d001a0018080404030807080508060401050106010503060302010203ff01000100001700000010000e000c02683208687474702f312e3100120000002b00050403040303003300260024001d0020c727b4a5d614e9487af6a4edb2258b066d69978519a9f6a31119f04443dadc7d",
        ja3_full: "771,49195-49199-49196-49200-52393-52392-49161-49171-49162-49172-156-157-47-53-49170-10-4865-4866-4867,0-5-10-11-13-65281-23-16-18-43-51,29-23-24-25,0",
        ja3: "7a15285d4efc355608b304698cd7f9ab",
    };
    /// mixed-large-many-protocols.pcap frame 58; tshark `tls.handshake.ja3` =
    /// 8fbbd0f3c1f089979b04b8f8f1b21d41.
    const MIXED_58: Fixture = Fixture {
        payload: "16030100c1010000bd03039d9986dbe89f16b7234fcbe50ff3101363f1f6f1c4fda75a56d423a1b8db1974000020c02bc02fc00ac009c013c014c007c011003300320039002f0035000a000500040100007400000013001100000e7777772e676f6f676c652e636f6dff01000100000a00080006001700180019000b0002010000230000337400000010001b001908737064792f332e3106737064792f3308687474702f312e31000500050100000000000d0012001004010501020104030503020304020202",
        ja3_full: "771,49195-49199-49162-49161-49171-49172-49159-49169-51-50-57-47-53-10-5-4,0-65281-10-11-35-13172-16-5-13,23-24-25,0",
        ja3: "8fbbd0f3c1f089979b04b8f8f1b21d41",
    };
    /// tls12-clienthello-sni.pcap frame 4; tshark `tls.handshake.ja3` =
    /// a607f3a5c94c2ee592af1456f36c8367.
    const TLS12_CHROME34: Fixture = Fixture {
        payload: "16030100cc010000c80303ee181414cc5464d43b1046f68825acf46d92663289d2f905ecfa687e856affaa000028c02bc02f009ecc14cc13c00ac009c013c014c007c011003300320039009c002f0035000a00050004010000770000000e000c000009676f6f676c652e6465ff01000100000a00080006001700180019000b0002010000230000337400000010001b001906737064792f3308737064792f332e3108687474702f312e3175500000000500050100000000000d001200100401050102010403050302030402020200120000",
        ja3_full: "771,49195-49199-158-52244-52243-49162-49161-49171-49172-49159-49169-51-50-57-156-47-53-10-5-4,0-65281-10-11-35-13172-16-30032-5-13-18,23-24-25,0",
        ja3: "a607f3a5c94c2ee592af1456f36c8367",
    };
    /// tls13-ipv6-sni.pcap frame 4; tshark `tls.handshake.ja3` =
    /// 4826a90ec2daf4f7b4b64cc1c8bd343b.
    const TLS13_DRAFT: Fixture = Fixture {
        payload: "1603010200010001fc03034355d402c132771a9386b6e9994ae37069e0621af504c26673b1343843c21d8d0000264a4a130113021303c02bc02fc02cc030cca9cca8cc14cc13c013c014009c009d002f0035000a010001addada0000ff01000100000000180016000013626c6f672e636c6f7564666c6172652e636f6d0017000000230000000d00140012040308040401050308050501080606010201000500050100000000001200000010000e000c02683208687474702f312e3175500000000b000201000028002b00295a5a000100001d0020cf78b9167af054b922a96752b43973107b2a57766357dd288b2b42ab5df30e08002d00020101002b000b0acaca7f12030303020301000a000a00085a5a001d001700180a0a000100001500e4000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ja3_full: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-52244-52243-49171-49172-156-157-47-53-10,65281-0-23-35-13-5-18-16-30032-11-40-45-43-10-21,29-23-24,0",
        ja3: "4826a90ec2daf4f7b4b64cc1c8bd343b",
    };

    fn check(fixture: &Fixture, server_name: &str, version: &str) {
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&hex(fixture.payload), &mut s)
            .unwrap()
            .unwrap();
        assert_eq!(sum.ja3_string(&s), Some(fixture.ja3_full));
        let rec = sum.record(&s);
        assert_eq!(rec.client.ja3, Some(fixture.ja3));
        assert_eq!(rec.client.server_name, Some(server_name));
        assert_eq!((rec.version, rec.version_protocol), (Some(version), "tls"));
    }

    // SNI per tshark `tls.handshake.extensions_server_name`; version from
    // `tls.handshake.extensions.supported_version` (else `tls.handshake.version`).
    #[test]
    fn tshark_ipv4_seed7_tls13_supported_versions() {
        check(&IPV4_SEED7, "ipv4.google.com", "1.3"); // supported_versions 0x0304,0x0303
    }

    #[test]
    fn tshark_ipv6_seed7() {
        check(&IPV6_SEED7, "dns.google", "1.3"); // supported_versions 0x0304,0x0303
    }

    #[test]
    fn tshark_mixed_frame_58() {
        check(&MIXED_58, "www.google.com", "1.2"); // no supported_versions, 0x0303
    }

    #[test]
    fn tshark_chrome34_tls12() {
        check(&TLS12_CHROME34, "google.de", "1.2"); // no supported_versions, 0x0303
    }

    #[test]
    fn tshark_grease_and_tls13_draft() {
        // supported_versions 0xcaca (GREASE), 0x7f12 (draft 18), 0x0303, 0x0302, 0x0301;
        // GREASE cipher 0x4a4a and extension 0xdada are absent from tshark's JA3 string.
        check(&TLS13_DRAFT, "blog.cloudflare.com", "1.3");
    }

    /// Builds a record + handshake around a ClientHello body.
    fn hello(version: u16, ciphers: &[u16], extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend([7u8; 32]);
        body.push(4);
        body.extend([1, 2, 3, 4]);
        body.extend(((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend(c.to_be_bytes());
        }
        body.extend([1, 0]);
        if let Some(extensions) = extensions {
            let mut block = Vec::new();
            for (t, data) in extensions {
                block.extend(t.to_be_bytes());
                block.extend((data.len() as u16).to_be_bytes());
                block.extend(data);
            }
            body.extend((block.len() as u16).to_be_bytes());
            body.extend(block);
        }
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend(hs);
        rec
    }

    fn sni(name: &str) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend(name.as_bytes());
        let mut out = (entry.len() as u16).to_be_bytes().to_vec();
        out.extend(entry);
        out
    }

    fn u16s(prefix_bytes: usize, values: &[u16]) -> Vec<u8> {
        let len = values.len() * 2;
        let mut out = if prefix_bytes == 1 {
            vec![len as u8]
        } else {
            (len as u16).to_be_bytes().to_vec()
        };
        for v in values {
            out.extend(v.to_be_bytes());
        }
        out
    }

    #[test]
    fn published_ja3_example() {
        // The example in the salesforce/ja3 README: this string hashes to
        // ada70206e40642a3e4461f35503241d5 (also checked with coreutils md5sum).
        let ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4];
        let exts = [
            (0, sni("example.com")),
            (10, u16s(2, &[23, 24, 25])),
            (11, vec![1, 0]),
        ];
        let msg = hello(0x0301, &ciphers, Some(&exts));
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&msg, &mut s).unwrap().unwrap();
        assert_eq!(
            sum.ja3_string(&s),
            Some("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0")
        );
        let rec = sum.record(&s);
        assert_eq!(rec.client.ja3, Some("ada70206e40642a3e4461f35503241d5"));
        assert_eq!(
            (rec.version, rec.client.server_name),
            (Some("1.0"), Some("example.com"))
        );
    }

    #[test]
    fn grease_is_removed_everywhere_and_supported_versions_win() {
        let exts = [
            (0x0a0a, vec![]),
            (0, sni("grease.example")),
            (43, u16s(1, &[0x1a1a, 0x0304, 0x0303])),
            (10, u16s(2, &[0x2a2a, 29, 23])),
            (11, vec![1, 0]),
            (0xfafa, vec![0]),
        ];
        let msg = hello(0x0303, &[0x3a3a, 4865, 0xbaba, 49195], Some(&exts));
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&msg, &mut s).unwrap().unwrap();
        assert_eq!(
            sum.ja3_string(&s),
            Some("771,4865-49195,0-43-10-11,29-23,0")
        );
        assert_eq!(sum.record(&s).version, Some("1.3"));
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a) && !is_grease(0x0303));
    }

    #[test]
    fn hello_without_extensions_or_sni() {
        let msg = hello(0x0302, &[47], None);
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&msg, &mut s).unwrap().unwrap();
        assert_eq!(sum.ja3_string(&s), Some("770,47,,,"));
        let rec = sum.record(&s);
        assert_eq!((rec.version, rec.client.server_name), (Some("1.1"), None));
        assert_eq!(rec.client.ja3.map(str::len), Some(32));
        // SSL 3.0 has no tls.version.
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&hello(0x0300, &[47], None), &mut s)
            .unwrap()
            .unwrap();
        assert_eq!(sum.record(&s).version, None);
        // supported_versions with nothing known falls back to the client version.
        let exts = [(43, u16s(1, &[0x2a2a, 0x9999]))];
        let mut s = AppScratch::default();
        let sum = parse_client_hello(&hello(0x0303, &[47], Some(&exts)), &mut s)
            .unwrap()
            .unwrap();
        assert_eq!(sum.record(&s).version, Some("1.2"));
    }

    #[test]
    fn not_a_client_hello() {
        let mut s = AppScratch::default();
        for payload in [
            &b""[..],
            b"\x16",
            b"\x16\x03\x01\x00",
            b"GET / HTTP/1.1\r\n\r\n",
            b"\x17\x03\x03\x00\x05hello",            // application data
            b"\x16\x03\x03\x00\x04\x02\x00\x00\x00", // ServerHello
            b"\x16\x02\x00\x00\x04\x01\x00\x00\x00", // not version 3.x
            b"\x16\x03\x09\x00\x04\x01\x00\x00\x00", // minor version out of range
            b"\x16\x03\x01\x00\x00\x01\x00\x00\x00", // empty record
        ] {
            assert_eq!(parse_client_hello(payload, &mut s), Ok(None), "{payload:?}");
        }
    }

    #[test]
    fn split_client_hello() {
        let exts = [
            (0, sni("split.example")),
            (10, u16s(2, &[29])),
            (11, vec![1, 0]),
        ];
        let full = hello(0x0303, &[4865, 4866], Some(&exts));
        let sni_end = full
            .windows(13)
            .position(|w| w == b"split.example")
            .unwrap()
            + 13;
        let mut s = AppScratch::default();
        // Cut inside the random, the cipher list, and the server name.
        for cut in [12, 5 + 4 + 2 + 32 + 5 + 3, sni_end - 1] {
            assert_eq!(
                parse_client_hello(&full[..cut], &mut s).unwrap_err(),
                AppError::Truncated,
                "{cut}"
            );
        }
        // Cut right after the server name: SNI without JA3.
        for cut in [sni_end, sni_end + 3, full.len() - 1] {
            s.clear();
            let sum = parse_client_hello(&full[..cut], &mut s).unwrap().unwrap();
            let rec = sum.record(&s);
            assert_eq!(
                (rec.client.server_name, rec.client.ja3),
                (Some("split.example"), None),
                "{cut}"
            );
        }
        // The record fragment says so too: record length shorter than the handshake.
        let mut fragment = full.clone();
        fragment[3..5].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            parse_client_hello(&fragment, &mut s).unwrap_err(),
            AppError::Truncated
        );
    }

    #[test]
    fn inconsistent_lengths_are_malformed() {
        let exts = [(0, sni("bad.example"))];
        let full = hello(0x0303, &[4865], Some(&exts));
        let mut s = AppScratch::default();
        // Extension block length larger than the (complete) handshake.
        let mut bad = full.clone();
        let ext_len_at = 5 + 4 + 2 + 32 + 5 + 4 + 2;
        bad[ext_len_at..ext_len_at + 2].copy_from_slice(&500u16.to_be_bytes());
        assert_eq!(
            parse_client_hello(&bad, &mut s).unwrap_err(),
            AppError::Malformed
        );
        // Odd cipher-suite length.
        let mut odd = full.clone();
        odd[5 + 4 + 2 + 32 + 5 + 1] = 1;
        assert!(parse_client_hello(&odd, &mut s).is_err());
        // Session id longer than 32.
        let mut sid = full;
        sid[5 + 4 + 2 + 32] = 33;
        assert!(parse_client_hello(&sid, &mut s).is_err());
        // server_name list length disagreeing with the extension.
        let mut broken = sni("x.example");
        broken[1] += 5;
        let msg = hello(0x0303, &[4865], Some(&[(0, broken)]));
        assert_eq!(
            parse_client_hello(&msg, &mut s).unwrap_err(),
            AppError::Malformed
        );
    }

    #[test]
    fn odd_server_names() {
        let mut s = AppScratch::default();
        let msg = hello(0x0303, &[4865], Some(&[(0, sni(""))]));
        let sum = parse_client_hello(&msg, &mut s).unwrap().unwrap();
        assert_eq!(sum.record(&s).client.server_name, None);
        // Non-host_name entries are skipped; control bytes are masked.
        let mut data = vec![0, 0];
        data.extend([1, 0, 2, b'n', b'o']);
        data.extend([0, 0, 4, b'a', 0x07, b'.', b'b']);
        let n = (data.len() - 2) as u16;
        data[..2].copy_from_slice(&n.to_be_bytes());
        let msg = hello(0x0303, &[4865], Some(&[(0, data)]));
        s.clear();
        let sum = parse_client_hello(&msg, &mut s).unwrap().unwrap();
        assert_eq!(sum.record(&s).client.server_name, Some("a?.b"));
    }

    #[test]
    fn warm_scratch_does_not_grow() {
        let msg = hex(IPV4_SEED7.payload);
        let mut s = AppScratch::default();
        parse_client_hello(&msg, &mut s).unwrap();
        let cap = s.text.capacity();
        for _ in 0..3 {
            s.clear();
            parse_client_hello(&msg, &mut s).unwrap();
            assert_eq!(cap, s.text.capacity());
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut s = AppScratch::default();
            if let Ok(Some(sum)) = parse_client_hello(&bytes, &mut s) {
                let _ = sum.record(&s);
            }
        }

        #[test]
        fn random_hello_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut msg = vec![22, 3, 1, ((body.len() + 4) >> 8) as u8, (body.len() + 4) as u8];
            msg.extend([1, 0, (body.len() >> 8) as u8, body.len() as u8]);
            msg.extend(&body);
            let mut s = AppScratch::default();
            if let Ok(Some(sum)) = parse_client_hello(&msg, &mut s) {
                let rec = sum.record(&s);
                prop_assert!(rec.client.ja3.is_none_or(|j| j.len() == 32));
            }
        }

        #[test]
        fn every_prefix_of_a_real_hello_is_handled(cut in 0usize..517) {
            let msg = hex(IPV4_SEED7.payload);
            let mut s = AppScratch::default();
            match parse_client_hello(&msg[..cut], &mut s) {
                Ok(Some(sum)) => {
                    let name = sum.record(&s).client.server_name;
                    prop_assert_eq!(name, Some("ipv4.google.com"));
                }
                Ok(None) => prop_assert!(cut < 6),
                Err(e) => prop_assert_eq!(e, AppError::Truncated),
            }
        }
    }
}
