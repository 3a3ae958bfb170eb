//! The hot path allocates nothing per packet once warm: decode, app-layer summaries,
//! enrichment (GeoIP/ASN lookups included), record building, JSON serialization into a
//! reused buffer, the flow table with its flow records, and the rollups. A counting global
//! allocator proves it over real captures, and measures the flow table's memory per flow.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use netsensor::capture::offline::PcapFile;
use netsensor::capture::{FrameBatch, SourceInfo};
use netsensor::enrich::{Enricher, GeoIp, GeoPaths};
use netsensor::records::{EndReason, FlowSettings, PacketBuilder, RollupSettings, Rollups};

struct Counting;

// Per thread, so tests running in parallel do not count each other's allocations.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes this thread has allocated and not freed.
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

fn note_bytes(delta: i64) {
    LIVE_BYTES.with(|n| n.set(n.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        note_bytes(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_bytes(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        note_bytes(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Reads every frame of a fixture into batches of `size` frames.
fn batches(name: &str, size: usize) -> Vec<FrameBatch> {
    let path = common::fixtures_dir().join(name);
    let mut file = PcapFile::open(&path).unwrap();
    let source = Arc::new(SourceInfo {
        interface: name.to_owned(),
        id_seed: file.identity(),
        local_macs: Vec::new(),
        fixed_direction: None,
    });
    let mut out = Vec::new();
    let mut batch = FrameBatch::with_capacity(size);
    batch.source = Some(Arc::clone(&source));
    let mut data = Vec::new();
    while let Some(meta) = file.next_frame(&mut data).unwrap() {
        batch.push(meta, &data);
        if batch.len() == size {
            out.push(std::mem::replace(
                &mut batch,
                FrameBatch::with_capacity(size),
            ));
            batch.source = Some(Arc::clone(&source));
        }
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

#[test]
fn warm_hot_path_allocates_nothing_per_packet() {
    let geo = common::geo_dir();
    let country = geo.join("country.mmdb");
    let asn = geo.join("asn.mmdb");
    assert!(
        country.exists() && asn.exists(),
        "default geo databases missing in {}: run `make geo`",
        geo.display()
    );
    let paths = GeoPaths {
        country: Some(country),
        city: None,
        asn: Some(asn),
    };
    let enricher = Enricher {
        geoip: GeoIp::open(&paths).unwrap(),
        ..Enricher::default()
    };
    let mut builder = PacketBuilder::new(Arc::new(enricher), "alloc-test", "host");
    // Short timeouts so flows end, are exported and re-created during the runs.
    let mut flows = builder.flow_recorder(FlowSettings {
        idle_timeout_ns: 1_000_000_000,
        active_timeout_ns: 5_000_000_000,
        ..FlowSettings::default()
    });
    let mut flow_ndjson = Vec::new();
    let mut rollups = Rollups::new(
        RollupSettings {
            interval_ns: 1_000_000_000,
            top_n: 20,
        },
        "alloc-test",
        "host",
        0,
    );
    let fixtures = [
        "http-dns-wikipedia-mixed.pcap",
        "mixed-large-many-protocols.pcap",
        "cid-suricata-ipv4-seed7.pcap",
        "cid-suricata-ipv6-seed7.pcap",
        "dns-a-aaaa-mx.pcap",
        "dns-over-tcp.pcap",
        "vlan-qinq-8100-http.pcap",
        "sll2-icmp-icmp6-arp.pcap",
        "ipv6-ext-hbh-rthdr-ah-dstopts.pcap",
        "ipv4-frag-udp.pcap",
        "http-post.pcap",
        "malformed-tcp-bad-offset.pcap",
        "null-loopback-mixed.pcap",
        // Decapsulation too: VXLAN, GENEVE, GRE, MPLS.
        "vxlan-icmp-arp.pcap",
        "geneve-ssh-icmp.pcap",
        "gre-ipv4-mixed.pcap",
        "mpls-in-vlan-http.pcap",
    ];
    let all: Vec<FrameBatch> = fixtures
        .iter()
        .flat_map(|name| batches(name, 256))
        .collect();
    let frames: usize = all.iter().map(FrameBatch::len).sum();
    assert!(frames > 5000, "too few frames to mean anything: {frames}");

    let mut ndjson = Vec::new();
    let mut run = |count: bool| {
        let mut lines = 0usize;
        COUNTING.with(|c| c.set(count));
        for batch in &all {
            let source = batch.source.as_deref().unwrap();
            ndjson.clear();
            for (meta, data) in batch.iter() {
                builder
                    .write_ndjson(source, meta, data, &mut ndjson)
                    .unwrap();
            }
            lines += ndjson.iter().filter(|&&b| b == b'\n').count();
        }
        COUNTING.with(|c| c.set(false));
        flows.flush_all(EndReason::EndOfInput);
        rollups.flush();
        flow_ndjson.clear();
        flows.write_ndjson(&mut flow_ndjson).unwrap();
        rollups.write_ndjson(&mut flow_ndjson).unwrap();
        lines
    };
    // Warm-up: buffers grow to their working size.
    assert_eq!(run(false), frames);
    ALLOCATIONS.with(|n| n.set(0));
    assert_eq!(run(true), frames);
    let allocations = ALLOCATIONS.with(Cell::get);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {frames} warm frames"
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(16));
    COUNTING.with(|c| c.set(false));
    drop(v);
    assert!(ALLOCATIONS.with(Cell::get) >= 1);
}

/// The flow table's heap per held flow, measured: nothing but its slabs and indexes grows
/// with the number of flows (no per-flow allocation), and a flow costs little more than its
/// slab slot (the slab grows by an eighth at a time; the index holds 4-byte slot numbers).
/// Half the flows are tunnelled (the key holds the tunnel); every flow stays under 200 B.
#[test]
fn flow_table_memory_per_flow() {
    use netsensor::decode::TunnelKind;
    use netsensor::records::flow::key::{Endpoint, FlowKey, TunnelKey};
    use netsensor::records::flow::table::{FlowFacts, FlowPacket, FlowTable};

    let (slot_v4, slot_v6) = FlowTable::bytes_per_slot();
    let mut out = Vec::new();
    for v6 in [false, true] {
        let slot = if v6 { slot_v6 } else { slot_v4 };
        for flows in [10_000u32, 50_000, 100_000] {
            let settings = FlowSettings {
                max_flows: 1 << 20,
                ..FlowSettings::default()
            };
            let before = LIVE_BYTES.with(Cell::get);
            let mut table = FlowTable::new(settings);
            for i in 0..flows {
                let (src, dst): (std::net::IpAddr, std::net::IpAddr) = if v6 {
                    (
                        std::net::Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)).into(),
                        std::net::Ipv6Addr::from(0x2001_0db8_u128 << 96 | 1 << 40).into(),
                    )
                } else {
                    (
                        std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
                        [192, 0, 2, 1].into(),
                    )
                };
                let (key, side) = FlowKey::new(
                    Endpoint::new(src, 40_000),
                    Endpoint::new(dst, 443),
                    6,
                    v6,
                    [0, 0],
                );
                // Every other flow tunnelled: the tunnel is part of the key, not extra.
                let key = if i % 2 == 0 {
                    key.in_tunnel(TunnelKey::new(TunnelKind::Vxlan, Some(i), 1))
                } else {
                    key
                };
                let packet = FlowPacket {
                    key,
                    side,
                    time_ns: i64::from(i),
                    bytes: 60,
                    packet_id: u64::from(i),
                    tcp: Some((0x02, 1, 0, 0)),
                    facts: FlowFacts::default(),
                };
                table.observe(&packet, &mut out);
            }
            assert_eq!(table.len(), flows as usize);
            assert!(out.is_empty());
            let bytes = LIVE_BYTES.with(Cell::get) - before;
            let per_flow = bytes as f64 / f64::from(flows);
            let accounted = table.memory_bytes();
            eprintln!(
                "flow table ({}): {flows} flows, {bytes} bytes on the heap = {per_flow:.0} \
                 bytes/flow ({slot}-byte slots; table accounts for {accounted} bytes)",
                if v6 { "IPv6" } else { "IPv4" }
            );
            // What the table accounts for is all there is: no hidden allocation per flow.
            assert!(
                bytes as usize <= accounted + 4096,
                "{bytes} bytes on the heap, table accounts for {accounted}"
            );
            assert!(
                per_flow < slot as f64 * 1.2 + 12.0,
                "{per_flow:.0} bytes per flow with {slot}-byte slots"
            );
            assert!(per_flow < 200.0, "{per_flow:.0} bytes per flow");
            drop(table);
        }
    }
    assert!(
        slot_v4 <= 112 && slot_v6 <= 136,
        "{slot_v4}/{slot_v6} bytes per slot"
    );
}
