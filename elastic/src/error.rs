//! Errors of the client path, classified by what the caller should do about them.

use thiserror::Error;

/// Something went wrong talking to a cluster.
///
/// The variants are what callers branch on: a connection problem is worth retrying, a
/// refused credential or an untrusted certificate is not (retrying would only hide a
/// configuration mistake behind a retry loop).
#[derive(Debug, Error)]
pub enum Error {
    /// The configuration cannot make a client (bad URL, unreadable CA file, ...).
    #[error("{0}")]
    Config(String),
    /// No connection: refused, timed out, DNS failure, connection reset.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The TLS handshake failed (untrusted certificate, wrong host name, plain HTTP port).
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    /// The cluster refused the credentials (HTTP 401) or the permission (HTTP 403).
    #[error("{method} {url} was refused (HTTP {status}): {reason}")]
    Auth {
        method: String,
        url: String,
        status: u16,
        reason: String,
    },
    /// Any other non-success answer.
    #[error("{method} {url} failed (HTTP {status}): {reason}")]
    Status {
        method: String,
        url: String,
        status: u16,
        reason: String,
        body: String,
    },
    /// A success answer that is not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
}

impl Error {
    /// Whether sending the same request again later may succeed: connection problems,
    /// HTTP 429 and 5xx. Auth, TLS, configuration and other 4xx answers are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status, when the cluster answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Auth { status, .. } | Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
