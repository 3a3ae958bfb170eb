//! The netsensor record schema, defined once.
//!
//! Two things live here and nowhere else:
//!
//! * the record types ([`PacketRecord`] and the parts it is built from), which the sensor
//!   fills and serializes with serde, and
//! * the field table ([`FIELDS`]): every field's dotted name, Elasticsearch type, the record
//!   kinds that carry it, and a one-line description.
//!
//! Index templates, the field reference in `docs/fields.md` and the Kibana field checks are
//! generated from the table; a test in this crate serializes a fully populated record and
//! fails when a field exists in one place but not the other.
//!
//! The record types borrow their strings (`&'a str`) from the frame being decoded or from
//! the decoder's reusable scratch buffers, so that building and serializing a record
//! allocates nothing on the capture hot path.
//!
//! ```
//! use netsensor_schema::{fields_for, RecordKind};
//! assert!(fields_for(RecordKind::Packet).any(|f| f.name == "network.community_id"));
//! ```
#![deny(missing_docs)]
// Input-driven code never unwraps; tests may (clippy.toml allows it there).
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod fields;
mod packet;
pub mod samples;
pub mod time;
mod values;

pub use fields::{fields_for, EsType, Field, RecordKind, FIELDS};
pub use packet::*;
pub use values::{CommunityId, EventId, KeywordNumber, Mac, Timestamp};
