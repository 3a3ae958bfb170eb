//! One HTTP client path to Elasticsearch and OpenSearch, shared by the sensor's output and
//! the admin tool.
//!
//! Both engines speak the same REST dialect for what netsensor needs (`_bulk`, composable
//! templates, data streams, `_cat`, `_search`), so one client built on `reqwest` serves
//! both; where they differ (lifecycle policies: ILM or ISM; optional modules such as
//! `_delete_by_query` or the `wildcard` field type), [`engine::Engine`] and
//! [`capabilities::Capabilities`] say what the cluster at hand offers.
//!
//! - [`connection`]: URL, TLS trust, credentials; requests with errors that say what failed.
//! - [`engine`]: which engine and version answers (`GET /`).
//! - [`capabilities`]: which optional APIs and field types it has.
//! - [`templates`]: component/index templates, ingest pipeline and lifecycle policies,
//!   generated from the schema's field table.
//! - [`setup`]: installs all of it, idempotently.
//! - [`bulk`]: `_bulk` request bodies and item-level results.

// Input-driven code never unwraps; tests may (clippy.toml allows it there).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod bulk;
pub mod capabilities;
pub mod connection;
pub mod engine;
pub mod error;
pub mod names;
pub mod setup;
pub mod templates;

pub use connection::{Auth, Cluster, ClusterConfig, Sensitive};
pub use engine::{Engine, Flavor, Version};
pub use error::Error;
