//! The TLS ClientHello parser (SNI, version, JA3) on arbitrary bytes. Checks: no panic; a
//! parsed ClientHello's ECS `tls` object serializes to JSON that parses back; the JA3 string,
//! when present, has JA3's shape: five comma-separated fields of dash-separated decimals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsensor::decode::app::tls::parse_client_hello;
use netsensor::decode::app::AppScratch;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut scratch = AppScratch::default();
    if let Ok(Some(summary)) = parse_client_hello(data, &mut scratch) {
        let json = serde_json::to_string(&summary.record(&scratch)).expect("tls serializes");
        let value: Value = serde_json::from_str(&json).expect("tls JSON parses back");
        assert!(value.is_object());
        if let Some(ja3) = summary.ja3_string(&scratch) {
            let fields: Vec<&str> = ja3.split(',').collect();
            assert_eq!(fields.len(), 5, "JA3 string {ja3:?}");
            for field in fields {
                assert!(
                    field
                        .split('-')
                        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                        || field.is_empty(),
                    "JA3 field {field:?} in {ja3:?}"
                );
            }
        }
    }
});
