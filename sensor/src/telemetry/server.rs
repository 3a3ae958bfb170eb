//! The operators' HTTP listener: `/metrics`, `/healthz` and `/readyz`.
//!
//! The capture path runs on plain threads, so [`spawn`] gives the listener a small tokio
//! runtime on a thread of its own; [`serve`] is the same server for a caller that already
//! runs tokio.
//!
//! `/metrics` speaks the OpenMetrics text format to scrapers that ask for it (Prometheus
//! does, in its `Accept` header) and the Prometheus text format 0.0.4 to everyone else
//! (curl, `promtool check metrics`, most other agents).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use super::metrics::{Health, Metrics};

/// Content type of the OpenMetrics page.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format 0.0.4 page.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a stopped listener waits for open requests before it closes them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the listener could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The runtime or its thread could not be created.
    #[error("cannot start an HTTP listener's runtime")]
    Runtime(#[source] io::Error),
    /// Accepting connections failed.
    #[error("the HTTP listener on {addr} failed")]
    Serve {
        /// The bound address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The listener thread panicked.
    #[error("an HTTP listener thread panicked")]
    Panicked,
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Health,
}

fn router(metrics: Metrics, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            state.metrics.encode_text(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)],
            state.metrics.encode_prometheus_text(),
        )
            .into_response()
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}

/// Serves the three routes on `addr` until `shutdown` completes, then finishes open
/// requests and returns.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve_on(listener, addr, metrics, health, shutdown).await
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Serve { addr, source })
}

/// A running listener started by [`spawn`]; dropping it stops the listener.
#[derive(Debug)]
pub struct ListenerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ListenerHandle {
    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits up to 5 s for open requests, and returns how the listener
    /// ended.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServerError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Binds `addr` now (so a bad address fails at start-up, naming it) and serves the
/// metrics and health routes on a dedicated thread running a single-threaded tokio runtime.
pub fn spawn(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
) -> Result<ListenerHandle, ServerError> {
    spawn_router(addr, router(metrics, health))
}

/// Like [`spawn`], for any router (the store's `/query` listener uses it).
pub fn spawn_router(addr: SocketAddr, app: axum::Router) -> Result<ListenerHandle, ServerError> {
    let bind_err = |source| ServerError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServerError::Runtime)?;
    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("netsensor-http".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| {
                    ServerError::Serve {
                        addr: local,
                        source,
                    }
                })?;
                let mut graceful = stopped.clone();
                let shutdown = async move {
                    // An error means the handle is gone: stop as well.
                    let _ = graceful.wait_for(|stop| *stop).await;
                };
                let server = async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                        .map_err(|source| ServerError::Serve {
                            addr: local,
                            source,
                        })
                };
                let mut deadline = stopped;
                let grace_over = async move {
                    let _ = deadline.wait_for(|stop| *stop).await;
                    tokio::time::sleep(SHUTDOWN_GRACE).await;
                };
                tokio::select! {
                    result = server => result,
                    () = grace_over => Ok(()),
                }
            })
        })
        .map_err(ServerError::Runtime)?;
    Ok(ListenerHandle {
        addr: local,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    struct Reply {
        status: u16,
        headers: String,
        body: String,
    }

    /// A plain HTTP/1.0 GET: the server answers and closes.
    fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> Reply {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra_headers}\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            headers: headers.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    fn start() -> (ListenerHandle, Metrics, Health) {
        let metrics = Metrics::with_build("9.9.9", 1_700_000_000);
        let health = Health::new(&metrics);
        health.register_capture("eth0");
        health.register_output("es");
        let handle = spawn(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            health.clone(),
        )
        .unwrap();
        (handle, metrics, health)
    }

    #[test]
    fn serves_the_three_routes() {
        let (handle, metrics, health) = start();
        let addr = handle.local_addr();
        assert_ne!(addr.port(), 0);
        metrics.packets_received("eth0").inc_by(7);

        let page = get(addr, "/metrics", "");
        assert_eq!(page.status, 200);
        assert!(page
            .headers
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"));
        assert!(page
            .body
            .contains("netsensor_packets_received_total{capture=\"eth0\"} 7\n"));
        assert!(page
            .body
            .contains("# TYPE netsensor_packets_received_total counter"));

        let om = get(
            addr,
            "/metrics",
            "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n",
        );
        assert_eq!(om.status, 200);
        assert!(om
            .headers
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"));
        assert!(om.body.ends_with("# EOF\n"));
        assert!(om
            .body
            .contains("netsensor_build_info{version=\"9.9.9\"} 1\n"));

        let health_reply = get(addr, "/healthz", "");
        assert_eq!(
            (health_reply.status, health_reply.body.as_str()),
            (200, "ok\n")
        );

        let ready = get(addr, "/readyz", "");
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body, "not ready: capture eth0 is not open\n");

        health.set_capture_up("eth0", true);
        let ready = get(addr, "/readyz", "");
        assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
        assert!(get(addr, "/metrics", "")
            .body
            .contains("netsensor_capture_up{capture=\"eth0\"} 1\n"));

        health.set_output_up("es", false);
        let ready = get(addr, "/readyz", "");
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body, "not ready: output es is failing\n");

        assert_eq!(get(addr, "/nope", "").status, 404);
        handle.stop().unwrap();
        assert!(
            TcpStream::connect(addr).is_err(),
            "still listening after stop()"
        );
    }

    #[test]
    fn bind_error_names_the_address() {
        let (handle, metrics, health) = start();
        let addr = handle.local_addr();
        let err = spawn(addr, metrics, health).unwrap_err();
        assert!(matches!(err, ServerError::Bind { .. }));
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        drop(handle);
        assert!(
            TcpStream::connect(addr).is_err(),
            "still listening after drop"
        );
    }

    #[test]
    fn async_serve_stops_on_its_shutdown_future() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = Metrics::with_build("1", 0);
        let health = Health::new(&metrics);
        // Find a free port, then serve on it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let result = rt.block_on(async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(addr, metrics, health, async move {
                let _ = rx.await;
            }));
            let reply = tokio::task::spawn_blocking(move || {
                // The listener may need a moment to bind.
                for _ in 0..100 {
                    if TcpStream::connect(addr).is_ok() {
                        return get(addr, "/readyz", "");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                panic!("server never listened on {addr}");
            })
            .await
            .unwrap();
            tx.send(()).unwrap();
            (reply.status, server.await.unwrap())
        });
        assert_eq!(result.0, 200, "no captures or outputs registered: ready");
        result.1.unwrap();
    }
}
