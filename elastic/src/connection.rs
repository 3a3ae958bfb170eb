//! The connection to one cluster: base URL, TLS trust and credentials.
//!
//! Credentials are sent on every request as an `Authorization` header marked sensitive, so
//! neither `reqwest`'s debug output nor ours ever prints them. With a CA file, only that CA
//! is trusted (a private cluster CA is the normal case); without one, the platform's trust
//! store is used.

use std::fmt;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::Error;

/// A secret string (password, API key); `Debug` and `Display` print `**REDACTED**`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(value.into())
    }

    /// The value; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No credentials (a cluster with security off).
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        username: String,
        password: Sensitive,
    },
    /// An API key in its encoded form (`base64(id:key)`, what the create-API-key call
    /// returns as `encoded`).
    ApiKey(Sensitive),
}

/// What it takes to talk to a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Base URL, e.g. `https://127.0.0.1:9200`.
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    /// PEM file of the CA that signed the cluster's certificate; when set, the only CA
    /// trusted.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one whole request.
    pub request_timeout: Duration,
    /// Timeout of establishing a connection.
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// A configuration for `url` without credentials and with default timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        ClusterConfig {
            url: url.into(),
            auth: Auth::None,
            ca_file: None,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A client for one cluster. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Cluster {
    client: reqwest::Client,
    base: String,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster").field("url", &self.base).finish()
    }
}

/// An answer with its status and body, for callers that branch on status themselves.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body as text (JSON for every API netsensor calls).
    pub body: String,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json(&self, url: &str) -> Result<Value, Error> {
        serde_json::from_str(&self.body).map_err(|err| Error::Protocol {
            url: url.to_owned(),
            reason: format!("body is not JSON: {err}"),
        })
    }
}

/// Installs ring as rustls' process-wide crypto provider, once. `reqwest` is built without
/// a provider of its own so that only one TLS stack is compiled in, and then panics when a
/// client is built before a provider is installed: call this before building any `reqwest`
/// client in the process ([`Cluster::new`] does).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider was installed first, which is fine as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Cluster {
    /// Builds a client; reads the CA file now, so a wrong path fails at start-up.
    pub fn new(config: &ClusterConfig) -> Result<Self, Error> {
        install_crypto_provider();
        let base = config.url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|err| Error::Config(format!("invalid cluster URL {base:?}: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "cluster URL {base:?} must start with http:// or https://"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::Config(format!(
                "cluster URL for {} carries credentials; give them as a username and password file instead",
                parsed.host_str().unwrap_or("?")
            )));
        }

        let mut headers = HeaderMap::new();
        if let Some(mut value) = authorization(&config.auth)? {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("netsensor/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|err| {
                Error::Config(format!("cannot read CA file {}: {err}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                Error::Config(format!(
                    "CA file {} holds no PEM certificate: {err}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
            .build()
            .map_err(|err| Error::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(Cluster { client, base })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and returns the answer whatever its status; only transport
    /// failures (connection, TLS) are errors.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, Error> {
        let url = self.url_of(path);
        let mut request = self.client.request(method, &url);
        if let Some((content_type, bytes)) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(&url, &err))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|err| transport_error(&url, &err))?;
        Ok(Answer { status, body })
    }

    /// Sends a request with an optional JSON body and returns the JSON answer; any status
    /// outside 2xx is an error ([`Error::Auth`] for 401/403, [`Error::Status`] otherwise).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let payload = body.map(|value| ("application/json", value.to_string().into_bytes()));
        let answer = self.send(method.clone(), path, payload).await?;
        let url = self.url_of(path);
        check_status(&method, &url, &answer)?;
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        answer.json(&url)
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        self.json(Method::GET, path, None).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.json(Method::PUT, path, Some(body)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.json(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, Error> {
        self.json(Method::DELETE, path, None).await
    }

    /// Whether `HEAD path` answers 200 (404 is `false`; anything else is an error).
    pub async fn exists(&self, path: &str) -> Result<bool, Error> {
        let answer = self.send(Method::HEAD, path, None).await?;
        match answer.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => {
                check_status(&Method::HEAD, &self.url_of(path), &answer)?;
                Ok(false)
            }
        }
    }
}

/// Turns a non-2xx answer into the matching error.
pub fn check_status(method: &Method, url: &str, answer: &Answer) -> Result<(), Error> {
    let status = answer.status;
    if StatusCode::from_u16(status).is_ok_and(|s| s.is_success()) {
        return Ok(());
    }
    let reason = error_reason(&answer.body);
    if status == 401 || status == 403 {
        return Err(Error::Auth {
            method: method.to_string(),
            url: url.to_owned(),
            status,
            reason,
        });
    }
    Err(Error::Status {
        method: method.to_string(),
        url: url.to_owned(),
        status,
        reason,
        body: answer.body.clone(),
    })
}

/// The readable part of an error body: `error.root_cause[0].reason`, `error.reason`, or
/// the start of the body.
pub fn error_reason(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let error = &value["error"];
        for candidate in [&error["root_cause"][0]["reason"], &error["reason"], error] {
            if let Some(text) = candidate.as_str() {
                let kind = error["type"].as_str().unwrap_or("");
                return if kind.is_empty() {
                    text.to_owned()
                } else {
                    format!("{kind}: {text}")
                };
            }
        }
    }
    let mut text: String = body.chars().take(200).collect();
    if text.is_empty() {
        text.push_str("(empty body)");
    }
    text
}

fn authorization(auth: &Auth) -> Result<Option<HeaderValue>, Error> {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let value = match auth {
        Auth::None => return Ok(None),
        Auth::Basic { username, password } => {
            format!(
                "Basic {}",
                b64(&format!("{username}:{}", password.expose()))
            )
        }
        Auth::ApiKey(key) => format!("ApiKey {}", key.expose().trim()),
    };
    HeaderValue::from_str(&value).map(Some).map_err(|_| {
        Error::Config("credentials contain characters not allowed in an HTTP header".into())
    })
}

/// Classifies a `reqwest` transport error: TLS problems are final, the rest retryable.
fn transport_error(url: &str, err: &reqwest::Error) -> Error {
    let reason = chain(err);
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if is_tls_error(cause) {
            return Error::Tls {
                url: url.to_owned(),
                reason,
            };
        }
        source = cause.source();
    }
    // A TLS client talking to a plain HTTP port sees a corrupt record, reported as an
    // io::Error wrapping rustls' InvalidMessage; the text is the only marker left.
    if reason.contains("InvalidContentType") || reason.contains("corrupt message") {
        return Error::Tls {
            url: url.to_owned(),
            reason,
        };
    }
    Error::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// Whether `err` is a rustls error, also when wrapped in (nested) `io::Error`s: hyper's
/// connector wraps rustls' error in an io::Error inside another, and `io::Error::source()`
/// skips what it wraps, so only `get_ref()` reaches it.
fn is_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = err;
    loop {
        if current.is::<rustls::Error>() {
            return true;
        }
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => current = inner,
            None => return false,
        }
    }
}

/// An error and its causes, joined with `: `, without repeats.
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header_is_base64_of_user_colon_password() {
        let auth = Auth::Basic {
            username: "elastic".into(),
            password: Sensitive::new("changeme"),
        };
        let value = authorization(&auth).unwrap().unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        let key = authorization(&Auth::ApiKey(Sensitive::new("abc==\n")))
            .unwrap()
            .unwrap();
        assert_eq!(key.to_str().unwrap(), "ApiKey abc==");
    }

    #[test]
    fn sensitive_values_never_print() {
        let auth = Auth::Basic {
            username: "elastic".into(),
            password: Sensitive::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let config = ClusterConfig {
            auth,
            ..ClusterConfig::new("http://127.0.0.1:9200")
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn error_reason_prefers_root_cause() {
        let body = r#"{"error":{"root_cause":[{"type":"x","reason":"deep"}],"type":"mapper_parsing_exception","reason":"top"},"status":400}"#;
        assert_eq!(error_reason(body), "mapper_parsing_exception: deep");
        assert_eq!(error_reason("not json"), "not json");
        assert_eq!(error_reason(""), "(empty body)");
    }

    #[test]
    fn urls_with_credentials_or_odd_schemes_are_refused() {
        for url in ["ftp://h:9200", "http://u:p@h:9200", "not a url"] {
            assert!(matches!(
                Cluster::new(&ClusterConfig::new(url)),
                Err(Error::Config(_))
            ));
        }
        assert!(Cluster::new(&ClusterConfig::new("http://127.0.0.1:9200/")).is_ok());
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cluster =
            Cluster::new(&ClusterConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
        let err = cluster.get("/").await.unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(err.is_retryable());
    }
}
