//! Telemetry: what the sensor tells its operators about itself.
//!
//! - [`metrics`]: the one table of Prometheus metrics, typed handles for the hot path, and
//!   the readiness state.
//! - [`server`]: the `/metrics`, `/healthz` and `/readyz` listener (127.0.0.1:9102 by
//!   default) on its own small tokio runtime, beside the plain capture threads.
//! - [`logging`]: `tracing` set-up, text or JSON, to stderr or to size-rotated,
//!   gzip-compressed files.
//! - [`ratelimit`]: keeps a repeated warning from flooding the log.

pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod ratelimit;
pub mod server;

pub use logging::{LogFormat, LogGuard, LogSettings, LogTarget, LoggingError, RotationSettings};
pub use metrics::{
    CaptureMetrics, DecodeErrorCounters, DecodeLayer, DropReason, Health, Metrics, OutputMetrics,
    OutputResult, METRICS,
};
pub use otlp::{OtlpError, OtlpExporter, OtlpSettings, OtlpStats};
pub use ratelimit::{RateLimiter, Suppressed};
pub use server::{ListenerHandle, ServerError};
