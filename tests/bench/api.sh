#!/usr/bin/env bash
# make bench (API part): starts the built airlockd on a free loopback port with its own state,
# then measures with wrk (2 threads, 32 connections, BENCH_SECONDS each):
#   - GET /healthz                      (no auth: the floor of the HTTP stack)
#   - GET /v1/policies/default          (auth + a policy rendered as JSON)
#   - POST /v1/policies/pypi/check      (auth + body + URL parse + a decision)
# and the daemon's resident memory idle and after the load; then the spawn benchmark
# (spawn.py: POST /v1/jobs with wait against bwrap and a bare fork/exec). Prints Markdown.
set -eu
cd "$(dirname "$0")/../.."
secs=${BENCH_SECONDS:-5}
bin=${AIRLOCKD:-build/airlockd}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
dir=$(mktemp -d /tmp/airlock-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/airlockd.json" <<JSON
{"listen": "127.0.0.1:$port", "state_dir": "$dir/state", "policy_dir": "$PWD/policies",
 "cgroup_parent": "airlock-bench-$port", "max_running_jobs": 16, "max_queued_jobs": 64}
JSON
"$bin" --config "$dir/airlockd.json" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
tok=$(cat "$dir/state/token")
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
idle=$(rss)
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"url":"https://pypi.org/simple/requests/"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tok"
LUA
run() { # name, wrk args...
    local name=$1; shift
    local out
    out=$(wrk -t2 -c32 -d"${secs}s" --latency "$@")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    printf '| %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99"
}
echo "| endpoint | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
run "GET /healthz" "http://127.0.0.1:$port/healthz"
run "GET /v1/policies/default" -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/v1/policies/default"
run "POST /v1/policies/pypi/check" -s "$dir/post.lua" "http://127.0.0.1:$port/v1/policies/pypi/check"
echo
echo "daemon RSS: idle ${idle} kB, after load $(rss) kB"
echo
if command -v bwrap >/dev/null; then
    python3 tests/bench/spawn.py --url "http://127.0.0.1:$port" --token "$tok" --n "${BENCH_JOBS:-200}"
else
    echo "bench: bwrap is missing (apt-get install bubblewrap): no spawn comparison" >&2
fi
