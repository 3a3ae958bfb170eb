#!/usr/bin/env python3
"""Pulls pieces out of rendered chart manifests for the tools that check them.

    rendered.py config FILE OUT   the sensor config of the ConfigMap, pod IP 127.0.0.1
    rendered.py rules FILE OUT    the PrometheusRule's groups as a Prometheus rule file
    rendered.py scripts FILE      `sh -n` on every `/bin/sh -c` script of every container
    rendered.py geoip FILE        every enrichment.geoip database of the sensor config is in a
                                  read-only volume mounted into the config and sensor
                                  containers (and, for a Secret or ConfigMap, one of its items);
                                  prints the databases
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
    elif what == "geoip":
        sys.exit(check_geoip(docs(path)))
    else:
        sys.exit(__doc__)


def check_geoip(manifests):
    """Problems with the GeoIP mounts as one message, or None."""
    maps = [d for d in manifests if d["kind"] == "ConfigMap" and "netsensor.yaml.in" in d["data"]]
    config = yaml.safe_load(maps[0]["data"]["netsensor.yaml.in"])
    geo = (config.get("enrichment") or {}).get("geoip") or {}
    paths = {k: v for k, v in geo.items() if v}
    pods = [p for d in manifests if d["kind"] == "DaemonSet" for p in pod_specs(d)]
    if len(pods) != 1:
        return f"expected one DaemonSet, found {len(pods)}"
    pod = pods[0]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    problems = []
    for key, path in sorted(paths.items()):
        for c in pod["containers"] + pod.get("initContainers", []):
            if c["name"] not in ("netsensor", "config"):
                continue
            mounts = [m for m in c.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")]
            if not mounts:
                problems.append(f"{key} {path}: not under any mount of container {c['name']}")
                continue
            mount = max(mounts, key=lambda m: len(m["mountPath"]))
            if not mount.get("readOnly"):
                problems.append(f"{key} {path}: mount {mount['name']} of {c['name']} is writable")
            volume = volumes.get(mount["name"])
            if volume is None:
                problems.append(f"{key} {path}: volume {mount['name']} is not defined")
                continue
            source = volume.get("secret") or volume.get("configMap")
            if source is not None:
                name = path[len(mount["mountPath"].rstrip("/")) + 1:]
                if name not in [i["path"] for i in source.get("items", [])]:
                    problems.append(f"{key} {path}: {name} is not an item of volume {mount['name']}")
            claim = volume.get("persistentVolumeClaim")
            if claim is not None and not claim.get("readOnly"):
                problems.append(f"{key} {path}: claim {claim['claimName']} is not mounted read-only")
    if problems:
        return "\n".join(problems)
    print("geoip: " + (", ".join(f"{k}={v}" for k, v in sorted(paths.items())) or "none"))
    return None


if __name__ == "__main__":
    main()
