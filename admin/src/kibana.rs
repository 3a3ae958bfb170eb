//! Kibana (and OpenSearch Dashboards) saved objects: import with
//! `POST /api/saved_objects/_import`, export with `POST /api/saved_objects/_export`, and the
//! canonical form both sides of the repository use (sorted keys, compact JSON, embedded JSON
//! strings canonical too, no volatile fields), so an export diffs cleanly against
//! kibana-objects/.
//!
//! Kibana is not obtainable on the machines this was built on, so the HTTP paths are untested
//! against a real Kibana: they follow the documented API (multipart upload of an NDJSON file,
//! `overwrite=true`, the `kbn-xsrf` header every non-GET Kibana API call needs, `osd-xsrf` for
//! OpenSearch Dashboards), and report the server's own per-object errors. The canonical form
//! is tested offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use netsensor_elastic::{Auth, ClusterConfig};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{Cli, KibanaExportArgs};
use crate::connect::cluster_config;
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

/// Which server the saved objects are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Kibana 8.x: Lens visualizations, data views.
    Kibana,
    /// OpenSearch Dashboards 2.x: classic visualizations, index patterns.
    OpenSearchDashboards,
}

impl Flavor {
    /// The anti-CSRF header each server demands on every non-GET API call.
    fn xsrf_header(self) -> &'static str {
        match self {
            Flavor::Kibana => "kbn-xsrf",
            Flavor::OpenSearchDashboards => "osd-xsrf",
        }
    }

    /// The server's name in messages.
    fn name(self) -> &'static str {
        match self {
            Flavor::Kibana => "Kibana",
            Flavor::OpenSearchDashboards => "OpenSearch Dashboards",
        }
    }
}

/// The sub-directory of the saved objects that holds the OpenSearch Dashboards variant.
pub const OSD_DIR: &str = "opensearch-dashboards";

/// The `*.ndjson` files directly in `dir` (not in sub-directories: those hold other
/// flavors), sorted; the data views file sorts first, so references resolve in order.
pub fn ndjson_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|err| AdminError::io("list", dir, err))?;
    for entry in entries {
        let path = entry
            .map_err(|err| AdminError::io("list", dir, err))?
            .path();
        if path.is_file() && path.extension().is_some_and(|e| e == "ndjson") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Imports every file into the server at `url`, with the cluster's credentials and CA.
pub async fn import(
    url: &str,
    flavor: Flavor,
    config: &ClusterConfig,
    files: &[PathBuf],
) -> Result<Vec<Imported>> {
    let client = client(config)?;
    let server = flavor.name();
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
            .header(flavor.xsrf_header(), "netsensor-admin")
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(name, &bytes))
            .send()
            .await
            .map_err(|err| send_error(server, url, &err))?;
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
                "{server} refused {} (HTTP {status}): {}",
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

/// Asks Kibana for `objects` (type, id) and everything they reference; returns the NDJSON
/// export as Kibana wrote it.
pub async fn export(
    url: &str,
    config: &ClusterConfig,
    objects: &[(String, String)],
) -> Result<String> {
    let client = client(config)?;
    let endpoint = format!("{}/api/saved_objects/_export", url.trim_end_matches('/'));
    let wanted: Vec<Value> = objects
        .iter()
        .map(|(kind, id)| serde_json::json!({"type": kind, "id": id}))
        .collect();
    let body = serde_json::json!({"objects": wanted, "includeReferencesDeep": true});
    let response = client
        .post(&endpoint)
        .header("kbn-xsrf", "netsensor-admin")
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|err| send_error("Kibana", url, &err))?;
    let status = response.status();
    let text = response.text().await.map_err(|err| {
        AdminError::Failed(format!("Kibana's export answer was cut short: {err}"))
    })?;
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(AdminError::Cluster(netsensor_elastic::Error::Auth {
            method: "POST".into(),
            url: endpoint,
            status: status.as_u16(),
            reason: netsensor_elastic::connection::error_reason(&text),
        }));
    }
    if !status.is_success() {
        return Err(AdminError::Failed(format!(
            "Kibana refused the export (HTTP {status}): {}",
            text.chars().take(300).collect::<String>()
        )));
    }
    Ok(text)
}

/// Runs `kibana-export`: the dashboards already in `--out` (and `--dashboard` ones) with
/// everything they reference, from Kibana or from an export file, written back canonically.
pub async fn run_export(args: &KibanaExportArgs, cli: &Cli) -> Result<()> {
    let (text, origin) = match (&args.from, &args.kibana_url) {
        (Some(file), _) => (
            std::fs::read_to_string(file).map_err(|err| AdminError::io("read", file, err))?,
            file.display().to_string(),
        ),
        (None, Some(url)) => {
            let mut wanted = if args.out.is_dir() {
                dashboards_in(&args.out)?
            } else {
                Vec::new()
            };
            wanted.extend(
                args.dashboards
                    .iter()
                    .map(|id| ("dashboard".to_owned(), id.clone())),
            );
            if wanted.is_empty() {
                return Err(AdminError::Usage(format!(
                    "no dashboards in {} and no --dashboard: nothing to export",
                    args.out.display()
                )));
            }
            let config = cluster_config(&cli.connection)?;
            (export(url, &config, &wanted).await?, url.clone())
        }
        (None, None) => return Err(AdminError::Usage("give --kibana-url or --from".into())),
    };
    let objects = parse_objects(&text, &origin)?;
    let count = objects.len();
    let written = write_back(&args.out, objects)?;
    if cli.json {
        let out = serde_json::json!({"objects": count, "files": written});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for w in &written {
            let what = if w.changed { "written" } else { "unchanged" };
            println!("{}: {} objects, {what}", w.file, w.objects);
        }
        println!("kibana-export: {count} objects from {origin}");
    }
    Ok(())
}

/// Top-level fields that change on every save or differ between Kibana instances: left out
/// of the canonical form so that a diff shows only what an analyst changed.
const VOLATILE: [&str; 7] = [
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
    "namespaces",
    "sort",
];

/// Attributes that hold JSON inside a string (besides every `…JSON` attribute).
const EMBEDDED: [&str; 7] = [
    "fieldAttrs",
    "fieldFormatMap",
    "fields",
    "runtimeFieldMap",
    "sourceFilters",
    "typeMeta",
    "visState",
];

/// The saved objects of an export (or of one of our files), canonical, in file order. The
/// export's closing summary line (`exportedCount`, …) is dropped.
pub fn parse_objects(text: &str, origin: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|err| {
            AdminError::Failed(format!("{origin} line {}: not JSON: {err}", n + 1))
        })?;
        if value.get("exportedCount").is_some() && value.get("type").is_none() {
            continue;
        }
        if !(value["type"].is_string() && value["id"].is_string()) {
            return Err(AdminError::Failed(format!(
                "{origin} line {}: not a saved object (no type and id)",
                n + 1
            )));
        }
        out.push(canonical(value));
    }
    Ok(out)
}

/// One saved object in canonical form: volatile fields dropped, embedded JSON strings
/// re-serialized canonically, references sorted by name.
pub fn canonical(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        for key in VOLATILE {
            map.remove(key);
        }
        if let Some(attributes) = map.get_mut("attributes") {
            canonical_embedded(attributes);
        }
        if let Some(Value::Array(references)) = map.get_mut("references") {
            references.sort_by(|a, b| {
                let key = |v: &Value| {
                    (
                        v["name"].as_str().unwrap_or_default().to_owned(),
                        v["type"].as_str().unwrap_or_default().to_owned(),
                        v["id"].as_str().unwrap_or_default().to_owned(),
                    )
                };
                key(a).cmp(&key(b))
            });
        }
    }
    sorted(object)
}

/// Re-serializes every embedded JSON string under `value` canonically (strings that do not
/// parse stay as they are: Kibana may store free text under such a name).
fn canonical_embedded(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let embedded = key.ends_with("JSON") || EMBEDDED.contains(&key.as_str());
                match child {
                    Value::String(text) if embedded => {
                        if let Ok(inner @ (Value::Object(_) | Value::Array(_))) =
                            serde_json::from_str::<Value>(text)
                        {
                            *text = to_line(&inner);
                        }
                    }
                    _ => canonical_embedded(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical_embedded),
        _ => {}
    }
}

/// `value` with every object's keys in sorted order, whatever map type serde_json uses.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Compact JSON with sorted keys: one line of a canonical file.
pub fn to_line(value: &Value) -> String {
    sorted(value.clone()).to_string()
}

/// Data views first, then visualizations, then dashboards; by id within a type.
fn type_rank(kind: &str) -> u8 {
    match kind {
        "index-pattern" => 0,
        "dashboard" => 2,
        _ => 1,
    }
}

/// A canonical NDJSON file of `objects`.
pub fn render(objects: &[Value]) -> String {
    let mut objects: Vec<&Value> = objects.iter().collect();
    objects.sort_by_key(|o| {
        let kind = o["type"].as_str().unwrap_or_default();
        (
            type_rank(kind),
            o["id"].as_str().unwrap_or_default().to_owned(),
        )
    });
    objects.iter().map(|o| to_line(o) + "\n").collect()
}

fn identity(object: &Value) -> (String, String) {
    (
        object["type"].as_str().unwrap_or_default().to_owned(),
        object["id"].as_str().unwrap_or_default().to_owned(),
    )
}

/// What [`write_back`] did to one file.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file.
    pub file: String,
    /// Objects it now holds.
    pub objects: usize,
    /// Whether its bytes changed.
    pub changed: bool,
}

/// The dashboards (type, id) that the canonical files in `dir` hold.
pub fn dashboards_in(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for file in ndjson_files(dir)? {
        let text =
            std::fs::read_to_string(&file).map_err(|err| AdminError::io("read", &file, err))?;
        for object in parse_objects(&text, &file.display().to_string())? {
            if object["type"] == "dashboard" {
                out.push(identity(&object));
            }
        }
    }
    Ok(out)
}

/// Writes `objects` into the canonical files of `dir`: each object replaces its namesake in
/// the file that already holds it, new objects go to `exported.ndjson`; objects the export
/// did not include stay where they are (nothing is dropped silently). Files are rewritten
/// only when their bytes change.
pub fn write_back(dir: &Path, objects: Vec<Value>) -> Result<Vec<Written>> {
    std::fs::create_dir_all(dir).map_err(|err| AdminError::io("create", dir, err))?;
    let mut files: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    let mut home: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in ndjson_files(dir)? {
        let text =
            std::fs::read_to_string(&file).map_err(|err| AdminError::io("read", &file, err))?;
        let held = parse_objects(&text, &file.display().to_string())?;
        for object in &held {
            home.insert(identity(object), file.clone());
        }
        files.insert(file, held);
    }
    let new_file = dir.join("exported.ndjson");
    for object in objects {
        let key = identity(&object);
        let file = home.get(&key).cloned().unwrap_or_else(|| new_file.clone());
        let held = files.entry(file.clone()).or_default();
        match held.iter_mut().find(|o| identity(o) == key) {
            Some(slot) => *slot = object,
            None => held.push(object),
        }
        home.insert(key, file);
    }
    let mut written = Vec::new();
    for (file, held) in files {
        let text = render(&held);
        let changed = std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str());
        if changed {
            std::fs::write(&file, &text).map_err(|err| AdminError::io("write", &file, err))?;
        }
        written.push(Written {
            file: file.display().to_string(),
            objects: held.len(),
            changed,
        });
    }
    Ok(written)
}

/// A request that got no answer: unreachable (exit code 3) when no connection was made or
/// it timed out, else a failure; the message carries the underlying cause.
fn send_error(server: &str, url: &str, err: &reqwest::Error) -> AdminError {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    if err.is_connect() || err.is_timeout() {
        AdminError::Cluster(netsensor_elastic::Error::Unreachable {
            url: format!("{server} at {url}"),
            reason,
        })
    } else {
        AdminError::Failed(format!("request to {server} at {url} failed: {reason}"))
    }
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

    #[test]
    fn canonical_form_drops_volatile_fields_and_sorts_everything() {
        let export = concat!(
            r#"{"type":"lens","id":"b","version":"WzEsMV0=","updated_at":"2026-01-01T00:00:00Z","#,
            r#""attributes":{"title":"B","visState":"{\"z\":1, \"a\":[2,1]}","note":"{\"b\":1}"},"#,
            r#""references":[{"type":"index-pattern","name":"z","id":"1"},"#,
            r#"{"type":"index-pattern","name":"a","id":"1"}],"typeMigrationVersion":"8.9.0"}"#,
            "\n",
            r#"{"type":"index-pattern","id":"a","attributes":{"title":"t","fieldFormatMap":"{\"y\":{},\"x\":{}}"},"references":[]}"#,
            "\n",
            r#"{"excludedObjects":[],"exportedCount":2,"missingRefCount":0,"missingReferences":[]}"#,
        );
        let objects = parse_objects(export, "export").unwrap();
        assert_eq!(objects.len(), 2, "the summary line is not an object");
        let text = render(&objects);
        assert_eq!(
            text,
            concat!(
                r#"{"attributes":{"fieldFormatMap":"{\"x\":{},\"y\":{}}","title":"t"},"id":"a","references":[],"type":"index-pattern"}"#,
                "\n",
                r#"{"attributes":{"note":"{\"b\":1}","title":"B","visState":"{\"a\":[2,1],\"z\":1}"},"id":"b","#,
                r#""references":[{"id":"1","name":"a","type":"index-pattern"},{"id":"1","name":"z","type":"index-pattern"}],"#,
                r#""type":"lens","typeMigrationVersion":"8.9.0"}"#,
                "\n"
            )
        );
        // Canonical is a fixed point.
        assert_eq!(render(&parse_objects(&text, "again").unwrap()), text);
    }

    #[test]
    fn a_line_that_is_not_a_saved_object_is_an_error() {
        let err = parse_objects("{\"type\":\"lens\",\"id\":\"a\"}\nnot json\n", "f.ndjson")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.ndjson line 2"), "{err}");
        let err = parse_objects("{\"attributes\":{}}\n", "g")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no type and id"), "{err}");
    }

    #[test]
    fn write_back_keeps_each_object_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = r#"{"attributes":{"title":"old"},"id":"x","references":[],"type":"lens"}"#;
        let keep = r#"{"attributes":{"title":"kept"},"id":"y","references":[],"type":"lens"}"#;
        std::fs::write(dir.path().join("01-a.ndjson"), format!("{a}\n{keep}\n")).unwrap();
        let export = concat!(
            r#"{"attributes":{"title":"new"},"id":"x","references":[],"type":"lens","updated_at":"now"}"#,
            "\n",
            r#"{"attributes":{"title":"fresh"},"id":"z","references":[],"type":"dashboard"}"#,
            "\n"
        );
        let written = write_back(dir.path(), parse_objects(export, "e").unwrap()).unwrap();
        assert_eq!(written.len(), 2, "{written:?}");
        let first = std::fs::read_to_string(dir.path().join("01-a.ndjson")).unwrap();
        assert_eq!(
            first,
            format!("{}\n{keep}\n", a.replace("old", "new")),
            "replaced in place, the object the export lacked kept"
        );
        let new = std::fs::read_to_string(dir.path().join("exported.ndjson")).unwrap();
        assert!(new.contains("\"fresh\""), "{new}");
        // Writing the same again changes nothing.
        let again = write_back(dir.path(), parse_objects(export, "e").unwrap()).unwrap();
        assert!(again.iter().all(|w| !w.changed), "{again:?}");
    }
}
