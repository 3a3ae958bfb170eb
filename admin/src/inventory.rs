//! What the cluster holds: data streams, their backing indices with sizes and shards, node
//! disks, and the time range each backing index covers.
//!
//! Built from `_resolve/index`, `_cat/indices`, `_cat/shards` and `_cat/allocation`, which
//! both engines have; the `_data_stream` REST API is not used because the Elasticsearch
//! integ-test distribution lacks it. Backing index names (`.ds-<stream>-<date>-<generation>`
//! on Elasticsearch, `.ds-<stream>-<generation>` on OpenSearch) give the generation.

use std::collections::BTreeMap;

use netsensor_elastic::Cluster;
use netsensor_schema::RecordKind;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{AdminError, Result};
use crate::time::parse_rfc3339;

/// One backing index.
#[derive(Debug, Clone, Serialize)]
pub struct BackingIndex {
    /// Index name.
    pub name: String,
    /// Generation number from the name (1, 2, ...).
    pub generation: u64,
    /// Whether it is the data stream's write index (the newest generation).
    pub write: bool,
    /// Documents (primaries).
    pub docs: u64,
    /// Store size of all copies, bytes.
    pub store_bytes: u64,
    /// Store size of the primaries, bytes.
    pub primary_store_bytes: u64,
    /// Largest primary shard, bytes.
    pub largest_primary_shard_bytes: u64,
    /// Number of primary shards.
    pub primaries: u32,
    /// Replicas per primary.
    pub replicas: u32,
    /// Shard copies started / all shard copies.
    pub shards_started: u32,
    /// All shard copies (primaries × (1 + replicas)).
    pub shards_total: u32,
    /// `green`, `yellow` or `red`.
    pub health: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: Option<i64>,
}

/// One data stream with its backing indices, oldest generation first.
#[derive(Debug, Clone, Serialize)]
pub struct DataStream {
    /// Name, e.g. `logs-netsensor.flow-default`.
    pub name: String,
    /// The record kind, when the name is a netsensor data stream.
    #[serde(serialize_with = "kind_name")]
    pub kind: Option<RecordKind>,
    /// Backing indices, oldest generation first; the last is the write index.
    pub indices: Vec<BackingIndex>,
}

fn kind_name<S: serde::Serializer>(kind: &Option<RecordKind>, s: S) -> Result<S::Ok, S::Error> {
    match kind {
        Some(k) => s.serialize_str(k.name()),
        None => s.serialize_none(),
    }
}

impl DataStream {
    /// The write index.
    pub fn write_index(&self) -> Option<&BackingIndex> {
        self.indices.iter().find(|i| i.write)
    }

    /// Documents across backing indices.
    pub fn docs(&self) -> u64 {
        self.indices.iter().map(|i| i.docs).sum()
    }

    /// Store size of all copies across backing indices.
    pub fn store_bytes(&self) -> u64 {
        self.indices.iter().map(|i| i.store_bytes).sum()
    }
}

/// The record kind of a netsensor data stream name (`logs-netsensor.<kind>-<namespace>`).
pub fn kind_of(stream: &str) -> Option<RecordKind> {
    let rest = stream.strip_prefix("logs-netsensor.")?;
    let (kind, namespace) = rest.split_once('-')?;
    if namespace.is_empty() {
        return None;
    }
    RecordKind::ALL.into_iter().find(|k| k.name() == kind)
}

/// The generation of a backing index: the number after the last `-`.
pub fn generation_of(index: &str) -> Option<u64> {
    index.rsplit('-').next()?.parse().ok()
}

/// Data streams matching `pattern` (names or wildcards, comma-separated), by name.
pub async fn data_streams(cluster: &Cluster, pattern: &str) -> Result<Vec<DataStream>> {
    let resolved = match cluster
        .get(&format!("/_resolve/index/{pattern}?expand_wildcards=all"))
        .await
    {
        Ok(value) => value,
        // An exact name that does not exist is a 404; treat it as "no match".
        Err(netsensor_elastic::Error::Status { status: 404, .. }) => json!({}),
        Err(err) => return Err(err.into()),
    };
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ds in resolved["data_streams"].as_array().into_iter().flatten() {
        let (Some(name), Some(backing)) = (ds["name"].as_str(), ds["backing_indices"].as_array())
        else {
            continue;
        };
        let backing = backing
            .iter()
            .filter_map(|b| b.as_str().map(str::to_owned))
            .collect();
        streams.insert(name.to_owned(), backing);
    }
    if streams.is_empty() {
        return Ok(Vec::new());
    }

    let index_pattern: Vec<String> = pattern
        .split(',')
        .map(|p| format!(".ds-{}-*", p.trim()))
        .collect();
    let index_pattern = index_pattern.join(",");
    let cat = cluster
        .get(&format!(
            "/_cat/indices/{index_pattern}?format=json&bytes=b&expand_wildcards=all\
             &h=index,health,docs.count,store.size,pri.store.size,pri,rep,creation.date"
        ))
        .await?;
    let shards = cluster
        .get(&format!(
            "/_cat/shards/{index_pattern}?format=json&bytes=b\
             &h=index,shard,prirep,state,store"
        ))
        .await?;

    let mut by_index: BTreeMap<String, &Value> = BTreeMap::new();
    for row in cat.as_array().into_iter().flatten() {
        if let Some(name) = row["index"].as_str() {
            by_index.insert(name.to_owned(), row);
        }
    }
    // Per index: (started copies, all copies, largest primary).
    let mut shard_figures: BTreeMap<String, (u32, u32, u64)> = BTreeMap::new();
    for row in shards.as_array().into_iter().flatten() {
        let Some(name) = row["index"].as_str() else {
            continue;
        };
        let entry = shard_figures.entry(name.to_owned()).or_default();
        entry.1 += 1;
        if row["state"].as_str() == Some("STARTED") {
            entry.0 += 1;
        }
        if row["prirep"].as_str() == Some("p") {
            entry.2 = entry.2.max(number(&row["store"]));
        }
    }

    let mut out = Vec::new();
    for (name, backing) in streams {
        let newest = backing
            .iter()
            .filter_map(|b| generation_of(b))
            .max()
            .unwrap_or(0);
        let mut indices: Vec<BackingIndex> = backing
            .iter()
            .map(|index| {
                let row = by_index.get(index).copied().unwrap_or(&Value::Null);
                let (started, total, largest) =
                    shard_figures.get(index).copied().unwrap_or_default();
                let generation = generation_of(index).unwrap_or(0);
                BackingIndex {
                    name: index.clone(),
                    generation,
                    write: generation == newest,
                    docs: number(&row["docs.count"]),
                    store_bytes: number(&row["store.size"]),
                    primary_store_bytes: number(&row["pri.store.size"]),
                    largest_primary_shard_bytes: largest,
                    primaries: number(&row["pri"]) as u32,
                    replicas: number(&row["rep"]) as u32,
                    shards_started: started,
                    shards_total: total,
                    health: row["health"].as_str().unwrap_or("unknown").to_owned(),
                    created_ms: row["creation.date"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| row["creation.date"].as_i64()),
                }
            })
            .collect();
        indices.sort_by_key(|i| i.generation);
        out.push(DataStream {
            kind: kind_of(&name),
            name,
            indices,
        });
    }
    Ok(out)
}

/// Data streams matching `pattern`; none is [`AdminError::Missing`].
pub async fn require_streams(cluster: &Cluster, pattern: &str) -> Result<Vec<DataStream>> {
    let streams = data_streams(cluster, pattern).await?;
    if streams.is_empty() {
        return Err(AdminError::Missing(format!(
            "no data stream matches {pattern}; has `netsensor-admin setup` run, and has the \
             sensor written anything?"
        )));
    }
    Ok(streams)
}

/// One node's disk, from `_cat/allocation`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDisk {
    /// Node name.
    pub node: String,
    /// Shards on the node.
    pub shards: u64,
    /// Bytes used on the data path's file system (all files, not only indices).
    pub disk_used_bytes: u64,
    /// Bytes available.
    pub disk_free_bytes: u64,
    /// File system size.
    pub disk_total_bytes: u64,
    /// Used percentage.
    pub disk_percent: f64,
}

/// Disk figures of every data node (`_cat/allocation`; the `UNASSIGNED` row is skipped).
pub async fn node_disks(cluster: &Cluster) -> Result<Vec<NodeDisk>> {
    let rows = cluster
        .get("/_cat/allocation?format=json&bytes=b&h=node,shards,disk.used,disk.avail,disk.total,disk.percent")
        .await?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| row["node"].as_str().is_some_and(|n| n != "UNASSIGNED"))
        .map(|row| NodeDisk {
            node: row["node"].as_str().unwrap_or("?").to_owned(),
            shards: number(&row["shards"]),
            disk_used_bytes: number(&row["disk.used"]),
            disk_free_bytes: number(&row["disk.avail"]),
            disk_total_bytes: number(&row["disk.total"]),
            disk_percent: float(&row["disk.percent"]),
        })
        .collect())
}

/// The highest disk use of any node, measured now (`_nodes/stats/fs` is computed on
/// request, unlike `_cat/allocation`, whose figures can be 30 s old — a loop that deletes
/// and re-measures must see its own effect).
pub async fn live_disk_percent(cluster: &Cluster) -> Result<Option<(String, f64)>> {
    let stats = cluster
        .get("/_nodes/stats/fs?filter_path=nodes.*.name,nodes.*.fs.total")
        .await?;
    let mut worst: Option<(String, f64)> = None;
    for node in stats["nodes"]
        .as_object()
        .into_iter()
        .flat_map(|n| n.values())
    {
        let total = number(&node["fs"]["total"]["total_in_bytes"]);
        let available = number(&node["fs"]["total"]["available_in_bytes"]);
        if total == 0 {
            continue;
        }
        let percent = 100.0 * total.saturating_sub(available) as f64 / total as f64;
        if worst.as_ref().is_none_or(|(_, p)| percent > *p) {
            worst = Some((node["name"].as_str().unwrap_or("?").to_owned(), percent));
        }
    }
    Ok(worst)
}

/// The oldest and newest `@timestamp` in `target` (an index or data stream), in
/// nanoseconds, read from the documents' `_source` so `date_nanos` precision is kept;
/// `None` when it holds no documents. `filter` narrows the search.
pub async fn time_bounds(
    cluster: &Cluster,
    target: &str,
    filter: Option<Value>,
) -> Result<Option<(i64, i64)>> {
    let oldest = edge_timestamp(cluster, target, "asc", filter.clone()).await?;
    let newest = edge_timestamp(cluster, target, "desc", filter).await?;
    Ok(oldest.zip(newest))
}

async fn edge_timestamp(
    cluster: &Cluster,
    target: &str,
    order: &str,
    filter: Option<Value>,
) -> Result<Option<i64>> {
    let mut body = json!({
        "size": 1,
        "track_total_hits": false,
        "_source": ["@timestamp"],
        "sort": [{"@timestamp": {"order": order}}],
        "query": {"exists": {"field": "@timestamp"}},
    });
    if let Some(filter) = filter {
        body["query"] = json!({"bool": {"filter": [{"exists": {"field": "@timestamp"}}, filter]}});
    }
    let answer = cluster
        .post(
            &format!("/{target}/_search?ignore_unavailable=true&allow_no_indices=true"),
            &body,
        )
        .await?;
    let Some(hit) = answer["hits"]["hits"].get(0) else {
        return Ok(None);
    };
    let ts = &hit["_source"]["@timestamp"];
    let value = match ts {
        Value::String(text) => parse_rfc3339(text),
        Value::Number(n) => n.as_i64().and_then(|ms| ms.checked_mul(1_000_000)),
        _ => None,
    };
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(AdminError::Failed(format!(
            "document {} in {target} has an @timestamp this tool cannot read: {ts}",
            hit["_id"]
        ))),
    }
}

/// Documents of `target` in `[from, to)`.
pub async fn count_range(cluster: &Cluster, target: &str, from: i64, to: i64) -> Result<u64> {
    let answer = cluster
        .post(
            &format!("/{target}/_count?ignore_unavailable=true&allow_no_indices=true"),
            &json!({"query": range_query(from, to)}),
        )
        .await?;
    Ok(number(&answer["count"]))
}

/// `@timestamp` in `[from, to)` as a query, with nanosecond boundaries.
pub fn range_query(from: i64, to: i64) -> Value {
    json!({"range": {"@timestamp": {
        "gte": crate::time::format_rfc3339(from),
        "lt": crate::time::format_rfc3339(to),
        "format": "strict_date_optional_time_nanos",
    }}})
}

/// A `_cat` figure: numbers come as strings, sometimes as numbers, absent as null.
pub fn number(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn float(value: &Value) -> f64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0.0),
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_kind_and_generation() {
        assert_eq!(
            kind_of("logs-netsensor.flow-default"),
            Some(RecordKind::Flow)
        );
        assert_eq!(kind_of("logs-netsensor.flow-"), None);
        assert_eq!(kind_of("logs-nginx.access-default"), None);
        assert_eq!(
            generation_of(".ds-logs-netsensor.flow-default-2026.11.23-000012"),
            Some(12)
        );
        assert_eq!(
            generation_of(".ds-logs-netsensor.flow-default-000003"),
            Some(3)
        );
    }
}
