//! The sensor's configuration: a YAML file read in two stages.
//!
//! [`raw`] holds the serde types exactly as written (unknown keys refused, defaults filled in,
//! every key documented); [`load`] parses, validates, reads secrets and returns a typed
//! [`Config`]. Every error reads `FILE:LINE:COL: KEY.PATH: message`.
//!
//! ```no_run
//! # fn main() -> Result<(), netsensor::config::ConfigError> {
//! let config = netsensor::config::load(std::path::Path::new("/etc/netsensor/netsensor.yaml"))?;
//! for capture in &config.captures {
//!     println!("{} snaplen {}", capture.interface, capture.snaplen_bytes);
//! }
//! print!("{}", config.to_effective_yaml()); // secrets print as **REDACTED**
//! # Ok(())
//! # }
//! ```

pub mod raw;
mod resolve;
mod secret;

pub use raw::{Direction, LogFormat};
pub use resolve::{
    from_str, glob_match, load, AfPacketConfig, CaptureBackend, CaptureConfig, Config, ConfigError,
    ElasticsearchBatchConfig, ElasticsearchOutputConfig, ElasticsearchRetryConfig,
    ElasticsearchSpoolConfig, EnrichmentConfig, FileOutputConfig, FilebeatOutputConfig,
    GeoIpConfig, InterfaceSelection, KafkaOutputConfig, ListenersConfig, LogFileConfig,
    LoggingConfig, MetricsListenerConfig, OtlpConfig, OutputsConfig, OverloadConfig, OverloadMode,
    PipelineConfig, PrivacyConfig, PseudonymizeConfig, RecordKinds, SensorConfig,
    StdoutOutputConfig, TelemetryConfig, TunnelsConfig, MIN_PSEUDONYM_KEY_BYTES,
};
pub use secret::{Secret, SecretError, SecretRef, REDACTED};
