#!/usr/bin/env bash
# Runs the load generator against a freshly started release server, in one run:
# the health check (transport ceiling) and RenderShortcut with warm data, at 1, 16 and 64
# requests in flight, then prints the table and the ratio render/baseline. The two take
# turns in 1-second slices (`--rounds`), so that drift of a shared machine affects both. Requests are
# encoded once before the run (the load generator's own protobuf work is not measured), and
# the table gives the server's and the load generator's CPU time per call (from /proc), which
# shows which side is saturated.
#
#   bash bench/run.sh            # client and server share both cores
#   bash bench/run.sh --pin      # server on core 1, load generator on core 0 (steadier)
#   SECONDS_PER_RUN=10 bash bench/run.sh --pin
#   SERVER_LOG=info bash bench/run.sh --pin   # with the default per-call log lines
#   SERVER_BIN=/tmp/shortcuts-old bash bench/run.sh --pin   # another build, for A/B runs
#   SERVER_ARGS="--usage-queue 1024" bash bench/run.sh --pin   # extra server flags
#   SERVER_B_ARGS="--usage=false" bash bench/run.sh --pin --scenarios render,render-b
#       # a second server (same build, these flags, same core) measured in the same slices:
#       # the ratio render/render-b is the cost of what the flags turn off (issue 17: usage)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PIN=0
[ "${1:-}" = "--pin" ] && PIN=1
SECONDS_PER_RUN="${SECONDS_PER_RUN:-5}"

# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-bench

WORK="$(mktemp -d)"
LOG="$WORK/server.log"
read -r -a EXTRA_ARGS <<<"${SERVER_ARGS:-}"
SERVER_CMD=("${SERVER_BIN:-target/release/shortcuts}" --listen 127.0.0.1:0 --store "$WORK/bench.db" "${EXTRA_ARGS[@]}")
CLIENT_PREFIX=()
if [ "$PIN" = 1 ]; then
    SERVER_CMD=(taskset -c 1 "${SERVER_CMD[@]}")
    CLIENT_PREFIX=(taskset -c 0)
fi
RUST_LOG="${SERVER_LOG:-warn,shortcuts::server=info}" "${SERVER_CMD[@]}" 2>"$LOG" &
SERVER_PID=$!
SERVER_B_PID=""
trap 'kill $SERVER_PID $SERVER_B_PID 2>/dev/null; wait $SERVER_PID $SERVER_B_PID 2>/dev/null; rm -rf "$WORK"' EXIT

# The address a server logged, once it is listening.
logged_address() {
    local addr=""
    for _ in $(seq 1 100); do
        addr="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$1" | head -1)"
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { cat "$1"; echo "server did not start" >&2; exit 1; }
    echo "$addr"
}
ADDR="$(logged_address "$LOG")"
B_OPTS=()
if [ -n "${SERVER_B_ARGS:-}" ]; then
    read -r -a B_ARGS <<<"$SERVER_B_ARGS"
    B_CMD=("${SERVER_BIN:-target/release/shortcuts}" --listen 127.0.0.1:0 --store "$WORK/bench-b.db" "${B_ARGS[@]}")
    [ "$PIN" = 1 ] && B_CMD=(taskset -c 1 "${B_CMD[@]}")
    RUST_LOG="${SERVER_LOG:-warn,shortcuts::server=info}" "${B_CMD[@]}" 2>"$WORK/server-b.log" &
    SERVER_B_PID=$!
    B_OPTS=(--target-b "http://$(logged_address "$WORK/server-b.log")" --server-pid-b "$SERVER_B_PID")
    echo "server B: ${B_ARGS[*]} (pid $SERVER_B_PID)"
fi

echo "server $ADDR (pid $SERVER_PID), pinned: $PIN, $(nproc) cores, $SECONDS_PER_RUN s per run"
"${CLIENT_PREFIX[@]}" target/release/shortcuts-bench --target "http://$ADDR" --seconds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID" "${B_OPTS[@]}" "${@:2}"
echo "server resident memory: $(grep VmRSS /proc/$SERVER_PID/status)"
