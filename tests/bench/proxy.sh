#!/usr/bin/env bash
# make bench (proxy part): the egress proxy side by side with tinyproxy and squid, on loopback.
#
# An upstream nginx (2 workers, access log off) serves a 100-byte file over HTTP and a 1 GiB
# file over HTTP and over TLS (self-signed, CN/SAN localhost). Then, in one run:
#   - GET /small with wrk --latency at 1 connection (-t1 -c1) and 50 (-t2 -c50), BENCH_SECONDS
#     each: direct to nginx, through tinyproxy, through squid and through airlockd. airlockd's
#     proxy is only reachable from inside a job, so that wrk runs in a job (policy "bench") and
#     sends to 127.0.0.1:3128 there; tinyproxy and squid are given the same absolute-form
#     requests by the same wrk script from the host.
#   - the latency a proxy adds at 1 connection: its p50 minus the direct p50, and the CPU time
#     the proxy process spent per request (all its threads, user + system; for airlockd the
#     whole daemon: proxy, audit writer and log);
#   - throughput of GET /big (1 GiB) with curl, over plain HTTP and through a CONNECT tunnel
#     (https://localhost:TLS/big): direct, with -x through tinyproxy and squid, and in a job
#     through airlockd (curl there takes HTTP(S)_PROXY from the job's environment); best of 3,
#     the rounds interleaved.
# and the ratios the design's targets are stated in. Prints Markdown; asserts nothing (the
# machine is a shared 2-core VM: the numbers move by 10-30 % between runs).
#
# A row whose requests were answered with anything but 2xx/3xx, or that got no answer at all,
# is reported as failed with the counts and the proxy's answer to one probe request; it never
# shows a rate. The egress counts the daemon recorded for its wrk jobs are printed beside wrk's,
# and warnings in the daemon's log go to stderr.
set -eu
cd "$(dirname "$0")/../.."
PATH=$PATH:/usr/sbin:/sbin
secs=${BENCH_SECONDS:-5}
bin=${AIRLOCKD:-build/airlockd}
for tool in wrk nginx tinyproxy squid openssl curl python3; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool is missing (make bench installs wrk nginx-light tinyproxy squid openssl)" >&2
        exit 1
    }
done
[ -x "$bin" ] || { echo "bench: $bin is missing (make $bin)" >&2; exit 1; }
# The jobs see the policy's default binds (/usr, /bin, ...): wrk and curl must be in them.
for tool in wrk curl; do
    case $(readlink -f "$(command -v $tool)") in
    /usr/* | /bin/*) ;;
    *) echo "bench: $(command -v $tool) is outside /usr and /bin: a job cannot run it" >&2; exit 1 ;;
    esac
done

dir=$(mktemp -d /tmp/airlock-proxybench-XXXXXX)
pids=""
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
cleanup() {
    local p left
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do # 5 s for all to stop, then SIGKILL
        left=""
        for p in $pids; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.05
    done
    for p in $left; do
        echo "bench: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) (pid $p) did not stop on SIGTERM within 5 s: killed" >&2
        kill -KILL "$p" 2>/dev/null || true
    done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Five distinct free loopback ports: upstream HTTP and TLS, tinyproxy, squid, the daemon's API.
read -r http_port tls_port tp_port sq_port api_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')

up() { # URL [curl args...]: wait until it answers (at most 10 s)
    local url=$1; shift
    for _ in $(seq 200); do curl -s -o /dev/null "$@" "$url" && return 0; sleep 0.05; done
    return 1
}
die() { # message, log file
    echo "bench: $1" >&2
    [ -f "${2:-}" ] && tail -n 20 "$2" >&2
    exit 1
}

# A system proxy or web server left running by a package only takes CPU from the runs below.
for svc in squid tinyproxy nginx; do
    if pgrep -x "$svc" >/dev/null 2>&1; then
        echo "bench: note: a $svc not started by this script is running (pids $(pgrep -x "$svc" | tr '\n' ' '))" >&2
    fi
done

# --- the upstream ----------------------------------------------------------------------------
# Workers and squid's effective user (when we are root) must reach the files in here.
chmod 755 "$dir"
mkdir -p "$dir/www" "$dir/nginx"
printf '%0100d' 0 >"$dir/www/small"
fallocate -l 1G "$dir/www/big" 2>/dev/null ||
    dd if=/dev/zero of="$dir/www/big" bs=1M count=1024 status=none
big_bytes=$(stat -c %s "$dir/www/big")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$dir/nginx/key.pem" -out "$dir/nginx/cert.pem" 2>/dev/null
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;" # the workers stay the current user
n=$dir/nginx
cat >"$n/nginx.conf" <<CONF
$user_line
worker_processes 2;
daemon off;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $n/body;
    proxy_temp_path $n/proxy;
    fastcgi_temp_path $n/fastcgi;
    uwsgi_temp_path $n/uwsgi;
    scgi_temp_path $n/scgi;
    server {
        listen 127.0.0.1:$http_port;
        root $dir/www;
    }
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $n/cert.pem;
        ssl_certificate_key $n/key.pem;
        root $dir/www;
    }
}
CONF
nginx -p "$n/" -e "$n/error.log" -c "$n/nginx.conf" >"$n/stderr.log" 2>&1 &
pids="$pids $!"
up "http://127.0.0.1:$http_port/small" || die "nginx did not start" "$n/error.log"

# --- tinyproxy -------------------------------------------------------------------------------
t=$dir/tinyproxy
mkdir -p "$t"
cat >"$t/tinyproxy.conf" <<CONF
Port $tp_port
Listen 127.0.0.1
Timeout 600
MaxClients 256
Allow 127.0.0.1
ConnectPort $tls_port
DisableViaHeader Yes
PidFile "$t/tinyproxy.pid"
LogFile "$t/tinyproxy.log"
LogLevel Error
CONF
tinyproxy -d -c "$t/tinyproxy.conf" >>"$t/tinyproxy.log" 2>&1 &
pids="$pids $!"
declare -A pid_of
pid_of[tinyproxy]=$!
up "http://127.0.0.1:$http_port/small" -x "http://127.0.0.1:$tp_port" ||
    die "tinyproxy did not start" "$t/tinyproxy.log"

# --- squid -----------------------------------------------------------------------------------
# No cache_dir, so no swap directories and no `squid -z`; everything it writes is in $s. As
# root, squid refuses to stay root: it becomes cache_effective_user, which must own $s.
s=$dir/squid
mkdir -p "$s"
sq_user=""
if [ "$(id -u)" = 0 ]; then
    sq_user=proxy
    id proxy >/dev/null 2>&1 || sq_user=nobody
    chown "$sq_user" "$s"
fi
cat >"$s/squid.conf" <<CONF
http_port 127.0.0.1:$sq_port
acl upstream dst 127.0.0.1/32
acl upstream_ports port $http_port $tls_port
acl tls_port port $tls_port
http_access deny CONNECT !tls_port
http_access allow localhost upstream upstream_ports
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log $s/cache.log
pid_filename $s/squid.pid
coredump_dir $s
netdb_filename none
pinger_enable off
via off
forwarded_for delete
shutdown_lifetime 1 second
max_filedescriptors 4096
${sq_user:+cache_effective_user $sq_user}
CONF
squid -N -f "$s/squid.conf" >>"$s/stderr.log" 2>&1 &
pids="$pids $!"
pid_of[squid]=$!
up "http://127.0.0.1:$http_port/small" -x "http://127.0.0.1:$sq_port" ||
    die "squid did not start" "$s/cache.log"

# --- airlockd --------------------------------------------------------------------------------
a=$dir/airlock
mkdir -p "$a/policies"
job_timeout=$((secs + 60))
cat >"$a/policies/bench.json" <<JSON
{"description": "make bench: the proxy benchmark's upstream on loopback, nothing else",
 "network": {"allow": [{"cidr": "127.0.0.1/32", "ports": [$http_port, $tls_port]},
                       {"host": "localhost", "ports": [$tls_port]}]},
 "limits": {"timeout_s": $((job_timeout > 300 ? job_timeout : 300)),
            "cpu_s": $((2 * job_timeout > 300 ? 2 * job_timeout : 300))}}
JSON
cat >"$a/airlockd.json" <<JSON
{"listen": "127.0.0.1:$api_port", "state_dir": "$a/state", "policy_dir": "$a/policies",
 "cgroup_parent": "airlock-proxybench-$api_port", "max_running_jobs": 4, "max_queued_jobs": 16}
JSON
"$bin" --config "$a/airlockd.json" >"$a/log" 2>&1 &
pids="$pids $!"
pid_of[airlockd]=$!
up "http://127.0.0.1:$api_port/healthz" || die "airlockd did not start" "$a/log"
tok=$(cat "$a/state/token")

# job TIMEOUT_S COMMAND...: runs COMMAND in a job of policy "bench" with wrk's script in its
# workspace, waits for the end, prints its stdout; the job object is left in $a/job.json.
job() {
    local timeout=$1; shift
    # Once the daemon has not answered, every later job would wait as long: give up on it.
    [ -e "$a/no-answer" ] && return 1
    python3 - "$LUA" "$timeout" "$@" >"$a/req.json" <<'PY'
import json, sys
print(json.dumps({"command": sys.argv[3:], "policy": "bench", "wait": True,
                  "timeout_s": int(sys.argv[2]), "files": {"req.lua": open(sys.argv[1]).read()}}))
PY
    if ! curl -s --max-time $((timeout + 30)) -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' --data-binary @"$a/req.json" \
        "http://127.0.0.1:$api_port/v1/jobs" >"$a/job.json"; then
        touch "$a/no-answer"
        echo "bench: POST /v1/jobs ($*) got no answer within $((timeout + 30)) s; the daemon's log ends:" >&2
        tail -n 5 "$a/log" >&2
        return 1
    fi
    local id status
    read -r id status < <(python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(j.get("id", "-"), j.get("status", json.dumps(j)))
except ValueError:
    print("-", "(not JSON)")' "$a/job.json")
    [ "$id" = - ] || echo "$id" >"$a/id"
    if [ "$status" != succeeded ]; then
        echo "bench: job $id ($*) ended $status: $(head -c 600 "$a/job.json")" >&2
        [ "$id" = - ] && return 1
        curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$api_port/v1/jobs/$id/stderr" | tail -n 5 >&2
    fi
    curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$api_port/v1/jobs/$id/stdout"
}

# wrk's request for the proxies: absolute form, Host of the upstream. Static (no per-request
# Lua function), so wrk spends the same per request as in the direct runs.
LUA=$dir/req.lua
cat >"$LUA" <<LUA
wrk.path = "http://127.0.0.1:$http_port/small"
wrk.headers["Host"] = "127.0.0.1:$http_port"
LUA

# --- one probe request through each, to name what is wrong when a row fails ----------------
probe_out() { # the status line, X-Airlock-Deny and body size of one answer (curl -si output)
    python3 -c '
import sys
d = sys.stdin.buffer.read()
head, _, body = d.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
deny = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("x-airlock-deny:")]
print((lines[0] or "no answer") + (" (X-Airlock-Deny: %s)" % deny[0] if deny else "") +
      ", %d body bytes" % len(body))'
}
declare -A probe
probe[tinyproxy]=$(curl -si --max-time 10 -x "http://127.0.0.1:$tp_port" "http://127.0.0.1:$http_port/small" | probe_out)
probe[squid]=$(curl -si --max-time 10 -x "http://127.0.0.1:$sq_port" "http://127.0.0.1:$http_port/small" | probe_out)
probe[airlockd]=$(job 30 curl -si --max-time 10 "http://127.0.0.1:$http_port/small" | probe_out)

# --- requests --------------------------------------------------------------------------------
# wrk_parse NAME FILE: sets rps/p50/p99 (ms) and total/bad/err of wrk's output in FILE.
declare -A rps p50 p99 total bad errs
wrk_parse() {
    local key=$1 f
    f=$(python3 - "$2" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m|h)\s*$" % p, out, re.M)
    return "%.3f" % (float(m.group(1)) * unit[m.group(2)]) if m else "-"
m = re.search(r"Requests/sec:\s+([\d.]+)", out)
r = m.group(1) if m else "-"
m = re.search(r"(\d+) requests in", out)
n = m.group(1) if m else "0"
m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
b = m.group(1) if m else "0"
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
e = sum(map(int, m.groups())) if m else 0
print(r, lat(50), lat(99), n, b, e)
PY
)
    read -r "rps[$key]" "p50[$key]" "p99[$key]" "total[$key]" "bad[$key]" "errs[$key]" <<<"$f"
}
ok() { [ "${total[$1]}" -gt 0 ] && [ "${bad[$1]}" = 0 ] && [ "${rps[$1]}" != - ]; }

# The CPU time (user + system, all threads) a proxy process used during a run, per request.
tck=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
declare -A cpu
measure() { # via, c, wrk command...
    local via=$1 c=$2 t0=""; shift 2
    [ "$via" = direct ] || t0=$(ticks "${pid_of[$via]}")
    "$@" >"$dir/out" || true
    wrk_parse "$via/$c" "$dir/out"
    cpu[$via/$c]=""
    [ -z "$t0" ] || [ "${total[$via/$c]}" = 0 ] ||
        cpu[$via/$c]=$(( ($(ticks "${pid_of[$via]}") - t0) * 1000000 / tck / ${total[$via/$c]} ))
}
for c in 1 50; do
    if [ $c = 1 ]; then w=(-t1 -c1); else w=(-t2 -c50); fi
    w+=(-d"${secs}s" --latency)
    measure direct $c wrk "${w[@]}" "http://127.0.0.1:$http_port/small"
    measure tinyproxy $c wrk "${w[@]}" -s "$LUA" "http://127.0.0.1:$tp_port/"
    measure squid $c wrk "${w[@]}" -s "$LUA" "http://127.0.0.1:$sq_port/"
    rm -f "$a/id"
    measure airlockd $c job "$job_timeout" wrk "${w[@]}" -s req.lua "http://127.0.0.1:3128/"
    [ ! -e "$a/id" ] || cp "$a/id" "$a/id-$c"
done

calc() { python3 -c "print($1)"; }
added() { # via: p50 at c=1 minus direct's, in ms
    ok "$1/1" && ok direct/1 && calc "'%.3f' % (${p50[$1/1]} - ${p50[direct/1]})" || echo -
}

ver() { "$@" 2>&1 | head -n 1 | grep -o '[0-9][0-9.]*[0-9]' | head -n 1; }
printf 'proxy bench: BENCH_SECONDS=%s, nginx %s (2 workers), tinyproxy %s, squid %s, wrk %s, curl %s, airlockd %s\n\n' \
    "$secs" "$(ver nginx -v)" "$(ver tinyproxy -v)" "$(ver squid -v)" "$(ver wrk -v)" \
    "$(ver curl --version)" "$(ver "$bin" --version)"
echo "| GET /small (100 B) | connections | requests/s | p50 ms | p99 ms | socket errors | added p50 ms at c=1 | proxy CPU µs/request |"
echo "|---|---|---|---|---|---|---|---|"
for via in direct tinyproxy squid airlockd; do
    for c in 1 50; do
        k=$via/$c
        name=$via
        [ $via = direct ] || name="via $via"
        if ok "$k"; then
            extra=""
            [ $c = 1 ] && [ $via != direct ] && extra=$(added $via)
            printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$c" "${rps[$k]}" \
                "${p50[$k]}" "${p99[$k]}" "${errs[$k]}" "$extra" "${cpu[$k]}"
        else
            if [ "${total[$k]}" -gt 0 ]; then
                why="${bad[$k]} of ${total[$k]} answers not 2xx/3xx, ${errs[$k]} socket errors"
            elif [ "${rps[$k]}" = - ]; then
                why="wrk did not run (see the messages on stderr)"
            else
                why="no answer at all, ${errs[$k]} socket errors"
            fi
            printf '| %s | %s | **failed**: %s; one probe request: %s | | | | | |\n' \
                "$name" "$c" "$why" "${probe[$via]:-}"
        fi
    done
done
# What the daemon recorded for its two wrk jobs: every request wrk completed is an allowed event
# (a few more may have been cut by wrk's end).
[ ! -e "$a/id-1" ] && [ ! -e "$a/id-50" ] || echo
for c in 1 50; do
    [ -e "$a/id-$c" ] || continue
    curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$api_port/v1/jobs/$(cat "$a/id-$c")" |
        python3 -c '
import json, sys
e = json.load(sys.stdin).get("egress") or {}
print("- airlockd audit, c=%s: egress allowed %s, denied %s; wrk counted %s answers" %
      (sys.argv[1], e.get("allowed"), e.get("denied"), sys.argv[2]))' "$c" "${total[airlockd/$c]}"
done
[ "${errs[tinyproxy/1]}" = 0 ] || {
    echo
    echo "tinyproxy closes the client's connection after every answer, without a Connection: close:"
    echo "wrk counts each close as a read error and reconnects, so its rows include a TCP connect"
    echo "per request."
}
echo

# --- throughput: GET /big (1 GiB) over plain HTTP and through a CONNECT tunnel (TLS) ----------
# Each curl prints: HTTP status, CONNECT status, bytes, bytes/s. A run counts only when the whole
# file came with a 200. A transfer slower than 1 MiB/s for 10 s is given up. Best of 3, the
# rounds interleaved.
cw='%{http_code} %{http_connect} %{size_download} %{speed_download}\n'
slow=(-y 10 -Y 1048576)
declare -A best xfer_note
xfer() { # via/kind, lines of curl -w output
    local key=$1 code conn size speed
    while read -r code conn size speed; do
        if [ "$code" = 200 ] && [ "$size" = "$big_bytes" ]; then
            speed=${speed%.*}
            [ "${best[$key]:-0}" -ge "$speed" ] || best[$key]=$speed
        else
            xfer_note[$key]="HTTP $code, CONNECT answered $conn, $size bytes"
        fi
    done
}
for _ in 1 2 3; do
    for kind in http tls; do
        if [ $kind = http ]; then url="http://127.0.0.1:$http_port/big"; else url="https://localhost:$tls_port/big"; fi
        xfer "direct/$kind" < <(curl "${slow[@]}" -k -s -o /dev/null -w "$cw" "$url" || true)
        xfer "tinyproxy/$kind" < <(curl "${slow[@]}" -k -s -o /dev/null -w "$cw" -x "http://127.0.0.1:$tp_port" "$url" || true)
        xfer "squid/$kind" < <(curl "${slow[@]}" -k -s -o /dev/null -w "$cw" -x "http://127.0.0.1:$sq_port" "$url" || true)
        xfer "airlockd/$kind" < <(job 300 curl "${slow[@]}" -k -s -o /dev/null -w "$cw" "$url" 2>/dev/null || true)
    done
done
mib() { # via/kind
    if [ -n "${best[$1]:-}" ]; then
        calc "'%.0f' % (${best[$1]} / 1048576)"
    else
        echo "**failed**: ${xfer_note[$1]:-no answer}"
    fi
}
echo "| GET /big (1 GiB), best of 3 | plain HTTP MiB/s | CONNECT tunnel (TLS) MiB/s |"
echo "|---|---|---|"
for via in direct tinyproxy squid airlockd; do
    name=$via
    [ $via = direct ] || name="via $via"
    printf '| %s | %s | %s |\n' "$name" "$(mib "$via/http")" "$(mib "$via/tls")"
done
echo

# --- the design's targets --------------------------------------------------------------------
r1=- r2=- r3=-
ok airlockd/50 && ok squid/50 && r1=$(calc "'%.2f' % (${rps[airlockd/50]} / ${rps[squid/50]})")
r2=$(added airlockd)
[ -n "${best[airlockd/tls]:-}" ] && [ -n "${best[direct/tls]:-}" ] &&
    r3=$(calc "'%.2f' % (${best[airlockd/tls]} / ${best[direct/tls]})")
target() { # description, value, unit, python test on v
    local m=n/a
    [ "$2" = - ] || m=$(calc "'yes' if (lambda v: $4)($2) else 'no'")
    [ "$2" = - ] && set -- "$1" "n/a (no airlockd number)" "" "$4"
    printf '| %s | %s%s | %s |\n' "$1" "$2" "$3" "$m"
}
echo "| target | measured | met |"
echo "|---|---|---|"
target "airlockd req/s at c=50 / squid's >= 1.5" "$r1" "" "v >= 1.5"
target "added latency (p50) at c=1 < 0.2 ms" "$r2" " ms" "v < 0.2"
target "tunnel MiB/s airlockd / direct >= 0.9" "$r3" "" "v >= 0.9"

# Anything the daemon found worth a warning during the runs (but the policy dir without a
# "default" policy, which is ours on purpose).
if grep -E '^[^ ]+ (warn|error) ' "$a/log" | grep -v 'no "default" policy' >"$dir/warn"; then
    echo "bench: airlockd logged $(wc -l <"$dir/warn") warnings or errors; the first ones:" >&2
    head -n 5 "$dir/warn" >&2
fi
