#!/usr/bin/env bash
# A client no one here wrote: Python's grpcio drives a release `neardup serve` over
# loopback (tests/python/test_grpc.py). Called from .ci/run; needs python3 and the
# package registry for pip.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-grpc-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check grpcio grpcio-tools grpcio-health-checking
cargo build --release --bin neardup
"$venv/bin/python" tests/python/test_grpc.py --binary "${CARGO_TARGET_DIR:-target}/release/neardup"
