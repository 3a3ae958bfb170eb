# Debian packages with cargo deb (docs/packages.md).
#   make deb         release build, then netsensor_<v>_<arch>.deb and netsensor-admin_<v>_<arch>.deb
#                    in $(DEB_DIR) (what you ship; what ansible/ installs)
#   make deb-check   (in make test's deploy-checks) packages the debug build that make test
#                    builds anyway and inspects both packages: a release build would add
#                    well over 5 minutes on 2 cores. It proves the metadata, file layout,
#                    dependencies and maintainer scripts, not the release binary.
CARGO_DEB_VERSION := 3.8.0
CARGO_DEB_ROOT := $(HOME)/.cache/netsensor/tools/cargo-deb-$(CARGO_DEB_VERSION)
CARGO_DEB := $(CARGO_DEB_ROOT)/bin/cargo-deb
DEB_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)-1
DEB_DIR ?= $(CARGO_TARGET_DIR)/debian
DEB_CHECK_DIR := $(CARGO_TARGET_DIR)/debian-check

.PHONY: deb deb-check cargo-deb
DEPLOY_CHECKS += deb-check

$(CARGO_DEB):
	CARGO_TARGET_DIR=$(HOME)/.cache/netsensor/tools/cargo-deb-build \
	  $(CARGO) install --locked cargo-deb@$(CARGO_DEB_VERSION) --root $(CARGO_DEB_ROOT)

cargo-deb: $(CARGO_DEB)

deb: $(CARGO_DEB)
	$(CARGO) build --workspace --release --locked
	$(CARGO_DEB) -p netsensor --no-build --dbgsym -o $(DEB_DIR)
	$(CARGO_DEB) -p netsensor-admin --no-build --dbgsym -o $(DEB_DIR)
	packaging/check-debs.sh $(DEB_DIR) $(DEB_VERSION)

# cargo-deb warns that the dev profile is for checks only; that is what this is.
deb-check: $(CARGO_DEB)
	$(CARGO) build --workspace --locked
	set -o pipefail; $(CARGO_DEB) -p netsensor --profile dev --no-build --fast -o $(DEB_CHECK_DIR) 2>&1 \
	  | grep -v -e 'dev profile is not supported' -e 'To enable debug symbols set'
	set -o pipefail; $(CARGO_DEB) -p netsensor-admin --profile dev --no-build --fast -o $(DEB_CHECK_DIR) 2>&1 \
	  | grep -v -e 'dev profile is not supported' -e 'To enable debug symbols set'
	packaging/check-debs.sh $(DEB_CHECK_DIR) $(DEB_VERSION)
