//! The summary requests that archiving runs: `<kind>-<name>.json` files in
//! `elasticsearch/requests.d/`, each a `_search` body with `size: 0` and `aggs` and no
//! time filter; the archive adds the range.
//!
//! They are read at run time rather than built in, so operators can add their own
//! summaries without rebuilding the tool.

use std::path::{Path, PathBuf};

use netsensor_schema::RecordKind;
use serde_json::{json, Value};

use crate::error::{AdminError, Result};
use crate::inventory::range_query;

/// Where packages install the requests.
pub const INSTALLED_DIR: &str = "/usr/share/netsensor/elasticsearch/requests.d";
/// Where they live in a checkout.
pub const CHECKOUT_DIR: &str = "elasticsearch/requests.d";

/// One summary request.
#[derive(Debug, Clone)]
pub struct SummaryRequest {
    /// The record kind it summarizes.
    pub kind: RecordKind,
    /// Its name (the file name without kind and extension), also the output file's name.
    pub name: String,
    /// The `_search` body.
    pub body: Value,
}

impl SummaryRequest {
    /// The body restricted to `@timestamp` in `[from, to)`, counting every document.
    pub fn over(&self, from: i64, to: i64) -> Value {
        let mut body = self.body.clone();
        let range = range_query(from, to);
        let query = match body.get("query") {
            Some(existing) => json!({"bool": {"filter": [range, existing.clone()]}}),
            None => json!({"bool": {"filter": [range]}}),
        };
        body["query"] = query;
        body["size"] = json!(0);
        body["track_total_hits"] = json!(true);
        body
    }
}

/// Every summary request found in a directory.
#[derive(Debug, Clone)]
pub struct Requests {
    /// The directory they came from.
    pub dir: PathBuf,
    /// The requests, sorted by kind and name.
    pub list: Vec<SummaryRequest>,
}

impl Requests {
    /// The directory to read when none is given.
    pub fn default_dir() -> PathBuf {
        if Path::new(INSTALLED_DIR).is_dir() {
            PathBuf::from(INSTALLED_DIR)
        } else {
            PathBuf::from(CHECKOUT_DIR)
        }
    }

    /// Reads and checks every `*.json` file in `dir`.
    pub fn load(dir: &Path) -> Result<Requests> {
        let entries = std::fs::read_dir(dir).map_err(|err| {
            AdminError::Config(format!(
                "cannot read the summary requests directory {}: {err} (give --requests-dir)",
                dir.display()
            ))
        })?;
        let mut list = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|err| AdminError::io("list", dir, err))?
                .path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".json") else {
                continue;
            };
            let (kind, name) = stem
                .split_once('-')
                .and_then(|(k, n)| {
                    RecordKind::ALL
                        .into_iter()
                        .find(|kind| kind.name() == k)
                        .map(|kind| (kind, n))
                })
                .filter(|(_, n)| valid_name(n))
                .ok_or_else(|| {
                    AdminError::Config(format!(
                        "summary request {}: the name must be <packet|flow|rollup>-<name>.json \
                         with a name of letters, digits, '_' and '-'",
                        path.display()
                    ))
                })?;
            let text =
                std::fs::read_to_string(&path).map_err(|err| AdminError::io("read", &path, err))?;
            let body: Value = serde_json::from_str(&text).map_err(|err| {
                AdminError::Config(format!("summary request {}: {err}", path.display()))
            })?;
            if !body.is_object() || body.get("aggs").or(body.get("aggregations")).is_none() {
                return Err(AdminError::Config(format!(
                    "summary request {} is not a _search body with aggs",
                    path.display()
                )));
            }
            list.push(SummaryRequest {
                kind,
                name: name.to_owned(),
                body,
            });
        }
        list.sort_by(|a, b| (a.kind.name(), &a.name).cmp(&(b.kind.name(), &b.name)));
        Ok(Requests {
            dir: dir.to_owned(),
            list,
        })
    }

    /// The requests of one kind.
    pub fn for_kind(&self, kind: RecordKind) -> Vec<&SummaryRequest> {
        self.list.iter().filter(|r| r.kind == kind).collect()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_load_and_get_a_range() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("flow-bytes_per_transport.json"),
            r#"{"size":0,"query":{"term":{"event.kind":"event"}},"aggs":{"t":{"terms":{"field":"network.transport"}}}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not a request").unwrap();
        let requests = Requests::load(dir.path()).unwrap();
        let flow = requests.for_kind(RecordKind::Flow);
        assert_eq!(flow.len(), 1);
        assert_eq!(flow[0].name, "bytes_per_transport");
        let body = flow[0].over(0, 1_000_000_000);
        let filters = body["query"]["bool"]["filter"].as_array().unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(
            filters[0]["range"]["@timestamp"]["lt"],
            "1970-01-01T00:00:01.000000000Z"
        );
        assert!(requests.for_kind(RecordKind::Packet).is_empty());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dns-x.json"), "{}").unwrap();
        let err = Requests::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("dns-x.json"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flow-x.json"), "{\"size\":0").unwrap();
        assert!(Requests::load(dir.path()).is_err());
        assert!(Requests::load(&dir.path().join("missing")).is_err());
    }
}
