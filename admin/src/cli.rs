//! The command line: global connection options and one subcommand per task.
//!
//! Secrets never appear as option values (they would show in `ps` and shell history):
//! passwords and API keys come from files or environment variables.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use netsensor_schema::RecordKind;

use crate::size::parse_size;
use crate::time::{now_ns, parse_duration, parse_time};

/// The data streams the commands act on unless told otherwise.
pub const DEFAULT_STREAMS: &str = "logs-netsensor.*-*";

/// Keeps netsensor's Elasticsearch/OpenSearch indices healthy.
#[derive(Debug, Parser)]
#[command(name = "netsensor-admin", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Machine-readable JSON on stdout instead of tables and sentences.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log detail on stderr (-v debug, -vv trace).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the cluster is and how to authenticate.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Cluster URL.
    #[arg(
        long,
        env = "NETSENSOR_ES_URL",
        default_value = "http://127.0.0.1:9200",
        global = true
    )]
    pub url: String,
    /// User for basic authentication (default `elastic` when a password is given).
    #[arg(long, env = "NETSENSOR_ES_USERNAME", global = true)]
    pub username: Option<String>,
    /// File holding the password (env NETSENSOR_ES_PASSWORD holds it directly).
    #[arg(long, env = "NETSENSOR_ES_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// File holding an encoded API key (env NETSENSOR_ES_API_KEY holds it directly).
    #[arg(long, env = "NETSENSOR_ES_API_KEY_FILE", global = true)]
    pub api_key_file: Option<PathBuf>,
    /// PEM file of the CA that signed the cluster's certificate.
    #[arg(long, env = "NETSENSOR_ES_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request.
    #[arg(long, default_value = "60s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install templates, pipeline and lifecycle policy; create the data streams.
    Setup(SetupArgs),
    /// Data streams, backing indices and node disk use.
    Status(StatusArgs),
    /// Roll data streams over when a condition holds.
    Rollover(RolloverArgs),
    /// Summarize a time range to gzipped JSON files, then delete it.
    Archive(ArchiveArgs),
    /// Delete documents of one data stream by time range or query.
    DeleteByQuery(DeleteByQueryArgs),
    /// Keep disk use and data stream sizes under limits by archiving and deleting the oldest
    /// backing indices.
    Watch(WatchArgs),
    /// The analyst's summary: services, countries, bytes per transport, packet sizes, top
    /// conversations, from the summary requests run over live data.
    Report(ReportArgs),
    /// Write Kibana's saved objects (our dashboards and all they reference) back into
    /// kibana-objects/ in the canonical form; needs no cluster.
    KibanaExport(KibanaExportArgs),
}

/// `kibana-export` options.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["kibana_url", "from"]))]
pub struct KibanaExportArgs {
    /// Kibana URL to export from (credentials and CA as for the cluster).
    #[arg(long, env = "NETSENSOR_KIBANA_URL")]
    pub kibana_url: Option<String>,
    /// Canonicalize this export file (from Kibana's UI or API) instead of asking a Kibana.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// The saved objects directory to write into.
    #[arg(long, value_name = "DIR", default_value = "kibana-objects")]
    pub out: PathBuf,
    /// Also export this dashboard (by id; repeatable); the dashboards already in --out are
    /// always exported.
    #[arg(long = "dashboard", value_name = "ID")]
    pub dashboards: Vec<String>,
}

/// `report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Record kinds to summarize (packet, flow, rollup; repeatable or comma-separated).
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',', value_parser = parse_kind,
          default_value = "packet,flow")]
    pub kinds: Vec<RecordKind>,
    /// Data stream namespace (or pattern).
    #[arg(long, default_value = "*")]
    pub namespace: String,
    /// Only records from this time on (RFC 3339, now-1h, or 1h).
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME")]
    pub since: Option<i64>,
    /// Only records before this time.
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME")]
    pub until: Option<i64>,
    /// Rows shown per table (the rest is summed up in one line).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    #[command(flatten)]
    pub requests: RequestsArgs,
}

/// A record kind by its name.
fn parse_kind(text: &str) -> Result<RecordKind, String> {
    RecordKind::ALL
        .into_iter()
        .find(|kind| kind.name() == text)
        .ok_or_else(|| format!("unknown record kind {text:?} (packet, flow, rollup)"))
}

/// `setup` options.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Kibana URL: also import the saved objects under --kibana-objects.
    #[arg(long, env = "NETSENSOR_KIBANA_URL")]
    pub kibana_url: Option<String>,
    /// Directory of NDJSON saved objects to import into Kibana (its
    /// `opensearch-dashboards/` sub-directory goes to --dashboards-url).
    #[arg(long)]
    pub kibana_objects: Option<PathBuf>,
    /// OpenSearch Dashboards URL: also import the saved objects under
    /// --kibana-objects/opensearch-dashboards.
    #[arg(long, env = "NETSENSOR_DASHBOARDS_URL")]
    pub dashboards_url: Option<String>,
    /// Write a new least-privilege API key for the sensor to this file (mode 0600); needs
    /// security on.
    #[arg(long)]
    pub sensor_api_key_out: Option<PathBuf>,
    /// Name of the sensor API key.
    #[arg(long, default_value = "netsensor-sensor")]
    pub sensor_api_key_name: String,
    /// Namespaces whose data streams are created now (repeatable).
    #[arg(
        long = "namespace",
        value_name = "NAMESPACE",
        default_value = "default"
    )]
    pub namespaces: Vec<String>,
    /// Install templates that cover only namespaces starting with PREFIX (own template
    /// names, higher priority) instead of every namespace.
    #[arg(long, value_name = "PREFIX")]
    pub template_scope: Option<String>,
    /// Do not install or reference a lifecycle policy (ILM/ISM).
    #[arg(long)]
    pub no_lifecycle: bool,
    /// Do not create the roles of the sensor and the admin tool (security on only).
    #[arg(long)]
    pub no_roles: bool,
}

/// Which data streams to act on.
#[derive(Debug, Args, Clone)]
pub struct StreamArgs {
    /// Data stream name or pattern (comma-separated list allowed).
    #[arg(long, default_value = DEFAULT_STREAMS)]
    pub streams: String,
}

/// `status` options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub streams: StreamArgs,
}

/// `rollover` options.
#[derive(Debug, Args)]
pub struct RolloverArgs {
    /// Data streams to roll over.
    #[arg(required = true, value_name = "DATA_STREAM")]
    pub data_streams: Vec<String>,
    /// Roll over when the write index is at least this old (e.g. 1d).
    #[arg(long, value_parser = parse_duration)]
    pub max_age: Option<Duration>,
    /// Roll over when the write index holds at least this many documents.
    #[arg(long)]
    pub max_docs: Option<u64>,
    /// Roll over when a primary shard of the write index is at least this large (e.g. 50gb).
    #[arg(long, value_parser = parse_size)]
    pub max_primary_shard_size: Option<u64>,
    /// Show the decision and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Where the summary requests live.
#[derive(Debug, Args, Clone)]
pub struct RequestsArgs {
    /// Directory of summary requests (`<kind>-<name>.json`); default
    /// /usr/share/netsensor/elasticsearch/requests.d when it exists, else
    /// elasticsearch/requests.d.
    #[arg(long, env = "NETSENSOR_REQUESTS_DIR")]
    pub requests_dir: Option<PathBuf>,
}

/// `archive` options.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive and delete everything older than this (RFC 3339, now-7d, or 7d).
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME")]
    pub before: i64,
    /// Archive directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Delete at most this many documents by query in this run (whole indices do not count).
    #[arg(long, value_name = "N")]
    pub max_delete: Option<u64>,
    /// Show what would be archived and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub streams: StreamArgs,
    #[command(flatten)]
    pub requests: RequestsArgs,
}

/// `delete-by-query` options.
#[derive(Debug, Args)]
pub struct DeleteByQueryArgs {
    /// The data stream.
    #[arg(long)]
    pub stream: String,
    /// Delete documents older than this.
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME", conflicts_with_all = ["from", "to", "query"])]
    pub before: Option<i64>,
    /// Start of the range (inclusive).
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME", requires = "to", conflicts_with = "query")]
    pub from: Option<i64>,
    /// End of the range (exclusive).
    #[arg(long, value_parser = parse_time_arg, value_name = "TIME", requires = "from", conflicts_with = "query")]
    pub to: Option<i64>,
    /// A query in the query DSL, e.g. '{"term":{"source.ip":"10.0.0.1"}}'.
    #[arg(long, value_name = "JSON")]
    pub query: Option<String>,
    /// Delete at most this many documents.
    #[arg(long, value_name = "N")]
    pub max_docs: Option<u64>,
    /// Really delete.
    #[arg(long)]
    pub yes: bool,
}

/// `watch` options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between passes.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// One pass, then exit (for systemd timers and CronJobs).
    #[arg(long)]
    pub once: bool,
    /// Free space when a node's disk use passes this percentage.
    #[arg(long, default_value_t = 85.0, value_name = "PERCENT")]
    pub max_disk_percent: f64,
    /// Free space when a data stream's store size passes this (e.g. 50gb).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_stream_bytes: Option<u64>,
    /// Archive directory (summaries of each index are written here before it is deleted).
    #[arg(long, value_name = "DIR")]
    pub archive_dir: PathBuf,
    #[command(flatten)]
    pub streams: StreamArgs,
    #[command(flatten)]
    pub requests: RequestsArgs,
}

/// TIME arguments relative to the moment the command line is read.
fn parse_time_arg(text: &str) -> Result<i64, String> {
    parse_time(text, now_ns())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn delete_by_query_takes_one_selection() {
        let parse = |args: &[&str]| Cli::try_parse_from(args);
        assert!(parse(&["a", "delete-by-query", "--stream", "s", "--before", "7d"]).is_ok());
        assert!(parse(&["a", "delete-by-query", "--stream", "s", "--from", "2d"]).is_err());
        assert!(parse(&[
            "a",
            "delete-by-query",
            "--stream",
            "s",
            "--before",
            "7d",
            "--query",
            "{}"
        ])
        .is_err());
    }
}
