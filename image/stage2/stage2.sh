#!/bin/sh
# Stage 2 of image/build.sh, run as PID 1 inside qemu-system-aarch64 on the half-built root file
# system (the files of every package are there, unpacked on the build host; none is configured:
# maintainer scripts need an arm64 kernel). Configures the packages, installs the Identity Box
# package, enables the services, makes the initramfs once, fills /boot/firmware, and powers off.
# Prints "IDBOX-STAGE2: OK" last when all went well (the build script looks for it).
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
export DEBCONF_NONINTERACTIVE_SEEN=true
here=/usr/local/lib/identity-box-image

if [ "${IDBOX_STAGE2_FRESH_SHELL:-}" != 1 ]; then
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /tmp
    mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
fi

stopwatch() { echo "IDBOX-STAGE2: $* ($(cut -d' ' -f1 /proc/uptime) s)"; }
die() {
    echo "IDBOX-STAGE2: FAILED: $*"
    sync
    echo o >/proc/sysrq-trigger
    sleep 60
}
trap 'die "a command failed (exit $?)"' EXIT

# No daemon may start while packages are configured.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

if [ "${IDBOX_STAGE2_FRESH_SHELL:-}" != 1 ]; then
    stopwatch "configuring the essential packages"
    essential=""
    for deb in /var/cache/apt/archives/*.deb; do
        if [ "$(dpkg-deb --field "$deb" Essential)" = yes ]; then essential="$essential $deb"; fi
    done
    # shellcheck disable=SC2086
    dpkg --install --force-depends $essential >/dev/null
    # dpkg replaced /bin/sh and the C library under this shell: go on in a fresh one. It reads
    # a copy of this script in /run, so that deleting $here at the end leaves no open, deleted
    # file on the root file system (the read-only remount would fail on it).
    cp "$0" /run/stage2.sh
    trap - EXIT
    IDBOX_STAGE2_FRESH_SHELL=1 exec /bin/sh /run/stage2.sh
fi

# The initramfs is made once, at the end (it is the slow part: each program start costs tens
# of milliseconds under emulation, and every kernel or firmware package would make it again).
dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/update-initramfs
chmod 755 /usr/sbin/update-initramfs

stopwatch "installing the other packages"
rest=""
for deb in /var/cache/apt/archives/*.deb; do
    name=$(dpkg-deb --field "$deb" Package)
    dpkg-query --show --showformat='${db:Status-Status}' "$name" 2>/dev/null | grep -qx installed \
        || rest="$rest $name"
done
# shellcheck disable=SC2086
apt-get --no-download --yes -o Dpkg::Options::=--force-confold install $rest >/dev/null

stopwatch "installing Identity Box"
dpkg --force-confold --install "$here"/identity-box_*.deb

stopwatch "enabling the services"
systemctl enable systemd-networkd systemd-resolved systemd-timesyncd avahi-daemon \
    identity-box.socket identity-box identity-box-growroot identity-box-card-reset >/dev/null
# Name resolution through systemd-resolved.
ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf

stopwatch "making the initramfs"
rm /usr/sbin/update-initramfs
dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
kernel=$(basename /boot/vmlinuz-* | sed 's/^vmlinuz-//')
# Its post-update hook (raspi-firmware) copies the kernel, the initramfs, the device trees,
# config.txt and cmdline.txt into /boot/firmware.
update-initramfs -c -k "$kernel"
if [ -x /etc/kernel/postinst.d/z50-raspi-firmware ]; then
    /etc/kernel/postinst.d/z50-raspi-firmware "$kernel"
fi
echo "IDBOX-STAGE2: /boot/firmware holds:"
ls /boot/firmware
grep -q 'root=LABEL=RASPIROOT' /boot/firmware/cmdline.txt
for f in config.txt cmdline.txt bcm2711-rpi-4-b.dtb bcm2837-rpi-3-b.dtb; do
    [ -e "/boot/firmware/$f" ] || { echo "IDBOX-STAGE2: missing /boot/firmware/$f"; exit 1; }
done

stopwatch "cleaning up"
# Each box makes its own identity on its first boot: machine id (empty, not "uninitialized",
# which would make systemd treat the first boot as a preset run), no host keys, no caches.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old /usr/sbin/policy-rc.d "$here"
dpkg --audit
sync
umount /boot/firmware
if ! mount -o remount,ro /; then
    # Something still holds a file open for writing, or a deleted file: say what, then let the
    # kernel remount read-only all the same (the build's e2fsck finishes the job on the host).
    echo "IDBOX-STAGE2: the root is busy:"
    ps -eo pid,comm 2>/dev/null || true
    find /proc/[0-9]*/fd -lname '*(deleted)' -printf '%p -> %l\n' 2>/dev/null || true
    sync
    echo u >/proc/sysrq-trigger
    sleep 2
fi
trap - EXIT
stopwatch "OK"
echo o >/proc/sysrq-trigger
sleep 60
