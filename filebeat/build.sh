#!/usr/bin/env bash
# Builds a real Filebeat from the Go module proxy and caches the binary by version; prints
# its path. Idempotent and safe to run concurrently (flock). docs/filebeat.md.
#
#   filebeat/build.sh [VERSION]      default 7.17.29 (NETSENSOR_FILEBEAT_VERSION)
#
# `go install github.com/elastic/beats/v7/filebeat@VERSION` refuses the module because its
# go.mod has `replace` lines, and 8.x tags are not valid versions of the /v7 module path. So:
# download the module (go mod download), copy its directory, and `go build ./filebeat` inside
# it, which honours the replace lines. Needs Go >= 1.23 (the module's go directive); Debian
# 12's golang-go (1.19) is too old. Takes about 6 minutes on 2 cores the first time.
set -euo pipefail

VERSION=${1:-${NETSENSOR_FILEBEAT_VERSION:-7.17.29}}
CACHE=${NETSENSOR_CACHE_DIR:-${HOME}/.cache/netsensor}/filebeat/${VERSION}
BIN="${CACHE}/filebeat"

log() { printf 'filebeat-build: %s\n' "$*" >&2; }
die() {
  printf 'filebeat-build: error: %s\n' "$*" >&2
  exit 1
}

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

GO=$(command -v go || true)
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
[ -n "$GO" ] || die "go not found (Go >= 1.23 needed; Debian 12's golang-go is 1.19)"

mkdir -p "$CACHE"
exec 9>"${CACHE}/.lock"
flock -w 3600 9 || die "timed out waiting for ${CACHE}/.lock"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

log "downloading github.com/elastic/beats/v7@v${VERSION} from the Go module proxy"
dir=$(GOFLAGS=-mod=mod "$GO" mod download -json "github.com/elastic/beats/v7@v${VERSION}" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then die "go mod download gave no module directory"; fi

work=$(mktemp -d "${CACHE}/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
log "building filebeat ${VERSION} with $("$GO" version) (several minutes on a small machine)"
# GOTOOLCHAIN=local: build with the Go we have rather than fetching another toolchain.
(cd "$work/src" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
  "$GO" build -p "$(nproc)" -trimpath -o "$work/filebeat" ./filebeat) ||
  die "go build ./filebeat failed for beats v${VERSION} (output above)"
"$work/filebeat" version >&2 || die "the built filebeat does not run"
mv "$work/filebeat" "$BIN"
log "filebeat ${VERSION} cached at $BIN"
echo "$BIN"
