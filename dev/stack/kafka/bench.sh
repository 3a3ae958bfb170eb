#!/usr/bin/env bash
# Throughput of the sensor's Kafka output next to Kafka's own producer benchmark, in one run,
# against the local broker (dev/stack). Prints both figures and their ratio as a Markdown
# table row (docs/kafka.md). For `make bench`; never part of `make test`.
#
#   dev/stack/kafka/bench.sh [CAPTURE]    default dev/fixtures/pcaps/mixed-large-many-protocols.pcap
#
# The sensor run is `netsensor replay` of the capture with only outputs.kafka enabled (decode,
# records and the output; it ends when every record is acknowledged). Kafka's run is
# kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance, from the same Maven
# artifacts as the broker) with the same number of records, drawn from the sensor's own
# records (so the same sizes and the same compressibility), and the sensor's producer
# settings (idempotent, acks=all, lz4, linger.ms=20, batch.size=1 MiB).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CAPTURE=${1:-${REPO_ROOT}/dev/fixtures/pcaps/mixed-large-many-protocols.pcap}
TARGET=${CARGO_TARGET_DIR:-${HOME}/.cache/netsensor/target-$(rustc --version | awk '{print $2}')}
SENSOR=${NETSENSOR_BIN:-${TARGET}/release/netsensor}
STACK_DIR=${NETSENSOR_STACK_DIR:-/var/tmp/netsensor-stack}

[ -x "$SENSOR" ] || { echo "bench: $SENSOR missing (make release)" >&2; exit 1; }
brokers=$("${REPO_ROOT}/dev/stack/stack.sh" ensure kafka)
jars=$(find "${STACK_DIR}/dist" -maxdepth 2 -path "*/kafka-*/jars" -type d | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run="bench-$(date +%s)-$$"

base="sensor: { name: bench, data_directory: ${work}/data }
records: [packet, flow]
listeners: { metrics: null, query: null }"
printf '%s\n' "$base" >"${work}/ndjson.yaml"
"$SENSOR" replay --no-progress --config "${work}/ndjson.yaml" --out "${work}/records.ndjson" "$CAPTURE" 2>/dev/null
records=$(wc -l <"${work}/records.ndjson")
bytes=$(wc -c <"${work}/records.ndjson")
size=$(( (bytes - records) / records ))

cat >"${work}/kafka.yaml" <<YAML
${base}
outputs:
  kafka:
    enabled: true
    brokers: "${brokers}"
    topics: { packet: ${run}-packet, flow: ${run}-flow, rollup: ${run}-rollup }
YAML
start=$(date +%s.%N)
"$SENSOR" replay --no-progress --config "${work}/kafka.yaml" "$CAPTURE" 2>"${work}/sensor.log" ||
  { tail -n 20 "${work}/sensor.log" >&2; exit 1; }
end=$(date +%s.%N)
sent=$(grep -o 'sent=[0-9]*' "${work}/sensor.log" | tail -n 1 | cut -d= -f2)
[ "${sent:-0}" -eq "$records" ] || { echo "bench: sensor sent ${sent:-?} of $records records" >&2; exit 1; }
sensor_rate=$(awk -v n="$records" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')

# The same records as payloads (--payload-file, drawn at random from the first 100,000):
# random bytes would not compress like JSON.
head -n 100000 "${work}/records.ndjson" >"${work}/payloads.ndjson"
perf=$(java -Xmx768m -cp "${jars}/*" org.apache.kafka.tools.ProducerPerformance \
  --topic "${run}-perf" --num-records "$records" --payload-file "${work}/payloads.ndjson" \
  --payload-delimiter $'\n' --throughput -1 \
  --producer-props bootstrap.servers="$brokers" acks=all enable.idempotence=true \
  compression.type=lz4 linger.ms=20 batch.size=1048576 2>/dev/null | tail -n 1)
kafka_rate=$(printf '%s\n' "$perf" | sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p')
kafka_rate=${kafka_rate%.*}
ratio=$(awk -v a="$sensor_rate" -v b="$kafka_rate" 'BEGIN { printf "%.2f", a / b }')

echo "capture: $(basename "$CAPTURE"), $records records, mean $size bytes"
echo "| sensor replay -> Kafka (records/s) | kafka-producer-perf-test (records/s) | ratio |"
echo "|---|---|---|"
echo "| $sensor_rate | $kafka_rate | $ratio |"
