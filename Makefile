# netsensor — the verbs a person types.
#   make demo    replay bundled real captures into a local Elasticsearch, print the
#                analyst's summary, then the same without a cluster (embedded store)
#   make test    install what the tests need and run every test (what CI runs)
#   make bench   benchmarks (never part of make test)
#   make lint    rustfmt and clippy
#   make stack-up / stack-down / stack-status   the local Elasticsearch, OpenSearch and Kafka

SHELL := /bin/bash
CARGO ?= cargo
# Build artefacts live outside the checkout, keyed by the toolchain version, so CI and
# fresh clones reuse them.
RUSTC_VERSION := $(shell rustc --version 2>/dev/null | awk '{print $$2}')
export CARGO_TARGET_DIR ?= $(HOME)/.cache/netsensor/target-$(RUSTC_VERSION)
export NETSENSOR_GEO_DIR ?= $(CURDIR)/.cache/geo
DEMO_PCAP ?= dev/fixtures/pcaps/mixed-large-many-protocols.pcap
DEMO_PCAPS ?= $(sort $(wildcard dev/fixtures/pcaps/*.pcap dev/fixtures/pcaps/*.pcapng))
DEMO_ES_URL ?= http://127.0.0.1:9200
SENSOR = $(CARGO_TARGET_DIR)/release/netsensor
ADMIN = $(CARGO_TARGET_DIR)/release/netsensor-admin

.PHONY: all deps geo build release demo test test-rust lint lint-rust fmt bench fuzz schema-docs clean \
	stack-up stack-down stack-status

all: build

deps:
	dev/install-deps.sh

geo:
	dev/geo/install.sh

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --release --locked

demo: deps geo release
	@mkdir -p .cache/demo/sensor
	@echo "== 1. a local Elasticsearch (dev/stack: Maven Central's 8.19 distribution) and the templates"
	dev/stack/stack.sh ensure elasticsearch
	$(ADMIN) --url $(DEMO_ES_URL) setup --namespace demo
	@echo "== 2. replay the bundled real captures into Elasticsearch: packets, flows, rollups"
	$(SENSOR) replay $(DEMO_PCAPS) --config dev/config/demo-elasticsearch.yaml --summary
	@echo "== 3. the analyst's summary, from Elasticsearch aggregations"
	$(ADMIN) --url $(DEMO_ES_URL) report --kind packet,flow --namespace demo
	$(ADMIN) --url $(DEMO_ES_URL) status --streams 'logs-netsensor.*-demo'
	@echo "== 4. without a cluster: flows and rollups in the embedded store, then queries"
	@rm -f .cache/demo/netsensor.db*
	$(SENSOR) replay $(DEMO_PCAP) --config dev/config/demo-store.yaml
	@for module in protocols services countries top-destinations conversations; do \
	  $(SENSOR) query $$module --config dev/config/demo-store.yaml \
	    --time last-1h:last --limit 8 || exit 1; echo; done
	@echo "== where to look next"
	@echo "  - the records: curl -s '$(DEMO_ES_URL)/logs-netsensor.flow-demo/_search?size=1&pretty'"
	@echo "  - the stack: make stack-status; docs/stack.md; stop it with make stack-down"
	@echo "  - index care: docs/admin.md (status, rollover, archive, watch)"
	@echo "  - your own capture: netsensor run --config dev/config/netsensor.example.yaml"

# rustfmt and clippy, then the deployment bundle's checks (Ansible, Helm, Terraform,
# Dockerfile, packages, checkov).
lint: lint-rust deploy-checks

lint-rust:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Every test: unit, property, tshark oracle, live capture in network namespaces,
# Prometheus scrape. Lint runs first so style failures show before the long tests.
test:
	@dev/stage deps $(MAKE) --no-print-directory deps
	@dev/stage geo $(MAKE) --no-print-directory geo
	@dev/stage lint $(MAKE) --no-print-directory lint-rust
	@dev/stage deploy-checks $(MAKE) --no-print-directory deploy-checks
	@dev/stage test $(MAKE) --no-print-directory test-rust

# Checks of the deployment bundle (Ansible, Helm, Terraform, packages): each part adds its
# target to DEPLOY_CHECKS in its own dev/mk/*.mk file.
DEPLOY_CHECKS :=
-include dev/mk/*.mk
.PHONY: deploy-checks
deploy-checks: $(DEPLOY_CHECKS)
	@echo "deployment checks: $(or $(DEPLOY_CHECKS),none yet)"

test-rust:
	$(CARGO) test --workspace --locked --no-fail-fast -- --test-threads=2

# The local engines (docs/stack.md): real Elasticsearch and OpenSearch from Maven Central on
# loopback. The tests start the ones they need themselves; `make stack-down` stops them all.
# ENGINES="elasticsearch elasticsearch-secure opensearch" picks which.
ENGINES ?=
stack-up: deps
	dev/stack/stack.sh up $(ENGINES)

stack-down:
	dev/stack/stack.sh down $(ENGINES)

stack-status:
	dev/stack/stack.sh status

schema-docs: build
	$(CARGO_TARGET_DIR)/debug/netsensor schema --format markdown > docs/fields.md
	python3 dev/readme-fields.py docs/fields.md README.md

# Benchmarks (never part of make test): criterion per packet, then whole-pipeline runs
# on a >= 1 M packet capture next to tshark and tcpdump; results go to docs/benchmarks.md.
bench: deps geo release
	$(CARGO) bench -p netsensor --bench packet --locked
	dev/bench/pipeline.py
	dev/bench/dataset.py
	dev/bench/veth.py
	dev/stack/stack.sh ensure kafka
	dev/stack/kafka/bench.sh "$$(dev/bench/make-capture.sh | head -1)"

# Bounded fuzzing of every target (cargo-fuzz from crates.io, stable toolchain, -s none).
FUZZ_TARGETS := decode_frame dns tls_sni http_request pcap_file config
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p corpus/$$t && \
	  CARGO_TARGET_DIR=$(HOME)/.cache/netsensor/fuzz-target-$(RUSTC_VERSION) \
	  $(CARGO) fuzz run -s none $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; done

clean:
	$(CARGO) clean
	rm -rf .cache
