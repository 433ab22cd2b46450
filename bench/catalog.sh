#!/usr/bin/env bash
# Workspaces loaded on demand (issue 20): a generated store of 1,000,000 shortcuts in 5,000
# workspaces (plus 100 of 500 for the cold first render), start-up to listening and to
# SERVING, the first render in cold workspaces, resident memory after rendering in 200
# random workspaces, and warm renders.
#
#   bash bench/catalog.sh                          # SQLite
#   bash bench/catalog.sh --backend postgres       # PostgreSQL (a schema of its own)
#   bash bench/catalog.sh --workspaces 500         # a smaller store
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-catalog-bench
exec target/release/shortcuts-catalog-bench --server-bin target/release/shortcuts "$@"
