#!/usr/bin/env python3
"""A feed of unrelated articles (JSONL), for measuring the service with many stories.

Each article is 90 words drawn from 60,000 made-up ones, so no two share a story; article
`i` is published at 1,700,000,000 + 26*i seconds (about 30 days for 100,000) by outlet
`i mod 40`, with its first 7 words as its title. Seeded: the same arguments give the same
file.

    python3 benches/story_feed.py --articles 100000 > feed100k.jsonl
"""

import argparse
import datetime
import json
import random
import sys

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da",
             "gri", "mon", "tel", "bar", "zen", "qu", "fi", "ho", "jan", "wel"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocabulary = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                         for _ in range(60_000)})
    out = sys.stdout
    for i in range(args.articles):
        words = [rng.choice(vocabulary) for _ in range(90)]
        title = " ".join(words[:7]).capitalize()
        text = f"{title}\n\n{' '.join(words[7:50])}.\n\n{' '.join(words[50:])}."
        published = datetime.datetime.fromtimestamp(1_700_000_000 + 26 * i, datetime.timezone.utc)
        row = {"id": f"a{i}", "source": f"outlet-{i % 40:02d}.example",
               "date": published.strftime("%Y-%m-%dT%H:%M:%S"), "title": title, "text": text}
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
