//! `watch --once` against the real engines: over a limit, the oldest backing index is
//! archived, then deleted; the write index is kept; a pass under the limits does nothing.

mod common;

use common::{requests_dir, show, Engine, Fixture, DAY, JAN_1_2025};
use serde_json::{json, Value};

/// Runs one pass; returns the action log (one JSON object per line).
fn watch(f: &Fixture, archive_dir: &std::path::Path, limits: &[&str]) -> Vec<Value> {
    let requests = requests_dir();
    let mut args = vec![
        "watch",
        "--once",
        "--json",
        "--archive-dir",
        archive_dir.to_str().unwrap(),
        "--streams",
        &f.stream,
        "--requests-dir",
        requests.to_str().unwrap(),
    ];
    args.extend_from_slice(limits);
    let run = f.admin(&args);
    assert!(run.status.success(), "{}", show(&run));
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn actions(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Store sizes of the backing indices, after a flush and force merge so they hold still.
async fn sizes(f: &Fixture) -> Vec<(String, u64)> {
    for op in ["_flush", "_forcemerge?max_num_segments=1"] {
        let answer = f
            .cluster
            .send(reqwest::Method::POST, &format!("/{}/{op}", f.stream), None)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let out = common::json_out(&f.admin(&["status", "--json", "--streams", &f.stream]));
    out["data_streams"][0]["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["store_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn watch_frees_oldest_index(engine: Engine) {
    let f = Fixture::new(engine, "watch").await;
    let t0 = JAN_1_2025;
    f.index_flows(t0, t0 + DAY, 40).await;
    f.roll_over().await;
    f.index_flows(t0 + DAY, t0 + 2 * DAY, 30).await;
    f.roll_over().await;
    f.index_flows(t0 + 2 * DAY, t0 + 3 * DAY, 20).await;
    let backing = f.backing_indices().await;
    let sizes = sizes(&f).await;
    let total: u64 = sizes.iter().map(|(_, s)| s).sum();
    // Over the limit by half the oldest index: deleting the oldest is enough.
    let limit = total - sizes[0].1 / 2;
    let dir = tempfile::tempdir().unwrap();

    // The disk limit is set out of reach: the machine's own disk use (other work fills
    // it) must not decide what this stream-size test sees.
    let log = watch(
        &f,
        dir.path(),
        &[
            "--max-stream-bytes",
            &limit.to_string(),
            "--max-disk-percent",
            "100",
        ],
    );
    assert_eq!(
        actions(&log),
        vec!["archive", "delete_index", "done"],
        "{log:?}"
    );
    assert_eq!(log[0]["from"], "2025-01-01T00:00:00.000000000Z");
    assert_eq!(log[0]["documents"], 40);
    assert_eq!(log[1]["index"], backing[0].as_str());
    assert_eq!(log[1]["docs"], 40);
    let manifest_path = std::path::Path::new(log[0]["dir"].as_str().unwrap()).join("DONE.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["documents"], 40);
    assert_eq!(f.backing_indices().await, backing[1..].to_vec());
    assert_eq!(f.count_all(&f.stream).await, 50);
    assert_eq!(f.count(&f.stream, t0, t0 + DAY).await, 0);

    // Under the limit now: the next pass does nothing.
    let log = watch(
        &f,
        dir.path(),
        &[
            "--max-stream-bytes",
            &limit.to_string(),
            "--max-disk-percent",
            "100",
        ],
    );
    assert_eq!(actions(&log), vec!["done"], "{log:?}");
    assert_eq!(log[0]["freed_indices"], 0);

    // Disk "full" (any use above 1 %): everything goes, oldest first — the write index is
    // rolled over first — until only the new, empty write index is left.
    let log = watch(&f, dir.path(), &["--max-disk-percent", "1"]);
    assert_eq!(
        actions(&log),
        vec![
            "archive",
            "delete_index",
            "rollover",
            "archive",
            "delete_index",
            "done"
        ],
        "{log:?}"
    );
    assert_eq!(log[1]["index"], backing[1].as_str());
    assert_eq!(log[2]["old_index"], backing[2].as_str());
    assert_eq!(log[4]["index"], backing[2].as_str());
    let remaining = f.backing_indices().await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(log[2]["new_index"], remaining[0].as_str());
    assert_eq!(f.count_all(&f.stream).await, 0);
    assert_eq!(log[5]["exhausted_streams"], json!([f.stream]));
    // Three ranges archived in all, holding all 90 documents.
    let mut documents = 0;
    for entry in std::fs::read_dir(dir.path().join(&f.stream)).unwrap() {
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(entry.unwrap().path().join("DONE.json")).unwrap(),
        )
        .unwrap();
        documents += manifest["documents"].as_u64().unwrap();
    }
    assert_eq!(documents, 90);
}

#[tokio::test]
async fn watch_frees_oldest_index_elasticsearch() {
    watch_frees_oldest_index(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn watch_frees_oldest_index_opensearch() {
    watch_frees_oldest_index(Engine::OpenSearch).await;
}
