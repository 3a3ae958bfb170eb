#!/usr/bin/env bash
# Installs the system packages netsensor builds and tests with (Debian/Ubuntu).
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config libpcap-dev
  # decode oracle, capture files and traffic tools for the tests
  tshark tcpdump tcpreplay wireshark-common
  # live-capture test peers and clients (run inside network namespaces)
  iproute2 iputils-ping nginx-light dnsmasq-base bind9-dnsutils curl util-linux libcap2-bin
  # Prometheus server and promtool for the metrics tests
  prometheus
  # the local Elasticsearch/OpenSearch (dev/stack): a JDK (OpenSearch's runner is a
  # single-file Java source launch, which needs the compiler module), Maven to fetch the
  # servers from Maven Central, unzip, openssl for the test CA, passwd for useradd, and
  # util-linux (listed above) for setpriv, setsid and flock
  openjdk-17-jdk-headless maven unzip openssl passwd
  # librdkafka, built from source by the rdkafka crate's cmake-build feature (the sensor's
  # Kafka output): cmake, and the headers of curl (without them rdkafka_conf.c fails), OpenSSL,
  # SASL (PLAIN/SCRAM/GSSAPI) and zstd
  cmake libcurl4-openssl-dev libssl-dev libsasl2-dev libzstd-dev
  # small tools the Makefile and the benchmarks use, the flow exporters `make bench`
  # compares with, and valgrind (callgrind: the benchmarks' exact instruction counts)
  jq time softflowd argus-server argus-client valgrind
  # deployment checks: Python with venv (ansible-lint, checkov, kubernetes-validate and
  # python-hcl2 go into virtualenvs under ~/.cache/netsensor; kibana-objects/generate.py),
  # systemd-analyze for the units the packages and the Ansible role install
  python3 python3-venv systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no (netsensor uses capabilities).
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts these services on install; the tests run their own instances.
for svc in nginx prometheus prometheus-node-exporter argus-server softflowd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $sudo systemctl stop "$svc" || true
  fi
done
