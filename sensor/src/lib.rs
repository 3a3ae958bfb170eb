//! netsensor: a network traffic sensor.
//!
//! The data path, in order:
//!
//! 1. [`capture`] — frames from libpcap (live) or pcap/pcapng files (replay), in pooled
//!    [`capture::FrameBatch`]es.
//! 2. [`pipeline`] — bounded queues carry batches from the capture threads to the
//!    processing worker(s): one by default, or `pipeline.workers` fed by a direction-free
//!    hash of each frame's flow, with one output stage (live capture drops and counts when
//!    a queue is full; replay waits).
//! 3. [`decode`] — link, VLAN, IP, transport and app-layer summaries (DNS, TLS, HTTP).
//! 4. [`enrich`] — Community ID, service names, passive OS guess, GeoIP/ASN, privacy.
//! 5. [`records`] — ECS records from `netsensor-schema`, serialized as NDJSON.
//! 6. [`outputs`] — stdout and rotated files.
//!
//! [`config`] and [`telemetry`] serve every stage; [`app`] wires them for the CLI.
#![deny(missing_docs)]
// Input-driven code never unwraps; tests may (clippy.toml allows it there).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod decode;
pub mod docs;
pub mod enrich;
pub mod outputs;
pub mod pipeline;
pub mod records;
pub mod telemetry;
