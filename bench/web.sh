#!/usr/bin/env bash
# gRPC-Web against native gRPC, in one run against one freshly started release server:
# RenderShortcut with warm data as native gRPC, as gRPC-Web over HTTP/2 and as gRPC-Web over
# HTTP/1.1, taking turns in 1-second slices, at 16 calls in flight; prints the table and the
# ratios web/native (throughput, p99). Server on core 1, load generator on core 0.
#
#   bash bench/web.sh
#   SECONDS_PER_RUN=20 CONCURRENCY=16,64 bash bench/web.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CONCURRENCY="${CONCURRENCY:-16}"

# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-bench

WORK="$(mktemp -d)"
LOG="$WORK/server.log"
RUST_LOG="${SERVER_LOG:-warn,shortcuts::server=info}" taskset -c 1 \
    "${SERVER_BIN:-target/release/shortcuts}" --listen 127.0.0.1:0 --store "$WORK/bench.db" 2>"$LOG" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

ADDR=""
for _ in $(seq 1 100); do
    ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$LOG" | head -1)"
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }

echo "server $ADDR (pid $SERVER_PID) on core 1, load generator on core 0, $SECONDS_PER_RUN s per scenario"
taskset -c 0 target/release/shortcuts-bench --target "http://$ADDR" --seconds "$SECONDS_PER_RUN" \
    --rounds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID" --concurrency "$CONCURRENCY" \
    --scenarios render,render-web-h2,render-web-h1 "$@"
