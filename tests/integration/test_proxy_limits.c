/*
 * The proxy's own limits, each pushed by a job made to push it: connections per job and in
 * total (a job past its share waits in its listener's backlog, it does not take another job's
 * slots), the header timeout against a slow head (408 and an event), the idle timeout between
 * keep-alive requests, garbage on the port (400 and an event, the daemon unharmed), and a flood
 * of requests whose events are all stored. The daemon runs with small limits and timeouts so
 * each effect shows within seconds. No upstream is needed: the requests go to names no policy
 * allows, so the proxy answers them itself.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void
up(void)
{
    daemon_init(&d,
                "\"proxy_max_connections\": 6, \"proxy_max_connections_per_job\": 4,"
                " \"proxy_header_timeout_s\": 2, \"proxy_idle_timeout_s\": 2",
                true);
    daemon_start(&d);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(proxy_limits, .init = up, .fini = down, .timeout = 120);

/* Python run in a job: helpers to open connections and time a denied request. */
static const char py_lib[] =
    "import socket, time, sys\n"
    "def conn():\n"
    "    return socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
    "def ask(s, host='example.com'):\n"
    "    t = time.time()\n"
    "    s.sendall(('GET http://%s/ HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (host, host)).encode())\n"
    "    data = b''\n"
    "    while b'\\r\\n' not in data:\n"
    "        c = s.recv(4096)\n"
    "        if not c:\n"
    "            break\n"
    "        data += c\n"
    "    return data.split(b'\\r\\n')[0].decode('latin-1'), time.time() - t\n";

static json_t *
py_job(const char *body, int timeout_s)
{
    char *src = NULL;
    json_t *spec;

    cr_assert(asprintf(&src, "%s%s", py_lib, body) > 0);
    spec = json_pack("{s:[s,s,s], s:i}", "command", "python3", "-c", src, "timeout_s", timeout_s);
    free(src);
    return spec;
}

static long
ms_since(const struct timeval *t0)
{
    struct timeval t1;

    gettimeofday(&t1, NULL);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_usec - t0->tv_usec) / 1000;
}

/* A job holding its 4 connections idle: its 5th waits until the header timeout frees one,
 * while a neighbour is answered at once. */
Test(proxy_limits, a_job_past_its_connections_waits_and_its_neighbour_does_not)
{
    json_t *hog = py_job("held = [conn() for _ in range(4)]\n"
                         "time.sleep(0.5)\n"
                         "line, took = ask(conn())\n"
                         "print('fifth=%s' % line)\n"
                         "print('fifth_s=%.1f' % took)\n",
                         30);
    struct resp r = job_post(&d, hog);
    char *out, *v;
    json_t *job, *n;
    struct timeval t0;

    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    char *id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    json_decref(job_wait_running(&d, id, 10000));
    usleep(300 * 1000);
    gettimeofday(&t0, NULL);
    out =
        run_sh(&d, "curl -sS -o /dev/null -w 'code=%{http_code}\\n' http://example.com/", NULL, &n);
    cr_expect(kv_is(out, "code", "403"), "the neighbour got: %s", out);
    cr_expect(ms_since(&t0) < 1500, "the neighbour waited %ld ms", ms_since(&t0));
    free(out);
    json_decref(n);
    job = job_wait_end(&d, id, 30000);
    out = job_output(&d, id, "stdout");
    cr_expect(kv_is(out, "fifth", "HTTP/1.1 403 Forbidden"), "%s", out);
    v = kv(out, "fifth_s");
    /* Its held connections time out after 2 s (proxy_header_timeout_s): only then a slot. */
    cr_expect(v && atof(v) >= 1.0 && atof(v) < 10.0, "the fifth waited %s s", v ? v : "?");
    free(v);
    free(out);
    json_decref(job);
    json_decref(hog);
    free(id);
}

/* Two jobs of 3 idle connections each fill the total of 6: a third job waits, then gets in. */
Test(proxy_limits, the_total_is_shared)
{
    const char *hold = "held = [conn() for _ in range(3)]\ntime.sleep(4)\nprint('held')\n";
    json_t *a = py_job(hold, 30), *b = py_job(hold, 30);
    struct resp ra = job_post(&d, a), rb = job_post(&d, b);
    char *ida = strdup(jstr(ra.json, "id")), *idb = strdup(jstr(rb.json, "id"));
    struct timeval t0;
    char *out;
    json_t *n;

    resp_free(&ra);
    resp_free(&rb);
    json_decref(job_wait_running(&d, ida, 10000));
    json_decref(job_wait_running(&d, idb, 10000));
    sleep(1);
    gettimeofday(&t0, NULL);
    out = run_sh(&d, "curl -sS -m 20 -o /dev/null -w 'code=%{http_code}\\n' http://example.com/",
                 NULL, &n);
    cr_expect(kv_is(out, "code", "403"), "the third job got: %s", out);
    cr_expect(ms_since(&t0) >= 500, "the third job was not held back (%ld ms)", ms_since(&t0));
    free(out);
    json_decref(n);
    json_decref(job_wait_end(&d, ida, 30000));
    json_decref(job_wait_end(&d, idb, 30000));
    json_decref(a);
    json_decref(b);
    free(ida);
    free(idb);
}

static json_t *
egress_of(const char *id)
{
    char path[160];
    struct resp r;
    json_t *ev;

    snprintf(path, sizeof(path), "/v1/jobs/%s/egress", id);
    r = http_get(&d, path);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ev = json_incref(json_object_get(r.json, "events"));
    resp_free(&r);
    return ev;
}

static size_t
count_reason(json_t *events, const char *reason)
{
    size_t i, n = 0;
    json_t *e;

    json_array_foreach(events, i, e) if (strcmp(jstr(e, "reason"), reason) == 0) n++;
    return n;
}

/* A head sent a byte at a time, slower than the header timeout: 408, recorded. */
Test(proxy_limits, a_slow_head_is_cut_off)
{
    json_t *spec = py_job("s = conn()\n"
                          "t = time.time()\n"
                          "try:\n"
                          "    for b in b'GET http://example.com/ HTTP/1.1\\r\\nHost: x\\r\\n':\n"
                          "        s.sendall(bytes([b]))\n"
                          "        time.sleep(0.2)\n"
                          "except OSError as e:\n"
                          "    print('send_error=%s' % e)\n"
                          "data = s.recv(4096)\n"
                          "print('answer=%s' % data.split(b'\\r\\n')[0].decode())\n"
                          "print('after_s=%.1f' % (time.time() - t))\n",
                          30);
    json_t *job = job_run(&d, spec), *ev;
    const char *id = jstr(job, "id");
    char *out = job_output(&d, id, "stdout"), *v;

    cr_expect(kv_is(out, "answer", "HTTP/1.1 408 Request Timeout"), "%s", out);
    v = kv(out, "after_s");
    cr_expect(v && atof(v) < 6.0, "cut off after %s s", v ? v : "?");
    free(v);
    ev = egress_of(id);
    cr_expect_eq(count_reason(ev, "request_timeout"), 1, "%s", jdump(ev));
    json_decref(ev);
    free(out);
    json_decref(job);
}

/* A connection that never sends a byte is closed after the header timeout, with no event:
 * no request was made. */
Test(proxy_limits, a_silent_connection_is_closed_without_an_event)
{
    json_t *spec = py_job("s = conn()\n"
                          "t = time.time()\n"
                          "print('idle_read=%r' % s.recv(10))\n"
                          "print('idle_s=%.1f' % (time.time() - t))\n",
                          30);
    json_t *job = job_run(&d, spec), *ev;
    char *out = job_output(&d, jstr(job, "id"), "stdout"), *v;

    cr_expect(kv_is(out, "idle_read", "b''"), "%s", out);
    v = kv(out, "idle_s");
    cr_expect(v && atof(v) >= 1.0 && atof(v) < 8.0, "closed after %s s", v ? v : "?");
    ev = egress_of(jstr(job, "id"));
    cr_expect_eq(json_array_size(ev), 0, "%s", jdump(ev));
    json_decref(ev);
    free(v);
    free(out);
    json_decref(job);
}

/* Bytes that are not HTTP: a 400 with a reason, an event, and the daemon answers on. */
Test(proxy_limits, garbage_gets_a_400_and_an_event)
{
    json_t *spec = py_job("import os\n"
                          "for junk in [b'\\x16\\x03\\x01\\x00\\x05hello\\r\\n\\r\\n',"
                          " os.urandom(64) + b'\\r\\n\\r\\n', b'\\x00' * 16,"
                          " b'SSH-2.0-OpenSSH_9.2\\r\\n']:\n"
                          "    s = conn()\n"
                          "    s.sendall(junk)\n"
                          "    d = s.recv(4096)\n"
                          "    print('answer=%s' % d.split(b'\\r\\n')[0].decode('latin-1'))\n"
                          "    print('deny=%s' % [l for l in d.split(b'\\r\\n')"
                          " if l.lower().startswith(b'x-airlock-deny')])\n",
                          30);
    json_t *job = job_run(&d, spec), *ev;
    const char *id = jstr(job, "id");
    char *out = job_output(&d, id, "stdout");
    struct resp h;

    cr_expect(strstr(out, "answer=HTTP/1.1 400 Bad Request") != NULL, "%s", out);
    cr_expect(strstr(out, "X-Airlock-Deny: bad_request") != NULL, "%s", out);
    ev = egress_of(id);
    cr_expect_geq(count_reason(ev, "bad_request"), 3, "%s", jdump(ev));
    cr_expect_eq(jint(json_object_get(job, "egress"), "denied"), (long long)json_array_size(ev),
                 "%s", jdump(job));
    h = http_get(&d, "/healthz");
    cr_expect_eq(h.status, 200);
    resp_free(&h);
    json_decref(ev);
    free(out);
    json_decref(job);
}

/* 3000 denied requests, one connection each: every one is an event, the job's counter agrees
 * with the events once it has ended, and the pages of GET /egress add up to all of them. */
Test(proxy_limits, a_flood_of_requests_is_recorded_in_full)
{
    json_t *spec = py_job("n = 0\n"
                          "for i in range(3000):\n"
                          "    line, _ = ask(conn(), 'flood.example')\n"
                          "    n += line.startswith('HTTP/1.1 403')\n"
                          "print('denied=%d' % n)\n",
                          100);
    json_t *job = job_run(&d, spec);
    const char *id = jstr(job, "id");
    char *out = job_output(&d, id, "stdout"), path[200];
    long long after = 0, total = 0;

    cr_expect(kv_is(out, "denied", "3000"), "%s", out);
    cr_expect_eq(jint(json_object_get(job, "egress"), "denied"), 3000, "%s", jdump(job));
    for (int page = 0; page < 10 && after >= 0; page++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/egress?after=%lld&limit=1000", id, after);
        struct resp r = http_get(&d, path);
        cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
        total += (long long)json_array_size(json_object_get(r.json, "events"));
        after = jint(r.json, "next");
        resp_free(&r);
    }
    cr_expect_eq(total, 3000, "the pages hold %lld events", total);
    free(out);
    json_decref(job);
}

Test(proxy_limits, egress_paging_is_checked)
{
    json_t *job = job_run(&d, job_sh("true"));
    char path[200];
    const char *bad[] = {"after=-1", "after=x", "limit=0", "limit=1001", "limit=1e3"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/egress?%s", jstr(job, "id"), bad[i]);
        struct resp r = http_get(&d, path);
        cr_expect_eq(r.status, 400, "%s: %ld", bad[i], r.status);
        cr_expect(strstr(err_message(&r), bad[i][0] == 'a' ? "after" : "limit") != NULL, "%s",
                  r.body);
        resp_free(&r);
    }
    json_decref(job);
}
