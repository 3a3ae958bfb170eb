//! `delete-by-query` and the exit codes of the failure classes, against the real engines.

mod common;

use common::{admin_command, json_out, show, Engine, Fixture, DAY, JAN_1_2025};

/// Without --yes nothing is deleted and the exit code is the usage one (2).
async fn refuses_without_yes(engine: Engine) {
    let f = Fixture::new(engine, "dbqrefuse").await;
    f.index_flows(JAN_1_2025, JAN_1_2025 + DAY, 5).await;
    let run = f.admin(&["delete-by-query", "--stream", &f.stream, "--before", "now"]);
    assert_eq!(run.status.code(), Some(2), "{}", show(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(f.count_all(&f.stream).await, 5);
}

#[tokio::test]
async fn delete_by_query_refuses_without_yes_elasticsearch() {
    refuses_without_yes(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn delete_by_query_refuses_without_yes_opensearch() {
    refuses_without_yes(Engine::OpenSearch).await;
}

/// A time range and a query each delete exactly what they select, and the task result is
/// reported.
#[tokio::test]
async fn delete_by_query_deletes_the_selection_opensearch() {
    let f = Fixture::new(Engine::OpenSearch, "dbq").await;
    let t0 = JAN_1_2025;
    f.index_flows(t0, t0 + 3 * DAY, 30).await;
    let in_range = f.count(&f.stream, t0 + DAY, t0 + 2 * DAY).await;
    assert_eq!(in_range, 10);
    let out = json_out(&f.admin(&[
        "delete-by-query",
        "--stream",
        &f.stream,
        "--from",
        "2025-01-02T00:00:00Z",
        "--to",
        "2025-01-03T00:00:00Z",
        "--yes",
        "--json",
    ]));
    assert_eq!(out["deleted"], 10, "{out}");
    assert_eq!(out["total"], 10, "{out}");
    assert_eq!(out["failures"].as_array().unwrap().len(), 0);
    assert!(out["task"].as_str().unwrap().contains(':'), "{out}");
    assert_eq!(f.count(&f.stream, t0 + DAY, t0 + 2 * DAY).await, 0);
    assert_eq!(f.count_all(&f.stream).await, 20);

    // UDP flows are every third record (i % 3 == 1): 7 of the 20 left.
    let udp = f
        .cluster
        .post(
            &format!("/{}/_count", f.stream),
            &serde_json::json!({"query": {"term": {"network.transport": "udp"}}}),
        )
        .await
        .unwrap()["count"]
        .as_u64()
        .unwrap();
    let run = f.admin(&[
        "delete-by-query",
        "--stream",
        &f.stream,
        "--query",
        r#"{"term":{"network.transport":"udp"}}"#,
        "--yes",
    ]);
    assert!(run.status.success(), "{}", show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!("deleted {udp} of {udp} documents")),
        "{stdout}"
    );
    assert_eq!(f.count_all(&f.stream).await, 20 - udp);

    // --before.
    let out = json_out(&f.admin(&[
        "delete-by-query",
        "--stream",
        &f.stream,
        "--before",
        "2025-01-02T00:00:00Z",
        "--yes",
        "--json",
    ]));
    let before_left = f.count(&f.stream, t0, t0 + DAY).await;
    assert_eq!(before_left, 0);
    assert!(out["deleted"].as_u64().unwrap() > 0, "{out}");

    // A query that is not JSON is a usage error; nothing is deleted.
    let left = f.count_all(&f.stream).await;
    let run = f.admin(&[
        "delete-by-query",
        "--stream",
        &f.stream,
        "--query",
        "{",
        "--yes",
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", show(&run));
    assert_eq!(f.count_all(&f.stream).await, left);
}

/// The Elasticsearch test distribution has no `_delete_by_query`: a clear error, exit 8.
#[tokio::test]
async fn delete_by_query_unsupported_elasticsearch() {
    let f = Fixture::new(Engine::Elasticsearch, "dbqnone").await;
    f.index_flows(JAN_1_2025, JAN_1_2025 + DAY, 5).await;
    let run = f.admin(&[
        "delete-by-query",
        "--stream",
        &f.stream,
        "--before",
        "now",
        "--yes",
    ]);
    assert_eq!(run.status.code(), Some(8), "{}", show(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains("_delete_by_query"));
    assert_eq!(f.count_all(&f.stream).await, 5);
}

/// A missing data stream is exit 6 for every command that needs one.
async fn missing_stream(engine: Engine) {
    let f = Fixture::new(engine, "missing").await;
    let missing = format!("logs-netsensor.flow-{}absent", f.namespace);
    let dir = tempfile::tempdir().unwrap();
    let requests = common::requests_dir();
    for args in [
        vec![
            "delete-by-query",
            "--stream",
            &missing,
            "--before",
            "now",
            "--yes",
        ],
        vec![
            "archive",
            "--before",
            "now",
            "--out",
            dir.path().to_str().unwrap(),
            "--streams",
            &missing,
            "--requests-dir",
            requests.to_str().unwrap(),
        ],
        vec!["rollover", &missing],
    ] {
        let run = f.admin(&args);
        assert_eq!(run.status.code(), Some(6), "{args:?}: {}", show(&run));
    }
}

#[tokio::test]
async fn missing_stream_exit_code_elasticsearch() {
    missing_stream(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn missing_stream_exit_code_opensearch() {
    missing_stream(Engine::OpenSearch).await;
}

/// Nothing listens: exit 3 with one line naming the URL.
#[test]
fn unreachable_cluster_exit_code_elasticsearch() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let run = admin_command(&url).arg("status").output().unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", show(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
}

/// On the secured node: a wrong password is exit 4, an untrusted certificate exit 5, an
/// unreadable password file exit 7; the right password works. The password never shows.
#[test]
fn auth_tls_and_config_exit_codes_elasticsearch() {
    let service = common::service(Engine::ElasticsearchSecure);
    let ca = service.ca_file.clone().unwrap();
    let password = service.password.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let right = dir.path().join("right");
    std::fs::write(&right, format!("{password}\n")).unwrap();

    let run = admin_command(&service.url)
        .arg("--ca-file")
        .arg(&ca)
        .arg("--password-file")
        .arg(&wrong)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(4), "{}", show(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    let run = admin_command(&service.url)
        .arg("--password-file")
        .arg(&right)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(5), "{}", show(&run));

    let run = admin_command(&service.url)
        .arg("--ca-file")
        .arg(&ca)
        .arg("--password-file")
        .arg(dir.path().join("absent"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(7), "{}", show(&run));

    let run = admin_command(&service.url)
        .arg("--ca-file")
        .arg(&ca)
        .arg("--password-file")
        .arg(&right)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let out = json_out(&run);
    assert_eq!(out["engine"]["flavor"], "elasticsearch");
    assert!(!String::from_utf8_lossy(&run.stdout).contains(&password));
}
