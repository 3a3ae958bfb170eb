#!/usr/bin/env python3
"""Pulls pieces out of rendered chart manifests for the tools that check them.

    rendered.py config FILE OUT   the sensor config of the ConfigMap, pod IP 127.0.0.1
    rendered.py rules FILE OUT    the PrometheusRule's groups as a Prometheus rule file
    rendered.py scripts FILE      `sh -n` on every `/bin/sh -c` script of every container
Exit status 1 when the piece is missing or a script does not parse.
"""
import subprocess
import sys

import yaml


def docs(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def pod_specs(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if doc["kind"] in ("DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob"):
        yield spec["template"]["spec"]


def main():
    what, path = sys.argv[1], sys.argv[2]
    if what == "config":
        maps = [d for d in docs(path) if d["kind"] == "ConfigMap" and "netsensor.yaml.in" in d["data"]]
        if len(maps) != 1:
            sys.exit(f"{path}: expected one ConfigMap with netsensor.yaml.in, found {len(maps)}")
        text = maps[0]["data"]["netsensor.yaml.in"].replace("__POD_IP__", "127.0.0.1")
        open(sys.argv[3], "w").write(text)
    elif what == "rules":
        rules = [d for d in docs(path) if d["kind"] == "PrometheusRule"]
        if len(rules) != 1:
            sys.exit(f"{path}: expected one PrometheusRule, found {len(rules)}")
        yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}, open(sys.argv[3], "w"), sort_keys=False)
    elif what == "scripts":
        failed = 0
        for doc in docs(path):
            for pod in pod_specs(doc):
                for c in pod.get("initContainers", []) + pod.get("containers", []):
                    cmd = c.get("command") or []
                    if cmd[:2] == ["/bin/sh", "-c"]:
                        run = subprocess.run(["sh", "-n", "-c", cmd[2]], capture_output=True, text=True)
                        if run.returncode != 0:
                            failed += 1
                            print(f"{path}: {doc['metadata']['name']}/{c['name']}: {run.stderr.strip()}")
        sys.exit(1 if failed else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
