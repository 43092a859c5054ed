#!/usr/bin/env python3
"""Ground truth for a corpus made by make-corpus.sh, for scoring a scan of it.

make-corpus.sh concatenates synd.py runs whose ids, clusters and origins carry a run
prefix ("r17-"). Runs draw their originals from the same Reuters pool, so one original
is republished by many runs: the same story, which a scan rightly clusters together.
This writes each article's story without the run prefix, so that

    python3 ../shared/data/tools/score.py TRUTH.jsonl PRED.jsonl

scores a scan of the whole corpus by pairwise precision, recall and F1. (Origins and
edit types are left out: the earliest copy of an original is in whichever run dated
it first, which the per-run labels do not say.)

Usage: benches/scale_truth.py CORPUS.jsonl TRUTH.jsonl
"""

import json
import re
import sys

RUN = re.compile(r"^r\d+-")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    with open(sys.argv[1], encoding="utf-8") as corpus, open(sys.argv[2], "w", encoding="utf-8") as out:
        for line in corpus:
            article = json.loads(line)
            story = article.get("cluster")
            story = RUN.sub("", story) if story else None
            out.write(json.dumps({"id": article["id"], "cluster": story}) + "\n")


if __name__ == "__main__":
    main()
