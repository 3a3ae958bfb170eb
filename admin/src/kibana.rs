//! Imports Kibana saved objects (NDJSON exports) with `POST /api/saved_objects/_import`.
//!
//! Kibana is not obtainable on the machines this was built on, so this path is untested
//! against a real Kibana: it follows the documented API (multipart upload of an NDJSON file,
//! `overwrite=true`, the `kbn-xsrf` header every non-GET Kibana API call needs), and
//! reports Kibana's own per-object errors.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use netsensor_elastic::{Auth, ClusterConfig};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;
use serde_json::Value;

use crate::error::{AdminError, Result};

const BOUNDARY: &str = "netsensor-admin-7f3a9c1e5b";

/// The outcome of importing one file.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// The NDJSON file.
    pub file: String,
    /// Objects Kibana imported.
    pub success_count: u64,
    /// Kibana's errors, one per object that failed.
    pub errors: Vec<Value>,
}

/// Every `*.ndjson` file under `dir` (recursively), sorted.
pub fn ndjson_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|err| AdminError::io("list", &d, err))?;
        for entry in entries {
            let path = entry.map_err(|err| AdminError::io("list", &d, err))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "ndjson") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Imports every file into the Kibana at `url`, with the cluster's credentials and CA.
pub async fn import(url: &str, config: &ClusterConfig, files: &[PathBuf]) -> Result<Vec<Imported>> {
    let client = client(config)?;
    let endpoint = format!(
        "{}/api/saved_objects/_import?overwrite=true",
        url.trim_end_matches('/')
    );
    let mut results = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|err| AdminError::io("read", file, err))?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("objects.ndjson");
        let response = client
            .post(&endpoint)
            .header("kbn-xsrf", "netsensor-admin")
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(name, &bytes))
            .send()
            .await
            .map_err(|err| AdminError::Failed(format!("cannot reach Kibana at {url}: {err}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(AdminError::Cluster(netsensor_elastic::Error::Auth {
                method: "POST".into(),
                url: endpoint.clone(),
                status: status.as_u16(),
                reason: netsensor_elastic::connection::error_reason(&text),
            }));
        }
        if !status.is_success() {
            return Err(AdminError::Failed(format!(
                "Kibana refused {} (HTTP {status}): {}",
                file.display(),
                text.chars().take(300).collect::<String>()
            )));
        }
        let answer: Value = serde_json::from_str(&text).unwrap_or_default();
        results.push(Imported {
            file: file.display().to_string(),
            success_count: answer["successCount"].as_u64().unwrap_or(0),
            errors: answer["errors"].as_array().cloned().unwrap_or_default(),
        });
    }
    Ok(results)
}

/// A `multipart/form-data` body with one file field named `file`.
fn multipart(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let safe: String = file_name
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect();
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\n\
         Content-Type: application/ndjson\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn client(config: &ClusterConfig) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let auth = match &config.auth {
        Auth::None => None,
        Auth::Basic { username, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", password.expose()))
        )),
        Auth::ApiKey(key) => Some(format!("ApiKey {}", key.expose().trim())),
    };
    if let Some(auth) = auth {
        let mut value = HeaderValue::from_str(&auth).map_err(|_| {
            AdminError::Config("credentials contain characters not allowed in a header".into())
        })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .default_headers(headers)
        .timeout(config.request_timeout)
        .connect_timeout(config.connect_timeout);
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|err| {
            AdminError::Config(format!("cannot read CA file {}: {err}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
            AdminError::Config(format!(
                "CA file {} holds no PEM certificate: {err}",
                path.display()
            ))
        })?;
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|err| AdminError::Config(format!("cannot build the Kibana client: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_wraps_the_file() {
        let body = String::from_utf8(multipart("a\".ndjson", b"{}\n")).unwrap();
        assert!(body.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(body.contains("filename=\"a.ndjson\""));
        assert!(body.ends_with(&format!("{{}}\n\r\n--{BOUNDARY}--\r\n")));
    }
}
