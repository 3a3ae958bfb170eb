#!/usr/bin/env bash
# Value combinations the charts must refuse, each with the sentence it must print.
#   helm-bad-values.sh HELM
# Each case: chart | expected text | helm template arguments. A case fails when helm
# renders, or fails without the expected text.
set -uo pipefail
helm="$1"
cd "$(dirname "$0")/../.."
failed=0
count=0
check() {
  local chart="$1" expect="$2"
  shift 2
  count=$((count + 1))
  local out
  if out="$("$helm" template t "helm/$chart" --kube-version 1.33.0 "$@" 2>&1)"; then
    echo "FAIL: $chart $* rendered, expected a refusal saying: $expect"
    failed=$((failed + 1))
  elif ! grep -qF -- "$expect" <<<"$out"; then
    echo "FAIL: $chart $*: expected \"$expect\", got: $out"
    failed=$((failed + 1))
  fi
}

# netsensor: refusals written in the templates (helm fail)
check netsensor "no credentials are given" --set config.outputs.elasticsearch.enabled=true
check netsensor "keep only one" --set config.outputs.elasticsearch.enabled=true \
  --set elasticsearch.apiKeySecret.name=a --set elasticsearch.passwordSecret.name=b
check netsensor "basic auth needs the user name too" --set config.outputs.elasticsearch.enabled=true \
  --set elasticsearch.passwordSecret.name=b
check netsensor "credentials would cross the network in clear text" \
  --set config.outputs.elasticsearch.enabled=true --set elasticsearch.apiKeySecret.name=a \
  --set 'config.outputs.elasticsearch.urls={http://es:9200}'
check netsensor "claimName is empty" --set storage.type=persistentVolumeClaim
check netsensor "without a capture records nothing" --set 'config.captures=null'
check netsensor "scrapes through the metrics Service" --set metrics.serviceMonitor.enabled=true \
  --set metrics.service.enabled=false
check netsensor "SASL needs the user's password from a Secret" --set config.outputs.kafka.enabled=true
check netsensor "the password would cross the network in clear text" --set config.outputs.kafka.enabled=true \
  --set kafka.passwordSecret.name=p --set config.outputs.kafka.security.protocol=sasl_plaintext
check netsensor "additional properties 'password' not allowed" --set config.outputs.kafka.security.password=inline
# netsensor: captures, workers and GeoIP (issue 10)
check netsensor "has both interface and interfaces" --set 'config.captures[0].interface=eth0' \
  --set 'config.captures[0].interfaces={eth*}'
check netsensor "names no interface" --set 'config.captures[0].backend=af_packet'
check netsensor "has only exclusions" --set 'config.captures[0].interfaces={!docker*}'
check netsensor "resources.limits.cpu (1500m) is below config.pipeline.workers (2)" \
  --set config.pipeline.workers=2 --set resources.limits.cpu=1500m
check netsensor "low_watermark (0.9) must be below high_watermark (0.8)" \
  --set-json config.pipeline.overload.low_watermark=0.9
check netsensor "geoip.files names no database" --set geoip.source=hostPath \
  --set geoip.files.country= --set geoip.files.asn=
check netsensor "geoip.persistentVolumeClaim.claimName is empty" --set geoip.source=persistentVolumeClaim
check netsensor "geoip.secret.name is empty" --set geoip.source=secret
check netsensor "geoip.configMap.name is empty" --set geoip.source=configMap
# the chart sets enrichment.geoip from geoip: (paths must be where it mounts them)
check netsensor "additional properties 'geoip' not allowed" --set config.enrichment.geoip.country_database=/x
check netsensor "does not match pattern" --set 'geoip.files.country=../country.mmdb'
check netsensor "value must be one of 'pcap', 'af_packet'" --set 'config.captures[0].interface=eth0' \
  --set 'config.captures[0].backend=dpdk'
check netsensor "value must be one of 4096, 8192" --set 'config.captures[0].interface=eth0' \
  --set 'config.captures[0].af_packet.block_size_bytes=100000'
check netsensor "value must be 'auto'" --set config.pipeline.workers=many
check netsensor "maximum: got 9, want 8" --set config.tunnels.max_depth=9
check netsensor "exclusiveMaximum: got 1.5, want 1" --set-json config.pipeline.overload.high_watermark=1.5
# netsensor: refusals of values.schema.json (unknown keys, out-of-range values)
# listeners are the chart's: the query API cannot be moved off loopback through values
check netsensor "additional properties 'listeners' not allowed" --set config.listeners.query.address=0.0.0.0:9103
check netsensor "additional properties 'api_key' not allowed" --set config.outputs.elasticsearch.api_key=inline
check netsensor "additional properties 'privileged' not allowed" --set privileged=true
check netsensor "value must be 'NET_ADMIN'" --set 'extraCapabilities={SYS_ADMIN}'
check netsensor "minimum: got 0, want 1" --set runAsUser=0
check netsensor "value must be one of 'in', 'out', 'inout'" --set 'config.captures[0].interface=eth0' \
  --set 'config.captures[0].direction=sideways'
# netsensor-stack
check netsensor-stack "cannot survive the loss of either" --set 'elasticsearch.nodeSets[0].count=2' \
  --set 'elasticsearch.nodeSets[0].name=default' --set 'elasticsearch.nodeSets[0].storage=1Gi' \
  --set 'elasticsearch.nodeSets[0].resources.requests.cpu=1' --set 'elasticsearch.nodeSets[0].resources.requests.memory=1Gi' \
  --set 'elasticsearch.nodeSets[0].resources.limits.cpu=1' --set 'elasticsearch.nodeSets[0].resources.limits.memory=1Gi'
check netsensor-stack "Kafka cannot place more replicas than it has brokers" --set kafka.enabled=true \
  --set kafka.replicas=1
check netsensor-stack "setup.kibanaObjects needs kibana.enabled" --set kibana.enabled=false
check netsensor-stack "watch.enabled needs setup.enabled" --set setup.enabled=false
check netsensor-stack "additional properties 'zookeeper' not allowed" --set kafka.zookeeper.replicas=3

echo "helm-bad-values: $count cases, $failed failed"
[ "$failed" -eq 0 ]
