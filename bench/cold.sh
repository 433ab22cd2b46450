#!/usr/bin/env bash
# The cold path: renders that must call the data source (a fake gRPC upstream with a set
# latency), for many distinct contacts and for a burst of concurrent renders of one contact.
#
#   bash bench/cold.sh                       # 20 ms upstream, 5,000 contacts, burst of 1,000
#   bash bench/cold.sh --latency-ms 50 --contacts 10000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-cold-bench
exec target/release/shortcuts-cold-bench --server-bin target/release/shortcuts "$@"
