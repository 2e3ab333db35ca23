#!/bin/sh
# Runs one fuzz target for SECONDS (default 600) on the stable toolchain.
#
#   fuzz/run.sh TARGET [SECONDS]      e.g. fuzz/run.sh lobby 600
#   fuzz/run.sh --list
#
# RUSTC_BOOTSTRAP=1 lets the stable compiler take the nightly-only flags
# cargo-fuzz passes (-Zsanitizer=address and friends). If the address
# sanitizer's runtime is missing on a machine, set SANITIZER=none.
# The corpus grows in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET);
# a failing input is saved in fuzz/artifacts/TARGET and the run stops.
set -eu
cd "$(dirname "$0")"
if [ "${1:-}" = "--list" ]; then
    exec cargo fuzz list
fi
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-600}
mkdir -p "corpus/$target"
if [ -d "seeds/$target" ]; then
    cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
fi
RUSTC_BOOTSTRAP=1 exec cargo fuzz run --sanitizer "${SANITIZER:-address}" "$target" \
    "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=20000 -rss_limit_mb=1024 -print_final_stats=1
