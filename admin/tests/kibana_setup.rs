//! `setup --kibana-url` / `--dashboards-url` against a real engine and a dashboards server
//! that is not there: the cluster part is done, then the import fails with a clear message
//! and the "unreachable" exit code. (No Kibana or OpenSearch Dashboards can run here, so a
//! successful import is not tested; docs/dashboards.md says so.)

mod common;
mod kibana_common;

use common::{Engine, Fixture};

/// A loopback port nothing listens on (the discard port).
const NOBODY: &str = "http://127.0.0.1:9";

async fn setup_reports_an_unreachable_dashboards_server(engine: Engine) {
    let fixture = Fixture::new(engine, "kibsetup").await;
    let objects = kibana_common::objects_dir();
    for (option, server) in [
        ("--kibana-url", "Kibana"),
        ("--dashboards-url", "OpenSearch Dashboards"),
    ] {
        let out = fixture.admin(&[
            "setup",
            "--namespace",
            &fixture.namespace,
            "--template-scope",
            &fixture.namespace,
            "--no-lifecycle",
            "--no-roles",
            "--kibana-objects",
            objects.to_str().unwrap(),
            option,
            NOBODY,
        ]);
        let text = common::show(&out);
        assert_eq!(out.status.code(), Some(3), "{engine:?} {option}: {text}");
        assert!(
            text.contains(&format!("cannot reach {server} at {NOBODY}")),
            "{engine:?} {option}: {text}"
        );
        // The cluster part ran first and is in place.
        assert!(text.contains("data stream"), "{engine:?} {option}: {text}");
    }
}

#[tokio::test]
async fn setup_reports_an_unreachable_dashboards_server_elasticsearch() {
    setup_reports_an_unreachable_dashboards_server(Engine::Elasticsearch).await;
}

#[tokio::test]
async fn setup_reports_an_unreachable_dashboards_server_opensearch() {
    setup_reports_an_unreachable_dashboards_server(Engine::OpenSearch).await;
}
