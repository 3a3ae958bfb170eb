//! Errors of the admin tool and the exit code each one maps to.
//!
//! Scripts, systemd units and CronJobs branch on the exit code, so every class of failure
//! an operator fixes differently has its own code (documented in docs/admin.md).

use std::path::Path;

use netsensor_elastic::Error as ClusterError;
use thiserror::Error;

/// Exit codes; `docs/admin.md` lists them.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// An operation failed (the cluster answered an error, a file could not be written).
    pub const FAILED: u8 = 1;
    /// Bad command line: unknown option, bad TIME or size, `--yes` missing.
    pub const USAGE: u8 = 2;
    /// The cluster cannot be reached (connection refused, timeout, DNS).
    pub const UNREACHABLE: u8 = 3;
    /// The cluster refused the credentials or the permission (HTTP 401/403).
    pub const AUTH: u8 = 4;
    /// The TLS handshake failed (untrusted certificate, plain HTTP port).
    pub const TLS: u8 = 5;
    /// A data stream or index template is missing (run `netsensor-admin setup`).
    pub const MISSING: u8 = 6;
    /// Local configuration: unreadable secret or CA file, missing requests directory.
    pub const CONFIG: u8 = 7;
    /// The engine lacks an API the command needs (e.g. `_delete_by_query`).
    pub const UNSUPPORTED: u8 = 8;
}

/// What went wrong, classified by what the operator does about it.
#[derive(Debug, Error)]
pub enum AdminError {
    /// Talking to the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A local file or setting is wrong.
    #[error("{0}")]
    Config(String),
    /// A data stream or template the command needs does not exist.
    #[error("{0}")]
    Missing(String),
    /// The engine lacks an API.
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing a local file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An operation the cluster accepted did not succeed (task failures and the like).
    #[error("{0}")]
    Failed(String),
}

impl AdminError {
    /// An I/O error about `path`.
    pub fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        AdminError::Io {
            context: format!("cannot {what} {}", path.display()),
            source,
        }
    }

    /// The exit code of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Cluster(err) => match err {
                ClusterError::Unreachable { .. } => exit::UNREACHABLE,
                ClusterError::Auth { .. } => exit::AUTH,
                ClusterError::Tls { .. } => exit::TLS,
                ClusterError::Config(_) => exit::CONFIG,
                ClusterError::Status { status, body, .. } if is_missing(*status, body) => {
                    exit::MISSING
                }
                _ => exit::FAILED,
            },
            AdminError::Usage(_) => exit::USAGE,
            AdminError::Config(_) => exit::CONFIG,
            AdminError::Missing(_) => exit::MISSING,
            AdminError::Unsupported(_) => exit::UNSUPPORTED,
            AdminError::Io { .. } | AdminError::Failed(_) => exit::FAILED,
        }
    }
}

/// Whether an error answer says an index, data stream or template does not exist.
fn is_missing(status: u16, body: &str) -> bool {
    (status == 404 || status == 400)
        && [
            "index_not_found_exception",
            "resource_not_found_exception",
            "no matching index template",
        ]
        .iter()
        .any(|marker| body.contains(marker))
}

/// Result of the admin tool's internals.
pub type Result<T, E = AdminError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_map_to_distinct_codes() {
        let unreachable = AdminError::from(ClusterError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        });
        let auth = AdminError::from(ClusterError::Auth {
            method: "GET".into(),
            url: "u".into(),
            status: 401,
            reason: "r".into(),
        });
        let missing = AdminError::from(ClusterError::Status {
            method: "GET".into(),
            url: "u".into(),
            status: 404,
            reason: "r".into(),
            body: r#"{"error":{"type":"index_not_found_exception"}}"#.into(),
        });
        let tls = AdminError::from(ClusterError::Tls {
            url: "u".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
        });
        assert_eq!(tls.exit_code(), exit::TLS);
        let codes = [
            unreachable.exit_code(),
            auth.exit_code(),
            missing.exit_code(),
            AdminError::Usage("x".into()).exit_code(),
        ];
        assert_eq!(
            codes,
            [exit::UNREACHABLE, exit::AUTH, exit::MISSING, exit::USAGE]
        );
    }
}
