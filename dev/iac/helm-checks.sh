#!/usr/bin/env bash
# Checks of the Helm charts (make helm-checks):
#  1. helm/netsensor/files/alerts.yml is the same as dev/prometheus/alerts.yml
#  2. helm lint --strict of both charts, with the default and every example values file
#  3. helm template of the same; the manifests are kept in $NETSENSOR_IAC_OUT/helm for checkov
#  4. every rendered manifest validated offline: built-in kinds against the Kubernetes API
#     schemas, ECK/prometheus-operator/Strimzi resources against their CRDs (strict)
#  5. the rendered PrometheusRule passes promtool check rules
#  6. the rendered sensor config is accepted by `netsensor check-config` ($NETSENSOR_BIN),
#     with the GeoIP databases it names (the test databases of dev/fixtures/geo) read-only
#     mounted where it looks for them
#  7. every shell script in a container command parses (sh -n)
#  8. bad value combinations are refused with their sentence (helm-bad-values.sh)
#  9. the sensor runs with the DaemonSet's restrictions (helm-pod-run.sh): user 65532,
#     CAP_NET_RAW only, read-only root; it captures on lo and serves its probes
# 10. the chart's default interface globs on a node-like network namespace, with AF_PACKET
#     rings and two workers, CAP_NET_RAW only (helm-node-run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBE_VERSION="${KUBE_VERSION:-1.33.0}"
out="${NETSENSOR_IAC_OUT:-$HOME/.cache/netsensor/iac-out}/helm"
helm="$(dev/iac/tool.sh helm)"
py="$(dev/iac/tool.sh pyenv)"
mapfile -t crd_dirs < <(dev/iac/tool.sh crds)
: "${NETSENSOR_BIN:?set NETSENSOR_BIN to a built netsensor binary}"
rm -rf "$out" && mkdir -p "$out"
step() { echo "== helm-checks: $*"; }

step "alert rules in the chart are dev/prometheus/alerts.yml"
cmp dev/prometheus/alerts.yml helm/netsensor/files/alerts.yml

for chart in netsensor netsensor-stack; do
  for values in default helm/$chart/examples/*.yaml; do
    name="$(basename "$values" .yaml)"
    args=(--kube-version "$KUBE_VERSION")
    [ "$values" = default ] || args+=(-f "$values")
    step "$chart ($name): lint --strict, template"
    "$helm" lint --strict "helm/$chart" "${args[@]}" >"$out/lint.log" || { cat "$out/lint.log"; exit 1; }
    "$helm" template "$chart" "helm/$chart" --namespace netsensor "${args[@]}" >"$out/$chart-$name.yaml"
    "$py" dev/iac/rendered.py scripts "$out/$chart-$name.yaml"
  done
done

# The GeoIP sources no example uses (real databases exceed a Secret's or ConfigMap's 1 MiB):
# rendered, their mounts checked, and validated with the rest below.
for source in secret configMap; do
  step "netsensor (geoip-$source): template, GeoIP mounts"
  "$helm" template netsensor helm/netsensor --namespace netsensor --kube-version "$KUBE_VERSION" \
    --set geoip.source=$source --set geoip.$source.name=geoip-databases \
    --set geoip.files.city=city.mmdb >"$out/netsensor-geoip-$source.yaml"
  "$py" dev/iac/rendered.py geoip "$out/netsensor-geoip-$source.yaml"
done

step "validate $(ls "$out"/*.yaml | wc -l) rendered files (Kubernetes $KUBE_VERSION schemas, CRDs)"
crd_args=()
for dir in "${crd_dirs[@]}"; do crd_args+=(--crd-dir "$dir"); done
"$py" dev/iac/validate_manifests.py --kube-version "$KUBE_VERSION" "${crd_args[@]}" "$out"/*.yaml

step "promtool check rules on the rendered PrometheusRule"
"$py" dev/iac/rendered.py rules "$out/netsensor-elasticsearch.yaml" "$out/rules.yml"
promtool check rules "$out/rules.yml"

step "netsensor check-config on each rendered sensor config"
secrets="$out/secrets"
for values in default helm/netsensor/examples/*.yaml; do
  file="$out/netsensor-$(basename "$values" .yaml).yaml"
  cfg="$out/config-$(basename "$file" .yaml).yaml"
  "$py" dev/iac/rendered.py config "$file" "$cfg"
  # The Secrets the pod would mount, as files under a scratch directory.
  "$py" dev/iac/rendered.py geoip "$file"
  sed -i "s|/etc/netsensor/secrets|$secrets|g; s|/var/lib/netsensor|$out/data|g; s|/usr/share/netsensor/geoip|$out/geoip|g" "$cfg"
  # The GeoIP files the config names: the repository's test databases, by kind.
  rm -rf "$out/geoip"
  for kind in country:flat-country city:maxmind-city asn:asn; do
    path="$(sed -n "s|^ *${kind%%:*}_database: \($out/geoip/.*\)$|\1|p" "$cfg")"
    [ -z "$path" ] || { mkdir -p "$(dirname "$path")" && cp "dev/fixtures/geo/${kind#*:}.mmdb" "$path"; }
  done
  { grep -o "$secrets/[^ ]*" "$cfg" || true; } | while read -r path; do
    mkdir -p "$(dirname "$path")"
    case "$path" in
      *.crt) openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
               -keyout /dev/null -subj /CN=test-ca -days 1 -out "$path" 2>/dev/null ;;
      *) printf 'not-a-real-secret-0123456789abcdef\n' >"$path" ;;
    esac
  done
  "$NETSENSOR_BIN" check-config --config "$cfg" >/dev/null
  echo "$(basename "$file"): accepted"
done

step "bad values are refused"
dev/iac/helm-bad-values.sh "$helm"

step "the sensor under the DaemonSet's user, capabilities and read-only root"
# Under /tmp: the pod's user cannot traverse root's home.
pod="$(mktemp -d /tmp/netsensor-helm-pod.XXXXXX)"
dev/iac/helm-pod-run.sh "$helm" "$NETSENSOR_BIN" "$pod"
rm -rf "$pod"

step "the default interface globs, AF_PACKET with two workers, on a node-like namespace"
node="$(mktemp -d /tmp/netsensor-helm-node.XXXXXX)"
dev/iac/helm-node-run.sh "$helm" "$NETSENSOR_BIN" "$node"
rm -rf "$node"
step "OK"
