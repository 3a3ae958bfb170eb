//! Which engine answers: Elasticsearch or OpenSearch, and which version (`GET /`).

use std::fmt;

use serde_json::Value;

use crate::connection::Cluster;
use crate::error::Error;

/// The search engine behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Elastic's Elasticsearch.
    Elasticsearch,
    /// The OpenSearch project's fork.
    OpenSearch,
}

impl Flavor {
    /// Lower-case name, as in logs, test names and `--json` output.
    pub const fn name(self) -> &'static str {
        match self {
            Flavor::Elasticsearch => "elasticsearch",
            Flavor::OpenSearch => "opensearch",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Parses `8.19.21`, `2.19.3-SNAPSHOT` and the like; a missing part is 0.
    pub fn parse(text: &str) -> Option<Version> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next().unwrap_or(Ok(0)).ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The engine and version of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub flavor: Flavor,
    pub version: Version,
    /// `cluster_name` from `GET /`.
    pub cluster_name: String,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavor {
            Flavor::Elasticsearch => "Elasticsearch",
            Flavor::OpenSearch => "OpenSearch",
        };
        write!(f, "{name} {}", self.version)
    }
}

impl Engine {
    /// Asks the cluster: `GET /`, or, where the root endpoint is missing (Elastic's test
    /// distribution lacks the `rest-root` module and answers 405), the local node's entry
    /// of `GET /_nodes/_local`. OpenSearch always has the root endpoint, so a cluster
    /// without one is Elasticsearch.
    pub async fn detect(cluster: &Cluster) -> Result<Engine, Error> {
        match cluster.get("/").await {
            Ok(root) => Engine::from_root(&root).ok_or_else(|| Error::Protocol {
                url: cluster.url_of("/"),
                reason: "no version.number; is this Elasticsearch or OpenSearch?".into(),
            }),
            Err(Error::Status {
                status: 404 | 405, ..
            }) => {
                let path = "/_nodes/_local?filter_path=cluster_name,nodes.*.version";
                let nodes = cluster.get(path).await?;
                let version = nodes["nodes"]
                    .as_object()
                    .and_then(|map| map.values().next())
                    .and_then(|node| node["version"].as_str())
                    .unwrap_or_default();
                let root = serde_json::json!({
                    "cluster_name": nodes["cluster_name"],
                    "version": {"number": version},
                });
                Engine::from_root(&root).ok_or_else(|| Error::Protocol {
                    url: cluster.url_of(path),
                    reason: "neither / nor /_nodes/_local gives a version".into(),
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Reads the answer of `GET /`. OpenSearch says `version.distribution: opensearch`;
    /// Elasticsearch has no such field.
    pub fn from_root(root: &Value) -> Option<Engine> {
        let version = Version::parse(root["version"]["number"].as_str()?)?;
        let flavor = match root["version"]["distribution"].as_str() {
            Some("opensearch") => Flavor::OpenSearch,
            _ => Flavor::Elasticsearch,
        };
        Some(Engine {
            flavor,
            version,
            cluster_name: root["cluster_name"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse_with_suffixes() {
        let v = Version::parse("2.19.3-SNAPSHOT").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (2, 19, 3));
        assert_eq!(Version::parse("9").unwrap().to_string(), "9.0.0");
        assert!(Version::parse("x.1").is_none());
        assert!(Version::parse("8.19.21").unwrap() > Version::parse("8.9.0").unwrap());
    }

    #[test]
    fn root_answers_tell_the_engines_apart() {
        let es = json!({"cluster_name": "c", "version": {"number": "8.19.21", "build_flavor": "default"}});
        let os = json!({"cluster_name": "o", "version": {"distribution": "opensearch", "number": "2.19.3"}});
        assert_eq!(
            Engine::from_root(&es).unwrap().flavor,
            Flavor::Elasticsearch
        );
        let os = Engine::from_root(&os).unwrap();
        assert_eq!(os.flavor, Flavor::OpenSearch);
        assert_eq!(os.to_string(), "OpenSearch 2.19.3");
        assert!(Engine::from_root(&json!({"ok": true})).is_none());
    }
}
