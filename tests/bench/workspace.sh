#!/usr/bin/env bash
# make bench (workspace part), BENCH=workspace make bench: what workspaces cost.
#
# Starts the built airlockd on a free loopback port with its own state dir and cgroup parent,
# and "workspace_roots": ["<tmp>/roots"]. As root, <tmp>/roots/repo is a git repository of
# uid 4242 (made and committed as that uid), which the daemon adopts: its jobs get the
# idmapped mount and the protected paths. Not as root, the daemon adopts a repository of its
# own user (no idmap; the protected paths still). Then:
#   1. Job start: POST /v1/jobs {"command":["true"],"wait":true}, N (50) one after another,
#      interleaved over three kinds: a fresh workspace of the job's own, a managed persistent
#      workspace, the adopted repository. p50/p90 of the round trip seen by curl
#      (time_total), and of the daemon's own "spawn X ms" (its job.start log line).
#   2. A 1 GiB file of random bytes: PUT (curl -T, streamed) and GET (curl -o into the same
#      filesystem) against the daemon, 3 rounds, side by side with cp of the file into the same
#      filesystem and with nginx's WebDAV PUT and its GET; each write also timed until
#      `sync FILE` has returned. The daemon's VmRSS before and VmHWM after (the peak is reset
#      first through /proc/<pid>/clear_refs).
#   3. ?follow=true: 100 followers (curl -N) of one job that prints a line every 100 ms for
#      5 s, against one follower of the same job: the daemon's CPU time (utime + stime of
#      every thread), its thread count before and during, and whether every follower got the
#      same bytes (sha256), the bytes the job printed.
# Prints Markdown; asserts nothing (a shared 2-core VM: runs vary by 10-30 %). Takes 1-2 min.
set -eu
cd "$(dirname "$0")/../.."
PATH=$PATH:/usr/sbin:/sbin
bin=${AIRLOCKD:-build/airlockd}
n_jobs=50
n_followers=100
big_bytes=$((1 << 30))
owner=4242
for tool in curl python3 git sha256sum; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "bench: $bin is missing (make $bin)" >&2; exit 1; }
root=false
[ "$(id -u)" = 0 ] && root=true
if $root; then
    command -v setpriv >/dev/null || { echo "bench: setpriv is missing (util-linux)" >&2; exit 1; }
fi

dir=$(mktemp -d /tmp/airlock-wsbench-XXXXXX)
chmod 755 "$dir" # uid $owner makes its repository beneath
pid="" ngx_pid="" follower_pids="" port=""
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
stop() { # pid: SIGTERM, 10 s, then SIGKILL
    local p=$1
    alive "$p" || { wait "$p" 2>/dev/null || true; return 0; }
    kill "$p" 2>/dev/null || true
    for _ in $(seq 200); do alive "$p" || break; sleep 0.05; done
    if alive "$p"; then
        echo "bench: pid $p did not stop on SIGTERM within 10 s: killed" >&2
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
}
cleanup() {
    local p cg
    for p in $follower_pids; do kill "$p" 2>/dev/null || true; done
    for p in $follower_pids; do wait "$p" 2>/dev/null || true; done
    stop "$ngx_pid"
    stop "$pid"
    # The daemon removes its cgroup parent when it stops; one left (it was killed) goes here.
    if [ -n "$port" ]; then
        for cg in /sys/fs/cgroup/*/"airlock-bench-$port" "/sys/fs/cgroup/airlock-bench-$port"; do
            [ -d "$cg" ] || continue
            echo "bench: $cg was left behind: removed" >&2
            find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
            rmdir "$cg" 2>/dev/null || echo "bench: could not remove $cg" >&2
        done
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { # message, file to show the end of
    echo "bench: $1" >&2
    [ -f "${2:-}" ] && tail -n 20 "$2" >&2
    exit 1
}
calc() { python3 -c "print($1)"; }

# --- the repository to adopt ------------------------------------------------------------------
roots=$dir/roots
repo=$roots/repo
mkdir -p "$roots"
as_owner() { "$@"; }
if $root; then
    install -d -o $owner -g $owner "$repo" "$dir/home"
    as_owner() { HOME=$dir/home setpriv --reuid $owner --regid $owner --clear-groups "$@"; }
else
    mkdir -p "$repo" "$dir/home"
fi
# shellcheck disable=SC2016 # expanded by the inner sh
HOME=$dir/home as_owner sh -c '
    set -e
    cd "$1"
    git -c init.defaultBranch=main init -q
    printf "# bench\n" >README.md
    mkdir src
    for i in 1 2 3 4 5 6 7 8; do printf "print(%d)\n" $i >src/m$i.py; done
    git add -A
    git -c user.name=bench -c user.email=bench@localhost commit -q -m initial' sh "$repo" ||
    die "could not make the repository $repo"

# --- the daemon ------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/airlockd.json" <<JSON
{"listen": "127.0.0.1:$port", "state_dir": "$dir/state", "policy_dir": "$PWD/policies",
 "cgroup_parent": "airlock-bench-$port", "max_running_jobs": 16, "max_queued_jobs": 64,
 "workspace_roots": ["$roots"]}
JSON
"$bin" --config "$dir/airlockd.json" >"$dir/log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 200); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.05; done
curl -sf "$url/healthz" >/dev/null || die "airlockd did not start" "$dir/log"
tok=$(cat "$dir/state/token")
api() { curl -s --max-time 120 -H "Authorization: Bearer $tok" "$@"; }
field() { # name: a field of the JSON object on stdin, or nothing
    python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1])
except ValueError:
    v = None
print("" if v is None else v)' "$1"
}
workspace() { # JSON body: prints the new workspace's id, or dies with the answer
    local out id
    out=$(api -H 'Content-Type: application/json' -d "$1" "$url/v1/workspaces")
    id=$(field id <<<"$out")
    [ -n "$id" ] || die "POST /v1/workspaces $1: $out"
    echo "$id"
}
ws_managed=$(workspace '{"labels":{"bench":"managed"}}')
ws_adopted=$(workspace "{\"host_path\":\"$repo\",\"labels\":{\"bench\":\"adopted\"}}")

ver() { "$@" 2>&1 | head -n 1 | grep -o '[0-9][0-9.]*[0-9]' | head -n 1; }
if $root; then who="as root: the repository belongs to uid $owner, jobs get an idmapped mount"
else who="as uid $(id -u): no idmap (the repository is the daemon's own user's)"; fi
printf 'workspace bench: airlockd %s %s, kernel %s, %s cores\n\n' "$(ver "$bin" --version)" \
    "$who" "$(uname -r)" "$(nproc)"

# --- 1. job start -----------------------------------------------------------------------------
mkdir "$dir/j"
printf '{"command":["true"],"wait":true}' >"$dir/j/body-fresh"
printf '{"command":["true"],"wait":true,"workspace":"%s"}' "$ws_managed" >"$dir/j/body-managed"
printf '{"command":["true"],"wait":true,"workspace":"%s"}' "$ws_adopted" >"$dir/j/body-adopted"
: >"$dir/j/times"
for i in $(seq -2 "$n_jobs"); do # 3 rounds of warm-up, then N measured; the kinds interleaved
    for kind in fresh managed adopted; do
        t=$(curl -s --max-time 60 -o "$dir/j/$kind-$i.json" -w '%{time_total}' \
            -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
            --data-binary @"$dir/j/body-$kind" "$url/v1/jobs") || t=-
        [ "$i" -le 0 ] || echo "$kind $i $t" >>"$dir/j/times"
    done
done
sleep 0.2 # the last job.start lines are in the log
python3 - "$dir/j" "$dir/log" "$n_jobs" "$root" <<'PY'
import json, os, re, sys
d, log, n, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "true"
spawn = {}
for line in open(log, errors="replace"):
    m = re.search(r"job\.start .*\bjob (\S+) .*\bspawn ([\d.]+)ms", line)
    if m:
        spawn[m.group(1)] = float(m.group(2))
def pct(xs, p):  # nearest rank
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)] if xs else None
rows = {}
for line in open(os.path.join(d, "times")):
    kind, i, t = line.split()
    r = rows.setdefault(kind, {"wall": [], "spawn": [], "bad": []})
    try:
        job = json.load(open(os.path.join(d, "%s-%s.json" % (kind, i))))
    except (OSError, ValueError):
        job = {}
    if t == "-" or job.get("status") != "succeeded":
        r["bad"].append(job.get("status") or "no answer")
        continue
    r["wall"].append(float(t) * 1000)
    if job.get("id") in spawn:
        r["spawn"].append(spawn[job["id"]])
names = {"fresh": "a fresh workspace of its own",
         "managed": "a managed persistent workspace",
         "adopted": ("the adopted repository (idmapped mount, 3 protected paths)" if root else
                     "the adopted repository (3 protected paths; no idmap, not root)")}
fmt = lambda v: "-" if v is None else "%.2f" % v
base = {k: pct(rows.get("fresh", {}).get(k, []), 50) for k in ("wall", "spawn")}
print('| POST /v1/jobs {"command":["true"],"wait":true}, N=%d each, interleaved | round trip p50 ms '
      '| p90 ms | daemon "spawn" p50 ms | p90 ms | p50 / fresh (round trip, spawn) |' % n)
print("|---|---|---|---|---|---|")
for kind in ("fresh", "managed", "adopted"):
    r = rows.get(kind, {"wall": [], "spawn": [], "bad": []})
    w50, s50 = pct(r["wall"], 50), pct(r["spawn"], 50)
    ratio = "%.2f, %.2f" % (w50 / base["wall"], s50 / base["spawn"]) if w50 and s50 and base["wall"] and base["spawn"] else "-"
    note = ""
    if r["bad"]:
        note = " (**%d of %d failed**: %s)" % (len(r["bad"]), len(r["bad"]) + len(r["wall"]),
                                              ", ".join(sorted(set(r["bad"]))))
    if len(r["spawn"]) != len(r["wall"]):
        note += " (spawn found in the log for %d of %d)" % (len(r["spawn"]), len(r["wall"]))
    print("| %s%s | %s | %s | %s | %s | %s |" % (names[kind], note, fmt(w50), fmt(pct(r["wall"], 90)),
                                                  fmt(s50), fmt(pct(r["spawn"], 90)), ratio))
PY
echo

# --- 2. a 1 GiB upload and download ----------------------------------------------------------
# nginx (if installed) with the WebDAV module serves PUT and GET from $dir/dav; its request
# bodies are buffered in $dir/ngx/body, on the same filesystem, and renamed into place.
ngx_port=""
if command -v nginx >/dev/null && nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
    ngx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    n=$dir/ngx
    mkdir -p "$n" "$dir/dav"
    user_line=""
    $root && user_line="user root root;"
    cat >"$n/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path $n/body;
    proxy_temp_path $n/proxy;
    fastcgi_temp_path $n/fastcgi;
    uwsgi_temp_path $n/uwsgi;
    scgi_temp_path $n/scgi;
    server {
        listen 127.0.0.1:$ngx_port;
        root $dir/dav;
        client_max_body_size 0;
        dav_methods PUT DELETE;
        dav_access user:rw group:r all:r;
    }
}
CONF
    nginx -p "$n/" -e "$n/error.log" -c "$n/nginx.conf" >"$n/stderr.log" 2>&1 &
    ngx_pid=$!
    for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$ngx_port/" && break; sleep 0.05; done
    curl -s -o /dev/null "http://127.0.0.1:$ngx_port/" || {
        echo "bench: nginx did not start; cp only" >&2
        tail -n 5 "$n/error.log" >&2
        stop "$ngx_pid"
        ngx_port="" ngx_pid=""
    }
else
    echo "bench: no nginx with the WebDAV module (apt-get install nginx-light): cp only" >&2
fi

big=$dir/big.bin
head -c $big_bytes /dev/urandom >"$big"
sync "$big" # its writeback would otherwise fall on the first round
# The first touch of a VM's memory is slow (the host backs the page then): one untimed copy,
# so that the first round does not pay for it.
cp "$big" "$dir/warm.bin"
rm -f "$dir/warm.bin"
ws_big=$(workspace '{"labels":{"bench":"transfer"},"disk_mb":4096}')
ws_dir=$dir/state/workspaces/$ws_big
[ -d "$ws_dir" ] || die "the workspace's directory $ws_dir is not there"
put_url=$url/v1/workspaces/$ws_big/files/big.bin

# timed NAME FILE-WRITTEN COMMAND...: runs COMMAND, then `sync FILE`; appends
# "NAME seconds-to-write seconds-to-synced" to $dir/xfer, or "NAME - -" when COMMAND failed.
timed() {
    local name=$1 file=$2 t0 t1 t2 ok=true
    shift 2
    t0=$EPOCHREALTIME
    "$@" || ok=false
    t1=$EPOCHREALTIME
    if $ok && [ "$(stat -c %s "$file" 2>/dev/null)" = $big_bytes ]; then
        sync "$file"
        t2=$EPOCHREALTIME
        echo "$name $(calc "$t1 - $t0") $(calc "$t2 - $t0")" >>"$dir/xfer"
    else
        echo "bench: $name failed: $(cat "$dir/answer" 2>/dev/null)" >&2
        echo "$name - -" >>"$dir/xfer"
    fi
}
http_ok() { # "codes", output file, curl args: ok if curl ran and the status is one of codes
    local codes=$1 out=$2 code
    shift 2
    code=$(curl -s --max-time 120 -o "$out" -w '%{http_code}' "$@") || {
        echo "curl exited $?" >"$dir/answer"
        return 1
    }
    case " $codes " in *" $code "*) return 0 ;; esac
    echo "HTTP $code $(head -c 200 "$out" | tr -c '[:print:]' '?')" >"$dir/answer"
    return 1
}
status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || echo "bench: cannot reset VmHWM; it is the peak since the start" >&2
rss_before=$(status VmRSS)
: >"$dir/xfer"
checked=false
for _ in 1 2 3; do
    timed "cp" "$dir/cp.bin" cp "$big" "$dir/cp.bin"
    rm -f "$dir/cp.bin"
    timed "airlockd PUT" "$ws_dir/big.bin" http_ok "201 200" "$dir/answer" -H "Authorization: Bearer $tok" -T "$big" "$put_url"
    timed "airlockd GET" "$dir/down.bin" http_ok "200" "$dir/down.bin" -H "Authorization: Bearer $tok" "$put_url"
    $checked || cmp -s "$big" "$dir/down.bin" || echo "bench: airlockd's GET differs from the file put" >&2
    rm -f "$dir/down.bin"
    api -X DELETE -o /dev/null "$put_url"
    if [ -n "$ngx_port" ]; then
        timed "nginx PUT" "$dir/dav/big.bin" http_ok "201 204" "$dir/answer" -T "$big" "http://127.0.0.1:$ngx_port/big.bin"
        timed "nginx GET" "$dir/down.bin" http_ok "200" "$dir/down.bin" "http://127.0.0.1:$ngx_port/big.bin"
        $checked || cmp -s "$big" "$dir/down.bin" || echo "bench: nginx's GET differs from the file put" >&2
        rm -f "$dir/down.bin" "$dir/dav/big.bin"
    fi
    checked=true
done
hwm_after=$(status VmHWM)
rss_after=$(status VmRSS)
python3 - "$dir/xfer" $big_bytes <<'PY'
import statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    name, w, s = line.rsplit(" ", 2)
    if name not in rows:
        rows[name] = []
        order.append(name)
    rows[name].append(None if w == "-" else (float(w), float(s)))
size = int(sys.argv[2])
mbs = lambda t: size / 1e6 / t
def med(name, i):
    xs = [mbs(r[i]) for r in rows.get(name, []) if r]
    return statistics.median(xs) if xs else None
what = {"cp": "cp (the baseline: the same file into the same filesystem)",
        "airlockd PUT": "airlockd PUT (curl -T, streamed)", "airlockd GET": "airlockd GET (curl -o)",
        "nginx PUT": "nginx WebDAV PUT (curl -T)", "nginx GET": "nginx GET (curl -o)"}
print("| 1 GiB, 3 rounds | MB/s, each round | median MB/s | / cp | / nginx | until `sync FILE` returned: median MB/s | / cp |")
print("|---|---|---|---|---|---|---|")
f = lambda v: "-" if v is None else "%.0f" % v
r = lambda a, b: "-" if a is None or not b else "%.2f" % (a / b)
for name in order:
    each = " / ".join("failed" if x is None else "%.0f" % mbs(x[0]) for x in rows[name])
    m0, m1 = med(name, 0), med(name, 1)
    peer = "nginx " + name.split()[-1] if name.startswith("airlockd") else None
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        what.get(name, name), each, f(m0), r(m0, med("cp", 0)),
        r(m0, med(peer, 0)) if peer in rows else "", f(m1), r(m1, med("cp", 1))))
PY
echo
echo "daemon memory: VmRSS before the transfers ${rss_before} kB, VmHWM (peak) during them" \
    "${hwm_after} kB, VmRSS after ${rss_after} kB"
rm -f "$big"
echo

# --- 3. ?follow=true -------------------------------------------------------------------------
lines=50
script="i=1; while [ \$i -le $lines ]; do echo \"line \$i of $lines: the quick brown fox jumps over the lazy dog\"; i=\$((i+1)); sleep 0.1; done"
sh -c "$script" >"$dir/expected" 2>/dev/null &
exp_pid=$!
python3 -c 'import json, sys; print(json.dumps({"command": ["sh", "-c", sys.argv[1]]}))' "$script" >"$dir/follow-body"
tck=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'; }
declare -A cpu_ms threads_before threads_max ok_count sums
follow_run() { # followers
    local n=$1 t0 id p k th fails=0 f
    rm -rf "$dir/f"
    mkdir "$dir/f"
    threads_before[$n]=$(status Threads)
    threads_max[$n]=${threads_before[$n]}
    t0=$(ticks)
    id=$(api -H 'Content-Type: application/json' --data-binary @"$dir/follow-body" "$url/v1/jobs" | field id)
    [ -n "$id" ] || die "POST /v1/jobs for the follow run was refused" "$dir/log"
    follower_pids=""
    for k in $(seq "$n"); do
        curl -N -s --max-time 60 -H "Authorization: Bearer $tok" -o "$dir/f/$k.out" \
            "$url/v1/jobs/$id/stdout?follow=true" &
        follower_pids="$follower_pids $!"
    done
    while :; do
        th=$(status Threads)
        [ "$th" -le "${threads_max[$n]}" ] || threads_max[$n]=$th
        left=false
        for p in $follower_pids; do alive "$p" && { left=true; break; }; done
        $left || break
        sleep 0.2
    done
    for p in $follower_pids; do wait "$p" || fails=$((fails + 1)); done
    follower_pids=""
    cpu_ms[$n]=$(( ($(ticks) - t0) * 1000 / tck ))
    ok_count[$n]=$((n - fails))
    # One sha256 for all, and the one of what the same script printed on the host?
    f=$(sha256sum "$dir"/f/*.out | awk '{print $1}' | sort | uniq -c | sort -rn)
    wait "$exp_pid" 2>/dev/null || true
    exp=$(sha256sum <"$dir/expected" | awk '{print $1}')
    if [ "$(wc -l <<<"$f")" = 1 ]; then
        sums[$n]="all identical ($(head -c 12 <<<"${f##* }")..., $(wc -c <"$dir/f/1.out") bytes)"
    else
        sums[$n]="**$(wc -l <<<"$f") different outputs** (counts: $(awk '{printf "%s ", $1}' <<<"$f"))"
    fi
    if grep -q " $exp\$" <<<"$f"; then
        sums[$n]="${sums[$n]}; the job's lines: $(awk -v e="$exp" '$2 == e {print $1}' <<<"$f") of $n"
    else
        sums[$n]="${sums[$n]}; **none is the job's lines**"
    fi
    api -X DELETE -o /dev/null "$url/v1/jobs/$id"
}
follow_run 1
follow_run $n_followers
echo "| ?follow=true, one job printing a line every 100 ms for 5 s | daemon CPU ms (utime+stime) | threads before | threads during (max) | followers exit 0 | outputs (sha256) |"
echo "|---|---|---|---|---|---|"
for n in 1 $n_followers; do
    printf '| %s follower%s | %s | %s | %s | %s / %s | %s |\n' "$n" "$([ "$n" = 1 ] || echo s)" \
        "${cpu_ms[$n]}" "${threads_before[$n]}" "${threads_max[$n]}" "${ok_count[$n]}" "$n" \
        "${sums[$n]}"
done
echo
python3 - "$n_followers" "$lines" "${cpu_ms[1]}" "${cpu_ms[$n_followers]}" "$tck" <<'PY'
import sys
n, lines, c1, cn, tck = map(int, sys.argv[1:])
print("daemon CPU per extra follower and line: %.0f µs ((%d - %d) ms / %d followers / %d lines;"
      " /proc counts in %d ms ticks)" % ((cn - c1) * 1000 / ((n - 1) * lines), cn, c1, n - 1, lines,
                                         1000 // tck))
PY

if grep -E '^[^ ]+ (warn|error) ' "$dir/log" | grep -v 'no "default" policy' >"$dir/warn"; then
    echo "bench: airlockd logged $(wc -l <"$dir/warn") warnings or errors; the first ones:" >&2
    head -n 5 "$dir/warn" >&2
fi
