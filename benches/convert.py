#!/usr/bin/env python3
"""Writes one JSONL corpus in every input format `neardup scan` reads, with the same
fields in each (id, source, date, title, text; other fields are dropped so that every
file holds the same data): OUT.jsonl, OUT.jsonl.gz, OUT.csv and OUT.parquet (pyarrow,
its default snappy pages and row groups). For benches/formats.sh.

Usage: python3 benches/convert.py CORPUS.jsonl OUT   (needs pyarrow: pip install pyarrow)
"""
import csv
import gzip
import json
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

FIELDS = ["id", "source", "date", "title", "text"]


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    rows = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows.append({k: row.get(k) for k in FIELDS})
    with open(out + ".jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(out + ".jsonl", "rb") as src, gzip.open(out + ".jsonl.gz", "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    with open(out + ".csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    table = pa.table({k: pa.array([row[k] for row in rows], type=pa.string()) for k in FIELDS})
    pq.write_table(table, out + ".parquet")
    print(f"convert.py: {len(rows)} articles in {out}.{{jsonl,jsonl.gz,csv,parquet}}", file=sys.stderr)


if __name__ == "__main__":
    main()
