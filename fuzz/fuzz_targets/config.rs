//! The configuration loader on arbitrary text. Checks: no panic; every error starts with
//! `FILE:LINE:COL: ` (the file it was given); an accepted configuration without secrets
//! prints an effective YAML that loads back to the same configuration.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use netsensor::config::{from_str, REDACTED};

/// A directory that does not exist, so relative secret files never resolve to real files.
const ORIGIN: &str = "/nonexistent-netsensor-fuzz/netsensor.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Secrets from absolute paths (`/dev/zero`, `/dev/stdin`) would make the loader read
    // forever or block: that is the operator's choice in a real config, not a parser bug.
    if text.contains("/dev/") || text.contains("/proc/") || text.contains("/sys/") {
        return;
    }
    let origin = Path::new(ORIGIN);
    match from_str(text, origin) {
        Ok(config) => {
            let effective = config.to_effective_yaml();
            if !effective.contains(REDACTED) {
                let again = from_str(&effective, origin)
                    .unwrap_or_else(|e| panic!("effective config reloads: {e}\n{effective}"));
                assert_eq!(again, config, "effective config round-trips\n{effective}");
            }
        }
        Err(error) => {
            let message = error.to_string();
            let rest = message
                .strip_prefix(ORIGIN)
                .and_then(|rest| rest.strip_prefix(':'))
                .unwrap_or_else(|| panic!("error names the file: {message}"));
            let mut parts = rest.splitn(3, ':');
            let line = parts.next().unwrap_or_default();
            let column = parts.next().unwrap_or_default();
            assert!(
                line.parse::<usize>().is_ok() && column.parse::<usize>().is_ok(),
                "error has LINE:COL: {message}"
            );
        }
    }
});
