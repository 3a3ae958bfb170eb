#!/usr/bin/env bash
# Runs the sensor the way helm/netsensor's DaemonSet runs it, without Kubernetes: the config
# the chart renders (captures on lo here), user 65532, no capability but CAP_NET_RAW
# (bounding, permitted, effective and ambient sets), no_new_privs, and, in a private mount
# namespace, the root filesystem read-only with only the data directory and a TMPDIR
# writable (the pod's hostPath and /tmp emptyDir).
# The GeoIP databases come from a root-owned directory (the chart's geoip hostPath source;
# here the test databases of dev/fixtures/geo), read-only like the pod's mount.
# Passes when /healthz and /readyz answer, the three GeoIP databases are opened, the capture
# is open and counts packets, the store is written, and the sensor stops cleanly on SIGTERM.
# Then the af_packet backend's kernel calls (afpacket-probe.py: TPACKET_V3 rings, a
# PACKET_FANOUT group, SO_ATTACH_FILTER) with the same user and capabilities, in a network
# namespace of its own: they must work with CAP_NET_RAW and be refused without it.
#   helm-pod-run.sh HELM NETSENSOR_BIN OUT_DIR
set -euo pipefail
helm="$1" bin="$2" out="$3"
cd "$(dirname "$0")/../.."
py="$(dev/iac/tool.sh pyenv)"
[ "$(id -u)" = 0 ] || { echo "helm-pod-run: needs root to drop to the pod's user and capabilities" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out/data" "$out/tmp"
port=$((20000 + RANDOM % 20000))
"$helm" template t helm/netsensor --kube-version 1.33.0 \
  --set 'config.captures[0].interface=lo' --set 'config.captures[0].filter=tcp' \
  --set metrics.port="$port" --set query.port=$((port + 1)) --set config.logging.format=text \
  --set geoip.source=hostPath --set geoip.files.country=GeoLite2-Country.mmdb \
  --set geoip.files.city=GeoLite2-City.mmdb --set geoip.files.asn=GeoLite2-ASN.mmdb \
  >"$out/manifests.yaml"
"$py" dev/iac/rendered.py config "$out/manifests.yaml" "$out/netsensor.yaml"
sed -i "s|/var/lib/netsensor|$out/data|; s|/usr/share/netsensor/geoip|$out/geoip|" "$out/netsensor.yaml"
mkdir -p "$out/geoip"
install -m 0644 dev/fixtures/geo/flat-country.mmdb "$out/geoip/GeoLite2-Country.mmdb"
install -m 0644 dev/fixtures/geo/maxmind-city.mmdb "$out/geoip/GeoLite2-City.mmdb"
install -m 0644 dev/fixtures/geo/asn.mmdb "$out/geoip/GeoLite2-ASN.mmdb"
# The pod's user owns its data directory (what the prepare-data init container does).
chown -R 65532:65532 "$out/data" "$out/tmp"
chmod 0755 "$out"

bin_copy="$out/netsensor"
cp "$bin" "$bin_copy" && chmod 0755 "$bin_copy"
unshare --mount --propagation private sh -c '
  set -e
  mount --bind "$1/data" "$1/data"
  mount --bind "$1/tmp" "$1/tmp"
  mount -o remount,bind,ro /
  export TMPDIR="$1/tmp"
  exec setpriv --reuid 65532 --regid 65532 --clear-groups --no-new-privs \
    --bounding-set -all,+net_raw --inh-caps -all,+net_raw --ambient-caps -all,+net_raw \
    "$1/netsensor" run --config "$1/netsensor.yaml"
' sh "$out" >"$out/sensor.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

base="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 100); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "helm-pod-run: the sensor did not become ready; its log:" >&2
  cat "$out/sensor.log" >&2
  exit 1
fi
curl -fsS "$base/healthz" >/dev/null
opened="$(grep -c 'GeoIP database opened' "$out/sensor.log" || true)"
[ "$opened" = 3 ] ||
  { echo "helm-pod-run: $opened GeoIP databases opened, expected 3; log:" >&2; cat "$out/sensor.log" >&2; exit 1; }
# Traffic on lo: the scrapes themselves.
for _ in $(seq 1 20); do curl -fsS "$base/metrics" >"$out/metrics.txt"; sleep 0.1; done
grep -E '^netsensor_capture_up\{[^}]*capture="lo"[^}]*\} 1$' "$out/metrics.txt" >/dev/null ||
  { echo "helm-pod-run: capture lo is not up" >&2; grep capture_up "$out/metrics.txt" >&2; exit 1; }
received="$(awk '/^netsensor_packets_received_total\{.*capture="lo"/ {print $2}' "$out/metrics.txt")"
[ "${received%.*}" -gt 0 ] 2>/dev/null ||
  { echo "helm-pod-run: no packets counted on lo (got '$received')" >&2; exit 1; }
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
trap - EXIT
[ "$status" = 0 ] || { echo "helm-pod-run: exit status $status after SIGTERM; log:" >&2; cat "$out/sensor.log" >&2; exit 1; }
ls "$out/data"/netsensor.db >/dev/null
owner="$(stat -c %u "$out/data/netsensor.db")"
[ "$owner" = 65532 ] || { echo "helm-pod-run: netsensor.db owned by $owner, not 65532" >&2; exit 1; }
echo "helm-pod-run: ready, 3 GeoIP databases, capture lo up, $received packets, store written by 65532, clean stop"

# The af_packet backend's kernel calls under the pod's user and capabilities.
install -m 0644 dev/iac/afpacket-probe.py "$out/afpacket-probe.py"
probe() { # CAPS EXPECT
  unshare --net sh -c 'ip link set lo up && exec setpriv --reuid 65532 --regid 65532 --clear-groups \
    --no-new-privs --bounding-set "$1" --inh-caps "$1" --ambient-caps "$1" \
    /usr/bin/python3 "$2" lo "$3"' sh "$1" "$out/afpacket-probe.py" "$2"
}
probe -all,+net_raw expect-ok
probe -all expect-eperm
