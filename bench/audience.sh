#!/usr/bin/env bash
# Campaigns (issue 16): an audience filter over generated contacts on one core (rate and
# peak memory, for 200,000 and 1,000,000 contacts), then a batch to a 10,000-contact
# audience from a fake Crisp answering in 20 ms with --batch-concurrency 16, and a 2% audience
# of 10,000 Crisp contacts with its search pushed down to Crisp and without (ratios).
#
#   bash bench/audience.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-audience-bench
target/release/shortcuts-audience-bench filter --contacts 200000
target/release/shortcuts-audience-bench filter --contacts 1000000
target/release/shortcuts-audience-bench pushdown --server-bin target/release/shortcuts
exec target/release/shortcuts-audience-bench batch --server-bin target/release/shortcuts "$@"
