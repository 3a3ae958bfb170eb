#!/usr/bin/env bash
# Installs the pinned Ansible tooling (requirements.txt: ansible-core, ansible-lint) from PyPI
# into a virtualenv outside the checkout, keyed by the requirements' hash, so a change of pins
# gets a fresh environment and an unchanged one is reused. Prints the virtualenv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$here/requirements.txt" | cut -c1-16)
venv=${NETSENSOR_ANSIBLE_VENV:-$HOME/.cache/netsensor/ansible-venv-$hash}
if [[ ! -x $venv/bin/ansible-lint || ! -f $venv/.complete ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
