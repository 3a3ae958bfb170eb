//! The subcommands: configuration → running parts. Kept apart from `main.rs` so the
//! binary stays a thin shell and the commands can be tested.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use netsensor_schema::{RecordKind, FIELDS};
use tracing::{info, warn};

use crate::capture::live::{self, LiveCapture, LiveSettings};
use crate::capture::offline::PcapFile;
use crate::capture::replay::Replay;
use crate::capture::select::Selector;
use crate::capture::{LiveSource, SourceInfo};
use crate::cli::{
    CheckConfigArgs, Cli, Command, CommonArgs, DatasetArgs, ManArgs, QueryArgs, RecordArg,
    ReplayArgs, RunArgs, SchemaArgs, SchemaFormat,
};
use crate::config::{self, Config};
use crate::decode::DecodeOptions;
use crate::enrich::{Enricher, GeoIp, GeoPaths, Pseudonymizer};
use crate::outputs::elasticsearch;
use crate::outputs::file::{FileOutput, FileSettings};
use crate::outputs::sqlite::{self, SqliteOutput, SqliteSettings};
use crate::outputs::stdout::StdoutOutput;
use crate::outputs::Output;
use crate::pipeline::{self, Processor, QueueSettings, RecordSettings, RunReport};
use crate::records::id::{hash64, live_seed};
use crate::records::{FlowSettings, PacketBuilder, RollupSettings};
use crate::telemetry::{self, Health, Metrics};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_live(args),
        Command::Replay(args) => replay(args),
        Command::CheckConfig(args) => check_config(args),
        Command::Interfaces(args) => interfaces(args),
        Command::Query(args) => query(args),
        Command::Schema(args) => schema(args),
        Command::Dataset(args) => dataset(args),
        Command::Man(args) => man(args),
    }
}

/// `netsensor man DIR`: the manual pages, from the clap definitions: `netsensor.1` and one
/// page per visible subcommand (`netsensor-replay.1`, ...), which the main page refers to.
fn man(args: ManArgs) -> Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let top = Cli::command();
    let mut pages = vec![("netsensor".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("netsensor-{}", sub.get_name());
        // The page's title is the display name; the synopsis shows the bin name.
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("netsensor {}", sub.get_name()));
        pages.push((name, page));
    }
    for (name, command) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .with_context(|| format!("cannot render the manual page {name}"))?;
        let path = args.dir.join(format!("{name}.1"));
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `netsensor dataset`: prints the summary line; exits 3 when a capture file was damaged.
fn dataset(args: DatasetArgs) -> Result<ExitCode> {
    let settings = crate::dataset::Settings {
        packets: args.packets,
        allow_short: args.allow_short,
        skip_gapped: args.skip_gapped,
        single_file: args.single_file,
        idle_timeout_ns: i64::try_from(args.idle_timeout.saturating_mul(1_000_000_000))
            .unwrap_or(i64::MAX),
        max_connections: args.max_connections,
        ..Default::default()
    };
    let summary = match &args.config {
        None => crate::dataset::export(&args.files, &args.out, settings)?,
        Some(path) => {
            let config = config::load(path)?;
            let captures = crate::dataset::live::open_captures(&config)?;
            let names: Vec<&str> = captures.iter().map(|c| c.name()).collect();
            eprintln!(
                "dataset: capturing on {} (SIGINT or SIGTERM ends the export)",
                names.join(", ")
            );
            let duration = args.duration.map(std::time::Duration::from_secs);
            let (summary, counts) = crate::dataset::live::export_live(
                captures,
                &args.out,
                settings,
                stop_flag()?,
                duration,
            )?;
            eprintln!(
                "dataset: {} frames dropped by the kernel while capturing",
                counts.kernel_dropped
            );
            summary
        }
    };
    for error in &summary.read_errors {
        eprintln!("netsensor: {error}");
    }
    eprintln!("{}", summary.line(&settings));
    Ok(if summary.read_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn load_config(common: &CommonArgs) -> Result<Config> {
    match &common.config {
        Some(path) => Ok(config::load(path)?),
        None => Ok(Config::default_for_replay()),
    }
}

fn init_logging(config: &Config) -> Result<telemetry::LogGuard> {
    let logging = &config.logging;
    let settings = telemetry::LogSettings {
        filter: logging.level.clone(),
        format: match logging.format {
            config::LogFormat::Text => telemetry::LogFormat::Text,
            config::LogFormat::Json => telemetry::LogFormat::Json,
        },
        target: match &logging.file {
            None => telemetry::LogTarget::Stderr,
            Some(file) => telemetry::LogTarget::File(telemetry::logging::RotationSettings {
                dir: file.directory.clone(),
                rotate_bytes: file.rotate_bytes,
                keep_files: file.keep_files as usize,
            }),
        },
    };
    telemetry::logging::init(&settings).context("cannot set up logging")
}

fn build_enricher(config: &Config) -> Result<Enricher> {
    let geo = &config.enrichment.geoip;
    let paths = GeoPaths {
        country: geo.country_database.clone(),
        city: geo.city_database.clone(),
        asn: geo.asn_database.clone(),
    };
    let geoip = GeoIp::open(&paths).context("cannot open the GeoIP databases")?;
    for db in geoip.databases() {
        info!(
            kind = ?db.kind,
            path = %db.path.display(),
            database_type = db.database_type,
            build_epoch = db.build_epoch,
            "GeoIP database opened."
        );
    }
    Ok(Enricher {
        geoip,
        community_id_seed: config.enrichment.community_id_seed,
        os_guess: config.enrichment.os_guess,
        app_layer: config.enrichment.app_layer,
        scrub_urls: config.privacy.scrub_urls,
        pseudonymizer: config.privacy.pseudonymize_key().map(Pseudonymizer::new),
    })
}

fn configured_outputs(
    config: &Config,
    metrics: &Metrics,
    health: &Health,
    mode: elasticsearch::Mode,
) -> Result<Vec<Box<dyn Output>>> {
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    if config.outputs.stdout.enabled {
        outputs.push(Box::new(StdoutOutput::new()));
    }
    if let Some(file) = &config.outputs.file {
        outputs.push(Box::new(open_file_output(
            &file.path,
            file.rotate_bytes,
            file.keep_files,
        )?));
    }
    if let Some(store) = &config.outputs.sqlite {
        let settings = SqliteSettings {
            path: store.path.clone(),
            retention_secs: store.retention_secs,
            max_bytes: store.max_bytes,
        };
        let output = SqliteOutput::open(&settings)
            .with_context(|| format!("cannot open the store {}", store.path.display()))?;
        outputs.push(Box::new(output));
    }
    if let Some(es) = &config.outputs.elasticsearch {
        let settings = elasticsearch::ElasticsearchSettings::from_config(es, mode);
        let output = elasticsearch::ElasticsearchOutput::start(settings, metrics, health)?;
        info!(urls = ?es.urls, namespace = %es.namespace, "Sending records to Elasticsearch/OpenSearch.");
        outputs.push(Box::new(output));
    }
    if let Some(kafka) = &config.outputs.kafka {
        let settings = crate::outputs::kafka::KafkaSettings::from_config(kafka, mode);
        let output = crate::outputs::kafka::KafkaOutput::start(settings, metrics, health)?;
        info!(brokers = ?kafka.brokers, topics = ?kafka.topics, "Sending records to Kafka.");
        outputs.push(Box::new(output));
    }
    if let Some(filebeat) = &config.outputs.filebeat {
        let output = crate::outputs::filebeat::start(filebeat, mode, metrics, health)
            .context("outputs.filebeat: cannot start")?;
        info!(output = ?filebeat, "Writing records for Filebeat.");
        outputs.push(output);
    }
    Ok(outputs)
}

fn open_file_output(path: &Path, rotate_bytes: u64, keep_files: u32) -> Result<FileOutput> {
    FileOutput::open(FileSettings {
        path: path.to_owned(),
        rotate_bytes,
        keep_files,
    })
    .with_context(|| format!("cannot open output file {}", path.display()))
}

/// What to emit for the requested record kinds.
fn record_settings(
    kinds: impl IntoIterator<Item = RecordKind>,
    config: &Config,
    run: u64,
) -> Result<RecordSettings> {
    let mut settings = RecordSettings {
        packets: false,
        flows: None,
        rollups: None,
        run,
    };
    for kind in kinds {
        match kind {
            RecordKind::Packet => settings.packets = true,
            RecordKind::Flow => settings.flows = Some(flow_settings(config)),
            RecordKind::Rollup => {
                let interval_ms = u64::try_from(config.rollups.interval.as_millis()).unwrap_or(0);
                settings.rollups = Some(RollupSettings::from_millis(
                    interval_ms,
                    config.rollups.top_n,
                )?);
            }
        }
    }
    Ok(settings)
}

/// The identity of a replay: the contents of its files (path and error text for files
/// that do not open; the replay reports those).
fn replay_identity(files: &[PathBuf]) -> u64 {
    let mut identity = Vec::with_capacity(files.len() * 8);
    for path in files {
        match PcapFile::open(path) {
            Ok(file) => identity.extend_from_slice(&file.identity().to_le_bytes()),
            Err(err) => identity.extend_from_slice(err.to_string().as_bytes()),
        }
    }
    hash64(&identity)
}

fn flow_settings(config: &Config) -> FlowSettings {
    let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    FlowSettings {
        idle_timeout_ns: nanos(config.flows.idle_timeout),
        active_timeout_ns: nanos(config.flows.active_timeout),
        linger_ns: nanos(config.flows.linger),
        max_flows: config.flows.max_flows,
    }
}

fn start_metrics(
    config: &Config,
    metrics: &Metrics,
    health: &Health,
) -> Result<Option<telemetry::ListenerHandle>> {
    match &config.listeners.metrics {
        Some(listener) => {
            let handle =
                telemetry::server::spawn(listener.address, metrics.clone(), health.clone())
                    .context("cannot start the metrics listener (listeners.metrics)")?;
            info!(address = %handle.local_addr(), "Serving /metrics, /healthz and /readyz.");
            Ok(Some(handle))
        }
        None => Ok(None),
    }
}

/// Starts the OTLP exporter when `telemetry.otlp` is configured; keep the handle alive.
fn start_otlp(config: &Config, metrics: &Metrics) -> Result<Option<telemetry::OtlpExporter>> {
    let Some(otlp) = &config.telemetry.otlp else {
        return Ok(None);
    };
    let settings = telemetry::OtlpSettings {
        endpoint: otlp.endpoint.clone(),
        interval: otlp.interval,
        headers: otlp
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().clone()))
            .collect(),
        service_version: env!("CARGO_PKG_VERSION").into(),
    };
    let exporter = telemetry::otlp::spawn(settings, metrics.clone())
        .context("cannot start the OTLP metrics exporter")?;
    info!(endpoint = %otlp.endpoint, "Exporting metrics over OTLP.");
    Ok(Some(exporter))
}

/// Serves `GET /query` on the store when both the store and the query listener are on.
fn start_query_listener(config: &Config) -> Result<Option<telemetry::ListenerHandle>> {
    let (Some(store), Some(listener)) = (&config.outputs.sqlite, &config.listeners.query) else {
        return Ok(None);
    };
    let handle =
        telemetry::server::spawn_router(listener.address, sqlite::http::router(store.path.clone()))
            .context("cannot start the query listener (listeners.query)")?;
    info!(address = %handle.local_addr(), "Serving /query on the embedded store.");
    Ok(Some(handle))
}

fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    Ok(stop)
}

fn new_metrics() -> Metrics {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Metrics::with_build(env!("CARGO_PKG_VERSION"), start)
}

fn replay(args: ReplayArgs) -> Result<ExitCode> {
    let mut config = load_config(&args.common)?;
    let _log = init_logging(&config)?;
    let kinds: Vec<RecordKind> = match &args.records {
        Some(list) => list
            .iter()
            .map(|r| match r {
                RecordArg::Packet => RecordKind::Packet,
                RecordArg::Flow => RecordKind::Flow,
                RecordArg::Rollup => RecordKind::Rollup,
            })
            .collect(),
        None => config.records.iter().collect(),
    };
    let records = record_settings(kinds, &config, replay_identity(&args.files))?;
    // --out replaces the configured outputs (the store included) with one NDJSON stream.
    if args.out.is_some() {
        config.outputs.stdout.enabled = false;
        config.outputs.file = None;
        config.outputs.sqlite = None;
        config.outputs.elasticsearch = None;
        config.outputs.kafka = None;
        config.outputs.filebeat = None;
    }
    let metrics = new_metrics();
    let health = Health::new(&metrics);
    let outputs: Vec<Box<dyn Output>> = match args.out.as_deref() {
        Some("-") => vec![Box::new(StdoutOutput::new())],
        Some(path) => vec![Box::new(open_file_output(Path::new(path), 0, 0)?)],
        None if !config.outputs.any_enabled() => vec![Box::new(StdoutOutput::new())],
        None => configured_outputs(&config, &metrics, &health, elasticsearch::Mode::Replay)?,
    };
    let to_stdout = args.out.as_deref() == Some("-")
        || (args.out.is_none() && (config.outputs.stdout.enabled || !config.outputs.any_enabled()));
    replay_with(args, &config, records, outputs, to_stdout, metrics, health)
}

fn replay_with(
    args: ReplayArgs,
    config: &Config,
    records: RecordSettings,
    outputs: Vec<Box<dyn Output>>,
    to_stdout: bool,
    metrics: Metrics,
    health: Health,
) -> Result<ExitCode> {
    let _listener = start_metrics(config, &metrics, &health)?;
    let _query = start_query_listener(config)?;
    let _otlp = start_otlp(config, &metrics)?;
    let enricher = Arc::new(build_enricher(config)?);
    let workers = args
        .workers
        .map_or(config.pipeline.workers, usize::from)
        .max(1);
    let decode = decode_options(config, config.tunnels.decapsulate);
    let processor = Processor::with_workers(
        builders(&enricher, config, workers, &decode),
        records,
        outputs,
        &metrics,
        &health,
        args.summary,
    );
    let processor = if args.overload == crate::cli::OverloadArg::Shed {
        processor.with_shedding(shed_settings(config))
    } else {
        processor
    };
    info!(workers, "Replaying.");
    let progress = (!args.no_progress && !to_stdout && std::io::stderr().is_terminal())
        .then(|| progress_bar(&args.files));
    let replay = Replay::new(args.files.clone(), &config.sensor.name, args.speed);
    let queue = QueueSettings {
        batch_frames: config.pipeline.batch_size,
        queue_batches: config.pipeline.queue_batches,
    };
    let report = pipeline::run_replay(replay, processor, queue, stop_flag()?, progress);
    finish(report, true)
}

/// One packet builder per worker, decoding as `decode` says.
fn builders(
    enricher: &Arc<Enricher>,
    config: &Config,
    workers: usize,
    decode: &DecodeOptions,
) -> Vec<PacketBuilder> {
    (0..workers.max(1))
        .map(|_| {
            PacketBuilder::new(
                Arc::clone(enricher),
                &config.sensor.name,
                &config.sensor.hostname,
            )
            .with_decode_options(decode.clone())
        })
        .collect()
}

fn progress_bar(files: &[PathBuf]) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} frames ({per_sec}) {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(format!("{} file(s)", files.len()));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Logs the run's figures and picks the exit code. With `lost_fails` (replay), records an
/// output lost make the run fail (exit 3); a live run that was told to stop still exits 0
/// (a supervisor must not restart it for that), and its metrics carry the losses.
fn finish(report: RunReport, lost_fails: bool) -> Result<ExitCode> {
    let rate = report.packets as f64 / report.elapsed_secs.max(1e-9);
    info!(
        packets = report.packets,
        records = report.records,
        seconds = format!("{:.3}", report.elapsed_secs),
        packets_per_sec = format!("{rate:.0}"),
        shed = report.shed,
        "Run finished."
    );
    if let Some(summary) = &report.summary {
        eprint!("{}", summary.render(report.packets));
    }
    for error in report.file_errors.iter().chain(&report.capture_errors) {
        eprintln!("netsensor: {error}");
    }
    if !report.file_errors.is_empty() || !report.capture_errors.is_empty() {
        // Not 0: a supervisor (systemd Restart=on-failure) must see the capture died.
        return Ok(ExitCode::from(2));
    }
    if report.records_lost > 0 {
        let lost = report.records_lost;
        warn!(records = lost, "Records were not delivered: dropped (spool full) or rejected (see the dead-letter file); netsensor_output_records_total counts them.");
        if lost_fails {
            eprintln!("netsensor: {lost} record(s) were not delivered (dropped or rejected)");
            return Ok(ExitCode::from(3));
        }
    }
    if report.output_errors > 0 {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_live(args: RunArgs) -> Result<ExitCode> {
    let mut config = match &args.common.config {
        Some(path) => config::load(path)?,
        None => zero_config()?,
    };
    if let Some(workers) = args.workers {
        config.pipeline.workers = usize::from(workers);
    }
    let _log = init_logging(&config)?;
    let run_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let records = record_settings(config.records.iter(), &config, run_start as u64)?;
    if config.captures.is_empty() {
        bail!("no captures configured (add at least one under `captures:`)");
    }
    let metrics = new_metrics();
    let health = Health::new(&metrics);
    let _listener = start_metrics(&config, &metrics, &health)?;
    let _query = start_query_listener(&config)?;
    let _otlp = start_otlp(&config, &metrics)?;
    let enricher = Arc::new(build_enricher(&config)?);
    let mut outputs = configured_outputs(&config, &metrics, &health, elasticsearch::Mode::Live)?;
    if outputs.is_empty() {
        warn!("No output is enabled; writing records to stdout.");
        outputs.push(Box::new(StdoutOutput::new()));
    }
    let workers = config.pipeline.workers.max(1);
    let mut opener = CaptureOpener {
        config: config.clone(),
        workers,
        run_start,
        opened: 0,
        selectors: Vec::new(),
    };
    let captures = opener.open_configured()?;
    let rescan: Option<Box<dyn pipeline::Rescan>> =
        (!opener.selectors.is_empty()).then(|| Box::new(opener) as Box<dyn pipeline::Rescan>);
    let decode = live_decode_options(&config)?;
    let processor = Processor::with_workers(
        builders(&enricher, &config, workers, &decode),
        records,
        outputs,
        &metrics,
        &health,
        false,
    );
    let processor = match config.pipeline.overload.mode {
        config::OverloadMode::Shed => processor.with_shedding(shed_settings(&config)),
        config::OverloadMode::Block => processor,
    };
    info!(workers, "Capturing.");
    let queue = QueueSettings {
        batch_frames: config.pipeline.batch_size,
        queue_batches: config.pipeline.queue_batches,
    };
    let report = pipeline::run_live(captures, rescan, processor, queue, stop_flag()?);
    finish(report, false)
}

/// Load shedding from `pipeline.overload`; the seed is the observer's, so a run is
/// repeatable and two sensors sample the same flows.
fn shed_settings(config: &Config) -> pipeline::shed::ShedSettings {
    pipeline::shed::ShedSettings {
        high_watermark: config.pipeline.overload.high_watermark,
        low_watermark: config.pipeline.overload.low_watermark,
        seed: crate::records::id::observer_seed(&config.sensor.name),
    }
}

/// How frames are decoded: `config.tunnels`, decapsulating or not.
fn decode_options(config: &Config, decapsulate: bool) -> DecodeOptions {
    let tunnels = &config.tunnels;
    DecodeOptions {
        decapsulate,
        max_depth: tunnels.max_depth,
        vxlan_ports: tunnels.vxlan_ports.clone(),
        geneve_ports: tunnels.geneve_ports.clone(),
    }
}

/// Live decoding: the captures' `decapsulate` (the workers decode every capture's frames
/// alike, so captures that disagree are refused rather than decoded wrongly).
fn live_decode_options(config: &Config) -> Result<DecodeOptions> {
    let mut settings = config.captures.iter().map(|c| c.decapsulate);
    let decapsulate = settings.next().unwrap_or(config.tunnels.decapsulate);
    if settings.any(|d| d != decapsulate) {
        bail!(
            "captures: `decapsulate` differs between captures, which is not supported yet \
             (the workers decode every capture alike); set it once under `tunnels:`"
        );
    }
    Ok(decode_options(config, decapsulate))
}

/// Opens the configured captures' sources: a capture naming one interface opens it at
/// start (an error ends the run, as a typo should); a capture with globs opens every
/// interface they select and is re-evaluated every `rescan_interval_ms` (see
/// [`pipeline::Rescan`]). Each source gets its own packet id seed.
struct CaptureOpener {
    config: Config,
    workers: usize,
    run_start: i64,
    /// Sources opened so far (part of each one's id seed, so an interface created again
    /// under its old name does not repeat packet ids).
    opened: u32,
    /// Glob captures: their index and selector.
    selectors: Vec<(usize, Selector)>,
}

impl CaptureOpener {
    fn open_configured(&mut self) -> Result<Vec<pipeline::LiveInput>> {
        let mut sources = Vec::new();
        let captures = self.config.captures.clone();
        for (index, capture) in captures.iter().enumerate() {
            if let Some(name) = capture.selection.single_name() {
                sources.extend(self.open(capture, name)?);
                continue;
            }
            let mut selector = Selector::for_capture(capture);
            let selected = selector
                .poll()
                .with_context(|| format!("captures[{index}]: cannot list interfaces"))?;
            if selected.added.is_empty() {
                warn!(capture = %capture.interface, rescan_ms = capture.rescan.as_millis() as u64,
                    "No interface matches yet; looking again every rescan interval.");
            }
            for name in &selected.added {
                sources.extend(self.open(capture, name)?);
            }
            self.selectors.push((index, selector));
        }
        Ok(sources)
    }

    /// Opens one interface of a capture: one libpcap handle, or one AF_PACKET ring per
    /// worker in one fanout group.
    fn open(
        &mut self,
        capture: &config::CaptureConfig,
        interface: &str,
    ) -> Result<Vec<pipeline::LiveInput>> {
        let mut settings = live_settings(capture);
        settings.interface = interface.to_owned();
        let sources: Vec<Box<dyn LiveSource>> = match capture.backend {
            config::CaptureBackend::Pcap => vec![Box::new(LiveCapture::open(settings)?)],
            config::CaptureBackend::AfPacket => open_af_packet(settings, capture, self.workers)?,
        };
        let backend = match capture.backend {
            config::CaptureBackend::Pcap => "pcap",
            config::CaptureBackend::AfPacket => "af_packet",
        };
        info!(
            interface,
            backend,
            sources = sources.len(),
            "Capture opened."
        );
        let local_macs: Vec<[u8; 6]> = live::interface_mac(interface).into_iter().collect();
        Ok(sources
            .into_iter()
            .map(|source| {
                self.opened = self.opened.wrapping_add(1);
                let info = Arc::new(SourceInfo {
                    interface: interface.to_owned(),
                    id_seed: live_seed(
                        &self.config.sensor.name,
                        interface,
                        self.opened,
                        self.run_start,
                    ),
                    local_macs: local_macs.clone(),
                    fixed_direction: capture.direction.fixed_network_direction(),
                });
                (source, info)
            })
            .collect())
    }
}

#[cfg(target_os = "linux")]
fn open_af_packet(
    settings: LiveSettings,
    capture: &config::CaptureConfig,
    workers: usize,
) -> Result<Vec<Box<dyn LiveSource>>> {
    use crate::capture::afpacket::{AfPacketGroup, AfPacketSettings};
    let settings = AfPacketSettings::from_config(settings, &capture.af_packet);
    Ok(AfPacketGroup::open(&settings, workers)?
        .into_iter()
        .map(|ring| Box::new(ring) as Box<dyn LiveSource>)
        .collect())
}

#[cfg(not(target_os = "linux"))]
fn open_af_packet(
    settings: LiveSettings,
    _capture: &config::CaptureConfig,
    _workers: usize,
) -> Result<Vec<Box<dyn LiveSource>>> {
    bail!("{}: backend af_packet needs Linux", settings.interface)
}

impl pipeline::Rescan for CaptureOpener {
    fn until_due(&self) -> std::time::Duration {
        let now = std::time::Instant::now();
        self.selectors
            .iter()
            .map(|(_, s)| s.until_due(now))
            .min()
            .unwrap_or(std::time::Duration::from_secs(5))
    }

    fn rescan(&mut self) -> pipeline::RescanChanges {
        let mut changes = pipeline::RescanChanges::default();
        let now = std::time::Instant::now();
        let mut added = Vec::new();
        for (index, selector) in &mut self.selectors {
            match selector.poll_if_due(now) {
                None => {}
                Some(Err(err)) => {
                    warn!(capture = *index, error = %err, "Cannot list interfaces; trying again later.")
                }
                Some(Ok(found)) => {
                    changes.removed.extend(found.removed);
                    added.extend(found.added.into_iter().map(|name| (*index, name)));
                }
            }
        }
        for (index, name) in added {
            let Some(capture) = self.config.captures.get(index).cloned() else {
                continue;
            };
            match self.open(&capture, &name) {
                Ok(sources) => changes.added.extend(sources),
                Err(err) => {
                    warn!(interface = %name, error = %format!("{err:#}"), "Cannot capture on a newly selected interface; trying again at the next rescan.");
                    if let Some((_, selector)) =
                        self.selectors.iter_mut().find(|(i, _)| *i == index)
                    {
                        selector.forget(&name);
                    }
                }
            }
        }
        changes
    }
}

/// `netsensor run` without a configuration: every default (flows and rollups into the
/// embedded store under /var/lib/netsensor, metrics and query listeners on loopback),
/// capturing on the first interface that is up and not loopback.
fn zero_config() -> Result<Config> {
    let interface = live::list_interfaces()
        .context("cannot list capture interfaces")?
        .into_iter()
        .find(|i| i.flags.contains(&"up") && !i.flags.contains(&"loopback") && i.name != "any")
        .map(|i| i.name)
        .context("no interface is up (besides loopback): give one with --config")?;
    let text = format!("captures:\n  - interface: {interface}\n");
    let config = config::from_str(&text, Path::new("(built-in defaults)"))?;
    info!(%interface, "No configuration given: capturing on the first interface that is up.");
    Ok(config)
}

fn live_settings(capture: &config::CaptureConfig) -> LiveSettings {
    LiveSettings {
        interface: capture.interface.clone(),
        promiscuous: capture.promiscuous,
        direction: capture.direction,
        filter: capture.filter.clone(),
        snaplen_bytes: capture.snaplen_bytes,
        buffer_size_bytes: capture.buffer_size_bytes,
        immediate: capture.immediate,
        timeout_ms: u32::try_from(capture.timeout.as_millis()).unwrap_or(u32::MAX),
    }
}

fn check_config(args: CheckConfigArgs) -> Result<ExitCode> {
    let Some(path) = args.file.as_ref().or(args.common.config.as_ref()) else {
        bail!("check-config needs a configuration file (FILE or --config FILE)");
    };
    let config = config::load(path)?;
    build_enricher(&config)?;
    if args.connect {
        for capture in &config.captures {
            let names = match capture.selection.single_name() {
                Some(name) => vec![name.to_owned()],
                None => {
                    let names = crate::capture::select::select(&capture.selection)
                        .context("cannot list interfaces")?;
                    eprintln!(
                        "netsensor: captures ({}): selects {}",
                        capture.interface,
                        if names.is_empty() {
                            "no interface yet".to_owned()
                        } else {
                            names.join(", ")
                        }
                    );
                    names
                }
            };
            for name in names {
                let mut settings = live_settings(capture);
                settings.interface = name;
                match capture.backend {
                    config::CaptureBackend::Pcap => drop(LiveCapture::open(settings)?),
                    config::CaptureBackend::AfPacket => drop(open_af_packet(settings, capture, 1)?),
                }
            }
        }
        // Opens the local outputs; the cluster is checked without starting the output.
        let mut local = config.clone();
        local.outputs.elasticsearch = None;
        local.outputs.kafka = None;
        local.outputs.filebeat = None;
        let metrics = new_metrics();
        configured_outputs(
            &local,
            &metrics,
            &Health::new(&metrics),
            elasticsearch::Mode::Live,
        )?;
        if let Some(es) = &config.outputs.elasticsearch {
            let settings =
                elasticsearch::ElasticsearchSettings::from_config(es, elasticsearch::Mode::Live);
            let checks = elasticsearch::check_connection(&settings)
                .context("outputs.elasticsearch: the cluster check failed")?;
            for check in checks {
                match (&check.engine, &check.note) {
                    (Some(engine), _) => eprintln!(
                        "netsensor: outputs.elasticsearch: {} is {engine} (cluster {:?}); credentials accepted",
                        check.url, engine.cluster_name
                    ),
                    (None, Some(note)) => {
                        eprintln!("netsensor: outputs.elasticsearch: {}: {note}", check.url)
                    }
                    (None, None) => {}
                }
            }
        }
    }
    print!("{}", config.to_effective_yaml());
    eprintln!("netsensor: {}: configuration is valid", path.display());
    Ok(ExitCode::SUCCESS)
}

fn query(args: QueryArgs) -> Result<ExitCode> {
    let db = match (&args.db, &args.common.config) {
        (Some(db), _) => db.clone(),
        (None, Some(path)) => {
            let config = config::load(path)?;
            match config.outputs.sqlite {
                Some(store) => store.path,
                None => bail!("{}: the embedded store is not enabled", path.display()),
            }
        }
        (None, None) => raw_default_store(),
    };
    let filters = sqlite::query::Filters::parse(
        args.addr.as_deref(),
        args.port.as_deref(),
        args.limit.as_deref(),
    )?;
    let format: sqlite::query::Format = args.format.parse()?;
    let request =
        sqlite::query::QueryRequest::new(&args.module, args.time.as_deref(), filters, format)?;
    let result = sqlite::query::run(&db, &request, sqlite::now_ns())?;
    write_stdout(result.render(format).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

fn raw_default_store() -> PathBuf {
    config::raw::default_data_directory().join("netsensor.db")
}

fn interfaces(_args: CommonArgs) -> Result<ExitCode> {
    for device in live::list_interfaces().context("cannot list capture interfaces")? {
        let addresses: Vec<String> = device.addresses.iter().map(|a| a.to_string()).collect();
        println!(
            "{:<16} [{}] {}{}",
            device.name,
            device.flags.join(","),
            addresses.join(" "),
            device
                .description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn schema(args: SchemaArgs) -> Result<ExitCode> {
    match args.format {
        SchemaFormat::Markdown => print!("{}", crate::docs::fields_markdown()),
        SchemaFormat::Json => {
            let fields: Vec<_> = FIELDS
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name,
                        "type": f.es_type.name(),
                        "array": f.array,
                        "kinds": RecordKind::ALL.iter().filter(|k| f.in_kind(**k)).map(|k| k.name()).collect::<Vec<_>>(),
                        "description": f.description,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&fields)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
