#!/usr/bin/env bash
# One checkov run over every deployment artefact (dev/mk/checkov.mk). Expects the rendered
# manifests of dev/iac/helm-checks.sh in $NETSENSOR_IAC_OUT/helm.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${NETSENSOR_IAC_OUT:-$HOME/.cache/netsensor/iac-out}/helm"
checkov="$(dev/iac/tool.sh checkov)"
manifests=("$out"/netsensor-*.yaml)
[ -f "${manifests[0]}" ] || { echo "checkov.sh: no rendered manifests in $out (run make helm-checks)" >&2; exit 1; }
args=(--config-file .checkov.yaml -d terraform -f Dockerfile)
frameworks=(terraform kubernetes dockerfile)
for file in "${manifests[@]}"; do args+=(-f "$file"); done
if [ -d ansible ]; then
  args+=(-d ansible)
  frameworks+=(ansible)
fi
# No Prisma Cloud account: nothing is uploaded, and the guideline download is skipped.
"$checkov" "${args[@]}" --framework "${frameworks[@]}"
