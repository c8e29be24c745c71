#!/usr/bin/env bash
# Installs this directory's pinned npm packages (npm ci) when node_modules is missing or older
# than package-lock.json. Safe to call from several processes at once (flock). Everything it
# prints goes to stderr, so a caller's stdout stays clean.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

needs_install() {
    [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]
}

if ! needs_install; then
    exit 0
fi

exec 9>"$here/.install.lock"
flock 9
# Another process may have installed while this one waited for the lock.
if ! needs_install; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm is not installed (apt-get install nodejs npm)" >&2
    exit 1
fi

start=$(date +%s)
echo "install.sh: npm ci in $here" >&2
npm ci --no-audit --no-fund --loglevel=error 1>&2
echo "install.sh: npm ci took $(($(date +%s) - start)) s" >&2
