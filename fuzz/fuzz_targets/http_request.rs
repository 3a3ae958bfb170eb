//! The HTTP/1 request/status-line parser on arbitrary bytes; the first byte's low bit turns
//! URL scrubbing on. Checks: no panic; a parsed head
//! yields `http`, `url` and `user_agent` objects that serialize to JSON and parse back, and
//! `url.original` never carries control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsensor::decode::app::http::parse_http;
use netsensor::decode::app::AppScratch;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let scrub = selector & 1 == 1;
    let mut scratch = AppScratch::default();
    if let Ok(Some(summary)) = parse_http(payload, scrub, &mut scratch) {
        let http = serde_json::to_string(&summary.http(&scratch)).expect("http serializes");
        let _: Value = serde_json::from_str(&http).expect("http JSON parses back");
        if let Some(url) = summary.url(&scratch) {
            let json = serde_json::to_string(&url).expect("url serializes");
            let value: Value = serde_json::from_str(&json).expect("url JSON parses back");
            if let Some(original) = value.get("original").and_then(Value::as_str) {
                assert!(!original.chars().any(char::is_control), "{original:?}");
            }
        }
        if let Some(agent) = summary.user_agent(&scratch) {
            let json = serde_json::to_string(&agent).expect("user_agent serializes");
            let _: Value = serde_json::from_str(&json).expect("user_agent JSON parses back");
        }
    }
});
