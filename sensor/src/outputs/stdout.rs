//! NDJSON to standard output.

use std::io::{self, BufWriter, Stdout, Write};

use netsensor_schema::RecordKind;

use super::Output;

/// Writes records to stdout through a large buffer. When the reader goes away
/// (`netsensor replay x.pcap | head`), the rest is discarded quietly, as other command-line
/// tools do, rather than counted as output failures.
pub struct StdoutOutput {
    writer: BufWriter<Stdout>,
    closed: bool,
}

impl StdoutOutput {
    /// A buffered stdout writer.
    pub fn new() -> Self {
        StdoutOutput {
            writer: BufWriter::with_capacity(1 << 20, io::stdout()),
            closed: false,
        }
    }
}

impl Default for StdoutOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutOutput {
    fn quiet_on_broken_pipe(
        &mut self,
        op: impl FnOnce(&mut BufWriter<Stdout>) -> io::Result<()>,
    ) -> io::Result<()> {
        match op(&mut self.writer) {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write_batch(&mut self, _kind: RecordKind, ndjson: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.quiet_on_broken_pipe(|w| w.write_all(ndjson))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.quiet_on_broken_pipe(BufWriter::flush)
    }
}
