//! `report`: the analyst's summary of what the cluster holds — services in use, countries,
//! bytes per transport, packet-size classes, top conversations — from the same summary
//! requests that archiving keeps (`elasticsearch/requests.d/`), run over live data.
//!
//! Any request an operator adds to the directory shows up here too: the answer's bucket
//! aggregations are flattened into rows (nested terms become `outer → inner`) with their
//! document counts and metric values.

use std::collections::BTreeMap;

use netsensor_elastic::names;
use serde_json::{json, Map, Value};

use crate::cli::ReportArgs;
use crate::connect::Ctx;
use crate::error::{AdminError, Result};
use crate::requests::{Requests, SummaryRequest};
use crate::size::format_size;
use crate::table::Table;
use crate::time::{format_rfc3339, now_ns};

/// One row of a flattened aggregation.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// Bucket keys from the outermost aggregation inwards.
    keys: Vec<String>,
    /// Documents in the bucket.
    docs: u64,
    /// Metric sub-aggregations by name (e.g. `bytes`, `packets`).
    metrics: BTreeMap<String, f64>,
}

/// Runs the report.
pub async fn run(ctx: &Ctx, args: &ReportArgs) -> Result<()> {
    let dir = args
        .requests
        .requests_dir
        .clone()
        .unwrap_or_else(Requests::default_dir);
    let requests = Requests::load(&dir)?;
    let now = now_ns();
    let range = match (args.since, args.until) {
        (None, None) => None,
        (since, until) => Some((since.unwrap_or(0), until.unwrap_or(now))),
    };
    let mut json_out = Map::new();
    for kind in &args.kinds {
        let kind = *kind;
        let target = names::data_stream(kind, &args.namespace);
        let selected = requests.for_kind(kind);
        if selected.is_empty() {
            return Err(AdminError::Config(format!(
                "no {} summary requests in {}",
                kind.name(),
                dir.display()
            )));
        }
        if !ctx.json {
            let span = match range {
                Some((from, to)) => format!("{} to {}", format_rfc3339(from), format_rfc3339(to)),
                None => "all time".to_owned(),
            };
            println!("== {target} ({span})\n");
        }
        let mut kind_out = Map::new();
        for request in selected {
            let answer = search(ctx, &target, request, range).await?;
            if ctx.json {
                kind_out.insert(request.name.clone(), answer["aggregations"].clone());
                continue;
            }
            print!("{}", render(request, &answer, args.top));
        }
        json_out.insert(kind.name().to_owned(), Value::Object(kind_out));
    }
    if ctx.json {
        println!("{}", Value::Object(json_out));
    }
    Ok(())
}

async fn search(
    ctx: &Ctx,
    target: &str,
    request: &SummaryRequest,
    range: Option<(i64, i64)>,
) -> Result<Value> {
    let body = match range {
        Some((from, to)) => request.over(from, to),
        None => {
            let mut body = request.body.clone();
            body["size"] = json!(0);
            body
        }
    };
    // A namespace pattern may match nothing yet: that is an empty report, not an error.
    let path = format!("/{target}/_search?ignore_unavailable=true&allow_no_indices=true");
    Ok(ctx.cluster.post(&path, &body).await?)
}

/// One request's answer: a line of totals (top-level metrics), then one titled table per
/// top-level bucket aggregation (or a line saying it is empty).
fn render(request: &SummaryRequest, answer: &Value, top: usize) -> String {
    let title = request.name.replace('-', " ");
    let total = answer["hits"]["total"]["value"].as_u64().unwrap_or(0);
    let mut out = format!("-- {title} ({total} documents)\n");
    let Some(aggregations) = answer["aggregations"].as_object() else {
        out.push_str("   (nothing)\n\n");
        return out;
    };
    let totals: Vec<String> = aggregations
        .iter()
        .filter_map(|(name, agg)| {
            let value = agg["value"].as_f64()?;
            Some(format!("{name} {}", metric(name, Some(value))))
        })
        .collect();
    if !totals.is_empty() {
        out.push_str(&format!("   {}\n", totals.join(", ")));
    }
    let bucket_aggs: Vec<(&String, &Value)> = aggregations
        .iter()
        .filter(|(_, agg)| agg["buckets"].is_array())
        .collect();
    for (name, agg) in &bucket_aggs {
        let mut rows = Vec::new();
        walk(agg, &mut Vec::new(), &mut rows);
        if bucket_aggs.len() > 1 {
            out.push_str(&format!("   {}:\n", name.replace('_', " ")));
        }
        if rows.is_empty() {
            out.push_str("   (nothing)\n");
            continue;
        }
        for line in table(&rows[..rows.len().min(top)]).lines() {
            out.push_str("   ");
            out.push_str(line);
            out.push('\n');
        }
        if rows.len() > top {
            let rest = &rows[top..];
            let docs: u64 = rest.iter().map(|r| r.docs).sum();
            out.push_str(&format!(
                "   ... {} more rows, {docs} documents\n",
                rest.len()
            ));
        }
    }
    out.push('\n');
    out
}

/// Rows as an aligned table: the keys, documents, then every metric seen.
fn table(rows: &[Row]) -> String {
    let mut metric_names: Vec<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    metric_names.sort();
    metric_names.dedup();
    let mut header = vec!["key", "documents"];
    header.extend(metric_names.iter().map(|n| n.as_str()));
    let mut table = Table::new(&header);
    for row in rows {
        let mut cells = vec![row.keys.join(" → "), row.docs.to_string()];
        for name in &metric_names {
            cells.push(
                row.metrics
                    .get(*name)
                    .map_or_else(String::new, |v| metric(name, Some(*v))),
            );
        }
        table.row(cells);
    }
    table.render()
}

/// A metric value as shown: sizes for byte counts, whole numbers without decimals.
fn metric(name: &str, value: Option<f64>) -> String {
    match value {
        Some(v) if name.contains("bytes") => format_size(v.max(0.0) as u64),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => String::new(),
    }
}

fn walk(agg: &Value, keys: &mut Vec<String>, rows: &mut Vec<Row>) {
    for bucket in agg["buckets"].as_array().into_iter().flatten() {
        let key = bucket["key_as_string"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| match &bucket["key"] {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .unwrap_or_default();
        keys.push(key);
        let mut metrics = BTreeMap::new();
        let mut nested = Vec::new();
        for (name, sub) in bucket.as_object().into_iter().flatten() {
            if sub["buckets"].is_array() {
                nested.push(sub);
            } else if let Some(value) = sub["value"].as_f64() {
                metrics.insert(name.clone(), value);
            }
        }
        if nested.is_empty() {
            rows.push(Row {
                keys: keys.clone(),
                docs: bucket["doc_count"].as_u64().unwrap_or(0),
                metrics,
            });
        } else {
            for sub in nested {
                walk(sub, keys, rows);
            }
        }
        keys.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(agg: &Value) -> Vec<Row> {
        let mut rows = Vec::new();
        walk(agg, &mut Vec::new(), &mut rows);
        rows
    }

    #[test]
    fn nested_terms_flatten_to_arrow_joined_keys() {
        let agg = json!({"buckets": [
            {"key": "10.0.0.1", "doc_count": 5, "bytes": {"value": 500.0},
             "destination": {"buckets": [
                 {"key": "10.0.0.2", "doc_count": 3, "bytes": {"value": 300.0}},
                 {"key": "10.0.0.3", "doc_count": 2, "bytes": {"value": 200.0}}]}}]});
        let rows = rows(&agg);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].keys, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(rows[0].docs, 3);
        assert_eq!(rows[1].metrics["bytes"], 200.0);
        assert!(table(&rows).contains("10.0.0.1 → 10.0.0.3"));
    }

    #[test]
    fn numeric_keys_and_key_as_string_are_used() {
        let agg = json!({"buckets": [
            {"key": 6, "doc_count": 1},
            {"key": 1_700_000_000_000i64, "key_as_string": "2023-11-14", "doc_count": 2}]});
        let rows = rows(&agg);
        assert_eq!(rows[0].keys, ["6"]);
        assert_eq!(rows[1].keys, ["2023-11-14"]);
    }

    #[test]
    fn totals_and_several_bucket_aggregations_are_titled() {
        let request = SummaryRequest {
            kind: netsensor_schema::RecordKind::Packet,
            name: "service".into(),
            body: json!({}),
        };
        let answer = json!({"hits": {"total": {"value": 9}}, "aggregations": {
            "bytes": {"value": 2048.0},
            "source_service": {"buckets": [{"key": "dns", "doc_count": 4}]},
            "destination_service": {"buckets": []}}});
        let text = render(&request, &answer, 10);
        assert!(text.starts_with("-- service (9 documents)"), "{text}");
        assert!(text.contains("bytes 2.0kb"), "{text}");
        assert!(
            text.contains("source service:") && text.contains("dns"),
            "{text}"
        );
        assert!(
            text.contains("destination service:\n   (nothing)"),
            "{text}"
        );
    }
}
