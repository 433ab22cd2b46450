#!/usr/bin/env bash
# Two replicas on PostgreSQL: read-your-writes with and without the consistency token, and
# how fast writes answer while the database is stopped (issue 21).
#
#   bash bench/replicas.sh                 # 300 rounds, 100 writes during the outage
#   bash bench/replicas.sh --rounds 1000
#
# Uses the machine's PostgreSQL (127.0.0.1:5432, database `test`, a schema of its own) and
# creates a throwaway cluster (Debian's pg_createcluster) for the outage, dropped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-replicas-bench

SCHEMA="bench_replicas_$$"
psql -q "postgres://postgres@127.0.0.1:5432/test" -c "CREATE SCHEMA $SCHEMA"
VERSION="$(ls /etc/postgresql | sort -V | tail -1)"
CLUSTER="bench_outage_$$"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() {
    psql -q "postgres://postgres@127.0.0.1:5432/test" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true
    pg_dropcluster --stop "$VERSION" "$CLUSTER" 2>/dev/null || true
}
trap cleanup EXIT
pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" --start -- --auth=trust >/dev/null

target/release/shortcuts-replicas-bench \
    --server-bin target/release/shortcuts \
    --store "postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3D$SCHEMA" \
    --outage-cluster "$VERSION/$CLUSTER" --outage-port "$PORT" "$@"
