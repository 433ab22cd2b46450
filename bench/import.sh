#!/usr/bin/env bash
# Import of a generated 20,000-macro Zendesk export over ImportShortcutsStream (issue 17),
# on SQLite and on PostgreSQL: seconds per import, every item accounted for.
#
#   bash bench/import.sh                   # 20,000 macros, 3 imports per store
#   bash bench/import.sh --macros 5000 --runs 5
#
# Uses the machine's PostgreSQL (127.0.0.1:5432, database `test`, a schema of its own,
# dropped on exit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-import-bench

BASE="${SHORTCUTS_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
SCHEMA="bench_import_$$"
psql -q "$BASE" -c "CREATE SCHEMA $SCHEMA"
trap 'psql -q "$BASE" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true' EXIT

target/release/shortcuts-import-bench \
    --server-bin target/release/shortcuts \
    --pg-store "$BASE?options=-c%20search_path%3D$SCHEMA" "$@"
