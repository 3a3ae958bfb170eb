# Terraform (terraform/) without the provider registry: HCL parse and module structure
# (python-hcl2), tofu fmt -check (OpenTofu from the Go module proxy), the Ansible inventory
# rendered by OpenTofu. dev/iac/terraform-checks.sh lists what is and is not validated.
.PHONY: terraform-checks
DEPLOY_CHECKS += terraform-checks
terraform-checks:
	dev/iac/terraform-checks.sh
