//! The DNS parser on arbitrary bytes. The first byte's low bit selects DNS over TCP (with
//! the two-byte length prefix). Checks: no panic, no unbounded work, and a parsed message's
//! ECS `dns` object serializes to JSON that parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsensor::decode::app::dns::parse_dns;
use netsensor::decode::app::AppScratch;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let over_tcp = selector & 1 == 1;
    let mut scratch = AppScratch::default();
    if let Ok(summary) = parse_dns(payload, over_tcp, &mut scratch) {
        let record = summary.record(&scratch);
        let json = serde_json::to_string(&record).expect("dns serializes");
        let value: Value = serde_json::from_str(&json).expect("dns JSON parses back");
        assert!(value.is_object());
        // Parsing again into the same (cleared) scratch gives the same result.
        scratch.clear();
        let again = parse_dns(payload, over_tcp, &mut scratch).expect("deterministic");
        let json_again = serde_json::to_string(&again.record(&scratch)).expect("serializes");
        assert_eq!(json, json_again);
    }
});
