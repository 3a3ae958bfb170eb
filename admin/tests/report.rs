//! `report` against the real engines: the analyst summary's figures equal what was indexed.

mod common;

use common::{Engine, Fixture, DAY, JAN_1_2025};
use serde_json::Value;

/// Sums `network.bytes` of the docs whose `pick` field equals `key`.
fn bytes_where(docs: &[Value], pick: impl Fn(&Value) -> &Value, key: &str) -> u64 {
    docs.iter()
        .filter(|d| pick(d).as_str() == Some(key))
        .map(|d| d["network"]["bytes"].as_u64().unwrap())
        .sum()
}

async fn report_sums_what_was_indexed(engine: Engine) {
    let fixture = Fixture::new(engine, "report").await;
    let docs = fixture.index_flows(JAN_1_2025, JAN_1_2025 + DAY, 60).await;

    let out = common::json_out(&fixture.admin(&[
        "--json",
        "report",
        "--kind",
        "flow",
        "--namespace",
        &fixture.namespace,
        "--requests-dir",
        common::requests_dir().to_str().unwrap(),
    ]));
    let flow = &out["flow"];
    let transport = &flow["transport"]["transport"]["buckets"];
    let tcp = transport
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["key"] == "tcp")
        .unwrap_or_else(|| panic!("no tcp bucket: {out}"));
    assert_eq!(
        tcp["bytes"]["value"].as_f64().unwrap() as u64,
        bytes_where(&docs, |d| &d["network"]["transport"], "tcp"),
        "{engine:?}: tcp bytes"
    );

    // Readable form: every summary of the kind, with figures.
    let text = fixture.admin(&[
        "report",
        "--kind",
        "flow",
        "--namespace",
        &fixture.namespace,
        "--requests-dir",
        common::requests_dir().to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for name in common::flow_request_names() {
        assert!(
            text.contains(&format!("-- {} (60 documents)", name.replace('-', " "))),
            "{engine:?}: no {name} section in:\n{text}"
        );
    }
    assert!(text.contains("https"), "{text}");

    // A range before the data: empty sections, not an error.
    let empty = fixture.admin(&[
        "report",
        "--kind",
        "flow",
        "--namespace",
        &fixture.namespace,
        "--until",
        "2024-01-01T00:00:00Z",
        "--requests-dir",
        common::requests_dir().to_str().unwrap(),
    ]);
    let empty_text = common::show(&empty);
    assert!(empty.status.success(), "{empty_text}");
    assert!(empty_text.contains("(0 documents)"), "{empty_text}");
}

#[tokio::test]
async fn report_sums_what_was_indexed_elasticsearch() {
    report_sums_what_was_indexed(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn report_sums_what_was_indexed_opensearch() {
    report_sums_what_was_indexed(Engine::OpenSearch).await;
}
