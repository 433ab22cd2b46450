#!/usr/bin/env bash
# A working day replayed (issue 19): 50 agents, 5,000 Zipf contacts, conversations opened by
# signed Crisp web hooks, a fake Crisp answering in 150 ms with a per-minute quota; the
# cache-aside behaviour and refresh-ahead + prefetch + request budget side by side, same run.
#
#   bash bench/fresh.sh                                  # the defaults above, 3 minutes
#   bash bench/fresh.sh --seconds 300 --quota-per-minute 900 --budget-per-minute 800
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-fresh-bench
exec target/release/shortcuts-fresh-bench --server-bin target/release/shortcuts "$@"
