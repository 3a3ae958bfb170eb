#!/usr/bin/env bash
# Checks of terraform/ without the provider registry (make terraform-checks):
#  1. every .tf file parses (PyPI python-hcl2), and the modules fit together: variables,
#     outputs, module arguments and references, locals, files (terraform_checks.py)
#  2. `tofu fmt -check` (OpenTofu built from the Go module proxy)
#  3. OpenTofu renders the Ansible inventory template (inventory-test/) for both
#     mirror_decapsulation modes, and the result has the groups of ansible/site.yml with an
#     address for every host and the sensors' capture of that mode; Ansible resolves the
#     sensor mode's interface expression (this machine's facts) to an existing interface
#  4. the variable validations, evaluated by OpenTofu on copies of the variables.tf files:
#     good values pass, bad ones fail with their message
#  5. the sensors' cloud-init user data is YAML with the #cloud-config header
#  6. the sensor-mode capture of the inventory, run by the sensor ($NETSENSOR_BIN) on
#     mirrored traffic in network namespaces, reports the inner packets with the VNI
#     (mirror-run.sh; needs root)
# Not checked here: `tofu validate`/`plan` and tflint's AWS rules, which need the AWS
# provider's schema from the registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${NETSENSOR_BIN:?set NETSENSOR_BIN to a built netsensor binary}"
py="$(dev/iac/tool.sh pyenv)"
tofu="$(dev/iac/tool.sh tofu)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TF_CLI_CONFIG_FILE="$work/tofurc" TF_IN_AUTOMATION=1
: >"$TF_CLI_CONFIG_FILE"
step() { echo "== terraform-checks: $*"; }

step "parse and structure (python-hcl2)"
"$py" dev/iac/terraform_checks.py terraform

step "tofu fmt -check"
"$tofu" fmt -check -recursive -diff terraform dev/iac/inventory-test

step "the Ansible inventory rendered by OpenTofu"
cp dev/iac/inventory-test/main.tf "$work/"
sed -i "s|\${path.module}/../../../terraform|$PWD/terraform|" "$work/main.tf"
"$tofu" -chdir="$work" init -input=false >/dev/null
for mode in sensor kernel; do
"$tofu" -chdir="$work" apply -input=false -auto-approve -var mirror_decapsulation=$mode >/dev/null
"$tofu" -chdir="$work" output -raw inventory >"$work/hosts.yml"
"$py" - "$work/hosts.yml" "$mode" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
mode = sys.argv[2]
groups = inv["all"]["children"]
want = ["elasticsearch", "kibana", "logstash", "kafka", "sensors"]
assert list(groups) == want, f"groups {list(groups)}, want {want}"
counts = {g: len(groups[g]["hosts"] or {}) for g in want}
assert counts == {"elasticsearch": 3, "kibana": 1, "logstash": 1, "kafka": 0, "sensors": 2}, counts
for group in want:
    for name, host in (groups[group]["hosts"] or {}).items():
        assert host["ansible_host"].startswith("10.40."), (name, host)
for name, host in groups["sensors"]["hosts"].items():
    capture = host["netsensor_captures"][0]
    if mode == "kernel":  # the VXLAN device of the user data
        assert capture["interface"] == "mirror0", (name, host)
    else:  # the primary interface (from Ansible's facts), the mirror's VXLAN only, decapsulated
        assert capture["interface"] == "{{ ansible_facts['default_ipv4']['interface'] }}", (name, host)
        assert capture["filter"] == "udp dst port 4789" and capture["decapsulate"] is True, (name, host)
for group in want[:-1]:
    for name, host in (groups[group]["hosts"] or {}).items():
        assert "netsensor_captures" not in host, (group, name)
print(f"inventory ({mode} decapsulation): {counts}")
PY
done
# The sensor-mode capture names its interface by an Ansible expression: Ansible resolves it
# (facts of this machine) to an interface that exists.
"$tofu" -chdir="$work" apply -input=false -auto-approve >/dev/null
"$tofu" -chdir="$work" output -raw inventory >"$work/hosts.yml"
cat >"$work/resolve.yml" <<'YML'
- name: The inventory's capture interface resolves
  hosts: sensor-1
  connection: local
  gather_facts: true
  tasks:
    - name: The interface exists
      ansible.builtin.assert:
        that: netsensor_captures[0].interface in ansible_facts['interfaces']
        success_msg: "sensor-1 captures on {{ netsensor_captures[0].interface }}"
YML
ansible_venv="$(dev/ansible/setup.sh)"
ANSIBLE_NOCOLOR=1 "$ansible_venv/bin/ansible-playbook" -i "$work/hosts.yml" "$work/resolve.yml" \
  -e ansible_python_interpreter="$ansible_venv/bin/python" >"$work/resolve.log" 2>&1 ||
  { cat "$work/resolve.log"; echo "FAIL: the inventory's capture interface does not resolve"; exit 1; }
grep -o '"sensor-1 captures on [^"]*"' "$work/resolve.log"
cp "$work/hosts.yml" "$work/hosts-sensor-mode.yml"

step "variable validations (tofu plan of the variables alone)"
validation() { # expect(ok|message) dir, then -var arguments
  local expect="$1" dir="$2"
  shift 2
  local case="$work/vars-$RANDOM"
  mkdir -p "$case" && cp "$dir/variables.tf" "$case/"
  "$tofu" -chdir="$case" init -input=false >/dev/null
  local log status=0
  log="$("$tofu" -chdir="$case" plan -input=false -no-color "$@" 2>&1)" || status=$?
  if [ "$expect" = ok ]; then
    [ "$status" = 0 ] || { echo "FAIL: $dir $* should pass: $log"; return 1; }
  else
    [ "$status" != 0 ] && grep -qF -- "$expect" <<<"$(tr -s ' \n' ' ' <<<"$log")" ||
      { echo "FAIL: $dir $* should fail with \"$expect\": $log"; return 1; }
  fi
}
ex=terraform/examples/aws
ex_vars=(-var region=eu-central-1 -var 'availability_zones=["eu-central-1a"]' -var ami_id=ami-0 \
  -var 'admin_cidrs=["203.0.113.0/24"]')
validation ok "$ex" "${ex_vars[@]}"
validation "two master-eligible nodes cannot survive" "$ex" "${ex_vars[@]}" \
  -var 'elasticsearch={count=2, instance_type="r6i.large", data_gib=10}'
validation "name must be 2 to 21" "$ex" "${ex_vars[@]}" -var name=Netsensor
validation ok "$ex" "${ex_vars[@]}" -var mirror_decapsulation=kernel
validation 'mirror_decapsulation must be "sensor" or "kernel"' "$ex" "${ex_vars[@]}" -var mirror_decapsulation=both
sg=terraform/modules/security-groups
sg_vars=(-var name=n -var vpc_id=vpc-0 -var vpc_cidr=10.0.0.0/16 -var 'mirror_source_cidrs=["10.0.0.0/16"]')
validation ok "$sg" "${sg_vars[@]}" -var 'admin_cidrs=["203.0.113.0/24"]'
validation "SSH and Kibana would be open to the Internet" "$sg" "${sg_vars[@]}" -var 'admin_cidrs=["0.0.0.0/0"]'
tm=terraform/modules/traffic-mirroring
tm_vars=(-var name=n -var 'source_network_interface_ids=["eni-1"]')
validation ok "$tm" "${tm_vars[@]}" -var 'target_network_interface_ids=["eni-2"]'
validation "Give at least one sensor network interface" "$tm" "${tm_vars[@]}" -var 'target_network_interface_ids=[]'
validation "rule_number from 11 to 32766" "$tm" "${tm_vars[@]}" -var 'target_network_interface_ids=["eni-2"]' \
  -var 'filter_rules=[{direction="ingress", rule_number=10, source_cidr_block="0.0.0.0/0", destination_cidr_block="0.0.0.0/0"}]'
validation "24-bit VXLAN VNI" "$tm" "${tm_vars[@]}" -var 'target_network_interface_ids=["eni-2"]' -var virtual_network_id=16777216
in=terraform/modules/instances
validation "role must be one of" "$in" -var name=n -var role=web -var instance_count=1 -var instance_type=t3.micro \
  -var ami_id=ami-0 -var 'subnet_ids=["s"]' -var 'security_group_ids=["g"]'
echo "variable validations: 12 cases OK"

step "cloud-init user data"
"$py" - terraform/examples/aws/sensor-user-data.yaml <<'PY'
import sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n"), "user data must start with #cloud-config"
data = yaml.safe_load(text)
assert set(data) == {"write_files", "runcmd"}, set(data)
print("user data: OK")
PY

step "the inventory's sensor-mode capture on mirrored VXLAN (network namespaces)"
mirror="$(mktemp -d /tmp/netsensor-mirror.XXXXXX)"
dev/iac/mirror-run.sh "$work/hosts-sensor-mode.yml" "$NETSENSOR_BIN" "$mirror"
rm -rf "$mirror"
step "OK"
