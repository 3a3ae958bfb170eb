//! `setup::install` against the real engines started by dev/stack: templates installed
//! and winning over a stock `logs-*-*` template, mappings of fresh backing indices as the
//! field table says, strict mapping, idempotence, upgrades, and least privilege.

mod common;

use std::path::Path;

use common::records::record_json;
use common::{cluster, ensure, now_ns, unique_namespace};
use netsensor_elastic::capabilities::Capabilities;
use netsensor_elastic::setup::{self, install, Outcome, SetupOptions};
use netsensor_elastic::templates::{self, mapped_fields, RenderOptions, Scope};
use netsensor_elastic::{names, Auth, Cluster, ClusterConfig, Error, Sensitive};
use netsensor_schema::RecordKind;
use serde_json::{json, Value};

/// Options for a test: its own namespace, templates scoped to it.
fn options(namespace: &str) -> SetupOptions {
    SetupOptions {
        namespaces: vec![namespace.to_owned()],
        scope: Scope::Namespace(namespace.to_owned()),
        ..SetupOptions::default()
    }
}

/// A stand-in for the stock `logs-*-*` template (priority 100) of a full Elasticsearch,
/// which the test distribution lacks; ours must win over it.
async fn install_stand_in_logs_template(cluster: &Cluster) {
    let body = json!({
        "index_patterns": ["logs-*-*"],
        "data_stream": {},
        "priority": 100,
        "template": {"mappings": {"properties": {"@timestamp": {"type": "date"}}}},
        "_meta": {"description": "netsensor tests: stand-in for the stock logs template"},
    });
    if let Err(err) = cluster
        .put("/_index_template/netsensor-test-stand-in-logs", &body)
        .await
    {
        // A cluster with the real stock template refuses a second one at priority 100.
        assert!(err.to_string().contains("priority"), "{err}");
    }
}

async fn index(cluster: &Cluster, stream: &str, doc: &Value) -> Result<Value, Error> {
    let id = doc["event"]["id"].as_str().unwrap_or("x").to_owned();
    cluster
        .put(&format!("/{stream}/_create/{id}?refresh=true"), doc)
        .await
}

/// The backing indices of a data stream, oldest first (`_resolve/index` works on both).
async fn backing_indices(cluster: &Cluster, stream: &str) -> Vec<String> {
    let answer = cluster
        .get(&format!("/_resolve/index/{stream}?expand_wildcards=all"))
        .await
        .unwrap();
    let mut list: Vec<String> = answer["data_streams"][0]["backing_indices"]
        .as_array()
        .unwrap_or_else(|| panic!("{stream} is no data stream: {answer}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

/// The mapping of `path` (dotted) in `index`, or `Value::Null`.
async fn mapping_of(cluster: &Cluster, index: &str, path: &str) -> Value {
    let answer = cluster.get(&format!("/{index}/_mapping")).await.unwrap();
    let mut at = &answer[index]["mappings"];
    for part in path.split('.') {
        at = &at["properties"][part];
    }
    at.clone()
}

/// Removes what a test created, where the engine allows it (the Elasticsearch test
/// distribution has no `DELETE _data_stream`, and a template in use cannot be deleted).
async fn clean_up(cluster: &Cluster, namespace: &str) {
    let scope = Scope::Namespace(namespace.to_owned());
    for kind in RecordKind::ALL {
        let _ = cluster
            .delete(&format!(
                "/_data_stream/{}",
                names::data_stream(kind, namespace)
            ))
            .await;
    }
    for kind in RecordKind::ALL {
        let _ = cluster
            .delete(&format!("/_index_template/{}", scope.index_template(kind)))
            .await;
    }
    for kind in RecordKind::ALL {
        let _ = cluster
            .delete(&format!(
                "/_component_template/{}",
                scope.mappings_component(kind)
            ))
            .await;
    }
    let _ = cluster
        .delete(&format!(
            "/_component_template/{}",
            scope.settings_component()
        ))
        .await;
}

async fn templates_and_mappings(engine: &str) {
    let service = ensure(engine);
    let cluster = cluster(&service);
    install_stand_in_logs_template(&cluster).await;
    let namespace = unique_namespace();
    let report = install(&cluster, &options(&namespace)).await.unwrap();
    let caps = report.capabilities;
    println!("{report}");
    for kind in RecordKind::ALL {
        let stream = names::data_stream(kind, &namespace);
        assert_eq!(
            report.outcome(&format!("data stream {stream}")),
            Some(&Outcome::Created),
            "{report}"
        );
        let doc = record_json(kind, now_ns(), fastrand::u128(..));
        index(&cluster, &stream, &doc).await.unwrap();
        let backing = backing_indices(&cluster, &stream).await;
        assert_eq!(backing.len(), 1, "{backing:?}");
        let mapping = cluster
            .get(&format!("/{}/_mapping", backing[0]))
            .await
            .unwrap();
        assert_eq!(mapping[&backing[0]]["mappings"]["dynamic"], "strict");
        for (name, ty) in mapped_fields(kind, &caps) {
            let field = mapping_of(&cluster, &backing[0], name).await;
            assert_eq!(
                field["type"],
                ty.name(),
                "{engine} {stream}: {name}: {field}"
            );
        }
        // The pipeline stamped the record, where the engine has pipelines.
        let query = json!({"query": {"term": {"event.id": doc["event"]["id"]}}});
        let hits = cluster
            .post(&format!("/{stream}/_search"), &query)
            .await
            .unwrap();
        let source = &hits["hits"]["hits"][0]["_source"];
        assert_eq!(source["network"], doc["network"], "{hits}");
        assert_eq!(
            source["event"]["ingested"].is_string(),
            caps.ingest_pipelines,
            "{source}"
        );

        // Strict: a field that is not in the table is refused, loudly.
        let mut typo = doc.clone();
        typo["event"]["id"] = json!("typo");
        typo["netsensor"]["servcie"] = json!("https");
        let err = index(&cluster, &stream, &typo).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(err.to_string().contains("strict"), "{err}");

        // Every summary request of this kind runs and sums what was indexed.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../elasticsearch/requests.d");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with(&format!("{}-", kind.name())) {
                continue;
            }
            let body: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let answer = cluster
                .post(&format!("/{stream}/_search"), &body)
                .await
                .unwrap();
            assert_eq!(answer["hits"]["total"]["value"], 1, "{name}: {answer}");
            let aggs = answer["aggregations"].as_object().unwrap();
            assert!(!aggs.is_empty(), "{name}");
            if name == "packet-transport.json" {
                let bucket = &answer["aggregations"]["transport"]["buckets"][0];
                assert_eq!(bucket["key"], "tcp");
                assert_eq!(bucket["bytes"]["value"], 60.0);
            }
        }
    }

    // Idempotent: a second run changes nothing.
    let again = install(&cluster, &options(&namespace)).await.unwrap();
    assert!(!again.changed(), "second run changed things:\n{again}");
    assert!(again
        .steps
        .iter()
        .all(|s| matches!(s.outcome, Outcome::Unchanged | Outcome::Skipped(_))));
    clean_up(&cluster, &namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_win_and_mappings_match_the_field_table_elasticsearch() {
    templates_and_mappings("elasticsearch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_win_and_mappings_match_the_field_table_opensearch() {
    templates_and_mappings("opensearch").await;
}

/// Installs the previous version's templates (one field fewer), indexes, upgrades, and
/// indexes a record with the new field into the rolled-over data stream.
async fn upgrade(engine: &str) {
    let service = ensure(engine);
    let cluster = cluster(&service);
    let namespace = unique_namespace();
    let scope = Scope::Namespace(namespace.clone());
    let detected = netsensor_elastic::Engine::detect(&cluster).await.unwrap();
    let caps = Capabilities::probe(&cluster, &detected).await.unwrap();
    let rendered = templates::render(
        &caps,
        &RenderOptions::for_cluster(&caps, scope.clone(), true),
    );
    let old_meta = json!({"managed_by": "netsensor", "version": templates::SCHEMA_VERSION - 1, "fingerprint": "old"});
    if let Some(pipeline) = &rendered.pipeline {
        cluster
            .put(
                &format!("/_ingest/pipeline/{}", templates::PIPELINE),
                pipeline,
            )
            .await
            .unwrap();
    }
    for (name, body) in &rendered.components {
        let mut old = body.clone();
        old["_meta"] = old_meta.clone();
        if name == &scope.mappings_component(RecordKind::Packet) {
            let netsensor =
                &mut old["template"]["mappings"]["properties"]["netsensor"]["properties"];
            netsensor.as_object_mut().unwrap().remove("os");
        }
        cluster
            .put(&format!("/_component_template/{name}"), &old)
            .await
            .unwrap();
    }
    for (_, name, body) in &rendered.index_templates {
        let mut old = body.clone();
        old["_meta"] = old_meta.clone();
        cluster
            .put(&format!("/_index_template/{name}"), &old)
            .await
            .unwrap();
    }

    let stream = names::data_stream(RecordKind::Packet, &namespace);
    let mut without_os = record_json(RecordKind::Packet, now_ns(), fastrand::u128(..));
    without_os["netsensor"]
        .as_object_mut()
        .unwrap()
        .remove("os");
    index(&cluster, &stream, &without_os).await.unwrap();
    let mut with_os = record_json(RecordKind::Packet, now_ns(), fastrand::u128(..));
    let refused = index(&cluster, &stream, &with_os).await.unwrap_err();
    assert_eq!(
        refused.status(),
        Some(400),
        "the old mapping lacks netsensor.os"
    );
    let before = backing_indices(&cluster, &stream).await;
    assert!(mapping_of(&cluster, &before[0], "netsensor.os.name")
        .await
        .is_null());

    let report = install(&cluster, &options(&namespace)).await.unwrap();
    println!("{report}");
    let packet_template = format!(
        "index template {}",
        scope.index_template(RecordKind::Packet)
    );
    assert_eq!(
        report.outcome(&packet_template),
        Some(&Outcome::Updated),
        "{report}"
    );
    assert_eq!(
        report.outcome(&format!("data stream {stream}")),
        Some(&Outcome::RolledOver),
        "{report}"
    );
    with_os["event"]["id"] = json!("after-upgrade");
    index(&cluster, &stream, &with_os).await.unwrap();
    let after = backing_indices(&cluster, &stream).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let field = mapping_of(&cluster, &after[1], "netsensor.os.name").await;
    assert_eq!(field["type"], "keyword", "{field}");
    let count = cluster.get(&format!("/{stream}/_count")).await.unwrap();
    assert_eq!(count["count"], 2);

    let again = install(&cluster, &options(&namespace)).await.unwrap();
    assert!(!again.changed(), "{again}");
    clean_up(&cluster, &namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_older_templates_rolls_over_elasticsearch() {
    upgrade("elasticsearch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_older_templates_rolls_over_opensearch() {
    upgrade("opensearch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_installed_templates_are_left_alone_opensearch() {
    let service = ensure("opensearch");
    let cluster = cluster(&service);
    let namespace = unique_namespace();
    let scope = Scope::Namespace(namespace.clone());
    install(&cluster, &options(&namespace)).await.unwrap();
    let name = scope.index_template(RecordKind::Flow);
    let mut body = cluster
        .get(&format!("/_index_template/{name}"))
        .await
        .unwrap()["index_templates"][0]["index_template"]
        .clone();
    body["_meta"]["version"] = json!(templates::SCHEMA_VERSION + 1);
    body["_meta"]["fingerprint"] = json!("future");
    cluster
        .put(&format!("/_index_template/{name}"), &body)
        .await
        .unwrap();
    let report = install(&cluster, &options(&namespace)).await.unwrap();
    assert!(
        matches!(
            report.outcome(&format!("index template {name}")),
            Some(Outcome::Skipped(_))
        ),
        "{report}"
    );
    let kept = cluster
        .get(&format!("/_index_template/{name}"))
        .await
        .unwrap();
    assert_eq!(
        kept["index_templates"][0]["index_template"]["_meta"]["fingerprint"],
        "future"
    );
    clean_up(&cluster, &namespace).await;
}

fn secure_client(url: &str, ca_file: Option<&Path>, auth: Auth) -> Cluster {
    let mut config = ClusterConfig::new(url);
    config.ca_file = ca_file.map(Path::to_path_buf);
    config.auth = auth;
    Cluster::new(&config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_api_key_can_create_but_not_read_or_delete_secure_elasticsearch() {
    let service = ensure("elasticsearch-secure");
    let cluster = cluster(&service);
    let namespace = unique_namespace();
    let mut options = options(&namespace);
    options.sensor_api_key = Some(format!("netsensor-test-{namespace}"));
    let report = install(&cluster, &options).await.unwrap();
    println!("{report}");
    assert!(report.capabilities.security);
    for role in [setup::SENSOR_ROLE, setup::ADMIN_ROLE] {
        assert!(
            matches!(
                report.outcome(&format!("role {role}")),
                Some(Outcome::Created | Outcome::Unchanged | Outcome::Updated)
            ),
            "{report}"
        );
    }
    let key = report.sensor_api_key.expect("an API key");
    assert!(!format!("{key:?}").contains(key.encoded.expose()));
    let sensor = secure_client(
        &service.url,
        service.ca_file.as_deref(),
        Auth::ApiKey(key.encoded.clone()),
    );

    let stream = names::data_stream(RecordKind::Flow, &namespace);
    let doc = record_json(RecordKind::Flow, now_ns(), fastrand::u128(..));
    let id = doc["event"]["id"].as_str().unwrap().to_owned();
    index(&sensor, &stream, &doc)
        .await
        .expect("the sensor key can create documents");
    // A second data stream is created on first write (auto_configure).
    let other = names::data_stream(RecordKind::Packet, &format!("{namespace}x"));
    let _ = other; // outside the scoped template; not exercised here

    let backing = backing_indices(&cluster, &stream).await;
    let denied = [
        sensor.get(&format!("/{stream}/_search")).await.map(|_| ()),
        sensor
            .get(&format!("/{}/_doc/{id}", backing[0]))
            .await
            .map(|_| ()),
        sensor
            .delete(&format!("/{}/_doc/{id}", backing[0]))
            .await
            .map(|_| ()),
        sensor.delete(&format!("/{}", backing[0])).await.map(|_| ()),
        sensor
            .put(
                &format!(
                    "/_index_template/{}",
                    Scope::Namespace(namespace.clone()).index_template(RecordKind::Flow)
                ),
                &json!({"index_patterns": ["netsensor-test-denied-*"]}),
            )
            .await
            .map(|_| ()),
    ];
    for result in denied {
        match result {
            Err(Error::Auth { status: 403, .. }) => {}
            other => panic!("expected 403, got {other:?}"),
        }
    }
    let count = cluster.get(&format!("/{stream}/_count")).await.unwrap();
    assert_eq!(count["count"], 1, "the document is still there");

    // An admin-role user can run setup (without managing roles).
    let password = format!("pw-{}", unique_namespace());
    cluster
        .put(
            &format!("/_security/user/netsensor-test-admin-{namespace}"),
            &json!({"password": password, "roles": [setup::ADMIN_ROLE]}),
        )
        .await
        .unwrap();
    let admin = secure_client(
        &service.url,
        service.ca_file.as_deref(),
        Auth::Basic {
            username: format!("netsensor-test-admin-{namespace}"),
            password: Sensitive::new(password),
        },
    );
    let mut admin_options = self::options(&namespace);
    admin_options.roles = false;
    let as_admin = install(&admin, &admin_options)
        .await
        .expect("the admin role suffices for setup");
    assert!(!as_admin.changed(), "{as_admin}");
    let key = setup::create_sensor_api_key(&admin, "netsensor-test-by-admin")
        .await
        .expect("admin creates sensor keys");
    assert!(!key.id.is_empty());
    let _ = cluster
        .delete(&format!("/_security/user/netsensor-test-admin-{namespace}"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_auth_and_untrusted_ca_is_tls_secure_elasticsearch() {
    let service = ensure("elasticsearch-secure");
    let wrong = secure_client(
        &service.url,
        service.ca_file.as_deref(),
        Auth::Basic {
            username: "elastic".into(),
            password: Sensitive::new("wrong-password"),
        },
    );
    let err = install(&wrong, &SetupOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::Auth { status: 401, .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong-password"));

    // A CA of our own that did not sign the cluster's certificate.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other-ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=not the cluster CA",
        ])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let untrusted = secure_client(&service.url, Some(&ca), Auth::None);
    let err = install(&untrusted, &SetupOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err}");
    assert!(!err.is_retryable());
}
