"""Shared fixtures: the repository's files, and the `neardup` command-line binary the
Python results are compared with (``NEARDUP_BIN``, or the release build in the cargo
target directory)."""

import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
KREMLIN = ROOT / "examples" / "kremlin.jsonl"
SYND_SAMPLE = ROOT / "tests" / "fixtures" / "synd-sample.jsonl"
SYND_DEV = ROOT.parent / "shared" / "data" / "synd-dev.jsonl"


def _binary() -> Path | None:
    named = os.environ.get("NEARDUP_BIN")
    if named:
        return Path(named)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = target / "release" / "neardup"
    return built if built.exists() else None


@pytest.fixture(scope="session")
def neardup_bin() -> Path:
    binary = _binary()
    if binary is None or not binary.exists():
        pytest.skip("no neardup binary: set NEARDUP_BIN or run cargo build --release --bin neardup")
    return binary


@pytest.fixture(scope="session")
def cli_scan(neardup_bin, tmp_path_factory):
    """``neardup scan INPUTS --out x.parquet`` as a pyarrow table (cached per input)."""
    cache = {}

    def run(*inputs: Path, args: tuple[str, ...] = ()):
        key = (tuple(map(str, inputs)), args)
        if key not in cache:
            out = tmp_path_factory.mktemp("cli") / "assignments.parquet"
            subprocess.run(
                [str(neardup_bin), "scan", *map(str, inputs), "--out", str(out), *args],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            cache[key] = pq.read_table(out)
        return cache[key]

    return run
