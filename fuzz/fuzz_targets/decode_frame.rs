//! Frame decoding and packet records. The first input byte picks the link type, the rest is
//! the frame. Checks: decoding is deterministic and its payload slice lies inside the frame;
//! the record is exactly one line of JSON whose keys are all packet fields of the field
//! table, with the captured length of the input.
#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use netsensor::capture::{FrameMeta, LinkType, SourceInfo};
use netsensor::decode::decode;
use netsensor::enrich::Enricher;
use netsensor::records::PacketBuilder;
use netsensor_schema::{fields_for, RecordKind};
use serde_json::Value;

fn link_type(selector: u8) -> LinkType {
    match selector % 10 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        2 => LinkType::LinuxSll2,
        3 => LinkType::Raw,
        4 => LinkType::Ipv4,
        5 => LinkType::Ipv6,
        6 => LinkType::Null,
        7 => LinkType::Loop,
        8 => LinkType::Other(u32::from(selector)),
        _ => LinkType::from_linktype(u32::from(selector)),
    }
}

fn packet_fields() -> &'static HashSet<&'static str> {
    static FIELDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    FIELDS.get_or_init(|| fields_for(RecordKind::Packet).map(|f| f.name).collect())
}

/// Every leaf of `value` (arrays of objects flattened, fields that are objects kept whole)
/// is a packet field.
fn check_keys(value: &Value, path: &str) {
    if !path.is_empty() && packet_fields().contains(path) {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_keys(child, &child_path);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for item in items {
                check_keys(item, path);
            }
        }
        _ => panic!("`{path}` is not a packet field"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = link_type(selector);
    let decoded = decode(link, frame);
    assert_eq!(decoded, decode(link, frame), "decoding is deterministic");
    if !decoded.payload.is_empty() {
        let inside = frame.as_ptr_range();
        let payload = decoded.payload.as_ptr_range();
        assert!(inside.start <= payload.start && payload.end <= inside.end);
    }
    if let LinkType::Other(_) = link {
        assert!(decoded.error.is_some());
    }

    let mut builder = PacketBuilder::new(Arc::new(Enricher::default()), "fuzz", "fuzz-host");
    let source = SourceInfo {
        interface: "fuzz.pcap".to_owned(),
        id_seed: 1,
        local_macs: Vec::new(),
        ..SourceInfo::default()
    };
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let meta = FrameMeta {
        timestamp_ns: 1_700_000_000_000_000_000,
        wire_len: len.saturating_add(u32::from(selector & 1)),
        cap_len: len,
        link,
        number: 1,
    };
    let mut out = Vec::new();
    builder
        .write_ndjson(&source, &meta, frame, &mut out)
        .expect("a record always serializes");
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    let record: Value = serde_json::from_slice(&out).expect("the record is JSON");
    check_keys(&record, "");
    assert_eq!(
        record["netsensor"]["packet"]["captured_length"].as_u64(),
        Some(frame.len() as u64)
    );
});
