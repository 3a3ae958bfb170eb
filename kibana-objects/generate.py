#!/usr/bin/env python3
"""Writes netsensor's Kibana saved objects (and the OpenSearch Dashboards variant).

One readable description per panel below becomes a Lens (or classic) saved object in the
Kibana 8.x export format; the output is canonical (sorted keys, compact JSON, stable ids,
embedded JSON strings canonical too) so that `netsensor-admin kibana-export` writes
exactly the same bytes back. Run from anywhere:

    python3 kibana-objects/generate.py          # rewrite the .ndjson files
    python3 kibana-objects/generate.py --check  # exit 1 when they differ (drift test)

Python standard library only. docs/dashboards.md describes every panel.
"""

import json
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Kibana 8.19's saved-object versions. Older typeMigrationVersions are migrated on import;
# newer ones are refused, so each is the version of the attribute layout written here.
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {"index-pattern": "8.0.0", "lens": "8.9.0", "dashboard": "10.2.0"}
# OpenSearch Dashboards 2.x (migrationVersion, the pre-8.8 layout).
OSD_MIGRATION_VERSION = {"index-pattern": "7.6.0", "visualization": "7.10.0", "dashboard": "7.9.3"}

NS = uuid.UUID("6f1f0a52-3c1e-4b7e-9d0a-6e657473656e")  # stable ids: uuid5(NS, name)


def canon(value):
    """Compact JSON with sorted keys: the one serialization of every line and embedded string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sid(name):
    return str(uuid.uuid5(NS, name))


# --- data views --------------------------------------------------------------------------

DATA_VIEWS = {
    "packet": ("netsensor-packets", "logs-netsensor.packet-*", "netsensor packets"),
    "flow": ("netsensor-flows", "logs-netsensor.flow-*", "netsensor flows"),
    "rollup": ("netsensor-rollups", "logs-netsensor.rollup-*", "netsensor rollups"),
}
BYTES = {"id": "bytes"}
FORMATS = {
    "packet": {"network.bytes": BYTES, "netsensor.packet.captured_length": BYTES},
    "flow": {
        "network.bytes": BYTES,
        "source.bytes": BYTES,
        "destination.bytes": BYTES,
        "event.duration": {
            "id": "duration",
            "params": {"inputFormat": "nanoseconds", "outputFormat": "humanizePrecise"},
        },
    },
    "rollup": {"network.bytes": BYTES},
}


def data_view(kind):
    dv_id, title, name = DATA_VIEWS[kind]
    return {
        "attributes": {
            "allowHidden": False,
            "fieldAttrs": "{}",
            "fieldFormatMap": canon(FORMATS[kind]),
            "fields": "[]",
            "name": name,
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "timeFieldName": "@timestamp",
            "title": title,
            "typeMeta": "{}",
        },
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "id": dv_id,
        "managed": False,
        "references": [],
        "type": "index-pattern",
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["index-pattern"],
    }


# --- Lens columns ------------------------------------------------------------------------
# A column is (key, definition); ids are derived from the panel id and the key.


def date_histogram(label="@timestamp"):
    return {
        "dataType": "date",
        "isBucketed": True,
        "label": label,
        "operationType": "date_histogram",
        "params": {"dropPartials": False, "includeEmptyRows": True, "interval": "auto"},
        "scale": "interval",
        "sourceField": "@timestamp",
    }


def terms(field, label, size, order_by=None, data_type="string", other=False):
    params = {
        "exclude": [],
        "excludeIsRegex": False,
        "include": [],
        "includeIsRegex": False,
        "missingBucket": False,
        "orderBy": {"type": "alphabetical", "fallback": True} if order_by is None else None,
        "orderDirection": "desc",
        "otherBucket": other,
        "parentFormat": {"id": "terms"},
        "size": size,
    }
    return {
        "dataType": data_type,
        "isBucketed": True,
        "label": label,
        "operationType": "terms",
        "params": params,
        "scale": "ordinal",
        "sourceField": field,
        "_order_by": order_by,  # resolved to a column id by lens()
    }


def count(label="Packets"):
    return {
        "dataType": "number",
        "isBucketed": False,
        "label": label,
        "operationType": "count",
        "params": {"emptyAsNull": True},
        "scale": "ratio",
        "sourceField": "___records___",
    }


def metric(op, field, label, fmt=None):
    column = {
        "dataType": "number",
        "isBucketed": False,
        "label": label,
        "operationType": op,
        "params": {"emptyAsNull": True},
        "scale": "ratio",
        "sourceField": field,
    }
    if fmt:
        column["params"]["format"] = {"id": fmt, "params": {"decimals": 1}}
    return column


def histogram(field, label, max_bars=50):
    return {
        "dataType": "number",
        "isBucketed": True,
        "label": label,
        "operationType": "range",
        "params": {
            "includeEmptyRows": True,
            "maxBars": max_bars,
            "ranges": [{"from": 0, "label": "", "to": 1000}],
            "type": "histogram",
        },
        "scale": "interval",
        "sourceField": field,
    }


def moving_average(of, label, window=5):
    return {
        "dataType": "number",
        "isBucketed": False,
        "label": label,
        "operationType": "moving_average",
        "params": {"window": window},
        "references": [of],  # a column key, resolved by lens()
        "scale": "ratio",
    }


def phrase_filter(field, value):
    """A pinned-to-the-panel filter, as Lens stores it (query DSL + meta)."""
    return {
        "$state": {"store": "appState"},
        "meta": {
            "alias": None,
            "disabled": False,
            "key": field,
            "negate": False,
            "params": {"query": value},
            "type": "phrase",
        },
        "query": {"match_phrase": {field: value}},
    }


def exists_filter(field):
    return {
        "$state": {"store": "appState"},
        "meta": {"alias": None, "disabled": False, "key": field, "negate": False,
                 "type": "exists", "value": "exists"},
        "query": {"exists": {"field": field}},
    }


# --- Lens visualizations -----------------------------------------------------------------


def lens(key, title, description, kind, columns, vis, filters=()):
    """A Lens object: `columns` is a list of (column key, column); `vis(ids)` builds the
    visualization state from the column ids; `filters` apply to this panel only."""
    obj_id = f"netsensor-lens-{key}"
    layer = sid(obj_id + "/layer")
    ids = {ck: sid(f"{obj_id}/{ck}") for ck, _ in columns}
    built = {}
    for ck, column in columns:
        column = json.loads(json.dumps(column))
        order_by = column.pop("_order_by", None)
        if column["operationType"] == "terms" and order_by is not None:
            column["params"]["orderBy"] = {"columnId": ids[order_by], "type": "column"}
        if "references" in column:
            column["references"] = [ids[r] for r in column["references"]]
        built[ids[ck]] = column
    dv_id = DATA_VIEWS[kind][0]
    references = [
        {"id": dv_id, "name": f"indexpattern-datasource-layer-{layer}", "type": "index-pattern"}
    ]
    state_filters = []
    for i, f in enumerate(filters):
        f = json.loads(json.dumps(f))
        ref = f"filter-index-pattern-{i}"
        f["meta"]["index"] = ref
        state_filters.append(f)
        references.append({"id": dv_id, "name": ref, "type": "index-pattern"})
    visualization_type, visualization = vis(layer, ids)
    return {
        "attributes": {
            "description": description,
            "state": {
                "adHocDataViews": {},
                "datasourceStates": {
                    "formBased": {
                        "layers": {
                            layer: {
                                "columnOrder": [ids[ck] for ck, _ in columns],
                                "columns": built,
                                "ignoreGlobalFilters": False,
                                "incompleteColumns": {},
                                "sampling": 1,
                            }
                        }
                    },
                    "textBased": {"layers": {}},
                },
                "filters": state_filters,
                "internalReferences": [],
                "query": {"language": "kuery", "query": ""},
                "visualization": visualization,
            },
            "title": title,
            "visualizationType": visualization_type,
        },
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "id": obj_id,
        "managed": False,
        "references": references,
        "type": "lens",
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["lens"],
    }


def xy(series, x, ys, split=None, legend=True):
    def build(layer, ids):
        data_layer = {
            "accessors": [ids[y] for y in ys],
            "layerId": layer,
            "layerType": "data",
            "seriesType": series,
            "xAccessor": ids[x],
        }
        if split:
            data_layer["splitAccessor"] = ids[split]
        return "lnsXY", {
            "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "fittingFunction": "None",
            "layers": [data_layer],
            "legend": {"isVisible": legend, "position": "right"},
            "preferredSeriesType": series,
            "valueLabels": "hide",
        }
    return build


def pie(group, value, shape="pie"):
    def build(layer, ids):
        return "lnsPie", {
            "layers": [{
                "categoryDisplay": "default",
                "layerId": layer,
                "layerType": "data",
                "legendDisplay": "default",
                "metrics": [ids[value]],
                "nestedLegend": False,
                "numberDisplay": "percent",
                "primaryGroups": [ids[group]],
            }],
            "shape": shape,
        }
    return build


def table(keys):
    def build(layer, ids):
        return "lnsDatatable", {
            "columns": [{"columnId": ids[k], "isTransposed": False} for k in keys],
            "layerId": layer,
            "layerType": "data",
        }
    return build


def choropleth(region, value):
    def build(layer, ids):
        return "lnsChoropleth", {
            "emsField": "iso2",
            "emsLayerId": "world_countries",
            "layerId": layer,
            "layerType": "data",
            "regionAccessor": ids[region],
            "valueAccessor": ids[value],
        }
    return build


def heatmap(x, y, value):
    def build(layer, ids):
        return "lnsHeatmap", {
            "gridConfig": {"isCellLabelVisible": True, "isXAxisLabelVisible": True,
                           "isXAxisTitleVisible": True, "isYAxisLabelVisible": True,
                           "isYAxisTitleVisible": True, "type": "heatmap_grid"},
            "layerId": layer,
            "layerType": "data",
            "legend": {"isVisible": True, "position": "right", "type": "heatmap_legend"},
            "shape": "heatmap",
            "valueAccessor": ids[value],
            "xAccessor": ids[x],
            "yAccessor": ids[y],
        }
    return build


def tagcloud(tag, value):
    def build(layer, ids):
        return "lnsTagcloud", {
            "layerId": layer,
            "layerType": "data",
            "maxFontSize": 72,
            "minFontSize": 18,
            "orientation": "single",
            "showLabel": True,
            "tagAccessor": ids[tag],
            "valueAccessor": ids[value],
        }
    return build


def bytes_sum(label="Bytes"):
    return metric("sum", "network.bytes", label)


PANELS = [
    # Services in use
    lens("packets-by-source-service", "Packets by source service",
         "Packets over time, one line per well-known service of the source port.", "packet",
         [("t", date_histogram()), ("s", terms("netsensor.source.service", "Source service", 10, "n")),
          ("n", count())], xy("line", "t", ["n"], "s")),
    lens("packets-by-destination-service", "Packets by destination service",
         "Packets over time, one line per well-known service of the destination port.", "packet",
         [("t", date_histogram()),
          ("s", terms("netsensor.destination.service", "Destination service", 10, "n")),
          ("n", count())], xy("line", "t", ["n"], "s")),
    lens("flow-bytes-by-service", "Flow bytes by service",
         "Bytes of flows per server-side service.", "flow",
         [("s", terms("netsensor.service", "Service", 10, "b")), ("b", bytes_sum())],
         xy("bar_horizontal", "s", ["b"], legend=False)),
    # Geography
    lens("source-countries-map", "Source countries", "Packets by source country (ISO code).",
         "packet", [("c", terms("source.geo.country_iso_code", "Source country", 200, "n")),
                    ("n", count())], choropleth("c", "n")),
    lens("destination-countries-map", "Destination countries",
         "Packets by destination country (ISO code).", "packet",
         [("c", terms("destination.geo.country_iso_code", "Destination country", 200, "n")),
          ("n", count())], choropleth("c", "n")),
    lens("top-source-countries", "Top source countries", "Source countries by packets and bytes.",
         "packet", [("c", terms("source.geo.country_name", "Source country", 10, "n")),
                    ("n", count()), ("b", bytes_sum())], table(["c", "n", "b"])),
    lens("top-destination-countries", "Top destination countries",
         "Destination countries by packets and bytes.", "packet",
         [("c", terms("destination.geo.country_name", "Destination country", 10, "n")),
          ("n", count()), ("b", bytes_sum())], table(["c", "n", "b"])),
    # IP protocol
    lens("transport-by-size-class", "Transport × packet size class",
         "Packets per transport and size class.", "packet",
         [("x", terms("network.transport", "Transport", 10, "n")),
          ("y", terms("netsensor.packet.size_class", "Size class", 3, "n")), ("n", count())],
         heatmap("x", "y", "n")),
    lens("transport-share", "Transports", "Share of packets per transport.", "packet",
         [("x", terms("network.transport", "Transport", 10, "n")), ("n", count())], pie("x", "n")),
    lens("transports-over-time", "Transports over time", "Packets over time per transport.",
         "packet", [("t", date_histogram()), ("x", terms("network.transport", "Transport", 10, "n")),
                    ("n", count())], xy("line", "t", ["n"], "x")),
    lens("rollup-bytes-by-transport", "Bytes per transport (rollups)",
         "Bytes per transport from the rollup records: exact even when flows were sampled.",
         "rollup", [("t", date_histogram()), ("k", terms("netsensor.rollup.key", "Transport", 10, "b")),
                    ("b", bytes_sum())], xy("bar_stacked", "t", ["b"], "k"),
         [phrase_filter("netsensor.rollup.dimension", "transport")]),
    # Packet-size model
    lens("size-classes-over-time", "Packet size classes over time",
         "Packets over time split by size class: small (<128 B), medium, large (≥1024 B).",
         "packet", [("t", date_histogram()),
                    ("c", terms("netsensor.packet.size_class", "Size class", 3, "n")), ("n", count())],
         xy("bar_stacked", "t", ["n"], "c")),
    lens("packet-size-histogram", "Packet size histogram", "Distribution of frame lengths.",
         "packet", [("h", histogram("network.bytes", "Frame length (bytes)")), ("n", count())],
         xy("bar", "h", ["n"], legend=False)),
    # Packet flow
    lens("packets-trend", "Packets and trend", "Packets over time with a moving average.",
         "packet", [("t", date_histogram()), ("n", count()),
                    ("m", moving_average("n", "Moving average of packets"))],
         xy("line", "t", ["n", "m"])),
    # Node communications
    lens("top-conversations", "Top conversations",
         "Source → destination address pairs by bytes (flows).", "flow",
         [("s", terms("source.ip", "Source", 10, "b", data_type="ip")),
          ("d", terms("destination.ip", "Destination", 5, "b", data_type="ip")),
          ("b", bytes_sum()), ("p", metric("sum", "network.packets", "Packets"))],
         table(["s", "d", "b", "p"])),
    lens("active-hosts", "Most active hosts", "Addresses seen on either side, by bytes (flows).",
         "flow", [("h", terms("related.ip", "Host", 30, "b", data_type="ip")), ("b", bytes_sum())],
         tagcloud("h", "b")),
    # DNS
    lens("dns-top-domains", "Top queried domains", "DNS question names by queries.",
         "packet", [("q", terms("dns.question.name", "Domain", 15, "n")), ("n", count("Queries"))],
         xy("bar_horizontal", "q", ["n"], legend=False), [phrase_filter("dns.type", "query")]),
    lens("dns-response-codes", "DNS response codes over time", "Answers over time per response code.",
         "packet", [("t", date_histogram()), ("r", terms("dns.response_code", "Response code", 10, "n")),
                    ("n", count("Answers"))], xy("bar_stacked", "t", ["n"], "r")),
    lens("dns-nxdomain-share", "NXDOMAIN share", "Share of answers per response code.", "packet",
         [("r", terms("dns.response_code", "Response code", 10, "n")), ("n", count("Answers"))],
         pie("r", "n", "donut")),
    # TLS
    lens("tls-server-names", "TLS server names", "Server names (SNI) clients asked for.", "packet",
         [("s", terms("tls.client.server_name", "Server name", 15, "n")), ("n", count("Handshakes")),
          ("c", metric("unique_count", "source.ip", "Clients"))], table(["s", "n", "c"])),
    lens("tls-versions", "TLS versions", "ClientHello versions.", "packet",
         [("v", terms("tls.version", "Version", 5, "n")), ("n", count("Handshakes"))], pie("v", "n")),
    # Insecure protocols
    lens("insecure-protocols", "Cleartext protocols seen",
         "Services that can carry credentials in clear text (telnet, ftp, tftp, http, …).", "packet",
         [("s", terms("netsensor.service", "Service", 10, "n")), ("n", count()),
          ("c", metric("unique_count", "source.ip", "Sources")), ("b", bytes_sum())],
         table(["s", "n", "c", "b"]), [phrase_filter("netsensor.insecure", True)]),
    lens("insecure-over-time", "Cleartext traffic over time", "Insecure packets over time per service.",
         "packet", [("t", date_histogram()), ("s", terms("netsensor.service", "Service", 10, "n")),
                    ("n", count())], xy("bar_stacked", "t", ["n"], "s"),
         [phrase_filter("netsensor.insecure", True)]),
    # Hosts and flows
    lens("os-breakdown", "Operating systems", "Passive OS guess: distinct source hosts per OS.",
         "packet", [("o", terms("netsensor.os.name", "OS", 10, "h")),
                    ("h", metric("unique_count", "source.ip", "Hosts"))], pie("o", "h", "donut")),
    lens("flow-durations", "Flow durations", "Distribution of flow durations (final records).",
         "flow", [("h", histogram("event.duration", "Duration (ns)")), ("n", count("Flows"))],
         xy("bar", "h", ["n"], legend=False), [phrase_filter("netsensor.flow.final", True)]),
    lens("top-flows", "Top flows by bytes", "The largest flows, by Community ID.", "flow",
         [("f", terms("network.community_id", "Community ID", 10, "b")),
          ("s", terms("source.ip", "Source", 1, "b", data_type="ip")),
          ("d", terms("destination.ip", "Destination", 1, "b", data_type="ip")),
          ("b", bytes_sum()), ("p", metric("sum", "network.packets", "Packets"))],
         table(["f", "s", "d", "b", "p"])),
    lens("flow-end-reasons", "Flow end reasons", "Why flows ended.", "flow",
         [("r", terms("netsensor.flow.end_reason", "End reason", 10, "n")), ("n", count("Records"))],
         pie("r", "n")),
    # Tunnels and load shedding
    lens("tunnel-traffic", "Tunnelled traffic",
         "Decapsulated flows per tunnel type and id (VNI, GRE key, ERSPAN session): the "
         "mirrored or overlay traffic inside, by bytes.", "flow",
         [("y", terms("netsensor.tunnel.type", "Tunnel", 10, "b")),
          ("i", terms("netsensor.tunnel.id", "Tunnel id", 10, "b", data_type="number")),
          ("b", bytes_sum()), ("f", count("Flow records"))],
         table(["y", "i", "b", "f"]), [exists_filter("netsensor.tunnel.type")]),
    lens("flow-sample-rate", "Flow sampling (load shedding)",
         "Highest netsensor.sample_rate over time: 1 = every flow kept; N = while overloaded "
         "the sensor kept 1 flow in N (multiply flow counts by it). Rollup panels stay exact.",
         "flow", [("t", date_histogram()),
                  ("r", metric("max", "netsensor.sample_rate", "Sample rate (1 in N)"))],
         xy("line", "t", ["r"], legend=False)),
]


# --- controls and dashboards -------------------------------------------------------------


def options(field, title):
    return ("optionsListControl", field, title)


def slider(field, title):
    return ("rangeSliderControl", field, title)


PACKET_CONTROLS = [
    options("network.transport", "Transport"),
    slider("network.bytes", "Packet size (bytes)"),
    options("network.direction", "Direction"),
    options("source.port", "Source port"),
    options("destination.port", "Destination port"),
    options("netsensor.service", "Service"),
]
FLOW_CONTROLS = [
    options("network.transport", "Transport"),
    options("network.direction", "Direction"),
    options("source.port", "Source port"),
    options("destination.port", "Destination port"),
    options("netsensor.service", "Service"),
]
SERVICE_CONTROLS = [
    options("netsensor.source.service", "Source service"),
    options("netsensor.destination.service", "Destination service"),
] + PACKET_CONTROLS

REF_SUFFIX = {"optionsListControl": "optionsListDataView", "rangeSliderControl": "rangeSliderDataView"}


def dashboard(key, title, description, panels, controls, kind):
    """panels: rows of lens keys; each row shares the 48-column grid evenly."""
    obj_id = f"netsensor-dashboard-{key}"
    references, panel_list, y = [], [], 0
    for row in panels:
        width = 48 // len(row)
        for i, lens_key in enumerate(row):
            index = sid(f"{obj_id}/{lens_key}")
            panel_list.append({
                "embeddableConfig": {"enhancements": {}},
                "gridData": {"h": 15, "i": index, "w": width, "x": i * width, "y": y},
                "panelIndex": index,
                "panelRefName": f"panel_{index}",
                "type": "lens",
            })
            references.append({"id": f"netsensor-lens-{lens_key}", "name": f"{index}:panel_{index}",
                               "type": "lens"})
        y += 15
    control_panels = {}
    for order, (ctype, field, ctitle) in enumerate(controls):
        cid = sid(f"{obj_id}/control/{field}")
        explicit = {"enhancements": {}, "fieldName": field, "id": cid, "title": ctitle}
        if ctype == "optionsListControl":
            explicit["selectedOptions"] = []
        control_panels[cid] = {"explicitInput": explicit, "grow": True, "order": order,
                               "type": ctype, "width": "medium"}
        references.append({"id": DATA_VIEWS[kind][0],
                           "name": f"controlGroup_{cid}:{REF_SUFFIX[ctype]}",
                           "type": "index-pattern"})
    return {
        "attributes": {
            "controlGroupInput": {
                "chainingSystem": "HIERARCHICAL",
                "controlStyle": "oneLine",
                "ignoreParentSettingsJSON": canon({"ignoreFilters": False, "ignoreQuery": False,
                                                   "ignoreTimerange": False,
                                                   "ignoreValidations": False}),
                "panelsJSON": canon(control_panels),
                "showApplySelections": False,
            },
            "description": description,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": canon({"filter": [], "query": {"language": "kuery", "query": ""}})
            },
            "optionsJSON": canon({"hidePanelTitles": False, "syncColors": False, "syncCursor": True,
                                  "syncTooltips": False, "useMargins": True}),
            "panelsJSON": canon(panel_list),
            "timeRestore": False,
            "title": title,
            "version": 1,
        },
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "id": obj_id,
        "managed": False,
        "references": references,
        "type": "dashboard",
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["dashboard"],
    }


DASHBOARDS = [
    ("services", "netsensor: Services in use",
     "Which services are used when; pick one service in the controls to follow it alone.",
     [["packets-by-source-service", "packets-by-destination-service"], ["flow-bytes-by-service"]],
     SERVICE_CONTROLS, "packet"),
    ("geography", "netsensor: Geography", "Where the endpoints are in the world.",
     [["source-countries-map", "destination-countries-map"],
      ["top-source-countries", "top-destination-countries"]], PACKET_CONTROLS, "packet"),
    ("ip-protocol", "netsensor: IP protocol", "Transports, their packet sizes and their trend.",
     [["transport-by-size-class", "transport-share"],
      ["transports-over-time", "rollup-bytes-by-transport"]], PACKET_CONTROLS, "packet"),
    ("packet-sizes", "netsensor: Packet-size model", "How packet sizes are distributed.",
     [["size-classes-over-time", "packet-size-histogram"]], PACKET_CONTROLS, "packet"),
    ("traffic-trend", "netsensor: Packet flow", "How traffic trends.", [["packets-trend"]],
     PACKET_CONTROLS, "packet"),
    ("conversations", "netsensor: Node communications", "Who talks to whom.",
     [["top-conversations", "active-hosts"]], FLOW_CONTROLS, "flow"),
    ("application", "netsensor: DNS, TLS and cleartext protocols",
     "Domains asked for, answers, TLS server names and insecure protocols seen.",
     [["dns-top-domains", "dns-response-codes", "dns-nxdomain-share"],
      ["tls-server-names", "tls-versions"], ["insecure-protocols", "insecure-over-time"]],
     PACKET_CONTROLS, "packet"),
    ("hosts-flows", "netsensor: Hosts and flows",
     "Operating systems seen, flow durations and the largest flows.",
     [["os-breakdown", "flow-durations", "flow-end-reasons"], ["top-flows"],
      ["tunnel-traffic", "flow-sample-rate"]], FLOW_CONTROLS, "flow"),
]


# --- OpenSearch Dashboards: classic visualizations ---------------------------------------


def osd_index_pattern(kind):
    dv_id, title, _ = DATA_VIEWS[kind]
    return {
        "attributes": {"fieldFormatMap": canon(FORMATS[kind]), "fields": "[]",
                       "timeFieldName": "@timestamp", "title": title},
        "id": f"osd-{dv_id}",
        "migrationVersion": {"index-pattern": OSD_MIGRATION_VERSION["index-pattern"]},
        "references": [],
        "type": "index-pattern",
    }


def agg(agg_id, agg_type, schema, **params):
    return {"enabled": True, "id": agg_id, "params": params, "schema": schema, "type": agg_type}


def osd_vis(key, title, vis_type, kind, aggs, params):
    return {
        "attributes": {
            "description": "",
            "kibanaSavedObjectMeta": {"searchSourceJSON": canon({
                "filter": [], "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
                "query": {"language": "kuery", "query": ""}})},
            "title": title,
            "uiStateJSON": "{}",
            "version": 1,
            "visState": canon({"aggs": aggs, "params": params, "title": title, "type": vis_type}),
        },
        "id": f"osd-netsensor-vis-{key}",
        "migrationVersion": {"visualization": OSD_MIGRATION_VERSION["visualization"]},
        "references": [{"id": f"osd-{DATA_VIEWS[kind][0]}",
                        "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                        "type": "index-pattern"}],
        "type": "visualization",
    }


def osd_time():
    return agg("2", "date_histogram", "segment", field="@timestamp", interval="auto",
               min_doc_count=1, extended_bounds={})


def osd_terms(agg_id, field, size, schema, order_by="1"):
    return agg(agg_id, "terms", schema, field=field, size=size, order="desc", orderBy=order_by,
               otherBucket=False, missingBucket=False)


LINE = {"addLegend": True, "addTooltip": True, "legendPosition": "right", "type": "line"}
OSD_VIS = [
    osd_vis("packets-by-source-service", "Packets by source service", "line", "packet",
            [agg("1", "count", "metric"), osd_time(),
             osd_terms("3", "netsensor.source.service", 10, "group")], LINE),
    osd_vis("packets-by-destination-service", "Packets by destination service", "line", "packet",
            [agg("1", "count", "metric"), osd_time(),
             osd_terms("3", "netsensor.destination.service", 10, "group")], LINE),
    osd_vis("source-countries", "Top source countries", "table", "packet",
            [agg("1", "count", "metric"), agg("3", "sum", "metric", field="network.bytes"),
             osd_terms("2", "source.geo.country_iso_code", 10, "bucket")],
            {"perPage": 10, "showTotal": False, "type": "table"}),
    osd_vis("destination-countries", "Top destination countries", "table", "packet",
            [agg("1", "count", "metric"), agg("3", "sum", "metric", field="network.bytes"),
             osd_terms("2", "destination.geo.country_iso_code", 10, "bucket")],
            {"perPage": 10, "showTotal": False, "type": "table"}),
    osd_vis("transports", "Transports", "pie", "packet",
            [agg("1", "count", "metric"), osd_terms("2", "network.transport", 10, "segment")],
            {"addLegend": True, "addTooltip": True, "isDonut": False, "legendPosition": "right",
             "type": "pie"}),
    osd_vis("size-classes", "Packet size classes over time", "histogram", "packet",
            [agg("1", "count", "metric"), osd_time(),
             osd_terms("3", "netsensor.packet.size_class", 3, "group")],
            {"addLegend": True, "addTooltip": True, "legendPosition": "right", "type": "histogram"}),
    osd_vis("packet-size-histogram", "Packet size histogram", "histogram", "packet",
            [agg("1", "count", "metric"),
             agg("2", "histogram", "segment", field="network.bytes", interval=100,
                 min_doc_count=False, extended_bounds={})],
            {"addLegend": False, "addTooltip": True, "legendPosition": "right", "type": "histogram"}),
    osd_vis("top-conversations", "Top conversations", "table", "flow",
            [agg("1", "sum", "metric", field="network.bytes"),
             agg("4", "sum", "metric", field="network.packets"),
             osd_terms("2", "source.ip", 10, "bucket"), osd_terms("3", "destination.ip", 5, "bucket")],
            {"perPage": 10, "showTotal": False, "type": "table"}),
]


def osd_dashboard():
    refs, panels = [], []
    for n, vis in enumerate(OSD_VIS):
        index = str(n + 1)
        panels.append({"embeddableConfig": {},
                       "gridData": {"h": 15, "i": index, "w": 24, "x": (n % 2) * 24, "y": (n // 2) * 15},
                       "panelIndex": index, "panelRefName": f"panel_{n}", "version": "2.19.0"})
        refs.append({"id": vis["id"], "name": f"panel_{n}", "type": "visualization"})
    return {
        "attributes": {
            "description": "netsensor's core panels for OpenSearch Dashboards.",
            "hits": 0,
            "kibanaSavedObjectMeta": {"searchSourceJSON": canon({
                "filter": [], "query": {"language": "kuery", "query": ""}})},
            "optionsJSON": canon({"hidePanelTitles": False, "useMargins": True}),
            "panelsJSON": canon(panels),
            "timeRestore": False,
            "title": "netsensor: Overview",
            "version": 1,
        },
        "id": "osd-netsensor-dashboard-overview",
        "migrationVersion": {"dashboard": OSD_MIGRATION_VERSION["dashboard"]},
        "references": refs,
        "type": "dashboard",
    }


# --- files -------------------------------------------------------------------------------

TYPE_ORDER = {"index-pattern": 0, "lens": 1, "visualization": 1, "dashboard": 2}


def render(objects):
    objects = sorted(objects, key=lambda o: (TYPE_ORDER[o["type"]], o["id"]))
    for o in objects:  # the canonical order of references, as kibana-export writes them
        o["references"].sort(key=lambda r: (r["name"], r["type"], r["id"]))
    return "".join(canon(o) + "\n" for o in objects)


def files():
    by_key = {o["id"].removeprefix("netsensor-lens-"): o for o in PANELS}
    out = {"00-data-views.ndjson": render(data_view(k) for k in DATA_VIEWS)}
    used = set()
    for n, (key, title, desc, rows, controls, kind) in enumerate(DASHBOARDS, start=1):
        lens_objects = [by_key[k] for row in rows for k in row]
        used.update(k for row in rows for k in row)
        out[f"{n:02d}-{key}.ndjson"] = render(
            [dashboard(key, title, desc, rows, controls, kind)] + lens_objects)
    unused = set(by_key) - used
    if unused:
        raise SystemExit(f"panels on no dashboard: {sorted(unused)}")
    out["opensearch-dashboards/netsensor.ndjson"] = render(
        [osd_index_pattern(k) for k in ("packet", "flow")] + OSD_VIS + [osd_dashboard()])
    return out


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in files().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python3 kibana-objects/generate.py): " + ", ".join(stale),
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
