//! `rollover`: decided here from the write index's figures rather than by the engine's
//! conditional rollover, so the decision and the numbers behind it are printed the same
//! way on both engines (and `--dry-run` needs no server-side support).

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::RolloverArgs;
use crate::connect::Ctx;
use crate::error::{AdminError, Result};
use crate::inventory::{data_streams, DataStream};
use crate::size::format_size;
use crate::time::{format_age, now_ns};

/// The conditions of a rollover; none set means "roll over now".
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// Write index at least this old.
    pub max_age: Option<Duration>,
    /// Write index with at least this many documents.
    pub max_docs: Option<u64>,
    /// A primary shard of the write index at least this large.
    pub max_primary_shard_size: Option<u64>,
}

/// The decision for one data stream, with the figures it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Data stream.
    pub data_stream: String,
    /// Write index before the rollover.
    pub write_index: String,
    /// Its age in seconds (from the creation date).
    pub age_seconds: Option<u64>,
    /// Its documents.
    pub docs: u64,
    /// Its largest primary shard, bytes.
    pub largest_primary_shard_bytes: u64,
    /// Whether to roll over.
    pub roll_over: bool,
    /// Why (the conditions that hold, or why not).
    pub reasons: Vec<String>,
}

/// Decides for one data stream.
pub fn decide(stream: &DataStream, conditions: &Conditions, now_ms: i64) -> Option<Decision> {
    let write = stream.write_index()?;
    let age = write
        .created_ms
        .map(|ms| Duration::from_millis((now_ms - ms).max(0) as u64));
    let mut reasons = Vec::new();
    let any = conditions.max_age.is_some()
        || conditions.max_docs.is_some()
        || conditions.max_primary_shard_size.is_some();
    if let (Some(max), Some(age)) = (conditions.max_age, age) {
        if age >= max {
            reasons.push(format!("age {} >= {}", format_age(age), format_age(max)));
        }
    }
    if let Some(max) = conditions.max_docs {
        if write.docs >= max {
            reasons.push(format!("docs {} >= {max}", write.docs));
        }
    }
    if let Some(max) = conditions.max_primary_shard_size {
        if write.largest_primary_shard_bytes >= max {
            reasons.push(format!(
                "primary shard {} >= {}",
                format_size(write.largest_primary_shard_bytes),
                format_size(max)
            ));
        }
    }
    let roll_over = if !any {
        reasons.push("no condition given: unconditional".into());
        true
    } else if reasons.is_empty() {
        reasons.push("no condition holds".into());
        false
    } else if write.docs == 0 {
        // An empty write index gains nothing from a rollover but one more empty index.
        reasons = vec!["write index is empty".into()];
        false
    } else {
        true
    };
    Some(Decision {
        data_stream: stream.name.clone(),
        write_index: write.name.clone(),
        age_seconds: age.map(|a| a.as_secs()),
        docs: write.docs,
        largest_primary_shard_bytes: write.largest_primary_shard_bytes,
        roll_over,
        reasons,
    })
}

/// `POST <stream>/_rollover`; returns the new write index.
pub async fn roll_over(ctx: &Ctx, stream: &str) -> Result<String> {
    let answer = ctx
        .cluster
        .post(&format!("/{stream}/_rollover"), &json!({}))
        .await?;
    answer["new_index"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            AdminError::Failed(format!(
                "rollover of {stream} answered without new_index: {answer}"
            ))
        })
}

/// Runs the `rollover` command.
pub async fn run(ctx: &Ctx, args: &RolloverArgs) -> Result<()> {
    let conditions = Conditions {
        max_age: args.max_age,
        max_docs: args.max_docs,
        max_primary_shard_size: args.max_primary_shard_size,
    };
    let now_ms = now_ns() / 1_000_000;
    let mut results: Vec<Value> = Vec::new();
    for name in &args.data_streams {
        if name.contains(['*', ',']) {
            return Err(AdminError::Usage(format!(
                "rollover takes data stream names, not patterns: {name}"
            )));
        }
        let streams = data_streams(&ctx.cluster, name).await?;
        let Some(stream) = streams.iter().find(|s| &s.name == name) else {
            return Err(AdminError::Missing(format!(
                "data stream {name} does not exist"
            )));
        };
        let Some(decision) = decide(stream, &conditions, now_ms) else {
            return Err(AdminError::Failed(format!(
                "data stream {name} has no write index"
            )));
        };
        let new_index = if decision.roll_over && !args.dry_run {
            Some(roll_over(ctx, name).await?)
        } else {
            None
        };
        if ctx.json {
            let mut v = serde_json::to_value(&decision).unwrap_or_default();
            v["dry_run"] = json!(args.dry_run);
            v["rolled_over"] = json!(new_index.is_some());
            v["new_index"] = json!(new_index);
            results.push(v);
        } else {
            let age = decision
                .age_seconds
                .map(|s| format_age(Duration::from_secs(s)))
                .unwrap_or_else(|| "?".into());
            let verdict = match (&new_index, decision.roll_over) {
                (Some(new), _) => format!("rolled over to {new}"),
                (None, true) => "would roll over (dry run)".into(),
                (None, false) => "not rolled over".into(),
            };
            println!(
                "{name}: {verdict}: {}; write index {} age {age}, docs {}, largest primary shard {}",
                decision.reasons.join(", "),
                decision.write_index,
                decision.docs,
                format_size(decision.largest_primary_shard_bytes),
            );
        }
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "rollovers": results })).unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::BackingIndex;

    fn stream(docs: u64, created_ms: i64, shard: u64) -> DataStream {
        DataStream {
            name: "logs-netsensor.flow-t".into(),
            kind: None,
            indices: vec![BackingIndex {
                name: ".ds-logs-netsensor.flow-t-000001".into(),
                generation: 1,
                write: true,
                docs,
                store_bytes: shard,
                primary_store_bytes: shard,
                largest_primary_shard_bytes: shard,
                primaries: 1,
                replicas: 0,
                shards_started: 1,
                shards_total: 1,
                health: "green".into(),
                created_ms: Some(created_ms),
            }],
        }
    }

    #[test]
    fn any_condition_rolls_over() {
        let day = 86_400_000;
        let by_age = Conditions {
            max_age: Some(Duration::from_secs(86_400)),
            max_docs: Some(1000),
            ..Default::default()
        };
        assert!(
            decide(&stream(5, 0, 10), &by_age, 2 * day)
                .unwrap()
                .roll_over
        );
        assert!(
            !decide(&stream(5, day, 10), &by_age, day + 1)
                .unwrap()
                .roll_over
        );
        assert!(
            decide(&stream(1000, day, 10), &by_age, day + 1)
                .unwrap()
                .roll_over
        );
        let by_size = Conditions {
            max_primary_shard_size: Some(100),
            ..Default::default()
        };
        assert!(decide(&stream(1, 0, 100), &by_size, 0).unwrap().roll_over);
        assert!(!decide(&stream(0, 0, 100), &by_size, 0).unwrap().roll_over);
        assert!(
            decide(&stream(0, 0, 0), &Conditions::default(), 0)
                .unwrap()
                .roll_over
        );
    }
}
