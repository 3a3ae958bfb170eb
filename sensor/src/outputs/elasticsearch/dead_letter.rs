//! The dead-letter file: records the cluster refused for good, one NDJSON line each with
//! the error, so an operator can see why, fix the template, and index them again
//! (the `record` field is the document exactly as it was sent).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use netsensor_schema::Timestamp;

/// Appends rejected records to an NDJSON file, opened on first use.
pub struct DeadLetter {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
}

/// One rejected record.
pub struct Rejected<'a> {
    /// The data stream it was sent to.
    pub index: &'a str,
    /// The item's HTTP status.
    pub status: u16,
    /// The error type.
    pub kind: &'a str,
    /// The error reason.
    pub reason: &'a str,
    /// The record line as sent (a JSON object).
    pub record: &'a [u8],
}

impl DeadLetter {
    /// A dead-letter file at `path` (created with its directory when the first record
    /// arrives).
    pub fn new(path: PathBuf) -> Self {
        DeadLetter { path, writer: None }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends one line: `{"@timestamp", "output", "index", "status", "error": {"type",
    /// "reason"}, "record": {...}}`.
    pub fn write(&mut self, rejected: &Rejected<'_>) -> io::Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(dir)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                self.writer.insert(BufWriter::new(file))
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let head = serde_json::json!({
            "@timestamp": Timestamp(now),
            "output": super::NAME,
            "index": rejected.index,
            "status": rejected.status,
            "error": { "type": rejected.kind, "reason": rejected.reason },
        });
        let mut line = serde_json::to_vec(&head)?;
        // Splice the record in as it is: `{...}` → `{...,"record":<record>}`.
        line.pop();
        line.extend_from_slice(br#","record":"#);
        let record = trim_line(rejected.record);
        if serde_json::from_slice::<serde::de::IgnoredAny>(record).is_ok() {
            line.extend_from_slice(record);
        } else {
            // Never write a line that is not JSON: keep an unparsable record as a string.
            serde_json::to_writer(&mut line, &String::from_utf8_lossy(record))?;
        }
        line.extend_from_slice(b"}\n");
        writer.write_all(&line)
    }

    /// Flushes the file to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_error_and_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl/dead.ndjson");
        let mut dl = DeadLetter::new(path.clone());
        dl.write(&Rejected {
            index: "logs-netsensor.packet-x",
            status: 400,
            kind: "mapper_parsing_exception",
            reason: "failed to parse field [source.port]",
            record: b"{\"source\":{\"port\":\"abc\"}}\n",
        })
        .unwrap();
        dl.write(&Rejected {
            index: "i",
            status: 400,
            kind: "k",
            reason: "r",
            record: b"not json",
        })
        .unwrap();
        dl.flush().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["error"]["type"], "mapper_parsing_exception");
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["record"]["source"]["port"], "abc");
        assert_eq!(lines[1]["record"], "not json");
        assert!(lines[0]["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
