//! Test support for the integration tests: the real local engines (Elasticsearch,
//! OpenSearch, Elasticsearch with TLS and security, Kafka) started through the repository's
//! own `dev/stack/stack.sh`, so tests, `make demo` and CI all run the same servers; and a
//! real Filebeat built by `filebeat/build.sh`.
//!
//! Functions here panic when an engine cannot be started: a test that needs an engine must
//! fail, not skip, when it is missing.

pub mod filebeat;
pub mod stack;
