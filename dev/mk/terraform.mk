# Terraform (terraform/) without the provider registry: HCL parse and module structure
# (python-hcl2), tofu fmt -check (OpenTofu from the Go module proxy), the Ansible inventory
# rendered by OpenTofu, and its sensor capture run by the sensor on mirrored VXLAN.
# dev/iac/terraform-checks.sh lists what is and is not validated.
.PHONY: terraform-checks
DEPLOY_CHECKS += terraform-checks
terraform-checks:
	$(CARGO) build --workspace --locked
	NETSENSOR_BIN=$(CARGO_TARGET_DIR)/debug/netsensor dev/iac/terraform-checks.sh
