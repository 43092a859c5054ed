#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints one summary line per
# target: executions, and whether it crashed. Crash inputs land in fuzz/artifacts/TARGET/;
# each one found is fixed and kept as a unit test next to the code it broke.
#
# cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets this stable toolchain accept
# them. cargo-fuzz builds with its own RUSTFLAGS, which replace .cargo/config.toml's, so
# the AES/SSE2 features gxhash needs are passed here as well.
#
# No AddressSanitizer (`--sanitizer none`): gxhash reads short inputs with one 16-byte
# load even past their end when that stays inside the same 4 KiB page (its
# `get_partial_unsafe`, by design: the extra bytes are masked off), and ASan reports every
# such load as a heap-buffer-overflow within seconds, which would hide everything else.
# The code under test is safe Rust; what the fuzzers look for is panics, aborts, hangs
# and runaway memory, which libFuzzer catches without a sanitizer.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-C target-feature=+aes,+sse2"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=$(cargo fuzz list)
cargo fuzz build --release --sanitizer none
mkdir -p logs
status=0
for target in $targets; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    if cargo fuzz run --release --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log and artifacts/$target/)"
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    echo "$target: ${runs:-?} executions in ${seconds} s: $result"
done
exit $status
