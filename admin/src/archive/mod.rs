//! `archive`: summarize a data stream's old documents to files, then delete them.
//!
//! The order is what keeps data safe: for each data stream, every range to be deleted is
//! first summarized (every summary request of the stream's kind, over that range), written
//! and fsync'd, and its manifest written last ([`store`]); only then are documents deleted,
//! and only inside ranges whose manifest exists. Whole backing indices are deleted where
//! they lie entirely before the cut-off (space comes back at once; works on every engine);
//! the rest by `_delete_by_query` where the engine has it, capped per run. A re-run finds
//! the manifests, archives nothing twice and carries on with the deletion.

pub mod store;

use serde::Serialize;
use serde_json::json;

use crate::cli::ArchiveArgs;
use crate::connect::Ctx;
use crate::dbq::{self, DeleteOutcome};
use crate::error::{AdminError, Result};
use crate::inventory::{self, count_range, range_query, time_bounds, DataStream};
use crate::requests::Requests;
use crate::size::format_size;
use crate::time::{format_rfc3339, now_ns};
use store::{covered, uncovered, write_atomic, write_gz, Manifest, StreamArchive, SummaryFile};

/// A range archived in this run (or that would be, in a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedRange {
    /// Start (inclusive), RFC 3339.
    pub from: String,
    /// End (exclusive), RFC 3339.
    pub to: String,
    /// Documents summarized.
    pub documents: u64,
    /// Its directory.
    pub dir: String,
}

/// A backing index deleted whole.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedIndex {
    /// Index name.
    pub index: String,
    /// Documents it held.
    pub docs: u64,
    /// Store size of all copies, bytes.
    pub store_bytes: u64,
}

/// What `archive` did to one data stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    /// Data stream.
    pub stream: String,
    /// Oldest document before the run, RFC 3339 (none when the stream was empty).
    pub oldest: Option<String>,
    /// Ranges archived now.
    pub archived: Vec<ArchivedRange>,
    /// Manifests already present that cover part of the range.
    pub already_archived: usize,
    /// Write index rolled over so that it could be deleted.
    pub rolled_over: Option<String>,
    /// Backing indices deleted whole.
    pub deleted_indices: Vec<DeletedIndex>,
    /// The `_delete_by_query` task, when one ran.
    pub deleted_by_query: Option<DeleteOutcome>,
    /// Documents before the cut-off still in the cluster after this run.
    pub left_documents: u64,
    /// Why they were left.
    pub left_reason: Option<String>,
    /// Nothing was changed (dry run).
    pub dry_run: bool,
}

/// Archives the range `[from, to)` of `stream`: one file per summary request, then the
/// manifest. Returns the manifest.
pub async fn archive_range(
    ctx: &Ctx,
    stream: &DataStream,
    requests: &Requests,
    archive: &StreamArchive,
    from: i64,
    to: i64,
) -> Result<Manifest> {
    let kind = stream.kind.ok_or_else(|| {
        AdminError::Usage(format!("{} is not a netsensor data stream", stream.name))
    })?;
    let list = requests.for_kind(kind);
    if list.is_empty() {
        return Err(AdminError::Config(format!(
            "no summary requests for {} records in {}; refusing to delete what cannot be \
             summarized",
            kind.name(),
            requests.dir.display()
        )));
    }
    let dir = archive.range_dir(from, to);
    let documents = count_range(&ctx.cluster, &stream.name, from, to).await?;
    let bar = crate::progress::bar(
        ctx.terminal && !ctx.json,
        list.len() as u64,
        &format!("summarizing {}", stream.name),
    );
    let mut summaries = Vec::new();
    for request in list {
        let answer = ctx
            .cluster
            .post(
                &format!("/{}/_search", stream.name),
                &request.over(from, to),
            )
            .await?;
        let failed = inventory::number(&answer["_shards"]["failed"]);
        if failed > 0 || answer["timed_out"].as_bool() == Some(true) {
            return Err(AdminError::Failed(format!(
                "summary request {} on {} was incomplete ({failed} shards failed, timed out: \
                 {}); nothing deleted",
                request.name, stream.name, answer["timed_out"]
            )));
        }
        let summary = json!({
            "stream": stream.name,
            "kind": kind.name(),
            "request": request.name,
            "from": format_rfc3339(from),
            "to": format_rfc3339(to),
            "documents": answer["hits"]["total"]["value"],
            "took_ms": answer["took"],
            "aggregations": answer["aggregations"],
        });
        let file = format!("{}.json.gz", request.name);
        let bytes = serde_json::to_vec(&summary).unwrap_or_default();
        let size = write_gz(&dir, &file, &bytes)?;
        summaries.push(SummaryFile {
            request: request.name.clone(),
            file,
            bytes: size,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let manifest = Manifest {
        format: 1,
        stream: stream.name.clone(),
        kind: kind.name().to_owned(),
        from: format_rfc3339(from),
        to: format_rfc3339(to),
        from_ns: from,
        to_ns: to,
        documents,
        summaries,
        engine: ctx.engine.to_string(),
        written: format_rfc3339(now_ns()),
    };
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_atomic(&dir, store::MANIFEST, &text)?;
    // The range directory's own entry, and the stream directory's, must be durable too.
    for parent in dir.ancestors().skip(1).take(2) {
        store::sync_dir(parent).map_err(|err| AdminError::io("sync", parent, err))?;
    }
    tracing::info!(
        stream = stream.name,
        from = manifest.from,
        to = manifest.to,
        documents,
        dir = %dir.display(),
        "archived"
    );
    Ok(manifest)
}

/// Makes sure `[from, to)` of `stream` is archived: archives the parts no manifest
/// covers. Returns every manifest of the stream and the ranges archived now.
pub async fn ensure_archived(
    ctx: &Ctx,
    stream: &DataStream,
    requests: &Requests,
    archive: &StreamArchive,
    from: i64,
    to: i64,
    dry_run: bool,
) -> Result<(Vec<Manifest>, Vec<ArchivedRange>)> {
    let mut manifests = archive.manifests()?;
    let mut archived = Vec::new();
    for (gap_from, gap_to) in uncovered(&manifests, from, to) {
        let dir = archive.range_dir(gap_from, gap_to);
        let documents = if dry_run {
            count_range(&ctx.cluster, &stream.name, gap_from, gap_to).await?
        } else {
            let manifest = archive_range(ctx, stream, requests, archive, gap_from, gap_to).await?;
            let documents = manifest.documents;
            manifests.push(manifest);
            documents
        };
        archived.push(ArchivedRange {
            from: format_rfc3339(gap_from),
            to: format_rfc3339(gap_to),
            documents,
            dir: dir.display().to_string(),
        });
    }
    manifests.sort_by_key(|m| (m.from_ns, m.to_ns));
    Ok((manifests, archived))
}

/// Deletes a backing index after checking, once more, that its whole time range is
/// archived (or that it is empty).
pub async fn delete_index(
    ctx: &Ctx,
    index: &str,
    bounds: Option<(i64, i64)>,
    manifests: &[Manifest],
) -> Result<()> {
    if let Some((min, max)) = bounds {
        if !covered(manifests, min, max + 1) {
            return Err(AdminError::Failed(format!(
                "refusing to delete {index}: its range {}..{} is not fully archived",
                format_rfc3339(min),
                format_rfc3339(max)
            )));
        }
    }
    ctx.cluster.delete(&format!("/{index}")).await?;
    Ok(())
}

/// Archives and deletes everything of one data stream before `before`.
#[allow(clippy::too_many_arguments)]
pub async fn archive_stream(
    ctx: &Ctx,
    stream: &DataStream,
    requests: &Requests,
    root: &std::path::Path,
    before: i64,
    budget: &mut Option<u64>,
    dbq_supported: &mut Option<bool>,
    dry_run: bool,
) -> Result<StreamReport> {
    let mut report = StreamReport {
        stream: stream.name.clone(),
        dry_run,
        ..Default::default()
    };
    let Some((oldest, _)) = time_bounds(&ctx.cluster, &stream.name, None).await? else {
        return Ok(report);
    };
    report.oldest = Some(format_rfc3339(oldest));
    if oldest >= before {
        return Ok(report);
    }
    let archive = StreamArchive::new(root, &stream.name);
    let already = archive.manifests()?;
    report.already_archived = already
        .iter()
        .filter(|m| m.to_ns > oldest && m.from_ns < before)
        .count();
    let (manifests, archived) =
        ensure_archived(ctx, stream, requests, &archive, oldest, before, dry_run).await?;
    report.archived = archived;

    // Whole backing indices that lie entirely before the cut-off, oldest first.
    for index in &stream.indices {
        let bounds = time_bounds(&ctx.cluster, &index.name, None).await?;
        let deletable = match bounds {
            None => !index.write && index.created_ms.is_some_and(|ms| ms * 1_000_000 < before),
            Some((_, max)) => max < before,
        };
        if !deletable {
            continue;
        }
        let mut bounds = bounds;
        if index.write {
            if dry_run {
                report.rolled_over = Some("(dry run)".into());
            } else {
                let new_index = crate::rollover::roll_over(ctx, &stream.name).await?;
                tracing::info!(
                    stream = stream.name,
                    new_index,
                    "rolled over to free the old write index"
                );
                report.rolled_over = Some(new_index);
                // Writes that raced the rollover landed in the old index; look again.
                bounds = time_bounds(&ctx.cluster, &index.name, None).await?;
                if bounds.is_some_and(|(_, max)| max >= before) {
                    continue;
                }
            }
        }
        if !dry_run {
            delete_index(ctx, &index.name, bounds, &manifests).await?;
            tracing::info!(
                index = index.name,
                docs = index.docs,
                store = %format_size(index.store_bytes),
                "deleted backing index"
            );
        }
        report.deleted_indices.push(DeletedIndex {
            index: index.name.clone(),
            docs: index.docs,
            store_bytes: index.store_bytes,
        });
    }

    // What is left before the cut-off lies in indices that also hold newer documents.
    let left = if dry_run {
        let deleted: u64 = report.deleted_indices.iter().map(|d| d.docs).sum();
        count_range(&ctx.cluster, &stream.name, oldest, before)
            .await?
            .saturating_sub(deleted)
    } else {
        count_range(&ctx.cluster, &stream.name, oldest, before).await?
    };
    report.left_documents = left;
    if left == 0 {
        return Ok(report);
    }
    if !covered(&manifests, oldest, before) && !dry_run {
        return Err(AdminError::Failed(format!(
            "refusing to delete by query in {}: the range is not fully archived",
            stream.name
        )));
    }
    let supported = match dbq_supported {
        Some(known) => *known,
        None => {
            let known = dbq::supported(ctx).await?;
            *dbq_supported = Some(known);
            known
        }
    };
    if !supported {
        report.left_reason = Some(format!(
            "{} has no _delete_by_query; these documents are archived and go when their \
             backing index is deleted",
            ctx.engine
        ));
        return Ok(report);
    }
    if *budget == Some(0) {
        report.left_reason = Some("--max-delete reached; run again to continue".into());
        return Ok(report);
    }
    if dry_run {
        report.left_reason = Some("would be deleted by query (dry run)".into());
        return Ok(report);
    }
    let outcome = dbq::delete(
        ctx,
        &stream.name,
        range_query(oldest, before),
        *budget,
        &format!("deleting from {}", stream.name),
    )
    .await?;
    if let Some(b) = budget.as_mut() {
        *b = b.saturating_sub(outcome.deleted);
    }
    tracing::info!(
        stream = stream.name,
        deleted = outcome.deleted,
        took_ms = outcome.took_ms,
        "deleted by query"
    );
    if !outcome.failures.is_empty() {
        return Err(AdminError::Failed(format!(
            "_delete_by_query in {} reported {} failures: {}",
            stream.name,
            outcome.failures.len(),
            outcome.failures[0]
        )));
    }
    report.left_documents = left.saturating_sub(outcome.deleted);
    if report.left_documents > 0 {
        report.left_reason = Some("--max-delete reached; run again to continue".into());
    }
    report.deleted_by_query = Some(outcome);
    Ok(report)
}

/// Runs the `archive` command.
pub async fn run(ctx: &Ctx, args: &ArchiveArgs) -> Result<()> {
    let requests = Requests::load(
        &args
            .requests
            .requests_dir
            .clone()
            .unwrap_or_else(Requests::default_dir),
    )?;
    let streams = inventory::require_streams(&ctx.cluster, &args.streams.streams).await?;
    let mut budget = args.max_delete;
    let mut dbq_supported = None;
    let mut reports = Vec::new();
    for stream in &streams {
        if stream.kind.is_none() {
            tracing::warn!(stream = stream.name, "not a netsensor data stream; skipped");
            continue;
        }
        let report = archive_stream(
            ctx,
            stream,
            &requests,
            &args.out,
            args.before,
            &mut budget,
            &mut dbq_supported,
            args.dry_run,
        )
        .await?;
        if !ctx.json {
            print_report(&report, args.before);
        }
        reports.push(report);
    }
    if ctx.json {
        let out = json!({
            "before": format_rfc3339(args.before),
            "out": args.out.display().to_string(),
            "dry_run": args.dry_run,
            "streams": reports,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}

fn print_report(r: &StreamReport, before: i64) {
    let would = if r.dry_run { "would be " } else { "" };
    let Some(oldest) = &r.oldest else {
        println!("{}: empty", r.stream);
        return;
    };
    println!(
        "{}: oldest document {oldest}, cut-off {}",
        r.stream,
        format_rfc3339(before)
    );
    if r.archived.is_empty() && r.deleted_indices.is_empty() && r.left_documents == 0 {
        println!("  nothing before the cut-off");
    }
    if r.already_archived > 0 {
        println!("  {} range(s) already archived", r.already_archived);
    }
    for a in &r.archived {
        println!(
            "  {would}archived {} .. {}: {} documents -> {}",
            a.from, a.to, a.documents, a.dir
        );
    }
    if let Some(new) = &r.rolled_over {
        println!("  {would}rolled over to {new}");
    }
    for d in &r.deleted_indices {
        println!(
            "  {would}deleted index {} ({} documents, {})",
            d.index,
            d.docs,
            format_size(d.store_bytes)
        );
    }
    if let Some(o) = &r.deleted_by_query {
        println!(
            "  deleted {} of {} documents by query in {} ms (task {})",
            o.deleted, o.total, o.took_ms, o.task
        );
    }
    if r.left_documents > 0 {
        println!(
            "  left {} documents before the cut-off: {}",
            r.left_documents,
            r.left_reason.as_deref().unwrap_or("")
        );
    }
}
