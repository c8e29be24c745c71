#!/usr/bin/env bash
# Boot test of a built image (image/README.md): boots a throwaway copy of it under
# qemu-system-aarch64 -M virt with the image's own kernel and initramfs (from its firmware
# partition) and user networking with a forwarded loopback port, then checks from the host that
# GET /health answers 200 from the service systemd started, and inside the guest that
# `identity-box status` works and that the first boot grew the root file system to fill the
# (larger) disk. Reports the boot-to-healthy time. The image itself is never changed.
#
# Usage: image/boot-test.sh [IMAGE.img|IMAGE.img.xz]   (default: the newest in target/image)
# Needs qemu-system-arm, mtools, e2fsprogs, xz-utils and curl (installed if missing, as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")

image=${1:-}
if [ -z "$image" ]; then
    # shellcheck disable=SC2012 # the newest of a few plain names
    image=$(ls -t "$project"/target/image/identity-box-*.img "$project"/target/image/identity-box-*.img.xz \
        2>/dev/null | head -n 1 || true)
fi
if [ -z "$image" ] || [ ! -f "$image" ]; then
    echo "usage: image/boot-test.sh IMAGE.img[.xz] (build one with image/build.sh)" >&2
    exit 2
fi

need=()
for tool in qemu-system-aarch64:qemu-system-arm mcopy:mtools debugfs:e2fsprogs xz:xz-utils curl:curl; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

work=$(mktemp -d /tmp/idbox-boot.XXXXXX)
qemu_pid=""
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "boot test FAILED: $*" >&2; tail -n 40 "$work/console.log" >&2 2>/dev/null || true; exit 1; }

echo "==> A throwaway copy of $(basename "$image"), on a 3 GiB disk"
disk="$work/disk.img"
case "$image" in
    *.xz) xz -dc "$image" | dd of="$disk" bs=1M iflag=fullblock conv=sparse status=none ;;
    *) cp --sparse=always "$image" "$disk" ;;
esac
truncate -s 3G "$disk"   # bigger than the image: the first boot must grow the root into it

# The image's own kernel and initramfs, from its firmware partition (4 MiB into the disk).
export MTOOLS_SKIP_CHECK=1
kernel=$(mdir -b -i "$disk@@4M" :: | sed 's|^::/||' | grep -E '^vmlinuz' | sort | tail -n 1)
initrd=$(mdir -b -i "$disk@@4M" :: | sed 's|^::/||' | grep -E '^initrd' | sort | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then fail "no kernel or initramfs in the firmware partition"; fi
mcopy -i "$disk@@4M" "::$kernel" "$work/vmlinuz"
mcopy -i "$disk@@4M" "::$initrd" "$work/initrd"

# A unit of the test's own, in the copy only: once the service is ready it runs
# `identity-box status` and prints the outcome and the root file system's size on the console.
cat >"$work/boot-test.service" <<'EOF'
[Unit]
Description=Identity Box boot test (image/boot-test.sh; only in the test's copy)
After=identity-box.service identity-box-growroot.service
Requires=identity-box.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'if identity-box status; then echo "IDBOX-BOOT-TEST: status ok"; else echo "IDBOX-BOOT-TEST: status failed"; fi; echo "IDBOX-BOOT-TEST: root bytes $(findmnt -bno SIZE /)"'
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
root_start=$((512 * 1024 * 1024))
dd if="$disk" of="$work/root.ext4" bs=1M skip=512 conv=sparse status=none
debugfs -w "$work/root.ext4" >/dev/null 2>&1 <<EOF
write $work/boot-test.service /etc/systemd/system/boot-test.service
symlink /etc/systemd/system/multi-user.target.wants/boot-test.service /etc/systemd/system/boot-test.service
EOF
debugfs -R "stat /etc/systemd/system/multi-user.target.wants/boot-test.service" "$work/root.ext4" \
    2>/dev/null | grep -q 'Type: symlink' || fail "could not add the test unit"
dd if="$work/root.ext4" of="$disk" bs=1M seek=$((root_start / 1024 / 1024)) conv=notrunc,sparse status=none
rm "$work/root.ext4"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
monitor=$(free_port)

# restrict=on: the guest reaches nothing outside (its time server and any bootstrap peer
# look-ups stay inside qemu); hostfwd still lets the test reach the box's port 80.
echo "==> Booting under qemu-system-aarch64 (the box's port 80 is 127.0.0.1:$port)"
started=$(date +%s)
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$work/vmlinuz" -initrd "$work/initrd" \
    -append "root=LABEL=RASPIROOT rw rootwait console=ttyAMA0" \
    -drive "file=$disk,format=raw,if=virtio" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=n0,romfile= \
    -monitor "tcp:127.0.0.1:$monitor,server,nowait" \
    </dev/null >"$work/console.log" 2>&1 &
qemu_pid=$!

healthy=""
while [ $(($(date +%s) - started)) -lt 600 ]; do
    kill -0 "$qemu_pid" 2>/dev/null || fail "qemu stopped"
    if curl -fsS --max-time 5 "http://127.0.0.1:$port/health" >"$work/health.json" 2>/dev/null; then
        healthy=$(($(date +%s) - started))
        break
    fi
    sleep 2
done
[ -n "$healthy" ] || fail "GET /health did not answer 200 within 600 s"
echo "GET /health answered 200 after $healthy s: $(cat "$work/health.json")"

while ! grep -q 'IDBOX-BOOT-TEST: root bytes' "$work/console.log"; do
    [ $(($(date +%s) - started)) -lt 900 ] || fail "the guest never ran identity-box status"
    sleep 1
done
grep -q 'IDBOX-BOOT-TEST: status ok' "$work/console.log" || fail "identity-box status failed in the guest"
echo "identity-box status in the guest: ok"
bytes=$(sed -n 's/.*IDBOX-BOOT-TEST: root bytes \([0-9]*\).*/\1/p' "$work/console.log" | tail -n 1)
[ "$bytes" -gt $((2 * 1024 * 1024 * 1024)) ] || fail "the root file system was not grown ($bytes bytes)"
echo "the first boot grew the root file system to $((bytes / 1024 / 1024)) MiB"

# A clean power-off, as the ACPI button would do it.
exec 3<>"/dev/tcp/127.0.0.1/$monitor"
echo system_powerdown >&3
for _ in $(seq 1 60); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$qemu_pid" 2>/dev/null; then fail "the guest did not power off within 60 s"; fi
qemu_pid=""
echo "==> Boot test passed: healthy $healthy s after qemu started, $(($(date +%s) - started)) s in all"
