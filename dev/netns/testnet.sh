#!/usr/bin/env bash
# The live-capture test network (sensor/tests/live.rs) by hand, for trying the sensor on real
# traffic without touching the host's interfaces. Needs root.
#
#   dev/netns/testnet.sh up        # namespaces nsdev-a / nsdev-b, veth pair, dnsmasq, nginx
#   dev/netns/testnet.sh sensor [CONFIG]
#                                  # netsensor run in nsdev-a as nobody with CAP_NET_RAW only
#   dev/netns/testnet.sh traffic   # ping, ping -6, dig and curl from nsdev-a
#   dev/netns/testnet.sh metrics   # the sensor's /metrics (it listens inside nsdev-a)
#   dev/netns/testnet.sh down      # stop the daemons, delete the namespaces
#
# Addresses exist only inside the namespaces (10.231.0.0/30, fd00:231::/64): no packet leaves
# the machine. Files go to ${TESTNET_DIR:-/tmp/netsensor-testnet}.
set -euo pipefail

A=nsdev-a B=nsdev-b IF_A=veth-a IF_B=veth-b
A4=10.231.0.1 B4=10.231.0.2 A6=fd00:231::1 B6=fd00:231::2
DIR=${TESTNET_DIR:-/tmp/netsensor-testnet}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${NETSENSOR_BIN:-$HERE/../../target/debug/netsensor}

up() {
  mkdir -p "$DIR/out"
  chmod 755 "$DIR"
  chmod 777 "$DIR/out"
  ip netns add "$A"
  ip netns add "$B"
  ip link add "$IF_A" netns "$A" type veth peer name "$IF_B" netns "$B"
  ip -n "$A" addr add "$A4/30" dev "$IF_A"
  ip -n "$B" addr add "$B4/30" dev "$IF_B"
  ip -n "$A" addr add "$A6/64" dev "$IF_A" nodad
  ip -n "$B" addr add "$B6/64" dev "$IF_B" nodad
  for ns_if in "$A $IF_A" "$B $IF_B" "$A lo" "$B lo"; do
    set -- $ns_if
    ip -n "$1" link set "$2" up
  done
  ip netns exec "$B" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --address=/test.netsensor/10.231.9.9 --listen-address="$B4" --bind-interfaces \
    --user=root --pid-file="$DIR/dnsmasq.pid" --log-facility="$DIR/dnsmasq.log"
  sed -e "s|@DIR@|$DIR|g" -e "s|@ADDR@|$B4|g" "$HERE/nginx.conf" > "$DIR/nginx.conf"
  ip netns exec "$B" nginx -p "$DIR" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" \
    </dev/null >/dev/null 2>&1 &
  echo "up: sensor side $A ($IF_A $A4 $A6), servers in $B ($IF_B $B4 $B6); files in $DIR"
}

sensor() {
  local config=${1:-$DIR/netsensor.yaml}
  if [ ! -f "$config" ]; then
    cat > "$config" <<EOF
sensor: { name: testnet }
captures:
  - interface: $IF_A
    promiscuous: true
outputs:
  file: { path: $DIR/out/records.ndjson }
listeners:
  metrics: { address: "127.0.0.1:9102" }
EOF
  fi
  # The binary must be reachable by nobody (not under a 0700 home directory).
  install -m 755 "$BIN" "$DIR/netsensor"
  exec ip netns exec "$A" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --no-new-privs --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw \
    --bounding-set=-all,+net_raw "$DIR/netsensor" run --config "$config"
}

traffic() {
  ip netns exec "$A" ping -c 3 -i 0.2 "$B4"
  ip netns exec "$A" ping -6 -c 3 -i 0.2 "$B6"
  ip netns exec "$A" dig +short "@$B4" test.netsensor A
  ip netns exec "$A" curl -sS --resolve "web.test.netsensor:80:$B4" http://web.test.netsensor/hello
}

metrics() {
  ip netns exec "$A" curl -sS http://127.0.0.1:9102/metrics
}

down() {
  for pidfile in "$DIR/dnsmasq.pid" "$DIR/nginx.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  echo "down"
}

[ "$(id -u)" -eq 0 ] || { echo "testnet.sh: needs root (network namespaces)" >&2; exit 1; }
case "${1:-}" in
  up) up ;;
  sensor) shift; sensor "$@" ;;
  traffic) traffic ;;
  metrics) metrics ;;
  down) down ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
