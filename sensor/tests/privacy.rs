//! Privacy: with `privacy.pseudonymize`, no real address of the capture appears in any
//! record (DNS answers included), each address maps to one stable pseudonym of its own
//! family, MACs are dropped, geo lookups still use the real address, and the key never
//! shows in output or logs.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde_json::Value;

const KEY: &str = "pseudonym-key-for-the-privacy-test-0123456789";

/// Replays `pcap` with the given extra config lines; returns the records and stderr.
fn replay(dir: &std::path::Path, pcap: &str, extra: &str, kinds: &str) -> (Vec<Value>, String) {
    let key = dir.join("pseudonym.key");
    std::fs::write(&key, KEY).unwrap();
    let config = dir.join("sensor.yaml");
    let country = common::geo_dir().join("country.mmdb");
    assert!(
        country.exists(),
        "{} missing: run `make geo`",
        country.display()
    );
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: privacy }}\n\
             listeners: {{ metrics: null, query: null }}\n\
             enrichment: {{ geoip: {{ country_database: {} }} }}\n{extra}",
            country.display()
        ),
    )
    .unwrap();
    let out = common::netsensor()
        .args([
            "replay",
            "--no-progress",
            "--out",
            "-",
            "--records",
            kinds,
            "--config",
        ])
        .arg(&config)
        .arg(common::fixtures_dir().join(pcap))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (records, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn addresses(record: &Value) -> Vec<(IpAddr, IpAddr)> {
    match (
        record["source"]["ip"].as_str(),
        record["destination"]["ip"].as_str(),
    ) {
        (Some(s), Some(d)) => vec![(s.parse().unwrap(), d.parse().unwrap())],
        _ => Vec::new(),
    }
}

#[test]
fn pseudonymised_records_carry_no_real_address() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = "http-dns-wikipedia-mixed.pcap";
    let (plain, _) = replay(dir.path(), pcap, "", "packet");
    let pseudonymize = "privacy: { pseudonymize: { key: { file: pseudonym.key } } }\n";
    let (hidden, stderr) = replay(dir.path(), pcap, pseudonymize, "packet");
    assert_eq!(plain.len(), hidden.len());

    let real: HashSet<IpAddr> = plain
        .iter()
        .flat_map(addresses)
        .flat_map(|(s, d)| [s, d])
        .collect();
    assert!(real.len() > 10, "the capture has many addresses");
    let mut mapping: HashMap<IpAddr, IpAddr> = HashMap::new();
    for (before, after) in plain.iter().zip(&hidden) {
        let text = after.to_string();
        for ip in &real {
            assert!(
                !text.contains(&format!("\"{ip}\"")),
                "real address {ip} leaked: {text}"
            );
        }
        for ((s0, d0), (s1, d1)) in addresses(before).into_iter().zip(addresses(after)) {
            for (real_ip, pseudonym) in [(s0, s1), (d0, d1)] {
                assert_eq!(real_ip.is_ipv4(), pseudonym.is_ipv4(), "family kept");
                let seen = mapping.entry(real_ip).or_insert(pseudonym);
                assert_eq!(*seen, pseudonym, "one stable pseudonym per address");
            }
        }
        assert!(after["source"]["mac"].is_null() && after["destination"]["mac"].is_null());
        // A resolved address gets the same pseudonym as in the records of connections.
        if let Some(resolved) = before["dns"]["resolved_ip"].as_array() {
            let hidden: Vec<IpAddr> = after["dns"]["resolved_ip"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ip| ip.as_str().unwrap().parse().unwrap())
                .collect();
            for (real_ip, pseudonym) in resolved.iter().zip(hidden) {
                let real_ip: IpAddr = real_ip.as_str().unwrap().parse().unwrap();
                let seen = mapping.entry(real_ip).or_insert(pseudonym);
                assert_eq!(*seen, pseudonym, "resolved addresses share the mapping");
            }
            assert!(
                after["dns"]["answers"].is_null(),
                "answer texts are dropped"
            );
        }
        // Geo comes from the real address, before it is replaced.
        assert_eq!(
            before["source"]["geo"]["country_iso_code"],
            after["source"]["geo"]["country_iso_code"]
        );
    }
    let distinct: HashSet<&IpAddr> = mapping.values().collect();
    assert_eq!(
        distinct.len(),
        mapping.len(),
        "no two addresses share a pseudonym here"
    );
    assert!(!stderr.contains(KEY));
}

#[test]
fn pseudonymised_flows_keep_countries_and_hide_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = "mixed-large-many-protocols.pcap";
    let (plain, _) = replay(dir.path(), pcap, "", "flow");
    let pseudonymize = "privacy: { pseudonymize: { key: { file: pseudonym.key } } }\n";
    let (hidden, _) = replay(dir.path(), pcap, pseudonymize, "flow");
    assert_eq!(plain.len(), hidden.len());
    let real: HashSet<String> = plain
        .iter()
        .flat_map(addresses)
        .flat_map(|(s, d)| [s.to_string(), d.to_string()])
        .collect();
    let countries = |records: &[Value]| -> Vec<String> {
        let mut all: Vec<String> = records
            .iter()
            .filter_map(|r| {
                r["destination"]["geo"]["country_iso_code"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        all.sort();
        all
    };
    assert!(!countries(&plain).is_empty());
    assert_eq!(countries(&plain), countries(&hidden));
    for record in &hidden {
        for (s, d) in addresses(record) {
            assert!(!real.contains(&s.to_string()) && !real.contains(&d.to_string()));
        }
    }
}
