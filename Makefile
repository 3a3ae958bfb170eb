# netsensor — the verbs a person types.
#   make demo    replay a bundled real capture and print a traffic summary
#   make test    install what the tests need and run every test (what CI runs)
#   make bench   benchmarks (never part of make test)
#   make lint    rustfmt and clippy

SHELL := /bin/bash
CARGO ?= cargo
# Build artefacts live outside the checkout, keyed by the toolchain version, so CI and
# fresh clones reuse them.
RUSTC_VERSION := $(shell rustc --version 2>/dev/null | awk '{print $$2}')
export CARGO_TARGET_DIR ?= $(HOME)/.cache/netsensor/target-$(RUSTC_VERSION)
export NETSENSOR_GEO_DIR ?= $(CURDIR)/.cache/geo
DEMO_PCAP ?= dev/fixtures/pcaps/mixed-large-many-protocols.pcap
DEMO_OUT ?= $(CURDIR)/.cache/demo/packets.ndjson

.PHONY: all deps geo build release demo test test-rust lint fmt bench fuzz schema-docs clean

all: build

deps:
	dev/install-deps.sh

geo:
	dev/geo/install.sh "$(NETSENSOR_GEO_DIR)"

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --release --locked

demo: deps geo release
	@mkdir -p $(dir $(DEMO_OUT))
	$(CARGO_TARGET_DIR)/release/netsensor replay $(DEMO_PCAP) \
	  --config dev/config/demo.yaml --out $(DEMO_OUT) --summary
	@echo "records written to $(DEMO_OUT) ($$(wc -l < $(DEMO_OUT)) lines); first one:"
	@head -n 1 $(DEMO_OUT) | jq .

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Every test: unit, property, tshark oracle, live capture in network namespaces,
# Prometheus scrape. Lint runs first so style failures show before the long tests.
test:
	@dev/stage deps $(MAKE) --no-print-directory deps
	@dev/stage geo $(MAKE) --no-print-directory geo
	@dev/stage lint $(MAKE) --no-print-directory lint
	@dev/stage test $(MAKE) --no-print-directory test-rust

test-rust:
	$(CARGO) test --workspace --locked -- --test-threads=2

schema-docs: build
	$(CARGO_TARGET_DIR)/debug/netsensor schema --format markdown > docs/fields.md
	python3 dev/readme-fields.py docs/fields.md README.md

bench:
	@echo "benchmarks: see docs/benchmarks.md (criterion benches arrive with the bench step)"

clean:
	$(CARGO) clean
	rm -rf .cache
