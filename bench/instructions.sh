#!/usr/bin/env bash
# Server-side CPU instructions per call (user space, counted by callgrind), for the health
# check and for RenderShortcut with warm data: a figure that, unlike requests per second,
# does not move with whatever else the shared machine is doing. Kernel work (the socket
# system calls) is not counted. One call in flight, so no batching changes the count.
#
#   bash bench/instructions.sh            # 10 s per scenario
#   SECONDS_PER_RUN=20 bash bench/instructions.sh
#   SERVER_BIN=/tmp/shortcuts-old bash bench/instructions.sh   # another build, for A/B counts
#   SERVER_LOG=info bash bench/instructions.sh   # with the default per-call log lines
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian package valgrind)" >&2; exit 1; }

# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-bench

WORK="$(mktemp -d)"
LOG="$WORK/server.log"
RUST_LOG="${SERVER_LOG:-warn,shortcuts::server=info}" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "${SERVER_BIN:-target/release/shortcuts}" --listen 127.0.0.1:0 --store "$WORK/bench.db" 2>"$LOG" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$WORK"/cg.out.* "$KEEP"/; rm -rf "$WORK"' EXIT

ADDR=""
for _ in $(seq 1 600); do
    ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$LOG" | head -1)"
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }
BENCH=(target/release/shortcuts-bench --target "http://$ADDR" --concurrency 1 --connections 1)

# Warm everything once (shortcut created, data cached), then count each scenario alone.
"${BENCH[@]}" --seconds 2 --warmup 0 >/dev/null
echo "| scenario | calls | instructions per call |"
echo "| --- | ---: | ---: |"
for scenario in baseline render; do
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    rate="$("${BENCH[@]}" --scenarios "$scenario" --seconds "$SECONDS_PER_RUN" --warmup 0 \
        | awk -F'|' '/^\| (Baseline|Render) /{gsub(/ /, "", $4); print $4}')"
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    dump="$(ls -t "$WORK"/cg.out.* | head -1)"
    total="$(awk '/^(summary|totals):/{print $2; exit}' "$dump")"
    calls=$((rate * SECONDS_PER_RUN))
    echo "| $scenario | $calls | $((total / calls)) |"
done
