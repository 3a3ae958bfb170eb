//! Building records from decoded frames.

pub mod id;
pub mod packet;

pub use packet::{PacketBuilder, SourceInfo};
