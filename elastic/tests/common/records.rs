//! Fully populated records from the schema crate's samples, as JSON at a chosen time and id.
#![allow(dead_code)]

use std::net::IpAddr;

use netsensor_schema::*;

/// A packet record with every field, as JSON, at time `ns` with event id `id`.
pub fn packet_json(ns: i64, id: u128) -> serde_json::Value {
    let text = "a.example.comAIN192.0.2.9";
    let answers = [DnsAnswerSpan {
        name: 0..13,
        type_: 13..14,
        class: 14..16,
        ttl: 60,
        data: 16..25,
    }];
    let resolved: [IpAddr; 1] = ["192.0.2.9".parse().unwrap()];
    let mut record = samples::packet(&answers, &resolved, text);
    record.timestamp = Timestamp(ns);
    record.event = Event::packet(EventId(id));
    record.netsensor.packet = Some(PacketDetails {
        number: 1,
        captured_length: 60,
        truncated: false,
        size_class: size_class(60),
    });
    serde_json::to_value(&record).unwrap()
}

/// A final flow record with every field, as JSON.
pub fn flow_json(ns: i64, id: u128) -> serde_json::Value {
    serde_json::to_value(samples::flow(ns, id)).unwrap()
}

/// A top-N rollup record with every field, as JSON.
pub fn rollup_json(ns: i64, id: u128) -> serde_json::Value {
    serde_json::to_value(samples::rollup(ns, id)).unwrap()
}

/// A record of `kind` with every field.
pub fn record_json(kind: RecordKind, ns: i64, id: u128) -> serde_json::Value {
    match kind {
        RecordKind::Packet => packet_json(ns, id),
        RecordKind::Flow => flow_json(ns, id),
        RecordKind::Rollup => rollup_json(ns, id),
    }
}
