/*
 * GET /v1/jobs/<id>/stdout?follow=true (and stderr) against the real daemon: a chunked stream of
 * the output as the job writes it, ending once the job has ended and every byte was sent. The
 * streams are read with libcurl, each chunk stamped with its arrival time, so the tests can tell
 * a line sent as it was printed from one sent at the end. Also: a job already ended, ?offset,
 * a job still queued, 50 followers of one job (identical output, no thread each), a follower
 * that goes away midway, the errors, and a daemon stopped under its followers.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CHUNKS_MAX 4096

static struct daemon d;

static void
up(void)
{
    daemon_init(&d, NULL, true);
    daemon_start(&d);
}

static void
up_one_at_a_time(void)
{
    daemon_init(&d, "\"max_running_jobs\": 1", true);
    daemon_start(&d);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(follow, .init = up, .fini = down, .timeout = 90);
TestSuite(follow_queued, .init = up_one_at_a_time, .fini = down, .timeout = 90);

/* ---- a followed stream, read with libcurl ---- */

struct stream {
    CURL *c;
    struct curl_slist *hdrs;
    char *data;
    size_t len, cap;
    char *head;
    size_t head_len, head_cap;
    double t0;                    /* when the request was made */
    double t_chunk[CHUNKS_MAX];   /* arrival of each write callback ... */
    size_t end_chunk[CHUNKS_MAX]; /* ... and the byte count after it */
    int nchunks;
    double t_end;    /* when the transfer finished */
    int abort_after; /* > 0: fail the transfer after that many chunks (a client going away) */
    CURLcode code;
    long status;
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert(*buf);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
    struct stream *s = arg;

    if (s->abort_after > 0 && s->nchunks >= s->abort_after)
        return 0; /* curl fails the transfer and closes the connection */
    append(&s->data, &s->len, &s->cap, p, size * n);
    if (s->nchunks < CHUNKS_MAX) {
        s->t_chunk[s->nchunks] = now_s();
        s->end_chunk[s->nchunks++] = s->len;
    }
    return size * n;
}

static size_t
on_head(char *p, size_t size, size_t n, void *arg)
{
    struct stream *s = arg;

    append(&s->head, &s->head_len, &s->head_cap, p, size * n);
    return size * n;
}

/* Prepares a GET of path (token added) into s; run it with stream_run or a multi handle. */
static void
stream_init(struct stream *s, const char *path)
{
    char url[1024], auth[256];

    memset(s, 0, sizeof(*s));
    s->c = curl_easy_init();
    cr_assert(s->c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d.port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", d.token);
    s->hdrs = curl_slist_append(NULL, auth);
    curl_easy_setopt(s->c, CURLOPT_URL, url);
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(s->c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->c, CURLOPT_PROXY, "");
    curl_easy_setopt(s->c, CURLOPT_PRIVATE, s);
    s->t0 = now_s();
}

static void
stream_done(struct stream *s, CURLcode code)
{
    s->t_end = now_s();
    s->code = code;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
}

static void
stream_run(struct stream *s)
{
    stream_done(s, curl_easy_perform(s->c));
}

static void
stream_free(struct stream *s)
{
    curl_slist_free_all(s->hdrs);
    curl_easy_cleanup(s->c);
    free(s->data);
    free(s->head);
}

/* Runs every stream of ss at once on one multi handle until all have finished. on_tick, when
 * non-NULL, is called about every 50 ms while they run. */
static void
streams_run(struct stream *ss, int n, void (*on_tick)(struct stream *, int, void *), void *arg)
{
    CURLM *m = curl_multi_init();
    int running = 0;
    CURLMsg *msg;
    int left;

    for (int i = 0; i < n; i++)
        curl_multi_add_handle(m, ss[i].c);
    do {
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) {
                struct stream *s = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
                stream_done(s, msg->data.result);
            }
        if (on_tick)
            on_tick(ss, n, arg);
        if (running)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    } while (running);
    for (int i = 0; i < n; i++)
        curl_multi_remove_handle(m, ss[i].c);
    curl_multi_cleanup(m);
}

/* The value of header name in s's head (static buffer), or "" when absent. */
static const char *
stream_header(const struct stream *s, const char *name)
{
    static char val[256];
    size_t nl = strlen(name);

    val[0] = '\0';
    for (const char *p = s->head; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(val, sizeof(val), "%.*s", (int)len, v);
            break;
        }
    }
    return val;
}

/* When the byte at offset end-1 arrived (the chunk that brought it). */
static double
arrival_of(const struct stream *s, size_t end)
{
    for (int i = 0; i < s->nchunks; i++)
        if (s->end_chunk[i] >= end)
            return s->t_chunk[i];
    return -1;
}

/* ---- helpers on jobs ---- */

/* POSTs a job (no wait) and copies its id to id. */
static void
post_job(json_t *spec, char *id, size_t n)
{
    struct resp r = job_post(&d, spec);

    cr_assert_eq(r.status, 201, "POST /v1/jobs: %ld %s", r.status, r.body);
    snprintf(id, n, "%s", jstr(r.json, "id"));
    resp_free(&r);
    json_decref(spec);
}

static json_t *
sh_with_timeout(const char *script, int timeout_s)
{
    json_t *spec = job_sh(script);

    json_object_set_new(spec, "timeout_s", json_integer(timeout_s));
    return spec;
}

/* Unix seconds of an RFC 3339 time with milliseconds ("2026-11-27T05:27:08.123Z"). */
static double
rfc3339_s(const char *t)
{
    struct tm tm = {0};
    int ms = 0;

    cr_assert_eq(sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                 7, "time %s", t);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}

/* Threads: of the daemon's /proc/<pid>/status. */
static int
daemon_threads(void)
{
    char path[64], *status, *p;
    int n = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)d.pid);
    status = read_file_str(path);
    cr_assert(status, "%s", path);
    p = strstr(status, "\nThreads:");
    if (p)
        n = (int)strtol(p + 9, NULL, 10);
    free(status);
    return n;
}

static void
expect_follow_headers(const struct stream *s, const char *offset)
{
    cr_expect_eq(s->status, 200, "status %ld, head %s", s->status, s->head);
    cr_expect_str_eq(stream_header(s, "Content-Type"), "text/plain; charset=utf-8");
    cr_expect_str_eq(stream_header(s, "X-Content-Type-Options"), "nosniff");
    cr_expect_str_eq(stream_header(s, "Cache-Control"), "no-store");
    cr_expect_str_eq(stream_header(s, "Transfer-Encoding"), "chunked");
    cr_expect_str_eq(stream_header(s, "X-Airlock-Offset"), offset);
}

/* ---- tests ---- */

Test(follow, lines_arrive_as_the_job_prints_them)
{
    char id[64], path[128];
    struct stream s;
    size_t ends[4];
    double t[4], started, ended_wall, finished;
    const char *want = "line1\nline2\nline3\nline4\n";

    post_job(sh_with_timeout("for i in 1 2 3 4; do echo line$i; sleep 1; done", 30), id,
             sizeof(id));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", id);
    stream_init(&s, path);
    started = s.t0;
    stream_run(&s);
    ended_wall = wall_s();
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    expect_follow_headers(&s, "0");
    cr_assert_str_eq(s.data ? s.data : "", want);
    /* Each line must have come before the next was printed, about a second apart. */
    for (int i = 0; i < 4; i++) {
        ends[i] = (size_t)(strstr(want, "\n") - want + 1) * (size_t)(i + 1);
        t[i] = arrival_of(&s, ends[i]);
    }
    for (int i = 1; i < 4; i++)
        cr_expect_geq(t[i] - t[i - 1], 0.5, "line %d came %.3f s after line %d", i + 1,
                      t[i] - t[i - 1], i);
    cr_expect_lt(t[0] - started, 2.0, "the first line came %.3f s after the request",
                 t[0] - started);
    cr_expect_lt(t[0] - started, s.t_end - started - 2.0,
                 "the first line (%.3f s) came well before the end (%.3f s)", t[0] - started,
                 s.t_end - started);
    /* The stream ends with the job: within a second of the end it recorded. */
    json_t *job = job_get(&d, id);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    finished = rfc3339_s(jstr(job, "finished_at"));
    cr_expect_lt(ended_wall - finished, 1.0, "the stream ended %.3f s after the job",
                 ended_wall - finished);
    cr_expect_lt(s.t_end - t[3], 2.5, "the stream ended %.3f s after the last line",
                 s.t_end - t[3]);
    json_decref(job);
    stream_free(&s);
}

Test(follow, stderr_too)
{
    char id[64], path[128];
    struct stream s;

    post_job(sh_with_timeout("echo out; for i in 1 2; do echo err$i >&2; sleep 1; done", 30), id,
             sizeof(id));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stderr?follow=1", id);
    stream_init(&s, path);
    stream_run(&s);
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    expect_follow_headers(&s, "0");
    cr_expect_str_eq(s.data ? s.data : "", "err1\nerr2\n");
    cr_expect_geq(arrival_of(&s, 10) - arrival_of(&s, 5), 0.5, "err2 came with err1");
    stream_free(&s);
}

Test(follow, an_ended_job_gives_everything_and_ends)
{
    json_t *job = NULL;
    char *out = run_sh(&d, "seq 1 30000", NULL, &job), path[128];
    struct stream s;

    cr_assert_gt(strlen(out), 100000u);
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", jstr(job, "id"));
    stream_init(&s, path);
    stream_run(&s);
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    expect_follow_headers(&s, "0");
    cr_assert_eq(s.len, strlen(out));
    cr_expect(memcmp(s.data, out, s.len) == 0, "the followed bytes differ");
    cr_expect_lt(s.t_end - s.t0, 3.0, "took %.3f s", s.t_end - s.t0);
    /* An ended job with no output at all: an empty stream that ends. */
    free(out);
    json_decref(job);
    out = run_sh(&d, "true", NULL, &job);
    snprintf(path, sizeof(path), "/v1/jobs/%s/stderr?follow=true", jstr(job, "id"));
    stream_free(&s);
    stream_init(&s, path);
    stream_run(&s);
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    cr_expect_eq(s.status, 200);
    cr_expect_eq(s.len, 0u);
    free(out);
    json_decref(job);
    stream_free(&s);
}

Test(follow, from_an_offset)
{
    json_t *job = NULL;
    char *out = run_sh(&d, "printf 0123456789", NULL, &job), path[128], id[64];
    struct stream s;

    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true&offset=4", jstr(job, "id"));
    stream_init(&s, path);
    stream_run(&s);
    expect_follow_headers(&s, "4");
    cr_expect_str_eq(s.data ? s.data : "", "456789");
    stream_free(&s);
    /* Past the end of an ended job: nothing, and the end. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true&offset=100", jstr(job, "id"));
    stream_init(&s, path);
    stream_run(&s);
    expect_follow_headers(&s, "100");
    cr_expect_eq(s.len, 0u);
    stream_free(&s);
    free(out);
    json_decref(job);
    /* A running job, from an offset it has not reached yet: the bytes from there on. */
    post_job(sh_with_timeout("printf abc; sleep 1; printf defg; sleep 1; printf hij", 30), id,
             sizeof(id));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?offset=5&follow=true", id);
    stream_init(&s, path);
    stream_run(&s);
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    expect_follow_headers(&s, "5");
    cr_expect_str_eq(s.data ? s.data : "", "fghij");
    stream_free(&s);
}

Test(follow_queued, a_queued_job_is_followed_from_its_start)
{
    char first[64], second[64], path[128];
    struct stream s;
    json_t *job;

    /* max_running_jobs 1: the second job waits for the first. */
    post_job(sh_with_timeout("sleep 2", 30), first, sizeof(first));
    post_job(sh_with_timeout("echo started; sleep 1; echo done", 30), second, sizeof(second));
    job = job_get(&d, second);
    cr_assert_str_eq(jstr(job, "status"), "queued", "%s", jdump(job));
    json_decref(job);
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", second);
    stream_init(&s, path);
    stream_run(&s);
    cr_assert_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    expect_follow_headers(&s, "0");
    cr_expect_str_eq(s.data ? s.data : "", "started\ndone\n");
    cr_expect_geq(s.t_end - s.t0, 2.0, "ended after %.3f s, before the job ran", s.t_end - s.t0);
    cr_expect_geq(arrival_of(&s, 13) - arrival_of(&s, 8), 0.5, "the lines came together");
    stream_free(&s);
}

Test(follow_queued, a_job_canceled_while_queued_ends_its_followers)
{
    char first[64], second[64], path[128];
    struct stream s;
    struct resp r;

    post_job(sh_with_timeout("sleep 3", 30), first, sizeof(first));
    post_job(sh_with_timeout("echo never", 30), second, sizeof(second));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", second);
    stream_init(&s, path);
    CURLM *m = curl_multi_init();
    int running = 1;
    curl_multi_add_handle(m, s.c);
    double t = now_s();
    while (running && now_s() - t < 0.5) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", second);
    r = http_post(&d, path, "{}");
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    resp_free(&r);
    double canceled = now_s();
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            stream_done(&s, msg->data.result);
    curl_multi_remove_handle(m, s.c);
    curl_multi_cleanup(m);
    cr_expect_eq(s.code, CURLE_OK, "curl: %s", curl_easy_strerror(s.code));
    cr_expect_eq(s.len, 0u);
    cr_expect_lt(s.t_end - canceled, 1.5, "ended %.3f s after the cancel", s.t_end - canceled);
    stream_free(&s);
}

struct fifty {
    int baseline, during, all_started_at;
    bool counted;
};

/* Once every follower has its first line, counts the daemon's threads. */
static void
count_threads_once_all_follow(struct stream *ss, int n, void *arg)
{
    struct fifty *f = arg;

    if (f->counted)
        return;
    for (int i = 0; i < n; i++)
        if (ss[i].len == 0)
            return;
    f->during = daemon_threads();
    f->counted = true;
}

Test(follow, fifty_followers_get_the_same_bytes_without_a_thread_each)
{
    enum { N = 50 };
    static struct stream ss[N];
    struct fifty f = {0};
    char id[64], path[128], *out;
    json_t *job;

    post_job(sh_with_timeout("for i in $(seq 1 12); do echo line-$i-$(seq -s, 1 50); "
                             "sleep 0.25; done",
                             30),
             id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    f.baseline = daemon_threads();
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", id);
    for (int i = 0; i < N; i++)
        stream_init(&ss[i], path);
    streams_run(ss, N, count_threads_once_all_follow, &f);
    job = job_wait_end(&d, id, 10000);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    out = job_output(&d, id, "stdout");
    cr_assert_gt(strlen(out), 12 * 100u);
    for (int i = 0; i < N; i++) {
        cr_expect_eq(ss[i].code, CURLE_OK, "follower %d: %s", i, curl_easy_strerror(ss[i].code));
        cr_expect_eq(ss[i].status, 200, "follower %d", i);
        cr_expect_eq(ss[i].len, strlen(out), "follower %d: %zu bytes of %zu", i, ss[i].len,
                     strlen(out));
        cr_expect(ss[i].data && strcmp(ss[i].data, out) == 0, "follower %d: other bytes", i);
        stream_free(&ss[i]);
    }
    cr_expect(f.counted, "never saw all 50 followers with a line");
    cr_expect_leq(f.during, f.baseline + 2, "threads: %d before, %d with 50 followers", f.baseline,
                  f.during);
    free(out);
    json_decref(job);
}

Test(follow, a_follower_going_away_disturbs_no_other)
{
    enum { N = 4 };
    static struct stream ss[N];
    char id[64], path[128], *out;
    json_t *job;
    struct resp r;

    post_job(sh_with_timeout("for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.4; done", 30), id,
             sizeof(id));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", id);
    for (int i = 0; i < N; i++)
        stream_init(&ss[i], path);
    /* Two go away: one after its first chunk (its connection then sits suspended until the
     * next line), one after its third. */
    ss[0].abort_after = 1;
    ss[2].abort_after = 3;
    streams_run(ss, N, NULL, NULL);
    job = job_wait_end(&d, id, 10000);
    out = job_output(&d, id, "stdout");
    cr_expect_str_eq(out, "tick-1\ntick-2\ntick-3\ntick-4\ntick-5\ntick-6\n");
    cr_expect_eq(ss[0].code, CURLE_WRITE_ERROR);
    cr_expect_eq(ss[2].code, CURLE_WRITE_ERROR);
    for (int i = 1; i < N; i += 2) {
        cr_expect_eq(ss[i].code, CURLE_OK, "follower %d: %s", i, curl_easy_strerror(ss[i].code));
        cr_expect_str_eq(ss[i].data ? ss[i].data : "", out, "follower %d", i);
    }
    for (int i = 0; i < N; i++)
        stream_free(&ss[i]);
    /* The daemon is fine: healthy, and a new follower gets everything. */
    r = http(&d, "GET", "/healthz", NULL, "", NULL, NULL);
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    struct stream s;
    stream_init(&s, path);
    stream_run(&s);
    cr_expect_str_eq(s.data ? s.data : "", out);
    stream_free(&s);
    free(out);
    json_decref(job);
}

Test(follow, bad_values_and_unknown_jobs)
{
    json_t *job = NULL;
    char *out = run_sh(&d, "printf hello", NULL, &job), path[160];
    const char *id = jstr(job, "id");
    const char *bad[] = {"yes", "TRUE", "", "2", "true%20"};
    struct resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=%s", id, bad[i]);
        r = http_get(&d, path);
        cr_expect_eq(r.status, 400, "%s: %ld", path, r.status);
        cr_expect_str_eq(err_code(&r), "bad_request");
        cr_expect(strstr(err_message(&r), "follow"), "%s: %s", path, err_message(&r));
        resp_free(&r);
    }
    /* follow=false and 0 are today's reply: the bytes, with the end offset. */
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=%s", id, i ? "0" : "false");
        r = http_get(&d, path);
        cr_expect_eq(r.status, 200);
        cr_expect_str_eq(r.body, "hello");
        char *off = resp_header(&r, "X-Airlock-Offset");
        cr_expect(off && strcmp(off, "5") == 0, "X-Airlock-Offset %s", off ? off : "(none)");
        free(off);
        resp_free(&r);
    }
    const char *unknown[] = {"j_0123456789abcdef0123456789", "nope"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", unknown[i]);
        r = http_get(&d, path);
        cr_expect_eq(r.status, 404, "%s: %ld", path, r.status);
        cr_expect_str_eq(err_code(&r), "not_found");
        resp_free(&r);
    }
    /* A bad offset is still refused first. */
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true&offset=-1", id);
    r = http_get(&d, path);
    cr_expect_eq(r.status, 400);
    resp_free(&r);
    free(out);
    json_decref(job);
}

struct bg_stream {
    struct stream s;
    pthread_t t;
};

static void *
bg_run(void *arg)
{
    stream_run(arg);
    return NULL;
}

Test(follow, stopping_the_daemon_ends_its_followers)
{
    struct bg_stream bg[3];
    char id[64], path[128];

    post_job(sh_with_timeout("echo begin; sleep 60", 90), id, sizeof(id));
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?follow=true", id);
    for (int i = 0; i < 3; i++) {
        stream_init(&bg[i].s, path);
        cr_assert_eq(pthread_create(&bg[i].t, NULL, bg_run, &bg[i].s), 0);
    }
    for (int i = 0; i < 3; i++)
        for (int w = 0; w < 100 && __atomic_load_n(&bg[i].s.len, __ATOMIC_SEQ_CST) == 0; w++)
            usleep(50 * 1000);
    double t = now_s();
    daemon_stop(&d); /* asserts a clean exit within 10 s */
    cr_expect_lt(now_s() - t, 5.0, "the daemon took %.3f s to stop", now_s() - t);
    for (int i = 0; i < 3; i++) {
        pthread_join(bg[i].t, NULL);
        cr_expect_str_eq(bg[i].s.data ? bg[i].s.data : "", "begin\n");
        /* The job was lost with the daemon: the stream ended with it, complete. */
        cr_expect_eq(bg[i].s.code, CURLE_OK, "follower %d: %s", i,
                     curl_easy_strerror(bg[i].s.code));
        stream_free(&bg[i].s);
    }
}
