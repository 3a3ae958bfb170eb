//! `GET /query` over HTTP: the same questions as `netsensor query`.
//!
//! The answers carry addresses and names, so the lead binds this router on its own
//! listener, loopback by default, never on the metrics port. [`http_response`] is the
//! whole behaviour as a plain function (easy to test and to wrap); [`router`] mounts it
//! on axum, running each query on the blocking pool because SQLite calls block.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::now_ns;
use super::query::{self, parse_http_query, Format};

/// `Content-Type` of JSON answers.
pub const JSON: &str = "application/json";
/// `Content-Type` of table answers and errors.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// A complete HTTP answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// 200, 400 (bad request: the body says what is accepted), 503 (no store yet) or 500.
    pub status: u16,
    /// [`JSON`] or [`TEXT`].
    pub content_type: &'static str,
    /// The rendered result or the error message.
    pub body: String,
}

/// Answers `GET /query?<raw_query>` from the store at `db`, with `now_ns` as "now".
pub fn http_response(db: &Path, raw_query: Option<&str>, now_ns: i64) -> HttpAnswer {
    let outcome = parse_http_query(raw_query.unwrap_or(""))
        .and_then(|req| query::run(db, &req, now_ns).map(|result| (req.format, result)));
    match outcome {
        Ok((Format::Json, result)) => HttpAnswer {
            status: 200,
            content_type: JSON,
            body: result.to_json(),
        },
        Ok((Format::Table, result)) => HttpAnswer {
            status: 200,
            content_type: TEXT,
            body: result.to_table(),
        },
        Err(e) => {
            let status = if e.is_client_error() {
                400
            } else if matches!(e, query::QueryError::NoStore { .. }) {
                503
            } else {
                500
            };
            // The message and its causes, one line.
            let mut body = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                body.push_str(": ");
                body.push_str(&s.to_string());
                source = s.source();
            }
            body.push('\n');
            HttpAnswer {
                status,
                content_type: TEXT,
                body,
            }
        }
    }
}

/// axum handler for `GET /query`; the state is the database path.
pub async fn query_handler(State(db): State<Arc<PathBuf>>, RawQuery(raw): RawQuery) -> Response {
    let answer = tokio::task::spawn_blocking(move || http_response(&db, raw.as_deref(), now_ns()))
        .await
        .unwrap_or_else(|_| HttpAnswer {
            status: 500,
            content_type: TEXT,
            body: "the query task failed\n".to_owned(),
        });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

/// A router serving `GET /query` from the store at `db`.
pub fn router(db: PathBuf) -> Router {
    Router::new()
        .route("/query", get(query_handler))
        .with_state(Arc::new(db))
}
