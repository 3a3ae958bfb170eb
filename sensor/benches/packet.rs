//! Per-packet cost of the processing thread: decode only, and decode + enrich + serialize
//! to one NDJSON line (`PacketBuilder::write_ndjson`), over the frames of real captures.
//!
//! Run with `make bench` or `cargo bench -p netsensor --bench packet`; never part of
//! `make test`. Throughput is reported in packets (criterion "elements") per second.
//! GeoIP enrichment uses the default databases in `$NETSENSOR_GEO_DIR` (else
//! `<repo>/.cache/geo`, what `make geo` installs) when they exist, and none otherwise; the
//! bench says which on stderr. A third group runs the biggest capture without GeoIP, so
//! the lookups' share of the cost shows.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netsensor::capture::offline::PcapFile;
use netsensor::capture::{FrameMeta, SourceInfo};
use netsensor::decode::decode;
use netsensor::enrich::{Enricher, GeoIp, GeoPaths};
use netsensor::records::id::replay_seed;
use netsensor::records::PacketBuilder;

/// The captures measured: the biggest mixed one plus a few with app-layer summaries.
const FIXTURES: &[&str] = &[
    "mixed-large-many-protocols.pcap",
    "dns-a-aaaa-mx.pcap",
    "tls12-clienthello-sni.pcap",
    "http-post.pcap",
    "tcp-retransmissions.pcap",
];

/// Frames of one capture, read once up front so the bench measures processing only.
struct Capture {
    name: &'static str,
    source: SourceInfo,
    frames: Vec<(FrameMeta, Vec<u8>)>,
    wire_bytes: u64,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load(name: &'static str) -> Capture {
    let path = repo().join("dev/fixtures/pcaps").join(name);
    let mut file =
        PcapFile::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut wire_bytes = 0;
    let mut data = Vec::new();
    while let Some(meta) = file
        .next_frame(&mut data)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    {
        wire_bytes += u64::from(meta.wire_len);
        frames.push((meta, data.clone()));
    }
    assert!(!frames.is_empty(), "{} has no frames", path.display());
    Capture {
        name,
        source: SourceInfo {
            interface: name.to_owned(),
            id_seed: replay_seed("bench", file.identity()),
            ..SourceInfo::default()
        },
        frames,
        wire_bytes,
    }
}

/// The default enricher, with the `make geo` databases when they are installed.
fn enricher() -> (Enricher, String) {
    let dir = std::env::var_os("NETSENSOR_GEO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/geo"));
    let existing = |file: &str| Some(dir.join(file)).filter(|p| p.is_file());
    let paths = GeoPaths {
        country: existing("country.mmdb"),
        city: existing("city.mmdb"),
        asn: existing("asn.mmdb"),
    };
    let geoip = GeoIp::open(&paths).unwrap_or_else(|e| panic!("cannot open GeoIP: {e}"));
    let what = if geoip.is_empty() {
        format!(
            "no GeoIP databases in {} (run `make geo`): geo lookups are skipped",
            dir.display()
        )
    } else {
        let names: Vec<String> = geoip
            .databases()
            .map(|db| format!("{} ({})", db.path.display(), db.database_type))
            .collect();
        format!("GeoIP databases: {}", names.join(", "))
    };
    (
        Enricher {
            geoip,
            ..Enricher::default()
        },
        what,
    )
}

fn benches(c: &mut Criterion) {
    let captures: Vec<Capture> = FIXTURES.iter().map(|name| load(name)).collect();
    let (enricher, what) = enricher();
    eprintln!("netsensor bench: {what}");
    let enricher = Arc::new(enricher);

    let mut group = c.benchmark_group("decode");
    for capture in &captures {
        group.throughput(Throughput::Elements(capture.frames.len() as u64));
        group.bench_function(capture.name, |b| {
            b.iter(|| {
                for (meta, frame) in &capture.frames {
                    black_box(decode(meta.link, black_box(frame)));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode_enrich_serialize");
    for capture in &captures {
        let mut builder = PacketBuilder::new(Arc::clone(&enricher), "bench", "bench-host");
        let mut out = Vec::with_capacity(4 << 20);
        // One untimed pass: the JSON bytes per packet for the record, and warm buffers.
        for (meta, frame) in &capture.frames {
            if let Err(e) = builder.write_ndjson(&capture.source, meta, frame, &mut out) {
                panic!("{}: frame {}: {e}", capture.name, meta.number);
            }
        }
        eprintln!(
            "netsensor bench: {}: {} packets, {} wire bytes, {} bytes of NDJSON ({:.0} per packet)",
            capture.name,
            capture.frames.len(),
            capture.wire_bytes,
            out.len(),
            out.len() as f64 / capture.frames.len() as f64
        );
        group.throughput(Throughput::Elements(capture.frames.len() as u64));
        group.bench_function(capture.name, |b| {
            b.iter(|| {
                out.clear();
                for (meta, frame) in &capture.frames {
                    let emitted = builder.write_ndjson(&capture.source, meta, frame, &mut out);
                    black_box(emitted.is_ok());
                }
                black_box(out.len())
            })
        });
    }
    group.finish();

    // The same on the biggest capture without GeoIP: the difference is the lookups' cost.
    let mut group = c.benchmark_group("decode_enrich_serialize_without_geoip");
    if let Some(capture) = captures.first() {
        let mut builder = PacketBuilder::new(Arc::new(Enricher::default()), "bench", "bench-host");
        let mut out = Vec::with_capacity(4 << 20);
        group.throughput(Throughput::Elements(capture.frames.len() as u64));
        group.bench_function(capture.name, |b| {
            b.iter(|| {
                out.clear();
                for (meta, frame) in &capture.frames {
                    let emitted = builder.write_ndjson(&capture.source, meta, frame, &mut out);
                    black_box(emitted.is_ok());
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = packet;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(packet);
