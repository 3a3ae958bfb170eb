//! Shared helpers of the integration tests: the real engines and unique names.
#![allow(dead_code)]

pub mod records;

use std::time::{SystemTime, UNIX_EPOCH};

use netsensor_elastic::{Auth, Cluster, ClusterConfig, Sensitive};

pub use netsensor_testkit::stack::Service;

/// Starts `engine` (`elasticsearch`, `opensearch`, `elasticsearch-secure`) through the
/// testkit (the repo's dev/stack script); the test fails, never skips, when it cannot.
pub fn ensure(engine: &str) -> Service {
    use netsensor_testkit::stack::{self, Engine};
    let engine = match engine {
        "elasticsearch" => Engine::Elasticsearch,
        "opensearch" => Engine::OpenSearch,
        "elasticsearch-secure" => Engine::ElasticsearchSecure,
        other => panic!("unknown engine {other}"),
    };
    stack::ensure(engine)
}

/// A client for `service`, as the `elastic` superuser where security is on.
pub fn cluster(service: &Service) -> Cluster {
    let mut config = ClusterConfig::new(service.url.clone());
    config.ca_file = service.ca_file.clone();
    if let Some(password) = &service.password {
        config.auth = Auth::Basic {
            username: "elastic".into(),
            password: Sensitive::new(password.clone()),
        };
    }
    Cluster::new(&config).expect("cluster client")
}

/// A namespace no other test (or earlier run) uses: `t` and random letters.
pub fn unique_namespace() -> String {
    let mut name = String::from("t");
    for _ in 0..10 {
        name.push(fastrand::lowercase());
    }
    name
}

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}
