#!/usr/bin/env bash
# Health-check latency idle and during a storm of hostile templates, in one run against one
# freshly started release server: p50/p99/max of grpc.health.v1.Health/Check idle, then while
# 4 hostile renders and a hostile BatchRender of 10,000 recipients run; how long the
# server's CPU takes to go quiet once the batch is cancelled; resident memory before, at the
# peak and after.
#
#   bash bench/hostile.sh
#   SECONDS_PER_RUN=10 bash bench/hostile.sh
#   SERVER_BIN=/tmp/shortcuts-old bash bench/hostile.sh     # another build, for A/B runs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-5}"

# Two builds, as in the other scripts (bench/README.md: the server stays the one cargo build --release ships).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-hostile-bench

WORK="$(mktemp -d)"
LOG="$WORK/server.log"
RUST_LOG="${SERVER_LOG:-warn,shortcuts::server=info}" "${SERVER_BIN:-target/release/shortcuts}" \
    --listen 127.0.0.1:0 --store "$WORK/bench.db" 2>"$LOG" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

ADDR=""
for _ in $(seq 1 100); do
    ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$LOG" | head -1)"
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }

echo "server $ADDR (pid $SERVER_PID), $(nproc) cores, $SECONDS_PER_RUN s per phase"
target/release/shortcuts-hostile-bench --target "http://$ADDR" --server-pid "$SERVER_PID" \
    --seconds "$SECONDS_PER_RUN" "$@"
