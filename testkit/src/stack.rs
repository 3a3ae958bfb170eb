//! The local engines, driven through `dev/stack/stack.sh` (docs/stack.md).
//!
//! `ensure` starts an engine when it is down and waits until it is ready; when it already
//! answers, a plain HTTP health check (no process spawned) makes the call cost about a
//! millisecond, so every test can call it first. The script holds one lock per engine, so
//! concurrent tests (and test binaries) never start an engine twice.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One of the engines `dev/stack/stack.sh` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Elasticsearch 8.19 (integ-test-zip), http://127.0.0.1:9200, security off.
    Elasticsearch,
    /// OpenSearch 2.19 with the standard modules, http://127.0.0.1:9201, security off.
    OpenSearch,
    /// Elasticsearch 8.19 with TLS and security on, https://127.0.0.1:9202, user `elastic`.
    ElasticsearchSecure,
    /// Apache Kafka 4.1 in KRaft mode, one node, PLAINTEXT on 127.0.0.1:9092. Its "URL" is
    /// the bootstrap server list, `127.0.0.1:9092`.
    Kafka,
}

impl Engine {
    /// Every engine, in the order `stack.sh status` lists them.
    pub const ALL: [Engine; 4] = [
        Engine::Elasticsearch,
        Engine::OpenSearch,
        Engine::ElasticsearchSecure,
        Engine::Kafka,
    ];

    /// The engine's name in `stack.sh` commands and under `$NETSENSOR_STACK_DIR`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Elasticsearch => "elasticsearch",
            Engine::OpenSearch => "opensearch",
            Engine::ElasticsearchSecure => "elasticsearch-secure",
            Engine::Kafka => "kafka",
        }
    }

    /// The loopback port clients use (fixed by the stack contract): HTTP for the search
    /// engines, the Kafka protocol for the broker.
    pub fn port(self) -> u16 {
        match self {
            Engine::Elasticsearch => 9200,
            Engine::OpenSearch => 9201,
            Engine::ElasticsearchSecure => 9202,
            Engine::Kafka => 9092,
        }
    }

    /// The base URL, without a trailing slash; for Kafka the bootstrap servers.
    pub fn url(self) -> String {
        let scheme = match self {
            Engine::ElasticsearchSecure => "https",
            Engine::Kafka => return format!("127.0.0.1:{}", self.port()),
            _ => "http",
        };
        format!("{scheme}://127.0.0.1:{}", self.port())
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A running engine and what a client needs to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Service {
    /// Base URL, e.g. `http://127.0.0.1:9200`.
    pub url: String,
    /// CA certificate (PEM) that signed the server certificate, for the TLS engine.
    pub ca_file: Option<PathBuf>,
    /// The `elastic` superuser's password, for the engine with security on.
    pub password: Option<String>,
}

/// The password stays out of test output.
impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("password", &self.password.as_ref().map(|_| "**REDACTED**"))
            .finish()
    }
}

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `$NETSENSOR_STACK_DIR`, or the script's default.
pub fn stack_dir() -> PathBuf {
    std::env::var_os("NETSENSOR_STACK_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/netsensor-stack"))
}

/// Starts `engine` unless it is already ready, waits until it is, and returns how to reach
/// it.
///
/// # Panics
/// When the engine cannot be started, with the script's output in the message.
pub fn ensure(engine: Engine) -> Service {
    if engine != Engine::ElasticsearchSecure && plain_engine_ready(engine) {
        return service(engine, engine.url());
    }
    let url = run_script("ensure", engine);
    service(engine, url)
}

/// Same as [`ensure`]: starts `engine` (a no-op when it runs) and waits until it is ready.
///
/// # Panics
/// When the engine cannot be started.
pub fn start(engine: Engine) -> Service {
    let url = run_script("start", engine);
    service(engine, url)
}

/// Stops `engine` (SIGTERM, then SIGKILL after the script's deadline) and returns once its
/// process is gone. Data stays, so a later [`start`] finds the same indices.
///
/// # Panics
/// When the script fails.
pub fn stop(engine: Engine) {
    run_script("stop", engine);
}

/// Runs `stack.sh COMMAND ENGINE`; returns its stdout, trimmed. The script's progress lines
/// (stderr) are passed on to the test's output.
fn run_script(command: &str, engine: Engine) -> String {
    let script = repo_root().join("dev/stack/stack.sh");
    let output = match Command::new(&script)
        .args([command, engine.name()])
        .output()
    {
        Ok(output) => output,
        Err(error) => panic!("cannot run {}: {error}", script.display()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{} {command} {engine}` failed ({}):\n{stderr}",
        script.display(),
        output.status,
    );
    if !stderr.is_empty() {
        eprint!("{stderr}");
    }
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn service(engine: Engine, url: String) -> Service {
    if engine != Engine::ElasticsearchSecure {
        return Service {
            url,
            ca_file: None,
            password: None,
        };
    }
    let dir = stack_dir().join(engine.name());
    let password_file = dir.join("elastic-password");
    let password = match std::fs::read_to_string(&password_file) {
        Ok(password) => password.trim().to_owned(),
        Err(error) => panic!("cannot read {}: {error}", password_file.display()),
    };
    Service {
        url,
        ca_file: Some(dir.join("ca.pem")),
        password: Some(password),
    }
}

/// True when the engine's process is ours (pid file present) and the cluster health
/// answers 200 at yellow or better (plain HTTP only), or the broker answers ApiVersions.
fn plain_engine_ready(engine: Engine) -> bool {
    let pid_file = stack_dir()
        .join(engine.name())
        .join("run")
        .join(format!("{}.pid", engine.name()));
    if !pid_file.exists() {
        return false;
    }
    if engine == Engine::Kafka {
        return kafka_answers(engine.port()).unwrap_or(false);
    }
    matches!(
        http_get(
            engine.port(),
            "/_cluster/health?wait_for_status=yellow&timeout=1s"
        ),
        Ok((200, _))
    )
}

/// A minimal HTTP/1.1 GET on 127.0.0.1:`port`: the status code and the body. Enough for a
/// health check without an HTTP client dependency.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line")
        })?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// True when a Kafka broker on 127.0.0.1:`port` answers an ApiVersions request (v0) with
/// error code 0: the same readiness check as `stack.sh`, without a Kafka client.
pub fn kafka_answers(port: u16) -> std::io::Result<bool> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    // size 12 | api key 18 (ApiVersions) | version 0 | correlation id 1 | client id "ns"
    stream.write_all(b"\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02ns")?;
    let mut head = [0u8; 10];
    stream.read_exact(&mut head)?;
    // size (any) | correlation id 1 | error code 0
    Ok(head[4..10] == [0, 0, 0, 1, 0, 0])
}

/// Joins the chunks of a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    //! These are the integration tests of dev/stack/stack.sh: each starts a real engine.
    use super::*;
    use std::process::Stdio;

    /// `curl` against the TLS engine (std has no TLS): status and body. Credentials and the
    /// request body go on stdin, never on the command line.
    fn curl_secure(
        service: &Service,
        auth: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, String) {
        let ca = service.ca_file.as_ref().unwrap();
        let mut command = Command::new("curl");
        command.args(["-s", "--max-time", "30", "-X", method, "--cacert"]);
        command.arg(ca);
        command.args([
            "-H",
            "content-type: application/json",
            "-w",
            "\n%{http_code}",
        ]);
        command.args(["-K", "-"]);
        command.arg(format!("{}{path}", service.url));
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut config = auth.map(|line| format!("{line}\n")).unwrap_or_default();
        if !body.is_empty() {
            config.push_str(&format!("data = {body:?}\n"));
        }
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap_or(0), body.to_owned())
    }

    fn basic(user: &str, password: &str) -> String {
        format!("user = \"{user}:{password}\"")
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
        assert_eq!(dechunk("zz\r\n"), "");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let service = Service {
            url: "https://127.0.0.1:9202".into(),
            ca_file: None,
            password: Some("s3cret-value".into()),
        };
        let shown = format!("{service:?}");
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn ensure_starts_elasticsearch() {
        let service = ensure(Engine::Elasticsearch);
        assert_eq!(service.url, "http://127.0.0.1:9200");
        assert_eq!(
            (service.ca_file.as_ref(), service.password.as_ref()),
            (None, None)
        );
        // The integ-test-zip has no rest-root module: `GET /` is not served (405), so the
        // version comes from the nodes API.
        let (status, body) = http_get(9200, "/").unwrap();
        assert_eq!(status, 405, "{body}");
        let (status, body) = http_get(9200, "/_nodes/_local?filter_path=nodes.*.version").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"version\":\"8.19."), "{body}");
        let (status, body) = http_get(9200, "/_cluster/health").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("\"cluster_name\":\"netsensor-elasticsearch\""),
            "{body}"
        );

        // Concurrent callers on a running engine get the same answer, quickly.
        let started = std::time::Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| ensure(Engine::Elasticsearch)))
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), service);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn ensure_stop_start_kafka() {
        let service = ensure(Engine::Kafka);
        assert_eq!(service, service_of(Engine::Kafka));
        assert!(kafka_answers(9092).unwrap());
        // The KRaft controller listener is up too, on loopback only.
        assert!(TcpStream::connect(("127.0.0.1", 9093)).is_ok());
        let log = stack_dir().join("kafka/logs/netsensor-kafka.log");
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("Kafka Server started"), "{log}");

        stop(Engine::Kafka);
        assert!(
            TcpStream::connect(("127.0.0.1", 9092)).is_err(),
            "still listening after stop"
        );
        let started = std::time::Instant::now();
        let again = start(Engine::Kafka);
        assert_eq!(again, service);
        assert!(kafka_answers(9092).unwrap());
        eprintln!("kafka restarted in {:?}", started.elapsed());
    }

    fn service_of(engine: Engine) -> Service {
        Service {
            url: engine.url(),
            ca_file: None,
            password: None,
        }
    }

    #[test]
    fn ensure_starts_opensearch() {
        let service = ensure(Engine::OpenSearch);
        assert_eq!(service.url, "http://127.0.0.1:9201");
        let (status, body) = http_get(9201, "/").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"distribution\" : \"opensearch\""), "{body}");
        assert!(body.contains("\"number\" : \"2.19."), "{body}");
        // The modules the product relies on are loaded.
        let (status, body) = http_get(9201, "/_nodes/plugins").unwrap();
        assert_eq!(status, 200, "{body}");
        for module in [
            "ReindexPlugin",
            "IngestCommonPlugin",
            "PainlessPlugin",
            "MapperExtras",
        ] {
            assert!(body.contains(module), "{module} missing: {body}");
        }
    }

    #[test]
    fn ensure_stop_start_keeps_credentials_elasticsearch_secure() {
        let service = ensure(Engine::ElasticsearchSecure);
        assert_eq!(service.url, "https://127.0.0.1:9202");
        let password = service.password.clone().unwrap();
        assert!(password.len() >= 16);
        let ca_file = service.ca_file.clone().unwrap();
        assert!(std::fs::read_to_string(&ca_file)
            .unwrap()
            .contains("BEGIN CERTIFICATE"));
        let password_file = stack_dir().join("elasticsearch-secure/elastic-password");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&password_file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", password_file.display());

        let elastic = basic("elastic", &password);
        let (status, body) = curl_secure(
            &service,
            Some(&elastic),
            "GET",
            "/_security/_authenticate",
            "",
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"username\":\"elastic\""), "{body}");
        let wrong = basic("elastic", "wrong-password");
        let (status, _) = curl_secure(&service, Some(&wrong), "GET", "/_cluster/health", "");
        assert_eq!(status, 401);
        let (status, _) = curl_secure(&service, None, "GET", "/_cluster/health", "");
        assert_eq!(status, 401);
        // API keys work (they need the .security index, hence the analysis module).
        let (status, body) = curl_secure(
            &service,
            Some(&elastic),
            "POST",
            "/_security/api_key",
            r#"{"name":"testkit","expiration":"1h"}"#,
        );
        assert_eq!(status, 200, "{body}");
        let encoded = body
            .split("\"encoded\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let api_key = format!("header = \"Authorization: ApiKey {encoded}\"");
        let (status, body) = curl_secure(
            &service,
            Some(&api_key),
            "GET",
            "/_security/_authenticate",
            "",
        );
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("\"authentication_type\":\"api_key\""),
            "{body}"
        );
        // Plain HTTP on the TLS port is refused.
        let plain = http_get(9202, "/_cluster/health");
        assert!(!matches!(plain, Ok((200, _))), "{plain:?}");

        // A restart keeps the CA, the password and the data.
        stop(Engine::ElasticsearchSecure);
        assert!(
            TcpStream::connect(("127.0.0.1", 9202)).is_err(),
            "still listening after stop"
        );
        let again = start(Engine::ElasticsearchSecure);
        assert_eq!(again, service);
        let (status, body) = curl_secure(&again, Some(&elastic), "GET", "/_cluster/health", "");
        assert_eq!(status, 200, "{body}");
    }
}
