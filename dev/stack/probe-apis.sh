#!/usr/bin/env bash
# Which APIs does a local engine answer? Starts ENGINE if needed (stack.sh ensure), exercises
# each API on throwaway names (probe-*, logs-probe-*), prints one line per check, and removes
# what it created. The results table in docs/stack.md comes from this script.
#
#   dev/stack/probe-apis.sh ENGINE            tab-separated: check, request, HTTP status, verdict
#   dev/stack/probe-apis.sh --markdown ENGINE a Markdown table
#
# Verdicts: "yes" (2xx, and the response shows it worked), "no" (the API or feature is
# missing), or the error reason the engine gave.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
markdown=0
if [ "${1:-}" = --markdown ]; then
  markdown=1
  shift
fi
[ $# -eq 1 ] || {
  echo "usage: $0 [--markdown] elasticsearch|opensearch|elasticsearch-secure" >&2
  exit 2
}
engine=$1
url=$("$here/stack.sh" ensure "$engine")
stack_dir=${NETSENSOR_STACK_DIR:-/var/tmp/netsensor-stack}

body_file=$(mktemp)
data_file=$(mktemp)
trap 'rm -f "$body_file" "$data_file"' EXIT
# Elasticsearch's integ-test-zip cannot delete a data stream (no _data_stream API, and its
# write index cannot be deleted), so every run uses a data stream of its own.
ds="logs-probe-$(date +%s)"
STATUS=000

# req METHOD PATH [JSON]: sets STATUS, leaves the response body in $body_file. Credentials
# and bodies go to curl on stdin.
req() {
  local method=$1 path=$2 data=${3:-} config=""
  local args=(-s -o "$body_file" -w '%{http_code}' --max-time 60 -X "$method"
    -H 'content-type: application/json')
  if [ "$engine" = elasticsearch-secure ]; then
    args+=(--cacert "$stack_dir/elasticsearch-secure/ca.pem")
    config="user = \"elastic:$(cat "$stack_dir/elasticsearch-secure/elastic-password")\""$'\n'
  fi
  if [ -n "$data" ]; then
    printf '%s' "$data" >"$data_file"
    args+=(--data-binary "@$data_file")
  fi
  STATUS=$(printf '%s' "$config" | curl "${args[@]}" -K - "${url}${path}") || STATUS=000
}

body() { cat "$body_file"; }

# The engine's one-line reason for an error answer.
reason() {
  { jq -r '(.error | if type == "object" then (.root_cause[0].reason // .reason) else . end)
    // .message // empty | tostring' "$body_file" 2>/dev/null || true; } |
    head -c 110 | tr '\n\t|' '   '
}

rows=()
# row CHECK REQUEST OK_CONDITION: records STATUS and a verdict for the last request.
row() {
  local check=$1 request=$2 ok=$3 verdict
  if [ "$ok" = 1 ]; then
    verdict=yes
  else
    verdict="no: $(reason)"
    [ "$verdict" = "no: " ] && verdict="no: $(body | head -c 110 | tr '\n\t|' '   ')"
  fi
  rows+=("${check}"$'\t'"${request}"$'\t'"${STATUS}"$'\t'"${verdict}")
}
ok2xx() { [[ $STATUS == 2* ]] && echo 1 || echo 0; }

cleanup() {
  req DELETE "/_data_stream/$ds"
  req DELETE /_index_template/probe-logs
  req DELETE /_component_template/probe-ct
  req DELETE /probe-x
  req DELETE /_ingest/pipeline/probe
  local t
  for t in wildcard constant_keyword match_only_text; do req DELETE "/probe-type-${t//_/-}"; done
}
cleanup

req GET /
row "root (GET /)" "GET /" "$(ok2xx)"

req POST '/probe-x/_bulk?refresh=true' '{"index":{}}
{"n":1,"k":"a"}
{"index":{}}
{"n":2,"k":"b"}
'
row bulk "POST /probe-x/_bulk" "$([[ $STATUS == 200 ]] && body | jq -e '.errors == false' >/dev/null && echo 1 || echo 0)"

req GET '/probe-x/_search?q=n:1'
row search "GET /probe-x/_search" "$([[ $STATUS == 200 ]] && body | jq -e '.hits.total.value == 1' >/dev/null && echo 1 || echo 0)"

req POST '/probe-x/_search' '{"size":0,"aggs":{"k":{"terms":{"field":"k.keyword"}},"s":{"sum":{"field":"n"}}}}'
row aggregations "POST /probe-x/_search (terms, sum)" "$([[ $STATUS == 200 ]] && body | jq -e '.aggregations.s.value == 3' >/dev/null && echo 1 || echo 0)"

req PUT /_component_template/probe-ct '{"template":{"mappings":{"properties":{"@timestamp":{"type":"date_nanos"},"k":{"type":"keyword"}}}}}'
row "component templates" "PUT /_component_template/probe-ct" "$(ok2xx)"

req PUT /_index_template/probe-logs '{"index_patterns":["logs-probe-*-*","logs-probe-*"],"data_stream":{},"priority":500,"composed_of":["probe-ct"],"template":{"settings":{"number_of_replicas":0}}}'
row "composable index templates" "PUT /_index_template/probe-logs" "$(ok2xx)"

req POST "/$ds/_doc?refresh=true" '{"@timestamp":"2025-01-01T00:00:00.123456789Z","k":"a"}'
row "data stream auto-creation" "POST /logs-probe-N/_doc" "$([[ $STATUS == 201 ]] && body | jq -e --arg p ".ds-$ds-" '._index | startswith($p)' >/dev/null && echo 1 || echo 0)"

req GET "/_data_stream/$ds"
row "_data_stream GET" "GET /_data_stream/logs-probe-N" "$([[ $STATUS == 200 ]] && body | jq -e --arg ds "$ds" '.data_streams[0].name == $ds' >/dev/null && echo 1 || echo 0)"

req GET "/_resolve/index/$ds"
row "_resolve/index" "GET /_resolve/index/logs-probe-N" "$([[ $STATUS == 200 ]] && body | jq -e --arg ds "$ds" '.data_streams[0].name == $ds' >/dev/null && echo 1 || echo 0)"

req POST "/$ds/_rollover"
row "data stream rollover" "POST /logs-probe-N/_rollover" "$([[ $STATUS == 200 ]] && body | jq -e '.rolled_over == true' >/dev/null && echo 1 || echo 0)"

req GET '/_cat/shards?format=json&index=probe-x'
row "_cat/shards" "GET /_cat/shards" "$(ok2xx)"

req GET '/_cat/allocation?format=json&bytes=b'
row "_cat/allocation" "GET /_cat/allocation" "$([[ $STATUS == 200 ]] && body | jq -e '.[0]["disk.total"] != null' >/dev/null && echo 1 || echo 0)"

req POST '/probe-x/_delete_by_query?refresh=true' '{"query":{"term":{"n":1}}}'
row "_delete_by_query" "POST /probe-x/_delete_by_query" "$([[ $STATUS == 200 ]] && body | jq -e '.deleted == 1' >/dev/null && echo 1 || echo 0)"

req PUT /_ingest/pipeline/probe '{"processors":[]}'
row "ingest pipeline API" "PUT /_ingest/pipeline/probe (no processors)" "$(ok2xx)"

req PUT /_ingest/pipeline/probe '{"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}'
row "ingest processors (set)" "PUT /_ingest/pipeline/probe (set)" "$(ok2xx)"

req GET /_ilm/policy
row "ILM" "GET /_ilm/policy" "$(ok2xx)"

req GET /_plugins/_ism/policies
row "ISM" "GET /_plugins/_ism/policies" "$(ok2xx)"

req GET /_security/_authenticate
row "security: authenticate" "GET /_security/_authenticate" "$(ok2xx)"

req POST /_security/api_key '{"name":"probe","expiration":"1h"}'
row "security: API keys" "POST /_security/api_key" "$([[ $STATUS == 200 ]] && body | jq -e '.encoded != null' >/dev/null && echo 1 || echo 0)"

for t in wildcard constant_keyword match_only_text; do
  extra=""
  [ "$t" = constant_keyword ] && extra=',"value":"x"'
  req PUT "/probe-type-${t//_/-}" "{\"mappings\":{\"properties\":{\"f\":{\"type\":\"$t\"$extra}}}}"
  row "field type $t" "PUT /probe-type-… (mapping)" "$(ok2xx)"
done

req DELETE "/_data_stream/$ds"
row "_data_stream DELETE" "DELETE /_data_stream/logs-probe-N" "$(ok2xx)"

req GET '/_nodes/_local/plugins'
modules=$(jq -r '[.nodes[] | (.modules // [])[], (.plugins // [])[] | .name | sub("^org\\.opensearch\\.[a-z.]*\\."; "")] | unique | join(", ")' "$body_file" 2>/dev/null || true)
row "_nodes/plugins" "GET /_nodes/_local/plugins" "$(ok2xx)"
rows[${#rows[@]} - 1]="${rows[${#rows[@]} - 1]/%yes/yes: ${modules}}"

cleanup

if [ $markdown = 1 ]; then
  echo "| check | request | HTTP | works |"
  echo "|---|---|---|---|"
  for r in "${rows[@]}"; do
    IFS=$'\t' read -r c q s v <<<"$r"
    echo "| $c | \`$q\` | $s | $v |"
  done
else
  printf '%s\n' "${rows[@]}"
fi
