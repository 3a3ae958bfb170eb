//! `status`: data streams, backing indices and node disks, as a table or JSON.

use std::time::Duration;

use serde_json::json;

use crate::cli::StatusArgs;
use crate::connect::{engine_json, Ctx};
use crate::error::Result;
use crate::inventory::{data_streams, node_disks, DataStream, NodeDisk};
use crate::size::format_size;
use crate::table::Table;
use crate::time::{format_age, format_rfc3339};

/// Prints the status.
pub async fn run(ctx: &Ctx, args: &StatusArgs) -> Result<()> {
    let streams = data_streams(&ctx.cluster, &args.streams.streams).await?;
    let disks = node_disks(&ctx.cluster).await?;
    let now_ms = crate::time::now_ns() / 1_000_000;
    if ctx.json {
        let streams: Vec<_> = streams
            .iter()
            .map(|s| {
                let indices: Vec<_> = s
                    .indices
                    .iter()
                    .map(|i| {
                        let mut v = serde_json::to_value(i).unwrap_or_default();
                        v["created"] = json!(i.created_ms.map(|ms| format_rfc3339(ms * 1_000_000)));
                        v["age_seconds"] = json!(i.created_ms.map(|ms| (now_ms - ms) / 1000));
                        v
                    })
                    .collect();
                json!({
                    "name": s.name,
                    "kind": s.kind.map(|k| k.name()),
                    "docs": s.docs(),
                    "store_bytes": s.store_bytes(),
                    "write_index": s.write_index().map(|i| i.name.clone()),
                    "indices": indices,
                })
            })
            .collect();
        let out = json!({
            "engine": engine_json(&ctx.engine),
            "url": ctx.cluster.url(),
            "pattern": args.streams.streams,
            "data_streams": streams,
            "nodes": disks,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    println!(
        "{} at {} (cluster {})",
        ctx.engine,
        ctx.cluster.url(),
        ctx.engine.cluster_name
    );
    println!();
    print!("{}", streams_table(&streams, now_ms));
    println!();
    print!("{}", disks_table(&disks));
    Ok(())
}

fn streams_table(streams: &[DataStream], now_ms: i64) -> String {
    if streams.is_empty() {
        return "no data streams match\n".into();
    }
    let mut table = Table::new(&[
        "DATA STREAM / BACKING INDEX",
        "GEN",
        "DOCS",
        "STORE",
        "PRI",
        "REP",
        "SHARDS",
        "HEALTH",
        "AGE",
        "CREATED",
    ]);
    for stream in streams {
        table.row(vec![
            stream.name.clone(),
            String::new(),
            stream.docs().to_string(),
            format_size(stream.store_bytes()),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for index in &stream.indices {
            let age = index
                .created_ms
                .map(|ms| format_age(Duration::from_millis((now_ms - ms).max(0) as u64)))
                .unwrap_or_default();
            let created = index
                .created_ms
                .map(|ms| format_rfc3339(ms * 1_000_000)[..19].to_owned() + "Z")
                .unwrap_or_default();
            let mark = if index.write { " (write)" } else { "" };
            table.row(vec![
                format!("  {}{mark}", index.name),
                index.generation.to_string(),
                index.docs.to_string(),
                format_size(index.store_bytes),
                index.primaries.to_string(),
                index.replicas.to_string(),
                format!("{}/{}", index.shards_started, index.shards_total),
                index.health.clone(),
                age,
                created,
            ]);
        }
    }
    table.render()
}

fn disks_table(disks: &[NodeDisk]) -> String {
    let mut table = Table::new(&[
        "NODE",
        "SHARDS",
        "DISK USED",
        "DISK FREE",
        "DISK TOTAL",
        "USED %",
    ]);
    for d in disks {
        table.row(vec![
            d.node.clone(),
            d.shards.to_string(),
            format_size(d.disk_used_bytes),
            format_size(d.disk_free_bytes),
            format_size(d.disk_total_bytes),
            format!("{:.0}", d.disk_percent),
        ]);
    }
    table.render()
}
