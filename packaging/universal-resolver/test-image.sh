#!/usr/bin/env bash
# Builds the Universal Resolver driver's container image (Dockerfile beside this script) from the
# amd64 package with podman, no Docker engine and no registry needed, and runs it:
#   1. a Debian bookworm minbase made by mmdebstrap stands in for docker.io's
#      debian:bookworm-slim (no registry is reachable here), imported as the build's BASE;
#   2. `podman build --network none`: the image builds offline;
#   3. the image runs the driver as uid 10001 with port 8080 exposed, its data in the volume;
#      without a network (its public mode reaches nothing), so the checks run inside it:
#      /health says ok and public, a malformed DID gets the resolver's invalidDid error;
#   4. SIGTERM (`podman stop`) ends it cleanly (exit status 0).
# Usage: packaging/universal-resolver/test-image.sh PACKAGE_amd64.deb
# Needs root, podman, runc (Debian's crun refuses this machine's mixed cgroup hierarchy) and
# mmdebstrap. Everything podman keeps goes into a temporary folder, removed at the end.
set -euo pipefail

[ "$#" -eq 1 ] || { echo "usage: packaging/universal-resolver/test-image.sh PACKAGE_amd64.deb" >&2; exit 2; }
deb=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "test-image: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (podman's storage and mounts)"

work=$(mktemp -d /tmp/idbox-image.XXXXXX)
# podman's own limits (a million open files) must stay under this shell's hard ones: a sandbox
# may not raise them (no CAP_SYS_RESOURCE). The driver needs far fewer. runc, cgroupfs and a file
# for events: what works without systemd as the init.
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$work/containers.conf"
p() { podman --root "$work/storage" --runroot "$work/run" "$@"; }
cleanup() {
    p rm --force --all >/dev/null 2>&1 || true
    p system reset --force >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mmdebstrap --quiet --variant=minbase bookworm "$work/base.tar" \
    "deb http://deb.debian.org/debian bookworm main"
p import --quiet "$work/base.tar" localhost/debian:bookworm-slim >/dev/null
rm "$work/base.tar"

mkdir "$work/ctx"
cp "$here/Dockerfile" "$here/config.toml" "$deb" "$work/ctx/"
p build --network none --build-arg BASE=localhost/debian:bookworm-slim \
    --tag localhost/identity-box/driver-did-ipid "$work/ctx" >"$work/build.log" 2>&1 \
    || fail "the image does not build offline: $(tail -n 20 "$work/build.log")"
image=localhost/identity-box/driver-did-ipid
[ "$(p image inspect --format '{{.Config.User}}' "$image")" = "10001:10001" ] \
    || fail "the image does not run as uid 10001"
p image inspect --format '{{json .Config.ExposedPorts}}' "$image" | grep -q '"8080/tcp"' \
    || fail "the image does not expose port 8080"
echo "image: built offline, runs as 10001:10001, exposes 8080"

p run --detach --name driver --network none "$image" >/dev/null
# GET PATH on the driver's port from inside the container: the status line and the body (perl
# is in every Debian base; nothing else there speaks HTTP).
# shellcheck disable=SC2016 # the Perl program's own variables
get() {
    p exec driver perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:8080", Timeout => 5) or exit 7;
        print $s "GET $ARGV[0] HTTP/1.1\r\nHost: driver-did-ipid\r\nAccept: application/did+ld+json\r\nConnection: close\r\n\r\n";
        local $/; my $r = <$s>; my ($head, $body) = split /\r\n\r\n/, $r, 2;
        my ($code) = $head =~ m{^HTTP/1\.1 (\d+)}; print "$code\n$body";' "$1"
}
# The driver is up once its port answers (bounded: it starts in well under a second).
for _ in $(seq 1 100); do
    if health=$(get /health 2>/dev/null) && [ "$(head -n 1 <<<"$health")" = 200 ]; then break; fi
    p container inspect --format '{{.State.Running}}' driver | grep -q true \
        || fail "the driver stopped: $(p logs driver 2>&1 | tail -n 5)"
    sleep 0.1
done
[ "$(head -n 1 <<<"$health")" = 200 ] || fail "/health never answered: $(p logs driver 2>&1 | tail -n 5)"
grep -q '"status":"ok"' <<<"$health" || fail "/health: $health"
grep -q '"network":"public"' <<<"$health" || fail "/health does not say public: $health"
[ "$(p exec driver id -u)" = 10001 ] || fail "the driver does not run as uid 10001"
[ -n "$(p exec driver ls -A /var/lib/idbox-driver)" ] || fail "nothing in the data volume"
bad=$(get /1.0/identifiers/did:ipid:not-a-name)
[ "$(head -n 1 <<<"$bad")" = 400 ] || fail "a malformed DID: $bad"
grep -q invalidDid <<<"$bad" || fail "a malformed DID, no invalidDid: $bad"
echo "container: /health ok and public, uid 10001, data in the volume, a malformed DID gets invalidDid"

p stop --time 10 driver >/dev/null
status=$(p container inspect --format '{{.State.ExitCode}}' driver)
[ "$status" = 0 ] || fail "SIGTERM: exit status $status: $(p logs driver 2>&1 | tail -n 5)"
echo "container: SIGTERM ends the driver cleanly"
