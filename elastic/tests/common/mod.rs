//! Shared helpers of the integration tests: the real engines and unique names.
#![allow(dead_code)]

pub mod records;

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use netsensor_elastic::{Auth, Cluster, ClusterConfig, Sensitive};

/// A running engine, started by the repo's own dev/stack script if it is down.
pub struct Service {
    pub url: String,
    pub ca_file: Option<PathBuf>,
    pub password: Option<String>,
}

/// Starts `engine` (`elasticsearch`, `opensearch`, `elasticsearch-secure`) through
/// `dev/stack/stack.sh ensure`; panics (the test fails, never skips) when it cannot.
pub fn ensure(engine: &str) -> Service {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/stack/stack.sh");
    let output = Command::new(script)
        .args(["ensure", engine])
        .output()
        .unwrap_or_else(|err| panic!("cannot run {script}: {err}"));
    assert!(
        output.status.success(),
        "stack.sh ensure {engine} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stack_dir =
        std::env::var("NETSENSOR_STACK_DIR").unwrap_or_else(|_| "/var/tmp/netsensor-stack".into());
    let (ca_file, password) = if engine == "elasticsearch-secure" {
        let dir = PathBuf::from(stack_dir).join(engine);
        let password = std::fs::read_to_string(dir.join("elastic-password"))
            .expect("elastic-password of the secure engine")
            .trim()
            .to_string();
        (Some(dir.join("ca.pem")), Some(password))
    } else {
        (None, None)
    };
    Service {
        url,
        ca_file,
        password,
    }
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
