#!/usr/bin/env bash
# Checks the unit (and the socket that hands it port 80) as CI does: `systemd-analyze verify`
# finds nothing to say, and `systemd-analyze security --offline=true` rates its exposure at
# most 2.0. The image's own
# units (image/rootfs/etc/systemd/system: growing the root, the memory card's reset) are
# verified beside it.
# Usage: systemd/check.sh PATH-TO-BUILT-identity-box
set -euo pipefail
bin=$(realpath "${1:?usage: systemd/check.sh PATH-TO-BUILT-identity-box}")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's program exists: point it at the binary just built.
sed "s|/usr/bin/identity-box|$bin|" "$here/identity-box.service" >"$tmp/identity-box.service"
cp "$here/identity-box.socket" "$tmp/identity-box.socket"
units=("$tmp/identity-box.service" "$tmp/identity-box.socket")
image_units="$here/../image/rootfs/etc/systemd/system"
for unit in "$image_units"/*.service; do
    sed -e "s|/usr/bin/identity-box|$bin|" \
        -e "s|/usr/local/sbin/|$here/../image/rootfs/usr/local/sbin/|" "$unit" >"$tmp/$(basename "$unit")"
    units+=("$tmp/$(basename "$unit")")
done
if ! out=$(systemd-analyze verify "${units[@]}" 2>&1) || [ -n "$out" ]; then
    echo "systemd-analyze verify: $out" >&2
    exit 1
fi
echo "systemd-analyze verify: clean (${#units[@]} units)"

# --threshold=20: fail when the overall exposure is above 2.0.
systemd-analyze security --offline=true --threshold=20 "$here/identity-box.service" | tail -n 1
