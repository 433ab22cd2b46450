#!/usr/bin/env bash
# Resident memory of a release server: the file source's cost per contact of its data file
# before anything is cached (against the same server on an empty file), then with 100,000
# contacts of 20 custom keys in the data cache (bytes per contact), and with 20,000
# shortcuts in the catalogue.
#
#   bash bench/memory.sh            # CONTACTS=100000 SHORTCUTS=20000 by default
#   FILE_ONLY=1 bash bench/memory.sh                  # the file source's figure only
#   SERVER=/path/to/shortcuts FILE_ONLY=1 bash bench/memory.sh   # another build of the server
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONTACTS="${CONTACTS:-100000}"
SHORTCUTS="${SHORTCUTS:-20000}"

# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
SERVER="${SERVER:-target/release/shortcuts}"
[ "$SERVER" != target/release/shortcuts ] || cargo build --release --quiet -p shortcuts --bin shortcuts
[ -n "${FILE_ONLY:-}" ] || cargo build --release --quiet -p shortcuts-bench --bin shortcuts-bench
WORK="$(mktemp -d)"
trap 'kill "${SERVER_PID:-0}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

python3 - "$CONTACTS" "$WORK/contacts.json" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
contacts = {}
for i in range(n):
    data = {f"key_{k:02d}": f"value {k} of contact {i}" for k in range(16)}
    data.update({"plan": "pro", "seats": i % 500, "active": True, "lifetime_value": i * 1.5})
    contacts[f"c{i}"] = {
        "profile": {"people_id": f"c{i}", "email": f"person{i}@example.com",
                    "person": {"nickname": f"Person {i}", "locales": ["en"]}},
        "data": data,
    }
json.dump({"workspaces": {"bench": {"contacts": contacts, "sessions": {}}}}, open(path, "w"))
PY

echo '{"workspaces": {}}' >"$WORK/empty.json"

rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$SERVER_PID/status"; }
peak() { awk '/VmHWM/ {print $2 * 1024}' "/proc/$SERVER_PID/status"; }
# Starts the server on data file $1 (store $2) and waits until it listens: sets SERVER_PID,
# ADDR and STARTED_IN (seconds from launch to listening, 0.1 s resolution).
start() {
    local began
    began=$(date +%s.%N)
    : >"$WORK/log"
    "$SERVER" --listen 127.0.0.1:0 --store "$2" --data-file "$1" \
        --data-cache-bytes 1073741824 2>"$WORK/log" &
    SERVER_PID=$!
    for _ in $(seq 1 1200); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
    STARTED_IN=$(echo "$(date +%s.%N) - $began" | bc)
    ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$WORK/log" | head -1)"
    [ -n "$ADDR" ] || { cat "$WORK/log"; exit 1; }
}

start "$WORK/empty.json" "$WORK/empty.db"
EMPTY=$(rss)
EMPTY_PEAK=$(peak)
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start "$WORK/contacts.json" "$WORK/m.db"
BEFORE=$(rss)
BEFORE_PEAK=$(peak)
echo "data file: $(($(stat -c %s "$WORK/contacts.json") / 1024)) KiB, $CONTACTS contacts; listening after ${STARTED_IN} s"
echo "resident on an empty data file: $((EMPTY / 1024)) KiB; on the $CONTACTS contacts' file: $((BEFORE / 1024)) KiB"
echo "bytes per file-source contact before caching: $(((BEFORE - EMPTY) / CONTACTS))"
echo "peak resident while starting: $((EMPTY_PEAK / 1024)) KiB on the empty file, $((BEFORE_PEAK / 1024)) KiB on the contacts' file"
[ -z "${FILE_ONLY:-}" ] || exit 0

target/release/shortcuts-bench --target "http://$ADDR" --workspace bench --fill-contacts "$CONTACTS"
AFTER_CONTACTS=$(rss)
target/release/shortcuts-bench --target "http://$ADDR" --create-shortcuts "$SHORTCUTS"
AFTER_SHORTCUTS=$(rss)
echo "after caching $CONTACTS contacts: +$(((AFTER_CONTACTS - BEFORE) / 1024)) KiB = $(((AFTER_CONTACTS - BEFORE) / CONTACTS)) bytes per cached contact"
echo "after $SHORTCUTS shortcuts: +$(((AFTER_SHORTCUTS - AFTER_CONTACTS) / 1024)) KiB = $(((AFTER_SHORTCUTS - AFTER_CONTACTS) / SHORTCUTS)) bytes per shortcut"
