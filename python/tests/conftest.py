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


#: Records of the large corpus: past the small-corpus bound (65,536 records), so
#: `neardup scan` learns chrome from a sample of them.
LARGE = 66_000
#: Copies of each fixture article in the large corpus.
REPLICAS = 8
#: Articles of the outlet whose chrome only the records outside the sample show.
GAP_OUTLET = 6


def _filler(n: int) -> dict:
    """Eight tokens made from ``n``: no two fillers share a shingle, none is chrome."""
    words = [f"w{((n * 8 + k) * 2654435761) % 2**32:x}" for k in range(8)]
    return {"id": f"filler-{n}", "text": " ".join(words)}


def _gap_article(k: int) -> dict:
    """An article of an outlet whose header and footer are its chrome (three of its
    articles show it), around a body of its own."""
    body = " ".join(f"story{k}word{i}" for i in range(10))
    return {
        "id": f"gap-{k}",
        "source": "gap-outlet.example",
        "text": "Gap Outlet Daily brings you the regional news that matters every single "
        "morning of the week\n\n"
        f"{body}\n\n"
        "Subscribe to Gap Outlet Daily for the full story, the weekly digest and our "
        "morning newsletter delivered to your inbox",
    }


@pytest.fixture(scope="session")
def large_corpus(tmp_path_factory) -> Path:
    """A JSONL corpus of ``LARGE`` records (and two blank lines, which are no records):
    ``REPLICAS`` copies of each fixture article (ids ``r{copy}-{id}``) spread among
    fillers, and ``GAP_OUTLET`` articles of one outlet, each the last record before a
    run of the chrome sample. The scan, learning from the sample only, never sees that
    outlet's chrome and keeps it, which puts its articles in one cluster; learned from
    every record, or from records numbered by line, the chrome would be left out."""
    import json

    import neardup.arrow as na

    rows = [json.loads(line) for line in SYND_SAMPLE.read_text(encoding="utf-8").splitlines()]
    runs = na.chrome_sample(LARGE, 1)
    gaps = {start - 1: k for k, (start, _) in enumerate(runs[1 : GAP_OUTLET + 1])}
    spacing = LARGE // (len(rows) * REPLICAS)
    lines, copies = [], 0
    for record in range(LARGE):
        if record in gaps:
            row = _gap_article(gaps[record])
        elif record % spacing == spacing // 2 and copies < len(rows) * REPLICAS:
            copy, article = divmod(copies, len(rows))
            row = dict(rows[article], id=f"r{copy}-{rows[article]['id']}")
            copies += 1
        else:
            row = _filler(record)
        lines.append(json.dumps(row))
        if record in (5, 17):
            lines.append("  " if record == 5 else "")
    path = tmp_path_factory.mktemp("large") / "large.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
