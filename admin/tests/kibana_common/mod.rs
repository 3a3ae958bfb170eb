//! Shared by the Kibana saved-object tests: the shipped objects, the index templates'
//! mappings, and the translation of a panel's definition (a Lens layer, a classic
//! `visState`, a control) into the Elasticsearch request Kibana would send for it.
//!
//! The translation reads only the saved objects: no request is kept by hand, so a panel
//! that changes is proven as it now is.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The saved objects directory.
pub fn objects_dir() -> PathBuf {
    repo().join("kibana-objects")
}

/// One saved object and the file it came from.
#[derive(Debug, Clone)]
pub struct Saved {
    pub file: PathBuf,
    pub line: usize,
    pub object: Value,
}

impl Saved {
    pub fn kind(&self) -> &str {
        self.object["type"].as_str().unwrap_or_default()
    }
    pub fn id(&self) -> &str {
        self.object["id"].as_str().unwrap_or_default()
    }
    pub fn title(&self) -> &str {
        self.object["attributes"]["title"]
            .as_str()
            .unwrap_or_default()
    }
    /// `file:line (type id)`, for messages.
    pub fn at(&self) -> String {
        format!(
            "{}:{} ({} {})",
            self.file.display(),
            self.line,
            self.kind(),
            self.id()
        )
    }
    /// The id the reference called `name` points to.
    pub fn reference(&self, name: &str) -> Option<&str> {
        self.object["references"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["id"].as_str())
    }
}

/// Every object of the `*.ndjson` files directly in `dir`, in file order. Panics on a line
/// that is not JSON.
pub fn load(dir: &Path) -> Vec<Saved> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .ndjson files in {}", dir.display());
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let object: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{}:{}: not JSON: {err}", file.display(), n + 1));
            out.push(Saved {
                file: file.clone(),
                line: n + 1,
                object,
            });
        }
    }
    out
}

/// The Kibana objects (Lens, data views, dashboards).
pub fn kibana_objects() -> Vec<Saved> {
    load(&objects_dir())
}

/// The OpenSearch Dashboards objects.
pub fn osd_objects() -> Vec<Saved> {
    load(&objects_dir().join("opensearch-dashboards"))
}

/// Field → mapping type of each record kind, from the committed component templates.
pub fn mappings() -> HashMap<String, BTreeMap<String, String>> {
    let mut out = HashMap::new();
    for kind in ["packet", "flow", "rollup"] {
        let path = repo()
            .join("elasticsearch/component")
            .join(format!("netsensor-{kind}-mappings.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let template: Value = serde_json::from_str(&text).unwrap();
        let mut fields = BTreeMap::new();
        flatten(
            "",
            &template["template"]["mappings"]["properties"],
            &mut fields,
        );
        assert!(!fields.is_empty(), "no fields in {}", path.display());
        out.insert(kind.to_owned(), fields);
    }
    out
}

fn flatten(prefix: &str, properties: &Value, out: &mut BTreeMap<String, String>) {
    for (name, def) in properties.as_object().into_iter().flatten() {
        let path = format!("{prefix}{name}");
        if def.get("properties").is_some() {
            flatten(&format!("{path}."), &def["properties"], out);
        } else {
            let kind = def["type"].as_str().unwrap_or("object").to_owned();
            out.insert(path, kind);
        }
    }
}

/// The record kind a data view title covers: `logs-netsensor.packet-*` → `packet`.
pub fn kind_of_pattern(title: &str) -> Option<&str> {
    title
        .strip_prefix("logs-netsensor.")?
        .strip_suffix("-*")
        .filter(|k| ["packet", "flow", "rollup"].contains(k))
}

/// Data view id → title, for one flavor's objects.
pub fn data_views(objects: &[Saved]) -> HashMap<String, String> {
    objects
        .iter()
        .filter(|o| o.kind() == "index-pattern")
        .map(|o| (o.id().to_owned(), o.title().to_owned()))
        .collect()
}

/// Which mapping types an operation accepts.
pub fn accepts(operation: &str, es_type: &str) -> bool {
    const NUMBER: [&str; 6] = [
        "long",
        "integer",
        "short",
        "double",
        "float",
        "scaled_float",
    ];
    match operation {
        "date_histogram" => matches!(es_type, "date" | "date_nanos"),
        "terms" | "optionsListControl" => {
            matches!(es_type, "keyword" | "constant_keyword" | "ip" | "boolean")
                || NUMBER.contains(&es_type)
        }
        "unique_count" | "cardinality" => {
            matches!(es_type, "keyword" | "ip") || NUMBER.contains(&es_type)
        }
        "sum" | "average" | "avg" | "min" | "max" | "median" | "range" | "histogram"
        | "rangeSliderControl" => NUMBER.contains(&es_type),
        // A region map joins on a country code (keyword) or places points (geo_point).
        "region" => matches!(es_type, "keyword" | "geo_point"),
        "filter" => true,
        _ => false,
    }
}

/// One field use of a panel: the operation and the field.
#[derive(Debug, Clone)]
pub struct FieldUse {
    pub operation: String,
    pub field: String,
}

/// A request Kibana would send for a panel, and how to read its answer.
#[derive(Debug, Clone)]
pub struct Proof {
    /// Panel title, for messages.
    pub title: String,
    /// Data view title (`logs-netsensor.packet-*`).
    pub pattern: String,
    /// Query (filters of the panel); the test adds the time range.
    pub filters: Vec<Value>,
    /// Bucket levels, outermost first: (agg name, ES aggregation without sub-aggs).
    pub buckets: Vec<(String, Value)>,
    /// Metric aggregations at the innermost level: name → aggregation (count needs none).
    pub metrics: Vec<(String, Value)>,
    /// The metric names whose values must be present (count columns read `doc_count`).
    pub values: Vec<String>,
    /// Fields whose min/max the request needs (histogram intervals): filled in by
    /// [`Proof::body`] from a stats query.
    pub needs_range: Vec<String>,
}

/// The time range and field ranges a request is built for (Kibana's time picker and the
/// stats Kibana takes for a histogram's interval).
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    /// `@timestamp` min and max (RFC 3339 with nanoseconds) and the span in milliseconds.
    pub from: String,
    pub to: String,
    pub span_ms: u64,
    /// field → (min, max)
    pub fields: HashMap<String, (f64, f64)>,
}

impl Proof {
    /// The search body: time range + filters, nested bucket aggregations, metrics inside.
    pub fn body(&self, ranges: &Ranges) -> Value {
        let mut inner: Map<String, Value> = self.metrics.iter().cloned().collect();
        for (name, agg) in self.buckets.iter().rev() {
            let mut agg = agg.clone();
            complete(&mut agg, ranges);
            // A bucket agg may carry its own sub-aggs already (the metric it is ordered by).
            if let Some(Value::Object(own)) = agg.get_mut("aggs") {
                own.extend(inner);
            } else if !inner.is_empty() {
                agg["aggs"] = Value::Object(inner);
            }
            inner = Map::new();
            inner.insert(name.clone(), agg);
        }
        let mut filter = vec![json!({"range": {"@timestamp": {
            "gte": ranges.from, "lte": ranges.to,
            "format": "strict_date_optional_time_nanos"}}})];
        filter.extend(self.filters.iter().cloned());
        json!({"size": 0, "query": {"bool": {"filter": filter}}, "aggs": inner})
    }

    /// Checks the answer: every bucket level non-empty along some path, every value
    /// present at the innermost level. Returns the number of innermost buckets.
    pub fn check(&self, answer: &Value) -> Result<usize, String> {
        let mut level = vec![&answer["aggregations"]];
        for (name, _) in &self.buckets {
            let mut next = Vec::new();
            for node in level {
                for bucket in node[name]["buckets"].as_array().into_iter().flatten() {
                    if bucket["doc_count"].as_u64().unwrap_or(0) > 0 {
                        next.push(bucket);
                    }
                }
            }
            if next.is_empty() {
                return Err(format!("{}: no buckets at level {name}", self.title));
            }
            level = next;
        }
        for value in &self.values {
            let present = level.iter().any(|b| {
                let v = &b[value]["value"];
                v.as_f64().is_some_and(|x| x > 0.0)
            });
            if !present {
                return Err(format!("{}: no value for metric {value}", self.title));
            }
        }
        Ok(level.len())
    }
}

/// Fills in what depends on the data: the auto interval of a date histogram (Kibana aims at
/// about 50 bars over the time range) and a histogram's interval from the field's range and
/// `maxBars`.
fn complete(agg: &mut Value, ranges: &Ranges) {
    if let Some(h) = agg.get_mut("date_histogram") {
        if h["fixed_interval"] == "auto" {
            let ms = (ranges.span_ms / 50).max(1);
            h["fixed_interval"] = json!(format!("{ms}ms"));
        }
    }
    if let Some(h) = agg.get_mut("histogram") {
        if let Some(bars) = h.get("_max_bars").and_then(Value::as_f64) {
            let field = h["field"].as_str().unwrap_or_default().to_owned();
            let (min, max) = ranges.fields.get(&field).copied().unwrap_or((0.0, 1.0));
            let interval = ((max - min) / bars).ceil().max(1.0);
            let map = h.as_object_mut().unwrap();
            map.remove("_max_bars");
            map.insert("interval".into(), json!(interval));
        }
    }
}

/// The columns of a Lens object's (single) form-based layer, with the layer id.
pub fn lens_layers(object: &Value) -> Vec<(String, &Value)> {
    object["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, layer)| (id.clone(), layer))
        .collect()
}

/// Every field a Lens object uses, with its operation (filters as `filter`, region
/// accessors of maps as `region`).
pub fn lens_field_uses(object: &Value) -> Vec<FieldUse> {
    let mut out = Vec::new();
    let vis = &object["attributes"]["state"]["visualization"];
    let region = vis["regionAccessor"].as_str();
    for (_, layer) in lens_layers(object) {
        for (id, column) in layer["columns"].as_object().into_iter().flatten() {
            let op = column["operationType"].as_str().unwrap_or_default();
            let Some(field) = column["sourceField"].as_str() else {
                continue;
            };
            if field == "___records___" {
                continue;
            }
            out.push(FieldUse {
                operation: op.to_owned(),
                field: field.to_owned(),
            });
            if Some(id.as_str()) == region {
                out.push(FieldUse {
                    operation: "region".into(),
                    field: field.to_owned(),
                });
            }
        }
    }
    for filter in object["attributes"]["state"]["filters"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(key) = filter["meta"]["key"].as_str() {
            out.push(FieldUse {
                operation: "filter".into(),
                field: key.to_owned(),
            });
        }
    }
    out
}

/// Whether a Lens object needs an aggregation the Elasticsearch test distribution lacks
/// (`moving_fn`, whose script runs in the Painless module).
pub fn lens_needs_painless(object: &Value) -> bool {
    lens_layers(object).iter().any(|(_, layer)| {
        layer["columns"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, c)| c["operationType"] == "moving_average")
    })
}

/// The filters of a Lens state (or a classic search source) as query clauses. A non-empty
/// KQL query is refused: the panels pin their conditions as query-DSL filters, so the proof
/// runs exactly what Kibana runs.
fn query_clauses(query: &Value, filters: &Value, title: &str) -> Vec<Value> {
    let kql = query["query"].as_str().unwrap_or_default();
    assert!(
        kql.trim().is_empty(),
        "{title}: a KQL query ({kql:?}) cannot be proven here; pin a filter instead"
    );
    let mut out = Vec::new();
    for filter in filters.as_array().into_iter().flatten() {
        if filter["meta"]["disabled"] == true {
            continue;
        }
        let clause = filter["query"].clone();
        assert!(
            clause.is_object(),
            "{title}: a filter without a query: {filter}"
        );
        if filter["meta"]["negate"] == true {
            out.push(json!({"bool": {"must_not": [clause]}}));
        } else {
            out.push(clause);
        }
    }
    out
}

/// The request of a Lens panel, built from its layer: bucketed columns nest in column
/// order, metric columns sit in the innermost bucket, `moving_average` becomes `moving_fn`
/// over its referenced column.
pub fn lens_proof(saved: &Saved, views: &HashMap<String, String>) -> Proof {
    let object = &saved.object;
    let title = saved.title().to_owned();
    let layers = lens_layers(object);
    assert_eq!(layers.len(), 1, "{}: one layer expected", saved.at());
    let (layer_id, layer) = &layers[0];
    let view = saved
        .reference(&format!("indexpattern-datasource-layer-{layer_id}"))
        .unwrap_or_else(|| panic!("{}: layer without a data view reference", saved.at()));
    let pattern = views
        .get(view)
        .unwrap_or_else(|| panic!("{}: unknown data view {view}", saved.at()))
        .clone();
    let columns = layer["columns"].as_object().unwrap();
    let order: Vec<&str> = layer["columnOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let is_count = |id: &str| columns[id]["operationType"] == "count";
    let mut proof = Proof {
        title: title.clone(),
        pattern,
        filters: query_clauses(
            &object["attributes"]["state"]["query"],
            &object["attributes"]["state"]["filters"],
            &title,
        ),
        buckets: Vec::new(),
        metrics: Vec::new(),
        values: Vec::new(),
        needs_range: Vec::new(),
    };
    for id in &order {
        let column = &columns[*id];
        let op = column["operationType"].as_str().unwrap();
        let field = column["sourceField"].as_str().unwrap_or_default();
        let params = &column["params"];
        if column["isBucketed"] == true {
            let agg = match op {
                // Empty rows (a zero for every interval) are what moving_fn needs too.
                "date_histogram" => {
                    let interval = params["interval"].as_str().unwrap_or("auto");
                    json!({"date_histogram": {"field": field, "fixed_interval": interval,
                                              "min_doc_count": min_doc_count(params)}})
                }
                "terms" => {
                    let mut terms = json!({"field": field, "size": params["size"]});
                    let by = &params["orderBy"];
                    let direction = params["orderDirection"].as_str().unwrap_or("desc");
                    let mut own = None;
                    terms["order"] = match by["type"].as_str() {
                        Some("column") => {
                            let target = by["columnId"].as_str().unwrap();
                            if is_count(target) {
                                json!({"_count": direction})
                            } else {
                                // Kibana orders by a copy of the metric inside the terms.
                                let name = format!("{id}-orderAgg");
                                own = Some(json!({ &name: metric_agg(&columns[target]) }));
                                json!({ name: direction })
                            }
                        }
                        _ => json!({"_key": "asc"}),
                    };
                    let mut agg = json!({ "terms": terms });
                    if let Some(own) = own {
                        agg["aggs"] = own;
                    }
                    agg
                }
                "range" if params["type"] == "histogram" => {
                    proof.needs_range.push(field.to_owned());
                    json!({"histogram": {"field": field, "_max_bars": params["maxBars"],
                                         "min_doc_count": min_doc_count(params)}})
                }
                other => panic!("{}: bucket operation {other} not translated", saved.at()),
            };
            proof.buckets.push(((*id).to_owned(), agg));
        } else {
            let agg = match op {
                "count" => None,
                "sum" | "average" | "min" | "max" | "unique_count" => Some(metric_agg(column)),
                "moving_average" => {
                    let of = column["references"][0].as_str().unwrap();
                    let path = if is_count(of) { "_count" } else { of };
                    Some(json!({"moving_fn": {
                        "buckets_path": path,
                        "window": params["window"],
                        "script": "MovingFunctions.unweightedAvg(values)"}}))
                }
                other => panic!("{}: metric operation {other} not translated", saved.at()),
            };
            if let Some(agg) = agg {
                proof.metrics.push(((*id).to_owned(), agg));
                proof.values.push((*id).to_owned());
            }
        }
    }
    proof
}

/// Lens asks for empty buckets when a histogram column includes empty rows.
fn min_doc_count(params: &Value) -> u64 {
    if params["includeEmptyRows"] == true {
        0
    } else {
        1
    }
}

/// The aggregation of a Lens metric column on a field.
fn metric_agg(column: &Value) -> Value {
    let field = column["sourceField"].as_str().unwrap_or_default();
    let kind = match column["operationType"].as_str().unwrap_or_default() {
        "sum" => "sum",
        "average" => "avg",
        "min" => "min",
        "max" => "max",
        "unique_count" => "cardinality",
        other => panic!("metric operation {other} not translated"),
    };
    json!({ kind: {"field": field} })
}

/// The request of a classic (OpenSearch Dashboards) visualization, from its `visState`:
/// bucket aggs nest in the order of their ids, metrics sit in the innermost bucket.
pub fn classic_proof(saved: &Saved, views: &HashMap<String, String>) -> Proof {
    let attributes = &saved.object["attributes"];
    let vis: Value = serde_json::from_str(attributes["visState"].as_str().unwrap()).unwrap();
    let source: Value = serde_json::from_str(
        attributes["kibanaSavedObjectMeta"]["searchSourceJSON"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let ref_name = source["indexRefName"].as_str().unwrap();
    let view = saved
        .reference(ref_name)
        .unwrap_or_else(|| panic!("{}: no reference {ref_name}", saved.at()));
    let title = saved.title().to_owned();
    let mut proof = Proof {
        title: title.clone(),
        pattern: views[view].clone(),
        filters: query_clauses(&source["query"], &source["filter"], &title),
        buckets: Vec::new(),
        metrics: Vec::new(),
        values: Vec::new(),
        needs_range: Vec::new(),
    };
    let mut aggs: Vec<&Value> = vis["aggs"].as_array().unwrap().iter().collect();
    aggs.sort_by_key(|a| a["id"].as_str().unwrap().parse::<u32>().unwrap_or(0));
    for a in aggs {
        let id = a["id"].as_str().unwrap().to_owned();
        let p = &a["params"];
        let field = p["field"].as_str().unwrap_or_default();
        match a["type"].as_str().unwrap() {
            "count" => {}
            "sum" | "avg" | "min" | "max" | "cardinality" => {
                let kind = a["type"].as_str().unwrap();
                proof
                    .metrics
                    .push((id.clone(), json!({ kind: {"field": field} })));
                proof.values.push(id);
            }
            "date_histogram" => proof.buckets.push((
                id,
                json!({"date_histogram": {"field": field, "fixed_interval": "auto",
                                          "min_doc_count": 1}}),
            )),
            "terms" => {
                let order_by = p["orderBy"].as_str().unwrap_or("_key");
                let direction = p["order"].as_str().unwrap_or("desc");
                let metric = vis["aggs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["id"] == order_by && m["schema"] == "metric");
                let mut agg = json!({"terms": {"field": field, "size": p["size"]}});
                match metric {
                    Some(m) if m["type"] != "count" => {
                        // The terms carry a copy of the metric they are ordered by.
                        let kind = m["type"].as_str().unwrap();
                        agg["terms"]["order"] = json!({ order_by: direction });
                        agg["aggs"] =
                            json!({ order_by: { kind: {"field": m["params"]["field"]} } });
                    }
                    Some(_) => agg["terms"]["order"] = json!({"_count": direction}),
                    None => agg["terms"]["order"] = json!({"_key": "asc"}),
                }
                proof.buckets.push((id, agg));
            }
            "histogram" => proof.buckets.push((
                id,
                json!({"histogram": {"field": field, "interval": p["interval"],
                                     "min_doc_count": 1}}),
            )),
            other => panic!("{}: aggregation {other} not translated", saved.at()),
        }
    }
    proof
}

/// The field uses of a classic visualization.
pub fn classic_field_uses(saved: &Saved) -> Vec<FieldUse> {
    let vis: Value =
        serde_json::from_str(saved.object["attributes"]["visState"].as_str().unwrap()).unwrap();
    vis["aggs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let field = a["params"]["field"].as_str()?;
            Some(FieldUse {
                operation: a["type"].as_str().unwrap().to_owned(),
                field: field.to_owned(),
            })
        })
        .collect()
}

/// One control of a dashboard's control group.
#[derive(Debug, Clone)]
pub struct Control {
    pub dashboard: String,
    pub kind: String,
    pub field: String,
    pub title: String,
    /// The data view id, from the `controlGroup_<id>:<kind>DataView` reference.
    pub data_view: Option<String>,
}

/// The controls of a dashboard.
pub fn controls(saved: &Saved) -> Vec<Control> {
    let Some(panels) = saved.object["attributes"]["controlGroupInput"]["panelsJSON"].as_str()
    else {
        return Vec::new();
    };
    let panels: Value = serde_json::from_str(panels)
        .unwrap_or_else(|err| panic!("{}: controlGroupInput.panelsJSON: {err}", saved.at()));
    let mut out: Vec<(i64, Control)> = panels
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, control)| {
            let kind = control["type"].as_str().unwrap_or_default().to_owned();
            let suffix = match kind.as_str() {
                "optionsListControl" => "optionsListDataView",
                "rangeSliderControl" => "rangeSliderDataView",
                _ => "unknownDataView",
            };
            let input = &control["explicitInput"];
            (
                control["order"].as_i64().unwrap_or(0),
                Control {
                    dashboard: saved.title().to_owned(),
                    field: input["fieldName"].as_str().unwrap_or_default().to_owned(),
                    title: input["title"].as_str().unwrap_or_default().to_owned(),
                    data_view: saved
                        .reference(&format!("controlGroup_{id}:{suffix}"))
                        .map(str::to_owned),
                    kind,
                },
            )
        })
        .collect();
    out.sort_by_key(|(order, _)| *order);
    out.into_iter().map(|(_, c)| c).collect()
}

/// The request a control sends to fill itself: an options list's top values, a range
/// slider's minimum and maximum.
pub fn control_proof(control: &Control, views: &HashMap<String, String>) -> Proof {
    let pattern = views[control.data_view.as_deref().unwrap()].clone();
    let title = format!("{} control {}", control.dashboard, control.title);
    match control.kind.as_str() {
        "optionsListControl" => Proof {
            title,
            pattern,
            filters: Vec::new(),
            buckets: vec![(
                "options".into(),
                json!({"terms": {"field": control.field, "size": 10}}),
            )],
            metrics: Vec::new(),
            values: Vec::new(),
            needs_range: Vec::new(),
        },
        "rangeSliderControl" => Proof {
            title,
            pattern,
            filters: Vec::new(),
            buckets: Vec::new(),
            metrics: vec![
                ("min".into(), json!({"min": {"field": control.field}})),
                ("max".into(), json!({"max": {"field": control.field}})),
            ],
            values: vec!["max".into()],
            needs_range: Vec::new(),
        },
        other => panic!("{title}: control type {other} not translated"),
    }
}
