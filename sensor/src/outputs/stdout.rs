//! NDJSON to standard output.

use std::io::{self, BufWriter, Stdout, Write};

use netsensor_schema::RecordKind;

use super::Output;

/// Writes records to stdout through a large buffer.
pub struct StdoutOutput {
    writer: BufWriter<Stdout>,
}

impl StdoutOutput {
    /// A buffered stdout writer.
    pub fn new() -> Self {
        StdoutOutput {
            writer: BufWriter::with_capacity(1 << 20, io::stdout()),
        }
    }
}

impl Default for StdoutOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write_batch(&mut self, _kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        self.writer.write_all(ndjson)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}
