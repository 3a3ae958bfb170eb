//! Installs what the data streams need, idempotently: ingest pipeline, lifecycle policy,
//! component and index templates, the data streams themselves, and on a secured
//! Elasticsearch the roles of the sensor and the admin tool.
//!
//! Every object is compared with what is installed (by `_meta.version` and
//! `_meta.fingerprint`), so a second run changes nothing and says "unchanged". Templates
//! from an older netsensor are replaced and the existing data streams rolled over, so new
//! backing indices get the new mapping (a mapping of an existing index cannot change
//! type). Templates from a newer netsensor are left alone.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};

use crate::capabilities::Capabilities;
use crate::connection::{Cluster, Sensitive};
use crate::engine::Engine;
use crate::error::Error;
use crate::names;
use crate::templates::{self, Lifecycle, RenderOptions, Scope, MANAGED_BY, SCHEMA_VERSION};
use netsensor_schema::RecordKind;

/// Role of the sensor: append documents to the netsensor data streams, nothing else.
pub const SENSOR_ROLE: &str = "netsensor-sensor";

/// Role of the admin tool: templates, policies, pipelines, and managing, reading and
/// deleting the netsensor data streams.
pub const ADMIN_ROLE: &str = "netsensor-admin";

/// Index names the roles cover: the data streams and their backing indices.
const ROLE_INDICES: [&str; 2] = ["logs-netsensor.*", ".ds-logs-netsensor.*"];

/// What `install` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOptions {
    /// Namespaces whose data streams are created (`logs-netsensor.<kind>-<namespace>`).
    pub namespaces: Vec<String>,
    /// Which data streams the templates cover; [`Scope::All`] normally.
    pub scope: Scope,
    /// Install and reference a lifecycle policy where the engine has one (ILM, ISM).
    pub lifecycle: bool,
    /// Create the data streams now rather than on the sensor's first write.
    pub create_data_streams: bool,
    /// Create the roles [`SENSOR_ROLE`] and [`ADMIN_ROLE`] when security is on.
    pub roles: bool,
    /// Create an API key with this name for the sensor (security on only); the report
    /// carries it. Every run creates a new key.
    pub sensor_api_key: Option<String>,
}

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            namespaces: vec![names::DEFAULT_NAMESPACE.to_owned()],
            scope: Scope::All,
            lifecycle: true,
            create_data_streams: true,
            roles: true,
            sensor_api_key: None,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed with other content (older version, other capabilities) and was replaced.
    Updated,
    /// It existed as wanted.
    Unchanged,
    /// A data stream was rolled over so that a new template applies.
    RolledOver,
    /// Not installed, and why.
    Skipped(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Created => f.write_str("created"),
            Outcome::Updated => f.write_str("updated"),
            Outcome::Unchanged => f.write_str("unchanged"),
            Outcome::RolledOver => f.write_str("rolled over"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// One line of the report: an object (`index template netsensor-flow`) and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub object: String,
    pub outcome: Outcome,
}

/// An API key for the sensor.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Key id (to invalidate it later).
    pub id: String,
    /// Key name.
    pub name: String,
    /// `base64(id:api_key)`, what the sensor sends as `Authorization: ApiKey ...`.
    pub encoded: Sensitive,
}

/// What `install` found and did.
#[derive(Debug, Clone)]
pub struct SetupReport {
    pub engine: Engine,
    pub capabilities: Capabilities,
    pub steps: Vec<Step>,
    /// The key asked for with [`SetupOptions::sensor_api_key`].
    pub sensor_api_key: Option<ApiKey>,
}

impl SetupReport {
    /// Whether anything was created, updated or rolled over.
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.outcome,
                Outcome::Created | Outcome::Updated | Outcome::RolledOver
            )
        })
    }

    /// The outcome of the object named `object`, if it was handled.
    pub fn outcome(&self, object: &str) -> Option<&Outcome> {
        self.steps
            .iter()
            .find(|s| s.object == object)
            .map(|s| &s.outcome)
    }
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.engine)?;
        for step in &self.steps {
            writeln!(f, "  {}: {}", step.object, step.outcome)?;
        }
        Ok(())
    }
}

/// Installs everything `options` asks for on `cluster`.
pub async fn install(cluster: &Cluster, options: &SetupOptions) -> Result<SetupReport, Error> {
    check_options(options)?;
    let engine = Engine::detect(cluster).await?;
    let caps = Capabilities::probe(cluster, &engine).await?;
    let render = RenderOptions::for_cluster(&caps, options.scope.clone(), options.lifecycle);
    let rendered = templates::render(&caps, &render);
    let mut steps = Vec::new();

    // The pipeline first: the settings name it as the default pipeline.
    match &rendered.pipeline {
        Some(body) => {
            let outcome = put_pipeline(cluster, body).await?;
            steps.push(step(
                format!("ingest pipeline {}", templates::PIPELINE),
                outcome,
            ));
        }
        None => steps.push(step(
            format!("ingest pipeline {}", templates::PIPELINE),
            Outcome::Skipped(
                "no ingest pipelines (ingest-common module or a node with the ingest role missing)"
                    .into(),
            ),
        )),
    }

    let policy_object = format!("lifecycle policy {}", templates::POLICY);
    match &rendered.lifecycle {
        Some((Lifecycle::Ilm, body)) => {
            let outcome = put_versioned(
                cluster,
                &format!("/_ilm/policy/{}", templates::POLICY),
                body,
                |installed| installed[templates::POLICY]["policy"].clone(),
                |desired| desired["policy"].clone(),
            )
            .await?;
            steps.push(step(format!("ILM {policy_object}"), outcome));
        }
        Some((Lifecycle::Ism, body)) => {
            let outcome = put_ism_policy(cluster, body).await?;
            steps.push(step(format!("ISM {policy_object}"), outcome));
        }
        None => {
            let why = if options.lifecycle {
                "the engine has neither ILM nor ISM"
            } else {
                "lifecycle not asked for"
            };
            steps.push(step(policy_object, Outcome::Skipped(why.into())));
        }
    }

    // Component templates before the index templates that compose them.
    let mut changed_components = Vec::new();
    for (name, body) in &rendered.components {
        let outcome = put_versioned(
            cluster,
            &format!("/_component_template/{name}"),
            body,
            |installed| installed["component_templates"][0]["component_template"].clone(),
            Value::clone,
        )
        .await?;
        if outcome == Outcome::Updated {
            changed_components.push(name.clone());
        }
        steps.push(step(format!("component template {name}"), outcome));
    }
    let mut upgraded = Vec::new();
    for (kind, name, body) in &rendered.index_templates {
        let outcome = put_versioned(
            cluster,
            &format!("/_index_template/{name}"),
            body,
            |installed| installed["index_templates"][0]["index_template"].clone(),
            Value::clone,
        )
        .await?;
        let composed_changed = body["composed_of"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| changed_components.iter().any(|n| c == n));
        if outcome == Outcome::Updated || composed_changed {
            upgraded.push(*kind);
        }
        steps.push(step(format!("index template {name}"), outcome));
    }

    // Existing data streams of upgraded kinds get a new backing index with the new mapping.
    for kind in &upgraded {
        let pattern = options.scope.index_pattern(*kind);
        for stream in list_data_streams(cluster, &caps, &pattern).await? {
            cluster
                .post(&format!("/{stream}/_rollover"), &json!({}))
                .await?;
            steps.push(step(format!("data stream {stream}"), Outcome::RolledOver));
        }
    }

    if options.create_data_streams {
        for namespace in &options.namespaces {
            for kind in RecordKind::ALL {
                let stream = names::data_stream(kind, namespace);
                if upgraded.contains(&kind) && data_stream_exists(cluster, &caps, &stream).await? {
                    continue; // reported as rolled over
                }
                let outcome = create_data_stream(cluster, &caps, &stream).await?;
                steps.push(step(format!("data stream {stream}"), outcome));
            }
        }
    }

    let mut sensor_api_key = None;
    if caps.security {
        if options.roles {
            for (name, body) in [(SENSOR_ROLE, sensor_role()), (ADMIN_ROLE, admin_role())] {
                let outcome = put_role(cluster, name, &body).await?;
                steps.push(step(format!("role {name}"), outcome));
            }
        }
        if let Some(name) = &options.sensor_api_key {
            let key = create_sensor_api_key(cluster, name).await?;
            steps.push(step(
                format!("API key {name} ({})", key.id),
                Outcome::Created,
            ));
            sensor_api_key = Some(key);
        }
    } else if options.roles || options.sensor_api_key.is_some() {
        steps.push(step(
            "roles and API keys".into(),
            Outcome::Skipped("security is not enabled on this cluster".into()),
        ));
    }

    Ok(SetupReport {
        engine,
        capabilities: caps,
        steps,
        sensor_api_key,
    })
}

/// Creates an API key that can only append documents to the netsensor data streams
/// (the privileges of [`SENSOR_ROLE`], as role descriptors of the key itself).
pub async fn create_sensor_api_key(cluster: &Cluster, name: &str) -> Result<ApiKey, Error> {
    if name.trim().is_empty() {
        return Err(Error::Config("the API key needs a name".into()));
    }
    let role = sensor_role();
    let body = json!({
        "name": name,
        "role_descriptors": {SENSOR_ROLE: {"cluster": role["cluster"], "indices": role["indices"]}},
        "metadata": {"managed_by": MANAGED_BY, "role": SENSOR_ROLE},
    });
    let path = "/_security/api_key";
    let answer = cluster.post(path, &body).await?;
    let field = |key: &str| {
        answer[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol {
                url: cluster.url_of(path),
                reason: format!("the answer has no {key}"),
            })
    };
    Ok(ApiKey {
        id: field("id")?,
        name: field("name")?,
        encoded: Sensitive::new(field("encoded")?),
    })
}

/// The sensor's role: `create_doc` (append, never overwrite) and `auto_configure` (create
/// the data stream on first write) on the netsensor data streams.
pub fn sensor_role() -> Value {
    json!({
        "cluster": [],
        "indices": [{"names": ROLE_INDICES, "privileges": ["create_doc", "auto_configure"]}],
        "metadata": {"managed_by": MANAGED_BY, "version": SCHEMA_VERSION},
    })
}

/// The admin tool's role: setup (templates, ILM, pipelines), status (`monitor`), rollover,
/// archive (`read`), delete-by-query (`delete`), whole-index deletion, and creating sensor
/// API keys (its own keys; a key cannot exceed its creator's privileges, hence
/// `create_doc` and `auto_configure`).
pub fn admin_role() -> Value {
    json!({
        "cluster": ["monitor", "manage_index_templates", "manage_ilm", "manage_pipeline",
                    "manage_own_api_key"],
        "indices": [{"names": ROLE_INDICES,
                     "privileges": ["manage", "read", "view_index_metadata", "delete",
                                    "delete_index", "create_doc", "auto_configure"]}],
        "metadata": {"managed_by": MANAGED_BY, "version": SCHEMA_VERSION},
    })
}

fn check_options(options: &SetupOptions) -> Result<(), Error> {
    for namespace in &options.namespaces {
        if !names::valid_namespace(namespace) {
            return Err(Error::Config(format!(
                "invalid namespace {namespace:?}: lower case, no '-', no spaces or \\/*?\"<>|,#:"
            )));
        }
        if let Scope::Namespace(prefix) = &options.scope {
            if !namespace.starts_with(prefix.as_str()) {
                return Err(Error::Config(format!(
                    "namespace {namespace:?} is outside the templates' scope {prefix}*"
                )));
            }
        }
    }
    if let Scope::Namespace(prefix) = &options.scope {
        if !names::valid_namespace(prefix) {
            return Err(Error::Config(format!(
                "invalid namespace prefix {prefix:?}"
            )));
        }
    }
    Ok(())
}

fn step(object: String, outcome: Outcome) -> Step {
    Step { object, outcome }
}

/// `GET path`, `None` on 404.
async fn get_optional(cluster: &Cluster, path: &str) -> Result<Option<Value>, Error> {
    let answer = cluster.send(Method::GET, path, None).await?;
    if answer.status == 404 {
        return Ok(None);
    }
    crate::connection::check_status(&Method::GET, &cluster.url_of(path), &answer)?;
    answer.json(&cluster.url_of(path)).map(Some)
}

/// Puts a body carrying `_meta.version` and `_meta.fingerprint` unless the installed copy
/// has the same fingerprint (unchanged) or a newer version (left alone).
async fn put_versioned(
    cluster: &Cluster,
    path: &str,
    desired: &Value,
    installed_part: impl Fn(&Value) -> Value,
    desired_part: impl Fn(&Value) -> Value,
) -> Result<Outcome, Error> {
    let wanted = desired_part(desired);
    let outcome = match get_optional(cluster, path).await? {
        None => Outcome::Created,
        Some(installed) => {
            let installed = installed_part(&installed);
            if let Some(skip) = compare(&installed, &wanted) {
                return Ok(skip);
            }
            Outcome::Updated
        }
    };
    cluster.put(path, desired).await?;
    Ok(outcome)
}

/// `Some(outcome)` when nothing is to be done: same fingerprint, or a newer version.
fn compare(installed: &Value, wanted: &Value) -> Option<Outcome> {
    if installed.is_null() {
        return None;
    }
    if templates::installed_fingerprint(installed).is_some()
        && templates::installed_fingerprint(installed) == templates::installed_fingerprint(wanted)
    {
        return Some(Outcome::Unchanged);
    }
    match templates::installed_version(installed) {
        Some(version) if version > SCHEMA_VERSION => Some(Outcome::Skipped(format!(
            "version {version} installed, newer than this netsensor's {SCHEMA_VERSION}"
        ))),
        _ => None,
    }
}

async fn put_pipeline(cluster: &Cluster, body: &Value) -> Result<Outcome, Error> {
    let path = format!("/_ingest/pipeline/{}", templates::PIPELINE);
    let outcome = match get_optional(cluster, &path).await? {
        None => Outcome::Created,
        Some(installed) => {
            let installed = &installed[templates::PIPELINE];
            if installed == body {
                return Ok(Outcome::Unchanged);
            }
            match installed["version"].as_u64() {
                Some(version) if version > SCHEMA_VERSION => {
                    return Ok(Outcome::Skipped(format!(
                        "version {version} installed, newer than this netsensor's {SCHEMA_VERSION}"
                    )))
                }
                _ => Outcome::Updated,
            }
        }
    };
    cluster.put(&path, body).await?;
    Ok(outcome)
}

/// ISM policies have no `_meta`: the description carries version and fingerprint, and an
/// update must name the sequence number it replaces.
async fn put_ism_policy(cluster: &Cluster, body: &Value) -> Result<Outcome, Error> {
    let path = format!("/_plugins/_ism/policies/{}", templates::POLICY);
    match get_optional(cluster, &path).await? {
        None => {
            cluster.put(&path, body).await?;
            Ok(Outcome::Created)
        }
        Some(installed) => {
            if installed["policy"]["description"] == body["policy"]["description"] {
                return Ok(Outcome::Unchanged);
            }
            let seq_no = installed["_seq_no"].as_u64().unwrap_or_default();
            let term = installed["_primary_term"].as_u64().unwrap_or_default();
            cluster
                .put(
                    &format!("{path}?if_seq_no={seq_no}&if_primary_term={term}"),
                    body,
                )
                .await?;
            Ok(Outcome::Updated)
        }
    }
}

async fn put_role(cluster: &Cluster, name: &str, body: &Value) -> Result<Outcome, Error> {
    let path = format!("/_security/role/{name}");
    let outcome = match get_optional(cluster, &path).await? {
        None => Outcome::Created,
        Some(installed) => {
            let installed = &installed[name];
            let same_indices = installed["indices"]
                .as_array()
                .map(|list| {
                    list.len() == 1
                        && list[0]["names"] == body["indices"][0]["names"]
                        && list[0]["privileges"] == body["indices"][0]["privileges"]
                })
                .unwrap_or(false);
            if same_indices
                && installed["cluster"] == body["cluster"]
                && installed["metadata"] == body["metadata"]
            {
                return Ok(Outcome::Unchanged);
            }
            Outcome::Updated
        }
    };
    cluster.put(&path, body).await?;
    Ok(outcome)
}

/// Names of the data streams matching `pattern`: `_data_stream` where it exists, else
/// `_resolve/index` (core in both engines).
pub async fn list_data_streams(
    cluster: &Cluster,
    caps: &Capabilities,
    pattern: &str,
) -> Result<Vec<String>, Error> {
    let (path, key) = if caps.data_stream_api {
        (format!("/_data_stream/{pattern}"), "data_streams")
    } else {
        (
            format!("/_resolve/index/{pattern}?expand_wildcards=all"),
            "data_streams",
        )
    };
    let Some(answer) = get_optional(cluster, &path).await? else {
        return Ok(Vec::new());
    };
    Ok(answer[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect())
}

async fn data_stream_exists(
    cluster: &Cluster,
    caps: &Capabilities,
    name: &str,
) -> Result<bool, Error> {
    Ok(list_data_streams(cluster, caps, name)
        .await?
        .iter()
        .any(|n| n == name))
}

/// Creates a data stream: `PUT _data_stream/NAME` where that API exists. Elsewhere (the
/// Elasticsearch test distribution) a write creates it through the template; setup writes
/// a probe document the strict mapping rejects, so the data stream appears and stays
/// empty (a probe that lands anyway, under a non-strict template, is deleted).
async fn create_data_stream(
    cluster: &Cluster,
    caps: &Capabilities,
    name: &str,
) -> Result<Outcome, Error> {
    if data_stream_exists(cluster, caps, name).await? {
        return Ok(Outcome::Unchanged);
    }
    if caps.data_stream_api {
        let path = format!("/_data_stream/{name}");
        let answer = cluster.send(Method::PUT, &path, None).await?;
        if answer.status == 400 && answer.body.contains("already_exists") {
            return Ok(Outcome::Unchanged); // created concurrently
        }
        crate::connection::check_status(&Method::PUT, &cluster.url_of(&path), &answer)?;
        return Ok(Outcome::Created);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let probe = json!({"@timestamp": now_ms as u64, "netsensor": {"setup_probe": true}});
    let path = format!("/{name}/_create/netsensor-setup-probe");
    let payload = ("application/json", probe.to_string().into_bytes());
    let answer = cluster.send(Method::PUT, &path, Some(payload)).await?;
    if (200..300).contains(&answer.status) {
        // The template is not strict: remove the probe from the backing index it hit.
        let landed = answer.json(&cluster.url_of(&path))?;
        if let Some(index) = landed["_index"].as_str() {
            cluster
                .delete(&format!("/{index}/_doc/netsensor-setup-probe?refresh=true"))
                .await?;
        }
    } else if answer.status != 400 && answer.status != 409 {
        crate::connection::check_status(&Method::PUT, &cluster.url_of(&path), &answer)?;
    }
    if data_stream_exists(cluster, caps, name).await? {
        Ok(Outcome::Created)
    } else {
        Err(Error::Protocol {
            url: cluster.url_of(&path),
            reason: format!(
                "data stream {name} was not created (HTTP {}: {}); is an index template for it installed?",
                answer.status,
                crate::connection::error_reason(&answer.body)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_namespaces_are_refused_before_any_request() {
        let options = SetupOptions {
            namespaces: vec!["Prod-1".into()],
            ..SetupOptions::default()
        };
        assert!(matches!(check_options(&options), Err(Error::Config(_))));
        let outside = SetupOptions {
            namespaces: vec!["default".into()],
            scope: Scope::Namespace("t1".into()),
            ..SetupOptions::default()
        };
        assert!(matches!(check_options(&outside), Err(Error::Config(_))));
        assert!(check_options(&SetupOptions::default()).is_ok());
    }

    #[test]
    fn the_sensor_role_can_only_append() {
        let role = sensor_role();
        assert_eq!(role["cluster"], json!([]));
        assert_eq!(
            role["indices"][0]["privileges"],
            json!(["create_doc", "auto_configure"])
        );
    }

    #[test]
    fn newer_installed_versions_are_left_alone() {
        let wanted = json!({"_meta": {"managed_by": "netsensor", "version": SCHEMA_VERSION, "fingerprint": "a"}});
        let newer = json!({"_meta": {"managed_by": "netsensor", "version": SCHEMA_VERSION + 1, "fingerprint": "b"}});
        let older = json!({"_meta": {"managed_by": "netsensor", "version": 0, "fingerprint": "c"}});
        assert!(matches!(
            compare(&newer, &wanted),
            Some(Outcome::Skipped(_))
        ));
        assert_eq!(compare(&wanted, &wanted), Some(Outcome::Unchanged));
        assert_eq!(compare(&older, &wanted), None);
        assert_eq!(compare(&json!({"foreign": true}), &wanted), None);
    }
}
