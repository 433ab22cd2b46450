#!/usr/bin/env bash
# A bounded soak test on loopback: a release server and 32 clients mixing writes, renders,
# searches and invalidations for SECONDS (default 120), with the server's resident memory
# sampled every 10 s and every call's status counted.
#
#   bash bench/soak.sh            # SECONDS=300 bash bench/soak.sh for five minutes
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOAK_SECONDS="${SECONDS_TO_RUN:-${SOAK_SECONDS:-120}}"
# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
cargo build --release --quiet -p shortcuts --bin shortcuts
cargo build --release --quiet -p shortcuts-bench --bin shortcuts-soak
WORK="$(mktemp -d)"
target/release/shortcuts --listen 127.0.0.1:0 --store "$WORK/soak.db" 2>"$WORK/log" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$WORK/log" | head -1)"
[ -n "$ADDR" ] || { cat "$WORK/log"; exit 1; }
target/release/shortcuts-soak --target "http://$ADDR" --server-pid "$SERVER_PID" --seconds "$SOAK_SECONDS"
if grep -q "ERROR\|panicked" "$WORK/log"; then
    echo "the server logged errors:"; grep "ERROR\|panicked" "$WORK/log" | head -20; exit 1
fi
echo "server log: no errors, no panics"
