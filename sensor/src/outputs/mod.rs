//! Outputs: where serialized records go.
//!
//! Every output receives whole batches of NDJSON (one record per line) from the pipeline.
//! The local outputs are stdout, rotated files and the embedded SQLite store of flows and
//! rollups; the network outputs (`elasticsearch`, `kafka`, `filebeat` over TCP) deliver from their own thread with
//! retries and a disk [`spool`], behind the same [`Output`] trait.

pub mod elasticsearch;
pub mod file;
pub mod filebeat;
pub mod kafka;
pub mod spool;
pub mod sqlite;
pub mod stdout;

use std::io;

use netsensor_schema::RecordKind;

/// A destination for batches of NDJSON records.
pub trait Output: Send {
    /// Name used in metrics labels and logs (e.g. `stdout`, `file`).
    fn name(&self) -> &str;

    /// Writes a batch of complete NDJSON lines, all records of `kind`.
    fn write_batch(&mut self, kind: RecordKind, ndjson: &[u8]) -> io::Result<()>;

    /// Flushes buffered data (called at shutdown and on a timer).
    fn flush(&mut self) -> io::Result<()>;

    /// Whether the output counts its records and reports its health itself. A network
    /// output accepts a batch long before the destination does, so the pipeline's
    /// "written = sent" accounting would be wrong for it.
    fn reports_itself(&self) -> bool {
        false
    }

    /// Ends the output at the end of a run: delivers what it holds (or keeps it in its
    /// spool for the next start) and returns how many records it lost over its life
    /// (dropped or rejected; its metrics count them too), so a replay can say so in its
    /// exit code.
    fn close(&mut self) -> io::Result<u64> {
        self.flush().map(|()| 0)
    }
}
