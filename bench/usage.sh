#!/usr/bin/env bash
# GetUsage latency over 1,000,000 recorded renders, on SQLite and on PostgreSQL (issue 17).
#
#   bash bench/usage.sh                 # both stores, 100 calls per grouping
#   bash bench/usage.sh --calls 300
#
# Uses the machine's PostgreSQL (127.0.0.1:5432, database `test`, a schema of its own).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-usage-bench

WORK="$(mktemp -d)"
SCHEMA="bench_usage_$$"
PG="postgres://postgres@127.0.0.1:5432/test"
cleanup() {
    psql -q "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"

target/release/shortcuts-usage-bench --store "$WORK/usage.db" "$@"
echo
target/release/shortcuts-usage-bench --store "$PG?options=-c%20search_path%3D$SCHEMA" "$@"
