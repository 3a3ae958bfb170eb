//! The shipped saved objects, held offline to what Kibana's (and OpenSearch Dashboards')
//! import needs and to the index templates' mappings: structure, migration versions,
//! references, panels, controls, every field and its type; and the canonical form that
//! `netsensor-admin kibana-export` writes. (The proof against real data is in
//! kibana_proof.rs.)

mod kibana_common;

use std::collections::{HashMap, HashSet};
use std::process::Command;

use kibana_common::{
    accepts, classic_field_uses, controls, data_views, kibana_objects, kind_of_pattern,
    lens_field_uses, lens_layers, mappings, objects_dir, osd_objects, repo, Saved,
};
use serde_json::Value;

/// Kibana 8.19's versions of the types we ship (older ones are migrated on import; newer
/// ones are refused).
const KIBANA_TYPES: [(&str, &str); 3] = [
    ("index-pattern", "8.0.0"),
    ("lens", "8.9.0"),
    ("dashboard", "10.2.0"),
];
const KIBANA_CORE_MIGRATION_VERSION: &str = "8.8.0";
/// OpenSearch Dashboards 2.x migration versions.
const OSD_TYPES: [(&str, &str); 3] = [
    ("index-pattern", "7.6.0"),
    ("visualization", "7.10.0"),
    ("dashboard", "7.9.3"),
];

fn parse_embedded(saved: &Saved, value: &Value, what: &str) -> Value {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{}: {what} is not a string", saved.at()));
    serde_json::from_str(text)
        .unwrap_or_else(|err| panic!("{}: {what} does not parse: {err}", saved.at()))
}

/// type, id, attributes, references; unique ids; every reference resolves in the set.
fn common_structure(objects: &[Saved]) {
    let mut ids = HashSet::new();
    for o in objects {
        let v = &o.object;
        assert!(
            v["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{}: id",
            o.at()
        );
        assert!(v["type"].is_string(), "{}: type", o.at());
        assert!(v["attributes"].is_object(), "{}: attributes", o.at());
        assert!(
            !o.title().is_empty(),
            "{}: every object has a title",
            o.at()
        );
        assert!(
            ids.insert((o.kind().to_owned(), o.id().to_owned())),
            "{}: duplicate id",
            o.at()
        );
        let references = v["references"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: references", o.at()));
        let mut names = HashSet::new();
        for r in references {
            for key in ["id", "name", "type"] {
                assert!(r[key].is_string(), "{}: reference {r} lacks {key}", o.at());
            }
            assert!(
                names.insert(r["name"].as_str().unwrap()),
                "{}: reference name {} twice",
                o.at(),
                r["name"]
            );
        }
    }
    for o in objects {
        for r in o.object["references"].as_array().unwrap() {
            let target = (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            );
            assert!(
                ids.contains(&target),
                "{}: reference {r} resolves to no object in the set",
                o.at()
            );
        }
    }
}

/// A dashboard's panels: panelsJSON parses, grid positions fit, each panel's reference exists.
fn dashboard_panels(o: &Saved, kibana: bool) -> Vec<String> {
    let attributes = &o.object["attributes"];
    let panels = parse_embedded(o, &attributes["panelsJSON"], "panelsJSON");
    parse_embedded(o, &attributes["optionsJSON"], "optionsJSON");
    parse_embedded(
        o,
        &attributes["kibanaSavedObjectMeta"]["searchSourceJSON"],
        "searchSourceJSON",
    );
    let panels = panels
        .as_array()
        .unwrap_or_else(|| panic!("{}: panelsJSON is not an array", o.at()));
    assert!(!panels.is_empty(), "{}: no panels", o.at());
    let mut targets = Vec::new();
    let mut cells = HashSet::new();
    for panel in panels {
        let index = panel["panelIndex"].as_str().unwrap();
        let grid = &panel["gridData"];
        assert_eq!(grid["i"], index, "{}: gridData.i", o.at());
        let (x, y, w, h) = (
            grid["x"].as_u64().unwrap(),
            grid["y"].as_u64().unwrap(),
            grid["w"].as_u64().unwrap(),
            grid["h"].as_u64().unwrap(),
        );
        assert!(
            w > 0 && h > 0 && x + w <= 48,
            "{}: panel {index} outside the 48-column grid",
            o.at()
        );
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{}: panel {index} overlaps another",
                    o.at()
                );
            }
        }
        let ref_name = panel["panelRefName"].as_str().unwrap();
        let name = if kibana {
            format!("{index}:{ref_name}")
        } else {
            ref_name.to_owned()
        };
        let target = o
            .reference(&name)
            .unwrap_or_else(|| panic!("{}: panel {index} has no reference {name}", o.at()));
        targets.push(target.to_owned());
    }
    targets
}

#[test]
fn kibana_objects_are_valid_saved_objects() {
    let objects = kibana_objects();
    common_structure(&objects);
    let versions: HashMap<_, _> = KIBANA_TYPES.into_iter().collect();
    let mut on_dashboards = HashSet::new();
    for o in &objects {
        let v = &o.object;
        let expected = versions
            .get(o.kind())
            .unwrap_or_else(|| panic!("{}: type not shipped to Kibana", o.at()));
        assert_eq!(v["typeMigrationVersion"], *expected, "{}", o.at());
        assert_eq!(
            v["coreMigrationVersion"],
            KIBANA_CORE_MIGRATION_VERSION,
            "{}",
            o.at()
        );
        assert!(
            v.get("migrationVersion").is_none(),
            "{}: 8.x exports carry typeMigrationVersion only",
            o.at()
        );
        assert_eq!(v["managed"], false, "{}", o.at());
        match o.kind() {
            "index-pattern" => {
                assert_eq!(v["attributes"]["timeFieldName"], "@timestamp", "{}", o.at());
                assert!(
                    kind_of_pattern(o.title()).is_some(),
                    "{}: pattern {}",
                    o.at(),
                    o.title()
                );
                for key in ["fieldFormatMap", "fields", "runtimeFieldMap", "fieldAttrs"] {
                    parse_embedded(o, &v["attributes"][key], key);
                }
            }
            "lens" => lens_structure(o),
            "dashboard" => {
                on_dashboards.extend(dashboard_panels(o, true));
                let group = &v["attributes"]["controlGroupInput"];
                parse_embedded(
                    o,
                    &group["ignoreParentSettingsJSON"],
                    "ignoreParentSettingsJSON",
                );
                let controls = controls(o);
                assert!(!controls.is_empty(), "{}: no controls", o.at());
                for c in controls {
                    assert!(
                        c.data_view.is_some(),
                        "{}: control {} has no data view reference",
                        o.at(),
                        c.title
                    );
                }
            }
            _ => unreachable!(),
        }
    }
    for o in objects.iter().filter(|o| o.kind() == "lens") {
        assert!(
            on_dashboards.contains(o.id()),
            "{}: on no dashboard",
            o.at()
        );
    }
    let patterns: HashSet<_> = data_views(&objects).into_values().collect();
    for kind in ["packet", "flow", "rollup"] {
        assert!(
            patterns.contains(&format!("logs-netsensor.{kind}-*")),
            "no data view for {kind} records"
        );
    }
}

/// A Lens object: its layer's references, accessors that name columns, filters that name
/// references, column references that exist.
fn lens_structure(o: &Saved) {
    let state = &o.object["attributes"]["state"];
    assert!(
        o.object["attributes"]["visualizationType"]
            .as_str()
            .is_some_and(|t| t.starts_with("lns")),
        "{}: visualizationType",
        o.at()
    );
    let layers = lens_layers(&o.object);
    assert_eq!(layers.len(), 1, "{}", o.at());
    let (layer_id, layer) = &layers[0];
    assert!(
        o.reference(&format!("indexpattern-datasource-layer-{layer_id}"))
            .is_some(),
        "{}: no data view reference for layer {layer_id}",
        o.at()
    );
    let columns = layer["columns"].as_object().unwrap();
    let order: HashSet<&str> = layer["columnOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let ids: HashSet<&str> = columns.keys().map(String::as_str).collect();
    assert_eq!(order, ids, "{}: columnOrder vs columns", o.at());
    for (id, column) in columns {
        for r in column["references"].as_array().into_iter().flatten() {
            assert!(
                ids.contains(r.as_str().unwrap()),
                "{}: column {id} refers to a missing column",
                o.at()
            );
        }
        if let Some(target) = column["params"]["orderBy"]["columnId"].as_str() {
            assert!(
                ids.contains(target),
                "{}: column {id} orders by a missing column",
                o.at()
            );
        }
    }
    // Every accessor of the visualization names a column of the layer.
    let mut accessors = Vec::new();
    collect_accessors(&state["visualization"], &mut accessors);
    assert!(!accessors.is_empty(), "{}: no accessors", o.at());
    for a in accessors {
        assert!(
            ids.contains(a.as_str()),
            "{}: accessor {a} names no column",
            o.at()
        );
    }
    for filter in state["filters"].as_array().unwrap() {
        let index = filter["meta"]["index"].as_str().unwrap();
        assert!(
            o.reference(index).is_some(),
            "{}: filter index {index} is no reference",
            o.at()
        );
    }
}

fn collect_accessors(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let is_accessor = key.ends_with("Accessor")
                    || ["accessors", "metrics", "primaryGroups"].contains(&key.as_str())
                    || (key == "columnId");
                match v {
                    Value::String(s) if is_accessor => out.push(s.clone()),
                    Value::Array(items) if is_accessor => {
                        out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)))
                    }
                    _ => collect_accessors(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_accessors(i, out)),
        _ => {}
    }
}

#[test]
fn opensearch_dashboards_objects_are_valid_saved_objects() {
    let objects = osd_objects();
    common_structure(&objects);
    let versions: HashMap<_, _> = OSD_TYPES.into_iter().collect();
    for o in &objects {
        let expected = versions
            .get(o.kind())
            .unwrap_or_else(|| panic!("{}: type not shipped to OpenSearch Dashboards", o.at()));
        assert_eq!(
            o.object["migrationVersion"][o.kind()],
            *expected,
            "{}",
            o.at()
        );
        assert!(o.object.get("typeMigrationVersion").is_none(), "{}", o.at());
        match o.kind() {
            "index-pattern" => {
                assert_eq!(o.object["attributes"]["timeFieldName"], "@timestamp");
                assert!(kind_of_pattern(o.title()).is_some(), "{}", o.at());
            }
            "visualization" => {
                let attributes = &o.object["attributes"];
                let vis = parse_embedded(o, &attributes["visState"], "visState");
                assert!(
                    vis["type"].is_string() && vis["aggs"].is_array(),
                    "{}",
                    o.at()
                );
                parse_embedded(o, &attributes["uiStateJSON"], "uiStateJSON");
                let source = parse_embedded(
                    o,
                    &attributes["kibanaSavedObjectMeta"]["searchSourceJSON"],
                    "searchSourceJSON",
                );
                let name = source["indexRefName"].as_str().unwrap();
                assert!(o.reference(name).is_some(), "{}: indexRefName", o.at());
            }
            "dashboard" => {
                dashboard_panels(o, false);
            }
            _ => unreachable!(),
        }
    }
}

/// Checks one field use against the mapping of the record kind.
fn check_field(
    mappings: &HashMap<String, std::collections::BTreeMap<String, String>>,
    kind: &str,
    operation: &str,
    field: &str,
    at: &str,
) {
    let es_type = mappings[kind]
        .get(field)
        .unwrap_or_else(|| panic!("{at}: {field} is no field of {kind} records"));
    assert!(
        accepts(operation, es_type),
        "{at}: {operation} on {field} ({es_type}) is not accepted"
    );
    if operation == "region" {
        assert!(
            es_type == "geo_point" || field.ends_with("country_iso_code"),
            "{at}: a region map needs a geo_point or a country code, not {field}"
        );
    }
}

#[test]
fn every_field_exists_with_a_type_its_operation_accepts() {
    let mappings = mappings();
    for (objects, classic) in [(kibana_objects(), false), (osd_objects(), true)] {
        let views = data_views(&objects);
        let kind_of_view = |id: &str| -> String { kind_of_pattern(&views[id]).unwrap().to_owned() };
        let mut checked = 0;
        for o in &objects {
            match o.kind() {
                "index-pattern" => {
                    let kind = kind_of_pattern(o.title()).unwrap();
                    let formats =
                        parse_embedded(o, &o.object["attributes"]["fieldFormatMap"], "formats");
                    for field in formats.as_object().unwrap().keys() {
                        assert!(
                            mappings[kind].contains_key(field),
                            "{}: format for unknown field {field}",
                            o.at()
                        );
                    }
                    assert_eq!(mappings[kind]["@timestamp"], "date_nanos");
                }
                "lens" => {
                    let (layer, _) = &lens_layers(&o.object)[0];
                    let view = o
                        .reference(&format!("indexpattern-datasource-layer-{layer}"))
                        .unwrap();
                    let kind = kind_of_view(view);
                    for u in lens_field_uses(&o.object) {
                        check_field(&mappings, &kind, &u.operation, &u.field, &o.at());
                        checked += 1;
                    }
                }
                "visualization" if classic => {
                    let view = o
                        .reference("kibanaSavedObjectMeta.searchSourceJSON.index")
                        .unwrap();
                    let kind = kind_of_view(view);
                    for u in classic_field_uses(o) {
                        check_field(&mappings, &kind, &u.operation, &u.field, &o.at());
                        checked += 1;
                    }
                }
                "dashboard" => {
                    for c in controls(o) {
                        let kind = kind_of_view(c.data_view.as_deref().unwrap());
                        check_field(&mappings, &kind, &c.kind, &c.field, &o.at());
                        checked += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(checked > 10, "only {checked} field uses checked");
    }
}

/// The controls the issue asks for are on the packet dashboards.
#[test]
fn packet_dashboards_filter_by_transport_size_direction_ports_and_service() {
    let objects = kibana_objects();
    let services = objects
        .iter()
        .find(|o| o.id() == "netsensor-dashboard-services")
        .expect("the services dashboard");
    let fields: HashSet<String> = controls(services).into_iter().map(|c| c.field).collect();
    for field in [
        "network.transport",
        "network.bytes",
        "network.direction",
        "source.port",
        "destination.port",
        "netsensor.service",
        "netsensor.source.service",
        "netsensor.destination.service",
    ] {
        assert!(fields.contains(field), "no control on {field}: {fields:?}");
    }
}

/// The files are in canonical form: `kibana-export --from` over all of them (as if Kibana
/// had exported them) rewrites nothing, and the generator's output is what is committed.
#[test]
fn kibana_objects_are_canonical_and_match_their_generator() {
    for (dir, objects) in [
        (objects_dir(), kibana_objects()),
        (objects_dir().join("opensearch-dashboards"), osd_objects()),
    ] {
        let copy = tempfile::tempdir().unwrap();
        let mut export = String::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ndjson") {
                std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        // Kibana's export order and volatile fields: shuffled, with updated_at and version.
        for o in objects.iter().rev() {
            let mut v = o.object.clone();
            v["updated_at"] = "2026-01-01T00:00:00.000Z".into();
            v["version"] = "WzEsMV0=".into();
            export.push_str(&v.to_string());
            export.push('\n');
        }
        export.push_str("{\"exportedCount\":1,\"missingRefCount\":0,\"missingReferences\":[]}\n");
        let file = copy.path().join("export.json");
        std::fs::write(&file, export).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_netsensor-admin"))
            .args(["--json", "kibana-export", "--from"])
            .arg(&file)
            .arg("--out")
            .arg(copy.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["objects"].as_u64().unwrap() as usize, objects.len());
        for w in answer["files"].as_array().unwrap() {
            assert_eq!(w["changed"], false, "not canonical: {w}");
        }
    }
    let generator = repo().join("kibana-objects/generate.py");
    let out = Command::new("python3")
        .arg(&generator)
        .arg("--check")
        .output()
        .expect("python3 runs kibana-objects/generate.py");
    assert!(
        out.status.success(),
        "the committed objects differ from what generate.py writes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without a Kibana URL or a file, kibana-export refuses with a usage error; an export file
/// with a broken line is named in the error.
#[test]
fn kibana_export_refuses_bad_input() {
    let admin = env!("CARGO_BIN_EXE_netsensor-admin");
    let out = Command::new(admin)
        .env_remove("NETSENSOR_KIBANA_URL")
        .arg("kibana-export")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"lens\",\"id\":\"a\",\"attributes\":{}}\n{oops\n",
    )
    .unwrap();
    let out = Command::new(admin)
        .arg("kibana-export")
        .arg("--from")
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.ndjson line 2"), "{stderr}");
    assert!(!dir.path().join("out").join("exported.ndjson").exists());
}
