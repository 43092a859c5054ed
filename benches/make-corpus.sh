#!/usr/bin/env bash
# Builds a benchmark corpus by concatenating RUNS runs of synd.py with different seeds
# (about 7,300 articles and 15 MB per run; 14 runs ~ 100k articles, 140 runs ~ 1M).
# Usage: benches/make-corpus.sh RUNS OUT.jsonl   (needs ../shared/data next to the repo)
set -euo pipefail
runs=${1:?usage: make-corpus.sh RUNS OUT.jsonl}
out=${2:?usage: make-corpus.sh RUNS OUT.jsonl}
here=$(cd "$(dirname "$0")/.." && pwd)
data=${NEARDUP_SHARED_DATA:-$here/../shared/data}
if [ ! -f "$data/tools/synd.py" ]; then
  echo "make-corpus: $data/tools/synd.py is absent; cannot build a corpus" >&2
  exit 3
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Two runs at a time: synd.py is single-threaded and this machine has two cores.
seq 1 "$runs" | xargs -P 2 -I{} python3 "$data/tools/synd.py" \
  --reuters "$data/reuters21578-train.jsonl" --wikinews "$data/wikinews-events-dev.jsonl" \
  --stories 2000 --seed {} --id-prefix "r{}-" --out "$tmp/{}.jsonl" >/dev/null
for i in $(seq 1 "$runs"); do cat "$tmp/$i.jsonl"; done > "$out.partial"
mv "$out.partial" "$out"
echo "make-corpus: $(wc -l < "$out") articles, $(du -h "$out" | cut -f1) in $out" >&2
