# The Ansible bundle's proof (docs/deploy-ansible.md): ansible-lint (production, offline),
# syntax check, site.yml --check --diff against this machine, the netsensor roles applied
# for real here twice (the second run changes nothing), units verified, and the sensor run
# under the unit's restrictions. Purges and reinstalls the netsensor packages (from deb-check) on
# this machine, and removes /etc/netsensor, /var/lib/netsensor and /var/log/netsensor first.
.PHONY: ansible-check ansible-lint
DEPLOY_CHECKS += ansible-check

ansible-lint:
	cd ansible && PATH="$$($(CURDIR)/dev/ansible/setup.sh)/bin:$$PATH" ansible-lint --nocolor

ansible-check: deb-check
	NETSENSOR_DEB_DIR=$(DEB_CHECK_DIR) dev/ansible/proof.sh
