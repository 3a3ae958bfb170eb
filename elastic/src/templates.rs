//! Index templates, ingest pipeline and lifecycle policies, generated from the field table.
//!
//! One component template holds the index settings, one per record kind holds its
//! mappings, and one composable index template per kind ties them to the kind's data
//! streams (`logs-netsensor.<kind>-*`, priority [`PRIORITY`], above the stock `logs-*-*`
//! template's 100). Mappings are `dynamic: strict`: a field that is not in the table is
//! rejected, so a typo in the sensor fails loudly instead of creating a stray field.
//!
//! Every body carries `_meta: {managed_by, version, fingerprint}`: `version` is
//! [`SCHEMA_VERSION`], `fingerprint` a hash of the body itself, so setup can tell
//! "unchanged" from "changed at the same version" (another engine module, lifecycle on
//! or off) without comparing the cluster's normalised copy field by field.

use std::collections::BTreeMap;

use netsensor_schema::{EsType, Event, EventId, Field, RecordKind, Timestamp, FIELDS};
use serde_json::{json, Map, Value};

use crate::capabilities::Capabilities;
use crate::names;

/// Version of the generated templates, written to `_meta.version` of every body.
///
/// Bump it whenever the generated JSON changes (a field added, removed or retyped in
/// `netsensor_schema::FIELDS`, a setting, the pipeline, a policy); the test
/// `version_is_bumped_when_templates_change` fails until you do. `setup` updates templates
/// whose installed version is older and rolls the data streams over so that the new
/// mapping applies to new backing indices; a newer installed version is left alone.
pub const SCHEMA_VERSION: u64 = 2;

/// `_meta.managed_by` of everything netsensor installs.
pub const MANAGED_BY: &str = "netsensor";

/// Priority of the index templates: above the built-in `logs-*-*` template (100).
pub const PRIORITY: u64 = 200;

/// Base priority of namespace-scoped templates (see [`Scope::Namespace`]): above
/// [`PRIORITY`], so they win over the cluster-wide ones for their namespace. The prefix's
/// length is added, so of two overlapping scopes (`perf` and `perf2`) the more specific
/// wins, and the engines never see two overlapping templates of equal priority (which
/// they refuse).
pub const SCOPED_PRIORITY: u64 = 210;

/// Name of the ingest pipeline.
pub const PIPELINE: &str = "netsensor-ingest";

/// Name of the lifecycle policy (ILM or ISM).
pub const POLICY: &str = "netsensor";

/// Fields the cluster adds at ingest (set by [`PIPELINE`]), never the sensor: mapped in
/// every kind, absent from the records.
pub const INGEST_FIELDS: &[(&str, EsType)] = &[("event.ingested", EsType::Date)];

/// Which data streams a set of templates covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every namespace: `logs-netsensor.<kind>-*`, templates named `netsensor-<kind>`.
    #[default]
    All,
    /// Namespaces starting with this prefix only: `logs-netsensor.<kind>-<prefix>*`, names
    /// suffixed with `-<prefix>`, priority [`SCOPED_PRIORITY`] plus the prefix's length
    /// (the longest matching prefix wins). For a namespace that needs
    /// its own settings, and for tests that must not disturb the cluster-wide templates.
    Namespace(String),
}

impl Scope {
    fn suffix(&self) -> String {
        match self {
            Scope::All => String::new(),
            Scope::Namespace(prefix) => format!("-{prefix}"),
        }
    }

    /// The index pattern of `kind`'s data streams in this scope.
    pub fn index_pattern(&self, kind: RecordKind) -> String {
        match self {
            Scope::All => names::index_pattern(kind),
            Scope::Namespace(prefix) => {
                format!("{}-{}-{prefix}*", names::TYPE, names::dataset(kind))
            }
        }
    }

    /// Name of `kind`'s composable index template.
    pub fn index_template(&self, kind: RecordKind) -> String {
        format!("netsensor-{}{}", kind.name(), self.suffix())
    }

    /// Name of `kind`'s mappings component template.
    pub fn mappings_component(&self, kind: RecordKind) -> String {
        format!("netsensor-{}-mappings{}", kind.name(), self.suffix())
    }

    /// Name of the settings component template.
    pub fn settings_component(&self) -> String {
        format!("netsensor-settings{}", self.suffix())
    }

    fn priority(&self) -> u64 {
        match self {
            Scope::All => PRIORITY,
            Scope::Namespace(prefix) => SCOPED_PRIORITY + prefix.len() as u64,
        }
    }
}

/// Which lifecycle policy, if any, the settings reference and setup installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Elasticsearch ILM: `index.lifecycle.name` in the settings.
    Ilm,
    /// OpenSearch ISM: the policy's own `ism_template` attaches it to new backing indices.
    Ism,
}

/// Rollover and retention of the lifecycle policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Roll over when the primary shard reaches this size (`50gb`).
    pub max_primary_shard_size: String,
    /// Roll over when the write index is this old (`1d`).
    pub max_age: String,
    /// Delete backing indices this long after rollover (ILM) or creation (ISM) (`30d`).
    pub delete_after: String,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_primary_shard_size: "50gb".into(),
            max_age: "1d".into(),
            delete_after: "30d".into(),
        }
    }
}

/// What the templates are rendered for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// Which data streams.
    pub scope: Scope,
    /// The lifecycle policy to reference; `None` for none.
    pub lifecycle: Option<Lifecycle>,
    /// Whether the settings name [`PIPELINE`] as `index.default_pipeline`: only once the
    /// pipeline is installed, because a missing default pipeline fails every write.
    pub pipeline: bool,
}

impl RenderOptions {
    /// Options for a cluster with `caps`: the pipeline where ingest pipelines exist, the
    /// lifecycle system it has when `lifecycle` is wanted.
    pub fn for_cluster(caps: &Capabilities, scope: Scope, lifecycle: bool) -> Self {
        let lifecycle = if !lifecycle {
            None
        } else if caps.ilm {
            Some(Lifecycle::Ilm)
        } else if caps.ism {
            Some(Lifecycle::Ism)
        } else {
            None
        };
        RenderOptions {
            scope,
            lifecycle,
            pipeline: caps.ingest_pipelines,
        }
    }
}

/// Everything setup installs, in install order.
#[derive(Debug, Clone)]
pub struct Templates {
    /// `PUT _ingest/pipeline/{PIPELINE}` body, when [`RenderOptions::pipeline`].
    pub pipeline: Option<Value>,
    /// The lifecycle policy body, when [`RenderOptions::lifecycle`].
    pub lifecycle: Option<(Lifecycle, Value)>,
    /// `PUT _component_template/{name}` bodies.
    pub components: Vec<(String, Value)>,
    /// `PUT _index_template/{name}` bodies, with the record kind each serves.
    pub index_templates: Vec<(RecordKind, String, Value)>,
}

/// Renders every body for a cluster with `caps`.
pub fn render(caps: &Capabilities, options: &RenderOptions) -> Templates {
    let scope = &options.scope;
    let mut components = vec![(scope.settings_component(), settings_component(options))];
    let mut index_templates = Vec::new();
    for kind in RecordKind::ALL {
        components.push((
            scope.mappings_component(kind),
            with_meta(json!({"template": {"mappings": mappings(kind, caps)}})),
        ));
        let body = json!({
            "index_patterns": [scope.index_pattern(kind)],
            "data_stream": {},
            "priority": scope.priority(),
            "composed_of": [scope.settings_component(), scope.mappings_component(kind)],
            "_meta": {"description": format!("netsensor {} records", kind.name())},
        });
        index_templates.push((kind, scope.index_template(kind), with_meta(body)));
    }
    let lifecycle = options.lifecycle.map(|lifecycle| {
        let retention = Retention::default();
        let body = match lifecycle {
            Lifecycle::Ilm => ilm_policy(&retention),
            Lifecycle::Ism => ism_policy(&retention),
        };
        (lifecycle, body)
    });
    Templates {
        pipeline: options.pipeline.then(pipeline),
        lifecycle,
        components,
        index_templates,
    }
}

/// Every file under `elasticsearch/` that is generated, as `(relative path, body)`: the
/// templates rendered for `caps` (cluster-wide scope, lifecycle on), the pipeline, and
/// both lifecycle policies (each engine reads its own).
pub fn render_all(caps: &Capabilities) -> Vec<(String, Value)> {
    let options = RenderOptions::for_cluster(caps, Scope::All, true);
    let templates = render(caps, &options);
    let mut files = Vec::new();
    for (name, body) in templates.components {
        files.push((format!("component/{name}.json"), body));
    }
    for (_, name, body) in templates.index_templates {
        files.push((format!("index-templates/{name}.json"), body));
    }
    files.push((format!("pipelines/{PIPELINE}.json"), pipeline()));
    let retention = Retention::default();
    files.push((format!("ilm/{POLICY}.json"), ilm_policy(&retention)));
    files.push((format!("ism/{POLICY}.json"), ism_policy(&retention)));
    files
}

/// The mapped fields of `kind` with the type each gets on a cluster with `caps`: the
/// record fields of the table and [`INGEST_FIELDS`].
pub fn mapped_fields(kind: RecordKind, caps: &Capabilities) -> Vec<(&'static str, EsType)> {
    let mut fields: Vec<_> = netsensor_schema::fields_for(kind)
        .map(|field| (field.name, effective_type(field, kind, caps)))
        .collect();
    fields.extend(INGEST_FIELDS.iter().copied());
    fields
}

/// The type a field gets: its module type where the cluster has the module (and, for
/// `constant_keyword`, the value is known), else its core type.
pub fn effective_type(field: &Field, kind: RecordKind, caps: &Capabilities) -> EsType {
    match field.module_type {
        Some(EsType::ConstantKeyword)
            if caps.constant_keyword && constant_value(field.name, kind).is_some() =>
        {
            EsType::ConstantKeyword
        }
        Some(EsType::Wildcard) if caps.wildcard => EsType::Wildcard,
        Some(EsType::MatchOnlyText) if caps.match_only_text => EsType::MatchOnlyText,
        _ => field.es_type,
    }
}

/// The value of a `constant_keyword` field in `kind`'s data streams, taken from the
/// record types themselves (OpenSearch requires the value in the mapping).
pub fn constant_value(name: &str, kind: RecordKind) -> Option<&'static str> {
    let span = Timestamp(0);
    let event = match kind {
        RecordKind::Packet => Event::packet(EventId(0)),
        RecordKind::Flow => Event::flow(EventId(0), span, span, true),
        RecordKind::Rollup => Event::rollup(EventId(0), span, span),
    };
    match name {
        "event.dataset" => Some(event.dataset),
        "event.module" => Some(event.module),
        _ => None,
    }
}

/// The `mappings` of `kind`'s data streams.
pub fn mappings(kind: RecordKind, caps: &Capabilities) -> Value {
    let mut root = Map::new();
    let fields: BTreeMap<&str, &Field> = FIELDS
        .iter()
        .filter(|f| f.in_kind(kind))
        .map(|f| (f.name, f))
        .collect();
    for (name, field) in &fields {
        let ty = effective_type(field, kind, caps);
        let mut mapping = json!({"type": ty.name()});
        match ty {
            EsType::Keyword => mapping["ignore_above"] = json!(1024),
            EsType::ConstantKeyword => mapping["value"] = json!(constant_value(name, kind)),
            _ => {}
        }
        if field.text_subfield {
            let text = if caps.match_only_text {
                EsType::MatchOnlyText
            } else {
                EsType::Text
            };
            mapping["fields"] = json!({"text": {"type": text.name()}});
        }
        insert_path(&mut root, name, mapping);
    }
    for (name, ty) in INGEST_FIELDS {
        insert_path(&mut root, name, json!({"type": ty.name()}));
    }
    json!({"dynamic": "strict", "date_detection": false, "properties": root})
}

/// Puts `mapping` at the dotted `path` of a `properties` tree.
fn insert_path(properties: &mut Map<String, Value>, path: &str, mapping: Value) {
    match path.split_once('.') {
        None => {
            properties.insert(path.to_owned(), mapping);
        }
        Some((head, rest)) => {
            let object = properties
                .entry(head.to_owned())
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(children) = object["properties"].as_object_mut() {
                insert_path(children, rest, mapping);
            }
        }
    }
}

fn settings_component(options: &RenderOptions) -> Value {
    let mut index = json!({"codec": "best_compression"});
    if options.pipeline {
        index["default_pipeline"] = json!(PIPELINE);
    }
    if options.lifecycle == Some(Lifecycle::Ilm) {
        index["lifecycle"] = json!({"name": POLICY});
    }
    with_meta(json!({"template": {"settings": {"index": index}}}))
}

/// The ingest pipeline: stamps `event.ingested`. The mustache template (not `copy_from`,
/// which OpenSearch's `set` processor lacks) works on both engines.
pub fn pipeline() -> Value {
    json!({
        "description": "netsensor: sets event.ingested to the time the cluster received the record",
        "version": SCHEMA_VERSION,
        "processors": [
            {"set": {"field": "event.ingested", "value": "{{{_ingest.timestamp}}}"}}
        ],
    })
}

/// ILM policy: hot with rollover, delete after the retention.
pub fn ilm_policy(retention: &Retention) -> Value {
    let policy = json!({
        "phases": {
            "hot": {"min_age": "0ms", "actions": {"rollover": {
                "max_primary_shard_size": retention.max_primary_shard_size,
                "max_age": retention.max_age,
            }}},
            "delete": {"min_age": retention.delete_after, "actions": {"delete": {}}},
        }
    });
    json!({"policy": with_meta(policy)})
}

/// ISM policy: the same lifecycle for OpenSearch's index-management plugin; its
/// `ism_template` attaches it to every new backing index of the netsensor data streams.
pub fn ism_policy(retention: &Retention) -> Value {
    let body = json!({
        "default_state": "hot",
        "states": [
            {
                "name": "hot",
                "actions": [{"rollover": {
                    "min_primary_shard_size": retention.max_primary_shard_size,
                    "min_index_age": retention.max_age,
                }}],
                "transitions": [{"state_name": "delete",
                                 "conditions": {"min_index_age": retention.delete_after}}],
            },
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [{"index_patterns": ["logs-netsensor.*"], "priority": 100}],
    });
    // ISM policies have no `_meta`; the version and fingerprint go in the description.
    let fingerprint = fingerprint(&body);
    let mut body = body;
    body["description"] = json!(format!(
        "netsensor lifecycle (managed_by {MANAGED_BY}, version {SCHEMA_VERSION}, fingerprint {fingerprint})"
    ));
    json!({"policy": body})
}

/// Adds `_meta.managed_by`, `_meta.version` and `_meta.fingerprint` (of the body
/// without the fingerprint) to a template or ILM policy body.
fn with_meta(mut body: Value) -> Value {
    let meta = body
        .as_object_mut()
        .map(|map| map.entry("_meta").or_insert_with(|| json!({})));
    if let Some(meta) = meta {
        meta["managed_by"] = json!(MANAGED_BY);
        meta["version"] = json!(SCHEMA_VERSION);
    }
    let fingerprint = fingerprint(&body);
    body["_meta"]["fingerprint"] = json!(fingerprint);
    body
}

/// FNV-1a (64 bit, hex) of a body's canonical JSON (object keys sorted).
pub fn fingerprint(body: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical(body).bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// JSON text with object keys sorted, whatever `serde_json`'s map order.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<_, _> = map.iter().collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// The `_meta` (or, for ISM, description) version of an installed body, if netsensor
/// installed it.
pub fn installed_version(body: &Value) -> Option<u64> {
    let meta = &body["_meta"];
    if meta["managed_by"] == MANAGED_BY {
        return meta["version"].as_u64();
    }
    None
}

/// The `_meta.fingerprint` of a body.
pub fn installed_fingerprint(body: &Value) -> Option<&str> {
    body["_meta"]["fingerprint"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_follow_the_field_table() {
        let caps = Capabilities::default();
        for kind in RecordKind::ALL {
            let mapping = mappings(kind, &caps);
            assert_eq!(mapping["dynamic"], "strict");
            for field in netsensor_schema::fields_for(kind) {
                let mut at = &mapping;
                for part in field.name.split('.') {
                    at = &at["properties"][part];
                }
                assert_eq!(at["type"], field.es_type.name(), "{}", field.name);
            }
        }
        let packet = mappings(RecordKind::Packet, &caps);
        assert_eq!(packet["properties"]["@timestamp"]["type"], "date_nanos");
        assert_eq!(
            packet["properties"]["source"]["properties"]["ip"]["type"],
            "ip"
        );
        assert_eq!(
            packet["properties"]["url"]["properties"]["original"]["fields"]["text"]["type"],
            "text"
        );
        // Flow-only fields are not in the packet mapping: strict rejects them.
        assert!(packet["properties"]["netsensor"]["properties"]["flow"].is_null());
    }

    #[test]
    fn module_types_only_where_the_cluster_has_them() {
        let full = Capabilities::FULL_ELASTICSEARCH;
        let flow = mappings(RecordKind::Flow, &full);
        let event = &flow["properties"]["event"]["properties"];
        assert_eq!(event["dataset"]["type"], "constant_keyword");
        assert_eq!(event["dataset"]["value"], "netsensor.flow");
        assert_eq!(event["module"]["value"], "netsensor");
        let packet = mappings(RecordKind::Packet, &full);
        let url = &packet["properties"]["url"]["properties"]["original"];
        assert_eq!(url["type"], "wildcard");
        assert_eq!(url["fields"]["text"]["type"], "match_only_text");
        assert!(url.get("ignore_above").is_none());
    }

    #[test]
    fn pipeline_and_lifecycle_only_when_wanted_and_available() {
        let bare = render(&Capabilities::default(), &RenderOptions::default());
        assert!(bare.pipeline.is_none() && bare.lifecycle.is_none());
        let settings = &bare.components[0].1["template"]["settings"]["index"];
        assert!(settings.get("default_pipeline").is_none());
        assert!(settings.get("lifecycle").is_none());

        let full = Capabilities::FULL_ELASTICSEARCH;
        let options = RenderOptions::for_cluster(&full, Scope::All, true);
        let rendered = render(&full, &options);
        assert!(rendered.pipeline.is_some());
        assert_eq!(
            rendered.lifecycle.as_ref().map(|l| l.0),
            Some(Lifecycle::Ilm)
        );
        let settings = &rendered.components[0].1["template"]["settings"]["index"];
        assert_eq!(settings["default_pipeline"], PIPELINE);
        assert_eq!(settings["lifecycle"]["name"], POLICY);
    }

    #[test]
    fn index_templates_beat_the_stock_logs_template() {
        let rendered = render(&Capabilities::default(), &RenderOptions::default());
        for (kind, name, body) in &rendered.index_templates {
            assert_eq!(name, &format!("netsensor-{}", kind.name()));
            assert!(body["priority"].as_u64().unwrap() > 100);
            assert_eq!(body["data_stream"], json!({}));
            assert_eq!(body["index_patterns"][0], names::index_pattern(*kind));
            assert_eq!(body["_meta"]["version"], SCHEMA_VERSION);
        }
        let scoped = Scope::Namespace("t42".into());
        assert_eq!(
            scoped.index_pattern(RecordKind::Flow),
            "logs-netsensor.flow-t42*"
        );
        assert_eq!(
            scoped.mappings_component(RecordKind::Flow),
            "netsensor-flow-mappings-t42"
        );
        // Overlapping scopes never tie: the longer prefix is more specific and wins.
        let wider = Scope::Namespace("t4".into());
        assert!(scoped.priority() > wider.priority());
        assert!(wider.priority() > Scope::All.priority());
    }

    #[test]
    fn fingerprints_change_with_content_and_ignore_key_order() {
        let a = json!({"a": 1, "b": [1, {"c": 2, "d": 3}]});
        let b = json!({"b": [1, {"d": 3, "c": 2}], "a": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": 2})));
        let body = with_meta(json!({"template": {}}));
        assert_eq!(installed_version(&body), Some(SCHEMA_VERSION));
        assert_eq!(installed_fingerprint(&body).map(str::len), Some(16));
    }

    /// The fingerprint of everything rendered, for each released [`SCHEMA_VERSION`].
    const RELEASED: &[(u64, &str)] = &[(1, "8dc3b8f7c4a74f9f"), (2, "9bccd59171c05891")];

    #[test]
    fn version_is_bumped_when_templates_change() {
        let mut all = render_all(&Capabilities::FULL_ELASTICSEARCH);
        all.extend(render_all(&Capabilities::default()));
        // Leave out what a version bump itself changes (versions, fingerprints, the ISM
        // description that carries both), so the fingerprint is that of the content.
        fn strip(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    for key in ["version", "fingerprint", "description"] {
                        map.remove(key);
                    }
                    map.values_mut().for_each(strip);
                }
                Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut bodies = Value::Array(
            all.into_iter()
                .map(|(path, body)| json!([path, body]))
                .collect(),
        );
        strip(&mut bodies);
        let now = fingerprint(&bodies);
        let recorded = RELEASED
            .iter()
            .find(|(v, _)| *v == SCHEMA_VERSION)
            .map(|r| r.1);
        assert_eq!(
            recorded,
            Some(now.as_str()),
            "the generated templates changed (fingerprint {now}): bump SCHEMA_VERSION to {} \
             and add ({}, \"{now}\") to RELEASED, or, if version {SCHEMA_VERSION} was never \
             released, update its fingerprint",
            SCHEMA_VERSION + 1,
            SCHEMA_VERSION + 1,
        );
    }

    #[test]
    fn ilm_and_ism_policies_have_the_documented_shape() {
        let retention = Retention::default();
        let ilm = ilm_policy(&retention);
        let hot = &ilm["policy"]["phases"]["hot"]["actions"]["rollover"];
        assert_eq!(hot["max_primary_shard_size"], "50gb");
        assert_eq!(hot["max_age"], "1d");
        assert_eq!(ilm["policy"]["phases"]["delete"]["min_age"], "30d");
        assert!(ilm["policy"]["phases"]["delete"]["actions"]["delete"].is_object());

        let ism = &ism_policy(&retention)["policy"];
        assert_eq!(ism["default_state"], "hot");
        let states = ism["states"].as_array().unwrap();
        let names: Vec<_> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["hot", "delete"]);
        for state in states {
            for transition in state["transitions"].as_array().unwrap() {
                let target = transition["state_name"].as_str().unwrap();
                assert!(names.contains(&target), "unknown state {target}");
            }
        }
        assert!(ism["description"]
            .as_str()
            .unwrap()
            .contains(&format!("version {SCHEMA_VERSION}")));
        assert!(ism["ism_template"][0]["index_patterns"].is_array());
    }
}
