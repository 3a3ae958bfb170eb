//! `setup` against the real engines: idempotent, and on the secured node it writes a sensor
//! API key (mode 0600) that can append documents and nothing else.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{admin_command, json_out, show, unique_namespace, Engine};

fn setup_args<'a>(namespace: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "setup",
        "--json",
        "--namespace",
        namespace,
        "--template-scope",
        namespace,
        "--no-lifecycle",
    ];
    args.extend_from_slice(extra);
    args
}

async fn setup_is_idempotent(engine: Engine) {
    let service = common::service(engine);
    let namespace = unique_namespace("setup");
    let first = json_out(
        &admin_command(&service.url)
            .args(setup_args(&namespace, &["--no-roles"]))
            .output()
            .unwrap(),
    );
    assert_eq!(first["changed"], true, "{first}");
    let second = json_out(
        &admin_command(&service.url)
            .args(setup_args(&namespace, &["--no-roles"]))
            .output()
            .unwrap(),
    );
    assert_eq!(second["changed"], false, "{second}");
    for step in second["steps"].as_array().unwrap() {
        let outcome = step["outcome"].as_str().unwrap();
        assert!(
            outcome == "unchanged" || outcome.starts_with("skipped"),
            "{step}"
        );
    }
    // The data streams exist and status sees them.
    let status = json_out(
        &admin_command(&service.url)
            .args(["status", "--json", "--streams"])
            .arg(format!("logs-netsensor.*-{namespace}"))
            .output()
            .unwrap(),
    );
    assert_eq!(
        status["data_streams"].as_array().unwrap().len(),
        3,
        "{status}"
    );
    // The Kibana step without a saved-objects directory imports nothing and says so.
    let run = admin_command(&service.url)
        .args(setup_args(&namespace, &["--no-roles"]))
        .args([
            "--kibana-url",
            "http://127.0.0.1:9",
            "--kibana-objects",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", show(&run));
}

#[tokio::test]
async fn setup_is_idempotent_elasticsearch() {
    setup_is_idempotent(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn setup_is_idempotent_opensearch() {
    setup_is_idempotent(Engine::OpenSearch).await;
}

#[tokio::test]
async fn setup_writes_a_sensor_api_key_elasticsearch() {
    let service = common::service(Engine::ElasticsearchSecure);
    let namespace = unique_namespace("key");
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, service.password.as_deref().unwrap()).unwrap();
    let key_file = dir.path().join("sensor.key");
    let key_arg = key_file.to_str().unwrap().to_owned();
    let run = admin_command(&service.url)
        .arg("--ca-file")
        .arg(service.ca_file.as_ref().unwrap())
        .arg("--password-file")
        .arg(&password_file)
        .args(setup_args(&namespace, &["--sensor-api-key-out", &key_arg]))
        .output()
        .unwrap();
    let out = json_out(&run);
    assert!(out["sensor_api_key"]["id"].is_string(), "{out}");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(!String::from_utf8_lossy(&run.stdout).contains(key.trim()));

    // The key appends to the data stream...
    let mut config = netsensor_elastic::ClusterConfig::new(service.url.clone());
    config.ca_file = service.ca_file.clone();
    config.auth = netsensor_elastic::Auth::ApiKey(netsensor_elastic::Sensitive::new(key.trim()));
    let sensor = netsensor_elastic::Cluster::new(&config).unwrap();
    let stream = format!("logs-netsensor.flow-{namespace}");
    let doc = common::flow_doc(&namespace, common::JAN_1_2025, 0);
    let created = sensor
        .send(
            reqwest::Method::POST,
            &format!("/{stream}/_create/{}", doc["event"]["id"].as_str().unwrap()),
            Some(("application/json", doc.to_string().into_bytes())),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    // ... and cannot read it: the admin tool with the sensor's key gets exit 4.
    let run = admin_command(&service.url)
        .arg("--ca-file")
        .arg(service.ca_file.as_ref().unwrap())
        .arg("--api-key-file")
        .arg(&key_file)
        .args(["rollover", &stream])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(4), "{}", show(&run));
}
