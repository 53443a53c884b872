#!/usr/bin/env bash
# The dashboard's end-to-end tests (docs/dashboard.md): installs what they need when it is
# missing (Debian's chromium and nodejs as root; playwright-core from the npm registry into
# tests/e2e/node_modules), starts the real daemon ($AIRLOCKD, default build/airlockd) with its
# own state directory, a free loopback port and a random token, and runs dashboard.test.mjs in
# headless Chromium. Screenshots go to build/e2e/screenshots/. Exits non-zero on any failure;
# exits 0 with a message (skipped) when chromium is missing and cannot be installed (not root).
# With --install, only installs what the tests need (.ci/run does that after make deps).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
AIRLOCKD=${AIRLOCKD:-build/airlockd}
case "$AIRLOCKD" in /*) ;; *) AIRLOCKD=$repo/$AIRLOCKD ;; esac
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
out=$repo/build/e2e
start=$(date +%s)

die() { echo "e2e: $*" >&2; exit 1; }
install_only=0
case "${1:-}" in
    --install) install_only=1 ;; # only install chromium, node and playwright-core (.ci/run)
    "") ;;
    *) die "usage: tests/e2e/run.sh [--install]" ;;
esac

# Debian packages: chromium (and node when there is none).
missing=""
[ -x "$CHROMIUM" ] || missing="$missing chromium"
command -v node >/dev/null && command -v npm >/dev/null || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "e2e: SKIPPED: needs${missing} (Debian packages); installing them needs root:" \
             "apt-get install -y${missing}, then run tests/e2e/run.sh again" >&2
        exit 0
    fi
    echo "e2e: installing${missing}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    [ -x "$CHROMIUM" ] || die "chromium is still missing at $CHROMIUM after apt-get install"
fi

major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "node $(node --version) is too old: playwright-core needs 18 or later"

# playwright-core, pinned (1.61.1: the last release that runs on Debian 12's node 18) by package-lock.json. Installed again only when the lock changed.
stamp=tests/e2e/node_modules/.airlock-package-lock.json
if [ ! -f tests/e2e/node_modules/playwright-core/package.json ] || ! cmp -s tests/e2e/package-lock.json "$stamp"; then
    (cd tests/e2e && { npm ci --no-audit --no-fund --loglevel=error ||
                       npm install --no-audit --no-fund --loglevel=error; }) ||
        die "cannot install playwright-core from the npm registry (tests/e2e/package.json)"
    cp tests/e2e/package-lock.json "$stamp"
fi

[ "$install_only" = 1 ] && { echo "e2e: chromium, node and playwright-core are installed"; exit 0; }
[ -x "$AIRLOCKD" ] || die "no daemon at $AIRLOCKD (run make first)"

# The pure parts first (ANSI parsing, command splitting), in node alone.
mkdir -p "$out"
if ! timeout 60 node --test tests/e2e/units.test.mjs >"$out/units.log" 2>&1; then
    cat "$out/units.log" >&2
    die "FAILED: tests/e2e/units.test.mjs (above)"
fi
echo "e2e: units: $(grep -E '^# (pass|fail) ' "$out/units.log" | tr '\n' ' ')"

# The daemon: a temp dir with its config, state and log; loopback only.
dir=$(mktemp -d /tmp/airlock-e2e-XXXXXX)
chmod 0755 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=e2e-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
cgroup=airlock-e2e-$port
cat >"$dir/airlockd.json" <<JSON
{"listen": "127.0.0.1:$port", "state_dir": "state", "policy_dir": "$repo/policies",
 "web_dir": "$repo/web", "token": "$token", "cgroup_parent": "$cgroup", "log_format": "text"}
JSON
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    mkdir -p "$out"
    cp "$dir/daemon.log" "$out/daemon.log" 2>/dev/null || true
    rm -rf "$dir"
    for c in /sys/fs/cgroup/*/"$cgroup"; do
        [ -d "$c" ] || continue
        rmdir "$c"/job-* "$c" 2>/dev/null || true
    done
}
trap cleanup EXIT
"$AIRLOCKD" --config "$dir/airlockd.json" >"$dir/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/daemon.log" >&2; die "the daemon exited at start"; }
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { tail -20 "$dir/daemon.log" >&2; die "the daemon does not serve the dashboard at /"; }

rm -rf "$out/screenshots"
mkdir -p "$out/screenshots"
echo "e2e: daemon on 127.0.0.1:$port, chromium $("$CHROMIUM" --version 2>/dev/null | sed -n 's/^Chromium \([^ ]*\).*/\1/p')"
rc=0
AIRLOCK_URL="http://127.0.0.1:$port" AIRLOCK_TOKEN="$token" SCREENSHOTS="$out/screenshots" CHROMIUM="$CHROMIUM" \
    timeout 170 node tests/e2e/dashboard.test.mjs || rc=$?
[ "$rc" = 124 ] && echo "e2e: the run passed its 170 s bound" >&2
echo "e2e: $(( $(date +%s) - start )) s; the daemon's log is $out/daemon.log"
[ "$rc" = 0 ] || die "FAILED (exit $rc)"
