#!/usr/bin/env bash
# Checks the unit as CI does: `systemd-analyze verify` finds nothing to say, and
# `systemd-analyze security --offline=true` rates its exposure at most 2.0.
# Usage: systemd/check.sh PATH-TO-BUILT-identity-box
set -euo pipefail
bin=$(realpath "${1:?usage: systemd/check.sh PATH-TO-BUILT-identity-box}")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's program exists: point it at the binary just built.
sed "s|/usr/bin/identity-box|$bin|" "$here/identity-box.service" >"$tmp/identity-box.service"
if ! out=$(systemd-analyze verify "$tmp/identity-box.service" 2>&1) || [ -n "$out" ]; then
    echo "systemd-analyze verify: $out" >&2
    exit 1
fi
echo "systemd-analyze verify: clean"

# --threshold=20: fail when the overall exposure is above 2.0.
systemd-analyze security --offline=true --threshold=20 "$here/identity-box.service" | tail -n 1
