#!/usr/bin/env bash
# Builds the Identity Box SD-card image for the Raspberry Pi 3 and 4 (arm64) from Debian
# bookworm's own packages and the project's arm64 .deb. See image/README.md for what it does and
# why, and for how long it takes (about half an hour; the configuration step runs in an
# emulated arm64 machine).
#
# Usage: image/build.sh [--deb PACKAGE_arm64.deb] [--out DIR] [--keep]
#   --deb   the Identity Box package (default: the newest target/debian/identity-box_*_arm64.deb)
#   --out   where to write identity-box-VERSION-arm64.img.xz and its .sha256 (default:
#           target/image)
#   --keep  also keep the raw .img (the boot test can use either)
# Needs root (mmdebstrap --mode=root and mkfs -d keep the files' owners) and Debian's
# mmdebstrap, qemu-system-arm, dosfstools, mtools, fdisk, e2fsprogs, xz-utils,
# binutils-aarch64-linux-gnu and cpio; it installs those that are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")

deb=""
out="$project/target/image"
keep=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --deb) deb=$(realpath "$2"); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: image/build.sh [--deb PACKAGE_arm64.deb] [--out DIR] [--keep]" >&2; exit 2 ;;
    esac
done
if [ -z "$deb" ]; then
    # shellcheck disable=SC2012 # the newest of a few plain names
    deb=$(ls -t "$project"/target/debian/identity-box_*_arm64.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || {
        echo "no arm64 package: build one first (packaging/README.md) or pass --deb" >&2
        exit 2
    }
fi
[ "$(id -u)" -eq 0 ] || { echo "image/build.sh needs root" >&2; exit 2; }

started=$(date +%s)
step() { printf '\n==> %s (%d s)\n' "$*" "$(($(date +%s) - started))"; }

step "Installing the build tools"
need=()
for tool in mmdebstrap:mmdebstrap qemu-system-aarch64:qemu-system-arm mkfs.vfat:dosfstools \
    mcopy:mtools sfdisk:fdisk mkfs.ext4:e2fsprogs xz:xz-utils cpio:cpio \
    aarch64-linux-gnu-objcopy:binutils-aarch64-linux-gnu; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

version=$(dpkg-deb --field "$deb" Version)
name="identity-box-${version}-arm64"
work=$(mktemp -d /tmp/idbox-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$out"

# ---- 1. Extract every package on the host, run nothing ---------------------------------------
# (This machine cannot run arm64 programs: no binfmt_misc. Stage 2 configures them.)
step "Extracting Debian bookworm arm64 with mmdebstrap"
packages=(
    '?essential' '?priority(required)' usr-is-merged apt systemd systemd-sysv
    systemd-resolved systemd-timesyncd udev dbus kmod e2fsprogs fdisk linux-image-arm64
    initramfs-tools zstd raspi-firmware avahi-daemon libnss-mdns ca-certificates netbase
    iproute2
)
include=()
for p in "${packages[@]}"; do include+=("--include=$p"); done
mmdebstrap --quiet --mode=root --architectures=arm64 --variant=extract \
    --skip=check/qemu --skip=cleanup/apt \
    --components=main,non-free-firmware \
    --setup-hook=/usr/share/mmdebstrap/hooks/merged-usr/setup00.sh \
    "${include[@]}" \
    bookworm "$rootfs" \
    "deb http://deb.debian.org/debian bookworm main non-free-firmware" \
    "deb http://deb.debian.org/debian bookworm-updates main non-free-firmware" \
    "deb http://deb.debian.org/debian-security bookworm-security main non-free-firmware"
rm -f "$rootfs/etc/apt/sources.list"

step "Adding the overlay, the package and stage 2"
cp -a "$here/rootfs/." "$rootfs/"
mkdir -p "$rootfs/usr/local/lib/identity-box-image" "$rootfs/boot/firmware"
cp "$here/stage2/stage2.sh" "$rootfs/usr/local/lib/identity-box-image/"
cp "$deb" "$rootfs/usr/local/lib/identity-box-image/"

# ---- 2. A helper initramfs: busybox and the modules to reach the virtio disks ----------------
step "Making the helper initramfs"
kver=$(basename "$rootfs"/boot/vmlinuz-* | sed 's/^vmlinuz-//')
kernel="$rootfs/boot/vmlinuz-$kver"
moddir="$rootfs/usr/lib/modules/$kver"
mmdebstrap --quiet --mode=root --architectures=arm64 --variant=extract --skip=check/qemu \
    --include=busybox-static bookworm "$work/busybox" "deb http://deb.debian.org/debian bookworm main"
helper="$work/helper"
mkdir -p "$helper/bin" "$helper/modules"
cp "$work/busybox/bin/busybox" "$helper/bin/busybox"
cp "$here/stage2/helper-init" "$helper/init"
# Each module after the modules it depends on (read from its .modinfo; no kmod on the host).
declare -A seen=()
order=()
add_module() {
    local name=${1//-/_} file deps dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    file=$(find "$moddir" -name "$name.ko*" -o -name "${1//_/-}.ko*" | head -n 1)
    [ -n "$file" ] || return 0   # built into the kernel
    case "$file" in
        *.xz) xz -dc "$file" >"$helper/modules/$name.ko" ;;
        *.zst) zstd -qdc "$file" >"$helper/modules/$name.ko" ;;
        *) cp "$file" "$helper/modules/$name.ko" ;;
    esac
    deps=$(aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$helper/modules/$name.ko" /dev/stdout \
        | tr '\0' '\n' | sed -n 's/^depends=//p')
    for dep in ${deps//,/ }; do add_module "$dep"; done
    order+=("$name.ko")
}
for m in pci_host_generic virtio_pci virtio_mmio virtio_blk crc32c_generic ext4 vfat nls_cp437 nls_ascii; do add_module "$m"; done
printf '%s\n' "${order[@]}" >"$helper/modules.order"
(cd "$helper" && find . | cpio --quiet -o -H newc | gzip -1 >"$work/helper.img")

# ---- 3. File systems, made without loop devices ----------------------------------------------
step "Making the file systems"
mkfs.ext4 -q -L RASPIROOT -d "$rootfs" "$work/root.ext4" 1536M
cp "$kernel" "$work/kernel"
rm -rf "$rootfs"
mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.vfat" $((508 * 1024)) >/dev/null

# ---- 4. Stage 2 in an emulated arm64 machine --------------------------------------------------
step "Stage 2 in qemu-system-aarch64 (configuring the packages; 20-30 minutes)"
log="$out/$name.stage2.log"
timeout 75m qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "$work/kernel" -initrd "$work/helper.img" \
    -append "console=ttyAMA0 panic=-1 rdinit=/init" \
    -drive "file=$work/root.ext4,format=raw,if=virtio,cache=unsafe" \
    -drive "file=$work/boot.vfat,format=raw,if=virtio,cache=unsafe" \
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile= \
    </dev/null >"$log" 2>&1 || true
grep 'IDBOX-STAGE2' "$log" || true
if ! grep -q 'IDBOX-STAGE2: OK' "$log"; then
    tail -n 60 "$log" >&2
    echo "stage 2 failed: the whole log is $log" >&2
    exit 1
fi
# A forced read-only remount (see the end of stage2.sh) can leave orphan inodes: tidy, then check.
e2fsck -fy "$work/root.ext4" >/dev/null || [ "$?" -le 1 ]
e2fsck -fn "$work/root.ext4" >/dev/null
fsck.vfat -n "$work/boot.vfat" >/dev/null

# ---- 5. The image: MBR, FAT32 firmware partition at 4 MiB, ext4 root after it -----------------
step "Assembling the image"
img="$work/$name.img"
truncate -s 2G "$img"
sfdisk --quiet "$img" <<'EOF'
label: dos
start=4MiB, size=508MiB, type=c
start=512MiB, type=83
EOF
dd if="$work/boot.vfat" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img" bs=1M seek=512 conv=notrunc,sparse status=none
if [ "$keep" = 1 ]; then cp --sparse=always "$img" "$out/$name.img"; fi
step "Compressing"
xz -T2 -6 -c "$img" >"$out/$name.img.xz"
(cd "$out" && sha256sum "$name.img.xz" >"$name.img.xz.sha256")
step "Done: $out/$name.img.xz ($(du -h "$out/$name.img.xz" | cut -f1))"
cat "$out/$name.img.xz.sha256"
