//! The `kafka` output against the real broker that `dev/stack` runs (Apache Kafka, KRaft,
//! 127.0.0.1:9092): the fixture captures' records produced and consumed back with a real
//! consumer (rdkafka), the broker stopped and started in the middle (a short outage that
//! librdkafka's queue bridges, and one longer than `message.timeout.ms`, whose records come
//! back from the spool). Each test uses topics of its own. A test fails when the broker
//! cannot be started.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use netsensor::outputs::elasticsearch::Mode;
use netsensor::outputs::kafka::{KafkaOutput, KafkaSettings, NAME};
use netsensor::outputs::Output;
use netsensor::telemetry::{Health, Metrics};
use netsensor_schema::RecordKind;
use netsensor_testkit::stack::{self, Engine};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use serde_json::Value;

/// The outage tests stop the broker: they run alone among this file's tests.
static BROKER: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    BROKER.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    BROKER.write().unwrap_or_else(|e| e.into_inner())
}

/// A topic prefix no other test (or earlier run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn settings(brokers: &str, prefix: &str, dir: &Path, mode: Mode) -> KafkaSettings {
    let mut settings = KafkaSettings::new(brokers, dir.join("spool"));
    settings.topics = [
        format!("{prefix}-packet"),
        format!("{prefix}-flow"),
        format!("{prefix}-rollup"),
    ];
    settings.mode = mode;
    settings.shutdown_timeout = Duration::from_secs(60);
    settings
}

/// Records of the fixture captures, as the file output writes them, by kind.
fn fixture_records(dir: &Path, files: &[std::path::PathBuf]) -> Vec<(RecordKind, Vec<u8>)> {
    let config = dir.join("replay.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: kafkatest, data_directory: {} }}\n\
             records: [packet, flow]\n\
             listeners: {{ metrics: null, query: null }}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let out = common::netsensor()
        .args(["replay", "--no-progress", "--config"])
        .arg(&config)
        .args(["--out", "-"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = Vec::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let value: Value = serde_json::from_slice(line).unwrap();
        let kind = match value["event"]["dataset"].as_str().unwrap() {
            "netsensor.packet" => RecordKind::Packet,
            "netsensor.flow" => RecordKind::Flow,
            "netsensor.rollup" => RecordKind::Rollup,
            other => panic!("{other}"),
        };
        records.push((kind, line.to_vec()));
    }
    records
}

/// Writes `records` in batches of up to 100 of one kind, as the pipeline does.
fn write(output: &mut KafkaOutput, records: &[(RecordKind, Vec<u8>)]) {
    for kind in RecordKind::ALL {
        let of_kind: Vec<&Vec<u8>> = records
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, r)| r)
            .collect();
        for chunk in of_kind.chunks(100) {
            let mut batch = Vec::new();
            for record in chunk {
                batch.extend_from_slice(record);
                batch.push(b'\n');
            }
            output.write_batch(kind, &batch).unwrap();
        }
    }
}

/// One consumed message.
#[derive(Debug)]
struct Consumed {
    topic: String,
    partition: i32,
    key: Option<String>,
    record: Value,
}

/// Reads the topics from the beginning with a consumer group of its own until `want`
/// messages arrived and nothing more came for a few seconds.
fn consume(brokers: &str, prefix: &str, want: usize) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("test-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let topics: Vec<String> = ["packet", "flow", "rollup"]
        .iter()
        .map(|kind| format!("{prefix}-{kind}"))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                quiet_since = Instant::now();
                out.push(Consumed {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    key: message
                        .key()
                        .map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    record: serde_json::from_slice(message.payload().unwrap()).unwrap(),
                });
            }
            // The rollup topic exists only when rollups were produced.
            Some(Err(error)) if error.to_string().contains("UnknownTopicOrPartition") => {}
            Some(Err(error)) => eprintln!("consumer: {error}"),
            None => {
                if out.len() >= want && quiet_since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
        }
    }
    out
}

/// Every record once by `event.id` (duplicates counted), keys and partitions per flow.
fn check(records: &[(RecordKind, Vec<u8>)], consumed: &[Consumed], prefix: &str) -> usize {
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    for (_, record) in records {
        let value: Value = serde_json::from_slice(record).unwrap();
        want.insert(value["event"]["id"].as_str().unwrap().to_owned(), value);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    // Community ID → the one partition of its topic.
    let mut partitions: HashMap<(String, String), i32> = HashMap::new();
    for message in consumed {
        let id = message.record["event"]["id"].as_str().unwrap().to_owned();
        *seen.entry(id.clone()).or_default() += 1;
        let expected = want
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected record {id}"));
        assert_eq!(&message.record, expected, "the record arrives as written");
        let kind = expected["event"]["dataset"]
            .as_str()
            .unwrap()
            .trim_start_matches("netsensor.");
        assert_eq!(message.topic, format!("{prefix}-{kind}"));
        let community_id = expected["network"]["community_id"].as_str();
        assert_eq!(message.key.as_deref(), community_id, "key of {id}");
        if let Some(cid) = community_id {
            let first = partitions
                .entry((message.topic.clone(), cid.to_owned()))
                .or_insert(message.partition);
            assert_eq!(*first, message.partition, "flow {cid} in two partitions");
        }
    }
    let missing: Vec<&String> = want.keys().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} records missing, e.g. {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        partitions
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1,
        "keys spread over partitions"
    );
    seen.values().map(|n| n - 1).sum()
}

#[test]
fn fixtures_round_trip_exactly_once_kafka() {
    let _guard = shared();
    let service = stack::ensure(Engine::Kafka);
    let dir = tempfile::tempdir().unwrap();
    let records = fixture_records(dir.path(), &common::fixtures());
    assert!(records.len() > 1000, "{}", records.len());
    let prefix = unique("fixtures");
    let metrics = Metrics::with_build("t", 0);
    let health = Health::new(&metrics);
    let started = Instant::now();
    let mut output = KafkaOutput::start(
        settings(&service.url, &prefix, dir.path(), Mode::Replay),
        &metrics,
        &health,
    )
    .unwrap();
    write(&mut output, &records);
    assert_eq!(output.close().unwrap(), 0);
    let elapsed = started.elapsed();
    let m = metrics.delivery(NAME);
    assert_eq!(m.records.sent.get(), records.len() as u64);
    assert_eq!(m.records.failed.get(), 0);
    assert_eq!(m.spooled.get(), 0);
    assert_eq!(m.in_flight.get(), 0, "librdkafka's queue is empty");
    eprintln!(
        "{} records produced and acknowledged in {elapsed:?}",
        records.len()
    );
    let consumed = consume(&service.url, &prefix, records.len());
    let duplicates = check(&records, &consumed, &prefix);
    assert_eq!(duplicates, 0, "every record exactly once");
    assert_eq!(consumed.len(), records.len());
}

/// Writes the first half, stops the broker, writes the second half, waits `down`, starts
/// the broker again and closes the output (a replay's end: it sends the spool).
fn outage(message_timeout: Duration, down: Duration) -> (Vec<(RecordKind, Vec<u8>)>, Metrics) {
    let service = stack::ensure(Engine::Kafka);
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = common::fixtures()
        .into_iter()
        .filter(|f| common::file_name(f).starts_with("mixed"))
        .collect();
    assert!(!files.is_empty());
    let records = fixture_records(dir.path(), &files);
    let prefix = unique("outage");
    let metrics = Metrics::with_build("t", 0);
    let health = Health::new(&metrics);
    let mut settings = settings(&service.url, &prefix, dir.path(), Mode::Replay);
    settings.message_timeout = message_timeout;
    let mut output = KafkaOutput::start(settings, &metrics, &health).unwrap();
    let m = metrics.delivery(NAME);
    let (first, second) = records.split_at(records.len() / 2);
    write(&mut output, first);
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.records.sent.get() < first.len() as u64 {
        assert!(Instant::now() < deadline, "first half not acknowledged");
        std::thread::sleep(Duration::from_millis(100));
    }

    stack::stop(Engine::Kafka);
    let stopped = Instant::now();
    write(&mut output, second);
    if let Some(rest) = down.checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    if down > message_timeout {
        // librdkafka gave up on the second half: the reports put it in the spool, and the
        // output says it is down.
        assert!(m.records.failed.get() > 0, "no delivery failed");
        assert!(m.spooled.get() > 0, "nothing spooled");
        assert!(m.spool_bytes.get() > 0);
        assert_eq!(m.records.up.get(), 0);
    }
    stack::start(Engine::Kafka);
    assert_eq!(output.close().unwrap(), 0, "no record lost");
    drop(output);
    let consumed = consume(&service.url, &prefix, records.len());
    let duplicates = check(&records, &consumed, &prefix);
    eprintln!(
        "outage of {down:?} (message.timeout.ms {message_timeout:?}): {} records, sent {}, failed {}, \
         spooled {}, re-sent from the spool {}, duplicates {duplicates}",
        records.len(),
        m.records.sent.get(),
        m.records.failed.get(),
        m.spooled.get(),
        m.retries.get()
    );
    assert!(
        duplicates as u64 <= m.records.failed.get(),
        "duplicates only of records whose acknowledgement was lost"
    );
    assert_eq!(m.spool_bytes.get(), 0, "the spool is drained");
    assert_eq!(m.records.up.get(), 1);
    (records, metrics)
}

#[test]
fn a_short_broker_outage_is_bridged_by_librdkafka_kafka() {
    let _guard = exclusive();
    let (records, metrics) = outage(Duration::from_secs(120), Duration::from_secs(2));
    let m = metrics.delivery(NAME);
    assert_eq!(m.records.failed.get(), 0);
    assert_eq!(m.spooled.get(), 0);
    assert_eq!(m.records.sent.get(), records.len() as u64);
}

#[test]
fn records_failed_after_message_timeout_come_back_from_the_spool_kafka() {
    let _guard = exclusive();
    let (records, metrics) = outage(Duration::from_secs(3), Duration::from_secs(8));
    let m = metrics.delivery(NAME);
    assert!(m.retries.get() >= m.spooled.get().min(1));
    assert!(m.records.sent.get() >= records.len() as u64);
    let page = metrics.encode_prometheus_text();
    assert!(
        page.contains("netsensor_output_records_total{output=\"kafka\",result=\"failed\"}"),
        "{page}"
    );
}

/// `netsensor replay` with `outputs.kafka` in its configuration file: the whole path
/// through the CLI, the pipeline and the output.
#[test]
fn replay_with_the_kafka_output_configured_kafka() {
    let _guard = shared();
    let service = stack::ensure(Engine::Kafka);
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = common::fixtures()
        .into_iter()
        .filter(|f| common::file_name(f).starts_with("mixed"))
        .collect();
    let records = fixture_records(dir.path(), &files);
    let prefix = unique("replay");
    let config = dir.path().join("kafka.yaml");
    std::fs::write(
        &config,
        format!(
            "sensor: {{ name: kafkatest, data_directory: {data} }}\n\
             records: [packet, flow]\n\
             listeners: {{ metrics: null, query: null }}\n\
             outputs:\n  \
               kafka:\n    \
                 enabled: true\n    \
                 brokers: \"{brokers}\"\n    \
                 topics: {{ packet: {prefix}-packet, flow: {prefix}-flow, rollup: {prefix}-rollup }}\n    \
                 compression: zstd\n",
            data = dir.path().join("data").display(),
            brokers = service.url,
        ),
    )
    .unwrap();
    let out = common::netsensor()
        .args(["replay", "--no-progress", "--config"])
        .arg(&config)
        .args(&files)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Kafka output stopped"), "{log}");
    let consumed = consume(&service.url, &prefix, records.len());
    assert_eq!(check(&records, &consumed, &prefix), 0);
    assert_eq!(consumed.len(), records.len());
}
