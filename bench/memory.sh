#!/usr/bin/env bash
# Resident memory of a release server:
#   1. the file source's cost per contact of its data file before anything is cached
#      (against the same server on an empty data file), its peak while starting;
#   2. with 100,000 contacts of 20 custom keys in the data cache (bytes per cached contact);
#   3. per shortcut with 20,000 and 200,000 shortcuts in the catalogue: right after creating
#      them through the API, and after a restart has loaded them from the store (what a
#      long-running replica holds for a workspace in use).
#
#   bash bench/memory.sh                              # CONTACTS=100000 SHORTCUTS="20000 200000"
#   FILE_ONLY=1 bash bench/memory.sh                  # part 1 only
#   CONTACTS=0 SHORTCUTS=20000 bash bench/memory.sh   # part 3 only, 20,000 shortcuts
#   SERVER=/tmp/shortcuts-old bash bench/memory.sh    # another build, for A/B runs
#
# The shortcuts are those of `shortcuts-bench --create-shortcuts` (the ~330-character
# benchmark body with 5 placeholders, a title, two tags), each created by CreateShortcut.
# "after restart" subtracts the resident size of a server started on an empty store.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONTACTS="${CONTACTS:-100000}"
SHORTCUTS="${SHORTCUTS:-20000 200000}"
SERVER="${SERVER:-${SERVER_BIN:-target/release/shortcuts}}"

# Two builds, so the server is exactly what `cargo build --release` ships (bench/README.md).
[ "$SERVER" != target/release/shortcuts ] || cargo build --release --quiet -p shortcuts --bin shortcuts
[ -n "${FILE_ONLY:-}" ] || cargo build --release --quiet -p shortcuts-bench --bin shortcuts-bench
WORK="$(mktemp -d)"
trap 'kill "${SERVER_PID:-0}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$SERVER_PID/status"; }
peak() { awk '/VmHWM/ {print $2 * 1024}' "/proc/$SERVER_PID/status"; }
# start STORE [ARGS...]: starts the server on STORE and waits until it listens; sets
# SERVER_PID, ADDR and STARTED_IN (seconds from launch to listening, 0.1 s resolution).
start() {
    local store="$1" began
    shift
    began=$(date +%s.%N)
    RUST_LOG=warn,shortcuts::server=info "$SERVER" --listen 127.0.0.1:0 --store "$store" "$@" \
        2>"$WORK/log" &
    SERVER_PID=$!
    for _ in $(seq 1 3000); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
    STARTED_IN=$(echo "$(date +%s.%N) - $began" | bc)
    ADDR="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$WORK/log" | head -1)"
    [ -n "$ADDR" ] || { cat "$WORK/log"; exit 1; }
}
stop() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=0
}
# settle: lets the allocator return what start-up freed, then prints resident bytes.
settle() { sleep 2; rss; }

if [ "$CONTACTS" -gt 0 ]; then
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
    CACHE=(--data-cache-bytes 1073741824)
    start "$WORK/empty.db" --data-file "$WORK/empty.json" "${CACHE[@]}"
    EMPTY=$(rss)
    EMPTY_PEAK=$(peak)
    stop
    start "$WORK/contacts.db" --data-file "$WORK/contacts.json" "${CACHE[@]}"
    BEFORE=$(rss)
    BEFORE_PEAK=$(peak)
    echo "data file: $(($(stat -c %s "$WORK/contacts.json") / 1024)) KiB, $CONTACTS contacts; listening after ${STARTED_IN} s"
    echo "resident on an empty data file: $((EMPTY / 1024)) KiB; on the $CONTACTS contacts' file: $((BEFORE / 1024)) KiB"
    echo "bytes per file-source contact before caching: $(((BEFORE - EMPTY) / CONTACTS))"
    echo "peak resident while starting: $((EMPTY_PEAK / 1024)) KiB on the empty file, $((BEFORE_PEAK / 1024)) KiB on the contacts' file"
    if [ -n "${FILE_ONLY:-}" ]; then
        stop
        exit 0
    fi
    target/release/shortcuts-bench --target "http://$ADDR" --workspace bench --fill-contacts "$CONTACTS"
    AFTER=$(rss)
    stop
    echo "after caching $CONTACTS contacts: +$(((AFTER - BEFORE) / 1024)) KiB = $(((AFTER - BEFORE) / CONTACTS)) bytes per cached contact"
fi

# A budget above what 200,000 shortcuts take: the workspace must stay loaded to be measured.
BUDGET=(--catalog-bytes 8589934592)
start "$WORK/empty.db" "${BUDGET[@]}"
EMPTY=$(settle)
stop
echo "server on an empty store: $((EMPTY / 1024)) KiB resident"
for N in $SHORTCUTS; do
    STORE="$WORK/shortcuts-$N.db"
    start "$STORE" "${BUDGET[@]}"
    BEFORE=$(rss)
    target/release/shortcuts-bench --target "http://$ADDR" --create-shortcuts "$N"
    AFTER=$(settle)
    stop
    # A restarted server loads a workspace on its first use: --create-shortcuts 0 reads it.
    start "$STORE" "${BUDGET[@]}"
    target/release/shortcuts-bench --target "http://$ADDR" --create-shortcuts 0
    LOADED=$(settle)
    stop
    echo "$N shortcuts created through the API: +$(((AFTER - BEFORE) / 1024)) KiB = $(((AFTER - BEFORE) / N)) bytes per shortcut"
    echo "$N shortcuts after a restart loaded them: +$(((LOADED - EMPTY) / 1024)) KiB = $(((LOADED - EMPTY) / N)) bytes per shortcut (listening after ${STARTED_IN} s)"
    rm -f "$STORE"*
done
