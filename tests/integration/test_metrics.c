/*
 * GET /metrics against the real daemon (docs/api.md "Metrics"): the text parses as Prometheus'
 * exposition format 0.0.4 by a small parser written here (every sample `name{labels} value`,
 * every family with HELP and TYPE before its samples, histogram buckets cumulative and ending
 * with +Inf equal to _count, no series twice), and the series move with what the daemon does:
 * jobs started and ended by status, the running and queued gauges, the spawn histogram, egress
 * decisions by reason and bytes from a job's requests through the proxy to a loopback upstream
 * this suite serves, API requests by route pattern and code. And the token rule: /metrics
 * needs the bearer token unless the config's metrics_public says otherwise.
 *
 * Each test starts its own daemon; every wait is bounded. Counters are compared as deltas
 * between two scrapes and polled for a short while, since a request is counted when its
 * connection completes and an egress event when the proxy's audit writer stores it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define SAMPLES_MAX 512
#define FAMILIES_MAX 64
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct daemon d;

static void
up(void)
{
    daemon_init(&d, NULL, true);
    daemon_start(&d);
}

static void
up_one_slot(void)
{
    daemon_init(&d, "\"max_running_jobs\": 1", true);
    daemon_start(&d);
}

static void
up_public(void)
{
    daemon_init(&d, "\"metrics_public\": true", true);
    daemon_start(&d);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(metrics, .init = up, .fini = down, .timeout = 90);
TestSuite(metrics_one_slot, .init = up_one_slot, .fini = down, .timeout = 90);
TestSuite(metrics_public, .init = up_public, .fini = down, .timeout = 60);

/* ---- a parser for the text format ---- */

struct sample {
    char name[128];
    char labels[512]; /* between the braces, as sent; "" when none */
    double value;
};

struct family {
    char name[128];
    char type[16];
    bool help;
};

struct scrape {
    struct sample s[SAMPLES_MAX];
    size_t n;
    struct family f[FAMILIES_MAX];
    size_t nf;
};

static struct family *
family_of(struct scrape *m, const char *name, bool create)
{
    for (size_t i = 0; i < m->nf; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return &m->f[i];
    if (!create)
        return NULL;
    cr_assert_lt(m->nf, FAMILIES_MAX, "more than %d metric families", FAMILIES_MAX);
    snprintf(m->f[m->nf].name, sizeof(m->f[m->nf].name), "%s", name);
    return &m->f[m->nf++];
}

static bool
name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Checks the labels between braces: name="value" pairs, values with \\ \" \n escapes only. */
static void
check_labels(const char *l, const char *line)
{
    while (*l) {
        const char *p = l;
        cr_assert(name_char(*p, true), "bad label name in: %s", line);
        while (name_char(*p, false))
            p++;
        cr_assert(p[0] == '=' && p[1] == '"', "label without =\"value\" in: %s", line);
        for (p += 2; *p != '"'; p++) {
            cr_assert(*p, "unterminated label value in: %s", line);
            if (*p == '\\') {
                p++;
                cr_assert(*p == '\\' || *p == '"' || *p == 'n', "bad escape in: %s", line);
            }
        }
        p++;
        cr_assert(*p == '\0' || *p == ',', "junk after a label value in: %s", line);
        l = *p ? p + 1 : p;
    }
}

/* The family a sample belongs to: its name, less _bucket/_sum/_count for a histogram. */
static struct family *
sample_family(struct scrape *m, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    struct family *f = family_of(m, name, false);
    char base[128];

    if (f)
        return f;
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(name), sl = strlen(suffixes[i]);
        if (nl > sl && strcmp(name + nl - sl, suffixes[i]) == 0) {
            snprintf(base, sizeof(base), "%.*s", (int)(nl - sl), name);
            f = family_of(m, base, false);
            if (f && strcmp(f->type, "histogram") == 0)
                return f;
        }
    }
    return NULL;
}

static void
parse_sample(struct scrape *m, char *line)
{
    struct sample *s;
    char *p = line, *end;

    cr_assert_lt(m->n, SAMPLES_MAX, "more than %d samples", SAMPLES_MAX);
    s = &m->s[m->n];
    cr_assert(name_char(*p, true), "a sample line must start with a metric name: %s", line);
    while (name_char(*p, false))
        p++;
    snprintf(s->name, sizeof(s->name), "%.*s", (int)(p - line), line);
    s->labels[0] = '\0';
    if (*p == '{') {
        char *close = strstr(p, "} ");
        cr_assert(close, "labels without a closing brace: %s", line);
        snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(close - p - 1), p + 1);
        check_labels(s->labels, line);
        p = close + 1;
    }
    cr_assert(*p == ' ', "no space before the value: %s", line);
    s->value = strtod(p + 1, &end);
    cr_assert(end != p + 1 && (*end == '\0' || *end == ' '), "not a number: %s", line);
    struct family *f = sample_family(m, s->name);
    cr_assert(f && f->type[0] && f->help, "%s: a sample without HELP and TYPE before it", s->name);
    for (size_t i = 0; i < m->n; i++)
        cr_assert(strcmp(m->s[i].name, s->name) != 0 || strcmp(m->s[i].labels, s->labels) != 0,
                  "a series twice: %s", line);
    m->n++;
}

static void
parse_comment(struct scrape *m, char *line)
{
    char name[128], word[16];
    struct family *f;
    int used = 0;

    if (strncmp(line, "# HELP ", 7) == 0) {
        cr_assert(sscanf(line + 7, "%127s %n", name, &used) == 1 && used > 0 && line[7 + used],
                  "HELP without text: %s", line);
        f = family_of(m, name, true);
        cr_assert(!f->help, "a second HELP for %s", name);
        f->help = true;
    } else if (strncmp(line, "# TYPE ", 7) == 0) {
        cr_assert(sscanf(line + 7, "%127s %15s", name, word) == 2, "bad TYPE line: %s", line);
        cr_assert(strcmp(word, "counter") == 0 || strcmp(word, "gauge") == 0 ||
                      strcmp(word, "histogram") == 0,
                  "unexpected type: %s", line);
        f = family_of(m, name, true);
        cr_assert(!f->type[0], "a second TYPE for %s", name);
        snprintf(f->type, sizeof(f->type), "%s", word);
    }
}

/* The value of a series, or NAN when it is absent. */
static double
value(const struct scrape *m, const char *name, const char *labels)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i].name, name) == 0 && strcmp(m->s[i].labels, labels) == 0)
            return m->s[i].value;
    return NAN;
}

/* Histogram rules: buckets in increasing le, cumulative, the last le="+Inf" equal to _count. */
static void
check_histogram(const struct scrape *m, const char *name)
{
    char bucket[160], count[160];
    double prev_le = -INFINITY, prev = 0;
    bool inf = false;
    size_t nb = 0;

    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(count, sizeof(count), "%s_count", name);
    for (size_t i = 0; i < m->n; i++) {
        const struct sample *s = &m->s[i];
        if (strcmp(s->name, bucket) != 0)
            continue;
        cr_assert(!inf, "%s: a bucket after +Inf", name);
        cr_assert(strncmp(s->labels, "le=\"", 4) == 0, "%s: a bucket without le: %s", name,
                  s->labels);
        double le = strcmp(s->labels, "le=\"+Inf\"") == 0 ? INFINITY : strtod(s->labels + 4, NULL);
        inf = isinf(le);
        cr_assert_gt(le, prev_le, "%s: le not increasing at %s", name, s->labels);
        cr_assert_geq(s->value, prev, "%s: buckets not cumulative at %s", name, s->labels);
        prev_le = le;
        prev = s->value;
        nb++;
    }
    cr_assert(inf && nb >= 2, "%s: the buckets must end with le=\"+Inf\"", name);
    cr_assert_eq(prev, value(m, count, ""), "%s: +Inf (%g) is not _count (%g)", name, prev,
                 value(m, count, ""));
    char sum[160];
    snprintf(sum, sizeof(sum), "%s_sum", name);
    cr_assert(!isnan(value(m, sum, "")), "%s: no _sum", name);
}

/* Parses a whole exposition and checks the rules that hold for any text. */
static void
parse(struct scrape *m, const char *text)
{
    char *copy = strdup(text), *line, *next;

    cr_assert(copy);
    memset(m, 0, sizeof(*m));
    cr_assert(text[0] && text[strlen(text) - 1] == '\n', "the text must end with a newline");
    for (line = copy; *line; line = next) {
        next = strchr(line, '\n');
        *next++ = '\0';
        cr_assert(line[0], "an empty line in the exposition");
        if (line[0] == '#')
            parse_comment(m, line);
        else
            parse_sample(m, line);
    }
    free(copy);
    for (size_t i = 0; i < m->nf; i++) {
        const struct family *f = &m->f[i];
        cr_assert(f->help && f->type[0], "%s: HELP and TYPE are both needed", f->name);
        size_t nl = strlen(f->name);
        bool total = nl > 6 && strcmp(f->name + nl - 6, "_total") == 0;
        cr_assert_eq(total, strcmp(f->type, "counter") == 0,
                     "%s: counters, and only they, end in _total", f->name);
        cr_assert(strncmp(f->name, "airlock_", 8) == 0, "%s: not prefixed airlock_", f->name);
        if (strcmp(f->type, "histogram") == 0)
            check_histogram(m, f->name);
    }
}

/* GET /metrics with the token, checked and parsed into m. */
static void
scrape(struct scrape *m)
{
    struct resp r = http_get(&d, "/metrics");
    char *ct = resp_header(&r, "Content-Type");

    cr_assert_eq(r.status, 200, "GET /metrics: %ld %s", r.status, r.body);
    cr_assert(ct && strcmp(ct, CONTENT_TYPE) == 0, "Content-Type: %s", ct ? ct : "(none)");
    parse(m, r.body);
    free(ct);
    resp_free(&r);
}

/* Scrapes until value(name, labels) - base reaches want (within 5 s); returns the last scrape's
 * delta. */
static double
wait_delta(struct scrape *m, const char *name, const char *labels, double base, double want)
{
    double v = NAN;

    for (int i = 0; i < 100; i++) {
        scrape(m);
        v = value(m, name, labels) - base;
        if (v >= want)
            return v;
        usleep(50 * 1000);
    }
    return v;
}

static double
ended(const struct scrape *m, const char *status)
{
    char l[64];

    snprintf(l, sizeof(l), "status=\"%s\"", status);
    return value(m, "airlock_jobs_ended_total", l);
}

/* ---- the format and the families ---- */

Test(metrics, the_text_parses_and_every_family_is_there_from_the_start)
{
    static const char *const statuses[] = {"succeeded", "failed", "timed_out", "canceled", "lost"};
    static const char *const families[][2] = {
        {"airlock_jobs_started_total", "counter"},
        {"airlock_jobs_ended_total", "counter"},
        {"airlock_jobs_running", "gauge"},
        {"airlock_jobs_queued", "gauge"},
        {"airlock_job_spawn_seconds", "histogram"},
        {"airlock_egress_requests_total", "counter"},
        {"airlock_proxy_bytes_total", "counter"},
        {"airlock_api_requests_total", "counter"},
        {"airlock_build_info", "gauge"},
        {"airlock_start_time_seconds", "gauge"},
    };
    static struct scrape m;
    struct resp h = http_get(&d, "/healthz");
    char l[64];

    scrape(&m);
    for (size_t i = 0; i < ARRAY_LEN(families); i++) {
        struct family *f = family_of(&m, families[i][0], false);
        cr_expect(f, "%s: missing", families[i][0]);
        if (f)
            cr_expect_str_eq(f->type, families[i][1], "%s", families[i][0]);
    }
    cr_expect_eq(value(&m, "airlock_jobs_started_total", ""), 0);
    for (size_t i = 0; i < ARRAY_LEN(statuses); i++)
        cr_expect_eq(ended(&m, statuses[i]), 0, "ended{status=%s} must be there with 0",
                     statuses[i]);
    cr_expect_eq(value(&m, "airlock_jobs_running", ""), 0);
    cr_expect_eq(value(&m, "airlock_jobs_queued", ""), 0);
    cr_expect_eq(value(&m, "airlock_job_spawn_seconds_count", ""), 0);
    cr_expect_eq(value(&m, "airlock_proxy_bytes_total", "direction=\"up\""), 0);
    cr_expect_eq(value(&m, "airlock_proxy_bytes_total", "direction=\"down\""), 0);
    cr_expect_eq(value(&m, "airlock_egress_requests_total", "decision=\"allow\",reason=\"\""), 0);
    /* The version is /healthz's; the start time is this daemon's, in seconds. */
    snprintf(l, sizeof(l), "version=\"%s\"", jstr(h.json, "version"));
    cr_expect_eq(value(&m, "airlock_build_info", l), 1, "build_info{%s}", l);
    double start = value(&m, "airlock_start_time_seconds", "");
    cr_expect(start > (double)time(NULL) - 120 && start <= (double)time(NULL) + 1,
              "start_time_seconds %f is not this daemon's start", start);
    /* Buckets suited to spawns of 1 to 50 ms: several edges in between. */
    int edges = 0;
    for (size_t i = 0; i < m.n; i++) {
        if (strcmp(m.s[i].name, "airlock_job_spawn_seconds_bucket") != 0)
            continue;
        double le = strtod(m.s[i].labels + 4, NULL);
        edges += le >= 0.001 && le <= 0.05;
    }
    cr_expect_geq(edges, 5, "only %d bucket edges between 1 and 50 ms", edges);
    resp_free(&h);
}

/* ---- jobs ---- */

Test(metrics, jobs_started_and_ended_by_status)
{
    static struct scrape a, b;
    static const char *const scripts[] = {"true", "echo hi", "exit 3"};
    char *ids[3];

    scrape(&a);
    for (size_t i = 0; i < 3; i++) {
        json_t *job = job_run(&d, job_sh(scripts[i]));
        ids[i] = strdup(jstr(job, "id"));
        cr_assert_str_eq(jstr(job, "status"), i < 2 ? "succeeded" : "failed", "%s", jdump(job));
        json_decref(job);
    }
    wait_delta(&b, "airlock_jobs_ended_total", "status=\"failed\"", ended(&a, "failed"), 1);
    cr_expect_eq(value(&b, "airlock_jobs_started_total", "") -
                     value(&a, "airlock_jobs_started_total", ""),
                 3);
    cr_expect_eq(ended(&b, "succeeded") - ended(&a, "succeeded"), 2);
    cr_expect_eq(ended(&b, "failed") - ended(&a, "failed"), 1);
    cr_expect_eq(ended(&b, "timed_out") + ended(&b, "canceled") + ended(&b, "lost"), 0);
    cr_expect_eq(value(&b, "airlock_job_spawn_seconds_count", "") -
                     value(&a, "airlock_job_spawn_seconds_count", ""),
                 3);
    double sum = value(&b, "airlock_job_spawn_seconds_sum", "");
    cr_expect(sum > 0 && sum < 30, "spawn seconds sum %f", sum);
    cr_expect_eq(value(&b, "airlock_jobs_running", ""), 0);
    cr_expect_eq(value(&b, "airlock_jobs_queued", ""), 0);
    for (size_t i = 0; i < 3; i++)
        free(ids[i]);
}

Test(metrics_one_slot, running_and_queued_are_gauges_and_cancels_count)
{
    static struct scrape a, b;
    json_t *spec;
    char id[2][64];

    scrape(&a);
    for (int i = 0; i < 2; i++) {
        spec = job_sh("sleep 30");
        json_object_set_new(spec, "timeout_s", json_integer(60));
        struct resp r = job_post(&d, spec);
        json_decref(spec);
        cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
        snprintf(id[i], sizeof(id[i]), "%s", jstr(r.json, "id"));
        resp_free(&r);
    }
    json_decref(job_wait_running(&d, id[0], 10000));
    scrape(&b);
    cr_expect_eq(value(&b, "airlock_jobs_running", ""), 1);
    cr_expect_eq(value(&b, "airlock_jobs_queued", ""), 1);
    /* The queued one is canceled first, so it never starts. */
    for (int i = 1; i >= 0; i--) {
        char url[128];
        snprintf(url, sizeof(url), "/v1/jobs/%s/cancel", id[i]);
        struct resp r = http_post(&d, url, "{}");
        cr_expect_eq(r.status, 202, "%s: %ld %s", url, r.status, r.body);
        resp_free(&r);
        json_decref(job_wait_end(&d, id[i], 10000));
    }
    wait_delta(&b, "airlock_jobs_ended_total", "status=\"canceled\"", ended(&a, "canceled"), 2);
    cr_expect_eq(ended(&b, "canceled") - ended(&a, "canceled"), 2);
    cr_expect_eq(value(&b, "airlock_jobs_started_total", "") -
                     value(&a, "airlock_jobs_started_total", ""),
                 1, "a job canceled while queued never started");
    cr_expect_eq(value(&b, "airlock_jobs_running", ""), 0);
    cr_expect_eq(value(&b, "airlock_jobs_queued", ""), 0);
}

/* ---- egress ---- */

/* A loopback upstream in a thread: every request (head and Content-Length body) gets one fixed
 * answer, and its connection is closed. */
struct upstream {
    int fd;
    int port;
    pthread_t thread;
};

static const char upstream_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 6\r\nConnection: close\r\n\r\nhello\n";

static void *
upstream_serve(void *arg)
{
    struct upstream *u = arg;

    for (;;) {
        struct timeval tv = {5, 0};
        char buf[4096];
        size_t len = 0;
        int c = accept(u->fd, NULL, NULL);

        if (c < 0)
            return NULL; /* shut down */
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char *end = NULL;
        while (len < sizeof(buf) - 1) {
            ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (!end && (end = strstr(buf, "\r\n\r\n")))
                end += 4;
            char *cl = end ? strcasestr(buf, "\r\nContent-Length:") : NULL;
            if (end && (!cl || cl > end || (size_t)(end - buf) + strtoul(cl + 17, NULL, 10) <= len))
                break;
        }
        ssize_t w = write(c, upstream_answer, sizeof(upstream_answer) - 1);
        (void)w;
        close(c);
    }
}

static void
upstream_start(struct upstream *u)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    u->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(u->fd >= 0);
    cr_assert(bind(u->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(listen(u->fd, 16) == 0);
    cr_assert(getsockname(u->fd, (struct sockaddr *)&sa, &sl) == 0);
    u->port = ntohs(sa.sin_port);
    cr_assert(pthread_create(&u->thread, NULL, upstream_serve, u) == 0);
}

static void
upstream_stop(struct upstream *u)
{
    shutdown(u->fd, SHUT_RDWR); /* wakes the accept */
    pthread_join(u->thread, NULL);
    close(u->fd);
}

Test(metrics, egress_decisions_and_bytes_count)
{
    static struct scrape a, b;
    struct upstream u;
    char policy[512], script[512], url[128], deny_labels[160] = "";
    json_t *spec, *job;
    struct resp ev;

    upstream_start(&u);
    snprintf(policy, sizeof(policy),
             "{\"description\": \"test: the loopback upstream\", \"network\": {\"allow\":"
             " [{\"cidr\": \"127.0.0.1/32\", \"ports\": [%d]}]}}",
             u.port);
    daemon_write_policy(&d, "metrics_up", policy);
    struct resp rl = http_post(&d, "/v1/policies/reload", "{}");
    cr_assert_eq(rl.status, 200, "reload: %ld %s", rl.status, rl.body);
    resp_free(&rl);
    /* One allowed request with a 10-byte body and one to a port the policy does not list. */
    snprintf(script, sizeof(script),
             "curl -s -m 10 -d 0123456789 -o /dev/null -w '%%{http_code}\\n' "
             "http://127.0.0.1:%d/hello;"
             " curl -s -m 10 -o /dev/null -w '%%{http_code}\\n' http://127.0.0.1:%d/nope",
             u.port, u.port == 65535 ? 65534 : u.port + 1);
    scrape(&a);
    spec = job_sh(script);
    json_object_set_new(spec, "policy", json_string("metrics_up"));
    json_object_set_new(spec, "timeout_s", json_integer(30));
    job = job_run(&d, spec);
    char *out = job_output(&d, jstr(job, "id"), "stdout");
    cr_assert_str_eq(out, "200\n403\n", "the job's requests: %s (%s)", out, jdump(job));
    free(out);
    /* The reason the proxy recorded for the denial is the label. */
    snprintf(url, sizeof(url), "/v1/jobs/%s/egress", jstr(job, "id"));
    ev = http_get(&d, url);
    cr_assert_eq(ev.status, 200);
    json_t *events = json_object_get(ev.json, "events"), *e;
    size_t i;
    cr_assert_eq(json_array_size(events), 2, "%s", ev.body);
    json_array_foreach(events, i, e)
    {
        if (strcmp(jstr(e, "decision"), "deny") == 0)
            snprintf(deny_labels, sizeof(deny_labels), "decision=\"deny\",reason=\"%s\"",
                     jstr(e, "reason"));
        else
            cr_expect(json_is_null(json_object_get(e, "reason")), "an allowed event: %s", jdump(e));
    }
    cr_assert(deny_labels[0], "no deny event: %s", ev.body);
    /* A reason not seen before has no series in the first scrape. */
    double before = value(&a, "airlock_egress_requests_total", deny_labels);
    before = isnan(before) ? 0 : before;
    cr_expect_eq(wait_delta(&b, "airlock_egress_requests_total", deny_labels, before, 1), 1, "%s",
                 deny_labels);
    cr_expect_eq(value(&b, "airlock_egress_requests_total", "decision=\"allow\",reason=\"\"") -
                     value(&a, "airlock_egress_requests_total", "decision=\"allow\",reason=\"\""),
                 1);
    /* Body bytes: the 10 the job sent up, the 6 of the answer down; none for the denial. */
    cr_expect_eq(value(&b, "airlock_proxy_bytes_total", "direction=\"up\"") -
                     value(&a, "airlock_proxy_bytes_total", "direction=\"up\""),
                 10);
    cr_expect_eq(value(&b, "airlock_proxy_bytes_total", "direction=\"down\"") -
                     value(&a, "airlock_proxy_bytes_total", "direction=\"down\""),
                 6);
    resp_free(&ev);
    json_decref(job);
    upstream_stop(&u);
}

/* ---- the API ---- */

static double
api(const struct scrape *m, const char *route, const char *code)
{
    char l[256];
    double v;

    snprintf(l, sizeof(l), "route=\"%s\",code=\"%s\"", route, code);
    v = value(m, "airlock_api_requests_total", l);
    return isnan(v) ? 0 : v;
}

Test(metrics, api_requests_count_by_route_pattern_and_code)
{
    static struct scrape a, b;
    struct resp r;

    scrape(&a);
    r = http_get(&d, "/v1/jobs/j_doesnotexist0000");
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs/j_doesnotexist0001");
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = http(&d, "GET", "/v1/jobs", NULL, "", NULL, NULL);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    r = http_get(&d, "/v1/no/such/route"); /* outside /v1 it would be the dashboard's file route */
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    r = http(&d, "PATCH", "/v1/jobs", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 405);
    resp_free(&r);
    for (int i = 0; i < 100; i++) {
        scrape(&b);
        if (api(&b, "other", "405") - api(&a, "other", "405") >= 1 &&
            api(&b, "GET /v1/jobs/{}", "404") - api(&a, "GET /v1/jobs/{}", "404") >= 2)
            break;
        usleep(50 * 1000);
    }
    cr_expect_eq(api(&b, "GET /v1/jobs/{}", "404") - api(&a, "GET /v1/jobs/{}", "404"), 2,
                 "a 404 on an unknown job counts under the job route's pattern");
    cr_expect_eq(api(&b, "GET /v1/jobs", "200") - api(&a, "GET /v1/jobs", "200"), 1);
    cr_expect_eq(api(&b, "GET /v1/jobs", "401") - api(&a, "GET /v1/jobs", "401"), 1);
    cr_expect_eq(api(&b, "other", "404") - api(&a, "other", "404"), 1);
    cr_expect_eq(api(&b, "other", "405") - api(&a, "other", "405"), 1);
    /* The first scrape is counted too (it completed before the second began). */
    cr_expect_geq(api(&b, "GET /metrics", "200"), 1);
    /* Bounded labels: no raw URL ever becomes a route. */
    for (size_t i = 0; i < b.n; i++)
        cr_expect(!strstr(b.s[i].labels, "doesnotexist") && !strstr(b.s[i].labels, "/no/such"),
                  "a raw URL in a label: %s{%s}", b.s[i].name, b.s[i].labels);
}

/* ---- the token ---- */

Test(metrics, the_bearer_token_is_needed_by_default)
{
    struct resp r = http(&d, "GET", "/metrics", NULL, "", NULL, NULL);
    char *www = resp_header(&r, "WWW-Authenticate");

    cr_expect_eq(r.status, 401, "without a token: %ld", r.status);
    cr_expect_str_eq(err_code(&r), "unauthorized");
    cr_expect(www && strstr(www, "Bearer"), "WWW-Authenticate: %s", www ? www : "(none)");
    free(www);
    resp_free(&r);
    r = http(&d, "GET", "/metrics", NULL, "not-the-token-0123456789", NULL, NULL);
    cr_expect_eq(r.status, 401, "with a wrong token: %ld", r.status);
    resp_free(&r);
    r = http_get(&d, "/metrics");
    cr_expect_eq(r.status, 200, "with the token: %ld", r.status);
    resp_free(&r);
    /* /healthz stays open. */
    r = http(&d, "GET", "/healthz", NULL, "", NULL, NULL);
    cr_expect_eq(r.status, 200);
    resp_free(&r);
}

Test(metrics_public, served_without_a_token_when_metrics_public)
{
    static struct scrape m;
    struct resp r = http(&d, "GET", "/metrics", NULL, "", NULL, NULL);
    char *ct = resp_header(&r, "Content-Type");

    cr_expect_eq(r.status, 200, "without a token: %ld %s", r.status, r.body);
    cr_expect(ct && strcmp(ct, CONTENT_TYPE) == 0, "Content-Type: %s", ct ? ct : "(none)");
    if (r.status == 200)
        parse(&m, r.body);
    free(ct);
    resp_free(&r);
    /* Only /metrics: the API still needs the token. */
    r = http(&d, "GET", "/v1/jobs", NULL, "", NULL, NULL);
    cr_expect_eq(r.status, 401);
    resp_free(&r);
}

Test(metrics, a_bad_metrics_public_stops_the_start_naming_the_key)
{
    struct daemon bad;

    daemon_init(&bad, "\"metrics_public\": \"yes\"", true);
    cr_expect(!daemon_start_args(&bad, NULL), "the daemon started with metrics_public: \"yes\"");
    cr_expect(file_contains(bad.log, "metrics_public: must be true or false"),
              "the log does not name the key");
    if (bad.pid > 0)
        daemon_kill(&bad);
    daemon_cleanup(&bad);
}
