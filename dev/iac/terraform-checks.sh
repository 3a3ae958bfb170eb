#!/usr/bin/env bash
# Checks of terraform/ without the provider registry (make terraform-checks):
#  1. every .tf file parses (PyPI python-hcl2), and the modules fit together: variables,
#     outputs, module arguments and references, locals, files (terraform_checks.py)
#  2. `tofu fmt -check` (OpenTofu built from the Go module proxy)
#  3. OpenTofu renders the Ansible inventory template (inventory-test/), and the result has
#     the groups of ansible/site.yml with an address for every host
#  4. the sensors' cloud-init user data is YAML with the #cloud-config header
# Not checked here: `tofu validate`/`plan` and tflint's AWS rules, which need the AWS
# provider's schema from the registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
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
"$tofu" -chdir="$work" apply -input=false -auto-approve >/dev/null
"$tofu" -chdir="$work" output -raw inventory >"$work/hosts.yml"
"$py" - "$work/hosts.yml" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
groups = inv["all"]["children"]
want = ["elasticsearch", "kibana", "logstash", "kafka", "sensors"]
assert list(groups) == want, f"groups {list(groups)}, want {want}"
counts = {g: len(groups[g]["hosts"] or {}) for g in want}
assert counts == {"elasticsearch": 3, "kibana": 1, "logstash": 1, "kafka": 0, "sensors": 2}, counts
for group in want:
    for name, host in (groups[group]["hosts"] or {}).items():
        assert host["ansible_host"].startswith("10.40."), (name, host)
for name, host in groups["sensors"]["hosts"].items():
    assert host["netsensor_captures"][0]["interface"] == "mirror0", (name, host)
print(f"inventory: {counts}")
PY

step "cloud-init user data"
"$py" - terraform/examples/aws/sensor-user-data.yaml <<'PY'
import sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n"), "user data must start with #cloud-config"
data = yaml.safe_load(text)
assert set(data) == {"write_files", "runcmd"}, set(data)
print("user data: OK")
PY
step "OK"
