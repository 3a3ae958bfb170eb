#!/usr/bin/env bash
# The chart's default capture on a node-like network namespace: the `interfaces` globs of
# helm/netsensor/values.yaml (read from there, not copied), with backend af_packet and two
# workers, as user 65532 with CAP_NET_RAW as its only capability.
# The namespace has an uplink `eth0` (a veth to a second namespace), a VLAN-like `eth0.100`
# and a pod-side `cali1`; `ens7` is added while the sensor runs. The second namespace also
# plays a flannel node: pod traffic in VXLAN on UDP 8472 (the chart's tunnels.vxlan_ports).
# Passes when eth0 is captured with one AF_PACKET ring per worker and counts the pings,
# eth0.100 and cali1 are never captured, ens7 is captured once it appears (the rescan),
# the overlay's packets are recorded by their pod addresses with the VNI, and the sensor
# stops cleanly on SIGTERM.
#   helm-node-run.sh HELM NETSENSOR_BIN OUT_DIR
set -euo pipefail
helm="$1" bin="$2" out="$3"
cd "$(dirname "$0")/../.."
py="$(dev/iac/tool.sh pyenv)"
[ "$(id -u)" = 0 ] || { echo "helm-node-run: needs root for network namespaces" >&2; exit 1; }
workers=2
ns="nsnode-$$" peer="nspeer-$$"
rm -rf "$out" && mkdir -p "$out/data"
pid=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns" && ip netns add "$peer"
ip -n "$ns" link set lo up
veth() { # NAME PEER_NAME: a veth from the node namespace to the peer namespace, both up
  ip link add "$1" netns "$ns" type veth peer name "$2" netns "$peer"
  ip -n "$ns" link set "$1" up && ip -n "$peer" link set "$2" up
}
veth eth0 up0
ip -n "$ns" addr add 10.77.0.1/24 dev eth0 && ip -n "$peer" addr add 10.77.0.2/24 dev up0
veth eth0.100 vlan0
veth cali1 calipeer
# A flannel-like overlay from the peer: VNI 1 on UDP 8472 to the node's address.
vni=1
ip -n "$peer" link add flannel.1 type vxlan id "$vni" dstport 8472 local 10.77.0.2 remote 10.77.0.1 dev up0
ip -n "$peer" addr add 10.244.1.0/32 dev flannel.1 && ip -n "$peer" link set flannel.1 up
ip -n "$peer" route add 10.244.0.0/24 dev flannel.1
ip -n "$peer" neigh add 10.244.0.5 lladdr 02:00:0a:f4:00:05 dev flannel.1

"$py" - "$out/values.yaml" "$workers" <<'PY'
import sys, yaml
capture = yaml.safe_load(open("helm/netsensor/values.yaml"))["config"]["captures"][0]
assert "interfaces" in capture, "the chart's default capture has no interfaces globs"
capture.update(backend="af_packet", rescan_interval_ms=200)
values = {"config": {"captures": [capture], "pipeline": {"workers": int(sys.argv[2])},
                     "records": ["packet"], "outputs": {"stdout": {"enabled": True}},
                     "logging": {"format": "text"}}}
yaml.safe_dump(values, open(sys.argv[1], "w"))
print("helm-node-run: interfaces " + " ".join(capture["interfaces"]))
PY
"$helm" template t helm/netsensor --kube-version 1.33.0 -f "$out/values.yaml" >"$out/manifests.yaml"
"$py" dev/iac/rendered.py config "$out/manifests.yaml" "$out/netsensor.yaml"
port="$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["listeners"]["metrics"]["address"].rsplit(":", 1)[1])' "$out/netsensor.yaml")"
sed -i "s|/var/lib/netsensor|$out/data|" "$out/netsensor.yaml"
chown -R 65532:65532 "$out/data"
chmod 0755 "$out"
cp "$bin" "$out/netsensor" && chmod 0755 "$out/netsensor"

ip netns exec "$ns" setpriv --reuid 65532 --regid 65532 --clear-groups --no-new-privs \
  --bounding-set -all,+net_raw --inh-caps -all,+net_raw --ambient-caps -all,+net_raw \
  "$out/netsensor" run --config "$out/netsensor.yaml" >"$out/records.ndjson" 2>"$out/sensor.log" &
pid=$!
metrics() { ip netns exec "$ns" curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null; }
fail() { echo "helm-node-run: $*; log:" >&2; cat "$out/sensor.log" >&2; exit 1; }
ready=0
for _ in $(seq 1 100); do
  if ip netns exec "$ns" curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$ready" = 1 ] || fail "the sensor did not become ready"

ip netns exec "$peer" ping -c 5 -i 0.2 -q 10.77.0.1 >/dev/null
# Pod 10.244.1.0 to pod 10.244.0.5 through the overlay (unanswered; bounded).
ip netns exec "$peer" ping -c 3 -i 0.2 -W 1 -q 10.244.0.5 >/dev/null 2>&1 || true
veth ens7 ens7peer
seen=0
for _ in $(seq 1 100); do
  if metrics | grep -q '^netsensor_capture_up{capture="ens7#'; then seen=1; break; fi
  sleep 0.1
done
[ "$seen" = 1 ] || fail "ens7 appeared but was not captured"
metrics >"$out/metrics.txt"

rings="$(grep -c '^netsensor_capture_up{capture="eth0#[0-9]*"} 1$' "$out/metrics.txt" || true)"
[ "$rings" = "$workers" ] || fail "eth0 has $rings open AF_PACKET rings, expected one per worker ($workers)"
received="$(awk '/^netsensor_packets_received_total\{capture="eth0#/ {s += $2} END {print s + 0}' "$out/metrics.txt")"
[ "$received" -ge 5 ] || fail "eth0 counted $received packets for 5 pings"
if grep -E '^netsensor_capture_up\{capture="(eth0\.100|cali1)' "$out/metrics.txt"; then
  fail "an excluded interface is captured"
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
overlay="$("$py" - "$out/records.ndjson" "$vni" <<'PY'
import json, sys
vni = int(sys.argv[2])
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
pods = [r for r in records if r.get("source", {}).get("ip") == "10.244.1.0"
        and r.get("destination", {}).get("ip") == "10.244.0.5"]
tunnels = {json.dumps(r.get("netsensor", {}).get("tunnel"), sort_keys=True) for r in pods}
want = {"type": "vxlan", "id": vni, "source": {"ip": "10.77.0.2"}, "destination": {"ip": "10.77.0.1"}, "depth": 1}
if len(pods) < 3 or tunnels != {json.dumps(want, sort_keys=True)}:
    sys.exit(f"{len(pods)} overlay packets by pod address (want 3), tunnel fields {tunnels}")
print(len(pods))
PY
)" || fail "the flannel overlay (VXLAN 8472) is not reported by pod addresses"
echo "helm-node-run: eth0 captured by $rings AF_PACKET rings ($received packets), ens7 picked up" \
  "when it appeared, eth0.100 and cali1 left out, $overlay overlay packets by pod address with" \
  "VNI $vni; CAP_NET_RAW only, clean stop"
