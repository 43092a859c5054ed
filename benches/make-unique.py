#!/usr/bin/env python3
"""Writes N articles of W random made-up words each, no two alike: a feed with no copies,
where every article is its own story (the worst case for the index's memory per article).

Usage: python3 benches/make-unique.py N W OUT.jsonl   (seeded: the same file every time)
"""
import json
import random
import sys

n, words, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "pa", "go", "li", "ba", "te", "zu", "fi"]
vocabulary = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(60000)})
with open(out, "w") as f:
    for i in range(n):
        text = " ".join(rng.choices(vocabulary, k=words))
        f.write(json.dumps({"id": f"u{i}", "text": text, "source": f"outlet{i % 50}"}) + "\n")
