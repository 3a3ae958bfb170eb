//! Command-line interface (clap derive). Each subcommand's flags are documented here once;
//! `--help` is generated from these comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::capture::replay::Speed;

/// netsensor: capture, decode and enrich network traffic into ECS records.
#[derive(Debug, Parser)]
#[command(name = "netsensor", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture live from the configured interfaces until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Read pcap/pcapng files and emit the same records as live capture.
    Replay(ReplayArgs),
    /// Validate a configuration and print the effective configuration (secrets redacted).
    CheckConfig(CheckConfigArgs),
    /// List capture interfaces with their addresses and flags.
    Interfaces(CommonArgs),
    /// Query the embedded store of flows and rollups.
    Query(QueryArgs),
    /// Print the record schema: the field table as Markdown or JSON.
    Schema(SchemaArgs),
    /// Export machine-learning samples: the first N payload packets of each TCP
    /// connection, anonymized, one raw-IP pcap per connection plus an index CSV.
    Dataset(DatasetArgs),
    /// Write the manual pages (roff) into DIR: netsensor.1 and one netsensor-SUBCOMMAND.1
    /// per subcommand, generated from this command line's definitions. The Debian package
    /// ships them (`packaging/man/`, kept in step by a test).
    #[command(hide = true)]
    Man(ManArgs),
}

/// `man` options.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created when missing).
    pub dir: PathBuf,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Configuration file (YAML).
    #[arg(long, short = 'c', value_name = "FILE", env = "NETSENSOR_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `netsensor run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Processing workers (overrides `pipeline.workers`); each flow stays on one worker.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
}

/// `netsensor replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// pcap or pcapng files, replayed in order.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Record kinds to emit, comma-separated: packet, flow, rollup (default: from the
    /// config, else packet).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub records: Option<Vec<RecordArg>>,
    /// Where NDJSON goes: a file path, or `-` for stdout (default: stdout, unless the
    /// config enables outputs).
    #[arg(long, value_name = "PATH")]
    pub out: Option<String>,
    /// Replay speed: `max`, `realtime` or a factor such as `10`.
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    pub speed: Speed,
    /// Print a short traffic summary (packets by transport, top services and countries)
    /// to stderr at the end.
    #[arg(long)]
    pub summary: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Processing workers (overrides `pipeline.workers`): frames are dispatched by a
    /// direction-free hash of their flow, so each flow stays on one worker; the records
    /// are the same as with one worker, in another order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    /// What a worker that falls behind does: `block` (the reader waits; every record is
    /// kept) or `shed` (as live capture does: flow-consistent sampling past
    /// `pipeline.overload.high_watermark`; records carry `netsensor.sample_rate`, rollups
    /// stay exact).
    #[arg(long, value_enum, default_value_t = OverloadArg::Block)]
    pub overload: OverloadArg,
}

/// `replay --overload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OverloadArg {
    /// Wait for the workers; nothing is left out.
    Block,
    /// Sample flows while a worker's queue is over the high watermark.
    Shed,
}

/// `netsensor check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Configuration file (YAML); same as `--config`.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Also check that each output and capture can be opened.
    #[arg(long)]
    pub connect: bool,
}

/// `netsensor query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Module: traffic, protocols, services, top-destinations, countries, conversations,
    /// flows, tunnels.
    #[arg(value_name = "MODULE")]
    pub module: String,
    /// Time range: `-5m:0` (relative to now), `last-5m:last` (relative to the newest
    /// stored record, for replayed captures) or `START,END` in RFC 3339. Default
    /// `last-1h:last`.
    #[arg(long, allow_hyphen_values = true, value_name = "RANGE")]
    pub time: Option<String>,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only flows with this address on either side (flows, conversations).
    #[arg(long)]
    pub addr: Option<String>,
    /// Only flows with this port on either side (flows, conversations).
    #[arg(long)]
    pub port: Option<String>,
    /// Most rows to return.
    #[arg(long)]
    pub limit: Option<String>,
    /// The database file (default: the store of the configuration).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `netsensor schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = SchemaFormat::Markdown)]
    pub format: SchemaFormat,
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `netsensor dataset` (see docs/dataset.md).
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// pcap or pcapng files, read in order as one capture. Without files, the captures of
    /// the configuration (--config) are read live until SIGINT/SIGTERM or --duration.
    #[arg(value_name = "FILE", required_unless_present = "config")]
    pub files: Vec<PathBuf>,
    /// Configuration whose `captures` are read live (instead of FILEs).
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "files")]
    pub config: Option<PathBuf>,
    /// Live: stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS", conflicts_with = "files")]
    pub duration: Option<u64>,
    /// Output directory (created; must be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Payload packets per sample.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub packets: usize,
    /// Also write connections with fewer than N payload packets.
    #[arg(long)]
    pub allow_short: bool,
    /// Leave out connections with a gap (a segment the capture never saw).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub skip_gapped: bool,
    /// One capture for all samples (samples.pcap) instead of one per connection.
    #[arg(long)]
    pub single_file: bool,
    /// Seconds of silence after which a connection is written and freed.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Most connections held in memory; the least recently active are written first.
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    pub max_connections: usize,
}

/// Formats of `netsensor schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// The field reference as a Markdown page (docs/fields.md).
    Markdown,
    /// The field table as JSON.
    Json,
}

/// A record kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordArg {
    /// One record per frame.
    Packet,
    /// One record per flow, at its end and at each active timeout.
    Flow,
    /// Interval rollups: volumes by transport, service, direction, size class, country,
    /// and the top destinations.
    Rollup,
}

fn parse_speed(text: &str) -> Result<Speed, String> {
    text.parse()
}

impl Cli {
    /// Parses the process arguments.
    pub fn parse_args() -> Self {
        Cli::parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn replay_flags_parse() {
        let cli = Cli::try_parse_from([
            "netsensor",
            "replay",
            "a.pcap",
            "b.pcapng",
            "--records",
            "packet",
            "--out",
            "-",
            "--speed",
            "realtime",
        ])
        .unwrap();
        let Command::Replay(args) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(args.files.len(), 2);
        assert_eq!(args.records, Some(vec![RecordArg::Packet]));
        assert_eq!(args.speed, Speed::Factor(1.0));
        assert!(Cli::try_parse_from(["netsensor", "replay", "a.pcap", "--speed", "0"]).is_err());
        let cli =
            Cli::try_parse_from(["netsensor", "query", "services", "--time", "-5m:0"]).unwrap();
        let Command::Query(args) = cli.command else {
            panic!("not query")
        };
        assert_eq!(args.time.as_deref(), Some("-5m:0"));
    }
}
