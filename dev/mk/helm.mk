# Helm charts (helm/): lint, render, validate offline, promtool, check-config, bad values.
# dev/iac/helm-checks.sh says what each step proves; docs/deploy-helm.md the why.
.PHONY: helm-checks
DEPLOY_CHECKS += helm-checks
helm-checks:
	$(CARGO) build --workspace --locked
	NETSENSOR_BIN=$(CARGO_TARGET_DIR)/debug/netsensor dev/iac/helm-checks.sh
