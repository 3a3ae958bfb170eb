//! `status` and `rollover` against the real engines.

mod common;

use common::{json_out, show, Engine, Fixture, DAY, JAN_1_2025};

/// Three backing indices with known documents; `status --json` reports each with its
/// generation, documents and the write index mark; the table names them too.
async fn status_reports_backing_indices(engine: Engine) {
    let f = Fixture::new(engine, "status").await;
    f.index_flows(JAN_1_2025, JAN_1_2025 + DAY, 10).await;
    f.roll_over().await;
    f.index_flows(JAN_1_2025 + DAY, JAN_1_2025 + 2 * DAY, 7)
        .await;
    f.roll_over().await;
    f.index_flows(JAN_1_2025 + 2 * DAY, JAN_1_2025 + 3 * DAY, 5)
        .await;
    let backing = f.backing_indices().await;
    assert_eq!(backing.len(), 3);

    let out = json_out(&f.admin(&["status", "--json", "--streams", &f.stream]));
    assert_eq!(out["engine"]["flavor"], engine_flavor(engine));
    let streams = out["data_streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{out}");
    let s = &streams[0];
    assert_eq!(s["name"], f.stream.as_str());
    assert_eq!(s["kind"], "flow");
    assert_eq!(s["docs"], 22);
    assert_eq!(s["write_index"], backing[2].as_str());
    let indices = s["indices"].as_array().unwrap();
    let docs: Vec<u64> = indices
        .iter()
        .map(|i| i["docs"].as_u64().unwrap())
        .collect();
    assert_eq!(docs, vec![10, 7, 5]);
    let gens: Vec<u64> = indices
        .iter()
        .map(|i| i["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(gens, vec![1, 2, 3]);
    let writes: Vec<bool> = indices
        .iter()
        .map(|i| i["write"].as_bool().unwrap())
        .collect();
    assert_eq!(writes, vec![false, false, true]);
    for i in indices {
        assert!(i["store_bytes"].as_u64().unwrap() > 0, "{i}");
        // Shard counts as the index's own settings say.
        let name = i["name"].as_str().unwrap();
        let settings = f
            .cluster
            .get(&format!("/{name}/_settings?flat_settings=true"))
            .await
            .unwrap();
        let setting = |key: &str| -> u64 {
            settings[name]["settings"][key]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (primaries, replicas) = (
            setting("index.number_of_shards"),
            setting("index.number_of_replicas"),
        );
        assert_eq!(i["primaries"], primaries, "{i}");
        assert_eq!(i["replicas"], replicas, "{i}");
        assert_eq!(i["shards_total"], primaries * (1 + replicas), "{i}");
        // One node: the primaries start, replicas cannot.
        assert_eq!(i["shards_started"], primaries, "{i}");
        assert!(i["age_seconds"].as_i64().unwrap() < 3600, "{i}");
    }
    let store: u64 = indices
        .iter()
        .map(|i| i["store_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(s["store_bytes"].as_u64().unwrap(), store);
    let nodes = out["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty());
    for n in nodes {
        let (used, free, total) = (
            n["disk_used_bytes"].as_u64().unwrap(),
            n["disk_free_bytes"].as_u64().unwrap(),
            n["disk_total_bytes"].as_u64().unwrap(),
        );
        assert!(total > 0 && used <= total && free <= total, "{n}");
    }

    let text = f.admin(&["status", "--streams", &f.stream]);
    assert!(text.status.success(), "{}", show(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(&f.stream), "{stdout}");
    assert!(
        stdout.contains(&format!("{} (write)", backing[2])),
        "{stdout}"
    );
    assert!(stdout.contains("DISK USED"), "{stdout}");
}

fn engine_flavor(engine: Engine) -> &'static str {
    match engine {
        Engine::OpenSearch => "opensearch",
        _ => "elasticsearch",
    }
}

/// The decision follows the write index's figures; a dry run changes nothing; a real run
/// makes a new write index.
async fn rollover_decides_from_figures(engine: Engine) {
    let f = Fixture::new(engine, "rollover").await;
    f.index_flows(JAN_1_2025, JAN_1_2025 + DAY, 12).await;
    let before = f.backing_indices().await;
    assert_eq!(before.len(), 1);

    // 12 documents < 13: no condition holds.
    let out = json_out(&f.admin(&["rollover", &f.stream, "--max-docs", "13", "--json"]));
    let r = &out["rollovers"][0];
    assert_eq!(r["roll_over"], false, "{out}");
    assert_eq!(r["docs"], 12);
    assert_eq!(r["write_index"], before[0].as_str());

    // 12 >= 12, but a dry run.
    let out = json_out(&f.admin(&[
        "rollover",
        &f.stream,
        "--max-docs",
        "12",
        "--max-age",
        "30d",
        "--dry-run",
        "--json",
    ]));
    let r = &out["rollovers"][0];
    assert_eq!(r["roll_over"], true, "{out}");
    assert_eq!(r["rolled_over"], false, "{out}");
    assert!(
        r["reasons"][0].as_str().unwrap().contains("docs 12 >= 12"),
        "{out}"
    );
    assert_eq!(f.backing_indices().await, before);

    // Text output of the real run names the new index.
    let run = f.admin(&["rollover", &f.stream, "--max-primary-shard-size", "1b"]);
    assert!(run.status.success(), "{}", show(&run));
    let after = f.backing_indices().await;
    assert_eq!(after.len(), 2);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!("rolled over to {}", after[1])),
        "{stdout}"
    );
    assert!(stdout.contains("primary shard"), "{stdout}");

    // The new write index is empty: conditions never roll it over.
    let out = json_out(&f.admin(&["rollover", &f.stream, "--max-docs", "0", "--json"]));
    assert_eq!(out["rollovers"][0]["roll_over"], false, "{out}");
    assert_eq!(f.backing_indices().await.len(), 2);

    // A data stream that does not exist: exit code 6.
    let missing = format!("logs-netsensor.flow-{}x", f.namespace);
    let run = f.admin(&["rollover", &missing]);
    assert_eq!(run.status.code(), Some(6), "{}", show(&run));
}

#[tokio::test]
async fn status_reports_backing_indices_elasticsearch() {
    status_reports_backing_indices(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn status_reports_backing_indices_opensearch() {
    status_reports_backing_indices(Engine::OpenSearch).await;
}

#[tokio::test]
async fn rollover_decides_from_figures_elasticsearch() {
    rollover_decides_from_figures(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn rollover_decides_from_figures_opensearch() {
    rollover_decides_from_figures(Engine::OpenSearch).await;
}
