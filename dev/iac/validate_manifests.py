#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline.

Built-in kinds: kubernetes-validate (the Kubernetes OpenAPI schemas, strict: unknown fields
are errors) for one Kubernetes version. Custom resources (ECK, prometheus-operator,
Strimzi): JSON Schema validation against the openAPIV3Schema of their CRDs, made strict
the way the API server's strict field validation is: every object schema that lists
properties and does not say x-kubernetes-preserve-unknown-fields refuses other keys.

    validate_manifests.py --kube-version 1.33.0 --crd-dir DIR [--crd-dir DIR]... FILE...

Exit status 1 with one line per problem (file, document, kind/name, path, message).
"""
import argparse
import copy
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader that reads a bare `=` (YAML 1.1's value tag, used in CRD enums) as text."""


Loader.add_constructor("tag:yaml.org,2002:value", yaml.constructor.SafeConstructor.construct_yaml_str)


def strict(schema):
    """Returns a copy of a CRD's structural schema that refuses unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("x-kubernetes-int-or-string"):
                node.pop("type", None)
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            if (
                node.get("type") == "object"
                and "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # Every object has these; the CRD schemas leave metadata to the API server.
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    return schema


def load_crds(dirs):
    """(group/version, kind) -> strict schema, from every CRD YAML under the directories."""
    crds = {}
    for directory in dirs:
        for path in sorted(pathlib.Path(directory).rglob("*.yaml")):
            for doc in yaml.load_all(path.read_text(), Loader=Loader):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    schema = version.get("schema", {}).get("openAPIV3Schema")
                    if schema and version.get("served", True):
                        key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                        crds[key] = strict(schema)
    return crds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", required=True)
    parser.add_argument("--crd-dir", action="append", default=[])
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    crds = load_crds(args.crd_dir)
    problems, counts = [], {}
    for file in args.files:
        for index, doc in enumerate(yaml.load_all(open(file), Loader=Loader)):
            if not doc:
                continue
            kind, api = doc.get("kind"), doc.get("apiVersion")
            where = f"{file}#{index} {kind}/{doc.get('metadata', {}).get('name')}"
            counts[kind] = counts.get(kind, 0) + 1
            if (api, kind) in crds:
                validator = jsonschema.Draft7Validator(crds[(api, kind)])
                for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                    path = ".".join(str(p) for p in error.absolute_path) or "(top)"
                    problems.append(f"{where}: {path}: {error.message}")
                continue
            if "." in api.split("/")[0] and not api.split("/")[0].endswith(".k8s.io"):
                problems.append(f"{where}: no CRD schema for {api} {kind}")
                continue
            try:
                kubernetes_validate.validate(doc, args.kube_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path) or "(top)"
                problems.append(f"{where}: {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                problems.append(f"{where}: {error}")
    for line in problems:
        print(line)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"validate_manifests: {len(args.files)} files, {summary}: "
          f"{'OK' if not problems else f'{len(problems)} problems'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
