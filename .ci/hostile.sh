#!/usr/bin/env bash
# The hostile-input case too slow for a debug `cargo test`: a million one-word articles
# in one IngestStream, against a release build. Called from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
NEARDUP_HOSTILE_ARTICLES=1000000 cargo test --release --test integration \
    secure::many_one_word_articles_in_one_stream -- --nocapture
