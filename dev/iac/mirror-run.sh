#!/usr/bin/env bash
# The sensor-mode capture of terraform/examples/aws (the `ansible_inventory` output's
# netsensor_captures) against mirrored traffic as AWS Traffic Mirroring delivers it: whole
# frames inside VXLAN on UDP 4789 to the sensor's primary interface.
#   mirror-run.sh INVENTORY NETSENSOR_BIN OUT_DIR
# INVENTORY is the rendered inventory (sensor mode). In a network namespace `eth0` is the
# sensor's primary interface (its name replaces the inventory's Ansible expression); a peer
# namespace is the mirror source: a kernel VXLAN device (VNI $vni, UDP 4789, remote = the
# sensor) carries pings to an inner address, and plain pings go to the sensor too.
# Passes when the sensor, as user 65532 with CAP_NET_RAW only, records the inner pings with
# the VNI and the outer addresses in netsensor.tunnel.*, and nothing of the plain pings.
set -euo pipefail
inventory="$1" bin="$2" out="$3"
cd "$(dirname "$0")/../.."
py="$(dev/iac/tool.sh pyenv)"
[ "$(id -u)" = 0 ] || { echo "mirror-run: needs root for network namespaces" >&2; exit 1; }
vni=4242
ns="nsmirror-$$" peer="nssource-$$"
rm -rf "$out" && mkdir -p "$out/data"
pid=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "mirror-run: $*; log:" >&2; cat "$out/sensor.log" >&2; exit 1; }

ip netns add "$ns" && ip netns add "$peer"
ip -n "$ns" link set lo up
ip link add eth0 netns "$ns" type veth peer name up0 netns "$peer"
ip -n "$ns" addr add 10.78.0.1/24 dev eth0 && ip -n "$ns" link set eth0 up
ip -n "$peer" addr add 10.78.0.2/24 dev up0 && ip -n "$peer" link set up0 up
# The mirror source: its frames to 192.168.50.1 leave inside VXLAN to the sensor.
ip -n "$peer" link add vx0 type vxlan id "$vni" dstport 4789 local 10.78.0.2 remote 10.78.0.1 dev up0
ip -n "$peer" addr add 192.168.50.2/24 dev vx0 && ip -n "$peer" link set vx0 up
ip -n "$peer" neigh add 192.168.50.1 lladdr 02:00:00:00:50:01 dev vx0

"$py" - "$inventory" "$out" <<'PY'
import sys, yaml
inventory, out = sys.argv[1], sys.argv[2]
sensors = yaml.safe_load(open(inventory))["all"]["children"]["sensors"]["hosts"]
capture = dict(next(iter(sensors.values()))["netsensor_captures"][0])
assert "ansible_facts" in capture["interface"], capture
capture["interface"] = "eth0"
config = {
    "sensor": {"name": "mirror-test", "data_directory": f"{out}/data"},
    "captures": [capture],
    "records": ["packet"],
    "outputs": {"file": {"path": f"{out}/records.ndjson"}, "sqlite": {"enabled": False}},
    "listeners": {"metrics": None, "query": None},
    "logging": {"format": "text"},
}
yaml.safe_dump(config, open(f"{out}/netsensor.yaml", "w"))
print(f"mirror-run: capture {capture}")
PY
chown -R 65532:65532 "$out" && chmod 0755 "$out"
cp "$bin" "$out/netsensor" && chmod 0755 "$out/netsensor"
ip netns exec "$ns" setpriv --reuid 65532 --regid 65532 --clear-groups --no-new-privs \
  --bounding-set -all,+net_raw --inh-caps -all,+net_raw --ambient-caps -all,+net_raw \
  "$out/netsensor" run --config "$out/netsensor.yaml" >"$out/sensor.log" 2>&1 &
pid=$!
opened=0
for _ in $(seq 1 100); do
  if grep -q 'Capture opened' "$out/sensor.log"; then opened=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$opened" = 1 ] || fail "the capture did not open"

# Bounded traffic, inside the two namespaces only. The inner pings get no answer.
ip netns exec "$peer" ping -c 4 -i 0.2 -W 1 -q 192.168.50.1 >/dev/null 2>&1 || true
ip netns exec "$peer" ping -c 4 -i 0.2 -q 10.78.0.1 >/dev/null
sleep 0.5
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"

"$py" - "$out/records.ndjson" "$vni" <<'PY' || fail "the records do not show the mirrored traffic as expected"
import json, sys
path, vni = sys.argv[1], int(sys.argv[2])

def get(record, dotted):
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value

records = [json.loads(line) for line in open(path) if line.strip()]
inner = [r for r in records if get(r, "source.ip") == "192.168.50.2" and get(r, "destination.ip") == "192.168.50.1"]
problems = []
if len(inner) < 4:
    problems.append(f"{len(inner)} records of the 4 inner pings (of {len(records)} records)")
for r in inner:
    tunnel = {k: get(r, f"netsensor.tunnel.{k}") for k in ("type", "id", "source.ip", "destination.ip")}
    if tunnel != {"type": "vxlan", "id": vni, "source.ip": "10.78.0.2", "destination.ip": "10.78.0.1"}:
        problems.append(f"tunnel fields {tunnel}")
        break
outer = [r for r in records if "10.78.0.2" in (get(r, "source.ip"), get(r, "destination.ip"))]
if outer:
    problems.append(f"{len(outer)} records of traffic outside the mirror (the filter should drop it)")
print("\n".join(problems) or
      f"mirror-run: {len(inner)} mirrored packets reported by their inner addresses, VNI {vni} in "
      "netsensor.tunnel.id, outer addresses in netsensor.tunnel.*; the plain pings filtered out")
sys.exit(1 if problems else 0)
PY
