#!/usr/bin/env bash
# Short soak (default 60 s): 64 loopback clients mixing streamed ingest, check and remove
# against a release `neardup serve` on a fresh data directory, then SIGKILL, restart and
# a check that every acknowledged article survived. The 10-minute figures in
# BENCHMARKS.md come from the same command with --seconds 600.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
corpus=../shared/data/synd-dev.jsonl
if [ ! -f "$corpus" ]; then
    echo "SKIPPED soak: $corpus is absent (CI always has it)"
    exit 0
fi
cargo build --release --bin neardup --bin neardup-load
# neardup-load starts the neardup built next to it.
"${CARGO_TARGET_DIR:-target}/release/neardup-load" soak --corpus "$corpus" \
    --data-dir "$data/dd" --seconds "$seconds" --clients 64 --window 2m
