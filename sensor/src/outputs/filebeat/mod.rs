//! Records for Filebeat, both ways deployments use (docs/filebeat.md, filebeat/filebeat.yml):
//! NDJSON over TCP to a Filebeat `tcp` input ([`tcp`]), or rotated NDJSON files for a
//! `filestream` input ([`files`]). Filebeat then writes them into the netsensor data
//! streams with `event.id` as the document id.

pub mod files;
pub mod tcp;

use netsensor_schema::RecordKind;

use super::elasticsearch::Mode;
use super::spool::SpoolSettings;
use super::Output;
use crate::config::FilebeatOutputConfig;
use crate::telemetry::{Health, Metrics};

pub use files::{FilebeatFilesOutput, FilesSettings};
pub use tcp::{FilebeatTcpOutput, TcpSettings};

/// The output's name in metrics, health and logs (either mode).
pub const NAME: &str = "filebeat";

/// The spool tag of a record kind.
fn tag_of(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Packet => 0,
        RecordKind::Flow => 1,
        RecordKind::Rollup => 2,
    }
}

/// The record kind of a spool tag.
fn kind_of(tag: u8) -> Option<RecordKind> {
    RecordKind::ALL.into_iter().find(|k| tag_of(*k) == tag)
}

/// Lines in an NDJSON batch (a last line without a newline counts).
fn count_lines(ndjson: &[u8]) -> u64 {
    let newlines = ndjson.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!ndjson.is_empty() && ndjson.last() != Some(&b'\n'))
}

/// Starts the output the configuration describes (TCP or files).
pub fn start(
    config: &FilebeatOutputConfig,
    mode: Mode,
    metrics: &Metrics,
    health: &Health,
) -> std::io::Result<Box<dyn Output>> {
    Ok(match config {
        FilebeatOutputConfig::Tcp {
            address,
            timeout,
            retry,
            memory_queue_bytes,
            resend_bytes,
            shutdown_timeout,
            spool,
        } => {
            let settings = TcpSettings {
                address: address.clone(),
                timeout: *timeout,
                initial_backoff: retry.initial_backoff,
                max_backoff: retry.max_backoff,
                memory_queue_bytes: *memory_queue_bytes,
                resend_bytes: *resend_bytes,
                shutdown_timeout: *shutdown_timeout,
                spool: SpoolSettings {
                    dir: spool.dir.clone(),
                    max_bytes: spool.max_bytes,
                    segment_bytes: spool.segment_bytes,
                },
                mode,
            };
            Box::new(
                FilebeatTcpOutput::start(settings, metrics, health)
                    .map_err(std::io::Error::other)?,
            )
        }
        FilebeatOutputConfig::Files {
            directory,
            prefix,
            rotate_bytes,
            rotate_age,
        } => Box::new(FilebeatFilesOutput::open(FilesSettings {
            dir: directory.clone(),
            prefix: prefix.clone(),
            rotate_bytes: *rotate_bytes,
            rotate_age: *rotate_age,
        })?),
    })
}
