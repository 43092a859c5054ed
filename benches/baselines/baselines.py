"""Baselines for neardup: datasketch (MinHash + MinHashLSH) and rensa (RMinHash +
RMinHashLSH) over the same JSONL corpus, with the same shingling (5-word shingles after
NFKC, lower case, apostrophes dropped, every other non-word character a separator), 128
permutations and the same pipeline: sign every article, index it in LSH, query its
candidates, verify them (estimated Jaccard >= 0.3) and cluster with union-find.

Prints one JSON line per tool: documents, seconds, documents/s, MB/s (of the JSONL
bytes read). Run through run.sh, which makes the venv and adds neardup's own scan.
"""

import argparse
import json
import re
import sys
import time
import unicodedata

WORD = re.compile(r"\w+")
APOSTROPHES = re.compile("['\u2018\u2019\u02bc\uff07]")


def shingles(text, k):
    """5-word shingles as neardup makes them (close enough for a speed comparison)."""
    norm = unicodedata.normalize("NFKC", text).lower()
    tokens = WORD.findall(APOSTROPHES.sub("", norm))
    if len(tokens) < k:
        return [" ".join(tokens).encode()] if tokens else []
    return list({" ".join(tokens[i : i + k]).encode() for i in range(len(tokens) - k + 1)})


def read(path, limit):
    """Reads up to `limit` articles; returns (ids, texts, bytes read)."""
    ids, texts, size = [], [], 0
    with open(path, "rb") as f:
        for line in f:
            if len(ids) >= limit:
                break
            if not line.strip():
                continue
            size += len(line)
            row = json.loads(line)
            ids.append(str(row["id"]))
            texts.append(row["text"])
    return ids, texts, size


class UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def run_datasketch(path, limit, k, num_perm, lsh_threshold, jaccard):
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    ids, texts, size = read(path, limit)
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    signatures = []
    for ix, text in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(shingles(text, k))
        signatures.append(m)
        lsh.insert(ix, m)
    sets = UnionFind(len(ids))
    for ix, m in enumerate(signatures):
        for other in lsh.query(m):
            if other < ix and m.jaccard(signatures[other]) >= jaccard:
                sets.union(ix, other)
    clusters = len({sets.find(i) for i in range(len(ids))})
    return report("datasketch", len(ids), clusters, size, time.perf_counter() - started)


def run_rensa(path, limit, k, num_perm, lsh_threshold, jaccard):
    from rensa import RMinHash, RMinHashLSH

    started = time.perf_counter()
    ids, texts, size = read(path, limit)
    # rensa needs num_perm divisible by the band count: keep the rows datasketch derives
    # for the threshold and use every lane (more bands than datasketch, same rows).
    from datasketch.lsh import _optimal_param

    _bands, rows = _optimal_param(lsh_threshold, num_perm, 0.5, 0.5)
    lsh = RMinHashLSH(threshold=lsh_threshold, num_perm=num_perm, num_bands=num_perm // rows)
    signatures = []
    for ix, text in enumerate(texts):
        m = RMinHash(num_perm=num_perm, seed=1)
        m.update([s.decode() for s in shingles(text, k)])
        signatures.append(m)
        lsh.insert(ix, m)
    sets = UnionFind(len(ids))
    for ix, m in enumerate(signatures):
        for other in lsh.query(m):
            if other < ix and m.jaccard(signatures[other]) >= jaccard:
                sets.union(ix, other)
    clusters = len({sets.find(i) for i in range(len(ids))})
    return report("rensa", len(ids), clusters, size, time.perf_counter() - started)


def report(tool, docs, clusters, size, seconds):
    return {
        "tool": tool,
        "documents": docs,
        "clusters": clusters,
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs / seconds, 1),
        "mb_per_s": round(size / 1e6 / seconds, 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--limit", type=int, default=10_000, help="articles to read")
    parser.add_argument("--tools", default="datasketch,rensa")
    parser.add_argument("--shingle-size", type=int, default=5)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--lsh-threshold", type=float, default=0.2)
    parser.add_argument("--jaccard-threshold", type=float, default=0.3)
    args = parser.parse_args()
    runners = {"datasketch": run_datasketch, "rensa": run_rensa}
    for tool in args.tools.split(","):
        try:
            result = runners[tool](
                args.corpus,
                args.limit,
                args.shingle_size,
                args.num_perm,
                args.lsh_threshold,
                args.jaccard_threshold,
            )
        except ImportError as err:
            result = {"tool": tool, "skipped": f"not installed: {err}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
