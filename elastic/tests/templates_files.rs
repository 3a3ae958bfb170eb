//! The files under `elasticsearch/` agree with the code: generated templates match what
//! the code renders today, and every field a summary request names is in the field table.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netsensor_elastic::capabilities::Capabilities;
use netsensor_elastic::templates::{self, render_all};
use netsensor_schema::{fields_for, RecordKind};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../elasticsearch")
}

/// Regenerate with `NETSENSOR_REGENERATE=1 cargo test --workspace -- templates_match_committed_files`.
#[test]
fn templates_match_committed_files() {
    let regenerate = std::env::var_os("NETSENSOR_REGENERATE").is_some();
    let mut drift = Vec::new();
    for (path, body) in render_all(&Capabilities::FULL_ELASTICSEARCH) {
        let file = root().join(&path);
        let text = serde_json::to_string_pretty(&body).unwrap() + "\n";
        if regenerate {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
            continue;
        }
        let committed: Option<Value> = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if committed.as_ref() != Some(&body) {
            drift.push(path);
        }
    }
    assert!(
        drift.is_empty(),
        "elasticsearch/ differs from the templates the code generates: {drift:?}; regenerate \
         with `NETSENSOR_REGENERATE=1 cargo test --workspace -- templates_match_committed_files` \
         (and bump templates::SCHEMA_VERSION if the content changed)"
    );
}

#[test]
fn committed_templates_carry_the_schema_version() {
    let file = root().join("index-templates/netsensor-packet.json");
    let body: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(body["_meta"]["managed_by"], templates::MANAGED_BY);
    assert_eq!(body["_meta"]["version"], templates::SCHEMA_VERSION);
}

/// Every `"field": ...` anywhere in a JSON body.
fn referenced_fields(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "field" {
                    if let Some(name) = child.as_str() {
                        out.insert(name.to_owned());
                    }
                }
                referenced_fields(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| referenced_fields(item, out)),
        _ => {}
    }
}

#[test]
fn summary_requests_name_only_fields_of_their_kind() {
    let dir = root().join("requests.d");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.ends_with(".json"),
            "{name}: only JSON files belong here"
        );
        let kind = RecordKind::ALL
            .into_iter()
            .find(|k| name.starts_with(&format!("{}-", k.name())))
            .unwrap_or_else(|| panic!("{name}: must start with packet-, flow- or rollup-"));
        let body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(body["size"], 0, "{name}: a summary returns no hits");
        assert!(body["aggs"].is_object(), "{name}: no aggs");
        assert!(
            body.get("query").is_none(),
            "{name}: the admin tool adds the time range"
        );
        let mut fields = BTreeSet::new();
        referenced_fields(&body, &mut fields);
        assert!(!fields.is_empty(), "{name}");
        let known: BTreeSet<&str> = fields_for(kind).map(|f| f.name).collect();
        for field in &fields {
            assert!(
                known.contains(field.as_str()),
                "{name}: {field} is not a {} field",
                kind.name()
            );
        }
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} requests");
}
