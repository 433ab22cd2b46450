#!/usr/bin/env bash
# Fuzzes template compile + render (fuzz/fuzz_targets/template.rs) for a fixed time.
#
#   bash scripts/fuzz.sh            # 60 s; FUZZ_SECONDS=600 bash scripts/fuzz.sh for longer
#
# libFuzzer needs nightly-only compiler flags: the script uses a nightly toolchain when one is
# installed and otherwise lets stable accept them (RUSTC_BOOTSTRAP=1). A crash or hang is
# written to fuzz/artifacts/template/; turn each into a regression test in
# tests/e2e/hostile.rs before fixing it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    TOOLCHAIN=()
    export RUSTC_BOOTSTRAP=1
fi
cargo "${TOOLCHAIN[@]}" fuzz run template corpus/template -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=5 -rss_limit_mb=2048 -max_len=4096
