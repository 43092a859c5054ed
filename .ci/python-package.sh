#!/usr/bin/env bash
# The Python package (python/): one release build of the extension into a venv with
# maturin, then its pytest suite, which compares results with the release `neardup`
# binary. Called from .ci/run; needs python3 and the package registry for pip.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/python-package-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "maturin>=1.9,<2" "pyarrow>=14" "pytest>=8"
cargo build --release --bin neardup
(
    cd python
    VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target" \
        maturin develop --release --quiet
)
NEARDUP_BIN="$target/release/neardup" "$venv/bin/python" -m pytest -q python/tests
