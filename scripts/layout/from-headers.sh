#!/usr/bin/env bash
# Compile scripts/layout/probe.c against one CPython release's headers and print its offsets
# ("name value" lines, named as the fields of `memwatch layout --format json`).
#
#   scripts/layout/from-headers.sh INCLUDE_DIR
#
# INCLUDE_DIR holds that release's Python.h and internal/ headers: a source build's or
# pyenv's include/python3.X, or a distribution's /usr/include/python3.X (Debian's
# libpython3.X-dev; its pyconfig.h includes <x86_64-linux-gnu/python3.X/pyconfig.h>, found beside
# it). Only the Python headers are used from there, so a chroot's newer glibc headers do not
# clash with this machine's gcc. For a new release: compare the output with `memwatch layout
# --pid PID` of a running interpreter (tests/heap_layout.rs does so for the test matrix).
set -euo pipefail
INC="${1:?usage: $0 INCLUDE_DIR (the directory with Python.h)}"
[ -f "$INC/Python.h" ] || { echo "no Python.h in $INC" >&2; exit 2; }
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
ARCH_INC=()
if grep -q '<x86_64-linux-gnu/python' "$INC/pyconfig.h" 2>/dev/null; then
    name="$(basename "$INC")"
    mkdir -p "$TMP/inc/x86_64-linux-gnu"
    ln -s "$(dirname "$INC")/x86_64-linux-gnu/$name" "$TMP/inc/x86_64-linux-gnu/$name"
    ARCH_INC=(-I "$TMP/inc")
fi
gcc -I "$INC" "${ARCH_INC[@]}" "$HERE/probe.c" -o "$TMP/probe"
"$TMP/probe"
