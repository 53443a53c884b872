#!/usr/bin/env python3
"""make bench (spawn part): the cost of starting a sandboxed job, side by side.

Measures, in one run on this machine, interleaved (bare, bwrap, airlock, bare, ...):
  - bare:    fork/exec of /bin/true (subprocess, no sandbox)
  - bwrap:   bwrap --unshare-all with /usr, /bin, /lib, /lib64 read-only, /proc, /dev, /tmp
  - airlock: POST /v1/jobs {"command": ["/bin/true"], "wait": true} against a running airlockd:
             the whole REST round trip, every layer and limit on
and airlock's throughput with 8 requests in flight. Prints a Markdown table.
Usage: spawn.py --url http://127.0.0.1:PORT --token TOKEN [--n 200]
"""
import argparse
import http.client
import json
import statistics
import subprocess
import threading
import time
import urllib.parse

BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def post(conn, token):
    body = json.dumps({"command": ["/bin/true"], "wait": True})
    conn.request("POST", "/v1/jobs", body,
                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    job = json.loads(data)
    if r.status != 200 or job.get("status") != "succeeded":
        raise SystemExit("airlock job did not succeed: %s %s" % (r.status, data[:300]))
    return job["id"]


def delete(conn, token, job_id):
    conn.request("DELETE", "/v1/jobs/" + job_id, headers={"Authorization": "Bearer " + token})
    conn.getresponse().read()


def throughput(host, port, token, total, inflight):
    done = []
    lock = threading.Lock()

    def worker(k):
        conn = http.client.HTTPConnection(host, port, timeout=60)
        for _ in range(k):
            post(conn, token)
            with lock:
                done.append(1)
    per = total // inflight
    threads = [threading.Thread(target=worker, args=(per,)) for _ in range(inflight)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(done) / (time.perf_counter() - t)


def row(name, ms, base):
    med = statistics.median(ms)
    p95 = sorted(ms)[int(len(ms) * 0.95) - 1]
    ratio = "%.2f" % (med / base) if base else "-"
    return "| %s | %.2f | %.2f | %s |" % (name, med, p95, ratio)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for _ in range(10):  # warm up: the pool of cgroups, the page cache
        delete(conn, a.token, post(conn, a.token))
    # Interleaved, one of each in turn: on a shared machine the load drifts, and running the
    # three one after the other would give whichever came first the quieter minutes.
    bare, bw, al, ids = [], [], [], []
    for _ in range(a.n):
        bare += timed(lambda: subprocess.run(["/bin/true"], check=True), 1)
        bw += timed(lambda: subprocess.run(BWRAP, check=True), 1)
        al += timed(lambda: ids.append(post(conn, a.token)), 1)
    for i in ids:
        delete(conn, a.token, i)
    bw_med = statistics.median(bw)
    print("| start /bin/true | median ms | p95 ms | ratio to bwrap |")
    print("|---|---|---|---|")
    print(row("bare fork/exec", bare, bw_med))
    print(row("bwrap --unshare-all", bw, bw_med))
    print(row("airlock POST /v1/jobs wait=true", al, bw_med))
    jps = throughput(u.hostname, u.port, a.token, 400, 8)
    print()
    print("airlock throughput, 8 in flight: %.0f jobs/s" % jps)


if __name__ == "__main__":
    main()
