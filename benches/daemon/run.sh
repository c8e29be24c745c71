#!/usr/bin/env bash
# Builds the release binaries and runs the daemon benchmarks; paste the table into BENCHMARKS.md.
# Needs: wrk (apt-get install wrk), and for the size line the aarch64 cross toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked
args=(--bin target/release/identity-box)
if cargo build --release --locked --target aarch64-unknown-linux-gnu; then
    args+=(--aarch64 target/aarch64-unknown-linux-gnu/release/identity-box)
fi
python3 benches/daemon/daemon.py "${args[@]}" "$@"
