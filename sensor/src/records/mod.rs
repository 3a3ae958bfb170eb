//! Building records from decoded frames.

pub mod flow;
pub mod id;
pub mod packet;

pub use flow::{EndReason, FlowRecorder, FlowSettings};
pub use packet::{PacketBuilder, SourceInfo};
