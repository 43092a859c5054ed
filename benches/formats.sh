#!/usr/bin/env bash
# Scan throughput on one corpus in every input format, as ratios to JSONL measured in
# one run: the corpus is written as JSONL, gzipped JSONL, CSV and Parquet with the same
# fields (benches/convert.py, needs python3 with pyarrow), then each is scanned ROUNDS
# times, the formats taking turns so that machine noise hits them alike. Prints the
# median seconds, articles per second and the ratio to JSONL, and checks that every
# format gave the same output as JSONL.
#
# Usage: benches/formats.sh CORPUS.jsonl [ROUNDS]    (ROUNDS defaults to 3)
# A 100k-article corpus: benches/make-corpus.sh 14 bench-100k.jsonl
set -euo pipefail
corpus=${1:?usage: formats.sh CORPUS.jsonl [ROUNDS]}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release --quiet)
neardup=${CARGO_TARGET_DIR:-$root/target}/release/neardup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$root/benches/convert.py" "$corpus" "$tmp/c"
articles=$(grep -c . "$tmp/c.jsonl")
formats=(jsonl jsonl.gz csv parquet)
for round in $(seq 1 "$rounds"); do
  for format in "${formats[@]}"; do
    start=$(date +%s.%N)
    "$neardup" scan --no-progress "$tmp/c.$format" --out "$tmp/out-$format.jsonl" 2>/dev/null
    end=$(date +%s.%N)
    echo "$format $(echo "$end - $start" | bc)" >> "$tmp/times"
  done
done
for format in "${formats[@]}"; do
  cmp -s "$tmp/out-jsonl.jsonl" "$tmp/out-$format.jsonl" || { echo "formats.sh: $format output differs from JSONL" >&2; exit 1; }
done
python3 - "$tmp/times" "$articles" "$rounds" <<'PY'
import collections, statistics, sys
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, seconds = line.split()
    times[name].append(float(seconds))
articles, rounds = int(sys.argv[2]), sys.argv[3]
base = statistics.median(times["jsonl"])
print(f"{articles} articles, median of {rounds} rounds; every output identical to JSONL's")
print("| format | seconds | articles/s | throughput ÷ JSONL |")
print("|---|---|---|---|")
for name in ["jsonl", "jsonl.gz", "csv", "parquet"]:
    median = statistics.median(times[name])
    print(f"| {name} | {median:.2f} | {articles / median:,.0f} | {base / median:.2f} |")
PY
