#!/usr/bin/env bash
# Inspects the two .deb files in DIR (dev/mk/deb.mk): metadata, dependencies, files and
# maintainer scripts, with dpkg-deb. Fails with a sentence naming what is wrong.
#   packaging/check-debs.sh DIR VERSION
set -euo pipefail
dir=$1 version=$2
arch=$(dpkg --print-architecture)
fail() { echo "deb-check: $*" >&2; exit 1; }

sensor=$dir/netsensor_${version}_${arch}.deb
admin=$dir/netsensor-admin_${version}_${arch}.deb
for deb in "$sensor" "$admin"; do [[ -f $deb ]] || fail "missing $deb"; done

field() { dpkg-deb -f "$1" "$2"; }
contents() { dpkg-deb -c "$1" | awk '{print $NF}' | sed 's|^\./|/|'; }
has_file() { contents "$1" | grep -qx "$2" || fail "$(basename "$1") lacks $2"; }

# netsensor: binary, config as conffile, unit, dependencies, the user from postinst.
[[ $(field "$sensor" Package) == netsensor ]] || fail "wrong package name in $sensor"
field "$sensor" Depends | grep -q 'libpcap0\.8' || fail "netsensor does not depend on libpcap0.8: $(field "$sensor" Depends)"
field "$sensor" Depends | grep -q 'adduser' || fail "netsensor does not depend on adduser"
for f in /usr/bin/netsensor /etc/netsensor/netsensor.yaml /lib/systemd/system/netsensor.service \
  /usr/share/doc/netsensor/copyright /usr/share/man/man1/netsensor.1.gz \
  /usr/share/man/man1/netsensor-replay.1.gz; do has_file "$sensor" "$f"; done
dpkg-deb -I "$sensor" conffiles | grep -qx /etc/netsensor/netsensor.yaml \
  || fail "/etc/netsensor/netsensor.yaml is not a conffile"
postinst=$(dpkg-deb -I "$sensor" postinst)
grep -q 'adduser --system' <<<"$postinst" || fail "netsensor postinst does not create the system user"
grep -q 'addgroup --system' <<<"$postinst" || fail "netsensor postinst does not create the group"
unit=$(dpkg-deb --fsys-tarfile "$sensor" | tar -xO ./lib/systemd/system/netsensor.service)
for line in 'User=netsensor' 'AmbientCapabilities=CAP_NET_RAW' 'CapabilityBoundingSet=CAP_NET_RAW' \
  'NoNewPrivileges=yes' 'ProtectSystem=strict' 'StateDirectory=netsensor' 'LogsDirectory=netsensor'; do
  grep -qx "$line" <<<"$unit" || fail "netsensor.service lacks $line"
done
# The binary in the package runs (the libraries it links are where Depends says).
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$sensor" "$tmp/sensor"
"$tmp/sensor/usr/bin/netsensor" --version >/dev/null || fail "the packaged netsensor does not run"
"$tmp/sensor/usr/bin/netsensor" check-config --config "$tmp/sensor/etc/netsensor/netsensor.yaml" >/dev/null \
  || fail "the packaged /etc/netsensor/netsensor.yaml fails check-config"

# netsensor-admin: binary, templates, requests, Kibana objects where the tool looks.
[[ $(field "$admin" Package) == netsensor-admin ]] || fail "wrong package name in $admin"
field "$admin" Depends | grep -q 'libpcap' && fail "netsensor-admin must not depend on libpcap"
field "$admin" Depends | grep -q adduser || fail "netsensor-admin does not depend on adduser (its postinst creates the group)"
for f in /usr/bin/netsensor-admin /lib/systemd/system/netsensor-admin-watch.service \
  /lib/systemd/system/netsensor-admin-watch.timer; do has_file "$admin" "$f"; done
repo=$(cd "$(dirname "$0")/.." && pwd)
for src in "$repo"/elasticsearch/*/*.json; do
  has_file "$admin" "/usr/share/netsensor/elasticsearch/${src#"$repo"/elasticsearch/}"
done
for src in "$repo"/kibana-objects/*.ndjson "$repo"/kibana-objects/opensearch-dashboards/*.ndjson; do
  has_file "$admin" "/usr/share/netsensor/kibana-objects/${src#"$repo"/kibana-objects/}"
done
dpkg-deb -x "$admin" "$tmp/admin"
"$tmp/admin/usr/bin/netsensor-admin" --version >/dev/null || fail "the packaged netsensor-admin does not run"
echo "deb-check: netsensor and netsensor-admin ${version} (${arch}) in ${dir}: metadata, files, scripts ok"
