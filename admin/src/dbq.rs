//! `_delete_by_query` as a task: started with `wait_for_completion=false`, then polled
//! through `_tasks/<id>` until done, so a long deletion neither hits the request timeout
//! nor leaves the operator without figures. Also the `delete-by-query` command.

use std::time::Duration;

use netsensor_elastic::capabilities::Capabilities;
use netsensor_elastic::Error as ClusterError;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::DeleteByQueryArgs;
use crate::connect::{connect, Ctx};
use crate::error::{AdminError, Result};
use crate::inventory::{data_streams, number, range_query};
use crate::time::format_rfc3339;

/// The outcome of one `_delete_by_query` task.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteOutcome {
    /// Task id.
    pub task: String,
    /// Documents the query matched (up to `max_docs`).
    pub total: u64,
    /// Documents deleted.
    pub deleted: u64,
    /// Version conflicts (documents changed meanwhile; skipped).
    pub version_conflicts: u64,
    /// Milliseconds the task took.
    pub took_ms: u64,
    /// Per-document or per-shard failures, as the engine reports them.
    pub failures: Vec<Value>,
}

/// Whether the engine has `_delete_by_query` (the reindex module; missing from the
/// Elasticsearch integ-test distribution), from the shared capability probe.
pub async fn supported(ctx: &Ctx) -> Result<bool> {
    Ok(Capabilities::probe(&ctx.cluster, &ctx.engine)
        .await?
        .delete_by_query)
}

/// Deletes what `query` matches in `target`, at most `max_docs`, and waits for the task.
pub async fn delete(
    ctx: &Ctx,
    target: &str,
    query: Value,
    max_docs: Option<u64>,
    label: &str,
) -> Result<DeleteOutcome> {
    let mut path = format!(
        "/{target}/_delete_by_query?wait_for_completion=false&conflicts=proceed&refresh=true"
    );
    if let Some(max) = max_docs {
        path.push_str(&format!("&max_docs={max}"));
    }
    let started = ctx.cluster.post(&path, &json!({ "query": query })).await?;
    let task = started["task"]
        .as_str()
        .ok_or_else(|| {
            AdminError::Failed(format!(
                "_delete_by_query on {target} answered without a task: {started}"
            ))
        })?
        .to_owned();
    tracing::debug!(%task, target, "delete_by_query started");
    let bar = crate::progress::bar(ctx.terminal && !ctx.json, 0, label);
    let mut failed_polls = 0;
    let status = loop {
        let answer = match ctx.cluster.get(&format!("/_tasks/{task}")).await {
            Ok(answer) => answer,
            Err(err) if err.is_retryable() && failed_polls < 10 => {
                failed_polls += 1;
                tracing::warn!(%task, error = %err, "polling the delete task failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        failed_polls = 0;
        let progress = &answer["task"]["status"];
        bar.set_length(number(&progress["total"]));
        bar.set_position(number(&progress["deleted"]));
        if answer["completed"].as_bool() == Some(true) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    if status.get("error").is_some_and(|e| !e.is_null()) {
        return Err(AdminError::Failed(format!(
            "_delete_by_query task {task} on {target} failed: {}",
            status["error"]
        )));
    }
    let response = &status["response"];
    Ok(DeleteOutcome {
        task,
        total: number(&response["total"]),
        deleted: number(&response["deleted"]),
        version_conflicts: number(&response["version_conflicts"]),
        took_ms: number(&response["took"]),
        failures: response["failures"].as_array().cloned().unwrap_or_default(),
    })
}

/// Runs the `delete-by-query` command.
pub async fn run(args: &DeleteByQueryArgs, cli: &crate::cli::Cli) -> Result<()> {
    if !args.yes {
        return Err(AdminError::Usage(format!(
            "refusing to delete documents from {} without --yes",
            args.stream
        )));
    }
    let query = match (&args.before, &args.from, &args.to, &args.query) {
        (Some(before), None, None, None) => json!({"range": {"@timestamp": {
            "lt": format_rfc3339(*before),
            "format": "strict_date_optional_time_nanos",
        }}}),
        (None, Some(from), Some(to), None) if from < to => range_query(*from, *to),
        (None, Some(_), Some(_), None) => {
            return Err(AdminError::Usage("--from must be before --to".into()))
        }
        (None, None, None, Some(text)) => {
            let query: Value = serde_json::from_str(text)
                .map_err(|err| AdminError::Usage(format!("--query is not JSON: {err}")))?;
            if !query.is_object() {
                return Err(AdminError::Usage("--query must be a JSON object".into()));
            }
            query
        }
        _ => {
            return Err(AdminError::Usage(
                "give one of --before, --from with --to, or --query".into(),
            ))
        }
    };
    if args.stream.contains(['*', ',']) {
        return Err(AdminError::Usage(format!(
            "--stream takes one data stream name, not a pattern: {}",
            args.stream
        )));
    }
    let ctx = connect(&cli.connection, cli.json).await?;
    let streams = data_streams(&ctx.cluster, &args.stream).await?;
    if !streams.iter().any(|s| s.name == args.stream) {
        return Err(AdminError::Missing(format!(
            "data stream {} does not exist",
            args.stream
        )));
    }
    if !supported(&ctx).await? {
        return Err(AdminError::Unsupported(format!(
            "{} has no _delete_by_query (the reindex module is not installed); delete whole \
             backing indices with `archive` or `watch` instead",
            ctx.engine
        )));
    }
    let outcome = delete(&ctx, &args.stream, query, args.max_docs, "deleting").await;
    let outcome = match outcome {
        Err(AdminError::Cluster(ClusterError::Status {
            status: 400,
            reason,
            ..
        })) => {
            return Err(AdminError::Usage(format!(
                "the cluster rejected the query: {reason}"
            )))
        }
        other => other?,
    };
    if ctx.json {
        let mut v = serde_json::to_value(&outcome).unwrap_or_default();
        v["stream"] = json!(args.stream);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "{}: deleted {} of {} documents in {} ms (task {}), {} version conflicts, {} failures",
            args.stream,
            outcome.deleted,
            outcome.total,
            outcome.took_ms,
            outcome.task,
            outcome.version_conflicts,
            outcome.failures.len()
        );
        for failure in outcome.failures.iter().take(10) {
            println!("  failure: {failure}");
        }
    }
    if !outcome.failures.is_empty() {
        return Err(AdminError::Failed(format!(
            "{} documents could not be deleted",
            outcome.failures.len()
        )));
    }
    Ok(())
}
