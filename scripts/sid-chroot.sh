#!/usr/bin/env bash
# Make, once, the Debian sid chroot with Debian's newest CPython releases that the test suite
# runs targets in (as a container would: the target has its own root). Reused when present.
#
#   scripts/sid-chroot.sh [DIR]      (default: $MEMWATCH_SID_ROOT, else /var/tmp/memwatch-sid)
#
# Needs root and debootstrap (installed with apt-get if missing) and Debian's package registry.
# What it holds: python3.13, python3.14, python3.15 and the -dbg builds of 3.14 and 3.15, and
# their libpython3.X-dev headers (tests/heap_layout.rs compiles scripts/layout/probe.c against
# them). DIR is kept outside the checkout; delete it to make it anew.
set -euo pipefail

DIR="${1:-${MEMWATCH_SID_ROOT:-/var/tmp/memwatch-sid}}"
MIRROR="${MEMWATCH_SID_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3.13,python3.14,python3.15,python3.14-dbg,python3.15-dbg"
PACKAGES="$PACKAGES,libpython3.13-dev,libpython3.14-dev,libpython3.15-dev"
MARK="$DIR/.memwatch-sid-complete"

say() { echo "sid-chroot: $*" >&2; }

versions() {
    for p in python3.13 python3.14 python3.15 python3.14-dbg python3.15-dbg; do
        if [ -x "$DIR/usr/bin/$p" ]; then
            printf '  %-16s %s\n' "$p" "$(chroot "$DIR" "$p" -c 'import sys; print(sys.version.split()[0], sys.abiflags or "")')"
        else
            printf '  %-16s absent\n' "$p"
        fi
    done
}

if [ -f "$MARK" ]; then
    say "reusing $DIR:"
    versions >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "needs root (debootstrap and chroot); the sid interpreters' tests will be skipped"
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi
if [ -e "$DIR" ]; then
    say "$DIR exists but is incomplete: making it anew"
    rm -rf --one-file-system "$DIR"
fi
mkdir -p "$(dirname "$DIR")"
start=$(date +%s)
say "debootstrap sid into $DIR (about a minute)"
debootstrap --variant=minbase --include="$PACKAGES" sid "$DIR" "$MIRROR" >"$DIR.log" 2>&1 || {
    say "debootstrap failed; the last lines of $DIR.log:"
    tail -5 "$DIR.log" >&2
    exit 1
}
# later apt-get runs inside it need this: the served sid index is refused as expired otherwise
echo 'Acquire::Check-Valid-Until "false";' >"$DIR/etc/apt/apt.conf.d/99memwatch-no-valid-until"
mkdir -p "$DIR/tmp" && chmod 1777 "$DIR/tmp"
touch "$MARK"
say "made $DIR in $(( $(date +%s) - start )) s:"
versions >&2
