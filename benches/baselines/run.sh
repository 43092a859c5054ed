#!/usr/bin/env bash
# Side-by-side: datasketch and rensa (Python, pip in a venv this script makes) against
# `neardup scan` on the same JSONL corpus, in one run. The Python tools sign, index,
# query, verify and cluster the first LIMIT articles; neardup scans that same subset
# and, when the corpus is larger, the whole file too.
#
# Usage: benches/baselines/run.sh CORPUS.jsonl [LIMIT]     (LIMIT defaults to 10000)
set -euo pipefail
corpus=${1:?usage: run.sh CORPUS.jsonl [LIMIT]}
limit=${2:-10000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet datasketch
  # rensa ships wheels for common platforms; carry on without it when it will not install.
  "$venv/bin/pip" install --quiet rensa || echo "run.sh: rensa did not install; skipping it" >&2
fi
(cd "$root" && cargo build --release --quiet)
neardup="$root/target/release/neardup"
subset=$(mktemp --suffix=.jsonl)
out=$(mktemp)
trap 'rm -f "$subset" "$out"' EXIT
grep -v '^[[:space:]]*$' "$corpus" | head -n "$limit" > "$subset" || true

scan() { # scan FILE LABEL: one JSON line like the Python tools print
  local file=$1 label=$2 start end docs bytes
  bytes=$(stat -c %s "$file")
  start=$(date +%s.%N)
  "$neardup" scan "$file" --out "$out" --no-progress 2>/dev/null
  end=$(date +%s.%N)
  docs=$(wc -l < "$out")
  python3 -c "import json,sys; d,b,s=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]); print(json.dumps({'tool':sys.argv[4],'documents':d,'seconds':round(s,3),'docs_per_s':round(d/s,1),'mb_per_s':round(b/1e6/s,3)}))" \
    "$docs" "$bytes" "$(echo "$end - $start" | bc)" "$label"
}

echo "corpus: $corpus (first $limit articles for the Python tools), $(nproc) cores, $(date -u +%FT%TZ)"
"$venv/bin/python" "$here/baselines.py" "$subset" --limit "$limit" | tee "$out.py"
scan "$subset" "neardup (same subset)" | tee "$out.nd"
if [ "$(grep -c . "$corpus")" -gt "$limit" ]; then
  scan "$corpus" "neardup (whole file)" | tee -a "$out.nd"
fi
python3 - "$out.py" "$out.nd" <<'PY'
import json, sys
py = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
nd = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
for n in nd:
    for p in py:
        if "docs_per_s" in p:
            print(f"{n['tool']} / {p['tool']}: {n['docs_per_s'] / p['docs_per_s']:.0f}x documents/s")
PY
rm -f "$out.py" "$out.nd"
