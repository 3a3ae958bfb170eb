#!/usr/bin/env bash
# The Ansible proof of `make ansible-check` (docs/deploy-ansible.md says what it does and
# does not prove). Needs the .deb files in NETSENSOR_DEB_DIR (make deb-check builds them).
#   1. ansible-lint, production profile, offline
#   2. ansible-playbook --syntax-check site.yml with the example inventory
#   3. the whole site.yml in --check --diff against this machine (inventories/local)
#   4. the netsensor_setup + netsensor roles applied for real to this machine, against the
#      dev stack's secured Elasticsearch; then again, with zero changes
#   5. the installed config passes check-config and carries the inventory's captures,
#      tunnels, workers and overload; the units pass systemd-analyze verify
#   6. the sensor runs under the unit's restrictions (user netsensor, CAP_NET_RAW only, no
#      new privileges, / read-only but /var/lib/netsensor and /var/log/netsensor) and writes
#      its store, its logs, records into Elasticsearch, and its spool when the cluster is away
#   7. netsensor-admin watch --once with the watch service's user, group, env and credential
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "ansible-check: $*" >&2; exit 1; }
step() { echo "== ansible-check: $*"; }
: "${NETSENSOR_DEB_DIR:?set NETSENSOR_DEB_DIR to the directory of the .deb files}"
export NETSENSOR_DEB_DIR

venv=$("$repo/dev/ansible/setup.sh")
export PATH="$venv/bin:$PATH" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
work=$(mktemp -d /tmp/netsensor-ansible.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
export NETSENSOR_ANSIBLE_WORK=$work
cd "$repo/ansible"

recap() { # LOG -> "ok=.. changed=.. failed=.." line of localhost
  grep -E '^localhost +:' "$1" | tail -1
}

step "ansible-lint (production profile, offline)"
ansible-lint --nocolor

step "syntax check of site.yml with the example inventory"
ansible-playbook --syntax-check site.yml -i inventories/example

step "site.yml --check --diff against this machine"
ansible-playbook site.yml -i inventories/local --check --diff >"$work/check.log" 2>&1 \
  || { tail -40 "$work/check.log"; fail "site.yml --check failed (log above)"; }
line=$(recap "$work/check.log")
[[ $line == *"failed=0"* ]] || fail "site.yml --check: $line"
echo "   $line"

step "netsensor_setup + netsensor roles applied to this machine (secured Elasticsearch)"
"$repo/dev/stack/stack.sh" ensure elasticsearch-secure >/dev/null
stack=${NETSENSOR_STACK_DIR:-/var/tmp/netsensor-stack}/elasticsearch-secure
export NETSENSOR_PROOF_ES_URL=https://127.0.0.1:9202
export NETSENSOR_PROOF_ES_CA=$stack/ca.pem
export NETSENSOR_PROOF_ES_PASSWORD_FILE=$stack/elastic-password
# From a clean machine: the first run installs and configures everything.
apt-get purge -y -qq netsensor netsensor-admin >/dev/null 2>&1 || true
rm -rf /etc/netsensor /var/lib/netsensor /var/log/netsensor /var/cache/netsensor-deb
for run in 1 2; do
  ansible-playbook proof/netsensor-local.yml -i inventories/local --diff >"$work/run$run.log" 2>&1 \
    || { tail -40 "$work/run$run.log"; fail "run $run of the netsensor role failed (log above)"; }
  line=$(recap "$work/run$run.log"); echo "   run $run: $line"
  [[ $line == *"failed=0"* ]] || fail "run $run: $line"
done
[[ $(recap "$work/run1.log") != *"changed=0"* ]] || fail "the first run changed nothing on a clean machine"
[[ $(recap "$work/run2.log") == *"changed=0"* ]] || {
  grep -B3 -E '^changed:' "$work/run2.log" | head -40; fail "the second run changed something"; }
for secret in proof-only "$(cat "$NETSENSOR_PROOF_ES_PASSWORD_FILE")" "$(cat /etc/netsensor/es-api-key)"; do
  grep -qF -- "$secret" "$work/check.log" "$work/run1.log" "$work/run2.log" \
    && fail "a secret appears in the Ansible output"
done

step "installed package, config and units"
dpkg-query -W -f='${Status}\n' netsensor netsensor-admin | grep -qv 'install ok installed' \
  && fail "packages not installed"
getent passwd netsensor >/dev/null || fail "no user netsensor"
netsensor check-config --config /etc/netsensor/netsensor.yaml >"$work/effective.yaml" 2>/dev/null
# The capture, tunnel and pipeline variables of the local inventory reached the sensor: its
# effective configuration has them as the inventory gives them.
"$venv/bin/python" - "$work/effective.yaml" inventories/local/group_vars/all/main.yml <<'PY' \
  || fail "the installed config does not carry the inventory's captures/tunnels/workers/overload"
import sys, yaml
eff = yaml.safe_load(open(sys.argv[1]))
inv = yaml.safe_load(open(sys.argv[2]))
want_cap = inv["netsensor_captures"][0]
got_cap = eff["captures"][0]
problems = []
for key in ("backend", "decapsulate", "af_packet", "filter", "promiscuous"):
    if got_cap.get(key) != want_cap[key]:
        problems.append(f"captures[0].{key}: {got_cap.get(key)!r}, inventory {want_cap[key]!r}")
if want_cap["interface"] not in (got_cap.get("interface"), *(got_cap.get("interfaces") or [])):
    problems.append(f"captures[0].interfaces: {got_cap.get('interfaces')!r}")
if eff["tunnels"] != inv["netsensor_tunnels"]:
    problems.append(f"tunnels: {eff['tunnels']!r}, inventory {inv['netsensor_tunnels']!r}")
if eff["pipeline"]["workers"] != inv["netsensor_workers"]:
    problems.append(f"pipeline.workers: {eff['pipeline']['workers']!r}")
if eff["pipeline"]["overload"] != inv["netsensor_overload"]:
    problems.append(f"pipeline.overload: {eff['pipeline']['overload']!r}")
print("\n".join(problems) or "   effective config: captures, tunnels, workers and overload as in the inventory")
sys.exit(1 if problems else 0)
PY
[[ $(stat -c '%U:%G %a' /etc/netsensor/es-api-key) == "root:netsensor 640" ]] \
  || fail "/etc/netsensor/es-api-key is $(stat -c '%U:%G %a' /etc/netsensor/es-api-key)"
systemd-analyze verify /lib/systemd/system/netsensor.service \
  /lib/systemd/system/netsensor-admin-watch.service /lib/systemd/system/netsensor-admin-watch.timer

step "the sensor under the unit's restrictions"
# What netsensor.service grants, without systemd as init: user netsensor, CAP_NET_RAW as the
# only (ambient, bounding) capability, no new privileges, / read-only except the state and
# log directories (ProtectSystem=strict + StateDirectory= + LogsDirectory=).
restricted() { # CONFIG SECONDS
  timeout -s INT "$2" unshare --mount --propagation private sh -c '
    umask 0027
    mount --bind / / && mount -o remount,bind,ro /
    for d in /var/lib/netsensor /var/log/netsensor; do
      mount --bind "$d" "$d" && mount -o remount,bind,rw "$d"; done
    exec setpriv --reuid netsensor --regid netsensor --init-groups \
      --inh-caps -all,+net_raw --ambient-caps -all,+net_raw --bounding-set -all,+net_raw \
      --no-new-privs /usr/bin/netsensor run --config "$0"' "$1" >"$work/sensor.out" 2>&1 || true
}
es_count() {
  curl -s --cacert "$NETSENSOR_PROOF_ES_CA" -u "elastic:$(cat "$NETSENSOR_PROOF_ES_PASSWORD_FILE")" \
    "$NETSENSOR_PROOF_ES_URL/logs-netsensor.*-ansibleproof/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
before=$(es_count); before=${before:-0}
rm -rf /var/lib/netsensor/* /var/log/netsensor/*
( for _ in $(seq 1 40); do curl -s -o /dev/null http://127.0.0.1:9102/metrics || true; sleep 0.2; done ) &
restricted /etc/netsensor/netsensor.yaml 12
wait
[[ -s /var/lib/netsensor/netsensor.db ]] || { cat "$work/sensor.out"; fail "no store in /var/lib/netsensor"; }
[[ $(stat -c %U /var/lib/netsensor/netsensor.db) == netsensor ]] || fail "store not owned by netsensor"
ls /var/log/netsensor/* >/dev/null 2>&1 || { cat "$work/sensor.out"; fail "no log file in /var/log/netsensor"; }
grep -qi 'permission denied\|read-only file system' "$work/sensor.out" /var/log/netsensor/* \
  && fail "the sensor hit a permission error: $(grep -hi 'permission denied\|read-only' "$work/sensor.out" /var/log/netsensor/* | head -3)"
count=$(es_count)
[[ ${count:-0} -gt $before ]] || fail "no new records in logs-netsensor.*-ansibleproof with the setup's API key"
echo "   store, logs and $((count - before)) new records in Elasticsearch (API key from netsensor-admin setup)"

# The cluster away: the sensor must spool into /var/lib/netsensor/spool.
sed 's|https://127.0.0.1:9202|https://127.0.0.1:9|' /etc/netsensor/netsensor.yaml >"$work/away.yaml"
chmod 0644 "$work/away.yaml"
( for _ in $(seq 1 40); do curl -s -o /dev/null http://127.0.0.1:9102/metrics || true; sleep 0.2; done ) &
restricted "$work/away.yaml" 14
wait
find /var/lib/netsensor/spool -type f -size +0 2>/dev/null | grep -q . \
  || { cat "$work/sensor.out"; fail "nothing spooled under /var/lib/netsensor/spool with the cluster away"; }
echo "   spool written with the cluster away: $(find /var/lib/netsensor/spool -type f | wc -l) file(s)"
step "netsensor-admin watch --once as netsensor-admin-watch.service runs it"
# A user that is not netsensor, with the group netsensor (SupplementaryGroups=), the env file
# and the password as its credential; only this proof's streams, so other data is untouched.
install -m 0644 /etc/netsensor/admin-password "$work/credential"
mkdir -m 0777 "$work/archive"
( set -a; . /etc/netsensor/admin.env; set +a
  NETSENSOR_ES_PASSWORD_FILE=$work/credential setpriv --reuid nobody --regid nogroup \
    --groups "$(getent group netsensor | cut -d: -f3)" --no-new-privs \
    netsensor-admin watch --once --archive-dir "$work/archive" \
      --streams 'logs-netsensor.*-ansibleproof' --max-disk-percent 99 ) >"$work/watch.out" 2>&1 \
  || { cat "$work/watch.out"; fail "watch --once failed as the user netsensor_admin"; }
echo "   one pass as netsensor_admin (role netsensor-admin) through the CA in /etc/netsensor"
step "all proven"
