#!/usr/bin/env bash
# The test venv and packages: real packages the tests run under memwatch, installed from the
# package index. Made once and reused; .ci/run calls it before the tests. Prints what it made.
#
# - target/test-venv (or $MEMWATCH_TEST_VENV), with the machine's python3: gunicorn (the
#   process-tree tests) and pytest (CI mode: `memwatch run --fail-on important -- pytest`).
# - numpy for every interpreter of the test matrix that numpy ships wheels for, each in a
#   directory of its own that the tests put on the target's PYTHONPATH:
#   target/numpy/X.Y/site-packages for pyenv's interpreters and python3 (installed by each
#   one's own pip; "site-packages" in the path makes numpy library code for the line table,
#   as in a venv), and /opt/memwatch-numpy/X.Y/site-packages inside the Debian sid chroot of scripts/sid-chroot.sh
#   (installed from this machine with pip's --python-version, binary wheels only). An
#   interpreter without a wheel is listed as skipped; its tests skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MEMWATCH_TEST_VENV:-$PWD/target/test-venv}"
PIP=(--quiet --disable-pip-version-check --no-input)
versions() {
    "$VENV/bin/python" -c 'import sys, gunicorn, pytest; print(sys.version.split()[0], "gunicorn", gunicorn.__version__, "pytest", pytest.__version__)'
}
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import gunicorn, pytest" 2>/dev/null; then
    echo "test venv: $VENV (reused; Python $(versions))"
else
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install "${PIP[@]}" gunicorn pytest
    echo "test venv: $VENV (made; Python $(versions))"
fi

# numpy into DIR for interpreter PY (words), checked by importing it with PY
numpy_for() {
    local how="$1" label="$2" dir="$3" check_dir="$4"; shift 4
    if PYTHONPATH="$check_dir" "$@" -c "import numpy" 2>/dev/null; then
        echo "numpy for $label: $dir ($how; $(PYTHONPATH="$check_dir" "$@" -c 'import numpy; print(numpy.__version__)'))"
        return 0
    fi
    return 1
}

NUMPY_DIR="$PWD/target/numpy"
mkdir -p "$NUMPY_DIR"
pythons=()
if command -v pyenv >/dev/null; then
    for v in $(pyenv versions --bare | grep -v '^system$'); do
        exe="$(pyenv root)/versions/$v/bin/python3"
        [[ -x "$exe" ]] && pythons+=("$exe")
    done
fi
pythons+=("$(command -v python3)")
for exe in "${pythons[@]}"; do
    xy="$("$exe" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    dir="$NUMPY_DIR/$xy/site-packages"
    # memwatch supports CPython 3.8 and later
    "$exe" -c 'import sys; sys.exit(sys.version_info < (3, 8))' || continue
    numpy_for reused "$exe" "$dir" "$dir" "$exe" && continue
    rm -rf "$dir"
    if "$exe" -m pip install "${PIP[@]}" --only-binary=:all: --target "$dir" numpy >/dev/null 2>&1 \
        && numpy_for installed "$exe" "$dir" "$dir" "$exe"; then
        :
    else
        rm -rf "$dir"
        echo "numpy for $exe: skipped (no binary wheel for CPython $xy installs)"
    fi
done

SID="${MEMWATCH_SID_ROOT:-/var/tmp/memwatch-sid}"
if [[ -f "$SID/.memwatch-sid-complete" ]]; then
    for exe in python3.13 python3.14 python3.15; do
        [[ -x "$SID/usr/bin/$exe" ]] || continue
        xy="${exe#python}"
        inside="/opt/memwatch-numpy/$xy/site-packages"
        numpy_for reused "sid $exe" "$SID$inside" "$inside" chroot "$SID" "$exe" && continue
        rm -rf "${SID:?}$inside"
        mkdir -p "$SID$inside"
        if python3 -m pip install "${PIP[@]}" --only-binary=:all: --python-version "$xy" \
            --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
            --target "$SID$inside" numpy >/dev/null 2>&1 \
            && numpy_for installed "sid $exe" "$SID$inside" "$inside" chroot "$SID" "$exe"; then
            :
        else
            rm -rf "${SID:?}$inside"
            echo "numpy for sid $exe: skipped (no binary wheel for CPython $xy installs)"
        fi
    done
fi
