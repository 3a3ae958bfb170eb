//! Every panel of the shipped dashboards, proven against real data: the bundled captures
//! (dev/fixtures/pcaps) are replayed by the sensor into a namespace of this test on the
//! real engine, then the request Kibana would send for each visualization and control is
//! built from its saved definition (kibana_common) and run. A panel that would show
//! nothing fails the test.
//!
//! Lens panels whose aggregation lives in a module the Elasticsearch test distribution
//! lacks (`moving_fn`, Painless) are proven on OpenSearch only; docs/dashboards.md lists
//! them. The OpenSearch Dashboards variant's classic visualizations are proven on both.

mod common;
mod kibana_common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::{Engine, Fixture};
use kibana_common::{
    classic_proof, control_proof, controls, data_views, kibana_objects, lens_needs_painless,
    lens_proof, osd_objects, repo, Proof, Ranges,
};
use serde_json::{json, Value};

/// The sensor binary, built beside this test by `cargo test --workspace`
/// (target/<profile>/deps/<test> → target/<profile>/netsensor).
fn sensor_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join("netsensor");
    assert!(
        path.is_file(),
        "no sensor binary at {}: build the workspace (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// The GeoIP databases `make geo` installs ($NETSENSOR_GEO_DIR, else .cache/geo): the
/// geography panels need countries.
fn geo_dir() -> PathBuf {
    let dir = std::env::var_os("NETSENSOR_GEO_DIR")
        .map_or_else(|| repo().join(".cache/geo"), PathBuf::from);
    assert!(
        dir.join("country.mmdb").is_file(),
        "no GeoIP databases in {}: run `make geo` (dev/geo/install.sh)",
        dir.display()
    );
    dir
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("dev/fixtures/pcaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

/// Replays every fixture capture into the fixture's namespace: packets, flows and rollups.
fn replay(fixture: &Fixture, dir: &std::path::Path) {
    let geo = geo_dir();
    let config = dir.join("netsensor.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: kibana-proof, data_directory: {data} }}\n\
             records: [packet, flow, rollup]\n\
             enrichment:\n  geoip:\n    country_database: {geo}/country.mmdb\n    \
             asn_database: {geo}/asn.mmdb\n\
             listeners: {{ metrics: null, query: null }}\n\
             outputs:\n  elasticsearch:\n    enabled: true\n    urls: [\"{url}\"]\n    \
             namespace: {ns}\n    batch: {{ max_wait_ms: 100 }}\n",
            data = dir.join("data").display(),
            geo = geo.display(),
            url = fixture.url,
            ns = fixture.namespace,
        ),
    )
    .unwrap();
    let out = Command::new(sensor_binary())
        .env_remove("NETSENSOR_CONFIG")
        .args(["replay", "--no-progress", "--config"])
        .arg(&config)
        .args(fixtures())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The data stream a data view title covers, narrowed to this test's namespace.
fn target(pattern: &str, namespace: &str) -> String {
    let base = pattern
        .strip_suffix('*')
        .unwrap_or_else(|| panic!("data view {pattern} does not end in *"));
    format!("{base}{namespace}")
}

async fn search(fixture: &Fixture, index: &str, body: &Value) -> Value {
    let answer = fixture
        .cluster
        .send(
            reqwest::Method::POST,
            &format!("/{index}/_search"),
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{index}: {body}\n-> {}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

/// The time range of all records of the namespace (what an analyst picks to see them all).
async fn time_range(fixture: &Fixture) -> Ranges {
    let all = format!("logs-netsensor.*-{}", fixture.namespace);
    let answer = search(
        fixture,
        &all,
        &json!({"size": 0, "aggs": {"min": {"min": {"field": "@timestamp"}},
                                    "max": {"max": {"field": "@timestamp"}}}}),
    )
    .await;
    let aggs = &answer["aggregations"];
    let ms = |k: &str| aggs[k]["value"].as_f64().unwrap();
    Ranges {
        from: aggs["min"]["value_as_string"].as_str().unwrap().to_owned(),
        to: aggs["max"]["value_as_string"].as_str().unwrap().to_owned(),
        span_ms: (ms("max") - ms("min")).max(1.0) as u64,
        fields: HashMap::new(),
    }
}

/// Runs one panel's request; returns its innermost bucket count or the reason it is empty.
async fn prove(fixture: &Fixture, proof: &Proof, base: &Ranges) -> Result<usize, String> {
    let index = target(&proof.pattern, &fixture.namespace);
    let mut ranges = base.clone();
    for field in &proof.needs_range {
        let answer = search(
            fixture,
            &index,
            &json!({"size": 0, "aggs": {"min": {"min": {"field": field}},
                                        "max": {"max": {"field": field}}}}),
        )
        .await;
        let a = &answer["aggregations"];
        let (Some(min), Some(max)) = (a["min"]["value"].as_f64(), a["max"]["value"].as_f64())
        else {
            return Err(format!("{}: {field} has no values", proof.title));
        };
        ranges.fields.insert(field.clone(), (min, max));
    }
    let answer = search(fixture, &index, &proof.body(&ranges)).await;
    proof.check(&answer)
}

/// Replays the captures, then proves every panel and control; `painless` says whether the
/// engine runs `moving_fn`.
async fn every_panel_shows_data(engine: Engine, painless: bool) {
    let fixture = Fixture::new(engine, "kibana").await;
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    replay(&fixture, dir.path());
    for kind in ["packet", "flow", "rollup"] {
        let stream = format!("logs-netsensor.{kind}-{}", fixture.namespace);
        assert!(
            fixture.count_all(&stream).await > 0,
            "{engine:?}: {stream} is empty"
        );
    }
    let replayed = started.elapsed();
    let ranges = time_range(&fixture).await;

    let objects = kibana_objects();
    let views = data_views(&objects);
    let mut failures = Vec::new();
    let mut proven = Vec::new();
    let mut skipped = Vec::new();
    for o in objects.iter().filter(|o| o.kind() == "lens") {
        if lens_needs_painless(&o.object) && !painless {
            skipped.push(o.title().to_owned());
            continue;
        }
        let proof = lens_proof(o, &views);
        match prove(&fixture, &proof, &ranges).await {
            Ok(n) => proven.push(format!("{} ({n})", proof.title)),
            Err(reason) => failures.push(reason),
        }
    }
    for o in objects.iter().filter(|o| o.kind() == "dashboard") {
        for control in controls(o) {
            let proof = control_proof(&control, &views);
            if let Err(reason) = prove(&fixture, &proof, &ranges).await {
                failures.push(reason);
            }
        }
    }
    let osd = osd_objects();
    let osd_views = data_views(&osd);
    for o in osd.iter().filter(|o| o.kind() == "visualization") {
        let proof = classic_proof(o, &osd_views);
        match prove(&fixture, &proof, &ranges).await {
            Ok(n) => proven.push(format!("OSD {} ({n})", proof.title)),
            Err(reason) => failures.push(format!("OSD {reason}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{engine:?}: panels that would show nothing: {failures:#?}"
    );

    // The check bites: the same table over a mapped field the captures never fill (no
    // city database is installed) would show nothing, and is refused.
    let mut blank = objects
        .iter()
        .find(|o| o.id() == "netsensor-lens-top-source-countries")
        .expect("the top source countries table")
        .clone();
    let text = blank
        .object
        .to_string()
        .replace("source.geo.country_name", "source.geo.city_name");
    blank.object = serde_json::from_str(&text).unwrap();
    let refused = prove(&fixture, &lens_proof(&blank, &views), &ranges).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("no buckets")),
        "{engine:?}: an empty panel passed: {refused:?}"
    );

    // Panels proven elsewhere are the ones docs/dashboards.md lists as such.
    let docs = std::fs::read_to_string(repo().join("docs/dashboards.md")).unwrap();
    for title in &skipped {
        assert!(
            docs.contains(&format!("**{title}**")) && docs.contains("proven on OpenSearch"),
            "{title} is proven on OpenSearch only but docs/dashboards.md does not say so"
        );
    }
    eprintln!(
        "{engine:?}: replay {:.1}s; proven {}: {proven:?}; proven elsewhere: {skipped:?}",
        replayed.as_secs_f64(),
        proven.len()
    );
}

#[tokio::test]
async fn every_panel_shows_data_elasticsearch() {
    every_panel_shows_data(Engine::Elasticsearch, false).await;
}

#[tokio::test]
async fn every_panel_shows_data_opensearch() {
    every_panel_shows_data(Engine::OpenSearch, true).await;
}
