#!/usr/bin/env bash
# Checks the Debian packages that `cargo deb` made (scripts/test.sh runs this; see
# packaging/README.md).
#   1. For each package: `dpkg-deb --info` has the right name, architecture, dependencies and
#      conffile, and `dpkg-deb --contents` lists exactly the expected files with their modes.
#   2. For the amd64 package (with --install): a throwaway Debian root made by mmdebstrap, where
#      dpkg installs it (the unit is enabled), installs it again and upgrades it (the data and an
#      edited configuration stay), removes it (the data stay) and purges it (all gone).
# Usage: packaging/test-deb.sh [--install] PACKAGE.deb...   (--install needs root and mmdebstrap)
set -euo pipefail

install=0
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
[ "$#" -gt 0 ] || { echo "usage: packaging/test-deb.sh [--install] PACKAGE.deb..." >&2; exit 2; }

fail() { echo "test-deb: $*" >&2; exit 1; }

# What every package holds: "mode owner/group path" (directories end with /).
expected_contents() {
    cat <<'EOF'
drwxr-xr-x 0/0 ./etc/
drwxr-xr-x 0/0 ./etc/identity-box/
-rw-r--r-- 0/0 ./etc/identity-box/config.toml
drwxr-xr-x 0/0 ./usr/
drwxr-xr-x 0/0 ./usr/bin/
-rwxr-xr-x 0/0 ./usr/bin/identity-box
drwxr-xr-x 0/0 ./usr/lib/
drwxr-xr-x 0/0 ./usr/lib/systemd/
drwxr-xr-x 0/0 ./usr/lib/systemd/system/
-rw-r--r-- 0/0 ./usr/lib/systemd/system/identity-box.service
-rw-r--r-- 0/0 ./usr/lib/systemd/system/identity-box.socket
drwxr-xr-x 0/0 ./usr/share/
drwxr-xr-x 0/0 ./usr/share/doc/
drwxr-xr-x 0/0 ./usr/share/doc/identity-box/
-rw-r--r-- 0/0 ./usr/share/doc/identity-box/copyright
EOF
}

check_package() {
    local deb=$1 arch
    arch=$(basename "$deb" .deb)
    arch=${arch##*_}
    [ "$(dpkg-deb --field "$deb" Package)" = identity-box ] || fail "$deb: wrong package name"
    [ "$(dpkg-deb --field "$deb" Architecture)" = "$arch" ] || fail "$deb: not $arch"
    dpkg-deb --field "$deb" Depends | grep -q '^libc6' || fail "$deb: no dependency on libc6"
    [ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/identity-box/config.toml ] \
        || fail "$deb: the configuration is not (the only) conffile"
    # The maintainer scripts enable and start the unit, and purge erases the data.
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst | grep -q 'deb-systemd-helper enable' \
        || fail "$deb: postinst does not enable the unit"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postrm | grep -q 'rm -rf /var/lib/private/identity-box' \
        || fail "$deb: postrm does not erase the data on purge"
    local got
    got=$(dpkg-deb --contents "$deb" | awk '{print $1, $2, $6}' | sort)
    if [ "$got" != "$(expected_contents | sort)" ]; then
        diff <(expected_contents | sort) <(echo "$got") >&2 || true
        fail "$deb: unexpected contents (above: - expected, + found)"
    fi
    # The binary is for the package's architecture.
    local want
    case "$arch" in
        amd64) want='x86-64' ;;
        arm64) want='ARM aarch64' ;;
        armhf) want='ARM, EABI5' ;;
        *) fail "$deb: unknown architecture $arch" ;;
    esac
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/identity-box | file - | grep -q "$want" \
        || fail "$deb: the binary is not $want"
    echo "$deb: control fields, conffile, scripts and $(echo "$got" | wc -l) entries as expected"
}

for deb in "$@"; do check_package "$deb"; done

[ "$install" = 1 ] || exit 0

# ---- Install, reinstall, upgrade, remove and purge in a throwaway root ----------------------
amd64=""
for deb in "$@"; do case "$deb" in *_amd64.deb) amd64=$deb ;; esac; done
[ -n "$amd64" ] || fail "--install needs the amd64 package"
[ "$(id -u)" -eq 0 ] || fail "--install needs root (dpkg in a chroot)"
root=$(mktemp -d /tmp/idbox-deb-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mmdebstrap --quiet --mode=root --variant=minbase --include=systemd bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main"
in_root() { chroot "$root" "$@"; }
cp "$amd64" "$root/tmp/identity-box.deb"
# The same package with a higher revision: an upgrade.
work=$(mktemp -d)
dpkg-deb --raw-extract "$amd64" "$work/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1+upgrade/' "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$root/tmp/identity-box-upgrade.deb" >/dev/null
rm -rf "$work"

enabled() {
    [ "$(systemctl --root="$root" is-enabled identity-box.service 2>/dev/null)" = enabled ] &&
        [ "$(systemctl --root="$root" is-enabled identity-box.socket 2>/dev/null)" = enabled ]
}

in_root dpkg --install /tmp/identity-box.deb >/dev/null
enabled || fail "install: the unit is not enabled"
[ -L "$root/etc/systemd/system/multi-user.target.wants/identity-box.service" ] \
    || fail "install: no multi-user.target.wants link"
[ -L "$root/etc/systemd/system/sockets.target.wants/identity-box.socket" ] \
    || fail "install: no sockets.target.wants link (the socket that hands port 80 to the box)"
in_root /usr/bin/identity-box --version >/dev/null || fail "install: the binary does not run"
echo "install: the unit and its socket are enabled, the binary runs"

# What systemd's DynamicUser= and StateDirectory= would have made, with a box's data in it, and
# a configuration the household edited.
mkdir -p "$root/var/lib/private/identity-box"
echo "keys and backups" >"$root/var/lib/private/identity-box/identity-box.db"
ln -s private/identity-box "$root/var/lib/identity-box"
echo 'name = "Kitchen box"' >>"$root/etc/identity-box/config.toml"

in_root dpkg --install /tmp/identity-box.deb >/dev/null
in_root dpkg --force-confold --install /tmp/identity-box-upgrade.deb >/dev/null
[ -f "$root/var/lib/identity-box/identity-box.db" ] || fail "reinstall/upgrade: the data are gone"
grep -q 'Kitchen box' "$root/etc/identity-box/config.toml" \
    || fail "upgrade: the edited configuration was replaced"
enabled || fail "upgrade: the unit is no longer enabled"
echo "reinstall and upgrade: the data and the edited configuration stay, the unit stays enabled"

in_root dpkg --remove identity-box >/dev/null
[ -f "$root/var/lib/identity-box/identity-box.db" ] || fail "remove: the data are gone"
[ ! -e "$root/usr/bin/identity-box" ] || fail "remove: the binary stays"
echo "remove: the data stay"

in_root dpkg --purge identity-box >/dev/null
for gone in /var/lib/private/identity-box /var/lib/identity-box /etc/identity-box \
    /etc/systemd/system/multi-user.target.wants/identity-box.service \
    /etc/systemd/system/sockets.target.wants/identity-box.socket; do
    if [ -e "$root$gone" ] || [ -L "$root$gone" ]; then fail "purge: $gone is still there"; fi
done
echo "purge: the data, the configuration and the unit's links are gone"
