#!/usr/bin/env python3
"""Offline checks of terraform/ (no provider registry here, so no `terraform validate`).

Parses every .tf file with python-hcl2 (syntax), then checks the structure across files:
  - every variable has a description and a type, every output a description;
  - every module's versions.tf pins hashicorp/aws with a version constraint and
    required_version;
  - every `var.NAME` used in a module is declared in it, every `local.NAME` is defined;
  - every module call: the source directory exists, each argument is a variable of that
    module, every variable without a default is passed;
  - every `module.CALL.OUTPUT` reference names a call of this module and an output of it;
  - every file named in file()/templatefile() with path.module exists.
Prints one line per problem and exits 1 when there is any.
"""
import pathlib
import re
import sys

import hcl2

META = {"source", "count", "for_each", "providers", "depends_on", "version", "__is_block__"}


def unquote(text):
    return text[1:-1] if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"' else text


def blocks(doc, kind):
    for item in doc.get(kind, []):
        for name, body in item.items():
            yield unquote(name), body


def load_module(directory):
    module = {"variables": {}, "outputs": {}, "locals": set(), "calls": {}, "text": "", "docs": [], "problems": []}
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        module["text"] += text
        try:
            doc = hcl2.loads(text)
        except Exception as error:  # the parser's own exception types vary by version
            module["problems"].append(f"{path}: does not parse: {error}")
            continue
        module["docs"].append((path, doc))
        for name, body in blocks(doc, "variable"):
            module["variables"][name] = body
        for name, body in blocks(doc, "output"):
            module["outputs"][name] = body
        for item in doc.get("locals", []):
            module["locals"].update(k for k in item if k != "__is_block__")
        for name, body in blocks(doc, "module"):
            module["calls"][name] = (path, body)
    return module


def check(root):
    problems = []
    dirs = sorted({p.parent.resolve() for p in root.rglob("*.tf") if ".terraform" not in p.parts})
    modules = {d: load_module(d) for d in dirs}
    for directory, module in modules.items():
        problems += module["problems"]
        for name, body in module["variables"].items():
            for key in ("description", "type"):
                if key not in body:
                    problems.append(f"{directory}: variable {name} has no {key}")
        for name, body in module["outputs"].items():
            if "description" not in body:
                problems.append(f"{directory}: output {name} has no description")
        text = module["text"]
        if not re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"[^"]+"', text):
            problems.append(f"{directory}: no required_providers aws with a version constraint")
        if "required_version" not in text:
            problems.append(f"{directory}: no required_version")
        code = re.sub(r"(?m)^\s*#.*$", "", text)
        for used in sorted(set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", code))):
            if used not in module["variables"]:
                problems.append(f"{directory}: var.{used} is used but not declared")
        for used in sorted(set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", code))):
            if used not in module["locals"]:
                problems.append(f"{directory}: local.{used} is used but not defined")
        for used in sorted(set(re.findall(r"\b(?:file|templatefile)\(\"\$\{path\.module\}/([^\"]+)\"", code))):
            if not (directory / used).exists():
                problems.append(f"{directory}: file {used} does not exist")
        for call, (path, body) in module["calls"].items():
            source = (directory / unquote(body["source"])).resolve()
            target = modules.get(source)
            if target is None:
                problems.append(f"{path}: module {call}: source {unquote(body['source'])} is not a module here")
                continue
            for arg in body:
                if arg not in META and arg not in target["variables"]:
                    problems.append(f"{path}: module {call}: {arg} is not a variable of {source.name}")
            for var, spec in target["variables"].items():
                if "default" not in spec and var not in body:
                    problems.append(f"{path}: module {call}: required variable {var} is not set")
        for call, output in sorted(set(re.findall(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_]*)", code))):
            if call not in module["calls"]:
                problems.append(f"{directory}: module.{call} is referenced but not called")
                continue
            path, body = module["calls"][call]
            target = modules.get((directory / unquote(body["source"])).resolve())
            if target is not None and output not in target["outputs"]:
                problems.append(f"{directory}: module.{call}.{output}: no such output")
    files = sum(len(m["docs"]) for m in modules.values())
    calls = sum(len(m["calls"]) for m in modules.values())
    variables = sum(len(m["variables"]) for m in modules.values())
    print(f"terraform_checks: {len(modules)} modules, {files} files parsed, {calls} module calls, "
          f"{variables} variables: {'OK' if not problems else f'{len(problems)} problems'}", file=sys.stderr)
    return problems


if __name__ == "__main__":
    found = check(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "terraform"))
    for line in found:
        print(line)
    sys.exit(1 if found else 0)
