//! Building records from decoded frames.

pub mod flow;
pub mod id;
pub mod packet;
pub mod rollup;

pub use flow::{EndReason, FlowRecorder, FlowSettings};
pub use packet::{PacketBuilder, SourceInfo};
pub use rollup::{RollupSettings, Rollups};
