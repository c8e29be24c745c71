#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. On a fresh Debian 12 machine with rustup it first
# installs what it needs (Debian's cross compilers, qemu-user, systemd-analyze; the Rust targets
# and components), then:
#   1. cargo fmt --check, cargo clippy --workspace --all-targets -D warnings
#   2. cargo test --workspace (unit, end-to-end against real daemons, vectors, a PyNaCl phone,
#      the web page in headless Chromium; its screenshots are kept in target/screenshots/)
#   3. the systemd unit: systemd-analyze verify, and security exposure <= 2.0
#   4. aarch64 and armv7 release builds, and the smoke test against each under qemu-user; the
#      .deb for arm64, armhf and amd64, checked by packaging/test-deb.sh (contents, modes,
#      install, upgrade, remove, purge in a throwaway Debian root)
#   5. each fuzz target for a short run (when a nightly toolchain is available)
# Each stage prints its time when it ends (`<== NAME: 123 s`), and the run ends with a table of
# all the stages' times and the total.
# Usage: scripts/test.sh [--no-cross] [--no-fuzz]
# With IDBOX_SAVE_DISK=1 (as .ci/run sets), the build outputs of each stage are deleted once it
# has passed, so that the run needs about 3 GB of free disk at its peak rather than 10.
set -euo pipefail
cd "$(dirname "$0")/.."

cross=1
fuzz=1
for arg in "$@"; do
    case "$arg" in
        --no-cross) cross=0 ;;
        --no-fuzz) fuzz=0 ;;
        *) echo "usage: scripts/test.sh [--no-cross] [--no-fuzz]" >&2; exit 2 ;;
    esac
done

# Stage times, for CI's log: `stage NAME` closes the stage before it (`<== NAME: 83 s`) and opens
# the next (`==> NAME`). At exit, also when a stage has failed, a table of every stage's time and
# the total (BENCHMARKS.md, "CI stages", keeps the figures of a whole run).
stage_names=()
stage_secs=()
stage_now=""
stage_start=$SECONDS
stage_close() {
    [ -n "$stage_now" ] || return 0
    local secs=$((SECONDS - stage_start))
    stage_names+=("$stage_now")
    stage_secs+=("$secs")
    printf '<== %s: %d s\n' "$stage_now" "$secs"
    stage_now=""
}
stage() {
    stage_close
    stage_now="$*"
    stage_start=$SECONDS
    printf '\n==> %s\n' "$*"
}
min_sec() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
stage_table() {
    local status=$? failed="" i mark
    if [ "$status" -ne 0 ]; then failed=$stage_now; fi
    stage_close
    printf '\n==> Stage times (seconds, min:sec)\n'
    for i in "${!stage_names[@]}"; do
        mark=""
        if [ -n "$failed" ] && [ "${stage_names[$i]}" = "$failed" ]; then mark="   <-- FAILED"; fi
        printf '%6d %6s  %s%s\n' "${stage_secs[$i]}" "$(min_sec "${stage_secs[$i]}")" \
            "${stage_names[$i]}" "$mark"
    done
    printf '%6d %6s  total\n' "$SECONDS" "$(min_sec "$SECONDS")"
    if [ "$status" -eq 0 ]; then printf '\n==> All checks passed\n'; fi
    exit "$status"
}
trap stage_table EXIT
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

save_disk="${IDBOX_SAVE_DISK:-0}"
free_disk() { df -h --output=avail . | tail -n 1 | tr -d ' '; }
printf 'free disk: %s\n' "$(free_disk)"

stage "Installing what the suite needs"
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v ip >/dev/null || need+=(iproute2)   # tests/e2e/discovery.rs: a network namespace
# tests/e2e/browser.rs: the web page in headless Chromium, driven through chromedriver.
command -v chromedriver >/dev/null || need+=(chromium chromium-driver)
# The shell scripts' lint, and the Debian packages' checks (packaging/test-deb.sh).
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ "$cross" = 1 ]; then
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
    command -v file >/dev/null || need+=(file)
fi
if [ "$cross" = 1 ]; then
    command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
fi
if [ "${#need[@]}" -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# PyNaCl for the interoperability test (a phone written against libsodium), and the BIP39
# reference implementation for the backup-phrase vectors (tests/interop/backup_vectors.py).
if ! python3 -c "import nacl" 2>/dev/null; then
    python3 -m pip install --quiet pynacl 2>/dev/null \
        || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-nacl
fi
if ! python3 -c "import mnemonic" 2>/dev/null; then
    python3 -m pip install --quiet mnemonic 2>/dev/null \
        || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-mnemonic
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ "$cross" = 1 ]; then
    rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
    command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked
fi

stage "Formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
shellcheck -x scripts/*.sh systemd/check.sh packaging/test-deb.sh packaging/debian/postrm \
    image/*.sh image/stage2/* image/rootfs/usr/local/sbin/*

stage "Tests"
cargo test --workspace --locked

stage "systemd unit"
systemd/check.sh target/debug/identity-box

if [ "$cross" = 1 ]; then
    for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
        case "$target" in
            aarch64-*) qemu="qemu-aarch64-static"; prefix=/usr/aarch64-linux-gnu ;;
            armv7-*) qemu="qemu-arm-static"; prefix=/usr/arm-linux-gnueabihf ;;
        esac
        stage "Release build for $target"
        cargo build --release --locked --target "$target"
        bin="target/$target/release/identity-box"
        printf 'binary size: %s bytes\n' "$(stat -c %s "$bin")"
        stage "Smoke test of the $target binary under $qemu"
        QEMU_LD_PREFIX="$prefix" IDBOX_TEST_EXEC="$qemu $PWD/$bin" \
            cargo test --locked --test e2e smoke::
        # The release profile has stripped the binary already.
        cargo deb --locked --target "$target" --no-build --no-strip --output target/debian/
        if [ "$save_disk" = 1 ]; then rm -rf "target/$target"; fi
    done
    stage "The Debian packages (arm64, armhf, amd64)"
    cargo build --release --locked
    cargo deb --locked --no-build --no-strip --output target/debian/
    as_root packaging/test-deb.sh --install target/debian/identity-box_*.deb
    if [ "$save_disk" = 1 ]; then rm -rf target/release; fi
fi
if [ "$save_disk" = 1 ]; then
    rm -rf target/debug
    printf 'free disk: %s\n' "$(free_disk)"
fi

if [ "$fuzz" = 1 ]; then
    if cargo +nightly --version >/dev/null 2>&1; then
        stage "Fuzz targets (a short run each)"
        command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
        mkdir -p target
        for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
            log="target/fuzz-$target.log"
            # Seeds kept in the repository (a valid input that reaches deep), if any.
            if [ -d "fuzz/seeds/$target" ]; then
                mkdir -p "fuzz/corpus/$target"
                cp -n "fuzz/seeds/$target"/* "fuzz/corpus/$target"/
            fi
            if cargo +nightly fuzz run --fuzz-dir fuzz "$target" -- \
                -max_total_time="${FUZZ_SECONDS:-15}" -rss_limit_mb=2048 >"$log" 2>&1; then
                printf '%s: %s\n' "$target" "$(grep -E '^Done' "$log" | tail -n 1)"
                # Each fuzz binary is about 450 MB (cargo fuzz keeps line tables).
                if [ "$save_disk" = 1 ]; then
                    rm -f fuzz/target/*/release/"$target" fuzz/target/*/release/deps/"$target"-*
                fi
            else
                tail -n 60 "$log" >&2
                echo "fuzz target $target failed (whole log: $log)" >&2
                exit 1
            fi
        done
    else
        stage "Fuzz targets skipped: no nightly toolchain (rustup toolchain install nightly)"
    fi
fi

printf 'free disk: %s\n' "$(free_disk)"
