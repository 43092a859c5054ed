#!/usr/bin/env bash
# The Python package (python/): one release build of the extension into a venv with
# maturin, then its pytest suite, which compares the Detector, neardup.scan, the
# neardup.arrow stages and neardup-spark (local[2], Java 17) with the release `neardup`
# binary. Called from .ci/run; needs python3, java and the package registry for pip.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/python-package-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "maturin>=1.9,<2" "pyarrow>=14" "pytest>=8" "pyspark==4.3.*" "pandas>=2.2,<3"
cargo build --release --bin neardup
(
    cd python
    VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target" \
        maturin develop --release --quiet
)
# Spark binds to loopback with its UI off (neardup.spark.session); workers run the venv's
# Python.
PYSPARK_PYTHON="$venv/bin/python" NEARDUP_BIN="$target/release/neardup" \
    "$venv/bin/python" -m pytest -q --durations=5 python/tests
