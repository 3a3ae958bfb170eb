//! `watch`: keeps node disk use and data stream sizes under their limits.
//!
//! Space is freed by whole backing indices, oldest first, because deleting an index gives
//! the space back at once on every engine, while `_delete_by_query` only marks documents
//! deleted until segments merge (a loop that deleted by query and re-measured the disk
//! would keep deleting). Each index's time range is archived before it is deleted, with
//! the same code as `archive`; disk use is re-measured live after every deletion.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::archive::store::StreamArchive;
use crate::archive::{delete_index, ensure_archived};
use crate::cli::WatchArgs;
use crate::connect::Ctx;
use crate::error::{exit, AdminError, Result};
use crate::inventory::{live_disk_percent, require_streams, time_bounds, BackingIndex, DataStream};
use crate::requests::Requests;
use crate::size::format_size;
use crate::time::format_rfc3339;

/// Upper bound on indices freed in one pass: a guard against a loop that never converges.
const MAX_STEPS: usize = 1000;

/// Runs the `watch` command: one pass with `--once`, else a pass every `--interval`.
pub async fn run(ctx: &Ctx, args: &WatchArgs) -> Result<()> {
    if !(0.0..=100.0).contains(&args.max_disk_percent) {
        return Err(AdminError::Usage(format!(
            "--max-disk-percent must be between 0 and 100, not {}",
            args.max_disk_percent
        )));
    }
    let requests = Requests::load(
        &args
            .requests
            .requests_dir
            .clone()
            .unwrap_or_else(Requests::default_dir),
    )?;
    loop {
        match pass(ctx, args, &requests).await {
            Ok(()) => {}
            Err(err) if args.once => return Err(err),
            // Configuration and credential problems do not heal by waiting.
            Err(err)
                if matches!(
                    err.exit_code(),
                    exit::AUTH | exit::TLS | exit::CONFIG | exit::USAGE
                ) =>
            {
                return Err(err)
            }
            Err(err) => {
                tracing::error!(error = %err, "watch pass failed; trying again next interval")
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// One line of the action log: JSON with `--json`, a sentence otherwise.
fn emit(ctx: &Ctx, event: Value, text: String) {
    if ctx.json {
        println!("{event}");
    } else {
        println!("{text}");
    }
}

/// Why an index is being freed.
enum Pressure {
    Disk { node: String, percent: f64 },
    Stream { bytes: u64, limit: u64 },
}

/// One pass: free the oldest backing index while a limit is passed.
async fn pass(ctx: &Ctx, args: &WatchArgs, requests: &Requests) -> Result<()> {
    // Data streams whose only index is an empty write index: nothing more to free there.
    let mut exhausted: HashSet<String> = HashSet::new();
    let mut freed = 0usize;
    for _ in 0..MAX_STEPS {
        let streams = require_streams(&ctx.cluster, &args.streams.streams).await?;
        let disk = live_disk_percent(&ctx.cluster).await?;
        let disk_over = disk
            .as_ref()
            .filter(|(_, percent)| *percent > args.max_disk_percent);
        let pick = |s: &&DataStream| !exhausted.contains(&s.name) && !s.indices.is_empty();
        let choice: Option<(&DataStream, Pressure)> = if let Some((node, percent)) = disk_over {
            streams
                .iter()
                .filter(pick)
                .min_by_key(|s| {
                    let first = &s.indices[0];
                    (first.created_ms.unwrap_or(i64::MAX), first.generation)
                })
                .map(|s| {
                    (
                        s,
                        Pressure::Disk {
                            node: node.clone(),
                            percent: *percent,
                        },
                    )
                })
        } else if let Some(limit) = args.max_stream_bytes {
            streams
                .iter()
                .filter(pick)
                .find(|s| s.store_bytes() > limit)
                .map(|s| {
                    (
                        s,
                        Pressure::Stream {
                            bytes: s.store_bytes(),
                            limit,
                        },
                    )
                })
        } else {
            None
        };
        let Some((stream, pressure)) = choice else {
            let (node, percent) = disk.unwrap_or_else(|| ("?".into(), 0.0));
            let over = streams_over(&streams, args.max_stream_bytes);
            let text = if over.is_empty() && percent <= args.max_disk_percent {
                format!(
                    "under limits: disk {percent:.1}% on {node} (limit {}%), {freed} index(es) freed",
                    args.max_disk_percent
                )
            } else {
                format!(
                    "still over a limit but nothing left to delete except write indices: disk \
                     {percent:.1}% on {node}, streams over size: {}",
                    over.join(", ")
                )
            };
            emit(
                ctx,
                json!({"action": "done", "disk_percent": percent, "node": node, "freed_indices": freed,
                       "exhausted_streams": exhausted.iter().collect::<Vec<_>>()}),
                text,
            );
            return Ok(());
        };
        let index = stream.indices[0].clone();
        if index.write && index.docs == 0 {
            exhausted.insert(stream.name.clone());
            continue;
        }
        let why = match &pressure {
            Pressure::Disk { node, percent } => {
                format!("disk {percent:.1}% on {node} > {}%", args.max_disk_percent)
            }
            Pressure::Stream { bytes, limit } => format!(
                "{} is {} > {}",
                stream.name,
                format_size(*bytes),
                format_size(*limit)
            ),
        };
        free_index(ctx, stream, &index, requests, args, &why).await?;
        freed += 1;
    }
    Err(AdminError::Failed(format!(
        "freed {MAX_STEPS} indices in one pass and a limit still holds; stopping"
    )))
}

/// Data streams over the size limit, with their sizes.
fn streams_over(streams: &[DataStream], limit: Option<u64>) -> Vec<String> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    streams
        .iter()
        .filter(|s| s.store_bytes() > limit)
        .map(|s| format!("{} ({})", s.name, format_size(s.store_bytes())))
        .collect()
}

/// Rolls over if needed, archives the index's time range, deletes the index.
async fn free_index(
    ctx: &Ctx,
    stream: &DataStream,
    index: &BackingIndex,
    requests: &Requests,
    args: &WatchArgs,
    why: &str,
) -> Result<()> {
    if index.write {
        let new_index = crate::rollover::roll_over(ctx, &stream.name).await?;
        emit(
            ctx,
            json!({"action": "rollover", "stream": stream.name, "old_index": index.name,
                   "new_index": new_index, "reason": why}),
            format!(
                "{why}: rolled {} over to {new_index} so that its oldest index {} can go",
                stream.name, index.name
            ),
        );
    }
    let bounds = time_bounds(&ctx.cluster, &index.name, None).await?;
    let archive = StreamArchive::new(&args.archive_dir, &stream.name);
    let manifests = match bounds {
        Some((min, max)) => {
            let (manifests, archived) =
                ensure_archived(ctx, stream, requests, &archive, min, max + 1, false).await?;
            for a in &archived {
                emit(
                    ctx,
                    json!({"action": "archive", "stream": stream.name, "index": index.name,
                           "from": a.from, "to": a.to, "documents": a.documents, "dir": a.dir}),
                    format!(
                        "archived {} .. {} of {} ({} documents) -> {}",
                        a.from, a.to, stream.name, a.documents, a.dir
                    ),
                );
            }
            manifests
        }
        None => Vec::new(),
    };
    delete_index(ctx, &index.name, bounds, &manifests).await?;
    emit(
        ctx,
        json!({"action": "delete_index", "stream": stream.name, "index": index.name,
               "docs": index.docs, "store_bytes": index.store_bytes, "reason": why,
               "from": bounds.map(|b| format_rfc3339(b.0)),
               "to": bounds.map(|b| format_rfc3339(b.1))}),
        format!(
            "{why}: deleted {} ({} documents, {}) after archiving its range",
            index.name,
            index.docs,
            format_size(index.store_bytes)
        ),
    );
    Ok(())
}
