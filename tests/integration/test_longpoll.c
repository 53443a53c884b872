/*
 * GET /v1/jobs/<id>?wait_s=N (a long-poll) and Idempotency-Key on POST /v1/jobs, against the
 * real daemon. Long-polls: one on a running job returns at its end, one on a queued job at its
 * start, one with nothing happening after N s (304 with If-None-Match, 200 without; the elapsed
 * time is measured with bounds), wait_s=0 and an ended job at once, a bad wait_s, 200 at once
 * without a thread each, clients that go away, and a SIGTERM under pending long-polls.
 * Idempotency: a retry answers the first job, another body is 409, ten concurrent POSTs with
 * one key make one job, a key outlives a restart, a bad key and a refused POST keep nothing.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

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

TestSuite(longpoll, .init = up, .fini = down, .timeout = 90);
TestSuite(longpoll_queued, .init = up_one_at_a_time, .fini = down, .timeout = 90);
TestSuite(idempotency, .init = up, .fini = down, .timeout = 90);

/* ---- helpers ---- */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* POSTs sh -c script (with a 60 s timeout) and copies the new job's id. */
static void
post_sh(const char *script, char *id, size_t n)
{
    json_t *spec = job_sh(script);
    struct resp r;

    json_object_set_new(spec, "timeout_s", json_integer(60));
    r = job_post(&d, spec);
    json_decref(spec);
    cr_assert_eq(r.status, 201, "POST: %ld %s", r.status, r.body);
    snprintf(id, n, "%s", jstr(r.json, "id"));
    resp_free(&r);
}

/* GET /v1/jobs/<id>?wait_s=<wait> with If-None-Match: etag (NULL: none); *elapsed in s. */
static struct resp
poll_job(const char *id, const char *wait, const char *etag, double *elapsed)
{
    char path[160], inm[96];
    double t0 = now_s();
    struct resp r;

    snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=%s", id, wait);
    if (etag)
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    r = http(&d, "GET", path, NULL, NULL, NULL, etag ? inm : NULL);
    if (elapsed)
        *elapsed = now_s() - t0;
    return r;
}

/* The ETag of the job as it is now (malloc'd). */
static char *
etag_now(const char *id)
{
    char path[128];
    struct resp r;
    char *etag;

    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    r = http_get(&d, path);
    cr_assert_eq(r.status, 200);
    etag = resp_header(&r, "ETag");
    cr_assert_not_null(etag);
    resp_free(&r);
    return etag;
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
assert_healthy(void)
{
    struct resp r = http_get(&d, "/healthz");

    cr_assert_eq(r.status, 200, "healthz: %ld %s", r.status, r.body);
    resp_free(&r);
}

/* ---- many long-polls at once, with curl's multi interface ---- */

struct poller {
    CURL *c;
    struct curl_slist *hdrs;
    char *body;
    size_t len;
    long status;
    CURLcode code;
    bool done;
};

static size_t
poller_write(char *p, size_t size, size_t n, void *arg)
{
    struct poller *pl = arg;
    char *grown = realloc(pl->body, pl->len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + pl->len, p, size * n);
    pl->body = grown;
    pl->len += size * n;
    pl->body[pl->len] = '\0';
    return size * n;
}

static void
poller_init(struct poller *pl, CURLM *m, const char *method, const char *path, const char *body,
            const char *extra_header, long timeout_ms)
{
    char url[256], auth[192];

    memset(pl, 0, sizeof(*pl));
    pl->c = curl_easy_init();
    cr_assert_not_null(pl->c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d.port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", d.token);
    pl->hdrs = curl_slist_append(NULL, auth);
    pl->hdrs = curl_slist_append(pl->hdrs, "Content-Type: application/json");
    if (extra_header)
        pl->hdrs = curl_slist_append(pl->hdrs, extra_header);
    curl_easy_setopt(pl->c, CURLOPT_URL, url);
    curl_easy_setopt(pl->c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(pl->c, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(pl->c, CURLOPT_HTTPHEADER, pl->hdrs);
    curl_easy_setopt(pl->c, CURLOPT_WRITEFUNCTION, poller_write);
    curl_easy_setopt(pl->c, CURLOPT_WRITEDATA, pl);
    curl_easy_setopt(pl->c, CURLOPT_PRIVATE, pl);
    curl_easy_setopt(pl->c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(pl->c, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(m, pl->c);
}

/* Runs the transfers for up to max_s seconds (or until all are done). */
static void
pollers_pump(CURLM *m, double max_s)
{
    double end = now_s() + max_s;
    int running = 1;
    CURLMsg *msg;
    int left;

    while (running && now_s() < end) {
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct poller *pl;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&pl);
            pl->code = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &pl->status);
            pl->done = true;
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 20, NULL);
    }
}

static void
poller_free(struct poller *pl, CURLM *m)
{
    curl_multi_remove_handle(m, pl->c);
    curl_easy_cleanup(pl->c);
    curl_slist_free_all(pl->hdrs);
    free(pl->body);
}

static const char *
body_status(const struct poller *pl)
{
    static char buf[32];
    json_t *j = json_loads(pl->body ? pl->body : "", 0, NULL);

    snprintf(buf, sizeof(buf), "%s", j ? jstr(j, "status") : "");
    json_decref(j);
    return buf;
}

/* ---- long-polls ---- */

Test(longpoll, returns_when_a_running_job_ends)
{
    char id[64], *etag;
    double t;
    struct resp r;

    post_sh("sleep 1.5", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    /* without If-None-Match: the next change of status, here the end */
    r = poll_job(id, "30", NULL, &t);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_expect_str_eq(jstr(r.json, "status"), "succeeded", "%s", r.body);
    cr_expect_lt(t, 6.0, "answered %.2f s after the request: not at the job's end", t);
    resp_free(&r);

    post_sh("sleep 1.5", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    etag = etag_now(id);
    r = poll_job(id, "30", etag, &t);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_expect_str_eq(jstr(r.json, "status"), "succeeded", "%s", r.body);
    cr_expect_lt(t, 6.0, "answered %.2f s after the request", t);
    cr_expect_gt(t, 0.3, "answered %.2f s after the request: before the job ended?", t);
    char *etag2 = resp_header(&r, "ETag");
    cr_expect(etag2 && strcmp(etag2, etag) != 0, "a new ETag: %s then %s", etag, etag2);
    free(etag2);
    free(etag);
    resp_free(&r);
}

Test(longpoll_queued, a_queued_job_answers_when_it_starts)
{
    char first[64], second[64];
    double t;
    struct resp r;

    post_sh("sleep 2", first, sizeof(first));
    post_sh("sleep 0.5", second, sizeof(second));
    json_decref(job_wait_running(&d, first, 10000));
    r = poll_job(second, "30", NULL, &t);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    /* queued -> running, or (a slow machine) already ended: a change either way */
    cr_expect(strcmp(jstr(r.json, "status"), "queued") != 0, "%s", r.body);
    cr_expect_lt(t, 8.0, "%.2f s", t);
    cr_expect_gt(t, 0.5, "%.2f s: answered before the first job ended", t);
    resp_free(&r);
}

Test(longpoll, times_out_after_wait_s)
{
    char id[64], *etag;
    double t;
    struct resp r;

    post_sh("sleep 30", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    etag = etag_now(id);
    r = poll_job(id, "2", etag, &t);
    cr_expect_eq(r.status, 304, "%ld %s", r.status, r.body);
    cr_expect_eq(r.len, 0u, "a 304 has no body");
    cr_expect_geq(t, 1.9, "304 after %.2f s, before wait_s=2 passed", t);
    cr_expect_lt(t, 4.0, "304 after %.2f s, long after wait_s=2", t);
    resp_free(&r);

    r = poll_job(id, "2", NULL, &t);
    cr_expect_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_expect_str_eq(jstr(r.json, "status"), "running");
    cr_expect_geq(t, 1.9, "200 after %.2f s", t);
    cr_expect_lt(t, 4.0, "200 after %.2f s", t);
    resp_free(&r);
    free(etag);
}

Test(longpoll, wait_s_zero_and_an_ended_job_answer_at_once)
{
    char id[64], *etag;
    double t;
    struct resp r;

    post_sh("sleep 30", id, sizeof(id));
    etag = etag_now(id);
    r = poll_job(id, "0", NULL, &t);
    cr_expect_eq(r.status, 200);
    cr_expect_lt(t, 1.0, "wait_s=0 took %.2f s", t);
    resp_free(&r);
    r = poll_job(id, "0", etag, &t);
    cr_expect(r.status == 304 || r.status == 200, "%ld", r.status);
    cr_expect_lt(t, 1.0, "wait_s=0 took %.2f s", t);
    resp_free(&r);
    free(etag);

    /* an ended job: at once without If-None-Match or with an old ETag */
    json_decref(job_run(&d, job_sh("true")));
    post_sh("exit 3", id, sizeof(id));
    json_decref(job_wait_end(&d, id, 10000));
    r = poll_job(id, "30", NULL, &t);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(jstr(r.json, "status"), "failed");
    cr_expect_lt(t, 1.0, "an ended job took %.2f s", t);
    resp_free(&r);
    r = poll_job(id, "30", "\"0000000000000000\"", &t);
    cr_expect_eq(r.status, 200);
    cr_expect_lt(t, 1.0, "an ended job with an old ETag took %.2f s", t);
    resp_free(&r);
    /* ... and with its current ETag it cannot change: 304 when wait_s passes */
    etag = etag_now(id);
    r = poll_job(id, "1", etag, &t);
    cr_expect_eq(r.status, 304);
    cr_expect_geq(t, 0.9, "%.2f s", t);
    cr_expect_lt(t, 3.0, "%.2f s", t);
    resp_free(&r);
    free(etag);
}

Test(longpoll, bad_wait_s_is_400)
{
    static const char *const bad[] = {"61", "-1", "abc", "1.5", "", "99999999999999999999"};
    char id[64];
    struct resp r;

    post_sh("true", id, sizeof(id));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = poll_job(id, bad[i], NULL, NULL);
        cr_expect_eq(r.status, 400, "wait_s=%s: %ld", bad[i], r.status);
        cr_expect_str_eq(err_code(&r), "bad_request");
        cr_expect(strstr(err_message(&r), "wait_s") != NULL, "message: %s", err_message(&r));
        resp_free(&r);
    }
    r = poll_job("j_nosuchjob", "5", NULL, NULL);
    cr_expect_eq(r.status, 404, "%ld", r.status);
    resp_free(&r);
    r = poll_job(id, "60", "\"0000000000000000\"", NULL);
    cr_expect_eq(r.status, 200, "wait_s=60 is allowed");
    resp_free(&r);
}

Test(longpoll, two_hundred_long_polls_without_a_thread_each)
{
    enum { N = 200 };
    static struct poller pl[N];
    char id[64], path[128];
    CURLM *m = curl_multi_init();
    int baseline, during;
    double t0;

    post_sh("sleep 3", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    baseline = daemon_threads();
    snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=30", id);
    t0 = now_s();
    for (int i = 0; i < N; i++)
        poller_init(&pl[i], m, "GET", path, NULL, NULL, 20000);
    pollers_pump(m, 1.2);
    during = daemon_threads();
    pollers_pump(m, 15.0);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        cr_expect(pl[i].done, "long-poll %d never returned", i);
        cr_expect_eq(pl[i].code, CURLE_OK, "long-poll %d: %s", i, curl_easy_strerror(pl[i].code));
        cr_expect_eq(pl[i].status, 200, "long-poll %d: %ld", i, pl[i].status);
        ok += strcmp(body_status(&pl[i]), "succeeded") == 0;
        poller_free(&pl[i], m);
    }
    curl_multi_cleanup(m);
    cr_expect_eq(ok, N, "%d of %d saw the end", ok, N);
    cr_expect_lt(now_s() - t0, 10.0, "the long-polls took %.2f s", now_s() - t0);
    cr_expect_leq(during, baseline + 1, "threads: %d before, %d with %d long-polls", baseline,
                  during, N);
    assert_healthy();
}

Test(longpoll, clients_that_go_away_leave_the_daemon_healthy)
{
    enum { N = 6 };
    static struct poller pl[N];
    char id[64], path[128], *etag;
    CURLM *m = curl_multi_init();
    struct resp r;

    post_sh("sleep 2", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    etag = etag_now(id);
    char inm[96];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    /* They give up after 300 ms: three wait for the job's end (resumed by jobs), three with
     * wait_s=1 (resumed by the timer), all after their client left. */
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=%d", id, i < 3 ? 30 : 1);
        poller_init(&pl[i], m, "GET", path, NULL, i % 2 ? inm : NULL, 300);
    }
    pollers_pump(m, 2.0);
    for (int i = 0; i < N; i++) {
        cr_expect(pl[i].done);
        cr_expect_eq(pl[i].code, CURLE_OPERATION_TIMEDOUT, "%d: %s", i,
                     curl_easy_strerror(pl[i].code));
        poller_free(&pl[i], m);
    }
    curl_multi_cleanup(m);
    json_decref(job_wait_end(&d, id, 10000));
    usleep(500 * 1000);
    assert_healthy();
    r = poll_job(id, "5", NULL, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(jstr(r.json, "status"), "succeeded");
    resp_free(&r);
    free(etag);
}

Test(longpoll, sigterm_with_long_polls_pending_exits_promptly)
{
    enum { N = 20 };
    static struct poller pl[N + 1];
    char id[64], done_id[64], path[128], inm[96], *etag;
    CURLM *m = curl_multi_init();
    double t0;
    int status = 0;

    post_sh("sleep 60", id, sizeof(id));
    json_decref(job_wait_running(&d, id, 10000));
    post_sh("true", done_id, sizeof(done_id));
    json_decref(job_wait_end(&d, done_id, 10000));
    snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=60", id);
    for (int i = 0; i < N; i++)
        poller_init(&pl[i], m, "GET", path, NULL, NULL, 30000);
    /* and one that only the timer would answer: an ended job whose ETag it holds */
    etag = etag_now(done_id);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=60", done_id);
    poller_init(&pl[N], m, "GET", path, NULL, inm, 30000);
    pollers_pump(m, 1.0);
    for (int i = 0; i <= N; i++)
        cr_assert(!pl[i].done, "long-poll %d returned before the SIGTERM: %ld", i, pl[i].status);
    t0 = now_s();
    daemon_signal(&d, SIGTERM);
    while (now_s() - t0 < 10.0 && waitpid(d.pid, &status, WNOHANG) == 0)
        pollers_pump(m, 0.05);
    double took = now_s() - t0;
    pid_t pid = d.pid;
    d.pid = 0; /* reaped here */
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "airlockd %d: status 0x%x", (int)pid,
              status);
    cr_expect_lt(took, 5.0, "exit took %.2f s", took);
    pollers_pump(m, 2.0);
    /* The job's end at shutdown (canceled with reason shutdown, or lost) answers its
     * long-polls; the api's stop resumes the one only its timer would have (304: nothing
     * changed) -- before the daemon closes them all. */
    for (int i = 0; i < N; i++) {
        const char *st = body_status(&pl[i]);
        cr_expect(pl[i].done, "long-poll %d", i);
        cr_expect_eq(pl[i].status, 200, "long-poll %d: %ld (%s)", i, pl[i].status,
                     curl_easy_strerror(pl[i].code));
        cr_expect(strcmp(st, "canceled") == 0 || strcmp(st, "lost") == 0,
                  "long-poll %d: the job's end, not %s", i, pl[i].body);
        poller_free(&pl[i], m);
    }
    cr_expect(pl[N].done);
    cr_expect_eq(pl[N].status, 304, "the ended job's long-poll: %ld", pl[N].status);
    poller_free(&pl[N], m);
    curl_multi_cleanup(m);
    free(etag);
    cr_expect(!file_contains(d.log, "Sanitizer"), "sanitizer report in %s", d.log);
}

/* ---- Idempotency-Key ---- */

static struct resp
post_with_key(const char *path, const char *body, const char *key)
{
    char h[512];

    snprintf(h, sizeof(h), "Idempotency-Key: %s", key);
    return http(&d, "POST", path, body, NULL, NULL, h);
}

static long long
jobs_count(void)
{
    struct resp r = http_get(&d, "/v1/jobs?limit=1000");
    long long n;

    cr_assert_eq(r.status, 200);
    n = (long long)json_array_size(json_object_get(r.json, "jobs"));
    resp_free(&r);
    return n;
}

Test(idempotency, a_retry_answers_the_first_job)
{
    const char *body = "{\"command\": [\"echo\", \"once\"]}";
    struct resp a = post_with_key("/v1/jobs", body, "retry-1"), b;
    char *loc, *replayed;

    cr_assert_eq(a.status, 201, "%ld %s", a.status, a.body);
    replayed = resp_header(&a, "Idempotent-Replayed");
    cr_expect_null(replayed, "the first answer is no replay");
    free(replayed);
    json_decref(job_wait_end(&d, jstr(a.json, "id"), 10000));
    b = post_with_key("/v1/jobs", body, "retry-1");
    cr_assert_eq(b.status, 201, "%ld %s", b.status, b.body);
    cr_expect_str_eq(jstr(b.json, "id"), jstr(a.json, "id"));
    cr_expect_str_eq(jstr(b.json, "status"), "succeeded", "the job as a GET gives it now");
    replayed = resp_header(&b, "Idempotent-Replayed");
    cr_expect(replayed && strcmp(replayed, "true") == 0, "Idempotent-Replayed: %s", replayed);
    loc = resp_header(&b, "Location");
    char want[128];
    snprintf(want, sizeof(want), "/v1/jobs/%s", jstr(a.json, "id"));
    cr_expect(loc && strcmp(loc, want) == 0, "Location: %s", loc);
    free(loc);
    free(replayed);
    cr_expect_eq(jobs_count(), 1, "one job for two POSTs");
    /* another key is another job */
    struct resp c = post_with_key("/v1/jobs", body, "retry-2");
    cr_expect_eq(c.status, 201);
    cr_expect_str_neq(jstr(c.json, "id"), jstr(a.json, "id"));
    cr_expect_eq(jobs_count(), 2);
    resp_free(&a);
    resp_free(&b);
    resp_free(&c);
}

Test(idempotency, wait_true_replayed_waits_like_the_first)
{
    const char *body = "{\"command\": [\"sh\", \"-c\", \"sleep 1; echo hi\"], \"wait\": true}";
    struct resp a = post_with_key("/v1/jobs", body, "wait-key"), b;
    char *replayed;

    cr_assert_eq(a.status, 200, "%ld %s", a.status, a.body);
    cr_expect_str_eq(jstr(a.json, "status"), "succeeded");
    b = post_with_key("/v1/jobs", body, "wait-key");
    cr_assert_eq(b.status, 200, "%ld %s", b.status, b.body);
    cr_expect_str_eq(jstr(b.json, "id"), jstr(a.json, "id"));
    cr_expect_str_eq(jstr(b.json, "status"), "succeeded");
    replayed = resp_header(&b, "Idempotent-Replayed");
    cr_expect(replayed && strcmp(replayed, "true") == 0, "Idempotent-Replayed: %s", replayed);
    free(replayed);
    cr_expect_eq(jobs_count(), 1);
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, the_same_key_with_another_body_is_409)
{
    struct resp a = post_with_key("/v1/jobs", "{\"command\": [\"true\"]}", "k-409"), b, c;

    cr_assert_eq(a.status, 201);
    b = post_with_key("/v1/jobs", "{\"command\": [\"false\"]}", "k-409");
    cr_expect_eq(b.status, 409, "%ld %s", b.status, b.body);
    cr_expect_str_eq(err_code(&b), "conflict");
    cr_expect(strstr(err_message(&b), "Idempotency-Key") != NULL, "%s", err_message(&b));
    /* the exact bytes count: the same JSON spaced otherwise is another body */
    c = post_with_key("/v1/jobs", "{\"command\":[\"true\"]}", "k-409");
    cr_expect_eq(c.status, 409, "%ld %s", c.status, c.body);
    cr_expect_eq(jobs_count(), 1);
    resp_free(&a);
    resp_free(&b);
    resp_free(&c);
}

Test(idempotency, ten_concurrent_posts_with_one_key_make_one_job)
{
    enum { N = 10 };
    static struct poller pl[N];
    CURLM *m = curl_multi_init();
    char first[64] = "";

    for (int i = 0; i < N; i++)
        poller_init(&pl[i], m, "POST", "/v1/jobs", "{\"command\": [\"sleep\", \"0.2\"]}",
                    "Idempotency-Key: concurrent-key", 20000);
    pollers_pump(m, 15.0);
    for (int i = 0; i < N; i++) {
        json_t *j = json_loads(pl[i].body ? pl[i].body : "", 0, NULL);
        cr_expect_eq(pl[i].status, 201, "POST %d: %ld %s", i, pl[i].status, pl[i].body);
        if (!first[0])
            snprintf(first, sizeof(first), "%s", jstr(j, "id"));
        cr_expect_str_eq(jstr(j, "id"), first, "POST %d answered another job", i);
        json_decref(j);
        poller_free(&pl[i], m);
    }
    curl_multi_cleanup(m);
    cr_expect_eq(jobs_count(), 1);
}

Test(idempotency, a_key_outlives_a_restart)
{
    const char *body = "{\"command\": [\"true\"]}";
    struct resp a = post_with_key("/v1/jobs", body, "durable"), b;

    cr_assert_eq(a.status, 201);
    json_decref(job_wait_end(&d, jstr(a.json, "id"), 10000));
    daemon_stop(&d);
    daemon_start(&d);
    b = post_with_key("/v1/jobs", body, "durable");
    cr_expect_eq(b.status, 201, "%ld %s", b.status, b.body);
    cr_expect_str_eq(jstr(b.json, "id"), jstr(a.json, "id"));
    cr_expect_eq(jobs_count(), 1);
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, a_bad_key_is_400_and_a_refused_post_keeps_none)
{
    char long_key[140];
    struct resp r;

    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    r = post_with_key("/v1/jobs", "{\"command\": [\"true\"]}", long_key);
    cr_expect_eq(r.status, 400, "129 characters: %ld", r.status);
    cr_expect(strstr(err_message(&r), "Idempotency-Key") != NULL, "%s", err_message(&r));
    resp_free(&r);
    long_key[128] = '\0';
    r = post_with_key("/v1/jobs", "{\"command\": [\"true\"]}", long_key);
    cr_expect_eq(r.status, 201, "128 characters: %ld %s", r.status, r.body);
    resp_free(&r);
    r = http(&d, "POST", "/v1/jobs", "{\"command\": [\"true\"]}", NULL, NULL,
             "Idempotency-Key: caf\xc3\xa9");
    cr_expect_eq(r.status, 400, "non-ASCII: %ld", r.status);
    resp_free(&r);
    /* refused: no such policy; the key stays free for the corrected request */
    r = post_with_key("/v1/jobs", "{\"command\": [\"true\"], \"policy\": \"nope\"}", "fixme");
    cr_expect_eq(r.status, 400, "%ld %s", r.status, r.body);
    resp_free(&r);
    r = post_with_key("/v1/jobs", "{\"command\": [\"true\"]}", "fixme");
    cr_expect_eq(r.status, 201, "%ld %s", r.status, r.body);
    resp_free(&r);
    cr_expect_eq(jobs_count(), 2);
}
